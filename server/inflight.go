package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/front/messages"
)

// shedRetryAfter is the Retry-After given to a request shed under load.
const shedRetryAfter = time.Second

// shedLogInterval is the shortest time between two "requests shed" log
// lines.
const shedLogInterval = time.Second

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
	shed  *metrics.Counter // nil: not counted
	log   *slog.Logger
	// unreported counts the requests shed since the last "requests shed"
	// line; the first of them arms the timer that writes the next line.
	unreported atomic.Int64
}

// newInflightLimiter returns a limiter of limit concurrent requests, or nil
// when limit is 0 or less (no limit). Shed requests are counted in set as
// llmproxy_requests_shed_total and summed up in log.
func newInflightLimiter(limit int, set *metrics.Set, log *slog.Logger) *inflightLimiter {
	if limit <= 0 {
		return nil
	}
	l := &inflightLimiter{limit: int64(limit), log: log}
	if set != nil {
		l.shed = set.GetOrCreateCounter("llmproxy_requests_shed_total")
	}
	return l
}

// refused counts a shed request. The first one after a summary line arms a
// timer that writes the next one shedLogInterval later, so that there is
// at most one line per interval and none when nothing is shed.
func (l *inflightLimiter) refused() {
	if l.shed != nil {
		l.shed.Inc()
	}
	if l.unreported.Add(1) == 1 {
		time.AfterFunc(shedLogInterval, l.report)
	}
}

// report writes the "requests shed" line of the requests shed since the
// last one, if any.
func (l *inflightLimiter) report() {
	if n := l.unreported.Swap(0); n > 0 {
		l.log.LogAttrs(context.Background(), slog.LevelWarn, "requests shed",
			slog.Int64("count", n), slog.Int64("max_inflight", l.limit),
			slog.Float64("interval_s", shedLogInterval.Seconds()))
	}
}

// shed is the outermost layer of the handler. It takes a slot for each
// POST to /v1/chat/completions, /v1/completions and /v1/embeddings, before
// anything else runs, and frees it when the request is served. A request
// that finds no slot (more than max_inflight in flight) is answered at
// once by refuse, and costs next to nothing: it gets no access log line,
// is not authenticated nor rate limited (and takes no token of its
// client's limits), and its body is not read. Other requests pass through.
// With no limit it returns next unchanged.
func (s *server) shed(next http.Handler) http.Handler {
	l := s.inflight
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !isShedPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if l.n.Add(1) > l.limit {
			l.n.Add(-1)
			l.refused()
			s.refuse(w, r)
			return
		}
		defer l.n.Add(-1)
		next.ServeHTTP(w, r)
	})
}

// isShedPath reports whether path is one of the endpoints that max_inflight
// bounds: those that call a provider.
func isShedPath(path string) bool {
	switch path {
	case "/v1/chat/completions", "/v1/completions", "/v1/embeddings", pathMessages, pathCountTokens:
		return true
	}
	return false
}

// refuse answers a shed request: 503 with errOverloaded's envelope (529
// overloaded_error in Anthropic's on the Messages front's routes) (written
// once, at start-up), "Retry-After: 1", the request's X-Request-ID (the
// client's, when sane, or a new one) and, for an allowed Origin, the CORS
// headers.
func (s *server) refuse(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set(headerRequestID, requestID(r))
	if origin := r.Header.Get("Origin"); origin != "" {
		setCORS(h, origin, s.p.Config().CORSOrigins)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Retry-After", strconv.Itoa(int(shedRetryAfter/time.Second)))
	status, body := errOverloaded.HTTPStatus(), shedBody
	if r.URL.Path == pathMessages || r.URL.Path == pathCountTokens {
		status, body = messages.ErrorStatus(messagesOverloaded), messagesShedBody
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// errOverloaded is the answer to a request shed by the in-flight limit.
var errOverloaded = &llmproxy.Error{
	Kind:       llmproxy.KindUnavailable,
	Status:     http.StatusServiceUnavailable,
	Type:       "server_error",
	Code:       "overloaded",
	Message:    "the proxy is serving as many requests as it is configured to (max_inflight); retry shortly",
	RetryAfter: shedRetryAfter,
}

// shedBody is the body of refuse's answer, as writeError would write
// errOverloaded.
var shedBody = overloadedBody()

func overloadedBody() []byte {
	b, err := json.Marshal(errOverloaded.Envelope())
	if err != nil {
		panic("server: cannot encode the overloaded answer: " + err.Error())
	}
	return append(b, '\n')
}
