package messages

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/llmproxy/llmproxy"
)

func TestErrorEnvelope(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    *llmproxy.Error
		status int
		typ    string
	}{
		{"bad request", &llmproxy.Error{Kind: llmproxy.KindInvalidRequest, Message: "x"}, 400, "invalid_request_error"},
		{"client key", &llmproxy.Error{Kind: llmproxy.KindUnauthorized, Message: "x"}, 401, "authentication_error"},
		{"upstream key refused", &llmproxy.Error{Kind: llmproxy.KindAuth, Status: 403, Type: "permission_error", Provider: "p"}, 502, "api_error"},
		{"no such model", &llmproxy.Error{Kind: llmproxy.KindNotFound, Type: "invalid_request_error", Message: "x"}, 404, "not_found_error"},
		{"too large", &llmproxy.Error{Kind: llmproxy.KindInvalidRequest, Status: 413, Message: "x"}, 413, "request_too_large"},
		{"client rate limit", &llmproxy.Error{Kind: llmproxy.KindRateLimitedClient, RetryAfter: time.Second}, 429, "rate_limit_error"},
		{"upstream rate limit", &llmproxy.Error{Kind: llmproxy.KindRateLimited, Status: 429, Type: "rate_limit_error"}, 429, "rate_limit_error"},
		{"upstream 500", &llmproxy.Error{Kind: llmproxy.KindUnavailable, Status: 500, Type: "api_error"}, 500, "api_error"},
		{"openai server_error", &llmproxy.Error{Kind: llmproxy.KindUnavailable, Status: 503, Type: "server_error"}, 503, "api_error"},
		{"overloaded", &llmproxy.Error{Kind: llmproxy.KindUnavailable, Status: 503, Type: "overloaded_error"}, 529, "overloaded_error"},
		{"timeout", &llmproxy.Error{Kind: llmproxy.KindTimeout}, 504, "timeout_error"},
		{"internal", &llmproxy.Error{Kind: llmproxy.KindInternal}, 500, "api_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.status, ErrorStatus(tc.err))
			assert.Equal(t, tc.typ, ErrorType(tc.err))
			body := ErrorBody(tc.err)
			assert.JSONEq(t, `{"type":"error","error":{"type":"`+tc.typ+`","message":`+quote(tc.err.Envelope().Error.Message)+`}}`, string(body))
			assert.Equal(t, "event: error\ndata: "+string(body[:len(body)-1])+"\n\n", string(ErrorFrame(tc.err)))
		})
	}
	assert.Equal(t, http.StatusBadRequest, invalid("p", "m").HTTPStatus())
}

func quote(s string) string {
	b := []byte{'"'}
	for _, r := range s {
		if r == '"' || r == '\\' {
			b = append(b, '\\')
		}
		b = append(b, string(r)...)
	}
	return string(append(b, '"'))
}
