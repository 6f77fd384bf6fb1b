package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/llmproxy/llmproxy"
)

// maxAnswerBytes caps the body of a successful upstream answer. It is a
// variable so that tests can lower it.
var maxAnswerBytes int64 = 32 << 20

// auth sets the provider's own headers on a request (see
// llmproxy.HTTPUpstream): the key as x-api-key and the API version. The
// configured custom headers (anthropic-beta, …) come after them and may
// override them. No header of the client's request is ever copied.
func (p *Provider) auth(req *http.Request) {
	if p.key != "" {
		req.Header.Set("X-Api-Key", p.key)
	}
	req.Header.Set("Anthropic-Version", APIVersion)
}

// call sends a request and returns the body of its 2xx answer; an answer
// over maxAnswerBytes is a KindUnavailable error.
func (p *Provider) call(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	return p.up.Call(ctx, method, path, body, maxAnswerBytes)
}

// send posts a Messages request (not streamed) and decodes the answer.
func (p *Provider) send(ctx context.Context, mr *messagesRequest) (*message, error) {
	body, err := p.encode(mr)
	if err != nil {
		return nil, err
	}
	b, err := p.call(ctx, http.MethodPost, "/v1/messages", body)
	if err != nil {
		return nil, err
	}
	var msg message
	if err := p.decodeAnswer(b, &msg); err != nil {
		return nil, err
	}
	if msg.Type != "message" {
		return nil, p.invalidAnswer(errors.New(`the answer's type is not "message"`))
	}
	return &msg, nil
}

// encode encodes a request for the upstream.
func (p *Provider) encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &llmproxy.Error{Kind: llmproxy.KindInternal, Provider: p.up.Name,
			Message: "could not encode the upstream request", Err: err}
	}
	return b, nil
}

// decodeAnswer decodes a successful answer, which must be a JSON object,
// into v (see llmproxy.DecodeAnswer). Anything else (an HTML page, an empty
// body, a stray null) is an invalid answer.
func (p *Provider) decodeAnswer(body []byte, v any) error {
	if err := llmproxy.DecodeAnswer(body, v); err != nil {
		return p.invalidAnswer(err)
	}
	return nil
}

// invalidAnswer is the error of a 2xx answer the adapter cannot use. It is
// KindUnavailable, so the router retries or fails over.
func (p *Provider) invalidAnswer(cause error) *llmproxy.Error {
	return &llmproxy.Error{Kind: llmproxy.KindUnavailable, Provider: p.up.Name,
		Message: "the upstream sent an invalid answer", Err: cause}
}
