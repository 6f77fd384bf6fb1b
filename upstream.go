package llmproxy

import (
	"log/slog"
	"time"

	"github.com/sony/gobreaker/v2"
)

// upstream is one built provider with its configuration, its circuit
// breaker and its health signals. It is safe for concurrent use.
type upstream struct {
	cfg     ProviderConfig
	p       Provider
	breaker *breaker
	health  *health
	now     func() time.Time

	// stopMonitor ends the health monitor; nil while none runs. It is set
	// under the proxy's reload lock, before the upstream serves traffic
	// of a new state.
	stopMonitor func()

	// keys holds the provider's keys when it has several (see keyring);
	// p is then the first key's adapter. key is set instead on the copy
	// of the upstream that an attempt with one of those keys gets.
	keys *keyring
	key  *keySlot
}

// newUpstream wraps a built provider, with a circuit breaker built by
// newCB. gc is the global configuration, with its defaults applied.
func newUpstream(pc ProviderConfig, prov Provider, gc Config, newCB func(gobreaker.Settings) CircuitBreaker,
	now func() time.Time, log *slog.Logger,
) *upstream {
	_, checker := prov.(HealthChecker)
	u := &upstream{cfg: pc, p: prov, now: now}
	u.health = newHealth(pc.Name, pc.Timeout, checker, now(), log)
	st := breakerSettings(pc.Name, gc.CircuitBreakerThreshold, gc.CircuitBreakerTimeout,
		func(from, to BreakerState) {
			// May run under the breaker's lock: log only.
			log.Warn("provider circuit breaker changed", "provider", pc.Name, "from", string(from), "to", string(to))
		})
	u.breaker = &breaker{cb: newCB(st)}
	return u
}

// healthAt returns the provider's health at now (see health.evaluate).
// The breaker is read first: the breaker's lock is never held with the
// health's.
func (u *upstream) healthAt(now time.Time) ProviderHealth {
	return u.health.evaluate(now, u.breaker.state())
}

// rankAt returns the provider's rank within its priority at now (see
// ProviderHealth.rank).
func (u *upstream) rankAt(now time.Time) int { return u.health.rank(now, u.breaker.state()) }

// BreakerState returns the state of the provider's circuit breaker.
func (u *upstream) BreakerState() BreakerState { return u.breaker.state() }

// HealthStatus returns the provider's health status.
func (u *upstream) HealthStatus() HealthStatus { return u.healthAt(u.now()).Status }

// attempt is one call on an upstream, from its admission by the breaker to
// its outcome. It is used by one goroutine at a time.
type attempt struct {
	u        *upstream
	endpoint string
	// model is the model id the attempt sends (see UpstreamModel).
	model   string
	start   time.Time
	latency time.Duration
	// done reports the outcome to the breaker; nil when the breaker did
	// not admit the attempt (a last resort).
	done func(error)
}

// begin starts an attempt on u that sends model if its breaker lets it
// through. With bypass, an attempt the breaker refuses goes ahead anyway,
// unknown to the breaker; without, ok is false and nothing was started.
func (u *upstream) begin(endpoint, model string, bypass bool) (a *attempt, ok bool) {
	done, ok := u.breaker.allow()
	if !ok && !bypass {
		return nil, false
	}
	return &attempt{u: u, endpoint: endpoint, model: model, start: u.now(), done: done}, true
}

// answered notes that the attempt got its answer: the whole answer, or a
// stream's first content chunk. The time until then is its latency.
func (a *attempt) answered() { a.latency = a.u.now().Sub(a.start) }

// end reports the attempt's outcome, once: err nil is a success.
func (a *attempt) end(err error) {
	o := outcome{endpoint: a.endpoint, latency: a.latency, breakerDone: a.done}
	if err != nil {
		o.err = AsError(err)
	}
	a.u.observe(o)
}

// endKeyFault ends an attempt whose failure was its key's (see
// upstream.keyFault): it counts neither against the breaker nor in the
// provider's health.
func (a *attempt) endKeyFault() {
	if a.done != nil {
		a.done(errKeyFault)
	}
}

// errKeyFault is the outcome given to the breaker for an attempt whose key
// failed while others can serve: the breaker excludes it (it is neither a
// success nor a failure of the provider; see breakerSettings).
var errKeyFault = &Error{Kind: KindInternal, Message: "the attempt's key failed; another key takes the request"}

// outcome is what one attempt on an upstream came to.
type outcome struct {
	endpoint string        // endpointChat, endpointCompletions or endpointEmbeddings
	err      *Error        // nil for a success
	latency  time.Duration // until the answer (a stream: its first content); 0 for a failure
	// breakerDone reports the outcome to the breaker; nil when the
	// breaker did not admit the attempt.
	breakerDone func(error)
}

// observe records the outcome of one attempt: in the circuit breaker and in
// the passive health signals. Every attempt's outcome passes here exactly
// once (a stream's when the stream finishes), which makes it the place for
// per-attempt metrics too.
func (u *upstream) observe(o outcome) {
	if o.breakerDone != nil {
		if o.err != nil {
			o.breakerDone(o.err)
		} else {
			o.breakerDone(nil)
		}
	}
	// The breaker is read first: its lock is never held with the
	// health's.
	u.health.observe(u.now(), o.err, o.latency, u.breaker.state())
}
