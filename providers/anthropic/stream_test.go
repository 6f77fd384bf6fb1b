package anthropic

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

const streamClient = `{"model":"claude-sonnet-4-5","stream":true,"messages":[{"role":"user","content":"Hi"}]}`

// collect reads a stream to its end and returns its chunks and the error
// that ended it (io.EOF at a clean end).
func collect[T any](t *testing.T, r llmproxy.ChunkReader[T]) ([]T, error) {
	t.Helper()
	var out []T
	for range 1000 {
		c, err := r.Next()
		if err != nil {
			require.NoError(t, r.Close())
			return out, err
		}
		out = append(out, c)
	}
	t.Fatal("the stream does not end")
	return nil, nil
}

// openChatStream serves events from the fake upstream and opens a stream.
func openChatStream(t *testing.T, events string) ([]*llmproxy.ChatChunk, error, *fakeAnthropic) {
	t.Helper()
	up := newFakeAnthropic(t)
	up.set(func(f *fakeAnthropic) { f.events = reply{body: events} })
	p := newTestProvider(t, up.URL)
	r, err := p.ChatCompletionStream(context.Background(), chatRequest(t, streamClient))
	require.NoError(t, err)
	chunks, err := collect(t, r)
	return chunks, err, up
}

// assertSameStream checks that every chunk carries the stream's id,
// object, creation time and model.
func assertSameStream(t *testing.T, chunks []*llmproxy.ChatChunk, id, model string) {
	t.Helper()
	require.NotEmpty(t, chunks)
	for i, c := range chunks {
		assert.Equal(t, id, c.ID, "chunk %d", i)
		assert.Equal(t, "chat.completion.chunk", c.Object, "chunk %d", i)
		assert.Equal(t, chunks[0].Created, c.Created, "chunk %d", i)
		assert.NotZero(t, c.Created)
		assert.Equal(t, model, c.Model, "chunk %d", i)
		assert.Nil(t, c.Raw(), "chunk %d: translated chunks carry no upstream bytes", i)
	}
}

// encoded returns the chunks as the server would send them, without the
// stream-wide members.
func encoded(t *testing.T, chunks []*llmproxy.ChatChunk) []string {
	t.Helper()
	out := make([]string, len(chunks))
	for i, c := range chunks {
		b, err := json.Marshal(struct {
			Choices []llmproxy.ChunkChoice `json:"choices"`
			Usage   *llmproxy.Usage        `json:"usage,omitempty"`
		}{c.Choices, c.Usage})
		require.NoError(t, err)
		out[i] = string(b)
	}
	return out
}

func TestStreamText(t *testing.T) {
	chunks, err, up := openChatStream(t, streamText)
	assert.Equal(t, io.EOF, err)
	assertSameStream(t, chunks, "msg_01TextStream7nTd3n", "claude-sonnet-4-5-20250929")
	assert.Equal(t, []string{
		`{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"content":"! How can I help?"},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
		`{"choices":[],"usage":{"prompt_tokens":25,"completion_tokens":12,"total_tokens":37}}`,
	}, encoded(t, chunks))

	got := up.last(t)
	assert.Equal(t, "text/event-stream", got.header.Get("Accept"))
	assert.JSONEq(t, `{"model":"claude-sonnet-4-5","max_tokens":4096,"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`, string(got.body))
}

func TestStreamToolCalls(t *testing.T) {
	chunks, err, _ := openChatStream(t, streamTools)
	assert.Equal(t, io.EOF, err)
	assertSameStream(t, chunks, "msg_01ToolStreamQ4x", "claude-sonnet-4-5-20250929")
	assert.Equal(t, []string{
		`{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"content":"Let me check both cities."},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"toolu_01Paris","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": "}}]},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"toolu_01Tokyo","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"city\":\"Tokyo\"}"}}]},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
		`{"choices":[],"usage":{"prompt_tokens":600,"completion_tokens":89,"total_tokens":689,"prompt_tokens_details":{"cached_tokens":100}}}`,
	}, encoded(t, chunks))

	// Accumulated as a client does, the arguments are the calls' inputs.
	args := map[int]string{}
	for _, c := range chunks {
		for _, ch := range c.Choices {
			for _, tc := range ch.Delta.ToolCalls {
				args[*tc.Index] += tc.Function.Arguments
			}
		}
	}
	assert.Equal(t, map[int]string{0: `{"city": "Paris"}`, 1: `{"city":"Tokyo"}`}, args)
}

func TestStreamThinking(t *testing.T) {
	chunks, err, _ := openChatStream(t, streamThinking)
	assert.Equal(t, io.EOF, err)
	assert.Equal(t, []string{
		`{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"reasoning_content":"2+2 is "},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"reasoning_content":"4."},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"content":"4"},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}`,
		`{"choices":[],"usage":{"prompt_tokens":40,"completion_tokens":60,"total_tokens":100}}`,
	}, encoded(t, chunks))
	assert.True(t, chunks[1].HasContent(), "reasoning is content: the proxy commits on it")
}

func TestStreamErrorEvent(t *testing.T) {
	chunks, err, _ := openChatStream(t, streamOverloadedMidway)
	assert.Equal(t, []string{
		`{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}`,
	}, encoded(t, chunks))
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
	assert.Equal(t, "overloaded_error", e.Type)
	assert.Equal(t, "Overloaded", e.Message)
	assert.Equal(t, "claude", e.Provider)
	assert.Equal(t, http.StatusServiceUnavailable, e.HTTPStatus())
}

func TestStreamCut(t *testing.T) {
	chunks, err, _ := openChatStream(t, streamCut)
	assert.Len(t, chunks, 2)
	assert.Equal(t, "Once upon a", *chunks[1].Choices[0].Delta.Content)
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
	assert.Equal(t, "the upstream stream ended before message_stop", e.Message)
	assert.ErrorIs(t, e, io.ErrUnexpectedEOF)
}

func TestStreamBroken(t *testing.T) {
	cases := map[string]string{
		"content before message_start": `event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}

`,
		"unreadable event":    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":\n\n",
		"not an event stream": `{"type":"message","content":[]}`,
		"empty":               "",
		"two message_starts":  streamText[:strings.Index(streamText, "event: content_block_start")] + streamText,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			_, err, _ := openChatStream(t, body)
			e := asError(t, err)
			assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
			assert.True(t, e.Kind.Failover())
		})
	}
}

func TestStreamLineTooLong(t *testing.T) {
	defer func(old int) { maxStreamLine = old }(maxStreamLine)
	maxStreamLine = 512
	long := strings.Replace(streamText, `"text":"Hello"`, `"text":"`+strings.Repeat("x", 1024)+`"`, 1)
	chunks, err, _ := openChatStream(t, long)
	assert.Len(t, chunks, 1, "the role chunk")
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
	assert.Equal(t, "the upstream sent a stream line over the size limit", e.Message)
}

func TestStreamErrorIsSticky(t *testing.T) {
	up := newFakeAnthropic(t)
	up.set(func(f *fakeAnthropic) { f.events = reply{body: streamCut} })
	p := newTestProvider(t, up.URL)
	r, err := p.ChatCompletionStream(context.Background(), chatRequest(t, streamClient))
	require.NoError(t, err)
	defer r.Close()
	var first error
	for first == nil {
		_, first = r.Next()
	}
	_, again := r.Next()
	assert.Same(t, first, again)
}

func TestStreamRefusedBeforeOpening(t *testing.T) {
	up := newFakeAnthropic(t)
	p := newTestProvider(t, up.URL)
	_, err := p.ChatCompletionStream(context.Background(), chatRequest(t,
		`{"model":"m","stream":true,"n":3,"messages":[{"role":"user","content":"Hi"}]}`))
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindInvalidRequest, e.Kind)
	assert.Equal(t, "n", e.Param)
	assert.Zero(t, up.count(), "nothing is sent")

	up.set(func(f *fakeAnthropic) {
		f.events = reply{status: 529, header: map[string]string{"Content-Type": "application/json"}, body: errOverloaded}
	})
	_, err = p.ChatCompletionStream(context.Background(), chatRequest(t, streamClient))
	e = asError(t, err)
	assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
	assert.Equal(t, "overloaded_error", e.Type)
}

func TestCompletionStream(t *testing.T) {
	up := newFakeAnthropic(t)
	up.set(func(f *fakeAnthropic) { f.events = reply{body: streamText} })
	p := newTestProvider(t, up.URL)
	req, err := llmproxy.ParseCompletionRequest([]byte(`{"model":"claude-haiku-4-5","prompt":"Say hi","stream":true}`))
	require.NoError(t, err)
	r, err := p.CompletionStream(context.Background(), req)
	require.NoError(t, err)
	chunks, err := collect(t, r)
	assert.Equal(t, io.EOF, err)
	var got []string
	for _, c := range chunks {
		assert.Equal(t, "text_completion", c.Object)
		assert.Equal(t, "msg_01TextStream7nTd3n", c.ID)
		b, _ := json.Marshal(struct {
			Choices []llmproxy.CompletionChoice `json:"choices"`
			Usage   *llmproxy.Usage             `json:"usage,omitempty"`
		}{c.Choices, c.Usage})
		got = append(got, string(b))
	}
	assert.Equal(t, []string{
		`{"choices":[{"index":0,"text":"Hello","logprobs":null,"finish_reason":null}]}`,
		`{"choices":[{"index":0,"text":"! How can I help?","logprobs":null,"finish_reason":null}]}`,
		`{"choices":[{"index":0,"text":"","logprobs":null,"finish_reason":"stop"}]}`,
		`{"choices":[],"usage":{"prompt_tokens":25,"completion_tokens":12,"total_tokens":37}}`,
	}, got)
	assert.JSONEq(t, `{"model":"claude-haiku-4-5","max_tokens":4096,"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"Say hi"}]}]}`,
		string(up.last(t).body))
}

// TestStreamThroughProxy checks the stream contract with the router: an
// error event before any content fails over to the next provider, and the
// usage chunk reaches only clients that asked for it.
func TestStreamThroughProxy(t *testing.T) {
	bad := newFakeAnthropic(t)
	bad.set(func(f *fakeAnthropic) { f.events = reply{body: streamOverloadedAtStart} })
	good := newFakeAnthropic(t)
	good.set(func(f *fakeAnthropic) { f.events = reply{body: streamTools} })
	px, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{
		{Name: "first", Type: "anthropic", BaseURL: bad.URL, APIKey: testKey, Priority: 1},
		{Name: "second", Type: "anthropic", BaseURL: good.URL, APIKey: testKey, Priority: 2},
	}})
	require.NoError(t, err)
	defer px.Close()

	for _, includeUsage := range []bool{false, true} {
		body := streamClient
		if includeUsage {
			body = strings.Replace(body, `"stream":true`, `"stream":true,"stream_options":{"include_usage":true}`, 1)
		}
		s, err := px.ChatCompletionStream(context.Background(), chatRequest(t, body))
		require.NoError(t, err)
		var chunks []*llmproxy.ChatChunk
		for s.Next() {
			chunks = append(chunks, s.Current())
		}
		require.NoError(t, s.Err())
		require.NoError(t, s.Close())
		assert.Equal(t, "second", s.ProxyInfo().Provider)
		last := chunks[len(chunks)-1]
		if includeUsage {
			assert.Empty(t, last.Choices)
			assert.Equal(t, 689, last.Usage.TotalTokens)
		} else {
			assert.Equal(t, "tool_calls", *last.Choices[0].FinishReason)
		}
		assert.Equal(t, 689, s.Usage().TotalTokens, "the proxy learns the usage either way")
	}
	assert.Equal(t, 2, bad.count(), "the overloaded provider was tried first each time")
}

func TestStreamFailureAfterCommitThroughProxy(t *testing.T) {
	up := newFakeAnthropic(t)
	up.set(func(f *fakeAnthropic) { f.events = reply{body: streamOverloadedMidway} })
	px, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{
		{Name: "only", Type: "anthropic", BaseURL: up.URL, APIKey: testKey},
	}})
	require.NoError(t, err)
	defer px.Close()
	s, err := px.ChatCompletionStream(context.Background(), chatRequest(t, streamClient))
	require.NoError(t, err, "the stream committed at its first content")
	defer s.Close()
	var text strings.Builder
	for s.Next() {
		if d := s.Current().Choices[0].Delta.Content; d != nil {
			text.WriteString(*d)
		}
	}
	assert.Equal(t, "Hello", text.String())
	e := asError(t, s.Err())
	assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
	assert.Equal(t, "overloaded_error", e.Type)
}
