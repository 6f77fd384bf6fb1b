package llmproxy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// maxModelLabels bounds the distinct model label values per proxy. Model
// names come from clients (a glob like "gpt-4*" admits any suffix), so they
// must not be able to grow the metric set without limit; models beyond the
// bound are counted as "other".
const maxModelLabels = 200

// durationBuckets are the upper bounds (seconds) of the latency histograms:
// from 5 ms to 5 minutes, as LLM requests span that whole range.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// recorder records the proxy's metrics in its own *metrics.Set. The zero
// value is not usable; see newRecorder. It is safe for concurrent use.
type recorder struct {
	set *metrics.Set

	models sync.Map // model -> struct{}
	nmodel atomic.Int32

	inflight    *metrics.Counter
	openStreams *metrics.Counter

	// book keeps the counts of Proxy.Stats and Proxy.Totals.
	book *statsBook

	mu         sync.Mutex      // guards the fields below (reloads only)
	configInfo string          // name of the current llmproxy_config_info series
	gauges     map[string]bool // providers that have state gauges
}

func newRecorder(set *metrics.Set) *recorder {
	return &recorder{
		set:         set,
		inflight:    set.GetOrCreateCounter("llmproxy_inflight_requests"),
		openStreams: set.GetOrCreateCounter("llmproxy_open_streams"),
		gauges:      map[string]bool{},
		book:        newStatsBook(time.Now()),
	}
}

// metricName builds a metric name with label pairs (name, value, name,
// value…), quoting and escaping the values.
func metricName(base string, labels ...string) string {
	n := len(base) + 2
	for _, l := range labels {
		n += len(l) + 3
	}
	// One allocation: the Builder's buffer becomes the string.
	var b strings.Builder
	b.Grow(n)
	var q [64]byte // a quoted label value, on the stack
	b.WriteString(base)
	for i := 0; i+1 < len(labels); i += 2 {
		if i == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(labels[i])
		b.WriteByte('=')
		if v := labels[i+1]; plainLabel(v) {
			b.WriteByte('"')
			b.WriteString(v)
			b.WriteByte('"')
		} else {
			b.Write(strconv.AppendQuote(q[:0], v))
		}
	}
	if len(labels) > 0 {
		b.WriteByte('}')
	}
	return b.String()
}

// plainLabel reports whether a label value can be quoted as it is:
// printable ASCII without quotes or backslashes, as provider, model and
// endpoint names are. strconv.AppendQuote, which handles the rest, decodes
// every rune and took most of the time of building a name
// (BenchmarkMetricName).
func plainLabel(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// counter returns the counter of the series of name with labels (name,
// value pairs).
func (r *recorder) counter(name string, labels ...string) *metrics.Counter {
	return r.set.GetOrCreateCounter(metricName(name, labels...))
}

// histogram returns the latency histogram of the series of name with
// labels (see counter).
func (r *recorder) histogram(name string, labels ...string) *metrics.PrometheusHistogram {
	return r.set.GetOrCreatePrometheusHistogramExt(metricName(name, labels...), durationBuckets)
}

// model returns the label value for model: the model itself while fewer
// than maxModelLabels distinct models were seen, else "other", as for a
// name longer than maxCachedModelName.
func (r *recorder) model(model string) string {
	if len(model) > maxCachedModelName {
		return "other"
	}
	if _, ok := r.models.Load(model); ok {
		return model
	}
	if r.nmodel.Add(1) > maxModelLabels {
		r.nmodel.Add(-1)
		return "other"
	}
	if _, loaded := r.models.LoadOrStore(model, struct{}{}); loaded {
		r.nmodel.Add(-1)
	}
	return model
}

// outcomeLabel is "ok" for success and the error kind otherwise.
func outcomeLabel(err error) string {
	if err == nil {
		return "ok"
	}
	return AsError(err).Kind.String()
}

// statusOf is the HTTP status a server answers err with: 200 for nil.
func statusOf(err error) int {
	if err == nil {
		return 200
	}
	return AsError(err).HTTPStatus()
}

// countRequest counts a request in llmproxy_requests_total by endpoint,
// provider ("none" when empty), model label (see model), outcome and HTTP
// status, and returns the provider label.
func (r *recorder) countRequest(endpoint, provider, modelLabel string, status int, err error) string {
	if provider == "" {
		provider = "none"
	}
	r.counter("llmproxy_requests_total", "endpoint", endpoint, "provider", provider, "model", modelLabel,
		"outcome", outcomeLabel(err), "status", statusLabel(status)).Inc()
	return provider
}

// statusLabel is an HTTP status as a label value: "200" without the
// allocation of strconv.Itoa, which makes a string for every number above
// 99 (BenchmarkRouterRaw).
func statusLabel(status int) string {
	if status == 200 {
		return "200"
	}
	return strconv.Itoa(status)
}

// request records a finished request, in one pass: its count by endpoint,
// provider, model, outcome and status (see countRequest), its duration,
// and the tokens its answer reported (u; nil when it reported none).
func (r *recorder) request(endpoint, provider, model string, status int, err error, d time.Duration, u *Usage) {
	m := r.model(model)
	provider = r.countRequest(endpoint, provider, m, status, err)
	r.histogram("llmproxy_request_duration_seconds", "endpoint", endpoint, "provider", provider).Update(d.Seconds())
	if u != nil {
		r.counter("llmproxy_tokens_total", "provider", provider, "model", m, "kind", "prompt").Add(u.PromptTokens)
		r.counter("llmproxy_tokens_total", "provider", provider, "model", m, "kind", "completion").Add(u.CompletionTokens)
		if det := u.PromptTokensDetails; det != nil && det.CachedTokens > 0 {
			r.counter("llmproxy_tokens_total", "provider", provider, "model", m, "kind", "cached").Add(det.CachedTokens)
		}
	}
	r.book.request(provider, err == nil, d, u)
}

// attempt records one attempt on a provider and whether it was a retry.
func (r *recorder) attempt(provider string, err error, retry bool) {
	r.counter("llmproxy_attempts_total", "provider", provider, "outcome", outcomeLabel(err)).Inc()
	if retry {
		r.counter("llmproxy_retries_total", "provider", provider).Inc()
	}
	r.book.attempt(provider, err == nil)
}

// failover records moving on from provider to the next candidate.
func (r *recorder) failover(from string) {
	r.counter("llmproxy_failovers_total", "provider", from).Inc()
}

// firstToken records a stream's time to its first content chunk.
func (r *recorder) firstToken(provider string, d time.Duration) {
	r.histogram("llmproxy_time_to_first_token_seconds", "provider", provider).Update(d.Seconds())
	r.book.firstToken(provider, d)
}

// RecordRefused counts in llmproxy_requests_total a request to endpoint
// ("chat", "completions" or "embeddings") that a server refused before it
// reached the proxy, with err's outcome and HTTP status, under provider
// and model "none": a body that could not be read or parsed (400, 413,
// 415), a missing key (401), a client rate limit (429). The requests the
// proxy routes are counted by the proxy itself, whatever their outcome;
// refused ones do not enter the latency histograms nor Stats.
func (p *Proxy) RecordRefused(endpoint string, err error) {
	p.rec.countRequest(endpoint, "none", p.rec.model("none"), statusOf(err), err)
}

// RecordRateLimited counts a request refused by a rate limit; scope names
// the limit (e.g. "inbound_chat", "inbound_global", "outbound").
func (p *Proxy) RecordRateLimited(scope string) {
	p.rec.counter("llmproxy_rate_limited_total", "scope", scope).Inc()
}

// configLoaded records the configuration now in force: its hash in
// llmproxy_config_info and the per-provider state gauges of its providers
// (gauges of providers it no longer has are removed).
func (r *recorder) configLoaded(p *Proxy, cfg Config) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, _ := json.Marshal(cfg)
	sum := sha256.Sum256(b)
	info := metricName("llmproxy_config_info", "hash", hex.EncodeToString(sum[:6]))
	if r.configInfo != "" && r.configInfo != info {
		r.set.UnregisterMetric(r.configInfo)
	}
	r.configInfo = info
	r.set.GetOrCreateGauge(info, func() float64 { return 1 })

	want := map[string]bool{}
	for _, pc := range cfg.Providers {
		want[pc.Name] = true
		if r.gauges[pc.Name] {
			continue
		}
		r.gauges[pc.Name] = true
		name := pc.Name
		r.set.GetOrCreateGauge(metricName("llmproxy_provider_breaker_state", "provider", name), func() float64 {
			if u := p.state.Load().byName[name]; u != nil {
				return breakerGaugeValue(u.BreakerState())
			}
			return math.NaN()
		})
		r.set.GetOrCreateGauge(metricName("llmproxy_provider_health", "provider", name), func() float64 {
			if u := p.state.Load().byName[name]; u != nil {
				return healthGaugeValue(u.HealthStatus())
			}
			return math.NaN()
		})
	}
	for name := range r.gauges {
		if !want[name] {
			r.set.UnregisterMetric(metricName("llmproxy_provider_breaker_state", "provider", name))
			r.set.UnregisterMetric(metricName("llmproxy_provider_health", "provider", name))
			delete(r.gauges, name)
		}
	}
}

// breakerGaugeValue is 0 for closed, 1 for half-open and 2 for open.
func breakerGaugeValue(s BreakerState) float64 {
	switch s {
	case BreakerHalfOpen:
		return 1
	case BreakerOpen:
		return 2
	}
	return 0
}

// healthGaugeValue is 0 for healthy, 1 for degraded and 2 for unhealthy.
func healthGaugeValue(s HealthStatus) float64 {
	switch s {
	case HealthDegraded:
		return 1
	case HealthUnhealthy:
		return 2
	}
	return 0
}

// reload counts a configuration reload, accepted or rejected.
func (r *recorder) reload(ok bool) {
	result := "ok"
	if !ok {
		result = "rejected"
	}
	r.counter("llmproxy_config_reloads_total", "result", result).Inc()
}
