package cohere

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// collected is what a client assembles from a stream.
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
// call's id, type and name on its first fragment only; nothing after the
// usage chunk.
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
		assert.Nil(t, ch.Raw(), "chunks are encoded by the server")
		if len(c.chunks) > 1 {
			assert.NotNil(t, c.chunks[len(c.chunks)-2].Choices, "a chunk follows the usage chunk")
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
			i := *tc.Index
			if i == len(c.tools) {
				assert.NotEmpty(t, tc.ID, "the first fragment has the id")
				assert.Equal(t, "function", tc.Type)
				c.tools = append(c.tools, tc)
				c.tools[i].Index = nil
				continue
			}
			require.Less(t, i, len(c.tools), "fragment of a call that did not start")
			assert.Empty(t, tc.ID)
			assert.Empty(t, tc.Function.Name)
			c.tools[i].Function.Arguments += tc.Function.Arguments
		}
		if fr := ch.Choices[0].FinishReason; fr != nil {
			c.finish = *fr
			_ = json.Unmarshal(ch.Choices[0].Extra["native_finish_reason"], &c.native)
		}
	}
	require.NoError(t, r.Close())
	return c
}

// toNDJSON turns an SSE fixture into newline-delimited JSON framing.
func toNDJSON(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			b.WriteString(data)
		}
	}
	return b.String()
}

// withoutLastEvent drops the message-end event of an SSE fixture.
func withoutLastEvent(s string) string {
	i := strings.LastIndex(strings.TrimRight(s, "\n"), "\n\n")
	return s[:i+2]
}

const textStreamContent = "LLMs stand for Large Language Models, which are a type of neural network model specialized in processing and generating human language."

func TestChatCompletionStream(t *testing.T) {
	text, tools, ref := fixture(t, "stream_text.sse"), fixture(t, "stream_tools.sse"), fixture(t, "stream_reference.ndjson")
	textUsage := &llmproxy.Usage{PromptTokens: 71, CompletionTokens: 26, TotalTokens: 97,
		Extra: llmproxy.Extra{"billed_units": json.RawMessage(`{"input_tokens":5,"output_tokens":26}`)}}
	toolCalls := []llmproxy.ToolCall{
		{ID: "query_daily_sales_report_j3f0adww9pmr", Type: "function", Function: llmproxy.FunctionCall{Name: "query_daily_sales_report", Arguments: `{"day": "2023-09-29"}`}},
		{ID: "query_product_catalog_c66nf11r6s8g", Type: "function", Function: llmproxy.FunctionCall{Name: "query_product_catalog", Arguments: `{"category": "Electronics"}`}},
	}
	toolPlan := "I will use the query_daily_sales_report tool to find the sales summary for 29th September 2023. I will also use the query_product_catalog tool to find the details of the products in the Electronics category."
	toolUsage := &llmproxy.Usage{PromptTokens: 1589, CompletionTokens: 135, TotalTokens: 1724,
		Extra: llmproxy.Extra{"billed_units": json.RawMessage(`{"input_tokens":126,"output_tokens":84}`)}}

	tests := []struct {
		name      string
		body      string
		id        string
		content   string
		reasoning string
		tools     []llmproxy.ToolCall
		finish    string
		native    string
		usage     *llmproxy.Usage
		errKind   *llmproxy.ErrorKind // nil: a clean end
		errText   string
	}{{
		name: "spec text stream (SSE)", body: text, id: "29f14a5a-11de-4cae-9800-25e4747408ea",
		content: textStreamContent, finish: "stop", native: "COMPLETE", usage: textUsage,
	}, {
		name: "spec text stream with a trailing [DONE]", body: text + "data: [DONE]\n\n", id: "29f14a5a-11de-4cae-9800-25e4747408ea",
		content: textStreamContent, finish: "stop", native: "COMPLETE", usage: textUsage,
	}, {
		name: "spec text stream with CRLF line ends", body: strings.ReplaceAll(text, "\n", "\r\n"), id: "29f14a5a-11de-4cae-9800-25e4747408ea",
		content: textStreamContent, finish: "stop", native: "COMPLETE", usage: textUsage,
	}, {
		name: "spec tool stream (SSE, object-shaped tool_calls)", body: tools, id: "2edfdf70-019c-4f7a-be20-3cdbfaa3dca6",
		reasoning: toolPlan, tools: toolCalls, finish: "tool_calls", native: "TOOL_CALL", usage: toolUsage,
	}, {
		name: "spec tool stream as NDJSON with a trailing [DONE]", body: toNDJSON(tools) + "data: [DONE]\n", id: "2edfdf70-019c-4f7a-be20-3cdbfaa3dca6",
		reasoning: toolPlan, tools: toolCalls, finish: "tool_calls", native: "TOOL_CALL", usage: toolUsage,
	}, {
		name: "reference stream (NDJSON)", body: ref, id: "2941..",
		content: "Coca", reasoning: "I will", finish: "tool_calls", native: "TOOL_CALL",
		tools: []llmproxy.ToolCall{{ID: "weather_e8p4", Type: "function", Function: llmproxy.FunctionCall{Name: "weather", Arguments: `{"`}}},
		usage: &llmproxy.Usage{PromptTokens: 1549, CompletionTokens: 95, TotalTokens: 1644,
			PromptTokensDetails: &llmproxy.TokenDetails{CachedTokens: 1504},
			Extra:               llmproxy.Extra{"billed_units": json.RawMessage(`{"input_tokens":119,"output_tokens":44}`)}},
	}, {
		name: "cut before message-end", body: withoutLastEvent(text), id: "29f14a5a-11de-4cae-9800-25e4747408ea",
		content: textStreamContent, errKind: new(llmproxy.KindUnavailable), errText: "ended before it was complete",
	}, {
		name: "[DONE] before message-end", body: withoutLastEvent(text) + "data: [DONE]\n\n", id: "29f14a5a-11de-4cae-9800-25e4747408ea",
		content: textStreamContent, errKind: new(llmproxy.KindUnavailable), errText: "ended before it was complete",
	}, {
		name: "ERROR after content: finish and usage, then the error",
		body: withoutLastEvent(text) + "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"error\":\"internal failure\",\"finish_reason\":\"ERROR\",\"usage\":{\"billed_units\":{\"input_tokens\":5,\"output_tokens\":26},\"tokens\":{\"input_tokens\":71,\"output_tokens\":26}}}}\n\n",
		id:   "29f14a5a-11de-4cae-9800-25e4747408ea", content: textStreamContent, finish: "stop", native: "ERROR", usage: textUsage,
		errKind: new(llmproxy.KindUnavailable), errText: "internal failure",
	}, {
		name: "ERROR before content: only the error",
		body: "event: message-start\ndata: {\"type\":\"message-start\",\"id\":\"x1\",\"delta\":{\"message\":{\"role\":\"assistant\"}}}\n\nevent: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"ERROR\"}}\n\n",
		id:   "x1", errKind: new(llmproxy.KindUnavailable), errText: "finish_reason ERROR",
	}, {
		name:    "TIMEOUT before content",
		body:    "{\"type\":\"message-start\",\"id\":\"x2\",\"delta\":{\"message\":{\"role\":\"assistant\"}}}\n{\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"TIMEOUT\"}}\n",
		id:      "x2",
		errKind: new(llmproxy.KindTimeout), errText: "finish_reason TIMEOUT",
	}, {
		name:    "error event",
		body:    withoutLastEvent(text) + "event: error\ndata: {\"id\":\"5f8a\",\"message\":\"stream broke\"}\n\n",
		id:      "29f14a5a-11de-4cae-9800-25e4747408ea",
		content: textStreamContent, errKind: new(llmproxy.KindUnavailable), errText: "stream broke",
	}, {
		name:    "bare error object (NDJSON)",
		body:    "{\"type\":\"message-start\",\"id\":\"x3\",\"delta\":{\"message\":{\"role\":\"assistant\"}}}\n{\"message\":\"internal server error\"}\n",
		id:      "x3",
		errKind: new(llmproxy.KindUnavailable), errText: "internal server error",
	}, {
		name:    "invalid JSON",
		body:    "event: message-start\ndata: {\"type\":\"message-start\",\"id\":\"x4\"\n\n",
		errKind: new(llmproxy.KindUnavailable), errText: "invalid answer",
	}, {
		name:    "arguments for a call that did not start",
		body:    "{\"type\":\"message-start\",\"id\":\"x5\"}\n{\"type\":\"tool-call-delta\",\"index\":3,\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"{}\"}}}}}\n",
		id:      "x5",
		errKind: new(llmproxy.KindUnavailable), errText: "invalid answer",
	}, {
		name: "unknown, debug and citation events are skipped",
		body: "{\"type\":\"message-start\",\"id\":\"x6\"}\n{\"type\":\"debug\",\"prompt\":\"<prompt>\"}\n{\"type\":\"citation-start\",\"index\":0,\"delta\":{\"message\":{\"citations\":{\"start\":0,\"end\":2,\"text\":\"Hi\"}}}}\n" +
			"{\"type\":\"citation-end\",\"index\":0}\n{\"type\":\"future-event\"}\n{\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Hi\"}}}}\n{\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\"}}\n",
		id: "x6", content: "Hi", finish: "stop", native: "COMPLETE",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeCohere(t)
			f.set(func(c *fakeConfig) { c.stream = tt.body })
			p := newTestProvider(t, f.URL)
			r, err := p.ChatCompletionStream(t.Context(), parseChat(t, `{"model":"command-a-03-2025","messages":[{"role":"user","content":"Tell me about LLMs"}],"stream":true}`))
			require.NoError(t, err)
			c := collect(t, r)

			sent := f.last(t)
			assert.Equal(t, "text/event-stream", sent.header.Get("Accept"))
			assert.JSONEq(t, `{"model":"command-a-03-2025","messages":[{"role":"user","content":"Tell me about LLMs"}],"stream":true}`, string(sent.body))

			if tt.id != "" {
				require.NotEmpty(t, c.chunks)
				assert.Equal(t, tt.id, c.chunks[0].ID)
				assert.Equal(t, "command-a-03-2025", c.chunks[0].Model)
				assert.InDelta(t, time.Now().Unix(), c.chunks[0].Created, 5)
			}
			assert.Equal(t, tt.content, c.content)
			assert.Equal(t, tt.reasoning, c.reasoning)
			assert.Equal(t, tt.tools, c.tools)
			assert.Equal(t, tt.finish, c.finish)
			assert.Equal(t, tt.native, c.native)
			if tt.usage != nil {
				require.NotNil(t, c.usage)
				last := c.chunks[len(c.chunks)-1]
				assert.Same(t, c.usage, last.Usage, "the usage chunk is last")
				assert.Equal(t, tt.usage.PromptTokens, c.usage.PromptTokens)
				assert.Equal(t, tt.usage.CompletionTokens, c.usage.CompletionTokens)
				assert.Equal(t, tt.usage.TotalTokens, c.usage.TotalTokens)
				assert.Equal(t, tt.usage.PromptTokensDetails, c.usage.PromptTokensDetails)
				assert.JSONEq(t, string(tt.usage.Extra["billed_units"]), string(c.usage.Extra["billed_units"]))
			} else {
				assert.Nil(t, c.usage)
			}
			if tt.errKind == nil {
				assert.Equal(t, io.EOF, c.err)
				return
			}
			e := asError(t, c.err)
			assert.Equal(t, *tt.errKind, e.Kind)
			assert.Equal(t, "co", e.Provider)
			assert.Contains(t, e.Error(), tt.errText)
			if tt.finish == "" && tt.content == "" && tt.reasoning == "" {
				for _, ch := range c.chunks {
					assert.False(t, ch.HasContent(), "an error before content comes before any content chunk")
				}
			}
		})
	}
}

func TestChatCompletionStreamErrors(t *testing.T) {
	t.Run("status error before the stream", func(t *testing.T) {
		f := newFakeCohere(t)
		f.set(func(c *fakeConfig) {
			c.force = map[string]reply{"POST /v2/chat": {status: 429, header: map[string]string{"Retry-After": "3"},
				body: `{"id":"r1","message":"You are using a Trial key, which is limited to 20 API calls / minute."}`}}
		})
		p := newTestProvider(t, f.URL)
		_, err := p.ChatCompletionStream(t.Context(), parseChat(t, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindRateLimited, e.Kind)
		assert.Equal(t, 3*time.Second, e.RetryAfter)
	})
	t.Run("line over the limit", func(t *testing.T) {
		old := maxStreamLine
		maxStreamLine = 64
		t.Cleanup(func() { maxStreamLine = old })
		f := newFakeCohere(t)
		f.set(func(c *fakeConfig) { c.stream = fixture(t, "stream_text.sse") })
		p := newTestProvider(t, f.URL)
		r, err := p.ChatCompletionStream(t.Context(), parseChat(t, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		require.NoError(t, err)
		c := collect(t, r)
		e := asError(t, c.err)
		assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
		assert.Contains(t, e.Message, "size limit")
	})
	t.Run("canceled while reading", func(t *testing.T) {
		f := newFakeCohere(t)
		f.set(func(c *fakeConfig) { c.stream = withoutLastEvent(fixture(t, "stream_text.sse")) })
		p := newTestProvider(t, f.URL)
		ctx, cancel := contextWithCancel(t)
		r, err := p.ChatCompletionStream(ctx, parseChat(t, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		require.NoError(t, err)
		_, err = r.Next()
		require.NoError(t, err)
		cancel()
		for err == nil {
			_, err = r.Next()
		}
		require.NoError(t, r.Close())
		var e *llmproxy.Error
		require.True(t, errors.As(err, &e))
		assert.Contains(t, []llmproxy.ErrorKind{llmproxy.KindCanceled, llmproxy.KindUnavailable}, e.Kind)
	})
}

// TestStreamFailoverThroughProxy checks the commit rule end to end: a
// Cohere stream that fails before any content (finish_reason ERROR) fails
// over to the next provider, invisibly to the caller.
func TestStreamFailoverThroughProxy(t *testing.T) {
	bad := newFakeCohere(t)
	bad.set(func(c *fakeConfig) {
		c.stream = "event: message-start\ndata: {\"type\":\"message-start\",\"id\":\"bad\",\"delta\":{\"message\":{\"role\":\"assistant\"}}}\n\n" +
			"event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"ERROR\",\"error\":\"overloaded\"}}\n\n"
	})
	good := newFakeCohere(t)
	good.set(func(c *fakeConfig) { c.stream = fixture(t, "stream_text.sse") })
	proxy, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{
		{Name: "first", Type: "cohere", BaseURL: bad.URL, APIKey: testKey, Priority: 1},
		{Name: "second", Type: "cohere", BaseURL: good.URL, APIKey: testKey, Priority: 2},
	}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = proxy.Close() })
	st, err := proxy.ChatCompletionStream(t.Context(), parseChat(t, `{"model":"command-a-03-2025","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`))
	require.NoError(t, err)
	defer st.Close()
	var text strings.Builder
	for st.Next() {
		for _, ch := range st.Current().Choices {
			if ch.Delta.Content != nil {
				text.WriteString(*ch.Delta.Content)
			}
		}
	}
	require.NoError(t, st.Err())
	assert.Equal(t, "second", st.ProxyInfo().Provider)
	assert.Equal(t, textStreamContent, text.String())
	require.NotNil(t, st.Usage())
	assert.Equal(t, 71, st.Usage().PromptTokens)
	assert.Len(t, bad.requests(), 1)
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return ctx, cancel
}
