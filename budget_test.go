package llmproxy

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetryBudgetShareAndFloor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newRetryBudget(20, 10*time.Second)
		allowed := func() int {
			n := 0
			for b.allowRetry(time.Now()) {
				n++
			}
			return n
		}
		assert.Equal(t, RetryBudgetMinRetries, allowed(), "the floor holds without traffic")

		for range 100 {
			b.request(time.Now())
		}
		assert.Equal(t, 20, allowed(), "20 % of 100 requests, on top of the floor already spent")

		// The window slides: after it, the old requests and retries no
		// longer count.
		time.Sleep(10 * time.Second)
		assert.Equal(t, RetryBudgetMinRetries, allowed())

		// Half the window later, the retries spent still count.
		b2 := newRetryBudget(50, 10*time.Second)
		for range 20 {
			b2.request(time.Now())
		}
		n := 0
		for b2.allowRetry(time.Now()) {
			n++
		}
		assert.Equal(t, RetryBudgetMinRetries+10, n, "10 + 50 % of 20")
		time.Sleep(5 * time.Second)
		for range 20 {
			b2.request(time.Now())
		}
		n = 0
		for b2.allowRetry(time.Now()) {
			n++
		}
		assert.Equal(t, 10, n, "20 spent of 10 + 50 % of 40")
		time.Sleep(5 * time.Second)
		n = 0
		for b2.allowRetry(time.Now()) {
			n++
		}
		assert.Equal(t, 10, n, "the first half slid out: 10 spent of 10 + 50 % of 20")
	})
}

func TestRetryBudgetCapsAmplificationDuringOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The primary is down for good and its breaker is kept closed, so
		// that only the budget limits the retries: without it, each of the
		// 1000 requests would retry twice (2000 retries).
		const requests = 1000
		primary, fp := newFake(t, "primary", fakeFail(&Error{Kind: KindUnavailable, Status: 503}))
		primary.MaxRetries = 2
		primary.RetryDelay = time.Millisecond
		backup, fb := newFake(t, "backup")
		backup.Priority = 2
		p, err := New(Config{CircuitBreakerThreshold: 1 << 30, RetryBudgetPercent: 20,
			RetryBudgetWindow: 10 * time.Second, Providers: []ProviderConfig{primary, backup}})
		require.NoError(t, err)
		defer p.Close()

		start := time.Now()
		for range requests {
			resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
			require.NoError(t, err)
			require.Equal(t, "backup", resp.ProxyInfo.Provider)
		}
		require.Less(t, time.Since(start), 10*time.Second, "the run fits one window")
		retries := fp.Calls() - requests
		t.Logf("%d requests, %d retries on the primary", requests, retries)
		assert.LessOrEqual(t, retries, requests*20/100+RetryBudgetMinRetries, "20 %% of the requests plus the floor")
		assert.GreaterOrEqual(t, retries, requests*20/100, "the budget is used, not more")
		assert.Equal(t, requests, fb.Calls(), "failover is not capped")
	})
}

func TestRetryBudgetDoesNotLimitSingleRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		unavailable := fakeFail(&Error{Kind: KindUnavailable, Status: 503})
		a, fa := newFake(t, "a", unavailable, unavailable, unavailable, fakeOK)
		a.MaxRetries = 3
		p := newFakeProxy(t, 0, a)
		resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
		require.NoError(t, err)
		assert.Equal(t, 4, resp.ProxyInfo.AttemptNumber)
		assert.Equal(t, 4, fa.Calls())
	})
}

// TestRetryBudgetOnlyWhereRetries checks that a state keeps a retry
// budget, and counts requests for it, only when one of its providers
// retries: a reload that turns retries on gets a budget, one that turns
// them off drops it.
func TestRetryBudgetOnlyWhereRetries(t *testing.T) {
	pc, _ := newFake(t, "a")
	pc.Models = []string{"m"}
	p := newFakeProxy(t, time.Minute, pc)
	require.Nil(t, p.state.Load().budget, "no provider retries")
	_, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
	require.NoError(t, err)

	pc.MaxRetries = 2
	require.NoError(t, p.Reload(Config{RequestTimeout: time.Minute, Providers: []ProviderConfig{pc}}))
	b := p.state.Load().budget
	require.NotNil(t, b, "a provider retries")
	_, err = p.ChatCompletion(t.Context(), fakeChatReq("m"))
	require.NoError(t, err)
	requests, retries := b.w.sum(time.Now())
	assert.Equal(t, 1, requests, "the request counted for the budget")
	assert.Equal(t, 0, retries)

	pc.MaxRetries = 0
	require.NoError(t, p.Reload(Config{RequestTimeout: time.Minute, Providers: []ProviderConfig{pc}}))
	require.Nil(t, p.state.Load().budget)
}
