package llmproxy

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// HealthStatus is a provider's health as the proxy sees it.
type HealthStatus string

// The health statuses, from best to worst.
const (
	// HealthHealthy is a provider with nothing against it.
	HealthHealthy HealthStatus = "healthy"
	// HealthDegraded is a provider that serves but is tried after the
	// healthy providers of its priority: a recent quota error, a failure
	// rate of at least a quarter over the last minute, a latency EWMA above
	// half its timeout, or a half-open breaker.
	HealthDegraded HealthStatus = "degraded"
	// HealthUnhealthy is a provider whose breaker is open or whose last
	// active health check failed. The router skips it while any other
	// candidate remains.
	HealthUnhealthy HealthStatus = "unhealthy"
)

// Thresholds of the health signals.
const (
	// healthWindow is the sliding window of the passive signals (failure
	// rate, quota errors) and the age at which a latency measurement is
	// stale.
	healthWindow        = time.Minute
	healthWindowBuckets = 6
	// degradedMinAttempts is the fewest attempts in the window for which
	// a failure rate means something.
	degradedMinAttempts = 10
	// degradedFailureRate is the failed share of the window's attempts
	// that makes a provider degraded.
	degradedFailureRate = 0.25
	// latencyAlpha is the weight of a new sample in the latency EWMA.
	latencyAlpha = 0.2
	// healthJitter is the share by which each wait between two active
	// checks varies around health_check_interval, either way.
	healthJitter = 0.2
)

// ProviderHealth is the health of one active provider (see Proxy.Health).
// The zero value describes nothing; it is a plain value, safe to copy.
type ProviderHealth struct {
	// Name is the provider's configured name.
	Name string `json:"name"`
	// Status is healthy, degraded or unhealthy.
	Status HealthStatus `json:"status"`
	// Reason says why the status is not healthy; empty when it is.
	Reason string `json:"reason,omitempty"`
	// Since is when the status last changed (or the proxy started).
	Since time.Time `json:"since"`
	// Breaker is the state of the provider's circuit breaker.
	Breaker BreakerState `json:"breaker"`
	// ConsecutiveFailures counts the failures in a row since the last
	// success (failures that say something about the provider only).
	ConsecutiveFailures int `json:"consecutive_failures"`
	// Attempts is the number of attempts in the last minute that count
	// (successes and failures that say something about the provider).
	Attempts int `json:"attempts"`
	// ErrorRate is the failed share of Attempts; 0 without attempts.
	ErrorRate float64 `json:"error_rate"`
	// LatencyEWMA is the moving average, in seconds, of the time
	// successful attempts took to answer (a stream: to its first content);
	// 0 until one succeeded.
	LatencyEWMA float64 `json:"latency_ewma"`
	// ActiveChecks is true when the provider has a check that costs no
	// tokens (HealthChecker), run every health_check_interval. Without
	// one the provider is watched passively, from live traffic only.
	ActiveChecks bool `json:"active_checks"`
	// LastCheck is when the last active check ended; nil before the
	// first.
	LastCheck *time.Time `json:"last_check,omitempty"`
}

// CanServe reports whether the router sends the provider requests in turn,
// that is whether it is not unhealthy.
func (h ProviderHealth) CanServe() bool { return h.Status != HealthUnhealthy }

// Ranks of a provider within its priority: healthy ones first, then
// degraded ones; unavailable ones only as a last resort.
const (
	rankHealthy = iota
	rankDegraded
	rankUnavailable
)

// rank returns where the provider goes within its priority. A half-open
// breaker keeps the provider at the front, so that its trial requests
// happen while healthier providers serve.
func (h ProviderHealth) rank() int {
	switch {
	case h.Status == HealthUnhealthy:
		return rankUnavailable
	case h.Status == HealthHealthy || h.Breaker == BreakerHalfOpen:
		return rankHealthy
	}
	return rankDegraded
}

// health holds the signals about one provider: the outcomes of live
// attempts (passive) and the result of the last active check. The zero
// value is not usable; build one with newHealth. It is safe for concurrent
// use.
type health struct {
	name    string
	log     *slog.Logger
	timeout time.Duration // the provider's attempt timeout
	checker bool          // the provider has an active check

	mu       sync.Mutex
	status   HealthStatus
	reason   string
	since    time.Time
	outcomes *slidingWindow // a: successes, b: failures

	ewma      time.Duration // latency EWMA of successful attempts
	measured  bool          // ewma holds at least one sample
	latencyAt time.Time     // last latency sample, or last probe claimed

	consecutive int       // failures that count since the last success
	lastFailure string    // description of the last failure that counts
	quotaAt     time.Time // last quota error; zero after a success
	quotaMsg    string

	checkAt  time.Time // end of the last active check; zero before the first
	checkErr string    // the last active check's failure; empty if it passed
}

func newHealth(name string, timeout time.Duration, checker bool, now time.Time, log *slog.Logger) *health {
	return &health{
		name: name, log: log, timeout: timeout, checker: checker,
		status: HealthHealthy, since: now,
		outcomes: newSlidingWindow(healthWindow, healthWindowBuckets),
	}
}

// observe notes the outcome of one attempt at now (see record) and
// evaluates the health at once, under the same lock, so that a change of
// status is noted and logged when it happens. bs is the state of the
// provider's breaker once it has the outcome.
func (h *health) observe(now time.Time, err *Error, latency time.Duration, bs BreakerState) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.record(now, err, latency)
	h.evaluateLocked(now, bs)
}

// record notes the outcome of one attempt at now: err nil is a success
// that took latency to answer. Failures that do not count against the
// provider (the caller's cancellation, an invalid request) are ignored.
// The caller holds h.mu.
func (h *health) record(now time.Time, err *Error, latency time.Duration) {
	if err == nil {
		h.outcomes.add(now, 1, 0)
		h.consecutive = 0
		h.quotaAt = time.Time{}
		if latency > 0 {
			if h.measured {
				h.ewma = time.Duration(latencyAlpha*float64(latency) + (1-latencyAlpha)*float64(h.ewma))
			} else {
				h.ewma, h.measured = latency, true
			}
			h.latencyAt = now
		}
		return
	}
	if !err.Kind.CountsAgainstProvider() {
		return
	}
	h.outcomes.add(now, 0, 1)
	h.consecutive++
	h.lastFailure = describeFailure(err)
	if err.Kind == KindQuotaExceeded {
		h.quotaAt, h.quotaMsg = now, h.lastFailure
	}
}

// checked notes the result of an active check that ended at now. A quota
// error (an account out of credit) makes the provider degraded, any other
// failure unhealthy until a check passes.
func (h *health) checked(now time.Time, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checkAt, h.checkErr = now, ""
	if err == nil {
		return
	}
	e := AsError(err)
	if e.Kind == KindQuotaExceeded {
		h.quotaAt, h.quotaMsg = now, describeFailure(e)
		return
	}
	h.checkErr = describeFailure(e)
}

// latencyKey returns the latency EWMA for least-latency balancing, when
// it was last measured (or a probe claimed), and whether it ever was.
func (h *health) latencyKey() (ewma time.Duration, at time.Time, measured bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ewma, h.latencyAt, h.measured
}

// claimProbe notes at now that a request goes to re-measure a stale
// latency, so that the requests that follow at once do not all go too.
func (h *health) claimProbe(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.measured && now.Sub(h.latencyAt) >= healthWindow {
		h.latencyAt = now
	}
}

// evaluate works out the status at now from the signals and the breaker's
// state, records the time of a change, logs it and returns the whole
// picture.
func (h *health) evaluate(now time.Time, bs BreakerState) ProviderHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	ok, failed, rate := h.evaluateLocked(now, bs)
	ph := ProviderHealth{
		Name: h.name, Status: h.status, Reason: h.reason, Since: h.since,
		Breaker: bs, ConsecutiveFailures: h.consecutive,
		Attempts: ok + failed, ErrorRate: rate,
		ActiveChecks: h.checker,
	}
	if h.measured {
		ph.LatencyEWMA = h.ewma.Seconds()
	}
	if !h.checkAt.IsZero() {
		at := h.checkAt
		ph.LastCheck = &at
	}
	return ph
}

// rank evaluates the health at now like evaluate and returns the
// provider's rank within its priority (see ProviderHealth.rank), without
// the whole picture: the router ranks the candidates of every request.
func (h *health) rank(now time.Time, bs BreakerState) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.evaluateLocked(now, bs)
	return ProviderHealth{Status: h.status, Breaker: bs}.rank()
}

// evaluateLocked brings the status and its reason up to date at now,
// logging a change, and returns the window's counts and failure rate. The
// caller holds h.mu.
func (h *health) evaluateLocked(now time.Time, bs BreakerState) (ok, failed int, rate float64) {
	ok, failed = h.outcomes.sum(now)
	if ok+failed > 0 {
		rate = float64(failed) / float64(ok+failed)
	}
	status, reason := HealthHealthy, ""
	switch {
	case h.checkErr != "":
		status, reason = HealthUnhealthy, "health check failed: "+h.checkErr
	case bs == BreakerOpen:
		status, reason = HealthUnhealthy, "circuit breaker open"
		if h.lastFailure != "" {
			reason += "; last failure: " + h.lastFailure
		}
	case !h.quotaAt.IsZero() && now.Sub(h.quotaAt) < healthWindow:
		status, reason = HealthDegraded, "quota exceeded: "+h.quotaMsg
	case bs == BreakerHalfOpen:
		status, reason = HealthDegraded, "circuit breaker half-open: trying a request"
	case ok+failed >= degradedMinAttempts && rate >= degradedFailureRate:
		status = HealthDegraded
		reason = fmt.Sprintf("%d of %d attempts failed in the last %v", failed, ok+failed, healthWindow)
	case h.measured && h.ewma > h.timeout/2:
		status = HealthDegraded
		reason = fmt.Sprintf("latency EWMA %v is above half the timeout (%v)", h.ewma.Round(time.Millisecond), h.timeout)
	}
	if status != h.status {
		level := slog.LevelInfo
		if status != HealthHealthy {
			level = slog.LevelWarn
		}
		h.log.Log(context.Background(), level, "provider health changed",
			"provider", h.name, "from", string(h.status), "to", string(status), "reason", reason)
		h.status, h.since = status, now
	}
	h.reason = reason
	return ok, failed, rate
}

// describeFailure describes a failure for a health reason from the parts
// of an *Error that are safe to show to anyone: its kind, status and
// message, never its cause (which may name internal addresses).
func describeFailure(e *Error) string {
	s := e.Kind.String()
	if e.Status != 0 {
		s += " (" + strconv.Itoa(e.Status) + ")"
	}
	msg := e.Message
	if msg == "" {
		msg = defaultMessage(e.Kind)
	}
	return s + ": " + msg
}

// jittered returns interval varied at random by up to healthJitter either
// way, so that the checks of replicas started together drift apart.
func jittered(interval time.Duration) time.Duration {
	span := time.Duration(float64(interval) * 2 * healthJitter)
	if span <= 0 {
		return interval
	}
	return interval - span/2 + rand.N(span)
}

// monitor runs the active checks of u every health_check_interval
// (jittered) until ctx ends. A check is bounded by the provider's timeout
// and by the interval. The first check comes one interval after the start,
// so that building a proxy does no I/O.
func (u *upstream) monitor(ctx context.Context, hc HealthChecker, interval time.Duration) {
	t := time.NewTimer(jittered(interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, min(u.cfg.Timeout, interval))
		err := u.healthCheck(cctx, hc)
		cancel()
		if ctx.Err() != nil {
			return
		}
		now := u.now()
		u.health.checked(now, err)
		u.healthAt(now)
		t.Reset(jittered(interval))
	}
}

// safeHealthCheck runs one active check, turning a panic of the provider's
// adapter into a failed check instead of a crash of the process.
func safeHealthCheck(ctx context.Context, hc HealthChecker) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &Error{Kind: KindUnavailable, Message: "the health check panicked", Err: fmt.Errorf("panic: %v", v)}
		}
	}()
	return hc.HealthCheck(ctx)
}

// Health reports the health of each active provider, in configuration
// order: its status with the reason and the time of the last change, its
// breaker and its passive signals. It is safe for concurrent use.
func (p *Proxy) Health() []ProviderHealth {
	st := p.state.Load()
	now := p.now()
	out := make([]ProviderHealth, 0, len(st.upstreams))
	for _, pc := range st.cfg.Providers {
		if u, ok := st.byName[pc.Name]; ok {
			out = append(out, u.healthAt(now))
		}
	}
	return out
}
