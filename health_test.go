package llmproxy

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The "fake-checked" provider type is a fake provider (see newFake) with an
// active health check whose result the test sets.

const checkedFakeType = "fake-checked"

var (
	checkedOnce sync.Once
	checks      sync.Map // fake id -> *fakeCheck
)

// fakeCheck is a scripted health check.
type fakeCheck struct {
	mu    sync.Mutex
	err   error
	times []time.Time
}

func (c *fakeCheck) set(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

func (c *fakeCheck) Times() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.times...)
}

type checkedFake struct {
	*fakeProv
	check *fakeCheck
}

func (f checkedFake) HealthCheck(ctx context.Context) error {
	f.check.mu.Lock()
	defer f.check.mu.Unlock()
	f.check.times = append(f.check.times, time.Now())
	return f.check.err
}

// newCheckedFake is newFake with an active check that passes until set
// otherwise.
func newCheckedFake(t testing.TB, name string, steps ...fakeStep) (ProviderConfig, *fakeProv, *fakeCheck) {
	t.Helper()
	cfg, f := newFake(t, name, steps...)
	checkedOnce.Do(func() {
		RegisterProviderType(checkedFakeType, func(cfg ProviderConfig) (Provider, error) {
			id := cfg.CustomHeaders["X-Fake-Id"]
			v, ok := fakes.Load(id)
			c, ok2 := checks.Load(id)
			if !ok || !ok2 {
				return nil, errFakeNo
			}
			f := v.(*fakeProv)
			f.mu.Lock()
			f.name = cfg.Name
			f.mu.Unlock()
			return checkedFake{f, c.(*fakeCheck)}, nil
		})
	})
	c := &fakeCheck{}
	id := cfg.CustomHeaders["X-Fake-Id"]
	checks.Store(id, c)
	t.Cleanup(func() { checks.Delete(id) })
	cfg.Type = checkedFakeType
	return cfg, f, c
}

func TestHealthJitterWithinBounds(t *testing.T) {
	const interval = 10 * time.Second
	lo, hi := interval, interval
	for range 10000 {
		d := jittered(interval)
		require.GreaterOrEqual(t, d, 8*time.Second)
		require.Less(t, d, 12*time.Second)
		lo, hi = min(lo, d), max(hi, d)
	}
	assert.Less(t, lo, 8500*time.Millisecond, "the jitter uses its range")
	assert.Greater(t, hi, 11500*time.Millisecond, "the jitter uses its range")
	assert.Equal(t, time.Duration(0), jittered(0))
}

func TestHealthMonitorIntervalJittered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _, check := newCheckedFake(t, "a")
		p, err := New(Config{HealthCheckInterval: 10 * time.Second, Providers: []ProviderConfig{a}})
		require.NoError(t, err)
		start := time.Now()
		time.Sleep(10 * time.Minute)
		require.NoError(t, p.Close())

		times := check.Times()
		require.GreaterOrEqual(t, len(times), 50)
		require.LessOrEqual(t, len(times), 75)
		prev := start
		distinct := map[time.Duration]bool{}
		for i, at := range times {
			gap := at.Sub(prev)
			assert.GreaterOrEqual(t, gap, 8*time.Second, "gap before check %d", i)
			assert.Less(t, gap, 12*time.Second, "gap before check %d", i)
			distinct[gap] = true
			prev = at
		}
		assert.Greater(t, len(distinct), 10, "the gaps vary")

		// Close stopped the monitor: no check after it.
		time.Sleep(time.Minute)
		assert.Len(t, check.Times(), len(times))
	})
}

func TestHealthUnhealthyProviderGetsNoTrafficUntilCheckPasses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 10 * time.Second
		a, fa, check := newCheckedFake(t, "a")
		b, fb := newFake(t, "b")
		b.Priority = 2
		p, err := New(Config{HealthCheckInterval: interval, Providers: []ProviderConfig{a, b}})
		require.NoError(t, err)
		defer p.Close()
		ask := func() string {
			resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
			require.NoError(t, err)
			return resp.ProxyInfo.Provider
		}

		assert.Equal(t, "a", ask(), "healthy until a check says otherwise")
		h := healthOf(t, p, "a")
		assert.True(t, h.ActiveChecks)
		assert.Nil(t, h.LastCheck)
		assert.False(t, healthOf(t, p, "b").ActiveChecks, "b is watched passively")

		check.set(&Error{Kind: KindAuth, Status: 401, Message: "invalid api key", Err: context.DeadlineExceeded})
		time.Sleep(interval * 12 / 10) // past the longest jittered wait
		h = healthOf(t, p, "a")
		require.Equal(t, HealthUnhealthy, h.Status)
		assert.Equal(t, "health check failed: upstream_auth (401): invalid api key", h.Reason, "no cause shown")
		require.NotNil(t, h.LastCheck)
		assert.Equal(t, *h.LastCheck, h.Since)
		assert.Equal(t, BreakerClosed, h.Breaker, "the breaker is a separate signal")

		for range 20 {
			assert.Equal(t, "b", ask())
		}
		time.Sleep(5 * interval)
		for range 20 {
			assert.Equal(t, "b", ask())
		}
		assert.Equal(t, 1, fa.Calls(), "an unhealthy provider gets no traffic")

		check.set(nil)
		time.Sleep(interval * 12 / 10)
		h = healthOf(t, p, "a")
		assert.Equal(t, HealthHealthy, h.Status)
		assert.Empty(t, h.Reason)
		assert.Equal(t, "a", ask(), "traffic returns once the check passes")
		assert.Equal(t, 2, fa.Calls())
		assert.Equal(t, 40, fb.Calls())
	})
}

func TestHealthAllUnavailableStillTriedInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &fakeRecorder{}
		unavailable := fakeFail(&Error{Kind: KindUnavailable, Status: 503})
		a, fa, checkA := newCheckedFake(t, "a", unavailable, unavailable, fakeOK)
		b, fb, checkB := newCheckedFake(t, "b", fakeOK)
		b.Priority = 2
		c, fc := newFake(t, "c", unavailable, fakeOK)
		c.Priority = 3
		fa.rec, fb.rec, fc.rec = rec, rec, rec
		p, err := New(Config{HealthCheckInterval: 10 * time.Second, CircuitBreakerThreshold: 1,
			Providers: []ProviderConfig{c, b, a}})
		require.NoError(t, err)
		defer p.Close()

		// a and b fail their checks: c is the only available candidate. It
		// fails (and opens its breaker), so a and b are tried after it as
		// last resorts, in priority order.
		checkA.set(&Error{Kind: KindUnavailable, Status: 503})
		checkB.set(&Error{Kind: KindUnavailable, Status: 503})
		time.Sleep(12 * time.Second)
		resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
		require.NoError(t, err)
		assert.Equal(t, "b", resp.ProxyInfo.Provider)
		assert.Equal(t, []string{"c", "a", "b"}, rec.get())
		for _, h := range p.Health() {
			require.Equal(t, HealthUnhealthy, h.Status, h.Name)
		}

		// Every candidate is unavailable now: they are still tried, in
		// priority order, rather than the request refused.
		rec = &fakeRecorder{}
		fa.rec, fb.rec, fc.rec = rec, rec, rec
		resp, err = p.ChatCompletion(t.Context(), fakeChatReq("m"))
		require.NoError(t, err)
		assert.Equal(t, "b", resp.ProxyInfo.Provider)
		assert.Equal(t, 2, resp.ProxyInfo.AttemptNumber)
		assert.Equal(t, []string{"a", "b"}, rec.get())
	})
}

func TestHealthLastResortAfterAvailableCandidatesFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &fakeRecorder{}
		unavailable := fakeFail(&Error{Kind: KindUnavailable, Status: 503})
		a, fa := newFake(t, "a", unavailable, fakeOK) // priority 1, opened below
		b, fb := newFake(t, "b", fakeOK, unavailable)
		b.Priority = 2
		fa.rec, fb.rec = rec, rec
		p, err := New(Config{CircuitBreakerThreshold: 1, Providers: []ProviderConfig{a, b}})
		require.NoError(t, err)
		defer p.Close()

		resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
		require.NoError(t, err)
		assert.Equal(t, "b", resp.ProxyInfo.Provider)
		require.Equal(t, BreakerOpen, healthOf(t, p, "a").Breaker)

		// b now fails: a, open, is tried after it rather than refusing.
		resp, err = p.ChatCompletion(t.Context(), fakeChatReq("m"))
		require.NoError(t, err)
		assert.Equal(t, "a", resp.ProxyInfo.Provider)
		assert.Equal(t, []string{"a", "b", "b", "a"}, rec.get())
	})
}

func TestHealthQuotaErrorDegradesWithoutRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		quota := &Error{Kind: KindQuotaExceeded, Status: 429, Code: "insufficient_quota",
			Message: "You exceeded your current quota"}
		a, fa := newFake(t, "a", fakeFail(quota), fakeOK)
		a.MaxRetries = 3
		b, fb := newFake(t, "b")
		b.MaxRetries = 3
		// Least latency keeps configuration order among the unmeasured, so
		// that a goes first.
		p, err := New(Config{LoadBalancing: LoadBalancingLeastLatency, Providers: []ProviderConfig{a, b}})
		require.NoError(t, err)
		defer p.Close()

		start := time.Now()
		resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
		require.NoError(t, err)
		assert.Zero(t, time.Since(start), "no backoff")
		assert.Equal(t, "b", resp.ProxyInfo.Provider, "failed over")
		assert.Equal(t, 1, fa.Calls(), "a quota error is not retried")

		h := healthOf(t, p, "a")
		assert.Equal(t, HealthDegraded, h.Status)
		assert.Equal(t, "quota exceeded: quota_exceeded (429): You exceeded your current quota", h.Reason)
		assert.Equal(t, BreakerClosed, h.Breaker)

		// Degraded comes after healthy within the same priority.
		for range 10 {
			resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
			require.NoError(t, err)
			assert.Equal(t, "b", resp.ProxyInfo.Provider)
		}
		assert.Equal(t, 1, fa.Calls())
		assert.Equal(t, 11, fb.Calls())

		// The mark fades after the window without new quota errors.
		time.Sleep(healthWindow)
		assert.Equal(t, HealthHealthy, healthOf(t, p, "a").Status)
	})
}

func TestHealthPassiveSignals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		unavailable := fakeFail(&Error{Kind: KindUnavailable, Status: 502, Message: "bad gateway"})
		steps := []fakeStep{}
		for range 3 {
			steps = append(steps, fakeOK, fakeOK, unavailable)
		}
		steps = append(steps, fakeOK)
		a, _ := newFake(t, "a", steps...)
		p, err := New(Config{CircuitBreakerThreshold: 100, Providers: []ProviderConfig{a}})
		require.NoError(t, err)
		defer p.Close()

		for range 9 {
			_, _ = p.ChatCompletion(t.Context(), fakeChatReq("m"))
		}
		h := healthOf(t, p, "a")
		assert.Equal(t, HealthHealthy, h.Status, "too few attempts for a failure rate")
		assert.Equal(t, 9, h.Attempts)
		assert.InDelta(t, 1.0/3, h.ErrorRate, 1e-9)
		assert.Equal(t, 1, h.ConsecutiveFailures)

		_, err = p.ChatCompletion(t.Context(), fakeChatReq("m"))
		require.NoError(t, err)
		h = healthOf(t, p, "a")
		assert.Equal(t, HealthDegraded, h.Status)
		assert.Equal(t, "3 of 10 attempts failed in the last 1m0s", h.Reason)
		assert.Zero(t, h.ConsecutiveFailures)

		time.Sleep(healthWindow)
		h = healthOf(t, p, "a")
		assert.Equal(t, HealthHealthy, h.Status, "the window slid past the failures")
		assert.Zero(t, h.Attempts)
	})
}

func TestHealthLatencyEWMA(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, da := newDelayFake(t, "a", 4*time.Second)
		a.Timeout = 10 * time.Second
		p, err := New(Config{Providers: []ProviderConfig{a}})
		require.NoError(t, err)
		defer p.Close()

		_, err = p.ChatCompletion(t.Context(), fakeChatReq("m"))
		require.NoError(t, err)
		h := healthOf(t, p, "a")
		assert.Equal(t, 4.0, h.LatencyEWMA)
		assert.Equal(t, HealthHealthy, h.Status)

		da.setDelay(9 * time.Second)
		for range 3 {
			_, err = p.ChatCompletion(t.Context(), fakeChatReq("m"))
			require.NoError(t, err)
		}
		// 4 → 5 → 5.8 → 6.44
		h = healthOf(t, p, "a")
		assert.InDelta(t, 6.44, h.LatencyEWMA, 1e-6)
		assert.Equal(t, HealthDegraded, h.Status)
		assert.Contains(t, h.Reason, "above half the timeout")
	})
}

func TestHealthNoGoroutineWithoutChecker(t *testing.T) {
	a, _ := newFake(t, "a")
	p, err := New(Config{Providers: []ProviderConfig{a}})
	require.NoError(t, err)
	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "Close is idempotent")
}

func TestHealthTwoProxiesIndependent(t *testing.T) {
	unavailable := fakeFail(&Error{Kind: KindUnavailable, Status: 503})
	a1, _ := newFake(t, "shared-name", unavailable)
	a2, _ := newFake(t, "shared-name")
	p1, err := New(Config{CircuitBreakerThreshold: 1, Providers: []ProviderConfig{a1}})
	require.NoError(t, err)
	defer p1.Close()
	p2, err := New(Config{CircuitBreakerThreshold: 1, Providers: []ProviderConfig{a2}})
	require.NoError(t, err)
	defer p2.Close()

	_, err = p1.ChatCompletion(t.Context(), fakeChatReq("m"))
	require.Error(t, err)
	assert.Equal(t, BreakerOpen, healthOf(t, p1, "shared-name").Breaker)
	assert.Equal(t, BreakerClosed, healthOf(t, p2, "shared-name").Breaker, "no state shared between proxies")
}

// panicChecker is a provider whose health check panics.
type panicChecker struct{ wholeProvider }

func (panicChecker) HealthCheck(context.Context) error { panic("health check exploded") }

var registerPanicCheckerOnce sync.Once

func TestHealthCheckPanicMarksUnhealthy(t *testing.T) {
	registerPanicCheckerOnce.Do(func() {
		RegisterProviderType("panic-checker-test", func(ProviderConfig) (Provider, error) { return panicChecker{}, nil })
	})
	synctest.Test(t, func(t *testing.T) {
		p, err := New(Config{HealthCheckInterval: 10 * time.Second,
			Providers: []ProviderConfig{{Name: "pc", Type: "panic-checker-test"}}})
		require.NoError(t, err)
		defer p.Close()
		time.Sleep(13 * time.Second) // past one jittered interval: the check ran and panicked
		synctest.Wait()
		h := p.Health()
		require.Len(t, h, 1)
		require.NotEqual(t, HealthHealthy, h[0].Status, "a panicking check is a failed check: %+v", h[0])
	})
}
