package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// collected is what a client assembles from a stream of one choice.
type collected struct {
	chunks    []*llmproxy.ChatChunk
	content   string
	reasoning string
	tools     []llmproxy.ToolCall // by OpenAI index
	finish    string
	native    string
	usage     *llmproxy.Usage
	err       error
}

// collect reads r to its end and checks the invariants every stream must
// keep: one id, created and model; the role on the first chunk; a tool
// call's id, type and name on its first fragment; nothing after the usage
// chunk.
func collect(t *testing.T, r llmproxy.ChunkReader[*llmproxy.ChatChunk]) collected {
	t.Helper()
	var c collected
	for {
		ch, err := r.Next()
		if err != nil {
			c.err = err
			break
		}
		c.chunks = append(c.chunks, ch)
		first := c.chunks[0]
		assert.Equal(t, first.ID, ch.ID)
		assert.Equal(t, first.Created, ch.Created)
		assert.Equal(t, first.Model, ch.Model)
		assert.Equal(t, "chat.completion.chunk", ch.Object)
		if len(c.chunks) > 1 {
			assert.NotEmpty(t, c.chunks[len(c.chunks)-2].Choices, "a chunk follows the usage chunk")
		}
		if ch.Usage != nil {
			assert.NotNil(t, ch.Choices)
			assert.Empty(t, ch.Choices, "usage comes in its own chunk")
			c.usage = ch.Usage
			continue
		}
		require.Len(t, ch.Choices, 1)
		d := ch.Choices[0].Delta
		if len(c.chunks) == 1 {
			assert.Equal(t, "assistant", d.Role)
		} else {
			assert.Empty(t, d.Role)
		}
		if d.Content != nil {
			c.content += *d.Content
		}
		if rc, ok := d.Extra["reasoning_content"]; ok {
			var s string
			require.NoError(t, json.Unmarshal(rc, &s))
			c.reasoning += s
		}
		for _, tc := range d.ToolCalls {
			require.NotNil(t, tc.Index)
			require.Equal(t, len(c.tools), *tc.Index, "calls arrive whole, in order")
			assert.NotEmpty(t, tc.ID)
			assert.Equal(t, "function", tc.Type)
			tc.Index = nil
			c.tools = append(c.tools, tc)
		}
		if fr := ch.Choices[0].FinishReason; fr != nil {
			c.finish = *fr
			_ = json.Unmarshal(ch.Choices[0].Extra["native_finish_reason"], &c.native)
		}
	}
	require.NoError(t, r.Close())
	return c
}

// streamOf reads body as a stream of a request for n choices.
func streamOf(t *testing.T, body string, n int) collected {
	t.Helper()
	p := &Provider{up: llmproxy.HTTPUpstream{Name: "gem"}, key: testKey}
	return collect(t, newChatStream(context.Background(), p, io.NopCloser(strings.NewReader(body)), "requested-model", n, 1700000000))
}

// withoutLastEvent drops the last event of an SSE fixture (CRLF framing).
func withoutLastEvent(s string) string {
	i := strings.LastIndex(strings.TrimRight(s, "\r\n"), "\r\n\r\n")
	return s[:i+4]
}

func TestStreamTranslation(t *testing.T) {
	text, tools := fixture(t, "stream_text.sse"), fixture(t, "stream_tools.sse")
	textUsage := &llmproxy.Usage{PromptTokens: 8, CompletionTokens: 9, TotalTokens: 17}
	weather := []llmproxy.ToolCall{
		{ID: "call_0__thought__" + sig, Type: "function", Function: llmproxy.FunctionCall{Name: "get_weather", Arguments: `{"location":"Paris","unit":"celsius"}`}},
		{ID: "call_1", Type: "function", Function: llmproxy.FunctionCall{Name: "get_weather", Arguments: `{"location":"London","unit":"celsius"}`}},
	}

	t.Run("text (CRLF framing, as Gemini sends it)", func(t *testing.T) {
		c := streamOf(t, text, 1)
		assert.Equal(t, io.EOF, c.err)
		assert.Equal(t, "AI learns patterns from data to make predictions.", c.content)
		assert.Equal(t, "stop", c.finish)
		assert.Equal(t, "STOP", c.native)
		assert.Equal(t, textUsage, c.usage)
		assert.Equal(t, "n_5caPu8J8uf1dkP8eqVsAk", c.chunks[0].ID)
		assert.Equal(t, "gemini-2.5-flash", c.chunks[0].Model)
		assert.Len(t, c.chunks, 5, "three text chunks, the finish chunk, the usage chunk")
	})
	t.Run("text with LF framing", func(t *testing.T) {
		c := streamOf(t, strings.ReplaceAll(text, "\r\n", "\n"), 1)
		assert.Equal(t, io.EOF, c.err)
		assert.Equal(t, "AI learns patterns from data to make predictions.", c.content)
	})
	t.Run("thoughts and parallel calls", func(t *testing.T) {
		c := streamOf(t, tools, 1)
		assert.Equal(t, io.EOF, c.err)
		assert.Empty(t, c.content)
		assert.Equal(t, "**Planning the lookup**\n\nThe user wants the weather in two cities.\n", c.reasoning)
		assert.Equal(t, weather, c.tools)
		assert.Equal(t, "tool_calls", c.finish)
		assert.Equal(t, &llmproxy.Usage{PromptTokens: 96, CompletionTokens: 91, TotalTokens: 187,
			CompletionTokensDetails: &llmproxy.TokenDetails{ReasoningTokens: 61}}, c.usage)
	})
	t.Run("cut before the finish", func(t *testing.T) {
		c := streamOf(t, withoutLastEvent(text), 1)
		e := asError(t, c.err)
		assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
		assert.Equal(t, "AI learns patterns from data", c.content, "what came is handed out before the error")
		assert.Empty(t, c.finish)
	})
	t.Run("a [DONE] is not an end", func(t *testing.T) {
		c := streamOf(t, withoutLastEvent(text)+"data: [DONE]\r\n\r\n", 1)
		assert.Equal(t, llmproxy.KindUnavailable, asError(t, c.err).Kind)
	})
	t.Run("nothing after the finish is read", func(t *testing.T) {
		c := streamOf(t, text+"data: {not json\r\n\r\n", 1)
		assert.Equal(t, io.EOF, c.err)
	})
	t.Run("error object mid-stream", func(t *testing.T) {
		body := withoutLastEvent(text) + `data: {"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}` + "\r\n\r\n"
		c := streamOf(t, body, 1)
		e := asError(t, c.err)
		assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
		assert.Equal(t, "The model is overloaded. Please try again later.", e.Message)
		assert.Equal(t, "UNAVAILABLE", e.Code)
	})
	t.Run("error as a bare JSON line, as Gemini sends it outside SSE", func(t *testing.T) {
		c := streamOf(t, `{"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}`+"\n", 1)
		assert.Equal(t, llmproxy.KindRateLimited, asError(t, c.err).Kind)
		assert.Empty(t, c.chunks)
	})
	t.Run("blocked prompt", func(t *testing.T) {
		c := streamOf(t, `data: {"promptFeedback": {"blockReason": "SAFETY"},"usageMetadata": {"promptTokenCount": 9,"totalTokenCount": 9},"modelVersion": "gemini-2.5-flash","responseId": "b1"}`+"\r\n\r\n", 1)
		assert.Equal(t, io.EOF, c.err)
		assert.Equal(t, "content_filter", c.finish)
		assert.Equal(t, "SAFETY", c.native)
		assert.Equal(t, 9, c.usage.PromptTokens)
	})
	t.Run("safety stop after some text", func(t *testing.T) {
		body := withoutLastEvent(text) + `data: {"candidates": [{"content": {"role": "model"},"finishReason": "SAFETY","index": 0}],"modelVersion": "gemini-2.5-flash"}` + "\r\n\r\n"
		c := streamOf(t, body, 1)
		assert.Equal(t, io.EOF, c.err)
		assert.Equal(t, "content_filter", c.finish)
		assert.Equal(t, "AI learns patterns from data", c.content)
	})
	t.Run("events that do not decode", func(t *testing.T) {
		for _, body := range []string{"data: [1,2]\n\n", "data: {\"candidates\": 7}\n\n", "data: {\"candidates\": [{\"index\": 3}]}\n\n"} {
			c := streamOf(t, body, 1)
			e := asError(t, c.err)
			assert.Equal(t, llmproxy.KindUnavailable, e.Kind, body)
			assert.Equal(t, "the upstream sent an invalid answer", e.Message, body)
		}
	})
}

func TestStreamTwoCandidates(t *testing.T) {
	body := `data: {"candidates": [{"content": {"parts": [{"text": "A"}],"role": "model"}},{"content": {"parts": [{"text": "B"}],"role": "model"},"index": 1}],"responseId": "r2"}` + "\n\n" +
		`data: {"candidates": [{"content": {"parts": [{"text": "a"}],"role": "model"},"finishReason": "STOP"}],"responseId": "r2"}` + "\n\n"
	p := &Provider{up: llmproxy.HTTPUpstream{Name: "gem"}}
	s := newChatStream(context.Background(), p, io.NopCloser(strings.NewReader(body)), "m", 2, 1)
	text := map[int]string{}
	roles := map[int]int{}
	var err error
	for {
		var c *llmproxy.ChatChunk
		if c, err = s.Next(); err != nil {
			break
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				text[ch.Index] += *ch.Delta.Content
			}
			if ch.Delta.Role != "" {
				roles[ch.Index]++
			}
		}
	}
	require.NoError(t, s.Close())
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindUnavailable, e.Kind, "choice 1 never finished")
	assert.Equal(t, map[int]string{0: "Aa", 1: "B"}, text)
	assert.Equal(t, map[int]int{0: 1, 1: 1}, roles, "each choice announces its role once")
}

func TestChatCompletionStream(t *testing.T) {
	f := newFakeGemini(t)
	p := newTestProvider(t, f.base())
	r, err := p.ChatCompletionStream(t.Context(), parseChat(t, `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"How does AI work?"}],"stream":true}`))
	require.NoError(t, err)
	c := collect(t, r)
	assert.Equal(t, io.EOF, c.err)
	assert.Equal(t, "AI learns patterns from data to make predictions.", c.content)
	last := f.last(t)
	assert.Equal(t, "/v1beta/models/gemini-2.5-flash:streamGenerateContent", last.path)
	assert.Equal(t, "alt=sse", last.query)
	assert.Equal(t, "text/event-stream", last.header.Get("Accept"))
	assert.False(t, bytes.Contains(last.body, []byte(`"stream"`)), "Gemini has no stream member")
}
