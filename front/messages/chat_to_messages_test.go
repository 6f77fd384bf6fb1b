package messages

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

func TestFromChat(t *testing.T) {
	for _, tc := range []struct {
		name, chat, want string
	}{
		{"text with reasoning and cached usage",
			`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hi","reasoning_content":"think"},"finish_reason":"stop"}],
			  "usage":{"prompt_tokens":20,"completion_tokens":5,"total_tokens":25,"prompt_tokens_details":{"cached_tokens":8}}}`,
			`{"id":"chatcmpl-1","type":"message","role":"assistant","model":"gpt-4o","content":[{"type":"thinking","thinking":"think","signature":""},{"type":"text","text":"Hi"}],
			  "stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":5,"cache_read_input_tokens":8}}`},
		{"tool calls, bad arguments",
			`{"id":"c","object":"chat.completion","created":1,"model":"","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
			  {"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\": 1}"}},{"id":"call_2","type":"function","function":{"name":"g","arguments":"not json"}}]},"finish_reason":"tool_calls"}]}`,
			`{"id":"c","type":"message","role":"assistant","model":"asked-model","content":[{"type":"tool_use","id":"call_1","name":"f","input":{"a":1}},{"type":"tool_use","id":"call_2","name":"g","input":{}}],
			  "stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}`},
		{"length", `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"cut"},"finish_reason":"length"}]}`,
			`{"id":"c","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"cut"}],"stop_reason":"max_tokens","stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}`},
		{"refusal", `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't."},"finish_reason":"stop"}]}`,
			`{"id":"c","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"I can't."}],"stop_reason":"refusal","stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}`},
		{"empty", `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"content_filter"}]}`,
			`{"id":"c","type":"message","role":"assistant","model":"m","content":[],"stop_reason":"refusal","stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp llmproxy.ChatResponse
			require.NoError(t, json.Unmarshal([]byte(tc.chat), &resp))
			got, err := FromChat(&resp, "asked-model")
			require.NoError(t, err)
			assert.JSONEq(t, tc.want, string(got))
		})
	}
}

// chunks decodes chat chunks.
func chunks(t testing.TB, raw ...string) []*llmproxy.ChatChunk {
	out := make([]*llmproxy.ChatChunk, len(raw))
	for i, r := range raw {
		out[i] = &llmproxy.ChatChunk{}
		require.NoError(t, json.Unmarshal([]byte(r), out[i]), r)
	}
	return out
}

// sliceChunks is a chat stream of given chunks, then err (io.EOF: a clean
// end).
type sliceChunks struct {
	cs  []*llmproxy.ChatChunk
	err error
}

func (s *sliceChunks) Next() (*llmproxy.ChatChunk, error) {
	if len(s.cs) == 0 {
		return nil, s.err
	}
	c := s.cs[0]
	s.cs = s.cs[1:]
	return c, nil
}

func (s *sliceChunks) Close() error { return nil }

// events reads a translated stream to its end: "name data" lines, the
// content and final marks, and the error that ended it.
func events(t *testing.T, r llmproxy.ChunkReader[*llmproxy.RawChunk]) ([]string, []string, error) {
	t.Helper()
	var out, marks []string
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return out, marks, nil
		}
		if err != nil {
			return out, marks, err
		}
		require.True(t, json.Valid(ev.Data), "%s", ev.Data)
		out = append(out, ev.Event+" "+string(ev.Data))
		m := ""
		if ev.Content {
			m += "C"
		}
		if ev.Final {
			m += "F"
		}
		if m != "" {
			marks = append(marks, ev.Event+":"+m)
		}
	}
}

func chunk(delta, finish string) string {
	fr := "null"
	if finish != "" {
		fr = `"` + finish + `"`
	}
	return `{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":` + delta + `,"finish_reason":` + fr + `}]}`
}

const usageChunk = `{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":7,"total_tokens":37,"prompt_tokens_details":{"cached_tokens":10}}}`

func TestStreamTranslation(t *testing.T) {
	cs := chunks(t,
		chunk(`{"role":"assistant","content":""}`, ""),
		chunk(`{"reasoning_content":"Let me "}`, ""),
		chunk(`{"reasoning_content":"think."}`, ""),
		chunk(`{"content":"Calling"}`, ""),
		chunk(`{"tool_calls":[{"index":0,"id":"call_A","type":"function","function":{"name":"f","arguments":""}}]}`, ""),
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"x\":"}}]}`, ""),
		chunk(`{"tool_calls":[{"index":1,"id":"call_B","type":"function","function":{"name":"g","arguments":"{}"}}]}`, ""),
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}`, ""),
		chunk(`{}`, "tool_calls"),
		usageChunk,
	)
	got, marks, err := events(t, translateStream(&sliceChunks{cs: cs, err: io.EOF}, "asked"))
	require.NoError(t, err)
	want := []string{
		`message_start {"type":"message_start","message":{"id":"chatcmpl-9","type":"message","role":"assistant","model":"gpt-4o","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}`,
		`ping {"type":"ping"}`,
		`content_block_start {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
		`content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me "}}`,
		`content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"think."}}`,
		`content_block_stop {"type":"content_block_stop","index":0}`,
		`content_block_start {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`,
		`content_block_delta {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Calling"}}`,
		`content_block_stop {"type":"content_block_stop","index":1}`,
		`content_block_start {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"call_A","name":"f","input":{}}}`,
		`content_block_delta {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"x\":"}}`,
		`content_block_stop {"type":"content_block_stop","index":2}`,
		`content_block_start {"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"call_B","name":"g","input":{}}}`,
		`content_block_delta {"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{}"}}`,
		`content_block_delta {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"1}"}}`,
		`content_block_stop {"type":"content_block_stop","index":3}`,
		`message_delta {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":20,"output_tokens":7,"cache_read_input_tokens":10}}`,
		`message_stop {"type":"message_stop"}`,
	}
	assert.Equal(t, want, got)
	assert.Equal(t, "content_block_delta:C", marks[0], "the first thinking delta commits")
	assert.Equal(t, []string{"message_delta:CF", "message_stop:F"}, marks[len(marks)-2:])
}

func TestStreamTranslationEnds(t *testing.T) {
	t.Run("an empty stream is still a whole message", func(t *testing.T) {
		got, _, err := events(t, translateStream(&sliceChunks{err: io.EOF}, "asked"))
		require.NoError(t, err)
		require.Len(t, got, 4)
		assert.Contains(t, got[0], `"model":"asked"`)
		assert.Equal(t, `message_delta {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":0,"output_tokens":0}}`, got[2])
	})
	t.Run("a failure ends without message_stop", func(t *testing.T) {
		cut := &llmproxy.Error{Kind: llmproxy.KindUnavailable, Message: "cut"}
		cs := chunks(t, chunk(`{"content":"Hel"}`, ""), chunk(`{"content":"lo"}`, ""))
		got, _, err := events(t, translateStream(&sliceChunks{cs: cs, err: cut}, "asked"))
		assert.Equal(t, cut, err)
		assert.NotContains(t, strings.Join(got, "\n"), "message_stop")
		assert.NotContains(t, strings.Join(got, "\n"), "message_delta")
	})
	t.Run("refusal and length", func(t *testing.T) {
		cs := chunks(t, chunk(`{"refusal":"No."}`, ""), chunk(`{}`, "stop"))
		got, _, err := events(t, translateStream(&sliceChunks{cs: cs, err: io.EOF}, "asked"))
		require.NoError(t, err)
		assert.Contains(t, got[3], `"text":"No."`)
		assert.Contains(t, got[5], `"stop_reason":"refusal"`)
		cs = chunks(t, chunk(`{"content":"a"}`, "length"))
		got, _, err = events(t, translateStream(&sliceChunks{cs: cs, err: io.EOF}, "asked"))
		require.NoError(t, err)
		assert.Contains(t, got[len(got)-2], `"stop_reason":"max_tokens"`)
	})
}
