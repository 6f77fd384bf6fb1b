package openai

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

func TestPlainDelta(t *testing.T) {
	plain := map[string]string{
		"content":                    oaChunkHello,
		"role":                       oaChunkRole,
		"spaced":                     `{"object": "chat.completion.chunk", "choices": [ {"delta": {"content": "x"}, "finish_reason" : null} ], "usage": null}`,
		"no object member":           `{"choices":[{"delta":{"content":"x"}}]}`,
		"member names in the text":   `{"choices":[{"delta":{"content":"\"finish_reason\":\"stop\", \"usage\":{}"},"finish_reason":null}]}`,
		"non-ASCII \\u escape (CJK)": `{"choices":[{"delta":{"content":"\u4f60\u597d"},"finish_reason":null}]}`,
		"a name as a value":          `{"choices":[{"delta":{"content":"usage"},"finish_reason":null}]}`,
		"colons in the text":         `{"choices":[{"delta":{"content":"usage: 3, \"error\" : \"x\", Bonjour : a"},"finish_reason":null}]}`,
	}
	for name, data := range plain {
		assert.True(t, plainDelta([]byte(data)), "%s: %s", name, data)
	}
	read := map[string]string{
		"finish":                 oaChunkStop,
		"usage chunk":            oaChunkUsage,
		"mid-stream error":       oaMidStreamError,
		"error member":           `{"object":"chat.completion.chunk","error":{"code":502,"message":"Provider returned error"},"choices":[{"delta":{"content":""},"finish_reason":"error"}]}`,
		"running usage":          `{"object":"chat.completion.chunk","usage":{"prompt_tokens":11,"completion_tokens":1,"total_tokens":12},"choices":[{"finish_reason":null,"delta":{"content":"Go"}}]}`,
		"perplexity done":        `{"object":"chat.completion.done","choices":[{"index":0,"finish_reason":null,"delta":{"content":""}}]}`,
		"whole answer":           `{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":null}]}`,
		"no choices":             `{"object":"chat.completion.chunk","choices":[]}`,
		"choices absent":         `{"object":"chat.completion.chunk"}`,
		"choices null":           `{"object":"chat.completion.chunk","choices":null}`,
		"second choice finishes": `{"choices":[{"delta":{"content":"a"},"finish_reason":null},{"delta":{},"finish_reason":"stop"}]}`,
		"escaped member name":    `{"choices":[{"delta":{"content":"a"},"finish_reason":null}],"us\u0061ge":{"total_tokens":3}}`,
		"spaced usage":           `{"choices":[{"delta":{"content":"a"},"finish_reason":null}],"usage" : {"total_tokens":3}}`,
		"nested finish":          `{"choices":[{"delta":{"content":"a","extra":{"finish_reason":"stop"}},"finish_reason":null}]}`,
		"nested choices only":    nestedChoices,
		"escaped quote in name":  quotedChoices,
		"not an object":          `[{"choices":[{"delta":{"content":"a"},"finish_reason":null}]}]`,
	}
	for name, data := range read {
		assert.False(t, plainDelta([]byte(data)), "%s: %s", name, data)
	}
}

// Chunks without choices of their own, which end a stream, though a
// member nested in them or a name with an escaped quote in it reads
// "choices".
const (
	nestedChoices = `{"object":"chat.completion.chunk","x":{"choices":[{"delta":{"content":"a"},"finish_reason":null}]}}`
	quotedChoices = `{"object":"chat.completion.chunk","a\"choices":[{"delta":{"content":"a"},"finish_reason":null}]}`
)

// FuzzPlainDelta checks that plainDelta never hides what the full read
// sees: whenever it passes a chunk that readChatChunk reads, the chunk has
// choices and neither a finish nor a usage, and whenever it passes one the
// decoder decodes, the decoder finds no upstream error in it.
func FuzzPlainDelta(f *testing.F) {
	for _, s := range []string{oaChunkRole, oaChunkHello, oaChunkWorld, oaChunkStop, oaChunkUsage, oaMidStreamError,
		`{"choices":[{"delta":{"content":"x"},"finish_reason":null}],"usage":null,"error":null}`,
		`{"object":"chat.completion.chunk","usage":{"total_tokens":3},"choices":[{"delta":{"content":"x"},"finish_reason":null}]}`,
		`{"object":"chat.completion.chunk","error":{"code":429},"choices":[{"delta":{"content":"x"},"finish_reason":null}]}`,
		nestedChoices, quotedChoices} {
		f.Add([]byte(s))
	}
	p := &Provider{name: "fuzz", flavor: flavors[0]}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !plainDelta(data) {
			return
		}
		if facts, ok := readChatChunk(data); ok {
			if facts.choices == 0 || facts.finishMark || facts.finishReason || facts.usage != nil {
				t.Fatalf("passed %q, which the reader reads as %+v", data, facts)
			}
		}
		c, fin, err := p.decodeChatChunk(data)
		if e, isErr := err.(*llmproxy.Error); isErr && e.Status != 0 {
			t.Fatalf("passed %q, which carries the upstream's error %v", data, e)
		}
		if err == nil && (fin || c.Finished() || c.Usage != nil || c.Raw() == nil) {
			t.Fatalf("passed %q, which the decoder reads as finished %v, usage %+v, rewritten %v", data, c.Finished(), c.Usage, c.Raw() == nil)
		}
	})
}

// TestRawStreamAfterContent runs streams through the raw reader whose
// chunks after the first content are of every kind, and checks that each
// chunk comes out as the full read makes it: the deltas that plainDelta
// passes unread are no different, apart from reporting content.
func TestRawStreamAfterContent(t *testing.T) {
	orErr := `{"id":"gen-1","object":"chat.completion.chunk","created":1770768300,"model":"openai/gpt-4o","error":{"code":502,"message":"Provider returned error"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}`
	ppxRunning := `{"id":"8b1c","model":"sonar","created":1770768220,"usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14},"object":"chat.completion.chunk","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","content":" is fun"}}]}`
	ppxDone := `{"id":"8b1c","model":"sonar","created":1770768220,"usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14},"object":"chat.completion.done","choices":[{"index":0,"finish_reason":"stop","delta":{"role":"assistant","content":""}}]}`
	cases := map[string][]string{
		"openai":                 {oaChunkRole, oaChunkHello, oaChunkWorld, oaChunkWorld, oaChunkStop, oaChunkUsage},
		"error after content":    {oaChunkHello, oaChunkWorld, oaMidStreamError},
		"openrouter error chunk": {oaChunkHello, orErr},
		"running usage":          {oaChunkHello, ppxRunning, ppxDone},
		"empty choices":          {oaChunkHello, `{"object":"chat.completion.chunk","choices":[]}`},
		"nested choices":         {oaChunkHello, nestedChoices, quotedChoices},
	}
	p := &Provider{name: "up-openai", flavor: flavors[0]}
	for name, payloads := range cases {
		t.Run(name, func(t *testing.T) {
			up := newSSEUpstream(t, sseHandler(append(frames(payloads...), "data: [DONE]\n\n")...))
			r := openRawChat(t, newTestProvider(t, "openai", up.URL+"/v1"), streamClientChat)
			defer r.Close()
			for i, data := range payloads {
				var want llmproxy.RawChunk
				wc, _, wantErr := p.decodeRawChatChunk(&want, []byte(data))
				got, err := r.Next()
				if wantErr != nil {
					require.Error(t, err, "chunk %d", i)
					assert.Equal(t, llmproxy.AsError(wantErr).Message, llmproxy.AsError(err).Message, "chunk %d", i)
					return
				}
				require.NoError(t, err, "chunk %d", i)
				assert.Equal(t, string(wc.Data), string(got.Data), "chunk %d", i)
				assert.Equal(t, wc.Final, got.Final, "chunk %d", i)
				assert.Equal(t, wc.UsageOnly, got.UsageOnly, "chunk %d", i)
				assert.Equal(t, wc.Usage, got.Usage, "chunk %d", i)
				if wc.Content {
					assert.True(t, got.Content, "chunk %d", i)
				}
			}
			_, err := r.Next()
			assert.ErrorIs(t, err, io.EOF, "a clean end")
		})
	}
}
