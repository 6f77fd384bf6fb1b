package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	goopenai "github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/mock"
	_ "github.com/llmproxy/llmproxy/providers/openai"
	"github.com/llmproxy/llmproxy/server"
)

// strmKey is the client key of the streaming tests' proxies.
const strmKey = "sk-stream-client-7d2e"

// strmChunk is an OpenAI chat chunk of the stream "chatcmpl-S1" with the
// given delta (JSON) and finish reason ("" for null).
func strmChunk(delta, finish string) string {
	fr := "null"
	if finish != "" {
		fr = `"` + finish + `"`
	}
	return `{"id":"chatcmpl-S1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":` +
		delta + `,"logprobs":null,"finish_reason":` + fr + `}],"usage":null}`
}

// strmText is a content delta.
func strmText(s string) string {
	b, _ := json.Marshal(s)
	return `{"content":` + string(b) + `}`
}

const (
	strmRoleDelta  = `{"role":"assistant","content":"","refusal":null}`
	strmUsageChunk = `{"id":"chatcmpl-S1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_06737a9306","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}`

	strmCmplA     = `{"id":"cmpl-S2","object":"text_completion","created":1686617332,"choices":[{"text":"This is","index":0,"logprobs":null,"finish_reason":null}],"model":"gpt-3.5-turbo-instruct"}`
	strmCmplB     = `{"id":"cmpl-S2","object":"text_completion","created":1686617332,"choices":[{"text":" a test","index":0,"logprobs":null,"finish_reason":"stop"}],"model":"gpt-3.5-turbo-instruct"}`
	strmCmplUsage = `{"id":"cmpl-S2","object":"text_completion","created":1686617332,"choices":[],"model":"gpt-3.5-turbo-instruct","usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}}`
)

// strmGoodChat is a whole OpenAI chat stream answering "Hello world", with
// the include_usage chunk.
func strmGoodChat(words ...string) []string {
	if len(words) == 0 {
		words = []string{"Hello", " world"}
	}
	payloads := []string{strmChunk(strmRoleDelta, "")}
	for _, w := range words {
		payloads = append(payloads, strmChunk(strmText(w), ""))
	}
	payloads = append(payloads, strmChunk(`{}`, "stop"), strmUsageChunk)
	return append(strmFrames(payloads...), "data: [DONE]\n\n")
}

// strmFrames turns JSON payloads into "data: <payload>\n\n" frames.
func strmFrames(payloads ...string) []string {
	out := make([]string, len(payloads))
	for i, p := range payloads {
		out[i] = "data: " + p + "\n\n"
	}
	return out
}

// strmWriteSSE starts a 200 event stream and writes raw, flushing after
// each piece so that every frame travels on its own.
func strmWriteSSE(w http.ResponseWriter, raw ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	f := w.(http.Flusher)
	f.Flush()
	for _, s := range raw {
		_, _ = io.WriteString(w, s)
		f.Flush()
	}
}

// strmUpstream is an OpenAI-format httptest upstream that records the
// bodies it receives; its handler is given by the test.
type strmUpstream struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]json.RawMessage
	paths  []string
}

func newStrmUpstream(t *testing.T, h http.HandlerFunc) *strmUpstream {
	t.Helper()
	u := &strmUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]json.RawMessage
		_ = json.Unmarshal(b, &m)
		u.mu.Lock()
		u.bodies = append(u.bodies, m)
		u.paths = append(u.paths, r.URL.Path)
		u.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

// calls returns the number of requests received.
func (u *strmUpstream) calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.bodies)
}

// lastPath returns the path of the last request.
func (u *strmUpstream) lastPath(t *testing.T) string {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	require.NotEmpty(t, u.paths, "the upstream received no request")
	return u.paths[len(u.paths)-1]
}

// lastBody returns the members of the last request body.
func (u *strmUpstream) lastBody(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	require.NotEmpty(t, u.bodies, "the upstream received no request")
	return u.bodies[len(u.bodies)-1]
}

// strmServe answers chat streams with chat and completion streams with
// cmpl.
func strmServe(chat, cmpl []string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/completions") && !strings.HasSuffix(r.URL.Path, "/chat/completions") {
			strmWriteSSE(w, cmpl...)
			return
		}
		strmWriteSSE(w, chat...)
	}
}

// strmProxy serves a proxy built from cfg (with strmKey as its client key)
// and closes both when the test ends.
func strmProxy(t *testing.T, cfg llmproxy.Config) *httptest.Server {
	t.Helper()
	cfg.APIKeys = []string{strmKey}
	p, err := llmproxy.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	srv := httptest.NewServer(server.Handler(p, server.Options{}))
	t.Cleanup(srv.Close) // runs before p.Close
	return srv
}

// strmReply is a streamed answer read to its end.
type strmReply struct {
	status int
	header http.Header
	body   []byte
}

// strmPost posts body to path with the client key and reads the whole
// answer with a plain HTTP client.
func strmPost(t *testing.T, srv *httptest.Server, path, body string, header ...string) strmReply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+strmKey)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "the answer must end cleanly at the HTTP level")
	return strmReply{status: resp.StatusCode, header: resp.Header, body: b}
}

// strmParseSSE checks that body is nothing but "data: <payload>\n\n"
// frames, each payload on one line (no event: fields, no comments, no
// other lines) and returns the payloads.
func strmParseSSE(t *testing.T, body []byte) []string {
	t.Helper()
	var out []string
	rest := string(body)
	for rest != "" {
		require.True(t, strings.HasPrefix(rest, "data: "), "expected a data: frame at %q\nbody:\n%s", strmHead(rest), body)
		end := strings.Index(rest, "\n\n")
		require.GreaterOrEqual(t, end, 0, "unterminated frame %q\nbody:\n%s", strmHead(rest), body)
		payload := rest[len("data: "):end]
		require.NotContains(t, payload, "\n", "a payload spans lines\nbody:\n%s", body)
		require.NotContains(t, payload, "\r", "a payload holds a CR (a line end to SSE clients)\nbody:\n%s", body)
		out = append(out, payload)
		rest = rest[end+2:]
	}
	return out
}

func strmHead(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// strmCheckClean checks a stream that ended well: only data frames, the
// last one [DONE], the one before it the only one with _proxy_info, which
// names provider and attempt; every other payload is a JSON object. It
// returns the JSON payloads (without [DONE]).
func strmCheckClean(t *testing.T, r strmReply, provider string, attempt int) []string {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	assert.Equal(t, "text/event-stream", r.header.Get("Content-Type"))
	assert.Equal(t, provider, r.header.Get("X-LLMProxy-Provider"))
	assert.Equal(t, strmItoa(attempt), r.header.Get("X-LLMProxy-Attempt"))
	reqID := r.header.Get("X-Request-ID")
	assert.NotEmpty(t, reqID)
	assert.True(t, bytes.HasSuffix(r.body, []byte("\n\ndata: [DONE]\n\n")), "the stream must end with data: [DONE]; body:\n%s", r.body)

	payloads := strmParseSSE(t, r.body)
	require.GreaterOrEqual(t, len(payloads), 2, "body:\n%s", r.body)
	require.Equal(t, "[DONE]", payloads[len(payloads)-1])
	payloads = payloads[:len(payloads)-1]
	for i, p := range payloads {
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(p), &m), "payload %d is not a JSON object: %s", i, p)
		assert.NotContains(t, m, "error", "payload %d: %s", i, p)
		if i < len(payloads)-1 {
			assert.NotContains(t, m, "_proxy_info", "only the last chunk carries _proxy_info; payload %d: %s", i, p)
		}
	}
	var last struct {
		ProxyInfo *struct {
			Provider      string   `json:"provider"`
			AttemptNumber int      `json:"attempt_number"`
			ResponseTime  *float64 `json:"response_time"`
			RequestID     string   `json:"request_id"`
		} `json:"_proxy_info"`
	}
	require.NoError(t, json.Unmarshal([]byte(payloads[len(payloads)-1]), &last))
	require.NotNil(t, last.ProxyInfo, "the last chunk lacks _proxy_info: %s", payloads[len(payloads)-1])
	assert.Equal(t, provider, last.ProxyInfo.Provider)
	assert.Equal(t, attempt, last.ProxyInfo.AttemptNumber)
	assert.Equal(t, reqID, last.ProxyInfo.RequestID)
	assert.NotNil(t, last.ProxyInfo.ResponseTime)
	return payloads
}

func strmItoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// strmChatContent concatenates the content deltas of chat chunk payloads.
func strmChatContent(t *testing.T, payloads []string) (text, finish string) {
	t.Helper()
	for _, p := range payloads {
		var c struct {
			Choices []struct {
				Delta struct {
					Content *string `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
		}
		require.NoError(t, json.Unmarshal([]byte(p), &c), "payload: %s", p)
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				text += *ch.Delta.Content
			}
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
	}
	return text, finish
}

// strmBackend is a proxy to stream through and what it answers.
type strmBackend struct {
	name     string
	srv      *httptest.Server
	up       *strmUpstream // nil for the mock
	chat     string        // chat model
	cmpl     string        // completion model
	provider string
	text     func(prompt string) string
	cmplText func(prompt string) string
}

func strmBackends(t *testing.T) []strmBackend {
	t.Helper()
	mockSrv := strmProxy(t, llmproxy.Config{Providers: []llmproxy.ProviderConfig{
		{Name: "mock-s", Type: "mock", Models: []string{"mock-1"}},
	}})
	up := newStrmUpstream(t, strmServe(strmGoodChat(), append(strmFrames(strmCmplA, strmCmplB, strmCmplUsage), "data: [DONE]\n\n")))
	oaSrv := strmProxy(t, llmproxy.Config{Providers: []llmproxy.ProviderConfig{{
		Name: "oa-up", Type: "openai", BaseURL: up.URL + "/v1", APIKey: "sk-upstream-1",
		Models: []string{"gpt-4o-mini", "gpt-3.5-turbo-instruct"},
	}}})
	return []strmBackend{
		{name: "mock", srv: mockSrv, chat: "mock-1", cmpl: "mock-1", provider: "mock-s",
			text:     func(p string) string { return "Mock response to: " + p },
			cmplText: func(p string) string { return "Mock completion of: " + p }},
		{name: "openai-upstream", srv: oaSrv, up: up, chat: "gpt-4o-mini", cmpl: "gpt-3.5-turbo-instruct", provider: "oa-up",
			text:     func(string) string { return "Hello world" },
			cmplText: func(string) string { return "This is a test" }},
	}
}

// checkUpstreamAskedForUsage checks that the proxy asked an OpenAI
// upstream for usage whatever the client asked.
func (b strmBackend) checkUpstreamAskedForUsage(t *testing.T) {
	t.Helper()
	if b.up == nil {
		return
	}
	got := b.up.lastBody(t)
	assert.JSONEq(t, `true`, string(got["stream"]))
	assert.JSONEq(t, `{"include_usage":true}`, string(got["stream_options"]))
}

func TestStreamOpenAIGoClient(t *testing.T) {
	for _, b := range strmBackends(t) {
		for _, includeUsage := range []bool{false, true} {
			t.Run(b.name+map[bool]string{false: "", true: "/include_usage"}[includeUsage], func(t *testing.T) {
				client := openai.NewClient(
					option.WithBaseURL(b.srv.URL+"/v1/"),
					option.WithAPIKey(strmKey),
					option.WithMaxRetries(0),
					option.WithHTTPClient(b.srv.Client()),
				)
				params := openai.ChatCompletionNewParams{
					Model:    b.chat,
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream please")},
				}
				if includeUsage {
					params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
				}
				stream := client.Chat.Completions.NewStreaming(t.Context(), params)
				defer stream.Close()

				var acc openai.ChatCompletionAccumulator
				var n int
				var lastRaw string
				usageChunks := 0
				for stream.Next() {
					c := stream.Current()
					n++
					assert.True(t, acc.AddChunk(c), "the accumulator refused chunk %d: %s", n, c.RawJSON())
					if c.Usage.TotalTokens > 0 {
						usageChunks++
					}
					lastRaw = c.RawJSON()
				}
				require.NoError(t, stream.Err())
				require.Len(t, acc.Choices, 1)
				assert.Equal(t, b.text("stream please"), acc.Choices[0].Message.Content)
				assert.Equal(t, "stop", acc.Choices[0].FinishReason)
				assert.Equal(t, "assistant", string(acc.Choices[0].Message.Role))
				if includeUsage {
					assert.Equal(t, 1, usageChunks, "one usage chunk")
					assert.Positive(t, acc.Usage.TotalTokens)
				} else {
					assert.Zero(t, usageChunks, "usage was not asked for")
					assert.Zero(t, acc.Usage.TotalTokens)
				}
				assert.Contains(t, lastRaw, `"_proxy_info":{"provider":"`+b.provider+`"`)
				b.checkUpstreamAskedForUsage(t)
			})
		}
	}
}

func TestStreamGoOpenAIClient(t *testing.T) {
	for _, b := range strmBackends(t) {
		for _, includeUsage := range []bool{false, true} {
			t.Run(b.name+map[bool]string{false: "", true: "/include_usage"}[includeUsage], func(t *testing.T) {
				cfg := goopenai.DefaultConfig(strmKey)
				cfg.BaseURL = b.srv.URL + "/v1"
				cfg.HTTPClient = b.srv.Client()
				client := goopenai.NewClientWithConfig(cfg)
				req := goopenai.ChatCompletionRequest{
					Model:    b.chat,
					Messages: []goopenai.ChatCompletionMessage{{Role: goopenai.ChatMessageRoleUser, Content: "stream please"}},
					Stream:   true,
				}
				if includeUsage {
					req.StreamOptions = &goopenai.StreamOptions{IncludeUsage: true}
				}
				stream, err := client.CreateChatCompletionStream(t.Context(), req)
				require.NoError(t, err)
				defer stream.Close()
				assert.Equal(t, b.provider, stream.Header().Get("X-LLMProxy-Provider"))

				var text strings.Builder
				var finish goopenai.FinishReason
				var usage *goopenai.Usage
				for range 1000 {
					resp, err := stream.Recv()
					if errors.Is(err, io.EOF) {
						break
					}
					require.NoError(t, err)
					for _, ch := range resp.Choices {
						text.WriteString(ch.Delta.Content)
						if ch.FinishReason != "" {
							finish = ch.FinishReason
						}
					}
					if resp.Usage != nil {
						require.Nil(t, usage, "usage twice")
						usage = resp.Usage
					}
				}
				assert.Equal(t, b.text("stream please"), text.String())
				assert.Equal(t, goopenai.FinishReasonStop, finish)
				if includeUsage {
					require.NotNil(t, usage)
					assert.Positive(t, usage.TotalTokens)
				} else {
					assert.Nil(t, usage)
				}
				b.checkUpstreamAskedForUsage(t)
			})
		}
	}
}

func TestStreamRawSSE(t *testing.T) {
	for _, b := range strmBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			body := `{"model":"` + b.chat + `","messages":[{"role":"user","content":"raw please"}],"stream":true}`
			r := strmPost(t, b.srv, "/v1/chat/completions", body, "X-Request-ID", "req-stream-42")
			payloads := strmCheckClean(t, r, b.provider, 1)
			assert.Equal(t, "req-stream-42", r.header.Get("X-Request-ID"))
			assert.Equal(t, "no-cache", r.header.Get("Cache-Control"))
			text, finish := strmChatContent(t, payloads)
			assert.Equal(t, b.text("raw please"), text)
			assert.Equal(t, "stop", finish)
			assert.NotContains(t, string(r.body), `"usage":{`, "usage not asked for")
			if b.up != nil {
				// The chunks are the upstream's bytes.
				assert.Equal(t, strmChunk(strmText("Hello"), ""), payloads[1])
			}

			body = `{"model":"` + b.chat + `","messages":[{"role":"user","content":"raw please"}],"stream":true,"stream_options":{"include_usage":true}}`
			r = strmPost(t, b.srv, "/v1/chat/completions", body)
			payloads = strmCheckClean(t, r, b.provider, 1)
			var last struct {
				Choices []json.RawMessage `json:"choices"`
				Usage   *struct {
					TotalTokens int `json:"total_tokens"`
				} `json:"usage"`
			}
			require.NoError(t, json.Unmarshal([]byte(payloads[len(payloads)-1]), &last))
			assert.Empty(t, last.Choices, "the usage chunk comes last")
			require.NotNil(t, last.Usage)
			assert.Positive(t, last.Usage.TotalTokens)
		})
	}
}

func TestStreamLegacyCompletions(t *testing.T) {
	for _, b := range strmBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			body := `{"model":"` + b.cmpl + `","prompt":"Say this","stream":true}`
			r := strmPost(t, b.srv, "/v1/completions", body)
			payloads := strmCheckClean(t, r, b.provider, 1)
			var text, finish string
			for _, p := range payloads {
				var c struct {
					Object  string `json:"object"`
					Choices []struct {
						Text         string `json:"text"`
						FinishReason string `json:"finish_reason"`
					} `json:"choices"`
				}
				require.NoError(t, json.Unmarshal([]byte(p), &c))
				assert.Equal(t, "text_completion", c.Object)
				for _, ch := range c.Choices {
					text += ch.Text
					if ch.FinishReason != "" {
						finish = ch.FinishReason
					}
				}
			}
			assert.Equal(t, b.cmplText("Say this"), text)
			assert.Equal(t, "stop", finish)
			assert.NotContains(t, string(r.body), `"usage":{`)
			if b.up != nil {
				assert.Equal(t, "/v1/completions", b.up.lastPath(t))
				b.checkUpstreamAskedForUsage(t)
			}

			// go-openai's completion stream.
			cfg := goopenai.DefaultConfig(strmKey)
			cfg.BaseURL = b.srv.URL + "/v1"
			cfg.HTTPClient = b.srv.Client()
			client := goopenai.NewClientWithConfig(cfg)
			stream, err := client.CreateCompletionStream(t.Context(), goopenai.CompletionRequest{
				Model: b.cmpl, Prompt: "Say this", StreamOptions: &goopenai.StreamOptions{IncludeUsage: true},
			})
			require.NoError(t, err)
			defer stream.Close()
			var sb strings.Builder
			var usage *goopenai.Usage
			for range 1000 {
				resp, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				for _, ch := range resp.Choices {
					sb.WriteString(ch.Text)
				}
				if resp.Usage != nil {
					usage = resp.Usage
				}
			}
			assert.Equal(t, b.cmplText("Say this"), sb.String())
			require.NotNil(t, usage, "usage was asked for")
			assert.Positive(t, usage.TotalTokens)
		})
	}
}

// TestStreamUpstreamFramingQuirks feeds the proxy event streams framed in
// every way the SSE reader accepts and checks that the client still gets
// clean OpenAI framing: one-line data frames only.
func TestStreamUpstreamFramingQuirks(t *testing.T) {
	prettyHello := "{\n  \"id\": \"chatcmpl-S1\",\n  \"object\": \"chat.completion.chunk\",\n  \"created\": 1741570283,\n  \"model\": \"gpt-4o-mini\",\n" +
		"  \"choices\": [{\"index\": 0, \"delta\": {\"content\": \"Hello\"}, \"finish_reason\": null}]\n}"
	multiLine := "data: " + strings.ReplaceAll(prettyHello, "\n", "\ndata: ") + "\n\n"
	cases := map[string][]string{
		"comments and keep-alives": {": keep-alive\n\n", "data: " + strmChunk(strmRoleDelta, "") + "\n\n", ": OPENROUTER PROCESSING\n\n",
			"data: " + strmChunk(strmText("Hello"), "") + "\n\n", ": ping\n\n", "data: " + strmChunk(`{}`, "stop") + "\n\n", "data: [DONE]\n\n"},
		"CRLF line ends":                     {"data: " + strmChunk(strmText("Hello"), "") + "\r\n\r\n", "data: " + strmChunk(`{}`, "stop") + "\r\n\r\n", "data: [DONE]\r\n\r\n"},
		"named events and ids":               {"event: message\nid: 1\ndata: " + strmChunk(strmText("Hello"), "") + "\n\n", "id: 2\ndata: " + strmChunk(`{}`, "stop") + "\n\n", "data: [DONE]\n\n"},
		"data split over lines":              {multiLine, "data: " + strmChunk(`{}`, "stop") + "\n\n", "data: [DONE]\n\n"},
		"no space after data:":               {"data:" + strmChunk(strmText("Hello"), "") + "\n\n", "data:" + strmChunk(`{}`, "stop") + "\n\n"},
		"a whole answer instead of a stream": {`{"id":"chatcmpl-W","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}]}`},
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			up := newStrmUpstream(t, strmServe(raw, nil))
			srv := strmProxy(t, llmproxy.Config{Providers: []llmproxy.ProviderConfig{{
				Name: "quirky", Type: "openai", BaseURL: up.URL + "/v1",
			}}})
			r := strmPost(t, srv, "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true}`)
			payloads := strmCheckClean(t, r, "quirky", 1)
			text, finish := strmChatContent(t, payloads)
			assert.Equal(t, "Hello", text)
			assert.Equal(t, "stop", finish)
		})
	}
}

// strmCloseType is a provider type whose stream sends a role chunk and ends
// (no content at all), recording that the proxy closed its reader.
const strmCloseType = "test-stream-close-recorder"

var strmClosed = struct {
	sync.Mutex
	m map[string]chan struct{}
}{m: map[string]chan struct{}{}}

func init() {
	llmproxy.RegisterProviderType(strmCloseType, func(cfg llmproxy.ProviderConfig) (llmproxy.Provider, error) {
		strmClosed.Lock()
		defer strmClosed.Unlock()
		ch := make(chan struct{}) // one per proxy built
		strmClosed.m[cfg.Name] = ch
		return &strmCloseProvider{name: cfg.Name, closed: ch}, nil
	})
}

type strmCloseProvider struct {
	name   string
	closed chan struct{}
}

func (p *strmCloseProvider) Name() string { return p.name }

func (p *strmCloseProvider) ChatCompletion(context.Context, *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error) {
	return nil, &llmproxy.Error{Kind: llmproxy.KindInternal, Message: "not used"}
}

func (p *strmCloseProvider) ChatCompletionStream(context.Context, *llmproxy.ChatRequest) (llmproxy.ChunkReader[*llmproxy.ChatChunk], error) {
	return &strmCloseReader{closed: p.closed}, nil
}

type strmCloseReader struct {
	sent   bool
	once   sync.Once
	closed chan struct{}
}

func (r *strmCloseReader) Next() (*llmproxy.ChatChunk, error) {
	if r.sent {
		return nil, io.EOF
	}
	r.sent = true
	return &llmproxy.ChatChunk{ID: "chatcmpl-empty", Object: "chat.completion.chunk", Created: 1700000000, Model: "empty-1",
		Choices: []llmproxy.ChunkChoice{{Delta: llmproxy.Delta{Role: "assistant"}}}}, nil
}

func (r *strmCloseReader) Close() error {
	r.once.Do(func() { close(r.closed) })
	return nil
}

// TestStreamWithoutContent streams an answer that ends before any content:
// the client gets the role chunk and a last chunk for _proxy_info that
// belongs to the same stream, and the provider's reader is closed.
func TestStreamWithoutContent(t *testing.T) {
	name := "closer-" + strings.ReplaceAll(t.Name(), "/", "-")
	srv := strmProxy(t, llmproxy.Config{Providers: []llmproxy.ProviderConfig{{Name: name, Type: strmCloseType}}})
	r := strmPost(t, srv, "/v1/chat/completions", `{"model":"empty-1","messages":[{"role":"user","content":"hi"}],"stream":true}`)
	payloads := strmCheckClean(t, r, name, 1)
	require.Len(t, payloads, 2, "the role chunk and the closing chunk")
	var last struct {
		ID      string            `json:"id"`
		Object  string            `json:"object"`
		Model   string            `json:"model"`
		Created int64             `json:"created"`
		Choices []json.RawMessage `json:"choices"`
	}
	require.NoError(t, json.Unmarshal([]byte(payloads[1]), &last))
	assert.Equal(t, "chatcmpl-empty", last.ID, "the closing chunk belongs to the stream (SDK accumulators check the id)")
	assert.Equal(t, "chat.completion.chunk", last.Object)
	assert.Equal(t, "empty-1", last.Model)
	assert.Equal(t, int64(1700000000), last.Created)
	assert.NotNil(t, last.Choices, "choices must be an array, not null")

	strmClosed.Lock()
	closed := strmClosed.m[name]
	strmClosed.Unlock()
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Fatal("the provider's stream reader was never closed")
	}
}

// TestStreamPerplexityUsageThroughSDK streams a Perplexity answer, whose
// chunks all carry the running usage, to openai-go's accumulator, which
// adds up the usage of every chunk: the total must be Perplexity's final
// count, not a sum of running counts.
func TestStreamPerplexityUsageThroughSDK(t *testing.T) {
	ppx := func(content string, completion int, object, finish string) string {
		fr := "null"
		if finish != "" {
			fr = `"` + finish + `"`
		}
		c, _ := json.Marshal(content)
		return `{"id":"8b1c","model":"sonar","created":1770768220,"usage":{"prompt_tokens":11,"completion_tokens":` + strmItoa(completion) +
			`,"total_tokens":` + strmItoa(11+completion) + `},"citations":["https://go.dev/doc/"],"object":"` + object +
			`","choices":[{"index":0,"finish_reason":` + fr + `,"delta":{"role":"assistant","content":` + string(c) + `}}]}`
	}
	up := newStrmUpstream(t, strmServe(strmFrames(
		ppx("Go", 1, "chat.completion.chunk", ""),
		ppx(" is", 2, "chat.completion.chunk", ""),
		ppx(" fun", 3, "chat.completion.chunk", ""),
		ppx("", 3, "chat.completion.done", "stop"),
	), nil))
	srv := strmProxy(t, llmproxy.Config{Providers: []llmproxy.ProviderConfig{{
		Name: "ppx", Type: "perplexity", BaseURL: up.URL, Models: []string{"sonar"},
	}}})
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey(strmKey),
		option.WithMaxRetries(0), option.WithHTTPClient(srv.Client()))
	for _, includeUsage := range []bool{false, true} {
		params := openai.ChatCompletionNewParams{Model: "sonar", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("go?")}}
		if includeUsage {
			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		}
		stream := client.Chat.Completions.NewStreaming(t.Context(), params)
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			assert.True(t, acc.AddChunk(stream.Current()), "chunk: %s", stream.Current().RawJSON())
			assert.Equal(t, "chat.completion.chunk", string(stream.Current().Object))
		}
		require.NoError(t, stream.Err())
		require.NoError(t, stream.Close())
		require.Len(t, acc.Choices, 1)
		assert.Equal(t, "Go is fun", acc.Choices[0].Message.Content)
		assert.Equal(t, "stop", acc.Choices[0].FinishReason)
		if includeUsage {
			assert.Equal(t, int64(14), acc.Usage.TotalTokens, "the final usage, not a sum of running counts")
			assert.Equal(t, int64(3), acc.Usage.CompletionTokens)
		} else {
			assert.LessOrEqual(t, acc.Usage.TotalTokens, int64(14), "no running counts summed up")
		}
	}
	r := strmPost(t, srv, "/v1/chat/completions", `{"model":"sonar","messages":[{"role":"user","content":"go?"}],"stream":true}`)
	payloads := strmCheckClean(t, r, "ppx", 1)
	assert.NotContains(t, string(r.body), "chat.completion.done")
	text, finish := strmChatContent(t, payloads)
	assert.Equal(t, "Go is fun", text)
	assert.Equal(t, "stop", finish)
}

// TestStreamOutlivesServerReadTimeout serves the handler from an
// http.Server with a ReadTimeout (as cmd/llmproxy does) and streams for
// longer than it: the read deadline bounds reading the request, and must
// not cut a stream that is still being written.
func TestStreamOutlivesServerReadTimeout(t *testing.T) {
	release := make(chan struct{})
	up := newStrmUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		strmWriteSSE(w, "data: "+strmChunk(strmRoleDelta, "")+"\n\n")
		tick := time.NewTicker(60 * time.Millisecond)
		defer tick.Stop()
		for range 12 {
			select {
			case <-r.Context().Done():
				return
			case <-release:
				return
			case <-tick.C:
				_, _ = io.WriteString(w, "data: "+strmChunk(strmText("."), "")+"\n\n")
				w.(http.Flusher).Flush()
			}
		}
		_, _ = io.WriteString(w, "data: "+strmChunk(`{}`, "stop")+"\n\ndata: [DONE]\n\n")
	})
	t.Cleanup(func() { close(release) })
	p, err := llmproxy.New(llmproxy.Config{APIKeys: []string{strmKey}, Providers: []llmproxy.ProviderConfig{{
		Name: "slow-but-steady", Type: "openai", BaseURL: up.URL + "/v1",
	}}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	srv := httptest.NewUnstartedServer(server.Handler(p, server.Options{}))
	srv.Config.ReadTimeout = 250 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)

	r := strmPost(t, srv, "/v1/chat/completions", strmFaultChat)
	payloads := strmCheckClean(t, r, "slow-but-steady", 1)
	text, finish := strmChatContent(t, payloads)
	assert.Equal(t, strings.Repeat(".", 12), text)
	assert.Equal(t, "stop", finish)
}

// TestStreamFlushesEachChunk checks that every chunk reaches the client as
// soon as the upstream sends it, through all of the handler's middleware:
// the upstream sends the rest of its answer only once the client has read
// the first content chunk.
func TestStreamFlushesEachChunk(t *testing.T) {
	next := make(chan struct{})
	up := newStrmUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		strmWriteSSE(w, strmFrames(strmChunk(strmRoleDelta, ""), strmChunk(strmText("Hello"), ""))...)
		rest := " world"
		select {
		case <-next:
		case <-r.Context().Done():
			return
		case <-time.After(strmSanity):
			rest = " (the client never saw Hello)"
		}
		strmWriteMore(w, strmChunk(strmText(rest), ""))
		strmWriteMore(w, strmChunk(`{}`, "stop"))
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
	})
	srv := strmProxy(t, llmproxy.Config{Providers: []llmproxy.ProviderConfig{{
		Name: "oa", Type: "openai", BaseURL: up.URL + "/v1",
	}}})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(strmFaultChat))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+strmKey)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	var seen bytes.Buffer
	tee := io.TeeReader(resp.Body, &seen)
	buf := make([]byte, 1)
	for !bytes.Contains(seen.Bytes(), []byte(`"content":"Hello"}`)) {
		_, err := tee.Read(buf)
		require.NoError(t, err)
	}
	close(next)
	_, err = io.ReadAll(tee)
	require.NoError(t, err)
	payloads := strmCheckClean(t, strmReply{status: resp.StatusCode, header: resp.Header, body: seen.Bytes()}, "oa", 1)
	text, _ := strmChatContent(t, payloads)
	assert.Equal(t, "Hello world", text)
}

// flushCounter is a ResponseWriter that counts its writes and flushes.
type flushCounter struct {
	*httptest.ResponseRecorder
	writes, flushes int
}

func (f *flushCounter) Write(b []byte) (int, error) {
	f.writes++
	return f.ResponseRecorder.Write(b)
}

func (f *flushCounter) Flush() {
	f.flushes++
	f.ResponseRecorder.Flush()
}

// TestStreamCoalescesChunksThatArriveTogether checks that chunks which
// reach the proxy in one piece leave it in one flush, rather than one
// flush (one write system call) each: the handler flushes only when the
// stream is about to wait for the upstream. TestStreamFlushesEachChunk
// checks that no chunk waits for the next.
func TestStreamCoalescesChunksThatArriveTogether(t *testing.T) {
	payloads := []string{strmChunk(strmRoleDelta, "")}
	want := ""
	for i := range 30 {
		s := fmt.Sprintf(" w%d", i)
		want += s
		payloads = append(payloads, strmChunk(strmText(s), ""))
	}
	payloads = append(payloads, strmChunk(`{}`, "stop"), "[DONE]")
	all := strings.Join(strmFrames(payloads...), "")
	up := newStrmUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		strmWriteSSE(w, all) // every frame in one write
	})
	cfg := llmproxy.Config{APIKeys: []string{strmKey}, Providers: []llmproxy.ProviderConfig{{
		Name: "oa", Type: "openai", BaseURL: up.URL + "/v1",
	}}}
	p, err := llmproxy.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	h := server.Handler(p, server.Options{})

	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/chat/completions", strings.NewReader(strmFaultChat))
	req.Header.Set("Authorization", "Bearer "+strmKey)
	rec := &flushCounter{ResponseRecorder: httptest.NewRecorder()}
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	payloadsOut := strmCheckClean(t, strmReply{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}, "oa", 1)
	text, _ := strmChatContent(t, payloadsOut)
	require.Equal(t, want, text)
	require.LessOrEqual(t, rec.flushes, 4, "32 chunks that arrived in one piece took %d flushes", rec.flushes)
	require.LessOrEqual(t, rec.writes, 4, "32 chunks that arrived in one piece took %d writes", rec.writes)
}
