package anthropic

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy/internal/secrettest"
)

// TestKeyEchoedInErrorIsRedacted has the upstream echo the key, plain and
// JSON-escaped, in every member of its error that the adapter keeps: the
// message (also as a JSON document in a string), the type, the
// details.error_code and the request id kept in the cause; in an answer's
// error and in an error event. The key must show nowhere.
func TestKeyEchoedInErrorIsRedacted(t *testing.T) {
	esc := secrettest.Forms(testKey)[1]
	escTwice := secrettest.Forms(testKey)[2]
	bodies := map[string]string{
		"plain": `{"type":"error","error":{"type":"` + testKey + `","message":"bad key ` + testKey +
			`","details":{"error_code":"` + testKey + `"}},"request_id":"req_` + testKey + `"}`,
		"escaped": `{"type":"error","error":{"type":"` + esc + `","message":"bad key ` + esc +
			`","details":{"error_code":"` + esc + `"}},"request_id":"req_` + esc + `"}`,
		"message a document": `{"type":"error","error":{"type":"invalid_request_error","message":"{\"raw\":\"` + escTwice +
			`\"}"},"request_id":"req_1"}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			up := newFakeAnthropic(t)
			rep := reply{status: 400, header: map[string]string{"Content-Type": "application/json"}, body: body}
			up.set(func(f *fakeAnthropic) { f.messages, f.events = rep, rep })
			p := newTestProvider(t, up.URL)
			_, err := p.ChatCompletion(context.Background(), chatRequest(t, streamClient))
			e := asError(t, err)
			assert.Contains(t, e.Message, "[redacted]")
			require.Error(t, e.Err, "the request id is kept in the cause")
			assertNoKey(t, e)
			_, err = p.ChatCompletionStream(context.Background(), chatRequest(t, streamClient))
			assertNoKey(t, asError(t, err))

			ev := p.eventError([]byte(body))
			assert.Contains(t, ev.Message, "[redacted]")
			assertNoKey(t, ev)
		})
	}
	t.Run("request id header", func(t *testing.T) {
		up := newFakeAnthropic(t)
		rep := reply{status: 500, header: map[string]string{"Content-Type": "application/json", "Request-Id": "req_" + testKey},
			body: `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`}
		up.set(func(f *fakeAnthropic) { f.messages = rep })
		p := newTestProvider(t, up.URL)
		_, err := p.ChatCompletion(context.Background(), chatRequest(t, strings.Replace(streamClient, `"stream":true,`, "", 1)))
		e := asError(t, err)
		require.Error(t, e.Err)
		assert.Equal(t, "anthropic request id req_[redacted]", e.Err.Error())
		assertNoKey(t, e)
	})
}
