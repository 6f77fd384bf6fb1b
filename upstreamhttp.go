package llmproxy

import (
	"context"
	"encoding/json"
	"net/http"
)

// HTTPUpstream is the HTTP plumbing an adapter of a JSON-over-HTTP upstream
// shares with the others: it builds a request below the base URL with the
// adapter's own headers and the configured ones, sends it, turns a non-2xx
// answer into the adapter's error and reads a 2xx answer up to a size
// limit; Encode, Decode and InvalidAnswer give the errors of a body that
// does not encode and of an answer that does not decode. The adapter keeps
// what is its own: its auth headers (Auth), its error mapping
// (StatusError), its answer size limit and its answer types. Set every
// field before the first request; an HTTPUpstream is then safe for
// concurrent use.
type HTTPUpstream struct {
	// Name is the provider's configured name, which its errors carry.
	Name string
	// BaseURL is the URL that request paths are appended to (see
	// ResolveBaseURL).
	BaseURL string
	// Headers are the configured custom headers (cfg.CustomHeaders), set
	// last on every request so that they may override the adapter's own
	// (see SetCustomHeaders).
	Headers map[string]string
	// Client sends the requests (see NewHTTPClient).
	Client *http.Client
	// Auth, when not nil, sets the adapter's own headers on a new request:
	// its key (none when the key is empty), its API version, and so on.
	Auth func(req *http.Request)
	// StatusError turns a non-2xx answer into the adapter's error, given
	// its status, its header and the first MiB of its body (see
	// ReadErrorBody).
	StatusError func(status int, h http.Header, body []byte) *Error
}

// NewRequest builds a request to path below BaseURL that asks for JSON and
// carries body as JSON when it is not nil (see NewJSONRequest), with the
// headers Auth sets, then Headers. No header of a client's request is ever
// copied. A request that cannot be built is a KindInternal error.
func (u *HTTPUpstream) NewRequest(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	req, err := NewJSONRequest(ctx, method, u.BaseURL+path, body)
	if err != nil {
		return nil, &Error{Kind: KindInternal, Provider: u.Name,
			Message: "could not build the upstream request", Err: err}
	}
	if u.Auth != nil {
		u.Auth(req)
	}
	SetCustomHeaders(req, u.Headers)
	return req, nil
}

// Send sends req and returns the upstream's answer when its status is 2xx;
// the caller must close its body. Any other status is the error
// StatusError makes of it; a request that could not be sent or whose
// answer never came is a transport error (see TransportError).
func (u *HTTPUpstream) Send(ctx context.Context, req *http.Request) (*http.Response, error) {
	resp, err := u.Client.Do(req)
	if err != nil {
		return nil, TransportError(ctx, u.Name, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, u.StatusError(resp.StatusCode, resp.Header, ReadErrorBody(resp))
	}
	return resp, nil
}

// RoundTrip sends req (see Send) and returns the body of its 2xx answer,
// read up to limit bytes: a longer answer, or one whose body breaks off, is
// a transport error (see ReadAnswer and TransportError).
func (u *HTTPUpstream) RoundTrip(ctx context.Context, req *http.Request, limit int64) ([]byte, error) {
	resp, err := u.Send(ctx, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := ReadAnswer(resp, limit)
	if err != nil {
		return nil, TransportError(ctx, u.Name, err)
	}
	return b, nil
}

// Call builds a request to path (see NewRequest), sends it and returns the
// body of its 2xx answer, read up to limit bytes (see RoundTrip).
func (u *HTTPUpstream) Call(ctx context.Context, method, path string, body []byte, limit int64) ([]byte, error) {
	req, err := u.NewRequest(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	return u.RoundTrip(ctx, req, limit)
}

// Encode encodes v as the JSON body of a request. A failure is the proxy's
// own bug: a KindInternal error.
func (u *HTTPUpstream) Encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &Error{Kind: KindInternal, Provider: u.Name,
			Message: "could not encode the upstream request", Err: err}
	}
	return b, nil
}

// Decode decodes a 2xx answer, which must be a JSON object, into v (see
// DecodeAnswer). Anything else (an HTML page, an empty body, a stray null)
// is an invalid answer (see InvalidAnswer).
func (u *HTTPUpstream) Decode(body []byte, v any) error {
	if err := DecodeAnswer(body, v); err != nil {
		return u.InvalidAnswer(err)
	}
	return nil
}

// InvalidAnswer is the error of a 2xx answer the adapter cannot use. It is
// KindUnavailable, so the router retries or fails over.
func (u *HTTPUpstream) InvalidAnswer(cause error) *Error {
	return &Error{Kind: KindUnavailable, Provider: u.Name,
		Message: "the upstream sent an invalid answer", Err: cause}
}
