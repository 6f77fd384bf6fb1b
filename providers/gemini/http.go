package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/llmproxy/llmproxy"
)

// maxAnswerBytes caps the body of a successful upstream answer. It is a
// variable so that tests can lower it.
var maxAnswerBytes int64 = 32 << 20

// newRequest builds a request to path below the base URL with the
// provider's own headers: the key as x-goog-api-key (none when the key is
// empty), JSON content negotiation, then the configured custom headers,
// which may override the others. No header of the client's request is ever
// copied.
func (p *Provider) newRequest(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	req, err := llmproxy.NewJSONRequest(ctx, method, p.baseURL+path, body)
	if err != nil {
		return nil, &llmproxy.Error{Kind: llmproxy.KindInternal, Provider: p.name,
			Message: "could not build the upstream request", Err: err}
	}
	if p.key != "" {
		req.Header.Set("X-Goog-Api-Key", p.key)
	}
	llmproxy.SetCustomHeaders(req, p.headers)
	return req, nil
}

// send sends req and returns the upstream's answer if its status is 2xx;
// the caller must close its body. Any other status is the upstream's error
// (see statusError); a request that could not be sent or whose answer
// never came is a transport error (see llmproxy.TransportError).
func (p *Provider) send(ctx context.Context, req *http.Request) (*http.Response, error) {
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

// call sends a request to path and decodes the 2xx answer, which must be a
// JSON object, into v. An answer over maxAnswerBytes or one that does not
// decode is KindUnavailable.
func (p *Provider) call(ctx context.Context, method, path string, body []byte, v any) error {
	req, err := p.newRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := p.send(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := llmproxy.ReadAnswer(resp, maxAnswerBytes)
	if err != nil {
		return llmproxy.TransportError(ctx, p.name, err)
	}
	if err := llmproxy.DecodeAnswer(b, v); err != nil {
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

// encode encodes a request body; a failure is the proxy's own bug.
func (p *Provider) encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &llmproxy.Error{Kind: llmproxy.KindInternal, Provider: p.name,
			Message: "could not encode the upstream request", Err: err}
	}
	return b, nil
}

// withProvider names the provider in an error made by a translator, which
// knows no provider. The translators return fresh errors, so it is safe to
// modify them.
func (p *Provider) withProvider(err error) error {
	if e, ok := errors.AsType[*llmproxy.Error](err); ok && e.Provider == "" {
		e.Provider = p.name
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
