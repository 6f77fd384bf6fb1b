package llmproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The "fake" provider type: every instance is scripted by the test that
// configured it. The script is found through the X-Fake-Id custom header of
// the provider's configuration, so tests share no provider state.

const fakeType = "fake"

var (
	fakeOnce  sync.Once
	fakes     sync.Map // id -> *fakeProv
	fakeSeq   atomic.Int64
	errFakeNo = errors.New("fake: no such script")
)

func registerFake() {
	fakeOnce.Do(func() {
		RegisterProviderType(fakeType, func(cfg ProviderConfig) (Provider, error) {
			v, ok := fakes.Load(cfg.CustomHeaders["X-Fake-Id"])
			if !ok {
				return nil, errFakeNo
			}
			f := v.(*fakeProv)
			f.mu.Lock()
			f.name = cfg.Name
			f.mu.Unlock()
			switch {
			case f.chatOnly:
				return chatOnlyFake{f}, nil
			case f.lister:
				return listerFake{f}, nil
			}
			return f, nil
		})
	})
}

// fakeStep is one scripted result of a call.
type fakeStep struct {
	err   error // returned as is when set
	block bool  // wait for the call's context to end, return ctx.Err()
}

var (
	fakeOK    = fakeStep{}
	fakeBlock = fakeStep{block: true}
)

func fakeFail(err error) fakeStep { return fakeStep{err: err} }

// fakeRecorder logs the order in which providers are called.
type fakeRecorder struct {
	mu    sync.Mutex
	names []string
}

func (r *fakeRecorder) add(name string) {
	r.mu.Lock()
	r.names = append(r.names, name)
	r.mu.Unlock()
}

func (r *fakeRecorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.names...)
}

// fakeProv is a scripted provider: each call takes the next step; the last
// step repeats once the script is used up.
type fakeProv struct {
	chatOnly bool // no Completion, Embeddings or ListModels
	lister   bool // has ListModels
	models   []Model
	listErr  error
	rec      *fakeRecorder

	mu      sync.Mutex
	name    string
	steps   []fakeStep
	calls   int
	times   []time.Time // when each call started
	ctxErrs []error     // the call context's error when a blocking call ended
}

// newFake configures a fake provider and returns its configuration (Type,
// Name and the script id set; the caller adjusts the rest) and the fake.
func newFake(t testing.TB, name string, steps ...fakeStep) (ProviderConfig, *fakeProv) {
	t.Helper()
	registerFake()
	if len(steps) == 0 {
		steps = []fakeStep{fakeOK}
	}
	f := &fakeProv{steps: steps}
	id := strconv.FormatInt(fakeSeq.Add(1), 10)
	fakes.Store(id, f)
	t.Cleanup(func() { fakes.Delete(id) })
	return ProviderConfig{Name: name, Type: fakeType, CustomHeaders: map[string]string{"X-Fake-Id": id}}, f
}

func (f *fakeProv) Name() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.name
}

// next records a call and returns its fakeStep.
func (f *fakeProv) next() (fakeStep, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.steps[min(f.calls, len(f.steps)-1)]
	f.calls++
	f.times = append(f.times, time.Now())
	if f.rec != nil {
		f.rec.add(f.name)
	}
	return s, f.name
}

func (f *fakeProv) run(ctx context.Context) (string, error) {
	s, name := f.next()
	if s.block {
		<-ctx.Done()
		f.mu.Lock()
		f.ctxErrs = append(f.ctxErrs, ctx.Err())
		f.mu.Unlock()
		return "", ctx.Err()
	}
	if s.err != nil {
		return "", s.err
	}
	return "from " + name, nil
}

func (f *fakeProv) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeProv) Times() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.times...)
}

func (f *fakeProv) CtxErrs() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.ctxErrs...)
}

func (f *fakeProv) ChatCompletion(ctx context.Context, req *ChatRequest) (*ChatResponse, error) {
	text, err := f.run(ctx)
	if err != nil {
		return nil, err
	}
	return &ChatResponse{
		ID: "chatcmpl-fake", Object: "chat.completion", Model: req.Model,
		Choices: []Choice{{Message: Message{Role: "assistant", Content: Text(text)}, FinishReason: "stop"}},
	}, nil
}

func (f *fakeProv) Completion(ctx context.Context, req *CompletionRequest) (*CompletionResponse, error) {
	text, err := f.run(ctx)
	if err != nil {
		return nil, err
	}
	return &CompletionResponse{
		ID: "cmpl-fake", Object: "text_completion", Model: req.Model,
		Choices: []CompletionChoice{{Text: text, FinishReason: "stop"}},
	}, nil
}

func (f *fakeProv) Embeddings(ctx context.Context, req *EmbeddingRequest) (*EmbeddingResponse, error) {
	text, err := f.run(ctx)
	if err != nil {
		return nil, err
	}
	return &EmbeddingResponse{
		Object: "list", Model: req.Model,
		Data:  []Embedding{{Object: "embedding", Vector: []float32{1, 0.5}}},
		Extra: Extra{"answered_by": json.RawMessage(strconv.Quote(text))},
	}, nil
}

// chatOnlyFake answers chat completions only.
type chatOnlyFake struct{ f *fakeProv }

func (c chatOnlyFake) Name() string { return c.f.Name() }
func (c chatOnlyFake) ChatCompletion(ctx context.Context, req *ChatRequest) (*ChatResponse, error) {
	return c.f.ChatCompletion(ctx, req)
}

// listerFake also lists its models.
type listerFake struct{ *fakeProv }

func (l listerFake) ListModels(ctx context.Context) ([]Model, error) {
	if l.listErr != nil {
		return nil, l.listErr
	}
	return l.models, nil
}

// newProxy builds a proxy from providers and closes it when the test ends.
func newFakeProxy(t testing.TB, requestTimeout time.Duration, providers ...ProviderConfig) *Proxy {
	t.Helper()
	p, err := New(Config{RequestTimeout: requestTimeout, Providers: providers})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func fakeChatReq(model string) *ChatRequest {
	return &ChatRequest{Model: model, Messages: []Message{{Role: "user", Content: Text("hi")}}}
}

func fakeAnswer(t testing.TB, resp *ChatResponse) string {
	t.Helper()
	require.NotNil(t, resp)
	require.Len(t, resp.Choices, 1)
	return resp.Choices[0].Message.Content.String()
}

// requireErrKind asserts err is an *Error of kind k and returns it.
func requireErrKind(t testing.TB, err error, k ErrorKind) *Error {
	t.Helper()
	require.Error(t, err)
	e, isErr := errors.AsType[*Error](err)
	require.Truef(t, isErr, "error %v (%T) is not an *Error", err, err)
	require.Equalf(t, k, e.Kind, "kind of %v", err)
	return e
}

func TestRouterPriorityOrder(t *testing.T) {
	rec := &fakeRecorder{}
	unavailable := fakeFail(&Error{Kind: KindUnavailable, Status: 503})
	c, fc := newFake(t, "c", fakeOK)
	c.Priority = 3
	a, fa := newFake(t, "a", unavailable)
	// a's priority is left at 0, which means the default, 1.
	d, fd := newFake(t, "d", unavailable)
	d.Priority = 2
	b, fb := newFake(t, "b", unavailable)
	b.Priority = 1
	for _, f := range []*fakeProv{fa, fb, fc, fd} {
		f.rec = rec
	}
	p := newFakeProxy(t, 0, c, a, d, b)

	resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
	require.NoError(t, err)
	assert.Equal(t, "from c", fakeAnswer(t, resp))
	// Priority 1 first; a and b share it, in the order load balancing
	// picks (see balance_test.go).
	order := rec.get()
	require.Len(t, order, 4)
	assert.ElementsMatch(t, []string{"a", "b"}, order[:2])
	assert.Equal(t, []string{"d", "c"}, order[2:])
	assert.Equal(t, "c", resp.ProxyInfo.Provider)
	assert.Equal(t, 4, resp.ProxyInfo.AttemptNumber)
}

func TestRouterModelMatching(t *testing.T) {
	exact, fExact := newFake(t, "exact")
	exact.Models = []string{"gpt-4o"}
	glob, fGlob := newFake(t, "glob")
	glob.Models = []string{"claude-*", "gpt-4*"}
	glob.Priority = 2
	anyModel, fAny := newFake(t, "any")
	anyModel.Priority = 3
	p := newFakeProxy(t, 0, anyModel, glob, exact)

	for _, tc := range []struct{ model, want string }{
		{"gpt-4o", "exact"},      // exact match at priority 1
		{"gpt-4-turbo", "glob"},  // only the glob and the catch-all serve it
		{"gpt-4", "glob"},        // a glob's * matches the empty string
		{"claude-3", "glob"},     // any of a provider's patterns will do
		{"gpt-4o-mini", "glob"},  // exact names do not match prefixes
		{"llama-3", "any"},       // an empty model list serves every model
		{"gpt-3.5-turbo", "any"}, // gpt-4* does not match gpt-3.5
	} {
		resp, err := p.ChatCompletion(t.Context(), fakeChatReq(tc.model))
		require.NoError(t, err, tc.model)
		assert.Equal(t, tc.want, resp.ProxyInfo.Provider, tc.model)
		assert.Equal(t, 1, resp.ProxyInfo.AttemptNumber, tc.model)
	}
	assert.Equal(t, 1, fExact.Calls())
	assert.Equal(t, 4, fGlob.Calls())
	assert.Equal(t, 2, fAny.Calls())
}

func TestRouterUnknownModel(t *testing.T) {
	a, fa := newFake(t, "a")
	a.Models = []string{"gpt-4*", "o1"}
	p := newFakeProxy(t, 0, a)

	_, err := p.ChatCompletion(t.Context(), fakeChatReq("llama-3"))
	e := requireErrKind(t, err, KindNotFound)
	assert.Equal(t, 404, e.HTTPStatus())
	assert.Equal(t, "model_not_found", e.Code)
	assert.Equal(t, "model", e.Param)
	assert.Contains(t, e.Message, "llama-3")
	assert.Zero(t, fa.Calls())
}

func TestRouterFailoverAfterRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		primary, fp := newFake(t, "primary",
			fakeFail(&Error{Kind: KindUnavailable, Status: 502, Message: "bad gateway"}))
		primary.MaxRetries = 2
		backup, fb := newFake(t, "backup", fakeOK)
		backup.Priority = 2
		p := newFakeProxy(t, 0, primary, backup)

		ctx := WithRequestID(t.Context(), "req-from-caller")
		resp, err := p.ChatCompletion(ctx, fakeChatReq("m"))
		require.NoError(t, err)
		assert.Equal(t, "from backup", fakeAnswer(t, resp))
		assert.Equal(t, 3, fp.Calls(), "one attempt and max_retries retries on the primary")
		assert.Equal(t, 1, fb.Calls())
		require.NotNil(t, resp.ProxyInfo)
		assert.Equal(t, "backup", resp.ProxyInfo.Provider)
		assert.Equal(t, 4, resp.ProxyInfo.AttemptNumber, "attempts count across providers")
		assert.Equal(t, "req-from-caller", resp.ProxyInfo.RequestID)
		assert.Positive(t, resp.ProxyInfo.ResponseTime, "the backoff sleeps took fake time")
	})
}

func TestRouterRequestIDGenerated(t *testing.T) {
	a, _ := newFake(t, "a")
	p := newFakeProxy(t, 0, a)
	resp1, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
	require.NoError(t, err)
	resp2, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
	require.NoError(t, err)
	id := resp1.ProxyInfo.RequestID
	assert.Regexp(t, `^req_[0-9a-f]{24}$`, id)
	assert.NotEqual(t, id, resp2.ProxyInfo.RequestID)
}

func TestRouterRetryAfterHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, fa := newFake(t, "a",
			fakeFail(&Error{Kind: KindRateLimited, Status: 429, RetryAfter: 2 * time.Second}), fakeOK)
		a.MaxRetries = 1
		a.RetryDelay = 10 * time.Millisecond // Retry-After wins over the backoff
		b, fb := newFake(t, "b")
		b.Priority = 2
		p := newFakeProxy(t, time.Minute, a, b)

		start := time.Now()
		resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
		elapsed := time.Since(start)
		require.NoError(t, err)
		assert.Equal(t, "a", resp.ProxyInfo.Provider)
		assert.Equal(t, 2, resp.ProxyInfo.AttemptNumber)
		assert.GreaterOrEqual(t, elapsed, 2*time.Second)
		assert.Less(t, elapsed, 3*time.Second)
		assert.Zero(t, fb.Calls())
		times := fa.Times()
		require.Len(t, times, 2)
		assert.Equal(t, 2*time.Second, times[1].Sub(times[0]))
	})
}

func TestRouterRetryAfterBeyondDeadlineFailsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, fa := newFake(t, "a",
			fakeFail(&Error{Kind: KindRateLimited, Status: 429, RetryAfter: 30 * time.Second}), fakeOK)
		a.MaxRetries = 3
		b, fb := newFake(t, "b")
		b.Priority = 2
		p := newFakeProxy(t, 10*time.Second, a, b)

		start := time.Now()
		resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
		require.NoError(t, err)
		assert.Zero(t, time.Since(start), "no wait for a Retry-After the deadline cannot fit")
		assert.Equal(t, "b", resp.ProxyInfo.Provider)
		assert.Equal(t, 1, fa.Calls())
		assert.Equal(t, 1, fb.Calls())
	})
}

func TestRouterBackoffWithJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		unavailable := fakeFail(&Error{Kind: KindUnavailable, Status: 503})
		// Several rounds, as the jitter is random.
		for round := range 20 {
			a, fa := newFake(t, "a", unavailable, unavailable, unavailable, fakeOK)
			a.MaxRetries = 3
			a.RetryDelay = time.Second
			p := newFakeProxy(t, 0, a)

			resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
			require.NoError(t, err)
			assert.Equal(t, 4, resp.ProxyInfo.AttemptNumber)
			times := fa.Times()
			require.Len(t, times, 4)
			for i, want := range []struct{ lo, hi time.Duration }{
				{500 * time.Millisecond, time.Second},
				{time.Second, 2 * time.Second},
				{2 * time.Second, 4 * time.Second},
			} {
				d := times[i+1].Sub(times[i])
				assert.GreaterOrEqualf(t, d, want.lo, "round %d, wait before retry %d", round, i+1)
				assert.Lessf(t, d, want.hi, "round %d, wait before retry %d", round, i+1)
			}
		}
	})
}

func TestRouterBackoffCapped(t *testing.T) {
	for n := range uint(70) {
		d := retryDelay(n, &Error{Kind: KindUnavailable}, time.Second)
		assert.LessOrEqual(t, d, maxBackoff, "retry %d", n)
		assert.GreaterOrEqual(t, d, min(maxBackoff/2, time.Second<<min(n, 16)/2), "retry %d", n)
	}
	assert.Equal(t, 3*time.Second, retryDelay(5, &Error{RetryAfter: 3 * time.Second}, time.Second))
}

func TestRouterInvalidRequestReturnsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, fa := newFake(t, "a",
			fakeFail(&Error{Kind: KindInvalidRequest, Status: 400, Param: "tools", Message: "bad tools"}), fakeOK)
		a.MaxRetries = 3
		b, fb := newFake(t, "b")
		b.Priority = 2
		p := newFakeProxy(t, 0, a, b)

		start := time.Now()
		_, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
		e := requireErrKind(t, err, KindInvalidRequest)
		assert.Zero(t, time.Since(start))
		assert.Equal(t, "bad tools", e.Message)
		assert.Equal(t, "tools", e.Param)
		assert.Equal(t, "a", e.Provider)
		assert.Equal(t, 400, e.HTTPStatus())
		assert.Equal(t, 1, fa.Calls(), "not retried")
		assert.Zero(t, fb.Calls(), "no failover")
	})
}

func TestRouterTimeoutFailsOverWithoutRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, fa := newFake(t, "a", fakeBlock)
		a.Timeout = time.Second
		a.MaxRetries = 3
		b, fb := newFake(t, "b")
		b.Priority = 2
		p := newFakeProxy(t, time.Minute, a, b)

		start := time.Now()
		resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
		require.NoError(t, err)
		assert.Equal(t, time.Second, time.Since(start))
		assert.Equal(t, "b", resp.ProxyInfo.Provider)
		assert.Equal(t, 2, resp.ProxyInfo.AttemptNumber)
		assert.Equal(t, 1, fa.Calls(), "a timeout is not retried on the same provider")
		assert.Equal(t, []error{context.DeadlineExceeded}, fa.CtxErrs())
		assert.Equal(t, 1, fb.Calls())
	})
}

func TestRouterTimeoutLastCandidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, fa := newFake(t, "a", fakeBlock)
		a.Timeout = time.Second
		a.MaxRetries = 3
		p := newFakeProxy(t, time.Minute, a)

		start := time.Now()
		_, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
		e := requireErrKind(t, err, KindTimeout)
		assert.Equal(t, time.Second, time.Since(start))
		assert.Equal(t, "a", e.Provider)
		assert.Equal(t, 504, e.HTTPStatus())
		assert.Equal(t, 1, fa.Calls())
	})
}

func TestRouterConnectErrorFailsOverAtOnce(t *testing.T) {
	dial := func() error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	for _, tc := range []struct {
		name string
		err  func() error
	}{
		{"plain", dial},
		{"TransportError", func() error { return TransportError(context.Background(), "a", dial()) }},
		{"Error with Err", func() error { return &Error{Kind: KindUnavailable, Message: "refused", Err: dial()} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, fa := newFake(t, "a", fakeFail(tc.err()))
				a.MaxRetries = 3
				b, fb := newFake(t, "b")
				b.Priority = 2
				p := newFakeProxy(t, 0, a, b)

				start := time.Now()
				resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
				require.NoError(t, err)
				assert.Zero(t, time.Since(start), "no backoff sleep")
				assert.Equal(t, 1, fa.Calls(), "a refused connection is not retried when there is another candidate")
				assert.Equal(t, 1, fb.Calls())
				assert.Equal(t, "b", resp.ProxyInfo.Provider)
				assert.Equal(t, 2, resp.ProxyInfo.AttemptNumber)
			})
		})
	}
}

func TestRouterConnectErrorRetriedOnLastCandidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, fa := newFake(t, "a", fakeFail(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}))
		a.MaxRetries = 2
		p := newFakeProxy(t, 0, a)

		_, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
		e := requireErrKind(t, err, KindUnavailable)
		assert.True(t, IsConnectError(e))
		assert.Equal(t, "a", e.Provider)
		assert.Equal(t, 3, fa.Calls(), "with nowhere to fail over to, the retries are used")
	})
}

func TestRouterRequestTimeoutBoundsWholeRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, fa := newFake(t, "a", fakeBlock)
		b, fb := newFake(t, "b", fakeBlock)
		b.Priority = 2
		p := newFakeProxy(t, 5*time.Second, a, b) // provider timeouts default to 60 s

		start := time.Now()
		_, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
		e := requireErrKind(t, err, KindTimeout)
		assert.Equal(t, 5*time.Second, time.Since(start))
		assert.Contains(t, e.Message, "request timeout")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 1, fa.Calls())
		assert.Zero(t, fb.Calls(), "no time was left for the backup")
	})
}

func TestRouterRequestTimeoutDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, fa := newFake(t, "a", fakeFail(&Error{Kind: KindUnavailable, Status: 503}))
		a.MaxRetries = 10
		a.RetryDelay = 4 * time.Second
		p := newFakeProxy(t, 5*time.Second, a)

		start := time.Now()
		_, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
		requireErrKind(t, err, KindTimeout)
		assert.Equal(t, 5*time.Second, time.Since(start), "the sleep ends with the request timeout")
		assert.Equal(t, 2, fa.Calls())
	})
}

func TestRouterCallerCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, fa := newFake(t, "a", fakeBlock)
		a.MaxRetries = 3
		b, fb := newFake(t, "b")
		b.Priority = 2
		p := newFakeProxy(t, 0, a, b)

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := p.ChatCompletion(ctx, fakeChatReq("m"))
			done <- err
		}()
		synctest.Wait() // the call is now blocked in provider a
		require.Equal(t, 1, fa.Calls())
		start := time.Now()
		cancel()
		err := <-done
		assert.Zero(t, time.Since(start), "the cancellation ends the request at once")
		e := requireErrKind(t, err, KindCanceled)
		assert.Equal(t, 499, e.HTTPStatus())
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, []error{context.Canceled}, fa.CtxErrs(), "the provider saw its context canceled")
		assert.Equal(t, 1, fa.Calls())
		assert.Zero(t, fb.Calls())
	})
}

// TestRouterCanceledBeforeAttempt checks that a request whose context has
// already ended calls no provider, with retries (through retry-go) and
// without (the single attempt made without it).
func TestRouterCanceledBeforeAttempt(t *testing.T) {
	for _, retries := range []int{0, 2} {
		a, fa := newFake(t, "a")
		a.MaxRetries = retries
		p := newFakeProxy(t, time.Minute, a)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := p.ChatCompletion(ctx, fakeChatReq("m"))
		requireErrKind(t, err, KindCanceled)
		assert.Zero(t, fa.Calls(), "max_retries %d: no provider is called once the request is canceled", retries)
	}
}

func TestRouterCallerCancelDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, fa := newFake(t, "a", fakeFail(&Error{Kind: KindUnavailable, Status: 503}))
		a.MaxRetries = 3
		a.RetryDelay = time.Minute
		p := newFakeProxy(t, 0, a)

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := p.ChatCompletion(ctx, fakeChatReq("m"))
			done <- err
		}()
		synctest.Wait() // sleeping before the first retry
		start := time.Now()
		cancel()
		requireErrKind(t, <-done, KindCanceled)
		assert.Zero(t, time.Since(start))
		assert.Equal(t, 1, fa.Calls())
	})
}

func TestRouterPlainErrorClassified(t *testing.T) {
	boom := errors.New("boom")
	a, fa := newFake(t, "custom", fakeFail(fmt.Errorf("custom provider: %w", boom)))
	p := newFakeProxy(t, 0, a)

	_, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
	e := requireErrKind(t, err, KindUnavailable)
	assert.Equal(t, "custom", e.Provider)
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, 502, e.HTTPStatus())
	assert.Contains(t, e.Error(), "provider custom")
	assert.Equal(t, 1, fa.Calls())
}

func TestRouterAllCandidatesFailReturnsLastError(t *testing.T) {
	a, _ := newFake(t, "a", fakeFail(&Error{Kind: KindAuth, Status: 401, Message: "bad key"}))
	b, _ := newFake(t, "b", fakeFail(&Error{Kind: KindQuotaExceeded, Status: 429, Code: "insufficient_quota"}))
	b.Priority = 2
	p := newFakeProxy(t, 0, a, b)

	_, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
	e := requireErrKind(t, err, KindQuotaExceeded)
	assert.Equal(t, "b", e.Provider)
	assert.Equal(t, "insufficient_quota", e.Code)
}

func TestRouterValidatesRequestFirst(t *testing.T) {
	a, fa := newFake(t, "a")
	p := newFakeProxy(t, 0, a)
	_, err := p.ChatCompletion(t.Context(), &ChatRequest{Model: "m"})
	e := requireErrKind(t, err, KindInvalidRequest)
	assert.Equal(t, "messages", e.Param)
	_, err = p.Completion(t.Context(), &CompletionRequest{Model: "m"})
	requireErrKind(t, err, KindInvalidRequest)
	_, err = p.Embeddings(t.Context(), &EmbeddingRequest{Model: "m"})
	requireErrKind(t, err, KindInvalidRequest)
	assert.Zero(t, fa.Calls())
}

func TestRouterConcurrentRequests(t *testing.T) {
	a, fa := newFake(t, "a", fakeFail(&Error{Kind: KindUnavailable}))
	a.RetryDelay = time.Nanosecond
	b, fb := newFake(t, "b")
	b.Priority = 2
	// A breaker that stays closed, so that every request tries a.
	p, err := New(Config{CircuitBreakerThreshold: 1000, Providers: []ProviderConfig{a, b}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
			if assert.NoError(t, err) {
				assert.Equal(t, "b", resp.ProxyInfo.Provider)
				assert.Equal(t, 2, resp.ProxyInfo.AttemptNumber)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 16, fa.Calls())
	assert.Equal(t, 16, fb.Calls())
}

func TestRouterSharedErrorValueNotMutated(t *testing.T) {
	// A provider type may return one *Error value from every instance; each
	// failure must still name the provider that failed.
	overloaded := &Error{Kind: KindUnavailable, Status: 503, Message: "overloaded"}
	a, _ := newFake(t, "a", fakeFail(overloaded))
	b, _ := newFake(t, "b", fakeFail(overloaded))
	b.Priority = 2
	p := newFakeProxy(t, 0, a, b)

	_, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
	e := requireErrKind(t, err, KindUnavailable)
	assert.Equal(t, "b", e.Provider)
	assert.Empty(t, overloaded.Provider, "the provider's value is left alone")
}
