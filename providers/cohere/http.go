package cohere

import (
	"context"
	"errors"
	"net/http"

	"github.com/llmproxy/llmproxy"
)

// maxAnswerBytes caps the body of a successful upstream answer. It is a
// variable so that tests can lower it.
var maxAnswerBytes int64 = 32 << 20

// auth sets the provider's own header on a request (see
// llmproxy.HTTPUpstream): the key as a bearer token, none when the key is
// empty. The configured custom headers come after it and may override it.
// No header of the client's request is ever copied.
func (p *Provider) auth(req *http.Request) {
	if p.key != "" {
		req.Header.Set("Authorization", "Bearer "+p.key)
	}
}

// call sends a request to path and decodes the 2xx answer, which must be a
// JSON object, into v. An answer over maxAnswerBytes or one that does not
// decode is KindUnavailable.
func (p *Provider) call(ctx context.Context, method, path string, body []byte, v any) error {
	b, err := p.up.Call(ctx, method, path, body, maxAnswerBytes)
	if err != nil {
		return err
	}
	return p.up.Decode(b, v)
}

// withProvider names the provider in an error made by a translator, which
// knows no provider. The translators return fresh errors, so it is safe to
// modify them.
func (p *Provider) withProvider(err error) error {
	if e, ok := errors.AsType[*llmproxy.Error](err); ok && e.Provider == "" {
		e.Provider = p.up.Name
		e.Message = p.redact(e.Message)
	}
	return err
}
