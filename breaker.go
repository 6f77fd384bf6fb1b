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
	// circuit_breaker_threshold times in a row. The router skips it (see
	// Config.CircuitBreakerThreshold for the last resort).
	BreakerOpen BreakerState = "open"
	// BreakerHalfOpen follows circuit_breaker_timeout in the open state:
	// breakerTrials trial requests pass; their success closes the breaker,
	// a failure opens it again.
	BreakerHalfOpen BreakerState = "half-open"
)

// breakerTrials is how many trial requests a half-open breaker lets
// through at a time, and how many successes in a row close it.
const breakerTrials = 1

// breaker is the circuit breaker of one provider: gobreaker's two-step
// breaker, so that an attempt reports its outcome when it ends, which for a
// stream is when the stream finishes. Only failures that say something about
// the provider count (ErrorKind.CountsAgainstProvider): the caller's
// cancellations, invalid requests and the proxy's own errors are neither
// successes nor failures. A breaker is safe for concurrent use.
type breaker struct {
	cb *gobreaker.TwoStepCircuitBreaker[struct{}]
}

// newBreaker returns a closed breaker for the named provider that opens
// after threshold consecutive failures and half-opens after timeout.
// onChange, if not nil, is called on every change of state; it runs under
// the breaker's lock and must not call the breaker.
func newBreaker(name string, threshold int, timeout time.Duration, onChange func(from, to BreakerState)) *breaker {
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
	return &breaker{cb: gobreaker.NewTwoStepCircuitBreaker[struct{}](st)}
}

// allow asks the breaker to let one attempt through. When it does, done
// must be called exactly once with the attempt's outcome (nil for a
// success); ok is false when the breaker is open or its trial requests are
// taken.
func (b *breaker) allow() (done func(err error), ok bool) {
	done, err := b.cb.Allow()
	return done, err == nil
}

// state returns the breaker's state, moving it from open to half-open when
// its timeout has passed.
func (b *breaker) state() BreakerState { return breakerState(b.cb.State()) }

// consecutiveFailures returns the failures in a row counted since the last
// success or change of state.
func (b *breaker) consecutiveFailures() int { return int(b.cb.Counts().ConsecutiveFailures) }

func breakerState(s gobreaker.State) BreakerState {
	switch s {
	case gobreaker.StateOpen:
		return BreakerOpen
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	}
	return BreakerClosed
}
