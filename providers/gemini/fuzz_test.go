package gemini

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
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz from the fuzz seeds")

// requestSeeds are the seeds of FuzzRequestTranslator: the translator
// tables' requests and a few odd shapes.
func requestSeeds(tb testing.TB) map[string]string {
	return map[string]string{
		"text":      `{"model":"gemini-2.5-flash","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"max_tokens":10,"stop":["x"],"n":2,"seed":1,"temperature":0.5,"top_p":0.9}`,
		"media":     `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},{"type":"image_url","image_url":{"url":"https://example.com/a.webp"}},{"type":"input_audio","input_audio":{"data":"AA==","format":"mp3"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBE"}}]}]}`,
		"tools":     `{"model":"m","messages":[{"role":"user","content":"w"}],"tool_choice":{"type":"function","function":{"name":"f"}},"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":["string","null"],"enum":["x"]},"b":{"anyOf":[{"type":"integer","format":"int64"},{"type":"array","items":{"type":"number"}}]}},"required":["a"],"additionalProperties":false}}},{"type":"function","function":{"name":"g","parameters":{"$ref":"#/$defs/x","$defs":{"x":{"type":"object"}}}}}]}`,
		"roundtrip": `{"model":"m","messages":[{"role":"user","content":"w"},{"role":"assistant","content":"ok","tool_calls":[{"id":"call_0__thought__c2ln","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},{"id":"fc-2","type":"function","function":{"name":"g","arguments":""}}]},{"role":"tool","tool_call_id":"fc-2","content":"[1]"},{"role":"tool","tool_call_id":"call_0__thought__c2ln","content":"{\"r\":2}"},{"role":"function","name":"f","content":"x"},{"role":"user","content":[{"type":"text","text":""}]}]}`,
		"formats":   `{"model":"m","messages":[{"role":"user","content":"j"}],"response_format":{"type":"json_schema","json_schema":{"name":"p","schema":{"type":"object","properties":{"d":{"type":"string","format":"date-time"}}}}},"reasoning_effort":"medium","safety_settings":[{"category":"HARM_CATEGORY_HATE_SPEECH","threshold":"BLOCK_NONE"}],"top_k":3,"cached_content":"cachedContents/x"}`,
		"refused":   `{"model":"m","messages":[{"role":"tool","tool_call_id":"nope","content":"x"}],"logprobs":true}`,
	}
}

// FuzzRequestTranslator feeds arbitrary client bodies to the request
// translator. It checks that nothing panics, that a refusal is an
// invalid-request *llmproxy.Error naming the member at fault, and that an
// accepted request encodes into a body that has only members of Gemini's
// GenerateContentRequest, no empty text part, and leaves the client's
// request as it was.
func FuzzRequestTranslator(f *testing.F) {
	for _, s := range requestSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRequest(t, data)
	})
}

func checkRequest(t *testing.T, data []byte) {
	req, err := llmproxy.ParseChatRequest(data)
	if err != nil {
		return
	}
	before, err := req.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	out, err := toGenerateRequest(req)
	if err != nil {
		var e *llmproxy.Error
		if !errors.As(err, &e) || e.Kind != llmproxy.KindInvalidRequest || e.Param == "" || e.Message == "" {
			t.Fatalf("a refusal that is not an invalid-request error naming its member: %v", err)
		}
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatalf("the Gemini request does not encode: %v", err)
	}
	var spec specRequest
	if err := strict(b, &spec); err != nil {
		t.Fatalf("the Gemini request has members Gemini does not know: %v\n%s", err, b)
	}
	if len(spec.Contents) == 0 {
		t.Fatal("a request without contents was accepted")
	}
	for _, c := range spec.Contents {
		if len(c.Parts) == 0 || (c.Role != "user" && c.Role != "model") {
			t.Fatalf("a content without parts or with role %q: %s", c.Role, b)
		}
		for _, p := range c.Parts {
			if p.Text != nil && *p.Text == "" {
				t.Fatalf("an empty text part: %s", b)
			}
		}
	}
	after, err := req.MarshalJSON()
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the client's request changed: %s → %s", before, after)
	}
}

// streamSeeds are the seeds of FuzzStreamTranslator: the stream fixtures,
// their framings and failures.
func streamSeeds(tb testing.TB) map[string]string {
	text, tools := fixture(tb, "stream_text.sse"), fixture(tb, "stream_tools.sse")
	return map[string]string{
		"text":    text,
		"tools":   tools,
		"text_lf": strings.ReplaceAll(text, "\r\n", "\n"),
		"cut":     text[:strings.LastIndex(strings.TrimRight(text, "\r\n"), "\r\n\r\n")+4],
		"error":   `data: {"candidates": [{"content": {"parts": [{"text": "A"}],"role": "model"}}]}` + "\r\n\r\n" + `{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE", "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]}}` + "\n",
		"blocked": `data: {"promptFeedback": {"blockReason": "OTHER"},"usageMetadata": {"promptTokenCount": 1e12,"totalTokenCount": -4}}` + "\r\n\r\n",
		"two":     `data: {"candidates": [{"content": {"parts": [{"text": "x","thought": true},{"functionCall": {"id": "a","name": "f","args": null}}]},"index": 1},{"finishReason": "SAFETY"}]}` + "\n\n" + `data: {"candidates": [{"index": 1,"finishReason": "RECITATION"}],"usageMetadata": {"cachedContentTokenCount": 2.5}}` + "\n\n",
	}
}

// FuzzStreamTranslator feeds arbitrary bytes to the stream reader and its
// state machine, for one and for two choices. It checks that nothing
// panics, that the output is bounded by the input, that every chunk has
// the stream's one id, model and created and encodes, that each choice
// announces its role once and finishes at most once, that the stream ends
// with io.EOF (after every choice finished) or an *llmproxy.Error and stays
// ended, and that usage is never negative.
func FuzzStreamTranslator(f *testing.F) {
	for _, s := range streamSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStream(t, data, 1)
		checkStream(t, data, 2)
	})
}

func checkStream(t *testing.T, data []byte, n int) {
	p := &Provider{up: llmproxy.HTTPUpstream{Name: "fuzz"}, key: "k-fuzz"}
	s := newChatStream(context.Background(), p, io.NopCloser(bytes.NewReader(data)), "m", n, 1)
	var chunks []*llmproxy.ChatChunk
	var err error
	for {
		var c *llmproxy.ChatChunk
		if c, err = s.Next(); err != nil {
			break
		}
		if c == nil {
			t.Fatal("a nil chunk without an error")
		}
		chunks = append(chunks, c)
		if len(chunks) > len(data) {
			t.Fatalf("%d chunks from %d bytes", len(chunks), len(data))
		}
	}
	var e *llmproxy.Error
	if err != io.EOF && !errors.As(err, &e) {
		t.Fatalf("the stream ended with %T %v, not io.EOF or an *llmproxy.Error", err, err)
	}
	if _, again := s.Next(); again != err {
		t.Fatalf("Next after the end returned %v, then %v", err, again)
	}
	roles, finishes := map[int]int{}, map[int]int{}
	for i, c := range chunks {
		if c.ID != chunks[0].ID || c.Model != chunks[0].Model || c.Created != chunks[0].Created || c.Object != "chat.completion.chunk" {
			t.Fatalf("chunk %d does not belong to the stream: %+v", i, c)
		}
		if _, err := json.Marshal(c); err != nil {
			t.Fatalf("chunk %d does not encode: %v", i, err)
		}
		if u := c.Usage; u != nil && (u.PromptTokens < 0 || u.CompletionTokens < 0 || u.TotalTokens < 0) {
			t.Fatalf("negative usage %+v", u)
		}
		for _, ch := range c.Choices {
			if ch.Index < 0 || ch.Index >= n {
				t.Fatalf("choice %d of %d", ch.Index, n)
			}
			if ch.Delta.Role != "" {
				roles[ch.Index]++
			}
			if ch.FinishReason != nil {
				finishes[ch.Index]++
			}
		}
	}
	for i := range n {
		if roles[i] > 1 || finishes[i] > 1 {
			t.Fatalf("choice %d: %d roles, %d finishes", i, roles[i], finishes[i])
		}
		if err == io.EOF && finishes[i] != 1 {
			t.Fatalf("a clean end without the finish of choice %d", i)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// answerSeeds are the seeds of FuzzAnswer: the answer fixtures and odd
// shapes.
func answerSeeds(tb testing.TB) map[string]string {
	return map[string]string{
		"text":     fixture(tb, "generate_text.json"),
		"tools":    fixture(tb, "generate_tools.json"),
		"thinking": fixture(tb, "generate_thinking.json"),
		"blocked":  fixture(tb, "generate_blocked.json"),
		"safety":   fixture(tb, "generate_safety.json"),
		"odd":      `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"a":[1,{"b":null}]},"id":"x__thought__y"},"thoughtSignature":"z"},{"text":"t","thought":true},{"executableCode":{"code":"1"}}]},"index":127,"finishReason":"MALFORMED_FUNCTION_CALL"}],"usageMetadata":{"promptTokenCount":3e9,"thoughtsTokenCount":-1}}`,
	}
}

// FuzzAnswer feeds arbitrary bytes to the decoder and translator of whole
// answers. It checks that nothing panics and that an accepted answer has
// choices, encodes, carries tool call arguments that are JSON objects and
// no negative usage.
func FuzzAnswer(f *testing.F) {
	for _, s := range answerSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAnswer(t, data)
	})
}

func checkAnswer(t *testing.T, data []byte) {
	var r generateResponse
	if llmproxy.DecodeAnswer(data, &r) != nil {
		return
	}
	resp, err := toChatResponse(&r, "m", 2, 1, "chatcmpl-x")
	if err != nil {
		return
	}
	if len(resp.Choices) == 0 {
		t.Fatal("an accepted answer without choices")
	}
	if _, err := json.Marshal(resp); err != nil {
		t.Fatalf("the answer does not encode: %v", err)
	}
	for _, c := range resp.Choices {
		for _, tc := range c.Message.ToolCalls {
			var args map[string]any
			if json.Unmarshal([]byte(tc.Function.Arguments), &args) != nil || tc.ID == "" || tc.Function.Name == "" {
				t.Fatalf("a tool call %+v", tc)
			}
		}
	}
	if u := resp.Usage; u != nil && (u.PromptTokens < 0 || u.CompletionTokens < 0 || u.TotalTokens < 0) {
		t.Fatalf("negative usage %+v", u)
	}
}

// TestFuzzCorpus runs the fuzz checks over the seeds and keeps the corpus
// files in testdata/fuzz in step with them (go test -run TestFuzzCorpus
// -update-corpus rewrites them).
func TestFuzzCorpus(t *testing.T) {
	targets := map[string]struct {
		seeds map[string]string
		check func(t *testing.T, data []byte)
	}{
		"FuzzRequestTranslator": {requestSeeds(t), checkRequest},
		"FuzzStreamTranslator":  {streamSeeds(t), func(t *testing.T, d []byte) { checkStream(t, d, 1); checkStream(t, d, 2) }},
		"FuzzAnswer":            {answerSeeds(t), checkAnswer},
	}
	for target, tt := range targets {
		dir := filepath.Join("testdata", "fuzz", target)
		if *updateCorpus {
			require.NoError(t, os.MkdirAll(dir, 0o755))
		}
		for name, seed := range tt.seeds {
			tt.check(t, []byte(seed))
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
}

// TestSeedsExercise makes sure the seeds reach the interesting paths: the
// request seeds are mostly accepted, the stream seeds end both ways.
func TestSeedsExercise(t *testing.T) {
	accepted := 0
	for _, s := range requestSeeds(t) {
		req, err := llmproxy.ParseChatRequest([]byte(s))
		require.NoError(t, err)
		if _, err := toGenerateRequest(req); err == nil {
			accepted++
		}
	}
	assert.Equal(t, len(requestSeeds(t))-1, accepted, "all but the refused seed translate")
	ends := map[bool]int{}
	for _, s := range streamSeeds(t) {
		st := newChatStream(context.Background(), &Provider{up: llmproxy.HTTPUpstream{Name: "x"}}, io.NopCloser(strings.NewReader(s)), "m", 1, 1)
		var err error
		for err == nil {
			_, err = st.Next()
		}
		ends[err == io.EOF]++
		require.NoError(t, st.Close())
	}
	assert.Positive(t, ends[true], "clean ends")
	assert.Positive(t, ends[false], "failures")
}
