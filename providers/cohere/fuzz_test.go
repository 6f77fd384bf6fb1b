package cohere

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/llmproxy/llmproxy"
)

// fuzzSeeds are the seed inputs of FuzzStreamTranslator, by corpus file
// name: the wire bytes of the reference and the spec examples, and the
// framings and failures the stream tests cover.
func fuzzSeeds(tb testing.TB) map[string]string {
	text, tools, ref := fixture(tb, "stream_text.sse"), fixture(tb, "stream_tools.sse"), fixture(tb, "stream_reference.ndjson")
	return map[string]string{
		"spec_text_sse":       text,
		"spec_tools_sse":      tools,
		"reference_ndjson":    ref,
		"spec_text_done":      text + "data: [DONE]\n\n",
		"spec_tools_ndjson":   toNDJSON(tools),
		"spec_text_cut":       withoutLastEvent(text),
		"spec_text_crlf":      string(bytes.ReplaceAll([]byte(text), []byte("\n"), []byte("\r\n"))),
		"error_after_content": withoutLastEvent(text) + "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"error\":\"boom\",\"finish_reason\":\"ERROR\"}}\n\n",
		"error_event":         "event: error\ndata: {\"id\":\"x\",\"message\":\"stream broke\"}\n\n",
		"thinking_and_citation": "{\"type\":\"message-start\",\"id\":\"t\"}\n{\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"type\":\"thinking\",\"thinking\":\"\"}}}}\n" +
			"{\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"thinking\":\"hmm\"}}}}\n{\"type\":\"citation-start\",\"index\":0,\"delta\":{\"message\":{\"citations\":{\"start\":0,\"end\":1}}}}\n" +
			"{\"type\":\"tool-call-start\",\"delta\":{\"message\":{\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}}}\n" +
			"{\"type\":\"tool-call-delta\",\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"{}\"}}}}}\n" +
			"{\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"TOOL_CALL\",\"usage\":{\"tokens\":{\"input_tokens\":1e12,\"output_tokens\":-3},\"cached_tokens\":2.5}}}\n",
	}
}

// FuzzStreamTranslator feeds arbitrary bytes to the stream reader and its
// state machine. It checks that nothing panics, that the output is bounded
// by the input (an event gives at most two chunks), that every chunk has
// the stream's one id and encodes, that the stream ends with io.EOF or an
// *llmproxy.Error and stays ended, and that the state stays bounded.
func FuzzStreamTranslator(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := &Provider{up: llmproxy.HTTPUpstream{Name: "fuzz"}, key: "k-fuzz"}
		tr := newStreamTranslator(newID(), "m", 1)
		s := p.chatStream(context.Background(), io.NopCloser(bytes.NewReader(data)), tr)
		id, n := "", 0
		for {
			c, err := s.Next()
			if err != nil {
				var e *llmproxy.Error
				if err != io.EOF && !errors.As(err, &e) {
					t.Fatalf("the stream ended with %T %v, not io.EOF or an *llmproxy.Error", err, err)
				}
				if _, again := s.Next(); again != err {
					t.Fatalf("Next after the end returned %v, then %v", err, again)
				}
				break
			}
			n++
			if n > len(data) {
				t.Fatalf("%d chunks from %d bytes", n, len(data))
			}
			if c == nil {
				t.Fatal("a nil chunk without an error")
			}
			if id == "" {
				id = c.ID
			} else if c.ID != id {
				t.Fatalf("chunk id %q after %q", c.ID, id)
			}
			if _, err := json.Marshal(c); err != nil {
				t.Fatalf("a chunk does not encode: %v", err)
			}
			if c.Usage != nil && (c.Usage.PromptTokens < 0 || c.Usage.CompletionTokens < 0 || c.Usage.TotalTokens < 0) {
				t.Fatalf("negative usage %+v", c.Usage)
			}
		}
		if len(tr.tools) > maxStreamToolCalls {
			t.Fatalf("%d tool calls kept", len(tr.tools))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestWriteFuzzCorpus writes the seeds of FuzzStreamTranslator as corpus
// files under testdata/fuzz/FuzzStreamTranslator when
// COHERE_WRITE_FUZZ_CORPUS=1, so that plain go test runs them too and the
// corpus stays in step with fuzzSeeds.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("COHERE_WRITE_FUZZ_CORPUS") != "1" {
		t.Skip("set COHERE_WRITE_FUZZ_CORPUS=1 to write the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzStreamTranslator")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, s := range fuzzSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
