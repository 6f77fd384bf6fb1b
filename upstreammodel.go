package llmproxy

import (
	"context"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// The model an attempt sends upstream. The router puts it in the context
// it gives each attempt's call function, whatever the request type, so
// that every caller of the router, including a front that sends a
// client's own bytes in a format of its own (Anthropic Messages,
// Responses), finds it in one place without a new parameter: such a call
// function sends SetBodyModel(body, UpstreamModel(ctx)). The request
// types of this package are rewritten by the helpers below.

type attemptKey struct{}

// withAttempt returns ctx carrying the attempt, and so the model id it
// sends. The attempt is there already: a value of its own (the model id)
// would cost an allocation per attempt (BenchmarkServerChat).
func withAttempt(ctx context.Context, a *attempt) context.Context {
	return context.WithValue(ctx, attemptKey{}, a)
}

// UpstreamModel returns the model id the current attempt must send
// upstream: the concrete model the router chose for it (an alias's
// target) after the provider's model_map. It is "" outside an attempt,
// that is in a context the router did not give a call function. The
// router sets it on every attempt, so that an attempt whose model is
// the one the client named gets that name.
func UpstreamModel(ctx context.Context) string {
	if a, ok := ctx.Value(attemptKey{}).(*attempt); ok {
		return a.model
	}
	return ""
}

// SetBodyModel returns the JSON object body with its top-level "model"
// member set to model: body itself when model is "" or the member already
// holds it, else a copy (body is never modified). Its use is a front's
// call function that passes a client's bytes upstream:
//
//	body, err := llmproxy.SetBodyModel(body, llmproxy.UpstreamModel(ctx))
//
// The error is the JSON library's, for a body that is not an object.
func SetBodyModel(body []byte, model string) ([]byte, error) {
	if model == "" {
		return body, nil
	}
	if cur := gjson.GetBytes(body, "model"); cur.Type == gjson.String && cur.Str == model {
		return body, nil
	}
	return sjson.SetBytes(body, "model", model)
}

// attemptModel returns the model the attempt of ctx sends instead of
// model, and whether it differs.
func attemptModel(ctx context.Context, model string) (string, bool) {
	m := UpstreamModel(ctx)
	return m, m != "" && m != model
}

// chatFor returns req as the attempt of ctx sends it: req itself, or a
// copy with the attempt's model.
func chatFor(ctx context.Context, req *ChatRequest) *ChatRequest {
	m, ok := attemptModel(ctx, req.Model)
	if !ok {
		return req
	}
	cp := *req
	cp.Model = m
	return &cp
}

// completionFor is chatFor for a text completion request: the copy keeps
// the client's bytes, with their "model" rewritten.
func completionFor(ctx context.Context, req *CompletionRequest) *CompletionRequest {
	m, ok := attemptModel(ctx, req.Model)
	if !ok {
		return req
	}
	cp := *req
	cp.Model = m
	cp.raw = rawWithModel(req.raw, m)
	return &cp
}

// embeddingFor is completionFor for an embeddings request.
func embeddingFor(ctx context.Context, req *EmbeddingRequest) *EmbeddingRequest {
	m, ok := attemptModel(ctx, req.Model)
	if !ok {
		return req
	}
	cp := *req
	cp.Model = m
	cp.raw = rawWithModel(req.raw, m)
	return &cp
}

// rawChatFor is chatFor for a raw chat request: the copy's Body is the
// client's with its "model" rewritten. It fails only for a body that is
// not a JSON object, which ReadChatRequest never returns.
func rawChatFor(ctx context.Context, req *RawChatRequest) (*RawChatRequest, error) {
	m, ok := attemptModel(ctx, req.Model)
	if !ok {
		return req, nil
	}
	body, err := sjson.SetBytes(req.Body, "model", m)
	if err != nil {
		return nil, &Error{Kind: KindInternal, Message: "could not set the model of the request", Err: err}
	}
	cp := *req
	cp.Model, cp.Body = m, body
	return &cp, nil
}

// rawWithModel returns the request bytes raw with their "model" set to
// model, or nil (the request is then encoded from its fields) when raw is
// nil or not an object.
func rawWithModel(raw []byte, model string) []byte {
	if raw == nil {
		return nil
	}
	b, err := sjson.SetBytes(raw, "model", model)
	if err != nil {
		return nil
	}
	return b
}
