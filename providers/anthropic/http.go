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

// newRequest builds a request to path below the base URL with the
// provider's own headers: the key as x-api-key, the API version, JSON
// content negotiation, then the configured custom headers (anthropic-beta,
// …), which may override the others. No header of the client's request is
// ever copied.
func (p *Provider) newRequest(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	req, err := llmproxy.NewJSONRequest(ctx, method, p.baseURL+path, body)
	if err != nil {
		return nil, &llmproxy.Error{Kind: llmproxy.KindInternal, Provider: p.name,
			Message: "could not build the upstream request", Err: err}
	}
	if p.key != "" {
		req.Header.Set("X-Api-Key", p.key)
	}
	req.Header.Set("Anthropic-Version", APIVersion)
	llmproxy.SetCustomHeaders(req, p.headers)
	return req, nil
}

// do sends req and returns the answer when its status is 2xx. Any other
// status is returned as the upstream's error (see statusError), a request
// that could not be sent as a transport *llmproxy.Error.
func (p *Provider) do(ctx context.Context, req *http.Request) (*http.Response, error) {
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, llmproxy.TransportError(ctx, p.name, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, p.statusError(resp.StatusCode, resp.Header, llmproxy.ReadErrorBody(resp))
	}
	return resp, nil
}

// call sends a request and returns the body of its 2xx answer; an answer
// over maxAnswerBytes is a KindUnavailable error.
func (p *Provider) call(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	req, err := p.newRequest(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	return p.roundTrip(ctx, req)
}

// roundTrip sends req and returns the body of its 2xx answer (see call).
func (p *Provider) roundTrip(ctx context.Context, req *http.Request) ([]byte, error) {
	resp, err := p.do(ctx, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := llmproxy.ReadAnswer(resp, maxAnswerBytes)
	if err != nil {
		return nil, llmproxy.TransportError(ctx, p.name, err)
	}
	return b, nil
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
		return nil, &llmproxy.Error{Kind: llmproxy.KindInternal, Provider: p.name,
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
	return &llmproxy.Error{Kind: llmproxy.KindUnavailable, Provider: p.name,
		Message: "the upstream sent an invalid answer", Err: cause}
}
