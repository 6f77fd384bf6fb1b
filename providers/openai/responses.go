package openai

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/llmproxy/llmproxy"
)

// The Responses API (POST /responses), for the Responses front
// (front/responses), which finds these methods by type assertion: the
// adapter passes the client's request through as its bytes (only "model"
// is rewritten when the routed model differs) and the upstream's answer
// back as it came, reading only what the proxy needs of it.

// responsesPath is the Responses endpoint below the base URL.
const responsesPath = "/responses"

// speaksResponses reports whether the upstream of cfg serves the Responses
// API: as cfg.ResponsesAPI says when set, else only OpenAI itself (type
// openai at its own host).
func speaksResponses(cfg llmproxy.ProviderConfig, f *flavor, base string) bool {
	if cfg.ResponsesAPI != nil {
		return *cfg.ResponsesAPI
	}
	if f.name != "openai" {
		return false
	}
	u, err := url.Parse(base)
	return err == nil && strings.EqualFold(u.Hostname(), "api.openai.com")
}

// SpeaksResponses reports whether the upstream serves the Responses API
// (ProviderConfig.ResponsesAPI; by default only OpenAI's own).
func (p *Provider) SpeaksResponses() bool { return p.responses }

// responsesBody returns the body to send for req: req.Body with the
// model set to req.Model when it differs, and "stream" set to stream
// (deleted when false) when the body says otherwise.
func responsesBody(req *llmproxy.NativeRequest, stream bool) ([]byte, error) {
	body := req.Body
	var err error
	if gjson.GetBytes(body, "model").Str != req.Model {
		if body, err = sjson.SetBytes(body, "model", req.Model); err != nil {
			return nil, err
		}
	}
	if req.Stream != stream {
		if stream {
			return sjson.SetBytes(body, "stream", true)
		}
		if body, err = sjson.DeleteBytes(body, "stream"); err != nil {
			return nil, err
		}
		return sjson.DeleteBytes(body, "stream_options")
	}
	return body, nil
}

// ResponsesRaw sends a Responses request and returns the upstream's
// response object as it came, with its usage. An answer that is not a
// response object, or one whose status is "failed", is an error.
func (p *Provider) ResponsesRaw(ctx context.Context, req *llmproxy.NativeRequest) (*llmproxy.RawAnswer, error) {
	body, err := responsesBody(req, false)
	if err != nil {
		return nil, p.encodeFailure(err)
	}
	b, err := p.call(ctx, http.MethodPost, responsesPath+req.Path, body)
	if err != nil {
		return nil, err
	}
	root, ok := validObject(b)
	if !ok || root.Get("object").Str != "response" {
		return nil, p.invalidAnswer(errors.New("the answer is not a response object"))
	}
	if root.Get("status").Str == "failed" {
		return nil, p.responseFailure(root.Get("error"))
	}
	return &llmproxy.RawAnswer{Body: b, Usage: readResponsesUsage(root.Get("usage"))}, nil
}

// ResponsesStreamRaw sends a streamed Responses request and returns the
// upstream's events as they came (see the front's Native interface). The
// reader reuses one RawChunk, valid until the next call of Next. The stream
// ends cleanly after response.completed or response.incomplete; an end
// before either is a cut stream, and response.failed and error events are
// the upstream's errors.
func (p *Provider) ResponsesStreamRaw(ctx context.Context, req *llmproxy.NativeRequest) (llmproxy.ChunkReader[*llmproxy.RawChunk], error) {
	body, err := responsesBody(req, true)
	if err != nil {
		return nil, p.encodeFailure(err)
	}
	resp, err := p.openStream(ctx, responsesPath+req.Path, body)
	if err != nil {
		return nil, err
	}
	var chunk llmproxy.RawChunk
	return newStreamReader(ctx, p, resp, func(data []byte) (*llmproxy.RawChunk, bool, error) {
		return p.decodeResponsesEvent(&chunk, data)
	}), nil
}

// decodeResponsesEvent reads one event of a Responses stream into c: its
// type (the event's name), whether it shows something, and, at the end,
// its usage.
func (p *Provider) decodeResponsesEvent(c *llmproxy.RawChunk, data []byte) (*llmproxy.RawChunk, bool, error) {
	root, ok := validObject(data)
	if !ok {
		return nil, false, p.invalidAnswer(errors.New("a stream event is not a JSON object"))
	}
	typ := root.Get("type").Str
	*c = llmproxy.RawChunk{Event: eventName(typ), Data: data}
	switch typ {
	case "response.created", "response.in_progress", "response.queued", "response.content_part.added",
		"response.reasoning_summary_part.added":
		// Nothing a client shows yet.
	case "response.output_item.added":
		switch root.Get("item.type").Str {
		case "message", "reasoning":
		default:
			c.Content = true // a call of a tool
		}
	case "response.completed", "response.incomplete":
		c.Content, c.Final = true, true
		c.Usage = readResponsesUsage(root.Get("response.usage"))
		return c, true, nil
	case "response.failed":
		return nil, false, p.responseFailure(root.Get("response.error"))
	case "error":
		return nil, false, p.responseFailure(root)
	case "":
		return nil, false, p.invalidAnswer(errors.New("a stream event has no type"))
	default:
		c.Content = true
	}
	return c, false, nil
}

// responseFailure is the error of a failed response: its "error" member
// (code and message). A rate limit is KindRateLimited and a server error
// KindUnavailable (both fail over); any other code is the request's fault.
func (p *Provider) responseFailure(e gjson.Result) *llmproxy.Error {
	status := http.StatusBadRequest
	switch e.Get("code").Str {
	case "rate_limit_exceeded":
		status = http.StatusTooManyRequests
	case "server_error", "vector_store_timeout", "":
		status = http.StatusBadGateway
	}
	raw := e.Raw
	if !e.IsObject() {
		raw = `{}`
	}
	return p.statusError(status, nil, []byte(`{"error":`+raw+`}`))
}

// readResponsesUsage reads the usage of a response object, or nil.
func readResponsesUsage(v gjson.Result) *llmproxy.Usage {
	if !v.IsObject() {
		return nil
	}
	return &llmproxy.Usage{
		PromptTokens:     int(v.Get("input_tokens").Int()),
		CompletionTokens: int(v.Get("output_tokens").Int()),
		TotalTokens:      int(v.Get("total_tokens").Int()),
	}
}

// eventNames are the names of the Responses events, so that a chunk's
// Event does not point into the read buffer (see eventName).
var eventNames = map[string]string{}

func init() {
	for _, n := range []string{
		"response.created", "response.in_progress", "response.queued", "response.completed", "response.incomplete",
		"response.failed", "error", "response.output_item.added", "response.output_item.done",
		"response.content_part.added", "response.content_part.done", "response.output_text.delta",
		"response.output_text.done", "response.output_text.annotation.added", "response.refusal.delta",
		"response.refusal.done", "response.function_call_arguments.delta", "response.function_call_arguments.done",
		"response.reasoning_summary_part.added", "response.reasoning_summary_part.done",
		"response.reasoning_summary_text.delta", "response.reasoning_summary_text.done",
		"response.reasoning_text.delta", "response.reasoning_text.done",
		"response.custom_tool_call_input.delta", "response.custom_tool_call_input.done",
	} {
		eventNames[n] = n
	}
}

// eventName returns typ as a string of its own: typ may share the memory
// of the read buffer, which the next event overwrites.
func eventName(typ string) string {
	if n, ok := eventNames[typ]; ok {
		return n
	}
	return strings.Clone(typ)
}
