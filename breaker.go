package llmproxy

import (
	"time"

	"github.com/sony/gobreaker/v2"
)

// BreakerState is the state of a provider's circuit breaker, as Health and
// /providers show it.
type BreakerState string

// The states of a circuit breaker.
const (
	// BreakerClosed lets every request through; it is the normal state.
	BreakerClosed BreakerState = "closed"
	// BreakerOpen lets no request through: the provider failed
	// circuit_breaker_threshold times in a row. The router tries it only
	// as a last resort, once every other candidate has failed.
	BreakerOpen BreakerState = "open"
	// BreakerHalfOpen follows circuit_breaker_timeout in the open state:
	// breakerTrials trial requests pass; their success closes the breaker,
	// a failure opens it again.
	BreakerHalfOpen BreakerState = "half-open"
)

// breakerTrials is how many trial requests a half-open breaker lets
// through at a time, and how many successes in a row close it.
const breakerTrials = 1

// CircuitBreaker is a provider's circuit breaker as the router uses it:
// gobreaker's two-step form, so that an attempt reports its outcome when it
// ends, which for a stream is when the stream finishes. By default the
// proxy uses a *gobreaker.TwoStepCircuitBreaker per provider, in memory;
// WithCircuitBreakers substitutes others, such as breakers whose state the
// replicas of a deployment share. Implementations must be safe for
// concurrent use.
type CircuitBreaker interface {
	// Allow reports whether an attempt may go ahead. When it may, done
	// must be called exactly once with the attempt's outcome (nil for a
	// success); when it may not, err says why (gobreaker.ErrOpenState,
	// gobreaker.ErrTooManyRequests) and done is nil.
	Allow() (done func(err error), err error)
	// State returns the breaker's state, moving it from open to half-open
	// once its timeout has passed.
	State() gobreaker.State
}

// WithCircuitBreakers makes New build each provider's circuit breaker with
// build instead of in memory. build receives the settings the proxy would
// use itself: Name is the provider's name, ReadyToTrip opens after
// circuit_breaker_threshold consecutive failures, Timeout is
// circuit_breaker_timeout, MaxRequests the trial requests of the half-open
// state, IsExcluded leaves out the failures that are not the provider's
// (ErrorKind.CountsAgainstProvider) and OnStateChange logs. The breaker
// build returns must honour them. A nil build keeps the default.
func WithCircuitBreakers(build func(gobreaker.Settings) CircuitBreaker) Option {
	return func(p *Proxy) {
		if build != nil {
			p.newBreaker, p.customBreakers = build, true
		}
	}
}

// inMemoryBreaker is the default CircuitBreaker.
func inMemoryBreaker(st gobreaker.Settings) CircuitBreaker {
	return gobreaker.NewTwoStepCircuitBreaker[struct{}](st)
}

// breakerSettings returns the settings of the breaker of the named
// provider: it opens after threshold consecutive failures and half-opens
// after timeout. Only failures that say something about the provider count
// (ErrorKind.CountsAgainstProvider): the caller's cancellations, invalid
// requests and the proxy's own errors are neither successes nor failures.
// onChange, if not nil, is called on every change of state; it may run
// under the breaker's lock and must not call the breaker.
func breakerSettings(name string, threshold int, timeout time.Duration, onChange func(from, to BreakerState)) gobreaker.Settings {
	limit := uint32(max(threshold, 1))
	st := gobreaker.Settings{
		Name:        name,
		MaxRequests: breakerTrials,
		Timeout:     timeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= limit },
		IsExcluded: func(err error) bool {
			return err != nil && !AsError(err).Kind.CountsAgainstProvider()
		},
	}
	if onChange != nil {
		st.OnStateChange = func(_ string, from, to gobreaker.State) {
			onChange(breakerState(from), breakerState(to))
		}
	}
	return st
}

// breaker is the circuit breaker of one provider, as the upstream uses it.
// It is safe for concurrent use.
type breaker struct {
	cb CircuitBreaker
}

// newBreaker returns an in-memory breaker (see breakerSettings).
func newBreaker(name string, threshold int, timeout time.Duration, onChange func(from, to BreakerState)) *breaker {
	return &breaker{cb: inMemoryBreaker(breakerSettings(name, threshold, timeout, onChange))}
}

// allow asks the breaker to let one attempt through. When it does, done
// must be called exactly once with the attempt's outcome (nil for a
// success); ok is false when the breaker is open or its trial requests are
// taken.
func (b *breaker) allow() (done func(err error), ok bool) {
	done, err := b.cb.Allow()
	return done, err == nil && done != nil
}

// state returns the breaker's state, moving it from open to half-open when
// its timeout has passed.
func (b *breaker) state() BreakerState { return breakerState(b.cb.State()) }

func breakerState(s gobreaker.State) BreakerState {
	switch s {
	case gobreaker.StateOpen:
		return BreakerOpen
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	}
	return BreakerClosed
}
