package llmproxy

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// latencySamples is how many recent latencies each provider keeps for the
// percentiles of Stats: the last latencySamples requests (and as many
// streams' first tokens) it ended.
const latencySamples = 512

// ProviderStats is the performance summary of one configured provider (see
// Proxy.Stats). Counts run from New and survive reloads: they belong to
// the provider's name. It is a plain value, safe to copy.
type ProviderStats struct {
	// Name is the provider's configured name.
	Name string `json:"name"`
	// Active is true for a provider that is enabled and has its key.
	Active bool `json:"active"`
	// Status is the health status of an active provider (healthy,
	// degraded, unhealthy), else "disabled" or "disabled: API key not
	// set", as in ProviderInfo.
	Status string `json:"status"`
	// Breaker is the state of an active provider's circuit breaker; empty
	// for the others.
	Breaker BreakerState `json:"breaker,omitempty"`

	// Requests counts the requests the provider ended: those it answered
	// and those that failed on it last (after failover, a request counts
	// for the provider that answered it, not for the ones before). A
	// stream counts when it ends.
	Requests uint64 `json:"requests"`
	// Successes counts the Requests that got their whole answer (a
	// stream: that ended cleanly); Failures the others.
	Successes uint64 `json:"successes"`
	Failures  uint64 `json:"failures"`
	// SuccessRate is Successes / Requests; 0 without requests.
	SuccessRate float64 `json:"success_rate"`
	// Attempts counts every call made to the provider, retries and
	// attempts before a failover included; FailedAttempts those of them
	// that failed.
	Attempts       uint64 `json:"attempts"`
	FailedAttempts uint64 `json:"failed_attempts"`

	// Latency is the duration of the provider's last requests (up to
	// 512, whatever their outcome): from the proxy receiving the request
	// to its answer, or a stream's end.
	Latency LatencyStats `json:"latency_seconds"`
	// TimeToFirstToken is the time of the provider's last streams (up to
	// 512) to their first content: the stream's commit point.
	TimeToFirstToken LatencyStats `json:"ttft_seconds"`

	// Tokens the provider's answers reported using.
	PromptTokens     uint64 `json:"prompt_tokens"`
	CompletionTokens uint64 `json:"completion_tokens"`
	CachedTokens     uint64 `json:"cached_tokens"`
}

// LatencyStats are percentiles of recent latencies, in seconds. All are 0
// when Samples is 0.
type LatencyStats struct {
	P50     float64 `json:"p50"`
	P95     float64 `json:"p95"`
	Samples int     `json:"samples"`
}

// Totals is the proxy-wide part of the performance summary (see
// Proxy.Totals). It is a plain value, safe to copy.
type Totals struct {
	// Started is when New built the proxy.
	Started time.Time `json:"started"`
	// Requests counts every routed request since New, including those no
	// provider could take (an unknown model); Successes and Failures
	// split them as ProviderStats does. A stream counts when it ends.
	Requests  uint64 `json:"requests"`
	Successes uint64 `json:"successes"`
	Failures  uint64 `json:"failures"`
	// Tokens reported by the answers of all providers, removed ones
	// included.
	PromptTokens     uint64 `json:"prompt_tokens"`
	CompletionTokens uint64 `json:"completion_tokens"`
	CachedTokens     uint64 `json:"cached_tokens"`
	// InFlight is the number of requests being served now, open streams
	// included; OpenStreams the number of streams among them.
	InFlight    int64 `json:"inflight_requests"`
	OpenStreams int64 `json:"open_streams"`
}

// Stats returns the performance summary of each configured provider, in
// configuration order, active or not: its requests with their success rate,
// its attempts, the median and 95th percentile of its recent latencies and
// times to first token, its tokens, and its health status and breaker
// state. Counts run from New, survive reloads and belong to the provider's
// name; a provider removed by a reload is left out (Totals still counts
// its traffic).
//
// Recording takes no lock: counts are atomic and latencies go to a ring of
// the last 512 samples per provider, so percentiles describe recent
// traffic, not the whole life of the proxy (llmproxy_request_duration_seconds
// does that). A sample being written while Stats reads may be missed. Stats
// is safe for concurrent use; it costs a sort of at most 512 samples per
// provider.
func (p *Proxy) Stats() []ProviderStats {
	st := p.state.Load()
	now := p.now()
	out := make([]ProviderStats, 0, len(st.cfg.Providers))
	for _, pc := range st.cfg.Providers {
		ps := ProviderStats{Name: pc.Name, Status: "disabled"}
		if u, ok := st.byName[pc.Name]; ok {
			h := u.healthAt(now)
			ps.Active, ps.Status, ps.Breaker = true, string(h.Status), h.Breaker
		} else if pc.IsEnabled() {
			ps.Status = "disabled: API key not set"
		}
		if s := p.rec.book.lookup(pc.Name); s != nil {
			s.fill(&ps)
		}
		out = append(out, ps)
	}
	return out
}

// Totals returns the proxy-wide counts of the performance summary (see
// Stats). It is safe for concurrent use and takes no lock.
func (p *Proxy) Totals() Totals {
	b := p.rec.book
	req := b.requests.Load()
	ok := min(b.successes.Load(), req)
	return Totals{
		Started:          b.started,
		Requests:         req,
		Successes:        ok,
		Failures:         req - ok,
		PromptTokens:     b.prompt.Load(),
		CompletionTokens: b.completion.Load(),
		CachedTokens:     b.cached.Load(),
		InFlight:         int64(p.rec.inflight.Get()),
		OpenStreams:      int64(p.rec.openStreams.Get()),
	}
}

// statsBook holds the counts behind Stats and Totals. Recording is lock
// free: providers are found in a sync.Map (lock free once a provider has
// been seen) and every count is atomic.
type statsBook struct {
	started   time.Time
	providers sync.Map // provider name -> *providerStats

	requests, successes        atomic.Uint64
	prompt, completion, cached atomic.Uint64
}

func newStatsBook(started time.Time) *statsBook { return &statsBook{started: started} }

// providerStats are the counts of one provider name.
type providerStats struct {
	requests, successes        atomic.Uint64
	attempts, failedAttempts   atomic.Uint64
	prompt, completion, cached atomic.Uint64
	latency, ttft              latencyRing
}

// lookup returns the counts of the named provider, or nil if it has none.
func (b *statsBook) lookup(name string) *providerStats {
	if v, ok := b.providers.Load(name); ok {
		return v.(*providerStats)
	}
	return nil
}

// provider returns the counts of the named provider, making them if need
// be. The empty name and "none" (no provider took the request) have none.
func (b *statsBook) provider(name string) *providerStats {
	if name == "" || name == "none" {
		return nil
	}
	if s := b.lookup(name); s != nil {
		return s
	}
	v, _ := b.providers.LoadOrStore(name, new(providerStats))
	return v.(*providerStats)
}

// request records a finished request ended by provider, with the tokens
// its answer reported (u; nil when it reported none).
func (b *statsBook) request(provider string, ok bool, d time.Duration, u *Usage) {
	b.requests.Add(1)
	if ok {
		b.successes.Add(1)
	}
	var pt, ct, kt uint64
	if u != nil {
		pt, ct = uint64(max(u.PromptTokens, 0)), uint64(max(u.CompletionTokens, 0))
		if det := u.PromptTokensDetails; det != nil {
			kt = uint64(max(det.CachedTokens, 0))
		}
		b.prompt.Add(pt)
		b.completion.Add(ct)
		b.cached.Add(kt)
	}
	s := b.provider(provider)
	if s == nil {
		return
	}
	s.requests.Add(1)
	if ok {
		s.successes.Add(1)
	}
	s.latency.add(d)
	if u != nil {
		s.prompt.Add(pt)
		s.completion.Add(ct)
		s.cached.Add(kt)
	}
}

// attempt records one attempt on provider.
func (b *statsBook) attempt(provider string, ok bool) {
	if s := b.provider(provider); s != nil {
		s.attempts.Add(1)
		if !ok {
			s.failedAttempts.Add(1)
		}
	}
}

// firstToken records a stream's time to its first content.
func (b *statsBook) firstToken(provider string, d time.Duration) {
	if s := b.provider(provider); s != nil {
		s.ttft.add(d)
	}
}

// fill copies the counts into ps.
func (s *providerStats) fill(ps *ProviderStats) {
	ps.Requests = s.requests.Load()
	ps.Successes = min(s.successes.Load(), ps.Requests)
	ps.Failures = ps.Requests - ps.Successes
	if ps.Requests > 0 {
		ps.SuccessRate = float64(ps.Successes) / float64(ps.Requests)
	}
	ps.Attempts = s.attempts.Load()
	ps.FailedAttempts = min(s.failedAttempts.Load(), ps.Attempts)
	ps.Latency = s.latency.stats()
	ps.TimeToFirstToken = s.ttft.stats()
	ps.PromptTokens = s.prompt.Load()
	ps.CompletionTokens = s.completion.Load()
	ps.CachedTokens = s.cached.Load()
}

// latencyRing keeps the last latencySamples durations, in nanoseconds, in
// atomics: a writer claims a slot with one atomic add and stores into it;
// nothing locks. 0 marks a slot never written (samples are stored as at
// least 1 ns).
type latencyRing struct {
	next atomic.Uint64
	ns   [latencySamples]atomic.Int64
}

func (r *latencyRing) add(d time.Duration) {
	i := r.next.Add(1) - 1
	r.ns[i%latencySamples].Store(max(int64(d), 1))
}

// stats returns the median and 95th percentile (nearest rank) of the
// samples held.
func (r *latencyRing) stats() LatencyStats {
	n := min(r.next.Load(), latencySamples)
	if n == 0 {
		return LatencyStats{}
	}
	vals := make([]int64, 0, n)
	for i := range r.ns {
		if v := r.ns[i].Load(); v > 0 {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return LatencyStats{}
	}
	slices.Sort(vals)
	return LatencyStats{
		P50:     nearestRank(vals, 0.50),
		P95:     nearestRank(vals, 0.95),
		Samples: len(vals),
	}
}

// nearestRank returns the q quantile of the sorted nanoseconds vals, in
// seconds.
func nearestRank(vals []int64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(vals)))) - 1
	i = min(max(i, 0), len(vals)-1)
	return time.Duration(vals[i]).Seconds()
}
