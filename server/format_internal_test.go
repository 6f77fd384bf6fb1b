package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/mock"
)

// testFormat is a front's error format that the tests can tell apart from
// OpenAI's.
var testFormat = errorFormat{
	body:  func(e *llmproxy.Error) []byte { return []byte(`{"type":"error","message":"` + e.Message + `"}`) },
	frame: func(e *llmproxy.Error) []byte { return []byte("event: error\ndata: " + e.Message + "\n\n") },
}

// scriptedEvents hands out its events, then its end (io.EOF or an error).
type scriptedEvents struct {
	events []*llmproxy.RawChunk
	end    error
}

func (r *scriptedEvents) Next() (*llmproxy.RawChunk, error) {
	if len(r.events) == 0 {
		return nil, r.end
	}
	c := r.events[0]
	r.events = r.events[1:]
	return c, nil
}

func (r *scriptedEvents) Close() error { return nil }

func TestWithFormatWritesErrorsInTheRoutesEnvelope(t *testing.T) {
	h := withFormat(testFormat, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &llmproxy.Error{Kind: llmproxy.KindUnauthorized, Message: "no key"})
	}))
	rec := httptest.NewRecorder()
	sw := &statusWriter{ResponseWriter: rec}
	h.ServeHTTP(sw, httptest.NewRequest("POST", "/v1/messages", nil))
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Equal(t, `{"type":"error","message":"no key"}`, rec.Body.String())
	require.NotNil(t, sw.err, "the error is kept for the metrics")

	// Routes without a format of their own keep OpenAI's envelope.
	rec = httptest.NewRecorder()
	writeError(&statusWriter{ResponseWriter: rec}, &llmproxy.Error{Kind: llmproxy.KindUnauthorized, Message: "no key"})
	assert.JSONEq(t, `{"error":{"message":"no key","type":"authentication_error","param":null,"code":null}}`, rec.Body.String())
}

func TestWriteEventsNamesEventsAndEndsACutStreamWithTheFrontsFrame(t *testing.T) {
	p, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{{Name: "m", Type: "mock"}}})
	require.NoError(t, err)
	defer p.Close()
	for _, tc := range []struct {
		name string
		end  error
		want string
	}{
		{"clean", errors.New("unused"), ""},
		{"cut", &llmproxy.Error{Kind: llmproxy.KindUnavailable, Message: "upstream cut"}, "event: error\ndata: upstream cut\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events := []*llmproxy.RawChunk{
				{Event: "message_start", Data: []byte(`{"a":1}`)},
				{Event: "content_block_delta", Data: []byte(`{"b":2}`), Content: true},
			}
			end := tc.end
			if tc.name == "clean" {
				events = append(events, &llmproxy.RawChunk{Event: "message_stop", Data: []byte(`{}`), Final: true})
				end = io.EOF
			}
			st, err := p.RouteStreamRaw(context.Background(), "messages", "mock-1",
				func(context.Context, llmproxy.Target) (llmproxy.ChunkReader[*llmproxy.RawChunk], error) {
					return &scriptedEvents{events: events, end: end}, nil
				})
			require.NoError(t, err)
			defer st.Close()
			rec := httptest.NewRecorder()
			withFormat(testFormat, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeEvents(w, st) })).
				ServeHTTP(&statusWriter{ResponseWriter: rec}, httptest.NewRequest("POST", "/v1/messages", nil))
			want := "event: message_start\ndata: {\"a\":1}\n\n" + "event: content_block_delta\ndata: {\"b\":2}\n\n"
			if tc.name == "clean" {
				want += "event: message_stop\ndata: {}\n\n"
			}
			assert.Equal(t, want+tc.want, rec.Body.String())
			assert.Equal(t, "text/event-stream", rec.Header().Get("Content-Type"))
			assert.Equal(t, "m", rec.Header().Get("X-LLMProxy-Provider"))
		})
	}
}
