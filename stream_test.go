package llmproxy

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// stStep is one scripted step of a test stream: a chunk, an error, or a
// block until the stream's context ends.
type stStep struct {
	text  string // content of a chunk
	role  bool   // a role-only chunk
	fin   bool   // a finish chunk
	usage bool   // a usage-only chunk
	err   error
	block bool
	sleep time.Duration
}

// stProvider streams a script; each open takes the next script.
type stProvider struct {
	name    string
	mu      sync.Mutex
	scripts [][]stStep
	opens   atomic.Int32
	closed  atomic.Int32
	ctxErr  atomic.Pointer[error] // the cause of the last stream's context at Close
}

func (p *stProvider) Name() string { return p.name }

func (p *stProvider) ChatCompletion(ctx context.Context, req *ChatRequest) (*ChatResponse, error) {
	return nil, &Error{Kind: KindInternal, Message: "stream only"}
}

func (p *stProvider) ChatCompletionStream(ctx context.Context, req *ChatRequest) (ChunkReader[*ChatChunk], error) {
	p.opens.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.scripts) == 0 {
		return nil, &Error{Kind: KindUnavailable, Status: 503, Message: "no script"}
	}
	s := p.scripts[0]
	if len(p.scripts) > 1 {
		p.scripts = p.scripts[1:]
	}
	return &stReader{ctx: ctx, steps: s, p: p}, nil
}

type stReader struct {
	ctx   context.Context
	steps []stStep
	p     *stProvider
}

func (r *stReader) Next() (*ChatChunk, error) {
	if len(r.steps) == 0 {
		return nil, io.EOF
	}
	s := r.steps[0]
	r.steps = r.steps[1:]
	if s.sleep > 0 {
		select {
		case <-time.After(s.sleep):
		case <-r.ctx.Done():
			return nil, r.ctx.Err()
		}
	}
	switch {
	case s.block:
		<-r.ctx.Done()
		return nil, r.ctx.Err()
	case s.err != nil:
		return nil, s.err
	}
	c := &ChatChunk{ID: "c1", Object: "chat.completion.chunk", Model: "m"}
	switch {
	case s.usage:
		c.Choices = []ChunkChoice{}
		c.Usage = &Usage{PromptTokens: 3, CompletionTokens: 2, TotalTokens: 5}
	case s.role:
		empty := ""
		c.Choices = []ChunkChoice{{Delta: Delta{Role: "assistant", Content: &empty}}}
	case s.fin:
		stop := "stop"
		c.Choices = []ChunkChoice{{FinishReason: &stop}}
	default:
		text := s.text
		c.Choices = []ChunkChoice{{Delta: Delta{Content: &text}}}
	}
	return c, nil
}

func (r *stReader) Close() error {
	r.p.closed.Add(1)
	cause := context.Cause(r.ctx)
	r.p.ctxErr.Store(&cause)
	return nil
}

var registerStOnce sync.Once

// newStreamProxy builds a proxy over the given stream providers (priority
// in order) with short stream timeouts.
func newStreamProxy(t *testing.T, ps ...*stProvider) *Proxy {
	t.Helper()
	registerStOnce.Do(func() {
		RegisterProviderType("st-test", func(cfg ProviderConfig) (Provider, error) {
			return stProviders.get(cfg.Name), nil
		})
	})
	var cfg Config
	for i, p := range ps {
		stProviders.put(p)
		cfg.Providers = append(cfg.Providers, ProviderConfig{
			Name: p.name, Type: "st-test", Priority: i + 1,
			FirstTokenTimeout: 2 * time.Second, StreamIdleTimeout: 5 * time.Second,
		})
	}
	px, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = px.Close() })
	return px
}

// stRegistry hands scripted providers to the factory by name.
type stRegistry struct {
	sync.Mutex
	m map[string]*stProvider
}

var stProviders = &stRegistry{m: map[string]*stProvider{}}

func (s *stRegistry) put(p *stProvider) {
	s.Lock()
	defer s.Unlock()
	s.m[p.name] = p
}

func (s *stRegistry) get(name string) *stProvider {
	s.Lock()
	defer s.Unlock()
	return s.m[name]
}

func streamReq(includeUsage bool) *ChatRequest {
	r := &ChatRequest{Model: "m", Stream: true, Messages: []Message{{Role: "user", Content: Text("hi")}}}
	if includeUsage {
		r.StreamOptions = &StreamOptions{IncludeUsage: true}
	}
	return r
}

func collect(t *testing.T, s *ChatStream) string {
	t.Helper()
	var out string
	for s.Next() {
		for _, ch := range s.Current().Choices {
			if ch.Delta.Content != nil {
				out += *ch.Delta.Content
			}
		}
	}
	return out
}

func TestStreamHappyPathDropsUnrequestedUsage(t *testing.T) {
	script := []stStep{{role: true}, {text: "Hel"}, {text: "lo"}, {fin: true}, {usage: true}}
	for _, include := range []bool{false, true} {
		p := &stProvider{name: "a", scripts: [][]stStep{script}}
		px := newStreamProxy(t, p)
		s, err := px.ChatCompletionStream(t.Context(), streamReq(include))
		require.NoError(t, err)
		var n int
		var sawUsage bool
		for s.Next() {
			n++
			if s.Current().Usage != nil {
				sawUsage = true
			}
		}
		require.NoError(t, s.Err())
		require.NoError(t, s.Close())
		require.NoError(t, s.Close(), "Close is idempotent")
		require.Equal(t, include, sawUsage, "usage chunk passed on only when asked")
		require.Equal(t, map[bool]int{false: 4, true: 5}[include], n)
		require.NotNil(t, s.Usage(), "the proxy learns the usage either way")
		require.Equal(t, 5, s.Usage().TotalTokens)
		require.Equal(t, "a", s.ProxyInfo().Provider)
		require.Equal(t, int32(1), p.closed.Load())
	}
}

func TestStreamFailsOverBeforeFirstToken(t *testing.T) {
	tests := []struct {
		name   string
		script []stStep
	}{
		{"error event right after 200", []stStep{{role: true}, {err: &Error{Kind: KindUnavailable, Message: "overloaded"}}}},
		{"rate limited before content", []stStep{{err: &Error{Kind: KindRateLimited, Status: 429}}}},
		{"cut before content", []stStep{{role: true}, {err: io.ErrUnexpectedEOF}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &stProvider{name: "a", scripts: [][]stStep{tt.script}}
			b := &stProvider{name: "b", scripts: [][]stStep{{{role: true}, {text: "from b"}, {fin: true}}}}
			px := newStreamProxy(t, a, b)
			s, err := px.ChatCompletionStream(t.Context(), streamReq(false))
			require.NoError(t, err)
			defer s.Close()
			require.Equal(t, "from b", collect(t, s))
			require.NoError(t, s.Err())
			require.Equal(t, "b", s.ProxyInfo().Provider)
			require.Equal(t, 2, s.ProxyInfo().AttemptNumber)
			require.Equal(t, int32(1), a.closed.Load(), "the failed stream was closed")
		})
	}
}

func TestStreamFirstTokenTimeoutFailsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &stProvider{name: "a", scripts: [][]stStep{{{role: true}, {block: true}}}}
		b := &stProvider{name: "b", scripts: [][]stStep{{{text: "fast"}, {fin: true}}}}
		px := newStreamProxy(t, a, b)
		start := time.Now()
		s, err := px.ChatCompletionStream(t.Context(), streamReq(false))
		require.NoError(t, err)
		defer s.Close()
		require.Equal(t, 2*time.Second, time.Since(start), "failed over exactly at first_token_timeout")
		require.Equal(t, "fast", collect(t, s))
		require.Equal(t, "b", s.ProxyInfo().Provider)
	})
}

func TestStreamAfterCommit(t *testing.T) {
	t.Run("cut mid-stream ends with an error", func(t *testing.T) {
		a := &stProvider{name: "a", scripts: [][]stStep{{{text: "one "}, {text: "two "}, {err: io.ErrUnexpectedEOF}}}}
		b := &stProvider{name: "b", scripts: [][]stStep{{{text: "never"}}}}
		px := newStreamProxy(t, a, b)
		s, err := px.ChatCompletionStream(t.Context(), streamReq(false))
		require.NoError(t, err)
		defer s.Close()
		require.Equal(t, "one two ", collect(t, s))
		e, ok := errors.AsType[*Error](s.Err())
		require.True(t, ok, "err = %v", s.Err())
		require.Equal(t, KindUnavailable, e.Kind)
		require.Equal(t, "a", e.Provider)
		require.Equal(t, int32(0), b.opens.Load(), "no failover after the commit")
	})
	t.Run("idle stall ends with a timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := &stProvider{name: "a", scripts: [][]stStep{{{text: "one "}, {block: true}}}}
			px := newStreamProxy(t, a)
			s, err := px.ChatCompletionStream(t.Context(), streamReq(false))
			require.NoError(t, err)
			defer s.Close()
			require.True(t, s.Next())
			start := time.Now()
			require.False(t, s.Next())
			require.Equal(t, 5*time.Second, time.Since(start), "ended at stream_idle_timeout")
			e, ok := errors.AsType[*Error](s.Err())
			require.True(t, ok)
			require.Equal(t, KindTimeout, e.Kind)
		})
	})
	t.Run("the idle timeout takes over from the first-token timeout at the commit", func(t *testing.T) {
		// One timer serves both timeouts: a commit just before the
		// first-token timeout (2s) must neither let it fire later nor
		// shorten the idle timeout (5s) of the first wait after it.
		synctest.Test(t, func(t *testing.T) {
			a := &stProvider{name: "a", scripts: [][]stStep{{{role: true}, {text: "late", sleep: 1900 * time.Millisecond}, {text: "on", sleep: 4900 * time.Millisecond}, {block: true}}}}
			px := newStreamProxy(t, a)
			s, err := px.ChatCompletionStream(t.Context(), streamReq(false))
			require.NoError(t, err)
			defer s.Close()
			require.True(t, s.Next()) // the role chunk
			require.True(t, s.Next()) // the committing chunk
			start := time.Now()
			require.True(t, s.Next(), "a gap under the idle timeout passes: %v", s.Err())
			require.Equal(t, 4900*time.Millisecond, time.Since(start))
			start = time.Now()
			require.False(t, s.Next())
			require.Equal(t, 5*time.Second, time.Since(start), "ended at stream_idle_timeout")
			e, ok := errors.AsType[*Error](s.Err())
			require.True(t, ok, "err = %v", s.Err())
			require.Equal(t, KindTimeout, e.Kind)
			require.Contains(t, e.Message, "idle timeout")
		})
	})
	t.Run("the first-token timeout still counts before the commit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := &stProvider{name: "a", scripts: [][]stStep{{{role: true}, {text: "too late", sleep: 2100 * time.Millisecond}}}}
			px := newStreamProxy(t, a)
			start := time.Now()
			_, err := px.ChatCompletionStream(t.Context(), streamReq(false))
			require.Equal(t, 2*time.Second, time.Since(start), "failed at first_token_timeout")
			e, ok := errors.AsType[*Error](err)
			require.True(t, ok, "err = %v", err)
			require.Equal(t, KindTimeout, e.Kind)
			require.Contains(t, e.Message, "first-token timeout")
			require.Equal(t, int32(1), a.closed.Load(), "the failed attempt was closed")
		})
	})
	t.Run("slow but steady chunks are fine", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := &stProvider{name: "a", scripts: [][]stStep{{{text: "a"}, {text: "b", sleep: 4 * time.Second}, {text: "c", sleep: 4 * time.Second}, {fin: true}}}}
			px := newStreamProxy(t, a)
			s, err := px.ChatCompletionStream(t.Context(), streamReq(false))
			require.NoError(t, err)
			defer s.Close()
			require.Equal(t, "abc", collect(t, s))
			require.NoError(t, s.Err())
		})
	})
	t.Run("close mid-stream cancels the upstream", func(t *testing.T) {
		a := &stProvider{name: "a", scripts: [][]stStep{{{text: "one"}, {text: "two"}, {block: true}}}}
		px := newStreamProxy(t, a)
		s, err := px.ChatCompletionStream(t.Context(), streamReq(false))
		require.NoError(t, err)
		require.True(t, s.Next())
		require.NoError(t, s.Close())
		require.Equal(t, int32(1), a.closed.Load())
		require.ErrorIs(t, *a.ctxErr.Load(), context.Canceled)
		require.False(t, s.Next())
	})
	t.Run("caller cancel ends the stream as canceled", func(t *testing.T) {
		a := &stProvider{name: "a", scripts: [][]stStep{{{text: "one"}, {block: true}}}}
		px := newStreamProxy(t, a)
		ctx, cancel := context.WithCancel(t.Context())
		s, err := px.ChatCompletionStream(ctx, streamReq(false))
		require.NoError(t, err)
		defer s.Close()
		require.True(t, s.Next())
		cancel()
		require.False(t, s.Next())
		e, ok := errors.AsType[*Error](s.Err())
		require.True(t, ok)
		require.Equal(t, KindCanceled, e.Kind)
	})
}

func TestStreamAllIterator(t *testing.T) {
	a := &stProvider{name: "a", scripts: [][]stStep{{{text: "x"}, {text: "y"}, {err: io.ErrUnexpectedEOF}}}}
	px := newStreamProxy(t, a)
	s, err := px.ChatCompletionStream(t.Context(), streamReq(false))
	require.NoError(t, err)
	defer s.Close()
	var text string
	var last error
	for c, err := range s.All() {
		if err != nil {
			last = err
			break
		}
		text += *c.Choices[0].Delta.Content
	}
	require.Equal(t, "xy", text)
	require.Error(t, last)
}

// wholeProvider cannot stream; the proxy turns its answer into one chunk.
type wholeProvider struct{}

func (wholeProvider) Name() string { return "whole" }

func (wholeProvider) ChatCompletion(ctx context.Context, req *ChatRequest) (*ChatResponse, error) {
	return &ChatResponse{ID: "x", Object: "chat.completion", Model: req.Model, Choices: []Choice{{
		Message: Message{Role: "assistant", Content: Text("all at once")}, FinishReason: "stop"}}}, nil
}

var registerWholeOnce sync.Once

func TestStreamFromNonStreamingProvider(t *testing.T) {
	registerWholeOnce.Do(func() {
		RegisterProviderType("whole-test", func(ProviderConfig) (Provider, error) { return wholeProvider{}, nil })
	})
	px, err := New(Config{Providers: []ProviderConfig{{Name: "whole", Type: "whole-test"}}})
	require.NoError(t, err)
	defer px.Close()
	s, err := px.ChatCompletionStream(t.Context(), streamReq(false))
	require.NoError(t, err)
	defer s.Close()
	require.True(t, s.Next())
	c := s.Current()
	require.Equal(t, "chat.completion.chunk", c.Object)
	require.Equal(t, "all at once", *c.Choices[0].Delta.Content)
	require.Equal(t, "stop", *c.Choices[0].FinishReason)
	require.False(t, s.Next())
	require.NoError(t, s.Err())
}

// reuseReader is a raw chunk reader that uses the freedom RawChatStreamer
// gives: one RawChunk and one buffer for every chunk, scribbled over at
// each Next.
type reuseReader struct {
	chunks []RawChunk
	buf    []byte
	cur    RawChunk
}

func (r *reuseReader) Next() (*RawChunk, error) {
	for i := range r.buf {
		r.buf[i] = '#'
	}
	if len(r.chunks) == 0 {
		return nil, io.EOF
	}
	r.cur, r.chunks = r.chunks[0], r.chunks[1:]
	r.buf = append(r.buf[:0], r.cur.Data...)
	r.cur.Data = r.buf
	return &r.cur, nil
}

func (r *reuseReader) Close() error { return nil }

// TestStreamPrimeCopiesWhatIsReadPast checks what openStream keeps of the
// chunks before the commit: a chunk the reader may overwrite by a later
// read is copied; the committing chunk, handed out before the reader is
// read again, is not.
func TestStreamPrimeCopiesWhatIsReadPast(t *testing.T) {
	const role, content = `{"model":"m","choices":[{"delta":{"role":"assistant"}}]}`, `{"model":"m","choices":[{"delta":{"content":"hi"}}]}`
	r := &reuseReader{chunks: []RawChunk{{Data: []byte(role)}, {Data: []byte(content), Content: true}}}
	u := &upstream{cfg: ProviderConfig{Name: "a", FirstTokenTimeout: time.Minute, StreamIdleTimeout: time.Minute}}
	s, err := openStream(t.Context(), u, func(context.Context, *upstream) (ChunkReader[*RawChunk], error) { return r, nil })
	require.NoError(t, err)
	s.stop = func() {}
	defer s.Close()
	require.True(t, s.Next())
	require.Equal(t, role, string(s.Current().Data), "the role chunk survived the read after it")
	require.NotSame(t, &r.cur, s.Current())
	require.True(t, s.Next())
	require.Same(t, &r.cur, s.Current(), "the committing chunk is the reader's own")
	require.Equal(t, content, string(s.Current().Data))
	require.False(t, s.Next())
	require.NoError(t, s.Err())
}
