package server

import (
	"encoding/json"
	"net/http"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/sse"
)

// errorFormat is how the clients of one front (an inbound API format) are
// told about errors: the body of an error answer, and the last frame of a
// stream that failed after its commit. The OpenAI format is the default;
// a route of another front sets its own with withFormat, so that every
// error on it (authentication, rate limits, bad bodies, panics, failures
// of the providers) reaches its clients in their envelope.
type errorFormat struct {
	// body returns the JSON body of an error answer.
	body func(e *llmproxy.Error) []byte
	// frame returns the SSE frame that ends a failed stream.
	frame func(e *llmproxy.Error) []byte
	// status returns the status of an error answer; nil means
	// e.HTTPStatus() (Anthropic's front answers an overload 529).
	status func(e *llmproxy.Error) int
}

// openAIFormat writes errors in OpenAI's envelope, {"error":{...}}, and
// ends a failed stream with a data: frame of it and no [DONE].
var openAIFormat = errorFormat{
	body: func(e *llmproxy.Error) []byte {
		b, _ := json.Marshal(e.Envelope())
		return append(b, '\n')
	},
	frame: func(e *llmproxy.Error) []byte {
		b, _ := json.Marshal(e.Envelope())
		return sse.AppendData(nil, b)
	},
}

// formatOf returns the error format of the route serving w: the one
// withFormat set, or OpenAI's.
func formatOf(w http.ResponseWriter) errorFormat {
	if sw, ok := w.(*statusWriter); ok && sw.format.body != nil {
		return sw.format
	}
	return openAIFormat
}

// withFormat makes the errors of the requests h serves use f.
func withFormat(f errorFormat, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sw, ok := w.(*statusWriter); ok {
			sw.format = f
		}
		h.ServeHTTP(w, r)
	})
}
