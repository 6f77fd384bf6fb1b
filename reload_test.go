package llmproxy

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The "hot-reload" provider type answers "answer from <name>: <message>",
// whole or streamed word by word with a short pause between chunks (so
// that streams straddle reloads), and counts, per test run, the instances
// built and closed. The run is found through the X-Hr-Run custom header.

const hrType = "hot-reload"

var (
	hrOnce sync.Once
	hrRuns sync.Map // run id -> *hrRun
	hrSeq  atomic.Int64
)

// hrRun counts the providers a test built and closed, by name.
type hrRun struct {
	mu     sync.Mutex
	built  map[string]int
	closed map[string]int
}

func (r *hrRun) counts() (built, closed map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.built), maps.Clone(r.closed)
}

func newHrRun(t *testing.T) (string, *hrRun) {
	t.Helper()
	hrOnce.Do(func() {
		RegisterProviderType(hrType, func(cfg ProviderConfig) (Provider, error) {
			// A config file lowercases the header names.
			runID := cmp.Or(cfg.CustomHeaders["X-Hr-Run"], cfg.CustomHeaders["x-hr-run"])
			v, ok := hrRuns.Load(runID)
			if !ok {
				return nil, fmt.Errorf("hot-reload: no run %q", runID)
			}
			run := v.(*hrRun)
			run.mu.Lock()
			run.built[cfg.Name]++
			run.mu.Unlock()
			return &hrProvider{name: cfg.Name, run: run}, nil
		})
	})
	id := fmt.Sprint(hrSeq.Add(1))
	run := &hrRun{built: map[string]int{}, closed: map[string]int{}}
	hrRuns.Store(id, run)
	t.Cleanup(func() { hrRuns.Delete(id) })
	return id, run
}

type hrProvider struct {
	name string
	run  *hrRun
}

func (p *hrProvider) Name() string { return p.name }

func (p *hrProvider) answer(req *ChatRequest) string {
	return "answer from " + p.name + ": " + req.Messages[len(req.Messages)-1].Content.String()
}

func (p *hrProvider) ChatCompletion(ctx context.Context, req *ChatRequest) (*ChatResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &ChatResponse{ID: "chatcmpl-hr", Object: "chat.completion", Model: req.Model,
		Choices: []Choice{{Message: Message{Role: "assistant", Content: Text(p.answer(req))}, FinishReason: "stop"}},
		Usage:   &Usage{PromptTokens: 1, CompletionTokens: 4, TotalTokens: 5}}, nil
}

func (p *hrProvider) ChatCompletionStream(ctx context.Context, req *ChatRequest) (ChunkReader[*ChatChunk], error) {
	words := strings.SplitAfter(p.answer(req), " ")
	return &hrReader{ctx: ctx, model: req.Model, words: words}, nil
}

// Close counts the provider closed. Like a real provider it affects no
// request in flight.
func (p *hrProvider) Close() error {
	p.run.mu.Lock()
	p.run.closed[p.name]++
	p.run.mu.Unlock()
	return nil
}

type hrReader struct {
	ctx   context.Context
	model string
	words []string
	sent  int
}

func (r *hrReader) Next() (*ChatChunk, error) {
	if err := r.ctx.Err(); err != nil {
		return nil, err
	}
	if r.sent > 0 {
		time.Sleep(200 * time.Microsecond)
	}
	c := &ChatChunk{ID: "chatcmpl-hr", Object: "chat.completion.chunk", Model: r.model}
	switch {
	case r.sent < len(r.words):
		w := r.words[r.sent]
		c.Choices = []ChunkChoice{{Delta: Delta{Content: &w}}}
	case r.sent == len(r.words):
		stop := "stop"
		c.Choices = []ChunkChoice{{Delta: Delta{}, FinishReason: &stop}}
	default:
		return nil, io.EOF
	}
	r.sent++
	return c, nil
}

func (r *hrReader) Close() error { return nil }

// hrProv is one provider of a reload step: its name and priority.
type hrProv struct {
	name     string
	priority int
}

// hrConfig builds the configuration of a step of run id.
func hrConfig(id string, provs ...hrProv) Config {
	cfg := Config{RequestTimeout: 10 * time.Second}
	for _, p := range provs {
		cfg.Providers = append(cfg.Providers, ProviderConfig{
			Name: p.name, Type: hrType, Models: []string{"hr-model"}, Priority: p.priority,
			CustomHeaders: map[string]string{"X-Hr-Run": id},
		})
	}
	return cfg
}

// hrPreferred is the provider of provs with the lowest priority.
func hrPreferred(provs []hrProv) string {
	return slices.MinFunc(provs, func(a, b hrProv) int { return a.priority - b.priority }).name
}

// hrAsk sends one chat request, streamed or not, and returns the provider
// that answered; it reports a failure or an incomplete answer as an error.
func hrAsk(ctx context.Context, p *Proxy, stream bool, msg string) (string, error) {
	req := &ChatRequest{Model: "hr-model", Messages: []Message{{Role: "user", Content: Text(msg)}}}
	if !stream {
		resp, err := p.ChatCompletion(ctx, req)
		if err != nil {
			return "", err
		}
		prov := resp.ProxyInfo.Provider
		if got, want := resp.Choices[0].Message.Content.String(), "answer from "+prov+": "+msg; got != want {
			return prov, fmt.Errorf("answer %q, want %q", got, want)
		}
		return prov, nil
	}
	s, err := p.ChatCompletionStream(ctx, req)
	if err != nil {
		return "", err
	}
	defer s.Close()
	var b strings.Builder
	finished := false
	for s.Next() {
		for _, ch := range s.Current().Choices {
			if ch.Delta.Content != nil {
				b.WriteString(*ch.Delta.Content)
			}
			if ch.FinishReason != nil {
				finished = true
			}
		}
	}
	prov := s.ProxyInfo().Provider
	if err := s.Err(); err != nil {
		return prov, fmt.Errorf("stream cut: %w", err)
	}
	if want := "answer from " + prov + ": " + msg; b.String() != want || !finished {
		return prov, fmt.Errorf("streamed %q (finished %v), want %q", b.String(), finished, want)
	}
	return prov, nil
}

// TestReloadUnderLoad reloads the proxy 20 times (providers added,
// removed and reprioritised, and one invalid configuration) while
// goroutines send streamed and plain requests without pause. No request
// may fail or come back incomplete; after each reload new requests go to
// the provider the new configuration prefers; unchanged providers are
// kept, changed and removed ones built anew and closed.
func TestReloadUnderLoad(t *testing.T) {
	id, run := newHrRun(t)
	steps := [][]hrProv{
		{{"alpha", 1}, {"beta", 2}},                             // initial
		{{"alpha", 2}, {"beta", 1}},                             // reprioritise
		{{"alpha", 2}, {"beta", 1}, {"gamma", 3}},               // add
		{{"alpha", 2}, {"beta", 3}, {"gamma", 1}},               //
		{{"alpha", 1}, {"gamma", 2}},                            // remove
		{{"alpha", 2}, {"gamma", 1}, {"delta", 3}},              //
		{{"delta", 1}, {"gamma", 2}},                            //
		nil,                                                     // invalid
		{{"delta", 2}, {"gamma", 1}},                            //
		{{"alpha", 1}, {"delta", 2}, {"gamma", 3}},              //
		{{"alpha", 3}, {"beta", 1}, {"delta", 2}},               //
		{{"beta", 2}, {"delta", 1}},                             //
		{{"beta", 1}},                                           //
		{{"beta", 1}, {"gamma", 2}},                             // add, unchanged beta
		{{"gamma", 1}, {"alpha", 2}, {"beta", 3}, {"delta", 4}}, //
		{{"alpha", 1}, {"beta", 2}, {"delta", 3}},               //
		{{"alpha", 2}, {"beta", 1}},                             //
		{{"beta", 2}, {"delta", 1}},                             //
		{{"delta", 2}, {"gamma", 1}},                            //
		{{"gamma", 2}, {"alpha", 1}},                            //
		{{"gamma", 2}, {"alpha", 1}, {"beta", 3}},               // add, the rest unchanged
	}
	require.Len(t, steps, 21, "the initial configuration and 20 reloads")

	p, err := New(hrConfig(id, steps[0]...))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })

	ctx, cancel := context.WithCancel(t.Context())
	var (
		wg       sync.WaitGroup
		sent     atomic.Int64
		mu       sync.Mutex
		failures []string
	)
	for g := range 6 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				stream := (g+i)%2 == 0
				prov, err := hrAsk(context.Background(), p, stream, fmt.Sprintf("g%d-%d", g, i))
				sent.Add(1)
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("g%d-%d (stream %v, %s): %v", g, i, stream, prov, err))
					mu.Unlock()
				}
			}
		})
	}

	prev := steps[0]
	for i, step := range steps[1:] {
		time.Sleep(20 * time.Millisecond) // let the load run on this configuration
		before := p.Config()
		builtBefore, closedBefore := run.counts()
		if step == nil {
			bad := hrConfig(id, prev...)
			bad.Providers = append(bad.Providers, bad.Providers[0]) // a duplicate name
			require.Error(t, p.Reload(bad), "reload %d", i+1)
			assert.Equal(t, before.Providers, p.Config().Providers, "a rejected reload changes nothing")
			assert.Contains(t, promText(p), `llmproxy_config_reloads_total{result="rejected"} 1`)
		} else {
			require.NoError(t, p.Reload(hrConfig(id, step...)), "reload %d", i+1)
			// Providers new or changed (another priority) are built;
			// removed or changed ones are closed; the others are kept.
			built, closed := run.counts()
			for _, pr := range step {
				want := builtBefore[pr.name]
				if !slices.Contains(prev, pr) {
					want++
				}
				assert.Equal(t, want, built[pr.name], "reload %d: builds of %s", i+1, pr.name)
			}
			for _, pr := range prev {
				want := closedBefore[pr.name]
				if !slices.Contains(step, pr) {
					want++
				}
				assert.Equal(t, want, closed[pr.name], "reload %d: closes of %s", i+1, pr.name)
			}
			prev = step
		}
		// New requests go where the configuration in force says at once.
		want := hrPreferred(prev)
		for _, stream := range []bool{false, true} {
			got, err := hrAsk(t.Context(), p, stream, fmt.Sprintf("check-%d", i))
			require.NoError(t, err)
			assert.Equal(t, want, got, "reload %d (stream %v)", i+1, stream)
		}
	}
	time.Sleep(20 * time.Millisecond)
	cancel()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, failures, "failed requests under reloads")
	assert.Greater(t, sent.Load(), int64(100), "the load ran")
	text := promText(p)
	assert.Contains(t, text, `llmproxy_config_reloads_total{result="ok"} 19`)
	assert.Contains(t, text, `llmproxy_config_reloads_total{result="rejected"} 1`)
	assert.Zero(t, p.Totals().InFlight)
	assert.Zero(t, p.Totals().OpenStreams)
	t.Logf("%d requests during 20 reloads", sent.Load())
}

// TestReloadKeepsProviderState opens a provider's breaker, then reloads:
// with an unrelated change the provider's upstream, breaker and health are
// kept; a change of its own configuration, or of the breaker settings,
// builds it anew.
func TestReloadKeepsProviderState(t *testing.T) {
	flaky, fFlaky := newFake(t, "flaky", fakeFail(&Error{Kind: KindUnavailable, Status: 503, Message: "down"}))
	flaky.Models, flaky.Priority = []string{"m"}, 1
	steady, fSteady := newFake(t, "steady")
	steady.Models, steady.Priority = []string{"m"}, 2
	cfg := Config{CircuitBreakerThreshold: 2, CircuitBreakerTimeout: time.Hour, Providers: []ProviderConfig{flaky, steady}}
	p, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })

	for range 2 {
		resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
		require.NoError(t, err)
		assert.Equal(t, "steady", resp.ProxyInfo.Provider)
	}
	require.Equal(t, 2, fFlaky.Calls())
	healthOf := func(name string) ProviderHealth {
		for _, h := range p.Health() {
			if h.Name == name {
				return h
			}
		}
		t.Fatalf("no health for %s", name)
		return ProviderHealth{}
	}
	require.Equal(t, BreakerOpen, healthOf("flaky").Breaker)
	uFlaky, uSteady := p.state.Load().byName["flaky"], p.state.Load().byName["steady"]

	// An unrelated change: another provider and another request timeout.
	extra, _ := newFake(t, "extra")
	extra.Models, extra.Priority = []string{"other"}, 1
	next := cfg
	next.RequestTimeout = 2 * time.Minute
	next.Providers = []ProviderConfig{flaky, steady, extra}
	require.NoError(t, p.Reload(next))
	st := p.state.Load()
	assert.Same(t, uFlaky, st.byName["flaky"], "an unchanged provider keeps its upstream")
	assert.Same(t, uSteady, st.byName["steady"])
	h := healthOf("flaky")
	assert.Equal(t, BreakerOpen, h.Breaker, "and its open breaker")
	assert.Equal(t, HealthUnhealthy, h.Status)
	assert.Equal(t, 2, h.ConsecutiveFailures, "and its health signals")
	assert.Equal(t, 2*time.Minute, p.Config().RequestTimeout)

	// The open breaker still keeps requests off the provider.
	resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
	require.NoError(t, err)
	assert.Equal(t, "steady", resp.ProxyInfo.Provider)
	assert.Equal(t, 2, fFlaky.Calls(), "flaky was skipped")
	assert.Equal(t, 3, fSteady.Calls())

	// Its own change builds it anew, with a closed breaker; the others stay.
	flaky.Timeout = 30 * time.Second
	next.Providers = []ProviderConfig{flaky, steady, extra}
	require.NoError(t, p.Reload(next))
	st = p.state.Load()
	assert.NotSame(t, uFlaky, st.byName["flaky"])
	assert.Same(t, uSteady, st.byName["steady"])
	assert.Equal(t, BreakerClosed, healthOf("flaky").Breaker)
	assert.Equal(t, HealthHealthy, healthOf("flaky").Status)

	// New breaker settings rebuild every provider.
	uSteady = st.byName["steady"]
	next.CircuitBreakerThreshold = 3
	require.NoError(t, p.Reload(next))
	assert.NotSame(t, uSteady, p.state.Load().byName["steady"])
}

// TestReloadFileRejected checks ReloadFile: a file with an unknown key,
// one that does not parse and a missing one change nothing and count as
// rejected; a good one applies.
func TestReloadFileRejected(t *testing.T) {
	id, _ := newHrRun(t)
	p, err := New(hrConfig(id, hrProv{"file-a", 1}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	path := filepath.Join(t.TempDir(), "config.yaml")
	write := func(s string) {
		t.Helper()
		require.NoError(t, os.WriteFile(path, []byte(s), 0o600))
	}
	good := "providers:\n  - name: file-b\n    type: " + hrType + "\n    custom_headers: {X-Hr-Run: \"" + id + "\"}\n"

	write(good + "    no_such_key: 1\n")
	require.Error(t, p.ReloadFile(path))
	write("providers: [\n")
	require.Error(t, p.ReloadFile(path))
	require.Error(t, p.ReloadFile(filepath.Join(filepath.Dir(path), "missing.yaml")))
	assert.Equal(t, "file-a", p.Config().Providers[0].Name)
	text := promText(p)
	assert.Contains(t, text, `llmproxy_config_reloads_total{result="rejected"} 3`)
	assert.NotContains(t, text, `result="ok"`)

	write(good)
	require.NoError(t, p.ReloadFile(path))
	assert.Equal(t, "file-b", p.Config().Providers[0].Name)
	assert.Contains(t, promText(p), `llmproxy_config_reloads_total{result="ok"} 1`)
	got, err := hrAsk(t.Context(), p, true, "from the file")
	require.NoError(t, err)
	assert.Equal(t, "file-b", got)
}

// TestReloadHealthCheckInterval reloads a new health_check_interval with
// the providers unchanged: their monitors must follow it, while the
// providers themselves (breaker, health) are kept.
func TestReloadHealthCheckInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _, check := newCheckedFake(t, "a")
		cfg := Config{HealthCheckInterval: time.Hour, Providers: []ProviderConfig{a}}
		p, err := New(cfg)
		require.NoError(t, err)
		u := p.state.Load().byName["a"]

		cfg.HealthCheckInterval = 10 * time.Second
		require.NoError(t, p.Reload(cfg))
		assert.Same(t, u, p.state.Load().byName["a"], "the provider is kept")
		time.Sleep(time.Minute)
		n := len(check.Times())
		assert.GreaterOrEqual(t, n, 4, "checks every 10 s ±20 % after the reload")
		assert.LessOrEqual(t, n, 8)

		// Back to a long interval: the 10 s monitor stops.
		cfg.HealthCheckInterval = time.Hour
		require.NoError(t, p.Reload(cfg))
		time.Sleep(time.Minute)
		assert.Equal(t, n, len(check.Times()), "no check at the old interval")
		require.NoError(t, p.Close())
	})
}
