package anthropic

import (
	"context"
	"errors"
	"net/http"
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
	body, err := p.up.Encode(mr)
	if err != nil {
		return nil, err
	}
	b, err := p.call(ctx, http.MethodPost, "/v1/messages", body)
	if err != nil {
		return nil, err
	}
	var msg message
	if err := p.up.Decode(b, &msg); err != nil {
		return nil, err
	}
	if msg.Type != "message" {
		return nil, p.up.InvalidAnswer(errors.New(`the answer's type is not "message"`))
	}
	return &msg, nil
}
