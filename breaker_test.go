package llmproxy

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sony/gobreaker/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// healthOf returns the health of the named provider.
func healthOf(t testing.TB, p *Proxy, name string) ProviderHealth {
	t.Helper()
	for _, h := range p.Health() {
		if h.Name == name {
			return h
		}
	}
	t.Fatalf("no health for provider %q", name)
	return ProviderHealth{}
}

func TestBreakerStates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var changes []string
		b := newBreaker("x", 2, 30*time.Second, func(from, to BreakerState) {
			changes = append(changes, string(from)+">"+string(to))
		})
		fail := &Error{Kind: KindUnavailable, Status: 503}

		for range 2 {
			done, ok := b.allow()
			require.True(t, ok)
			done(fail)
		}
		assert.Equal(t, BreakerOpen, b.state(), "open after threshold consecutive failures")
		_, ok := b.allow()
		assert.False(t, ok, "an open breaker lets nothing through")

		time.Sleep(30 * time.Second)
		assert.Equal(t, BreakerOpen, b.state(), "open for the whole timeout")
		time.Sleep(time.Nanosecond)
		assert.Equal(t, BreakerHalfOpen, b.state(), "half-open once the timeout has passed")

		trial, ok := b.allow()
		require.True(t, ok, "one trial request passes")
		_, ok = b.allow()
		assert.False(t, ok, "trials are limited while one is in flight")
		trial(nil)
		assert.Equal(t, BreakerClosed, b.state(), "a successful trial closes the breaker")

		// A failed trial opens it again.
		for range 2 {
			done, _ := b.allow()
			done(fail)
		}
		time.Sleep(31 * time.Second)
		trial, ok = b.allow()
		require.True(t, ok)
		trial(fail)
		assert.Equal(t, BreakerOpen, b.state())
		assert.Equal(t, []string{
			"closed>open", "open>half-open", "half-open>closed",
			"closed>open", "open>half-open", "half-open>open",
		}, changes)
	})
}

func TestBreakerIgnoresCallerAndRequestFaults(t *testing.T) {
	b := newBreaker("x", 1, time.Minute, nil)
	for _, err := range []error{
		&Error{Kind: KindCanceled},
		&Error{Kind: KindInvalidRequest, Status: 400},
		&Error{Kind: KindInternal},
		context.Canceled,
	} {
		done, ok := b.allow()
		require.True(t, ok)
		done(err)
		assert.Equal(t, BreakerClosed, b.state(), "%v does not count", err)
	}
	done, _ := b.allow()
	done(&Error{Kind: KindTimeout})
	assert.Equal(t, BreakerOpen, b.state(), "a timeout counts")
}

func TestBreakerOpensAndRecoversThroughRouter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		unavailable := fakeFail(&Error{Kind: KindUnavailable, Status: 503})
		a, fa := newFake(t, "a", unavailable, unavailable, unavailable, fakeOK)
		b, fb := newFake(t, "b")
		b.Priority = 2
		p, err := New(Config{CircuitBreakerThreshold: 3, CircuitBreakerTimeout: 30 * time.Second,
			Providers: []ProviderConfig{a, b}})
		require.NoError(t, err)
		defer p.Close()
		start := time.Now()

		for i := range 3 {
			resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
			require.NoError(t, err)
			assert.Equal(t, "b", resp.ProxyInfo.Provider, "request %d", i)
			assert.Equal(t, 2, resp.ProxyInfo.AttemptNumber)
		}
		h := healthOf(t, p, "a")
		assert.Equal(t, BreakerOpen, h.Breaker)
		assert.Equal(t, HealthUnhealthy, h.Status)
		assert.Contains(t, h.Reason, "circuit breaker open")
		assert.Contains(t, h.Reason, "unavailable (503)")
		assert.Equal(t, start, h.Since)

		// While the breaker is open, a gets nothing.
		time.Sleep(10 * time.Second)
		for range 5 {
			resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
			require.NoError(t, err)
			assert.Equal(t, "b", resp.ProxyInfo.Provider)
			assert.Equal(t, 1, resp.ProxyInfo.AttemptNumber, "no attempt on a")
		}
		assert.Equal(t, 3, fa.Calls())
		assert.Equal(t, 8, fb.Calls())

		// After the timeout the breaker half-opens and a's trial succeeds.
		time.Sleep(20*time.Second + time.Millisecond)
		h = healthOf(t, p, "a")
		assert.Equal(t, BreakerHalfOpen, h.Breaker)
		assert.Equal(t, HealthDegraded, h.Status)
		resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
		require.NoError(t, err)
		assert.Equal(t, "a", resp.ProxyInfo.Provider, "the trial request goes to a")
		h = healthOf(t, p, "a")
		assert.Equal(t, BreakerClosed, h.Breaker)
		assert.Equal(t, HealthHealthy, h.Status)
		assert.Equal(t, start.Add(30*time.Second+time.Millisecond), h.Since, "time of the last change")
		assert.Equal(t, 4, fa.Calls())
	})
}

func TestBreakerNotCountingCancellationsAndInvalidRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, fa := newFake(t, "a",
			fakeFail(&Error{Kind: KindInvalidRequest, Status: 400, Message: "bad"}),
			fakeFail(&Error{Kind: KindInvalidRequest, Status: 422, Message: "bad"}),
			fakeBlock, fakeBlock)
		p, err := New(Config{CircuitBreakerThreshold: 1, Providers: []ProviderConfig{a}})
		require.NoError(t, err)
		defer p.Close()

		for range 2 {
			_, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
			requireErrKind(t, err, KindInvalidRequest)
		}
		for range 2 {
			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				synctest.Wait()
				cancel()
			}()
			_, err := p.ChatCompletion(ctx, fakeChatReq("m"))
			requireErrKind(t, err, KindCanceled)
		}
		assert.Equal(t, 4, fa.Calls())
		h := healthOf(t, p, "a")
		assert.Equal(t, BreakerClosed, h.Breaker)
		assert.Equal(t, HealthHealthy, h.Status)
		assert.Zero(t, h.ConsecutiveFailures)
		assert.Zero(t, h.Attempts, "neither counts in the error rate either")
	})
}

func TestBreakerStreamOutcomeCountsWhenStreamEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cut := &Error{Kind: KindUnavailable, Message: "connection reset"}
		sp := &stProvider{name: "brk-stream", scripts: [][]stStep{
			{{text: "Hel"}, {text: "lo"}, {err: cut}},
			{{text: "ok"}},
		}}
		p := newStreamProxy(t, sp)

		s, err := p.ChatCompletionStream(t.Context(), streamReq(false))
		require.NoError(t, err)
		assert.Zero(t, healthOf(t, p, "brk-stream").Attempts, "the outcome waits for the end of the stream")
		collect(t, s)
		requireErrKind(t, s.Err(), KindUnavailable)
		h := healthOf(t, p, "brk-stream")
		assert.Equal(t, 1, h.ConsecutiveFailures, "a stream cut after the commit counts when it ends")
		assert.Equal(t, 1, h.Attempts)
		require.NoError(t, s.Close())
		assert.Equal(t, 1, healthOf(t, p, "brk-stream").Attempts, "reported once")

		s, err = p.ChatCompletionStream(t.Context(), streamReq(false))
		require.NoError(t, err)
		for s.Next() {
		}
		require.NoError(t, s.Err())
		require.NoError(t, s.Close())
		h = healthOf(t, p, "brk-stream")
		assert.Zero(t, h.ConsecutiveFailures, "a clean end is a success")
		assert.Equal(t, 2, h.Attempts)

		// A stream the caller abandons is not held against the provider.
		sp.mu.Lock()
		sp.scripts = [][]stStep{{{text: "a"}, {block: true}}}
		sp.mu.Unlock()
		ctx, cancel := context.WithCancel(t.Context())
		s, err = p.ChatCompletionStream(ctx, streamReq(false))
		require.NoError(t, err)
		require.True(t, s.Next())
		cancel()
		assert.False(t, s.Next())
		requireErrKind(t, s.Err(), KindCanceled)
		require.NoError(t, s.Close())
		h = healthOf(t, p, "brk-stream")
		assert.Zero(t, h.ConsecutiveFailures)
		assert.Equal(t, 2, h.Attempts)
	})
}

func TestBreakerHalfOpenStreamHoldsTrialUntilItEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		down := &Error{Kind: KindUnavailable, Status: 503}
		sp := &stProvider{name: "brk-trial", scripts: [][]stStep{
			{{err: down}},
			{{text: "trial"}, {sleep: time.Second}, {text: "!"}},
		}}
		registerStOnce.Do(func() {
			RegisterProviderType("st-test", func(cfg ProviderConfig) (Provider, error) {
				return stProviders.get(cfg.Name), nil
			})
		})
		stProviders.put(sp)
		b, fb := newFake(t, "brk-backup")
		b.Priority = 2
		p, err := New(Config{CircuitBreakerThreshold: 1, CircuitBreakerTimeout: 10 * time.Second,
			Providers: []ProviderConfig{{Name: sp.name, Type: "st-test"}, b}})
		require.NoError(t, err)
		defer p.Close()

		s, err := p.ChatCompletionStream(t.Context(), streamReq(false))
		require.NoError(t, err)
		assert.Equal(t, "brk-backup", s.ProxyInfo().Provider)
		require.NoError(t, s.Close())
		require.Equal(t, BreakerOpen, healthOf(t, p, sp.name).Breaker)

		time.Sleep(10*time.Second + time.Millisecond)
		trial, err := p.ChatCompletionStream(t.Context(), streamReq(false))
		require.NoError(t, err)
		assert.Equal(t, sp.name, trial.ProxyInfo().Provider, "the half-open breaker's trial")
		// While the trial stream runs, other requests go to the backup.
		resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
		require.NoError(t, err)
		assert.Equal(t, "brk-backup", resp.ProxyInfo.Provider)
		assert.Equal(t, BreakerHalfOpen, healthOf(t, p, sp.name).Breaker)

		assert.Equal(t, "trial!", collect(t, trial))
		require.NoError(t, trial.Close())
		assert.Equal(t, BreakerClosed, healthOf(t, p, sp.name).Breaker, "the trial's clean end closes the breaker")
		assert.Equal(t, 2, fb.Calls())
	})
}

// recordingBreaker is a CircuitBreaker that records what the router asks.
type recordingBreaker struct {
	mu       sync.Mutex
	settings gobreaker.Settings
	open     bool
	outcomes []error
}

func (b *recordingBreaker) Allow() (func(error), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open {
		return nil, gobreaker.ErrOpenState
	}
	return func(err error) {
		b.mu.Lock()
		b.outcomes = append(b.outcomes, err)
		b.mu.Unlock()
	}, nil
}

func (b *recordingBreaker) State() gobreaker.State {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open {
		return gobreaker.StateOpen
	}
	return gobreaker.StateClosed
}

func TestBreakerSubstituted(t *testing.T) {
	breakers := map[string]*recordingBreaker{}
	a, fa := newFake(t, "a", fakeFail(&Error{Kind: KindUnavailable, Status: 503}), fakeOK)
	b, fb := newFake(t, "b")
	b.Priority = 2
	p, err := New(Config{CircuitBreakerThreshold: 7, CircuitBreakerTimeout: 42 * time.Second, Providers: []ProviderConfig{a, b}},
		WithCircuitBreakers(func(st gobreaker.Settings) CircuitBreaker {
			rb := &recordingBreaker{settings: st}
			breakers[st.Name] = rb
			return rb
		}))
	require.NoError(t, err)
	defer p.Close()

	ra := breakers["a"]
	require.NotNil(t, ra)
	assert.Equal(t, 42*time.Second, ra.settings.Timeout)
	assert.EqualValues(t, breakerTrials, ra.settings.MaxRequests)
	assert.False(t, ra.settings.ReadyToTrip(gobreaker.Counts{ConsecutiveFailures: 6}))
	assert.True(t, ra.settings.ReadyToTrip(gobreaker.Counts{ConsecutiveFailures: 7}))
	assert.True(t, ra.settings.IsExcluded(&Error{Kind: KindCanceled}))
	assert.False(t, ra.settings.IsExcluded(&Error{Kind: KindTimeout}))

	resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
	require.NoError(t, err)
	assert.Equal(t, "b", resp.ProxyInfo.Provider)
	require.Len(t, ra.outcomes, 1)
	requireErrKind(t, ra.outcomes[0], KindUnavailable)
	require.Len(t, breakers["b"].outcomes, 1)
	assert.Nil(t, breakers["b"].outcomes[0], "a success is reported as a nil error")

	// A breaker opened elsewhere (another replica) is honoured.
	ra.mu.Lock()
	ra.open = true
	ra.mu.Unlock()
	resp, err = p.ChatCompletion(t.Context(), fakeChatReq("m"))
	require.NoError(t, err)
	assert.Equal(t, "b", resp.ProxyInfo.Provider)
	assert.Equal(t, 1, fa.Calls())
	assert.Equal(t, 2, fb.Calls())
	assert.Equal(t, BreakerOpen, healthOf(t, p, "a").Breaker)
}
