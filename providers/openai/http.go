package openai

import (
	"context"
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/llmproxy/llmproxy"
)

// maxAnswerBytes caps the body of a successful upstream answer. It is a
// variable so that tests can lower it.
var maxAnswerBytes int64 = 32 << 20

// newRequest builds a request to path below the base URL with the
// provider's own headers: the key as a bearer token (none when the key is
// empty; Azure's api-key header unless it is configured for bearer
// tokens), JSON content negotiation, then the configured custom headers,
// which may override the others. No header of the client's request is ever
// copied.
func (p *Provider) newRequest(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	req, err := llmproxy.NewJSONRequest(ctx, method, p.baseURL+path, body)
	if err != nil {
		return nil, err
	}
	if p.authHeader != "" {
		req.Header.Set(p.authHeader, p.authValue)
	}
	llmproxy.SetCustomHeaders(req, p.headers)
	return req, nil
}

// do sends a request to path below the base URL and returns the upstream's
// answer whatever its status; the caller must close its body. The request
// is sent once, and a redirect is followed only within the same host (see
// llmproxy.NewHTTPClient). A request that could not be sent or whose
// answer never came is a transport *Error (see llmproxy.TransportError).
func (p *Provider) do(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	req, err := p.newRequest(ctx, method, path, body)
	if err != nil {
		return nil, &llmproxy.Error{Kind: llmproxy.KindInternal, Provider: p.name,
			Message: "could not build the upstream request", Err: err}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, llmproxy.TransportError(ctx, p.name, err)
	}
	return resp, nil
}

// call sends a request and returns the body of a 2xx answer, normalised for
// the flavor. Any other status is returned as the upstream's error (see
// statusError); an answer over maxAnswerBytes is a KindUnavailable error.
func (p *Provider) call(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	resp, err := p.do(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, p.statusError(resp.StatusCode, resp.Header, llmproxy.ReadErrorBody(resp))
	}
	b, err := llmproxy.ReadAnswer(resp, maxAnswerBytes)
	if err != nil {
		return nil, llmproxy.TransportError(ctx, p.name, err)
	}
	if p.flavor.normalize != nil {
		if b, err = p.flavor.normalize(b); err != nil {
			return nil, p.normalizeFailure(err)
		}
	}
	return b, nil
}

// decodeAnswer decodes a successful answer, which must be a JSON object in
// UTF-8, into v (see llmproxy.DecodeAnswer). Anything else (an HTML page,
// an empty body, a stray null, bytes that are not UTF-8) is an invalid
// answer. Since the answer's bytes go on to the client as they are, invalid
// UTF-8, which JSON forbids and some clients' decoders refuse, fails over
// like any other broken answer instead of reaching the client.
func (p *Provider) decodeAnswer(body []byte, v any) error {
	if !utf8.Valid(body) {
		return p.invalidAnswer(errors.New("the answer is not valid UTF-8"))
	}
	if err := llmproxy.DecodeAnswer(body, v); err != nil {
		return p.invalidAnswer(err)
	}
	return nil
}

// normalizeFailure is the error of a flavor's normalize: an
// *llmproxy.Error as it is (named after the provider), anything else an
// invalid answer.
func (p *Provider) normalizeFailure(err error) *llmproxy.Error {
	if e, ok := errors.AsType[*llmproxy.Error](err); ok {
		cp := *e
		cp.Provider = p.name
		return &cp
	}
	return p.invalidAnswer(err)
}

// invalidAnswer is the error of a 2xx answer the adapter cannot use. It is
// KindUnavailable, so the router retries or fails over.
func (p *Provider) invalidAnswer(cause error) *llmproxy.Error {
	return &llmproxy.Error{Kind: llmproxy.KindUnavailable, Provider: p.name,
		Message: "the upstream sent an invalid answer", Err: cause}
}
