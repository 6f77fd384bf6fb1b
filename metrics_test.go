package llmproxy

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// promText returns the proxy's metrics in the Prometheus text format.
func promText(p *Proxy) string {
	var b bytes.Buffer
	p.Metrics().WritePrometheus(&b)
	return b.String()
}

// promLines returns the sample lines of text that start with prefix.
func promLines(text, prefix string) []string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return out
}

// TestMetricsSetsAreSeparate runs two proxies in one process: each has
// its own metric set, so that neither sees the other's traffic and the
// names do not collide.
func TestMetricsSetsAreSeparate(t *testing.T) {
	a, _ := newFake(t, "prov-a")
	b, _ := newFake(t, "prov-b")
	pa := newFakeProxy(t, 0, a)
	pb := newFakeProxy(t, 0, b)
	require.NotSame(t, pa.Metrics(), pb.Metrics())

	for range 3 {
		_, err := pa.ChatCompletion(t.Context(), fakeChatReq("m"))
		require.NoError(t, err)
	}
	_, err := pb.ChatCompletion(t.Context(), fakeChatReq("m"))
	require.NoError(t, err)

	ta, tb := promText(pa), promText(pb)
	assert.Contains(t, ta, `llmproxy_requests_total{endpoint="chat",provider="prov-a",model="m",outcome="ok",status="200"} 3`)
	assert.Contains(t, tb, `llmproxy_requests_total{endpoint="chat",provider="prov-b",model="m",outcome="ok",status="200"} 1`)
	assert.NotContains(t, ta, "prov-b")
	assert.NotContains(t, tb, "prov-a")
	assert.Len(t, promLines(ta, "llmproxy_config_info{"), 1)
	assert.Len(t, promLines(tb, "llmproxy_config_info{"), 1)
	assert.Equal(t, uint64(3), pa.Totals().Requests)
	assert.Equal(t, uint64(1), pb.Totals().Requests)
}

// TestMetricsModelLabelCap sends more distinct models than maxModelLabels
// through a glob provider: the excess is counted under model="other", and
// the series stop growing.
func TestMetricsModelLabelCap(t *testing.T) {
	pc, _ := newFake(t, "globber")
	pc.Models = []string{"glob-*"}
	p := newFakeProxy(t, 0, pc)
	const extra = 25
	for i := range maxModelLabels + extra {
		_, err := p.ChatCompletion(t.Context(), fakeChatReq(fmt.Sprintf("glob-%03d", i)))
		require.NoError(t, err)
	}
	// A model seen before the cap keeps its label.
	_, err := p.ChatCompletion(t.Context(), fakeChatReq("glob-000"))
	require.NoError(t, err)

	text := promText(p)
	reqs := promLines(text, "llmproxy_requests_total{")
	assert.Len(t, reqs, maxModelLabels+1, "the capped models and other")
	assert.Contains(t, text, fmt.Sprintf(`llmproxy_requests_total{endpoint="chat",provider="globber",model="other",outcome="ok",status="200"} %d`, extra))
	assert.Contains(t, text, `llmproxy_requests_total{endpoint="chat",provider="globber",model="glob-000",outcome="ok",status="200"} 2`)
	assert.NotContains(t, text, fmt.Sprintf(`model="glob-%03d"`, maxModelLabels))
}

// TestMetricsLongModelName checks that a model name longer than
// maxCachedModelName is counted under model="other" and held nowhere.
func TestMetricsLongModelName(t *testing.T) {
	pc, _ := newFake(t, "globber")
	pc.Models = []string{"glob-*"}
	p := newFakeProxy(t, 0, pc)
	long := "glob-" + strings.Repeat("x", maxCachedModelName)
	_, err := p.ChatCompletion(t.Context(), fakeChatReq(long))
	require.NoError(t, err)
	text := promText(p)
	assert.Contains(t, text, `llmproxy_requests_total{endpoint="chat",provider="globber",model="other",outcome="ok",status="200"} 1`)
	assert.NotContains(t, text, long)
	assert.Zero(t, p.rec.nmodel.Load(), "no label remembered")
}

func TestLatencyRing(t *testing.T) {
	var r latencyRing
	assert.Equal(t, LatencyStats{}, r.stats(), "no samples")

	for i := 1; i <= 100; i++ {
		r.add(time.Duration(i) * time.Millisecond)
	}
	s := r.stats()
	assert.Equal(t, 100, s.Samples)
	assert.InDelta(t, 0.050, s.P50, 1e-9)
	assert.InDelta(t, 0.095, s.P95, 1e-9)

	// Past its size the ring keeps the latest samples only.
	for range latencySamples {
		r.add(time.Second)
	}
	s = r.stats()
	assert.Equal(t, latencySamples, s.Samples)
	assert.Equal(t, 1.0, s.P50)
	assert.Equal(t, 1.0, s.P95)

	// A zero duration still counts as a sample.
	var z latencyRing
	z.add(0)
	assert.Equal(t, 1, z.stats().Samples)
}

// TestLatencyRingConcurrent records from many goroutines while reading:
// the race detector checks that the ring needs no lock.
func TestLatencyRingConcurrent(t *testing.T) {
	var r latencyRing
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				r.add(time.Duration(g*1000+i+1) * time.Microsecond)
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			s := r.stats()
			assert.LessOrEqual(t, s.P50, s.P95)
		}
	})
	wg.Wait()
	s := r.stats()
	assert.Equal(t, latencySamples, s.Samples)
	assert.LessOrEqual(t, s.P50, s.P95)
}

// TestStatsCounts checks Stats and Totals: requests by the provider that
// ended them, attempts by the provider tried, survival across a reload,
// removed providers left out of Stats but not of Totals.
func TestStatsCounts(t *testing.T) {
	bad, _ := newFake(t, "bad", fakeFail(&Error{Kind: KindUnavailable, Status: 503}))
	bad.Priority = 1
	good, _ := newFake(t, "good")
	good.Priority = 2
	p := newFakeProxy(t, 0, bad, good)

	for range 4 {
		resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
		require.NoError(t, err)
		assert.Equal(t, "good", resp.ProxyInfo.Provider)
	}
	_, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
	require.NoError(t, err)

	stats := p.Stats()
	require.Len(t, stats, 2)
	assert.Equal(t, "bad", stats[0].Name)
	assert.Zero(t, stats[0].Requests, "failed over: the request counts for the provider that answered")
	assert.Equal(t, uint64(5), stats[0].Attempts)
	assert.Equal(t, uint64(5), stats[0].FailedAttempts)
	assert.Equal(t, uint64(5), stats[1].Requests)
	assert.Equal(t, uint64(5), stats[1].Successes)
	assert.Equal(t, 1.0, stats[1].SuccessRate)
	assert.Equal(t, 5, stats[1].Latency.Samples)
	assert.Zero(t, stats[1].TimeToFirstToken.Samples)

	// A stream counts when it ends, with its time to first token.
	s, err := p.ChatCompletionStream(t.Context(), fakeChatReq("m"))
	require.NoError(t, err)
	assert.Equal(t, uint64(5), p.Stats()[1].Requests, "not yet: the stream is open")
	assert.Equal(t, int64(1), p.Totals().OpenStreams)
	assert.Equal(t, int64(1), p.Totals().InFlight)
	for s.Next() {
	}
	require.NoError(t, s.Err())
	require.NoError(t, s.Close())
	st := p.Stats()[1]
	assert.Equal(t, uint64(6), st.Requests)
	assert.Equal(t, 1, st.TimeToFirstToken.Samples)
	assert.Zero(t, p.Totals().OpenStreams)
	assert.Zero(t, p.Totals().InFlight)

	// Counts belong to the name: they survive a reload that rebuilds the
	// provider, and a removed provider leaves Stats but not Totals.
	good.Weight = 2
	good.Models = []string{"m"}
	require.NoError(t, p.Reload(Config{Providers: []ProviderConfig{good}}))
	stats = p.Stats()
	require.Len(t, stats, 1)
	assert.Equal(t, "good", stats[0].Name)
	assert.Equal(t, uint64(6), stats[0].Requests)
	assert.Equal(t, uint64(6), p.Totals().Requests)
	assert.Equal(t, uint64(6), p.Totals().Successes)
	assert.False(t, p.Totals().Started.IsZero())

	// A model nobody serves counts in the totals only.
	_, err = p.ChatCompletion(t.Context(), fakeChatReq("nobody-serves-this"))
	require.Error(t, err)
	tot := p.Totals()
	assert.Equal(t, uint64(7), tot.Requests)
	assert.Equal(t, uint64(1), tot.Failures)
	assert.Equal(t, uint64(6), p.Stats()[0].Requests)
}

// BenchmarkStatsRecord measures what Stats costs each request: one
// request, attempt and token record, from many goroutines.
func BenchmarkStatsRecord(b *testing.B) {
	book := newStatsBook(time.Now())
	names := []string{"a", "b", "c", "d"}
	u := &Usage{PromptTokens: 10, CompletionTokens: 20}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			n := names[i%len(names)]
			book.attempt(n, true)
			book.request(n, true, time.Duration(i)*time.Microsecond, u)
			i++
		}
	})
}

// BenchmarkMetricName builds the name of a series with the labels of a
// request's counter.
func BenchmarkMetricName(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = metricName("llmproxy_requests_total", "provider", "bench-upstream", "model", "gpt-4o-mini", "endpoint", "chat", "status", "200")
	}
}

// TestMetricNameQuotesLabels checks that a label value is quoted as
// strconv.Quote quotes it, whether it takes the plain path or not.
func TestMetricNameQuotesLabels(t *testing.T) {
	for _, v := range []string{"", "gpt-4o-mini", "bench-upstream", `a"b`, `a\b`, "a\nb", "modèle", "\x7f", "~ !#"} {
		want := `m{l=` + strconv.Quote(v) + `}`
		if got := metricName("m", "l", v); got != want {
			t.Errorf("metricName(%q) = %s, want %s", v, got, want)
		}
	}
}

// usageProvider answers every chat request with a fixed usage that has
// cached prompt tokens.
type usageProvider struct{ name string }

func (p usageProvider) Name() string { return p.name }

func (p usageProvider) ChatCompletion(_ context.Context, req *ChatRequest) (*ChatResponse, error) {
	return &ChatResponse{ID: "chatcmpl-u", Object: "chat.completion", Model: req.Model,
		Choices: []Choice{{Message: Message{Role: "assistant", Content: Text("ok")}, FinishReason: "stop"}},
		Usage: &Usage{PromptTokens: 7, CompletionTokens: 5, TotalTokens: 12,
			PromptTokensDetails: &TokenDetails{CachedTokens: 3}}}, nil
}

var registerUsageOnce sync.Once

// TestTokensAccounted checks that a finished request's tokens reach the
// metrics and the Stats book, whole answers and streams alike, and that a
// failed request counts none.
func TestTokensAccounted(t *testing.T) {
	registerUsageOnce.Do(func() {
		RegisterProviderType("usage-test", func(cfg ProviderConfig) (Provider, error) { return usageProvider{cfg.Name}, nil })
	})
	p, err := New(Config{Providers: []ProviderConfig{{Name: "u", Type: "usage-test", Models: []string{"m"}}}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })

	_, err = p.ChatCompletion(t.Context(), fakeChatReq("m"))
	require.NoError(t, err)
	s, err := p.ChatCompletionStream(t.Context(), fakeChatReq("m"))
	require.NoError(t, err)
	for s.Next() {
	}
	require.NoError(t, s.Err())
	require.NoError(t, s.Close())
	_, err = p.ChatCompletion(t.Context(), fakeChatReq("nobody-serves-this"))
	require.Error(t, err)

	text := promText(p)
	for kind, n := range map[string]int{"prompt": 14, "completion": 10, "cached": 6} {
		assert.Contains(t, text, fmt.Sprintf(`llmproxy_tokens_total{provider="u",model="m",kind=%q} %d`, kind, n))
	}
	assert.Contains(t, text, `llmproxy_requests_total{endpoint="chat",provider="u",model="m",outcome="ok",status="200"} 2`)
	assert.Contains(t, text, `llmproxy_requests_total{endpoint="chat",provider="none",model="nobody-serves-this",outcome="not_found",status="404"} 1`)
	tot := p.Totals()
	assert.Equal(t, [3]uint64{14, 10, 6}, [3]uint64{tot.PromptTokens, tot.CompletionTokens, tot.CachedTokens})
	assert.Equal(t, [3]uint64{3, 2, 1}, [3]uint64{tot.Requests, tot.Successes, tot.Failures})
	st := p.Stats()[0]
	assert.Equal(t, [3]uint64{14, 10, 6}, [3]uint64{st.PromptTokens, st.CompletionTokens, st.CachedTokens})
	assert.Equal(t, uint64(2), st.Requests)
	assert.Equal(t, 2, st.Latency.Samples)
}
