package server

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/llmproxy/llmproxy"
)

// shedRetryAfter is the Retry-After given to a request shed under load.
const shedRetryAfter = time.Second

// inflightLimiter bounds the requests a handler serves at once. A request
// over the bound is answered at once with 503 and Retry-After rather than
// queued: under an arrival rate above capacity, queueing only makes every
// admitted request slower, while shedding keeps their latency near its
// value at capacity and memory bounded.
//
// It counts with one atomic integer and takes no lock.
type inflightLimiter struct {
	limit int64
	n     atomic.Int64
	shed  *metrics.Counter
}

// newInflightLimiter returns a limiter of limit concurrent requests, or nil
// when limit is 0 or less (no limit). Shed requests are counted in set as
// llmproxy_requests_shed_total.
func newInflightLimiter(limit int, set *metrics.Set) *inflightLimiter {
	if limit <= 0 {
		return nil
	}
	l := &inflightLimiter{limit: int64(limit)}
	if set != nil {
		l.shed = set.GetOrCreateCounter("llmproxy_requests_shed_total")
	}
	return l
}

// shed wraps next so that it runs only while fewer than the limit of
// requests are in flight; the others are answered 503 in the OpenAI
// envelope with "Retry-After: 1" and code "overloaded". With no limit it
// returns next unchanged. It must wrap a handler before the handler reads
// the request body, so that a shed request costs next to nothing.
func (s *server) shed(next http.Handler) http.Handler {
	l := s.inflight
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l.n.Add(1) > l.limit {
			l.n.Add(-1)
			if l.shed != nil {
				l.shed.Inc()
			}
			s.fail(w, r, errOverloaded)
			return
		}
		defer l.n.Add(-1)
		next.ServeHTTP(w, r)
	})
}

// errOverloaded is the answer to a request shed by the in-flight limit. It
// is shared: writeError and fail only read it.
var errOverloaded = &llmproxy.Error{
	Kind:       llmproxy.KindUnavailable,
	Status:     http.StatusServiceUnavailable,
	Type:       "server_error",
	Code:       "overloaded",
	Message:    "the proxy is serving as many requests as it is configured to (max_inflight); retry shortly",
	RetryAfter: shedRetryAfter,
}
