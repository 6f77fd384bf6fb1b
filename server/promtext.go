package server

import (
	"bufio"
	"bytes"
	"io"
	"strings"

	"github.com/VictoriaMetrics/metrics"
)

// metricFamily describes one metric family for the # HELP and # TYPE lines
// of the Prometheus text format. VictoriaMetrics/metrics writes samples
// only (its metadata switch is process-wide, which two proxies in one
// process must not share), so the handler adds them from this table.
type metricFamily struct {
	typ  string // counter, gauge or histogram
	help string
}

// metricFamilies lists every metric the proxy and the server record.
var metricFamilies = map[string]metricFamily{
	"llmproxy_requests_total":              {"counter", "Requests by endpoint, provider, model, outcome (ok or the error kind) and HTTP status."},
	"llmproxy_request_duration_seconds":    {"histogram", "Duration of requests by endpoint and provider, streams until their end."},
	"llmproxy_time_to_first_token_seconds": {"histogram", "Time from a stream's request to its first content chunk, by provider."},
	"llmproxy_tokens_total":                {"counter", "Tokens by provider, model and kind (prompt, completion, cached)."},
	"llmproxy_cost_usd_total":              {"counter", "Cost in US dollars of the priced requests, by provider, model and client key."},
	"llmproxy_key_tokens_total":            {"counter", "Tokens by client key and kind (prompt, completion)."},
	"llmproxy_unpriced_requests_total":     {"counter", "Answered requests without a price (unknown model or no usage reported), by provider and model."},
	"llmproxy_attempts_total":              {"counter", "Attempts on providers by provider and outcome."},
	"llmproxy_retries_total":               {"counter", "Retries on the same provider."},
	"llmproxy_failovers_total":             {"counter", "Failovers away from a provider."},
	"llmproxy_provider_breaker_state":      {"gauge", "Circuit breaker state per provider: 0 closed, 1 half-open, 2 open."},
	"llmproxy_provider_health":             {"gauge", "Health per provider: 0 healthy, 1 degraded, 2 unhealthy."},
	"llmproxy_rate_limited_total":          {"counter", "Requests refused by a rate limit, by scope."},
	"llmproxy_ratelimit_rejected_total":    {"counter", "Client requests answered 429 by the inbound limits, by endpoint and scope."},
	"llmproxy_requests_shed_total":         {"counter", "Requests answered 503 because max_inflight was reached."},
	"llmproxy_inflight_requests":           {"gauge", "Requests being served, streams included."},
	"llmproxy_open_streams":                {"gauge", "Streams open to clients."},
	"llmproxy_config_reloads_total":        {"counter", "Configuration reloads by result (ok, rejected)."},
	"llmproxy_config_info":                 {"gauge", "Always 1; the hash label names the configuration in force."},
	"llmproxy_redis_up":                    {"gauge", "1 while Redis answers (or is not used), 0 during an outage."},
	"llmproxy_redis_outages_total":         {"counter", "Redis outages seen."},
}

// writePrometheusText writes set in the Prometheus text format with # HELP
// and # TYPE lines before each known family, which tools such as promtool
// require.
func writePrometheusText(w io.Writer, set *metrics.Set) {
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	out := bufio.NewWriter(w)
	defer out.Flush()
	seen := map[string]bool{}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if fam := familyOf(line); fam != "" && !seen[fam] {
			if f, ok := metricFamilies[fam]; ok {
				seen[fam] = true
				out.WriteString("# HELP " + fam + " " + f.help + "\n")
				out.WriteString("# TYPE " + fam + " " + f.typ + "\n")
			}
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
}

// familyOf returns the family a sample line belongs to: its name without
// labels and, for histograms, without the _bucket, _sum or _count suffix.
func familyOf(line string) string {
	if line == "" || line[0] == '#' {
		return ""
	}
	name := line
	if i := strings.IndexAny(name, "{ "); i >= 0 {
		name = name[:i]
	}
	for _, suf := range [...]string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if f, known := metricFamilies[base]; known && f.typ == "histogram" {
				return base
			}
		}
	}
	return name
}
