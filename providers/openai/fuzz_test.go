package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz from the fuzz seeds")

// fuzzKey is the key of the fuzzed providers; no error may show it.
const fuzzKey = "sk-fuzz-SECRET-0b7e41"

// chunkSeeds are the seeds of FuzzDecodeChatChunk, by corpus file name:
// single chunks as OpenAI, Perplexity, Blackbox, vLLM and OpenRouter send
// them, whole streams (SSE and NDJSON framing), and broken ones.
func chunkSeeds() map[string]string {
	toolStart := `{"id":"chatcmpl-T1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4.1","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_Xy","type":"function","function":{"name":"get_weather","arguments":""}}],"refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}`
	toolArgs := `{"id":"chatcmpl-T1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4.1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}`
	toolStop := `{"id":"chatcmpl-T1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4.1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}`
	ppxDone := `{"id":"8b1c","model":"sonar","created":1770768220,"usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14,"cost":{"total_cost":0.0054}},"citations":["https://go.dev/doc/"],"object":"chat.completion.done","choices":[{"index":0,"finish_reason":"stop","delta":{"role":"assistant","content":""}}]}`
	ppxRunning := `{"id":"8b1c","model":"sonar","created":1770768220,"usage":{"prompt_tokens":11,"completion_tokens":1,"total_tokens":12},"citations":["https://go.dev/doc/"],"object":"chat.completion.chunk","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","content":"Go"}}]}`
	bbNone := `{"id":"gen-1770768220-Xk2","provider":"OpenAI","model":"blackboxai/openai/gpt-4","object":"chat.completion.chunk","created":1770768220,"system_fingerprint":"None","choices":[{"index":0,"delta":{"role":"assistant","content":"None of it","tool_calls":"None","function_call":"None"},"finish_reason":null,"logprobs":"None"}],"usage":{"completion_tokens_details":"None"}}`
	reasoning := `{"id":"gen-1","object":"chat.completion.chunk","created":1770768300,"model":"deepseek/deepseek-r1","provider":"DeepSeek","choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":"Let me think","reasoning_details":[{"type":"reasoning.text","text":"Let me think"}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}`
	whole := `{"id":"chatcmpl-W1","object":"chat.completion","created":1741570283,"model":"llama-3","choices":[{"index":0,"message":{"role":"assistant","content":"the whole answer","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":3,"total_tokens":7},"x_vendor":1}`
	keyEcho := `{"error":{"message":"Incorrect API key provided: ` + fuzzKey + `.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`
	sseStream := strings.Join(frames(oaChunkRole, oaChunkHello, oaChunkWorld, oaChunkStop, oaChunkUsage), "") + "data: [DONE]\n\n"
	return map[string]string{
		"openai_role":        oaChunkRole,
		"openai_content":     oaChunkHello,
		"openai_stop":        oaChunkStop,
		"openai_usage":       oaChunkUsage,
		"openai_tool_start":  toolStart,
		"openai_tool_args":   toolArgs,
		"openai_tool_stop":   toolStop,
		"midstream_error":    oaMidStreamError,
		"error_echoes_key":   keyEcho,
		"openrouter_error":   openRouterEmbedded,
		"perplexity_done":    ppxDone,
		"perplexity_usage":   ppxRunning,
		"blackbox_none":      bbNone,
		"reasoning":          reasoning,
		"whole_answer":       whole,
		"legacy_completion":  oaCmplB,
		"unexpected_types":   `{"id":1,"object":"chat.completion.chunk","choices":"x","usage":[]}`,
		"choice_types":       `{"id":"c","choices":[{"index":"0","delta":"hi","finish_reason":7}]}`,
		"invalid_utf8":       "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\xe9\"},\"finish_reason\":null}]}",
		"stream_sse":         sseStream,
		"stream_crlf":        strings.ReplaceAll(sseStream, "\n", "\r\n"),
		"stream_ndjson":      oaChunkRole + "\n" + oaChunkHello + "\n" + oaChunkStop + "\n",
		"stream_error_event": "data: " + oaChunkHello + "\n\nevent: error\ndata: " + openAIServerError + "\n\n",
		"stream_comments":    ": OPENROUTER PROCESSING\n\ndata: " + reasoning + "\n\n: keep-alive\n\ndata: " + toolStop + "\n\n",
		"stream_cut":         strings.Join(frames(oaChunkRole, oaChunkHello), ""),
	}
}

// noneSeeds are the seeds of FuzzNormalizeNone.
func noneSeeds() map[string]string {
	return map[string]string{
		"blackbox_answer": blackboxChat,
		"blackbox_chunk":  `{"id":"gen-1","object":"chat.completion.chunk","system_fingerprint":"None","choices":[{"index":0,"delta":{"content":"None","tool_calls":"None"},"finish_reason":null,"logprobs":"None"}]}`,
		"details":         `{"usage":{"completion_tokens_details":{"accepted_prediction_tokens":"None","reasoning_tokens":0,"rejected_prediction_tokens":"None"}}}`,
		"formatting":      "{\n  \"tool_calls\" :\t\"None\" ,\n  \"n\": 1.50e3\n}\n",
		"keys_and_arrays": `{"None":"None","stop":["None"],"x":{"None":1},"content":"None","name":"None"}`,
		"escapes":         `{"a":"None ","b":"none","c":"\"None\"","d":"\u004eone","e":"None"}`,
		"scalar":          `"None"`,
		"invalid":         `{"tool_calls":"None"`,
		"two_values":      `{"tool_calls":"None"} {"x":1}`,
		"trailing_comma":  `{"a":"None",}`,
		"no_none":         openAIChat,
	}
}

// FuzzDecodeChatChunk feeds arbitrary bytes to the chunk decoders and, as
// a whole upstream body, to the stream reader of the openai, perplexity and
// blackbox flavors. It checks that nothing panics; that a failure is an
// *llmproxy.Error naming the provider, without its key; that a decoded
// chunk encodes, and keeps as its bytes only valid UTF-8 JSON that says
// what its fields say; and that the stream yields no more chunks than its
// input justifies and ends with io.EOF or an *llmproxy.Error.
func FuzzDecodeChatChunk(f *testing.F) {
	defer func(old int) { maxStreamLine = old }(maxStreamLine)
	maxStreamLine = 4 << 10 // reach the line limit with small inputs
	for _, s := range []string{oaChunkRole, oaChunkHello, oaChunkStop, oaChunkUsage} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, flavor := range []string{"openai", "perplexity", "blackbox"} {
			p := fuzzProvider(t, flavor)
			if flavor == "openai" {
				checkChunk(t, p, data)
				checkCompletionChunk(t, p, data)
			}
			checkStream(t, p, data)
		}
	})
}

func fuzzProvider(t *testing.T, flavor string) *Provider {
	f, ok := flavorByName(flavor)
	if !ok {
		t.Fatalf("no flavor %s", flavor)
	}
	return &Provider{name: "fuzz-" + flavor, flavor: f, baseURL: "http://upstream.invalid", key: fuzzKey}
}

// checkError checks the error of a failed decode or stream.
func checkError(t *testing.T, p *Provider, err error) {
	t.Helper()
	var e *llmproxy.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not an *llmproxy.Error", err, err)
	}
	if e.Provider != p.name {
		t.Fatalf("error of provider %q, want %q: %v", e.Provider, p.name, e)
	}
	env, jerr := json.Marshal(e.Envelope())
	if jerr != nil {
		t.Fatalf("the error envelope does not encode: %v", jerr)
	}
	for _, s := range []string{e.Error(), fmt.Sprintf("%+v", e), string(env)} {
		if strings.Contains(s, fuzzKey) {
			t.Fatalf("the provider's key leaks in %q", s)
		}
	}
	if e.Err != nil && strings.Contains(e.Err.Error(), fuzzKey) {
		t.Fatalf("the provider's key leaks in the cause %q", e.Err)
	}
}

// checkChunk decodes data as one chat chunk.
func checkChunk(t *testing.T, p *Provider, data []byte) {
	orig := bytes.Clone(data)
	c, fin, err := p.decodeChatChunk(data)
	if !bytes.Equal(data, orig) {
		t.Fatalf("decodeChatChunk changed its input")
	}
	if err != nil {
		checkError(t, p, err)
		return
	}
	if c == nil {
		t.Fatal("neither a chunk nor an error")
	}
	if c.Object == "chat.completion" || c.Object == "chat.completion.done" {
		t.Fatalf("object %q was not made a chunk", c.Object)
	}
	finished := false
	for _, ch := range c.Choices {
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			finished = true
		}
	}
	if fin != finished {
		t.Fatalf("finished %v for finish reasons %v", fin, finished)
	}
	if c.Usage != nil && len(c.Choices) > 0 && !fin {
		t.Fatalf("a running usage on a content chunk")
	}
	enc, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("a decoded chunk does not encode: %v", err)
	}
	if !utf8.Valid(enc) {
		t.Fatalf("a decoded chunk encodes to invalid UTF-8")
	}
	raw := c.Raw()
	if raw == nil {
		return
	}
	if !bytes.Equal(raw, data) {
		t.Fatalf("Raw is not the upstream's bytes")
	}
	if !json.Valid(raw) || !utf8.Valid(raw) {
		t.Fatalf("the chunk keeps bytes that are not valid UTF-8 JSON: %q", raw)
	}
	// The bytes sent on say what the fields say.
	var again llmproxy.ChatChunk
	if err := json.Unmarshal(raw, &again); err != nil {
		t.Fatalf("the kept bytes do not decode: %v", err)
	}
	enc2, _ := json.Marshal(&again)
	if !bytes.Equal(enc, enc2) {
		t.Fatalf("the kept bytes and the fields differ:\n%s\n%s", enc, enc2)
	}
}

// checkCompletionChunk decodes data as one legacy completion chunk.
func checkCompletionChunk(t *testing.T, p *Provider, data []byte) {
	c, fin, err := p.decodeCompletionChunk(data)
	if err != nil {
		checkError(t, p, err)
		return
	}
	if c == nil {
		t.Fatal("neither a chunk nor an error")
	}
	finished := false
	for _, ch := range c.Choices {
		finished = finished || ch.FinishReason != ""
	}
	if fin != finished {
		t.Fatalf("finished %v for finish reasons %v", fin, finished)
	}
	if _, err := json.Marshal(c); err != nil {
		t.Fatalf("a decoded chunk does not encode: %v", err)
	}
	if raw := c.Raw(); raw != nil && (!json.Valid(raw) || !utf8.Valid(raw)) {
		t.Fatalf("the chunk keeps bytes that are not valid UTF-8 JSON: %q", raw)
	}
}

// checkStream reads data as the body of an upstream's stream.
func checkStream(t *testing.T, p *Provider, data []byte) {
	resp := &http.Response{Body: io.NopCloser(bytes.NewReader(data))}
	r := newStreamReader(context.Background(), p, resp, owned(p.decodeChatChunk))
	defer func() {
		if err := r.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}()
	// A chunk needs at least "{}" and a line end.
	limit := len(data)/3 + 1
	for n := 0; ; n++ {
		c, err := r.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			checkError(t, p, err)
			return
		}
		if c == nil {
			t.Fatal("Next returned neither a chunk nor an error")
		}
		if n >= limit {
			t.Fatalf("more than %d chunks from %d bytes", limit, len(data))
		}
		if _, err := json.Marshal(c); err != nil {
			t.Fatalf("a streamed chunk does not encode: %v", err)
		}
		if raw := c.Raw(); raw != nil {
			if !json.Valid(raw) || !utf8.Valid(raw) {
				t.Fatalf("a streamed chunk keeps bytes that are not valid UTF-8 JSON: %q", raw)
			}
			if p.flavor.normalize != nil && bytes.Contains(raw, noneLiteral) {
				if norm, err := normalizeNone(raw); err != nil || !bytes.Equal(norm, raw) {
					t.Fatalf("a blackbox chunk was not normalised: %s", raw)
				}
			}
		}
	}
}

// FuzzNormalizeNone checks normalizeNone on arbitrary bytes: it must not
// panic or change its input; it fails exactly on the bodies that hold a
// "None" and are not one JSON value; and its output is the input with some
// "None" values of members that hold no free text made null, and nothing
// else changed.
func FuzzNormalizeNone(f *testing.F) {
	f.Add([]byte(blackboxChat))
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		out, err := normalizeNone(in)
		if !bytes.Equal(in, orig) {
			t.Fatalf("normalizeNone changed its input")
		}
		hasNone := bytes.Contains(in, noneLiteral)
		if !hasNone {
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("a body without \"None\" changed: %v", err)
			}
			return
		}
		if valid := json.Valid(in); valid != (err == nil) {
			t.Fatalf("json.Valid %v but normalizeNone error %v for %q", valid, err, in)
		}
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output %q from valid input %q", out, in)
		}
		replaced := len(in) - len(out)
		if replaced < 0 || replaced%2 != 0 {
			t.Fatalf("output of %d bytes from %d", len(out), len(in))
		}
		if bytes.Count(out, []byte("null")) != bytes.Count(in, []byte("null"))+replaced/2 {
			t.Fatalf("%d bytes fewer but not as many more nulls:\n%s\n%s", replaced, in, out)
		}
		var a, b any
		if json.Unmarshal(in, &a) != nil || json.Unmarshal(out, &b) != nil {
			t.Fatalf("a valid body does not decode")
		}
		if !sameButNone(a, b, nil) {
			t.Fatalf("changed more than \"None\" values:\n%s\n%s", in, out)
		}
	})
}

// sameButNone reports whether b is a with some "None" values of object
// members that hold no free text made nil. key is the member name of a
// and b in their object (nil elsewhere).
func sameButNone(a, b any, key *string) bool {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, v := range a {
			w, ok := bm[k]
			if !ok || !sameButNone(v, w, &k) {
				return false
			}
		}
		return true
	case []any:
		bs, ok := b.([]any)
		if !ok || len(a) != len(bs) {
			return false
		}
		for i := range a {
			if !sameButNone(a[i], bs[i], nil) {
				return false
			}
		}
		return true
	case string:
		if b == nil {
			return a == "None" && key != nil && !freeText[*key]
		}
		s, ok := b.(string)
		return ok && s == a
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// TestFuzzCorpus runs the seeds and keeps the corpus files in testdata in
// step with them (go test -run TestFuzzCorpus -update-corpus rewrites
// them; inputs the fuzzer found stay).
func TestFuzzCorpus(t *testing.T) {
	defer func(old int) { maxStreamLine = old }(maxStreamLine)
	maxStreamLine = 4 << 10
	for target, seeds := range map[string]map[string]string{
		"FuzzDecodeChatChunk": chunkSeeds(),
		"FuzzNormalizeNone":   noneSeeds(),
	} {
		dir := filepath.Join("testdata", "fuzz", target)
		if *updateCorpus {
			require.NoError(t, os.MkdirAll(dir, 0o755))
		}
		names := make([]string, 0, len(seeds))
		for name := range seeds {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			want := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(seeds[name]))
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
}

// TestDecodeChunkKnownShapes pins what the seeds mean.
func TestDecodeChunkKnownShapes(t *testing.T) {
	seeds := chunkSeeds()
	p := fuzzProvider(t, "openai")
	for _, name := range []string{"unexpected_types", "choice_types", "invalid_utf8", "midstream_error", "error_echoes_key"} {
		_, _, err := p.decodeChatChunk([]byte(seeds[name]))
		e := asError(t, err)
		assert.True(t, e.Kind.Failover(), "%s: kind %v", name, e.Kind)
		assert.NotContains(t, e.Error(), fuzzKey, name)
	}
	for _, name := range []string{"openai_role", "openai_tool_args", "perplexity_done", "reasoning", "whole_answer"} {
		c, _, err := p.decodeChatChunk([]byte(seeds[name]))
		require.NoError(t, err, name)
		require.NotNil(t, c, name)
	}
}
