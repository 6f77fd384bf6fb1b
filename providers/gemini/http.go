package gemini

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/llmproxy/llmproxy"
)

// maxAnswerBytes caps the body of a successful upstream answer. It is a
// variable so that tests can lower it.
var maxAnswerBytes int64 = 32 << 20

// auth sets the provider's own header on a request (see
// llmproxy.HTTPUpstream): the key as x-goog-api-key, none when the key is
// empty. The configured custom headers come after it and may override it.
// No header of the client's request is ever copied.
func (p *Provider) auth(req *http.Request) {
	if p.key != "" {
		req.Header.Set("X-Goog-Api-Key", p.key)
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

// modelPath returns the resource path of a model ("/models/gemini-2.5-flash",
// "/tunedModels/x") for a client's model name. A name with a slash must be
// "models/…" or "tunedModels/…"; the id may hold letters, digits, '.', '-'
// and '_' only, so that no name can reach another path.
func modelPath(model string) (string, error) {
	collection, id, found := strings.Cut(model, "/")
	if !found {
		collection, id = "models", model
	}
	if collection != "models" && collection != "tunedModels" {
		return "", invalidParam("model", "model %q is not a Gemini model name (use gemini-…, models/… or tunedModels/…)", model)
	}
	if id == "" || len(id) > 256 {
		return "", invalidParam("model", "model %q is not a Gemini model name", model)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return "", invalidParam("model", "model %q is not a Gemini model name: it may only hold letters, digits, '.', '-' and '_'", model)
		}
	}
	return "/" + collection + "/" + id, nil
}
