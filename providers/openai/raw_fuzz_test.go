package openai

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/llmproxy/llmproxy"
)

// The fuzz targets of the raw path's readers are differential: whenever a
// reader says ok, the bytes are valid UTF-8 JSON that passes on as it came,
// and whenever the full decoder also accepts them, the two agree on what
// the proxy needs (usage, content and finish markers). The seeds are real
// wire bytes (fixtures_test.go) and, in testdata/fuzz, the corpus of the
// hand-written scanner these readers replaced.

func FuzzReadChatAnswer(f *testing.F) {
	for _, s := range []string{openAIChat, perplexityChat, blackboxChat, blackboxChatNormalized, openRouterEmbedded, openAICompletion} {
		f.Add([]byte(s))
	}
	p := &Provider{name: "fuzz", flavor: flavors[0]}
	f.Fuzz(func(t *testing.T, body []byte) {
		usage, ok := readChatAnswer(body)
		resp, err := p.decodeChatAnswer(body)
		if !ok {
			return
		}
		if !json.Valid(body) || !utf8.Valid(body) {
			t.Fatalf("read %q, which is not valid UTF-8 JSON", body)
		}
		if e, isErr := err.(*llmproxy.Error); isErr && e.Status != 0 {
			t.Fatalf("read %q, which carries the upstream's error %v", body, e)
		}
		if err == nil && !reflect.DeepEqual(plainUsage(resp.Usage), usage) {
			t.Fatalf("for %q the reader read %+v, the decoder %+v", body, usage, resp.Usage)
		}
	})
}

func FuzzReadChatChunk(f *testing.F) {
	for _, s := range []string{oaChunkRole, oaChunkHello, oaChunkWorld, oaChunkStop, oaChunkUsage, openAIChat} {
		f.Add([]byte(s))
	}
	p := &Provider{name: "fuzz", flavor: flavors[0]}
	f.Fuzz(func(t *testing.T, data []byte) {
		facts, ok := readChatChunk(data)
		c, fin, err := p.decodeChatChunk(data)
		if !ok {
			return
		}
		if !json.Valid(data) || !utf8.Valid(data) {
			t.Fatalf("read %q, which is not valid UTF-8 JSON", data)
		}
		if err != nil {
			if e, isErr := err.(*llmproxy.Error); isErr && e.Status != 0 {
				t.Fatalf("read %q, which carries the upstream's error %v", data, e)
			}
			return // a member the proxy does not read has a type the decoder refuses
		}
		if c.Raw() == nil {
			t.Fatalf("read %q as plain, which the decoder rewrites", data)
		}
		got := [...]bool{facts.content, facts.choices == 0 || facts.finishMark, facts.finishReason,
			facts.choices == 0 && facts.usage != nil}
		want := [...]bool{c.HasContent(), c.Finished(), fin, len(c.Choices) == 0 && c.Usage != nil}
		if got != want || facts.choices != len(c.Choices) || !reflect.DeepEqual(plainUsage(c.Usage), facts.usage) {
			t.Fatalf("for %q the reader read %+v %v, the decoder %v", data, facts, got, want)
		}
	})
}

// plainUsage is u with only the counts the readers read.
func plainUsage(u *llmproxy.Usage) *llmproxy.Usage {
	if u == nil {
		return nil
	}
	return &llmproxy.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
}
