package llmproxy

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

const rawTestBody = `{"model":"m","messages":[{"role":"system","content":"Be brief."},` +
	`{"role":"user","content":"hi","x_vendor":1}],"max_tokens":64,"temperature":0,"seed":7,` +
	`"stream":true,"stream_options":{"include_usage":true}}`

func TestPeekChatRequestIsShallowAndDecodes(t *testing.T) {
	r, err := PeekChatRequest([]byte(rawTestBody))
	require.NoError(t, err)
	require.True(t, r.Shallow(), "the common shape takes the fast path")
	require.Equal(t, "m", r.Model)
	require.True(t, r.Stream)
	require.NotNil(t, r.StreamOptions)
	require.True(t, r.StreamOptions.IncludeUsage)
	require.Empty(t, r.Messages, "the messages are not decoded yet")
	require.NoError(t, r.Validate(), "a peeked request was checked when it was made")
	b, err := json.Marshal(r)
	require.NoError(t, err)
	require.JSONEq(t, rawTestBody, string(b), "a shallow request encodes as its whole self")
	changed := *r
	changed.Model = "other"
	b, err = json.Marshal(&changed)
	require.NoError(t, err)
	require.Contains(t, string(b), `"model":"other"`, "a changed field is encoded")
	require.Contains(t, string(b), `"seed":7`)

	full, err := ParseChatRequest([]byte(rawTestBody))
	require.NoError(t, err)
	require.NoError(t, r.Decode())
	require.False(t, r.Shallow())
	require.Equal(t, full, r, "Decode gives what ParseChatRequest gives")
	require.NoError(t, r.Decode(), "Decode is idempotent")
}

func TestPeekChatRequestDecodeKeepsChangedFields(t *testing.T) {
	r, err := PeekChatRequest([]byte(rawTestBody))
	require.NoError(t, err)
	require.True(t, r.Shallow())
	cp := *r
	cp.Model, cp.Stream, cp.StreamOptions = "other", false, nil
	cp.Touch()
	require.Nil(t, cp.Raw())
	require.Equal(t, "other", cp.Model)
	require.False(t, cp.Stream)
	require.Nil(t, cp.StreamOptions)
	require.Len(t, cp.Messages, 2, "Touch decodes the rest first")
	require.Equal(t, json.RawMessage("7"), cp.Extra["seed"])
	require.True(t, r.Shallow(), "the original is untouched")

	// Unchanged stream options are the decoded ones, Extra included.
	r2, err := PeekChatRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"x"}],` +
		`"stream":true,"stream_options":{"include_usage":false,"x":1}}`))
	require.NoError(t, err)
	require.True(t, r2.Shallow())
	require.NoError(t, r2.Decode())
	require.Equal(t, json.RawMessage("1"), r2.StreamOptions.Extra["x"])
}

func TestPeekChatRequestErrorsAreParseErrors(t *testing.T) {
	for _, body := range []string{
		`{"model":"m"}`,
		`{"model":"","messages":[{"role":"user","content":"x"}]}`,
		`{"model":"m","messages":[]}`,
		`{"model":"m","messages":[{"content":"x"}]}`,
		`{"model":"m","messages":[{"role":"user","content":5}]}`,
		`{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1.5}`,
		`{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3}`,
		`{"model":5,"messages":[{"role":"user","content":"x"}]}`,
		`{"model":"m","messages":[{"role":"user","content":"x"}]`,
		`[]`,
		`{"MODEL":"m","messages":[{"role":"user","content":"x"}]}`,
	} {
		_, want := ParseChatRequest([]byte(body))
		require.Error(t, want, body)
		_, got := PeekChatRequest([]byte(body))
		require.Equal(t, want, got, body)
	}
}

// rawRecorder is a provider without the raw methods that records the
// requests it is given.
type rawRecorder struct {
	name string
	mu   sync.Mutex
	reqs []ChatRequest
}

func (p *rawRecorder) Name() string { return p.name }

func (p *rawRecorder) ChatCompletion(ctx context.Context, req *ChatRequest) (*ChatResponse, error) {
	p.mu.Lock()
	p.reqs = append(p.reqs, *req)
	p.mu.Unlock()
	return &ChatResponse{ID: "chatcmpl-r", Object: "chat.completion", Model: req.Model,
		Choices: []Choice{{Message: Message{Role: "assistant", Content: Text("ok")}, FinishReason: "stop"}},
		Usage:   &Usage{PromptTokens: 3, CompletionTokens: 1, TotalTokens: 4}}, nil
}

var (
	rawRecorders     sync.Map // name -> *rawRecorder
	registerRawOnce  sync.Once
	rawRecorderType  = "raw-recorder-test"
	rawRecorderModel = "m"
)

func newRawRecorderProxy(t *testing.T, name string) (*Proxy, *rawRecorder) {
	t.Helper()
	registerRawOnce.Do(func() {
		RegisterProviderType(rawRecorderType, func(cfg ProviderConfig) (Provider, error) {
			v, _ := rawRecorders.Load(cfg.Name)
			return v.(*rawRecorder), nil
		})
	})
	rec := &rawRecorder{name: name}
	rawRecorders.Store(name, rec)
	t.Cleanup(func() { rawRecorders.Delete(name) })
	px, err := New(Config{Providers: []ProviderConfig{{Name: name, Type: rawRecorderType, Models: []string{rawRecorderModel}}}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = px.Close() })
	return px, rec
}

func TestChatCompletionRawDecodesForOtherProviders(t *testing.T) {
	px, rec := newRawRecorderProxy(t, "rec-nonstream")
	req, err := PeekChatRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	require.True(t, req.Shallow())
	ans, err := px.ChatCompletionRaw(t.Context(), req)
	require.NoError(t, err)
	require.Len(t, rec.reqs, 1)
	require.Len(t, rec.reqs[0].Messages, 1, "a provider without the raw methods gets a decoded request")
	require.Equal(t, "hi", rec.reqs[0].Messages[0].Content.String())

	var resp ChatResponse
	require.NoError(t, json.Unmarshal(ans.Body, &resp))
	require.Equal(t, "ok", resp.Choices[0].Message.Content.String())
	require.Nil(t, resp.ProxyInfo, "the body carries no _proxy_info; the server splices it")
	require.Equal(t, 4, ans.Usage.TotalTokens)
	require.Equal(t, "rec-nonstream", ans.ProxyInfo.Provider)
}

func TestChatCompletionStreamRawFromDecodedChunks(t *testing.T) {
	script := []stStep{{role: true}, {text: "Hel"}, {text: "lo"}, {fin: true}, {usage: true}}
	for _, include := range []bool{false, true} {
		p := &stProvider{name: "a", scripts: [][]stStep{script}}
		px := newStreamProxy(t, p)
		s, err := px.ChatCompletionStreamRaw(t.Context(), streamReq(include))
		require.NoError(t, err)
		var text string
		n, final := 0, 0
		for s.Next() {
			c := s.Current()
			n++
			var cc ChatChunk
			require.NoError(t, json.Unmarshal(c.Data, &cc))
			require.Equal(t, cc.HasContent(), c.Content)
			require.Equal(t, cc.Finished(), c.Final)
			require.Equal(t, usageOnly(&cc), c.UsageOnly)
			for _, ch := range cc.Choices {
				if ch.Delta.Content != nil {
					text += *ch.Delta.Content
				}
			}
			if c.Final {
				final++
			}
		}
		require.NoError(t, s.Err())
		require.NoError(t, s.Close())
		require.Equal(t, "Hello", text)
		require.Equal(t, map[bool]int{false: 4, true: 5}[include], n, "usage chunk passed on only when asked")
		require.Equal(t, map[bool]int{false: 1, true: 2}[include], final)
		require.Equal(t, 5, s.Usage().TotalTokens, "the proxy learns the usage either way")
	}
}
