// Package anthropicwire holds the tables of Anthropic's Messages API that
// both directions of translation share: the Anthropic provider (OpenAI
// chat to Anthropic) and the Anthropic Messages front (Anthropic to any
// provider through chat). Each direction keeps its own code; only the
// correspondences live here, so that the two cannot drift apart.
package anthropicwire

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// StatusOverloaded is Anthropic's status for a global overload, answered
// with an overloaded_error.
const StatusOverloaded = 529

// ErrorStatus is the HTTP status Anthropic answers each error type with.
var ErrorStatus = map[string]int{
	"invalid_request_error": http.StatusBadRequest,
	"authentication_error":  http.StatusUnauthorized,
	"billing_error":         http.StatusPaymentRequired,
	"permission_error":      http.StatusForbidden,
	"not_found_error":       http.StatusNotFound,
	"request_too_large":     http.StatusRequestEntityTooLarge,
	"rate_limit_error":      http.StatusTooManyRequests,
	"api_error":             http.StatusInternalServerError,
	"timeout_error":         http.StatusGatewayTimeout,
	"overloaded_error":      StatusOverloaded,
}

// ErrorType returns Anthropic's error type for an HTTP status: the type
// ErrorStatus gives that status, else invalid_request_error for the other
// 4xx and api_error for everything else (502, 503, …).
func ErrorType(status int) string {
	for typ, s := range ErrorStatus {
		if s == status {
			return typ
		}
	}
	if status >= 400 && status < 500 {
		return "invalid_request_error"
	}
	return "api_error"
}

// FinishReason maps Anthropic's stop_reason to OpenAI's finish_reason:
// end_turn, stop_sequence and pause_turn are stop, max_tokens and
// model_context_window_exceeded length, tool_use tool_calls and refusal
// content_filter. Unknown reasons (and a missing one) are stop.
func FinishReason(stopReason string) string {
	switch stopReason {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	return "stop"
}

// StopReason maps OpenAI's finish_reason to Anthropic's stop_reason, the
// inverse of FinishReason: length is max_tokens, tool_calls (and the
// legacy function_call) tool_use, content_filter refusal, and stop (or
// anything else) end_turn. OpenAI does not say whether a stop sequence
// ended the answer, so stop_sequence is never given.
func StopReason(finishReason string) string {
	switch finishReason {
	case "length":
		return "max_tokens"
	case "tool_calls", "function_call":
		return "tool_use"
	case "content_filter":
		return "refusal"
	}
	return "end_turn"
}

// ToolArguments returns a tool_use block's input as the compact JSON text
// of a chat tool call's arguments; a missing, null or invalid input is the
// empty object.
func ToolArguments(input json.RawMessage) string {
	var b bytes.Buffer
	if len(input) == 0 || json.Compact(&b, input) != nil || b.String() == "null" {
		return "{}"
	}
	return b.String()
}
