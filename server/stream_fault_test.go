package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	openai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	goopenai "github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// strmFaultChat is the streamed chat request of the fault tests.
const strmFaultChat = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true}`

// strmSanity bounds how long a fault test may take before it is taken for
// hung. The timeouts under test are a few hundred milliseconds; every
// fallback that would end a request if one of them were ignored (the
// attempt timeout, 60 s; the stream idle timeout, 30 s; the request
// timeout, 300 s; a retry's backoff, set to an hour where a retry is
// possible) is above it, so the bound can only fail for a timeout that did
// not fire, while leaving a busy machine a hundred times the time needed.
const strmSanity = 20 * time.Second

// strmFailover serves a proxy with a primary OpenAI-format upstream at
// primaryURL (priority 1, changed by mod) and a healthy backup (priority 2)
// answering "Backup answer"; it returns the proxy and the backup.
func strmFailover(t *testing.T, primaryURL string, mod func(*llmproxy.ProviderConfig)) (*httptest.Server, *strmUpstream) {
	t.Helper()
	backup := newStrmUpstream(t, strmServe(strmGoodChat("Backup", " answer"), nil))
	primary := llmproxy.ProviderConfig{
		Name: "primary", Type: "openai", BaseURL: primaryURL + "/v1", APIKey: "sk-primary",
		Priority: 1, Models: []string{"gpt-4o-mini"},
	}
	if mod != nil {
		mod(&primary)
	}
	srv := strmProxy(t, llmproxy.Config{Providers: []llmproxy.ProviderConfig{
		{Name: "backup", Type: "openai", BaseURL: backup.URL + "/v1", APIKey: "sk-backup", Priority: 2, Models: []string{"gpt-4o-mini"}},
		primary,
	}})
	return srv, backup
}

// strmStaller is what a stalling upstream handler waits on: the end of its
// request, reported on ended, or the end of the test (release), so that a
// proxy that failed to end the request cannot hang the upstream's Close.
type strmStaller struct {
	ended   chan struct{}
	release chan struct{}
}

// newStrmStaller returns a staller; call arm after creating the upstream.
func newStrmStaller() *strmStaller {
	return &strmStaller{ended: make(chan struct{}), release: make(chan struct{})}
}

// arm registers the release, to run before the cleanups registered so far
// (the upstream's Close).
func (s *strmStaller) arm(t *testing.T) { t.Cleanup(func() { close(s.release) }) }

// block waits until the request ends or the test does.
func (s *strmStaller) block(r *http.Request) {
	select {
	case <-r.Context().Done():
		close(s.ended)
	case <-s.release:
	}
}

// strmWait waits for ch with the sanity bound.
func strmWait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(strmSanity):
		t.Fatalf("timed out waiting: %s", what)
	}
}

// strmCheckBackupAnswered checks a clean stream from the backup on the
// second attempt, without a trace of the primary's failure.
func strmCheckBackupAnswered(t *testing.T, r strmReply) {
	t.Helper()
	payloads := strmCheckClean(t, r, "backup", 2)
	text, finish := strmChatContent(t, payloads)
	assert.Equal(t, "Backup answer", text)
	assert.Equal(t, "stop", finish)
	assert.NotContains(t, string(r.body), "primary")
	assert.NotContains(t, string(r.body), "overloaded")
	assert.NotContains(t, string(r.body), `"error"`)
}

// strmCheckFailed checks a stream that failed after its commit: the chunks
// that came, then one data: {"error":...} frame (error the first key) and
// no [DONE]. It returns the content delivered and the error envelope.
func strmCheckFailed(t *testing.T, r strmReply, provider string) (string, map[string]any) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "the stream was committed; body: %s", r.body)
	assert.Equal(t, provider, r.header.Get("X-LLMProxy-Provider"))
	payloads := strmParseSSE(t, r.body)
	require.NotEmpty(t, payloads)
	assert.NotContains(t, string(r.body), "[DONE]", "a failed stream must not end with [DONE]; body:\n%s", r.body)
	last := payloads[len(payloads)-1]
	require.True(t, strings.HasPrefix(last, `{"error":`), "the last frame must be data: {\"error\":...}, got %s", last)
	assert.Regexp(t, `(?m)^data:\s*\{"error":`, string(r.body), "go-openai's error pattern")
	var env struct {
		Error map[string]any `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(last), &env))
	for _, k := range []string{"message", "type", "param", "code"} {
		assert.Contains(t, env.Error, k)
	}
	text, _ := strmChatContent(t, payloads[:len(payloads)-1])
	return text, env.Error
}

func TestStreamFaultConnectionRefused(t *testing.T) {
	dead := newStrmUpstream(t, strmServe(nil, nil))
	deadURL := dead.URL
	dead.Close()
	srv, backup := strmFailover(t, deadURL, func(p *llmproxy.ProviderConfig) {
		p.MaxRetries = 3
		p.RetryDelay = time.Hour // a sleep on the refused connection would show
	})
	start := time.Now()
	r := strmPost(t, srv, "/v1/chat/completions", strmFaultChat)
	strmCheckBackupAnswered(t, r)
	assert.Equal(t, 1, backup.calls())
	assert.Less(t, time.Since(start), strmSanity)
}

func TestStreamFaultStatus500BeforeFirstByte(t *testing.T) {
	primary := newStrmUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`)
	})
	srv, backup := strmFailover(t, primary.URL, nil)
	r := strmPost(t, srv, "/v1/chat/completions", strmFaultChat)
	strmCheckBackupAnswered(t, r)
	assert.NotContains(t, string(r.body), "Sorry about that")
	assert.Equal(t, 1, primary.calls())
	assert.Equal(t, 1, backup.calls())
}

func TestStreamFaultErrorFrameBeforeContent(t *testing.T) {
	errFrame := `data: {"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}` + "\n\n"
	for name, raw := range map[string][]string{
		"error first":             {errFrame},
		"after the role chunk":    {"data: " + strmChunk(strmRoleDelta, "") + "\n\n", errFrame, "data: [DONE]\n\n"},
		"as an event: error":      {"event: error\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n"},
		"openrouter error chunk":  {": OPENROUTER PROCESSING\n\n", `data: {"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"openai/gpt-4o","error":{"code":502,"message":"overloaded"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}` + "\n\n"},
		"stream cut before token": {"data: " + strmChunk(strmRoleDelta, "") + "\n\n"},
	} {
		t.Run(name, func(t *testing.T) {
			primary := newStrmUpstream(t, strmServe(raw, nil))
			srv, backup := strmFailover(t, primary.URL, nil)
			r := strmPost(t, srv, "/v1/chat/completions", strmFaultChat)
			strmCheckBackupAnswered(t, r)
			assert.Equal(t, 1, primary.calls())
			assert.Equal(t, 1, backup.calls())
		})
	}
}

func TestStreamFaultStallBeforeFirstToken(t *testing.T) {
	st := newStrmStaller()
	primary := newStrmUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		strmWriteSSE(w, "data: "+strmChunk(strmRoleDelta, "")+"\n\n")
		st.block(r)
	})
	st.arm(t)
	srv, backup := strmFailover(t, primary.URL, func(p *llmproxy.ProviderConfig) {
		p.FirstTokenTimeout = 300 * time.Millisecond
	})
	start := time.Now()
	r := strmPost(t, srv, "/v1/chat/completions", strmFaultChat)
	strmCheckBackupAnswered(t, r)
	assert.Equal(t, 1, backup.calls())
	assert.Less(t, time.Since(start), strmSanity)
	strmWait(t, st.ended, "the stalled primary's request to end")
}

func TestStreamFaultConnectionDroppedMidStream(t *testing.T) {
	primary := newStrmUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		strmWriteSSE(w, strmFrames(strmChunk(strmText("Hello"), ""), strmChunk(strmText(" world"), ""))...)
		panic(http.ErrAbortHandler) // close the connection without ending the body
	})
	srv, backup := strmFailover(t, primary.URL, nil)

	t.Run("raw", func(t *testing.T) {
		r := strmPost(t, srv, "/v1/chat/completions", strmFaultChat)
		text, env := strmCheckFailed(t, r, "primary")
		assert.Equal(t, "Hello world", text, "the chunks sent before the cut reach the client")
		payloads := strmParseSSE(t, r.body)
		require.Len(t, payloads, 3, "two chunks and the error; body:\n%s", r.body)
		assert.Equal(t, strmChunk(strmText("Hello"), ""), payloads[0])
		assert.Equal(t, strmChunk(strmText(" world"), ""), payloads[1])
		assert.Contains(t, env["message"], "primary")
		assert.Zero(t, backup.calls(), "no failover after the commit")
	})

	t.Run("go-openai", func(t *testing.T) {
		cfg := goopenai.DefaultConfig(strmKey)
		cfg.BaseURL = srv.URL + "/v1"
		cfg.HTTPClient = srv.Client()
		stream, err := goopenai.NewClientWithConfig(cfg).CreateChatCompletionStream(t.Context(), goopenai.ChatCompletionRequest{
			Model:    "gpt-4o-mini",
			Messages: []goopenai.ChatCompletionMessage{{Role: goopenai.ChatMessageRoleUser, Content: "hi"}},
		})
		require.NoError(t, err)
		defer stream.Close()
		var text strings.Builder
		var recvErr error
		for range 100 {
			resp, err := stream.Recv()
			if err != nil {
				recvErr = err
				break
			}
			for _, ch := range resp.Choices {
				text.WriteString(ch.Delta.Content)
			}
		}
		assert.Equal(t, "Hello world", text.String())
		require.Error(t, recvErr)
		assert.False(t, errors.Is(recvErr, io.EOF), "a cut stream must not look like a clean end to go-openai: %v", recvErr)
		apiErr, ok := errors.AsType[*goopenai.APIError](recvErr)
		require.True(t, ok, "want an *APIError, got %T: %v", recvErr, recvErr)
		assert.Contains(t, apiErr.Message, "primary")
	})

	t.Run("openai-go", func(t *testing.T) {
		client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey(strmKey),
			option.WithMaxRetries(0), option.WithHTTPClient(srv.Client()))
		stream := client.Chat.Completions.NewStreaming(t.Context(), openai.ChatCompletionNewParams{
			Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
		defer stream.Close()
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		require.Error(t, stream.Err(), "a cut stream must end in an error")
		require.Len(t, acc.Choices, 1)
		assert.Equal(t, "Hello world", acc.Choices[0].Message.Content)
		assert.Empty(t, acc.Choices[0].FinishReason)
	})
}

func TestStreamFaultStallMidStream(t *testing.T) {
	st := newStrmStaller()
	primary := newStrmUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		strmWriteSSE(w, strmFrames(strmChunk(strmRoleDelta, ""), strmChunk(strmText("Hello"), ""))...)
		st.block(r)
	})
	st.arm(t)
	srv, backup := strmFailover(t, primary.URL, func(p *llmproxy.ProviderConfig) {
		p.StreamIdleTimeout = 300 * time.Millisecond
	})
	start := time.Now()
	r := strmPost(t, srv, "/v1/chat/completions", strmFaultChat)
	assert.Less(t, time.Since(start), strmSanity)
	text, env := strmCheckFailed(t, r, "primary")
	assert.Equal(t, "Hello", text)
	assert.Equal(t, "timeout_error", env["type"])
	assert.Zero(t, backup.calls())
	strmWait(t, st.ended, "the stalled primary's request to end")
}

func TestStreamFaultClientCancels(t *testing.T) {
	st := newStrmStaller()
	primary := newStrmUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		strmWriteSSE(w, strmFrames(strmChunk(strmRoleDelta, ""), strmChunk(strmText("Hello"), ""))...)
		st.block(r)
	})
	st.arm(t)
	srv, backup := strmFailover(t, primary.URL, nil)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(strmFaultChat))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+strmKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// Read up to the first content chunk, then go away.
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		if strings.Contains(line, `"content":"Hello"`) {
			break
		}
	}
	cancel()
	_ = resp.Body.Close()

	strmWait(t, st.ended, "the upstream request to end after the client went away")
	assert.Zero(t, backup.calls())
}

// TestStreamFaultRequestTimeoutMidStream checks that the request timeout
// also bounds a committed stream.
func TestStreamFaultRequestTimeoutMidStream(t *testing.T) {
	st := newStrmStaller()
	up := newStrmUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		strmWriteSSE(w, strmFrames(strmChunk(strmText("Hello"), ""))...)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				close(st.ended)
				return
			case <-st.release:
				return
			case <-tick.C:
				strmWriteMore(w, strmChunk(strmText("."), ""))
			}
		}
	})
	st.arm(t)
	srv := strmProxy(t, llmproxy.Config{RequestTimeout: 400 * time.Millisecond, Providers: []llmproxy.ProviderConfig{{
		Name: "slow", Type: "openai", BaseURL: up.URL + "/v1",
	}}})
	start := time.Now()
	r := strmPost(t, srv, "/v1/chat/completions", strmFaultChat)
	assert.Less(t, time.Since(start), strmSanity)
	text, env := strmCheckFailed(t, r, "slow")
	assert.True(t, strings.HasPrefix(text, "Hello."), "text: %q", text)
	assert.Equal(t, "timeout_error", env["type"])
	strmWait(t, st.ended, "the upstream request to end at the request timeout")
}

// strmWriteMore writes one more frame of an open event stream.
func strmWriteMore(w http.ResponseWriter, payload string) {
	_, _ = io.WriteString(w, "data: "+payload+"\n\n")
	w.(http.Flusher).Flush()
}

// strmLateType is a provider type whose stream delivers its first content
// chunk only once its context has ended: a chunk that was already on its
// way (buffered) when the first-token timeout fired.
const strmLateType = "test-stream-late-token"

func init() {
	llmproxy.RegisterProviderType(strmLateType, func(cfg llmproxy.ProviderConfig) (llmproxy.Provider, error) {
		return strmLateProvider{name: cfg.Name}, nil
	})
}

type strmLateProvider struct{ name string }

func (p strmLateProvider) Name() string { return p.name }

func (p strmLateProvider) ChatCompletion(context.Context, *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error) {
	return nil, &llmproxy.Error{Kind: llmproxy.KindInternal, Message: "not used"}
}

func (p strmLateProvider) ChatCompletionStream(ctx context.Context, _ *llmproxy.ChatRequest) (llmproxy.ChunkReader[*llmproxy.ChatChunk], error) {
	return &strmLateReader{ctx: ctx}, nil
}

type strmLateReader struct {
	ctx  context.Context
	sent bool
}

func (r *strmLateReader) Next() (*llmproxy.ChatChunk, error) {
	if r.sent {
		return nil, llmproxy.TransportError(r.ctx, "late", r.ctx.Err())
	}
	select {
	case <-r.ctx.Done():
	case <-time.After(strmSanity):
	}
	r.sent = true
	late := "late"
	return &llmproxy.ChatChunk{ID: "chatcmpl-late", Object: "chat.completion.chunk", Model: "gpt-4o-mini",
		Choices: []llmproxy.ChunkChoice{{Delta: llmproxy.Delta{Content: &late}}}}, nil
}

func (r *strmLateReader) Close() error { return nil }

// TestStreamFaultFirstTokenAtTheTimeout checks that a first token that
// arrives as the first-token timeout fires does not commit a stream whose
// context is already canceled: the attempt is a timeout and fails over.
func TestStreamFaultFirstTokenAtTheTimeout(t *testing.T) {
	backup := newStrmUpstream(t, strmServe(strmGoodChat("Backup", " answer"), nil))
	srv := strmProxy(t, llmproxy.Config{Providers: []llmproxy.ProviderConfig{
		{Name: "primary", Type: strmLateType, Priority: 1, FirstTokenTimeout: 100 * time.Millisecond},
		{Name: "backup", Type: "openai", BaseURL: backup.URL + "/v1", Priority: 2},
	}})
	r := strmPost(t, srv, "/v1/chat/completions", strmFaultChat)
	strmCheckBackupAnswered(t, r)
	assert.NotContains(t, string(r.body), "late")
}
