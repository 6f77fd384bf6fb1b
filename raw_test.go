package llmproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

const rawTestBody = `{"model":"m","messages":[{"role":"system","content":"Be brief."},` +
	`{"role":"user","content":"hi","x_vendor":1}],"max_tokens":64,"temperature":0,"seed":7,` +
	`"stream":true,"stream_options":{"include_usage":true}}`

func TestReadChatRequestReadsWhatTheProxyNeeds(t *testing.T) {
	r, err := ReadChatRequest([]byte(rawTestBody))
	require.NoError(t, err)
	require.Equal(t, "m", r.Model)
	require.True(t, r.Stream)
	require.True(t, r.IncludeUsage)
	require.Equal(t, rawTestBody, string(r.Body), "the request keeps the client's bytes")

	full, err := r.Decode()
	require.NoError(t, err)
	want, err := ParseChatRequest([]byte(rawTestBody))
	require.NoError(t, err)
	require.Equal(t, want, full, "Decode gives what ParseChatRequest gives")

	r.Model = "other"
	full, err = r.Decode()
	require.NoError(t, err)
	require.Equal(t, "other", full.Model, "Decode takes the model from the raw request")

	for body, want := range map[string]RawChatRequest{
		`{"model":"m","messages":[1]}`:                                                         {Model: "m"},
		`{"model":"m","messages":[{}],"stream":null,"stream_options":null}`:                    {Model: "m"},
		`{"model":"m","messages":[{}],"stream":false,"stream_options":{"x":1}}`:                {Model: "m"},
		`{"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":false}}`: {Model: "m", Stream: true},
		` {"mod\u0065l":"m\u00e9","messages":[{}],"MODEL":"x"} `:                               {Model: "mé"},
		`{"model":"m","messages":[{"role":"user","content":5}],"temperature":9}`:               {Model: "m"},
	} {
		got, err := ReadChatRequest([]byte(body))
		require.NoError(t, err, body)
		want.Body = []byte(body)
		require.Equal(t, &want, got, body)
	}
}

func TestReadChatRequestErrors(t *testing.T) {
	for body, param := range map[string]string{
		`{"model":"m"}`: "messages",
		`{"model":"","messages":[{"role":"user","content":"x"}]}`:            "model",
		`{"model":"m","messages":[]}`:                                        "messages",
		`{"model":"m","messages":{}}`:                                        "messages",
		`{"model":5,"messages":[{"role":"user","content":"x"}]}`:             "model",
		`{"MODEL":"m","messages":[{"role":"user","content":"x"}]}`:           "model",
		`{"model":"m","messages":[{}],"stream":"yes"}`:                       "stream",
		`{"model":"m","messages":[{}],"stream_options":true}`:                "stream_options",
		`{"model":"m","messages":[{}],"stream_options":{"include_usage":1}}`: "stream_options.include_usage",
		`{"model":"a","messages":[{}],"model":"b"}`:                          "model",
		`{"model":"m","messages":[{}],"stream":true,"stream":false}`:         "stream",
		`{"model":"m","messages":[{"role":"user","content":"x"}]`:            "",
		`[]`:  "",
		`"x"`: "",
		"{\"model\":\"m\xff\",\"messages\":[{}]}": "",
		``: "",
	} {
		_, err := ReadChatRequest([]byte(body))
		require.Error(t, err, body)
		e, ok := errors.AsType[*Error](err)
		require.True(t, ok, body)
		require.Equal(t, KindInvalidRequest, e.Kind, body)
		require.Equal(t, param, e.Param, body)
		require.NotEmpty(t, e.Message, body)
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
	req, err := ReadChatRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
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
		body, err := json.Marshal(streamReq(include))
		require.NoError(t, err)
		req, err := ReadChatRequest(body)
		require.NoError(t, err)
		s, err := px.ChatCompletionStreamRaw(t.Context(), req)
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

// TestReadChatRequestCopiesModel checks that the model ReadChatRequest
// returns does not share the body's memory: ReadChatRequest parses the
// body in place, and the caches keyed by model names (targets, prices,
// metric labels) would otherwise keep whole bodies. (Modifying the body
// breaks ReadChatRequest's contract; here it only shows the sharing.)
func TestReadChatRequestCopiesModel(t *testing.T) {
	body := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	req, err := ReadChatRequest(body)
	require.NoError(t, err)
	copy(body[len(`{"model":"`):], "XXXXXX")
	require.Equal(t, "gpt-4o", req.Model)
}

// decodeSeer is a provider without the raw methods that notes the decoded
// request it is given and fails while failing is set.
type decodeSeer struct {
	name    string
	failing bool
	mu      sync.Mutex
	seen    []*ChatRequest
}

func (p *decodeSeer) Name() string { return p.name }

func (p *decodeSeer) ChatCompletion(_ context.Context, req *ChatRequest) (*ChatResponse, error) {
	p.mu.Lock()
	p.seen = append(p.seen, req)
	p.mu.Unlock()
	if p.failing {
		return nil, &Error{Kind: KindUnavailable, Status: 503, Message: "down"}
	}
	return &ChatResponse{ID: "chatcmpl-d", Object: "chat.completion", Model: req.Model,
		Choices: []Choice{{Message: Message{Role: "assistant", Content: Text("ok")}, FinishReason: "stop"}}}, nil
}

var (
	decodeSeers       sync.Map // name -> *decodeSeer
	registerSeersOnce sync.Once
)

// TestRawRequestDecodedOnce checks that a raw request that fails over
// between providers that translate it is decoded once: both get the same
// decoded request, on the whole-answer path and on the stream path.
func TestRawRequestDecodedOnce(t *testing.T) {
	registerSeersOnce.Do(func() {
		RegisterProviderType("decode-seer-test", func(cfg ProviderConfig) (Provider, error) {
			v, _ := decodeSeers.Load(cfg.Name)
			return v.(*decodeSeer), nil
		})
	})
	for _, stream := range []bool{false, true} {
		a, b := &decodeSeer{name: fmt.Sprint("seer-a-", stream), failing: true}, &decodeSeer{name: fmt.Sprint("seer-b-", stream)}
		decodeSeers.Store(a.name, a)
		decodeSeers.Store(b.name, b)
		px, err := New(Config{Providers: []ProviderConfig{
			{Name: a.name, Type: "decode-seer-test", Models: []string{"m"}, Priority: 1},
			{Name: b.name, Type: "decode-seer-test", Models: []string{"m"}, Priority: 2},
		}})
		require.NoError(t, err)
		req, err := ReadChatRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		require.NoError(t, err)
		if stream {
			s, err := px.ChatCompletionStreamRaw(t.Context(), req)
			require.NoError(t, err)
			for s.Next() {
			}
			require.NoError(t, s.Err())
			require.NoError(t, s.Close())
		} else {
			ans, err := px.ChatCompletionRaw(t.Context(), req)
			require.NoError(t, err)
			require.Equal(t, b.name, ans.ProxyInfo.Provider)
		}
		require.Len(t, a.seen, 1, "stream %v", stream)
		require.Len(t, b.seen, 1, "stream %v", stream)
		require.Same(t, a.seen[0], b.seen[0], "stream %v: decoded once", stream)
		require.NoError(t, px.Close())
	}
}
