package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzStreamTranslator from the stream fixtures")

// fuzzSeeds are the stream fixtures and a few odd shapes: events without
// event: lines, CRLF line ends, comments and unknown events.
var fuzzSeeds = map[string]string{
	"text":               streamText,
	"tools":              streamTools,
	"thinking":           streamThinking,
	"overloaded_midway":  streamOverloadedMidway,
	"overloaded_atstart": streamOverloadedAtStart,
	"cut":                streamCut,
	"unnamed_crlf": "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-x\",\"usage\":{\"input_tokens\":1}}}\r\n\r\n" +
		": keep-alive\r\n\r\n" +
		"event: brand_new_event\r\ndata: {\"type\":\"brand_new_event\"}\r\n\r\n" +
		"data: {\"type\":\"content_block_start\",\"index\":5,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\"}}\r\n\r\n" +
		"data: {\"type\":\"content_block_delta\",\"index\":5,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\r\n\r\n" +
		"data: {\"type\":\"content_block_delta\",\"index\":9,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\r\n\r\n" +
		"data: {\"type\":\"message_stop\"}\r\n\r\n",
}

// FuzzStreamTranslator feeds arbitrary bytes to the stream reader and
// checks that it neither panics nor produces more than the input
// justifies, and that whatever it produces is a well-formed stream.
func FuzzStreamTranslator(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStream(t, data)
	})
}

// checkStream reads data as an upstream stream and checks the invariants.
func checkStream(t *testing.T, data []byte) {
	p := &Provider{up: llmproxy.HTTPUpstream{Name: "fuzz"}, key: "sk-fuzz"}
	r := newChatStream(context.Background(), p, "requested-model", io.NopCloser(bytes.NewReader(data)))
	defer r.Close()

	// Every chunk comes from an event of at least 16 bytes, and one event
	// yields at most two chunks (message_stop: finish and usage), once.
	limit := len(data)/16 + 3
	var chunks []*llmproxy.ChatChunk
	var err error
	for {
		var c *llmproxy.ChatChunk
		c, err = r.Next()
		if err != nil {
			break
		}
		if c == nil {
			t.Fatal("Next returned neither a chunk nor an error")
		}
		chunks = append(chunks, c)
		if len(chunks) > limit {
			t.Fatalf("%d chunks from %d bytes", len(chunks), len(data))
		}
	}
	if _, again := r.Next(); again != err {
		t.Fatalf("the end is not sticky: %v, then %v", err, again)
	}
	var e *llmproxy.Error
	if err != io.EOF && !errors.As(err, &e) {
		t.Fatalf("the stream ended with %T %v, want io.EOF or an *llmproxy.Error", err, err)
	}

	payload, finishes := 0, 0
	for i, c := range chunks {
		if c.ID != chunks[0].ID || c.Model != chunks[0].Model || c.Created != chunks[0].Created || c.Object != "chat.completion.chunk" {
			t.Fatalf("chunk %d does not belong to the stream: %+v", i, c)
		}
		if c.ID == "" || c.Model == "" {
			t.Fatalf("chunk %d has no id or model", i)
		}
		if (i == 0) != (len(c.Choices) == 1 && c.Choices[0].Delta.Role == "assistant") {
			t.Fatalf("chunk %d: only the first chunk announces the role", i)
		}
		for _, ch := range c.Choices {
			d := ch.Delta
			if d.Content != nil {
				payload += len(*d.Content)
			}
			for _, tc := range d.ToolCalls {
				if tc.Index == nil || *tc.Index < 0 {
					t.Fatalf("chunk %d: a tool call without an index", i)
				}
				payload += len(tc.ID) + len(tc.Function.Name) + len(tc.Function.Arguments)
			}
			if raw, ok := d.Extra["reasoning_content"]; ok {
				var s string
				if json.Unmarshal(raw, &s) != nil {
					t.Fatalf("chunk %d: reasoning_content is not a string", i)
				}
				payload += len(s)
			}
			if ch.FinishReason != nil {
				finishes++
			}
		}
	}
	if payload > len(data) {
		t.Fatalf("%d bytes of content from %d bytes of input", payload, len(data))
	}
	if finishes > 1 {
		t.Fatalf("%d finish chunks", finishes)
	}
	if err == io.EOF {
		last := chunks[len(chunks)-1]
		if len(last.Choices) != 0 || last.Usage == nil || finishes != 1 {
			t.Fatalf("a complete stream ends with one finish chunk and a usage chunk, got %+v", last)
		}
	}
}

// TestFuzzCorpus runs the invariants over the seeds and keeps the corpus
// files in testdata in step with them (go test -run TestFuzzCorpus
// -update-corpus rewrites them).
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzStreamTranslator")
	if *updateCorpus {
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	for name, seed := range fuzzSeeds {
		checkStream(t, []byte(seed))
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(seed))
		path := filepath.Join(dir, "seed_"+name)
		if *updateCorpus {
			require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
			continue
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err, "run go test -run TestFuzzCorpus -update-corpus")
		assert.Equal(t, want, string(got), "%s is stale: run go test -run TestFuzzCorpus -update-corpus", path)
	}
}
