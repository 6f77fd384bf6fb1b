package messages

import (
	"encoding/json"
	"net/http"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/anthropicwire"
	"github.com/llmproxy/llmproxy/sse"
)

// errorEnvelope is Anthropic's error body:
// {"type":"error","error":{"type":"...","message":"..."}}.
type errorEnvelope struct {
	Type  string      `json:"type"`
	Error errorDetail `json:"error"`
}

// errorDetail is the inside of an error envelope.
type errorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// ErrorType returns Anthropic's error type for e: the upstream's own when
// it is one of Anthropic's and fits the status the client gets (an
// Anthropic provider's error passes through with its type), else the type
// Anthropic gives that status
// (invalid_request_error for 400, authentication_error for 401,
// permission_error for 403, not_found_error for 404, request_too_large
// for 413, rate_limit_error for 429, timeout_error for 504, api_error for
// the other 5xx, overloaded_error for 529).
func ErrorType(e *llmproxy.Error) string {
	status := ErrorStatus(e)
	if s, ok := anthropicwire.ErrorStatus[e.Type]; ok && s == status {
		return e.Type
	}
	return anthropicwire.ErrorType(status)
}

// ErrorStatus returns the HTTP status of e for an Anthropic client: e's
// own (see llmproxy.Error.HTTPStatus), except that an overloaded_error is
// answered 529, as Anthropic does, whatever status it came with.
func ErrorStatus(e *llmproxy.Error) int {
	if e.Type == "overloaded_error" {
		return anthropicwire.StatusOverloaded
	}
	return e.HTTPStatus()
}

// ErrorBody returns e as the JSON body of an error answer in Anthropic's
// envelope, with the message the OpenAI front shows (the provider named
// for upstream failures; the wrapped cause left out), and a newline.
func ErrorBody(e *llmproxy.Error) []byte {
	b, _ := json.Marshal(errorEnvelope{Type: "error",
		Error: errorDetail{Type: ErrorType(e), Message: e.Envelope().Error.Message}})
	return append(b, '\n')
}

// ErrorFrame returns the SSE frame that ends a stream failed after its
// commit: "event: error" with the envelope as its data, as Anthropic sends
// it. A stream that ends with it has no message_stop.
func ErrorFrame(e *llmproxy.Error) []byte {
	body := ErrorBody(e)
	return sse.AppendEvent(nil, "error", body[:len(body)-1])
}

// invalid returns the KindInvalidRequest error of a request member.
func invalid(param, msg string) *llmproxy.Error {
	return &llmproxy.Error{Kind: llmproxy.KindInvalidRequest, Status: http.StatusBadRequest,
		Type: "invalid_request_error", Param: param, Message: msg}
}
