package llmproxy

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eventReader hands out scripted front events, then io.EOF.
type eventReader struct{ events []*RawChunk }

func (r *eventReader) Next() (*RawChunk, error) {
	if len(r.events) == 0 {
		return nil, io.EOF
	}
	c := r.events[0]
	r.events = r.events[1:]
	return c, nil
}

func (r *eventReader) Close() error { return nil }

func TestRouteRawFailsOverAcrossTargets(t *testing.T) {
	first, _ := newFake(t, "native")
	second, _ := newFake(t, "translated")
	second.Priority = 2
	p, err := New(Config{Providers: []ProviderConfig{first, second}})
	require.NoError(t, err)
	defer p.Close()

	var targets []Target
	ans, err := p.RouteRaw(context.Background(), "messages", "m", func(ctx context.Context, tg Target) (*RawAnswer, error) {
		targets = append(targets, tg)
		if tg.Name == "native" {
			return nil, &Error{Kind: KindUnavailable, Status: 503, Message: "down"}
		}
		return &RawAnswer{Body: []byte(`{"type":"message"}`), Usage: &Usage{PromptTokens: 3}}, nil
	})
	require.NoError(t, err)
	require.Len(t, targets, 2)
	assert.Equal(t, "native", targets[0].Name)
	assert.Equal(t, "m", targets[0].Model)
	assert.Same(t, targets[1].Provider, p.state.Load().upstreams[1].p, "the target carries the provider's adapter")
	assert.Equal(t, `{"type":"message"}`, string(ans.Body))
	require.NotNil(t, ans.ProxyInfo)
	assert.Equal(t, "translated", ans.ProxyInfo.Provider)
	assert.Equal(t, 2, ans.ProxyInfo.AttemptNumber)

	// An invalid request is not failed over.
	calls := 0
	_, err = p.RouteRaw(context.Background(), "messages", "m", func(context.Context, Target) (*RawAnswer, error) {
		calls++
		return nil, &Error{Kind: KindInvalidRequest, Status: 400, Message: "bad"}
	})
	require.Error(t, err)
	assert.Equal(t, KindInvalidRequest, AsError(err).Kind)
	assert.Equal(t, 1, calls)
}

func TestRouteStreamRawCommitsOnContent(t *testing.T) {
	first, _ := newFake(t, "native")
	second, _ := newFake(t, "translated")
	second.Priority = 2
	p, err := New(Config{Providers: []ProviderConfig{first, second}})
	require.NoError(t, err)
	defer p.Close()

	st, err := p.RouteStreamRaw(context.Background(), "messages", "m", func(ctx context.Context, tg Target) (ChunkReader[*RawChunk], error) {
		if tg.Name == "native" {
			// Fails before any content: failed over invisibly.
			return &failingAfter{events: []*RawChunk{{Event: "message_start", Data: []byte(`{}`)}}}, nil
		}
		return &eventReader{events: []*RawChunk{
			{Event: "message_start", Data: []byte(`{"n":1}`)},
			{Event: "content_block_delta", Data: []byte(`{"n":2}`), Content: true},
			{Event: "message_stop", Data: []byte(`{"n":3}`), Final: true},
		}}, nil
	})
	require.NoError(t, err)
	defer st.Close()
	var got []string
	for st.Next() {
		got = append(got, st.Current().Event+" "+string(st.Current().Data))
	}
	require.NoError(t, st.Err())
	assert.Equal(t, []string{`message_start {"n":1}`, `content_block_delta {"n":2}`, `message_stop {"n":3}`}, got,
		"only the answering provider's events reach the client, in order, with their names")
	assert.Equal(t, "translated", st.ProxyInfo().Provider)
}

// failingAfter hands out its events, then fails as an unavailable upstream.
type failingAfter struct{ events []*RawChunk }

func (r *failingAfter) Next() (*RawChunk, error) {
	if len(r.events) == 0 {
		return nil, &Error{Kind: KindUnavailable, Status: 502, Message: "cut"}
	}
	c := r.events[0]
	r.events = r.events[1:]
	return c, nil
}

func (r *failingAfter) Close() error { return nil }

func TestRouteRawTargetsTheConcreteModel(t *testing.T) {
	first, _ := newFake(t, "a")
	first.Models = []string{"small"}
	second, _ := newFake(t, "b")
	second.ModelMap = map[string]string{"large": "vendor-large-v2"}
	p, err := New(Config{Providers: []ProviderConfig{first, second},
		ModelAliases: map[string][]string{"fast": {"small", "large"}}})
	require.NoError(t, err)
	defer p.Close()

	var models []string
	ans, err := p.RouteRaw(context.Background(), "messages", "fast", func(ctx context.Context, tg Target) (*RawAnswer, error) {
		models = append(models, tg.Name+":"+tg.Model)
		if tg.Name == "a" {
			return nil, &Error{Kind: KindUnavailable, Status: 503, Message: "down"}
		}
		return &RawAnswer{Body: []byte(`{}`)}, nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"a:small", "b:vendor-large-v2"}, models,
		"each attempt is given the alias's concrete model, mapped by the provider's model_map")
	assert.Equal(t, "vendor-large-v2", ans.ProxyInfo.Model)
}
