package bedrock

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
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz from the fuzz seeds")

// cannedTransport answers every request with the body set last, without
// a network, and keeps the body of the last request. The fuzz targets run
// one input at a time per process; the mutex keeps the race detector
// content.
type cannedTransport struct {
	mu          sync.Mutex
	contentType string
	body        []byte
	sent        []byte
}

func (c *cannedTransport) set(contentType string, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.contentType, c.body, c.sent = contentType, body, nil
}

func (c *cannedTransport) lastSent() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent
}

func (c *cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	sent, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = sent
	return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {c.contentType}, "X-Amzn-Requestid": {testReqID}},
		Body:    io.NopCloser(bytes.NewReader(c.body)),
		Request: r, ContentLength: int64(len(c.body))}, nil
}

// cannedProvider returns a provider whose requests the transport answers.
func cannedProvider(f *testing.F) (*Provider, *cannedTransport) {
	for _, k := range []string{"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		f.Setenv(k, filepath.Join(f.TempDir(), "none"))
	}
	f.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	tr := &cannedTransport{}
	cfg := llmproxy.ProviderConfig{Name: "fuzz", BaseURL: "http://bedrock.invalid", AWSRegion: testRegion}
	p, err := newProvider(cfg, &http.Client{Transport: tr}, credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""))
	require.NoError(f, err)
	f.Cleanup(func() { _ = p.Close() })
	return p, tr
}

// requestSeeds are client chat bodies: the fixtures of the tests and odd
// shapes.
var requestSeeds = map[string]string{
	"tools":   toolClient,
	"minimal": `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`,
	"assistant_first_empty_parts": `{"model":"m","messages":[{"role":"assistant","content":[]},{"role":"tool","tool_call_id":"x","content":[]},` +
		`{"role":"user","content":[{"type":"text","text":""}]}],"tool_choice":"none","tools":[{"type":"function","function":{"name":"f","parameters":null}}]}`,
	"schema": `{"model":"m","messages":[{"role":"user","content":"a"}],"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object","properties":{"n":{"type":"number","maximum":1e400}}}}},` +
		`"additional_model_request_fields":{"a":[1,-0.5e-3,true,null,{}]},"stop":"x"}`,
	"image": `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/webp;base64,UklGRg=="}}]}]}`,
}

// FuzzRequestTranslator sends arbitrary client bodies through the request
// translator and the SDK's serializer: a body the server accepts is either
// refused as the client's mistake or becomes a Converse request whose
// turns alternate and hold no blank text.
func FuzzRequestTranslator(f *testing.F) {
	for _, s := range sortedSeeds(requestSeeds) {
		f.Add([]byte(s))
	}
	p, tr := cannedProvider(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRequest(t, p, tr, data)
	})
}

func checkRequest(t *testing.T, p *Provider, tr *cannedTransport, data []byte) {
	req, err := llmproxy.ParseChatRequest(data)
	if err != nil {
		return
	}
	tr.set("application/json", []byte(answerText))
	_, err = p.ChatCompletion(context.Background(), req)
	if err != nil {
		var e *llmproxy.Error
		if !errors.As(err, &e) || e.Kind != llmproxy.KindInvalidRequest || e.Param == "" {
			t.Fatalf("a refused request must be the client's mistake naming a member, got %v", err)
		}
		if tr.lastSent() != nil {
			t.Fatal("a refused request was sent")
		}
		return
	}
	var sent struct {
		Messages []struct {
			Role    string            `json:"role"`
			Content []json.RawMessage `json:"content"`
		} `json:"messages"`
		ToolConfig json.RawMessage `json:"toolConfig"`
	}
	body := tr.lastSent()
	if err := json.Unmarshal(body, &sent); err != nil {
		t.Fatalf("the SDK sent invalid JSON %q: %v", body, err)
	}
	for i, m := range sent.Messages {
		if i > 0 && m.Role == sent.Messages[i-1].Role {
			t.Fatalf("turns %d and %d have the same role: %s", i-1, i, body)
		}
		if len(m.Content) == 0 {
			t.Fatalf("turn %d is empty: %s", i, body)
		}
		for _, c := range m.Content {
			if bytes.Equal(c, []byte(`{"text":""}`)) {
				t.Fatalf("a blank text block: %s", body)
			}
			if bytes.Contains(c, []byte(`"toolUse"`)) || bytes.Contains(c, []byte(`"toolResult"`)) {
				if len(sent.ToolConfig) == 0 && hasTools(req) {
					t.Fatalf("tool blocks without the tool configuration: %s", body)
				}
			}
		}
	}
}

func hasTools(req *llmproxy.ChatRequest) bool { return len(req.Tools) > 0 }

// responseSeeds are Converse answers.
var responseSeeds = map[string]string{
	"text":      answerText,
	"tool":      answerTool,
	"reasoning": answerReasoning,
	"guardrail": answerGuardrail,
	"odd":       `{"output":{"message":{"role":"assistant","content":[{"toolUse":{"toolUseId":"t","name":"f","input":null}},{"image":{"format":"png","source":{"bytes":"AA=="}}},{"unknownBlock":{}}]}},"stopReason":"brand_new","usage":{"inputTokens":-1}}`,
	"empty":     `{}`,
}

// FuzzResponseTranslator decodes arbitrary Converse answers: each is an
// answer with one well-formed choice, or an unavailable upstream.
func FuzzResponseTranslator(f *testing.F) {
	for _, s := range sortedSeeds(responseSeeds) {
		f.Add([]byte(s))
	}
	p, tr := cannedProvider(f)
	req, err := llmproxy.ParseChatRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"Hi"}]}`))
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, data []byte) {
		tr.set("application/json", data)
		resp, err := p.ChatCompletion(context.Background(), req)
		if err != nil {
			var e *llmproxy.Error
			if !errors.As(err, &e) || e.Kind != llmproxy.KindUnavailable {
				t.Fatalf("a bad answer must be KindUnavailable, got %v", err)
			}
			return
		}
		if len(resp.Choices) != 1 || resp.Usage == nil || resp.ID == "" || resp.Model != "m" {
			t.Fatalf("malformed answer %+v", resp)
		}
		c := resp.Choices[0]
		switch c.FinishReason {
		case "stop", "length", "tool_calls", "content_filter":
		default:
			t.Fatalf("finish reason %q", c.FinishReason)
		}
		for _, tc := range c.Message.ToolCalls {
			if !json.Valid([]byte(tc.Function.Arguments)) {
				t.Fatalf("tool arguments %q are not JSON", tc.Function.Arguments)
			}
		}
		u := resp.Usage
		if u.PromptTokens < 0 || u.CompletionTokens < 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
			t.Fatalf("usage %+v", u)
		}
		if _, err := json.Marshal(resp); err != nil {
			t.Fatalf("the answer does not encode: %v", err)
		}
	})
}

// streamSeeds are ConverseStream bodies: the fixtures, failures and odd
// orders.
func streamSeeds(t testing.TB) map[string][]byte {
	text := streamTextFrames(t)
	return map[string][]byte{
		"text":             frames(text...),
		"tools":            frames(streamToolFrames(t)...),
		"reasoning":        frames(streamReasoningFrames(t)...),
		"throttled":        frames(text[0], exception(t, "throttlingException", "slow down")),
		"cut":              frames(text[:3]...),
		"cut_in_frame":     frames(text...)[:100],
		"metadata_first":   frames(text[0], text[1], text[6], text[5]),
		"unknown_event":    frames(text[0], event(t, "brandNewEvent", `{}`), text[5]),
		"error_message":    frames(text[0], frame(t, map[string]string{":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"}, "")),
		"stop_before_text": frames(text[0], text[5], text[1], text[6]),
	}
}

// FuzzStreamTranslator feeds arbitrary bytes as a ConverseStream body
// through the SDK's event-stream decoder and the translator, and checks
// that the stream is well formed, ends with io.EOF only when complete, and
// produces no more than its input justifies.
func FuzzStreamTranslator(f *testing.F) {
	seeds := streamSeeds(f)
	for _, k := range sortedKeys(seeds) {
		f.Add(seeds[k])
	}
	p, tr := cannedProvider(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStream(t, p, tr, data)
	})
}

func checkStream(t *testing.T, p *Provider, tr *cannedTransport, data []byte) {
	tr.set("application/vnd.amazon.eventstream", data)
	req, err := llmproxy.ParseChatRequest([]byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"Hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.ChatCompletionStream(context.Background(), req)
	if err != nil {
		t.Fatalf("opening the stream: %v", err)
	}
	defer r.Close()
	// Every event frame is at least 16 bytes and yields at most two
	// chunks (messageStop after metadata: finish and usage).
	limit := 2*len(data)/16 + 2
	var chunks []*llmproxy.ChatChunk
	for {
		var c *llmproxy.ChatChunk
		c, err = r.Next()
		if err != nil {
			break
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
	finishes := 0
	payload := 0
	for i, c := range chunks {
		if c.ID != chunks[0].ID || c.Model != "m" || c.Created != chunks[0].Created || c.Object != "chat.completion.chunk" {
			t.Fatalf("chunk %d does not belong to the stream: %+v", i, c)
		}
		if (i == 0) != (len(c.Choices) == 1 && c.Choices[0].Delta.Role == "assistant") {
			t.Fatalf("chunk %d: only the first chunk announces the role", i)
		}
		for _, ch := range c.Choices {
			if ch.FinishReason != nil {
				finishes++
			}
			if ch.Delta.Content != nil {
				payload += len(*ch.Delta.Content)
			}
			for _, tc := range ch.Delta.ToolCalls {
				if tc.Index == nil || *tc.Index < 0 {
					t.Fatalf("chunk %d: a tool call without an index", i)
				}
				payload += len(tc.ID) + len(tc.Function.Name) + len(tc.Function.Arguments)
			}
		}
		if finishes > 0 && len(c.Choices) > 0 && c.Choices[0].FinishReason == nil {
			t.Fatalf("chunk %d: content after the finish chunk", i)
		}
	}
	if payload > len(data) {
		t.Fatalf("%d bytes of content from %d bytes of input", payload, len(data))
	}
	if finishes > 1 {
		t.Fatalf("%d finish chunks", finishes)
	}
	if err == io.EOF && finishes != 1 {
		t.Fatalf("a stream that ended cleanly has %d finish chunks", finishes)
	}
}

// TestFuzzCorpus runs the fuzz invariants over the seeds and keeps the
// corpus files in testdata in step with them (go test -run TestFuzzCorpus
// -update-corpus rewrites them).
func TestFuzzCorpus(t *testing.T) {
	corpora := map[string]map[string][]byte{
		"FuzzRequestTranslator":  bytesOf(requestSeeds),
		"FuzzResponseTranslator": bytesOf(responseSeeds),
		"FuzzStreamTranslator":   streamSeeds(t),
	}
	for target, seeds := range corpora {
		dir := filepath.Join("testdata", "fuzz", target)
		if *updateCorpus {
			require.NoError(t, os.MkdirAll(dir, 0o755))
		}
		for _, name := range sortedKeys(seeds) {
			want := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(seeds[name])))
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

func bytesOf(m map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedSeeds(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}
