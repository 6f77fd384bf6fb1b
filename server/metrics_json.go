package server

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llmproxy/llmproxy"
)

// metricsSummary is the body of GET /metrics?format=json: the proxy's
// performance at a glance, from Proxy.Stats and Proxy.Totals. Counts run
// from the proxy's start; latency percentiles describe each provider's
// recent requests (its last 512).
type metricsSummary struct {
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	// InFlight counts the requests being served now, open streams
	// included; OpenStreams the streams among them.
	InFlight    int64 `json:"inflight_requests"`
	OpenStreams int64 `json:"open_streams"`
	// Totals counts every routed request, those no provider could take
	// included.
	Totals summaryTotals `json:"totals"`
	// Providers has one entry per configured provider, in configuration
	// order.
	Providers []providerSummary `json:"providers"`
}

type summaryTotals struct {
	Requests  uint64 `json:"requests"`
	Successes uint64 `json:"successes"`
	Failures  uint64 `json:"failures"`
	// SuccessRate is successes / requests, null without requests.
	SuccessRate *float64    `json:"success_rate"`
	Tokens      tokenCounts `json:"tokens"`
}

type tokenCounts struct {
	Prompt     uint64 `json:"prompt"`
	Completion uint64 `json:"completion"`
	Cached     uint64 `json:"cached"`
}

// providerSummary is one provider's entry; see llmproxy.ProviderStats for
// the meaning of each count.
type providerSummary struct {
	Name string `json:"name"`
	// Active is true for a provider enabled and with its key.
	Active bool `json:"active"`
	// Status is healthy, degraded, unhealthy, "disabled" or "disabled:
	// API key not set".
	Status string `json:"status"`
	// Breaker is closed, half-open or open; absent for inactive providers.
	Breaker        string   `json:"breaker,omitempty"`
	Requests       uint64   `json:"requests"`
	Successes      uint64   `json:"successes"`
	Failures       uint64   `json:"failures"`
	SuccessRate    *float64 `json:"success_rate"` // null without requests
	Attempts       uint64   `json:"attempts"`
	FailedAttempts uint64   `json:"failed_attempts"`
	// Latency is over the provider's last requests, whatever their
	// outcome (a stream: until its end); TTFT over its last streams, to
	// their first content. Each is null without samples.
	Latency *latencySummary `json:"latency_seconds"`
	TTFT    *latencySummary `json:"ttft_seconds"`
	Tokens  tokenCounts     `json:"tokens"`
}

type latencySummary struct {
	P50     float64 `json:"p50"`
	P95     float64 `json:"p95"`
	Samples int     `json:"samples"`
}

// summary builds the JSON performance summary.
func (s *server) summary() metricsSummary {
	tot := s.p.Totals()
	stats := s.p.Stats()
	out := metricsSummary{
		StartedAt:     tot.Started.UTC(),
		UptimeSeconds: time.Since(tot.Started).Seconds(),
		InFlight:      tot.InFlight,
		OpenStreams:   tot.OpenStreams,
		Totals: summaryTotals{
			Requests: tot.Requests, Successes: tot.Successes, Failures: tot.Failures,
			SuccessRate: rate(tot.Successes, tot.Requests),
			Tokens:      tokenCounts{Prompt: tot.PromptTokens, Completion: tot.CompletionTokens, Cached: tot.CachedTokens},
		},
		Providers: make([]providerSummary, 0, len(stats)),
	}
	for _, ps := range stats {
		out.Providers = append(out.Providers, providerSummary{
			Name: ps.Name, Active: ps.Active, Status: ps.Status, Breaker: string(ps.Breaker),
			Requests: ps.Requests, Successes: ps.Successes, Failures: ps.Failures,
			SuccessRate: rate(ps.Successes, ps.Requests),
			Attempts:    ps.Attempts, FailedAttempts: ps.FailedAttempts,
			Latency: latency(ps.Latency), TTFT: latency(ps.TimeToFirstToken),
			Tokens: tokenCounts{Prompt: ps.PromptTokens, Completion: ps.CompletionTokens, Cached: ps.CachedTokens},
		})
	}
	return out
}

func rate(ok, n uint64) *float64 {
	if n == 0 {
		return nil
	}
	r := float64(ok) / float64(n)
	return &r
}

func latency(l llmproxy.LatencyStats) *latencySummary {
	if l.Samples == 0 {
		return nil
	}
	return &latencySummary{P50: l.P50, P95: l.P95, Samples: l.Samples}
}

// wantsJSONMetrics reports whether GET /metrics should answer the JSON
// summary: ?format=json says so and ?format=prometheus (or text) says
// not; without format, the Accept header decides (see prefersJSON). Any
// other format is an error.
func wantsJSONMetrics(r *http.Request) (bool, error) {
	switch f := r.URL.Query().Get("format"); f {
	case "json":
		return true, nil
	case "prometheus", "text":
		return false, nil
	case "":
		return prefersJSON(r.Header.Values("Accept")), nil
	default:
		return false, &llmproxy.Error{
			Kind: llmproxy.KindInvalidRequest, Param: "format", Code: "invalid_format",
			Message: "format must be json or prometheus, got " + strconv.Quote(f),
		}
	}
}

// prefersJSON reports whether the Accept header values rank
// application/json above the text formats (text/plain,
// application/openmetrics-text): by quality, then by order of appearance.
// Wildcards count for neither, so that scrapers, browsers and curl get the
// Prometheus text.
func prefersJSON(accept []string) bool {
	bestJSON, bestText := -1.0, -1.0
	posJSON, posText := 0, 0
	pos := 0
	for _, v := range accept {
		for part := range strings.SplitSeq(v, ",") {
			pos++
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if qs, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(qs, 64); err == nil {
					q = f
				}
			}
			switch mt {
			case "application/json":
				if q > bestJSON {
					bestJSON, posJSON = q, pos
				}
			case "text/plain", "application/openmetrics-text":
				if q > bestText {
					bestText, posText = q, pos
				}
			}
		}
	}
	if bestJSON <= 0 {
		return false
	}
	return bestJSON > bestText || (bestJSON == bestText && posJSON < posText)
}
