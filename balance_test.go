package llmproxy

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The "fake-delay" provider type is a fake provider (see newFake) that
// takes a set time to answer.

const delayFakeType = "fake-delay"

var (
	delayOnce sync.Once
	delays    sync.Map // fake id -> *delayFake
)

type delayFake struct {
	*fakeProv
	delay atomic.Int64
}

func (d *delayFake) setDelay(v time.Duration) { d.delay.Store(int64(v)) }

func (d *delayFake) ChatCompletion(ctx context.Context, req *ChatRequest) (*ChatResponse, error) {
	select {
	case <-time.After(time.Duration(d.delay.Load())):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return d.fakeProv.ChatCompletion(ctx, req)
}

// newDelayFake is newFake with an answer time.
func newDelayFake(t testing.TB, name string, delay time.Duration, steps ...fakeStep) (ProviderConfig, *delayFake) {
	t.Helper()
	cfg, f := newFake(t, name, steps...)
	delayOnce.Do(func() {
		RegisterProviderType(delayFakeType, func(cfg ProviderConfig) (Provider, error) {
			v, ok := delays.Load(cfg.CustomHeaders["X-Fake-Id"])
			if !ok {
				return nil, errFakeNo
			}
			d := v.(*delayFake)
			d.mu.Lock()
			d.name = cfg.Name
			d.mu.Unlock()
			return d, nil
		})
	})
	d := &delayFake{fakeProv: f}
	d.setDelay(delay)
	id := cfg.CustomHeaders["X-Fake-Id"]
	delays.Store(id, d)
	t.Cleanup(func() { delays.Delete(id) })
	cfg.Type = delayFakeType
	return cfg, d
}

func TestBalanceWeightsSplitTraffic(t *testing.T) {
	// Weights 3:1 over 4000 requests: a gets 3000 ± 200 (±5 % of all
	// requests). The standard deviation is about 27, so the bound is
	// more than 7 of them.
	const n = 4000
	a, fa := newFake(t, "a")
	a.Weight = 3
	b, fb := newFake(t, "b") // weight defaults to 1
	c, fc := newFake(t, "c")
	c.Priority = 2
	c.Weight = 100 // weights only matter within a priority
	p := newFakeProxy(t, 0, a, b, c)
	for range n {
		_, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
		require.NoError(t, err)
	}
	assert.InDelta(t, 3000, fa.Calls(), 200)
	assert.InDelta(t, 1000, fb.Calls(), 200)
	assert.Equal(t, n, fa.Calls()+fb.Calls())
	assert.Zero(t, fc.Calls())
}

func TestBalanceWeightedOrderCoversAll(t *testing.T) {
	us := []*upstream{{cfg: ProviderConfig{Name: "a", Weight: 1}}, {cfg: ProviderConfig{Name: "b", Weight: 5}}, {cfg: ProviderConfig{Name: "c"}}}
	first := map[string]int{}
	for range 7000 {
		out := weightedOrder(us)
		require.Len(t, out, 3)
		require.ElementsMatch(t, us, out)
		first[out[0].cfg.Name]++
	}
	// Weights 1:5:1 (0 counts as 1).
	assert.InDelta(t, 1000, first["a"], 200)
	assert.InDelta(t, 5000, first["b"], 200)
	assert.InDelta(t, 1000, first["c"], 200)
}

func TestBalanceLeastLatencyPrefersFaster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow, fs := newDelayFake(t, "slow", 300*time.Millisecond)
		fast, ff := newDelayFake(t, "fast", 20*time.Millisecond)
		backup, fb := newFake(t, "backup")
		backup.Priority = 2
		p, err := New(Config{LoadBalancing: LoadBalancingLeastLatency, Providers: []ProviderConfig{slow, fast, backup}})
		require.NoError(t, err)
		defer p.Close()

		// The first two requests measure each provider; then the faster
		// one serves everything.
		for range 200 {
			_, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
			require.NoError(t, err)
		}
		assert.Equal(t, 1, fs.Calls(), "measured once")
		assert.Equal(t, 199, ff.Calls())
		assert.Zero(t, fb.Calls())
		assert.InDelta(t, 0.3, healthOf(t, p, "slow").LatencyEWMA, 1e-9)
		assert.InDelta(t, 0.02, healthOf(t, p, "fast").LatencyEWMA, 1e-9)

		// A measurement older than a minute is taken again, once.
		time.Sleep(time.Minute)
		fs.setDelay(10 * time.Millisecond)
		for range 50 {
			_, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
			require.NoError(t, err)
		}
		assert.Equal(t, 2, fs.Calls(), "one probe, the other one's measurement is fresh")
		// 0.3 → 0.242: still slower than fast.
		assert.InDelta(t, 0.242, healthOf(t, p, "slow").LatencyEWMA, 1e-9)
	})
}

func TestBalanceConfigValidation(t *testing.T) {
	a, _ := newFake(t, "a")
	a.Weight = -1
	_, err := New(Config{LoadBalancing: "round_robin", RetryBudgetPercent: -5, HealthCheckInterval: -time.Second,
		RetryBudgetWindow: -time.Second, Providers: []ProviderConfig{a}})
	require.Error(t, err)
	for _, want := range []string{
		`load_balancing: must be "weighted" or "least_latency", got "round_robin"`,
		"retry_budget_percent: must be >= 0, got -5",
		"health_check_interval: must be a positive number of seconds",
		"retry_budget_window: must be a positive number of seconds",
		"providers[0].weight: must be >= 1, got -1",
	} {
		assert.Contains(t, err.Error(), want)
	}

	b, _ := newFake(t, "b")
	p := newFakeProxy(t, 0, b)
	cfg := p.Config()
	assert.Equal(t, DefaultHealthCheckInterval, cfg.HealthCheckInterval)
	assert.Equal(t, LoadBalancingWeighted, cfg.LoadBalancing)
	assert.Equal(t, DefaultRetryBudgetPercent, cfg.RetryBudgetPercent)
	assert.Equal(t, DefaultRetryBudgetWindow, cfg.RetryBudgetWindow)
	assert.Equal(t, 1, cfg.Providers[0].Weight)
	assert.Equal(t, 1, p.Providers()[0].Weight)
}

func TestBalanceConfigFromFileAndEnv(t *testing.T) {
	registerConfigTestType()
	path := writeConfig(t, `
health_check_interval: 30
load_balancing: least_latency
retry_budget_percent: 10
retry_budget_window: 5
providers:
  - name: a
    type: config-test
    weight: 4
`, "")
	cfg, err := LoadConfigEnv(path, envFunc(map[string]string{
		"PROXY_API_HEALTH_CHECK_INTERVAL": "45",
		"PROXY_API_LOAD_BALANCING":        "weighted",
		"PROXY_API_RETRY_BUDGET_PERCENT":  "25",
		"PROXY_API_RETRY_BUDGET_WINDOW":   "2500ms",
	}))
	require.NoError(t, err)
	assert.Equal(t, 45*time.Second, cfg.HealthCheckInterval)
	assert.Equal(t, LoadBalancingWeighted, cfg.LoadBalancing)
	assert.Equal(t, 25, cfg.RetryBudgetPercent)
	assert.Equal(t, 2500*time.Millisecond, cfg.RetryBudgetWindow)
	assert.Equal(t, 4, cfg.Providers[0].Weight)

	_, err = LoadConfigEnv(writeConfig(t, "load_balancing: fastest\n", ""), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "load_balancing: must be")
}
