package llmproxy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/avast/retry-go/v4"
)

// Endpoint names, as used in logs and metrics.
const (
	endpointChat        = "chat"
	endpointCompletions = "completions"
	endpointEmbeddings  = "embeddings"
)

// maxBackoff caps one backoff sleep between retries.
const maxBackoff = 30 * time.Second

// sortByPriority orders upstreams by priority, keeping configuration order
// among equals.
func sortByPriority(us []*upstream) {
	slices.SortStableFunc(us, func(a, b *upstream) int { return a.cfg.Priority - b.cfg.Priority })
}

func isGlob(pattern string) bool { return strings.ContainsAny(pattern, `*?[\`) }

// route runs call against the candidates for model, in the order plan
// gives (the alias's concrete models in turn, then priority, health, load
// balancing; unavailable providers last; see targets):
// each candidate is tried, with retries of retryable failures within the
// retry budget, until one answers; failures that the kind allows fail over
// to the next candidate. Invalid requests return at once. Every wait ends
// as soon as ctx does; the caller bounds ctx with the request timeout. call
// bounds its own attempt (see withAttemptTimeout).
//
// Each attempt passes the provider's circuit breaker and ends in one
// outcome, recorded by upstream.observe; a stream's outcome is recorded
// when the stream finishes. call gets the upstream of the attempt's key
// (see keyring) and a context carrying the model it sends (see
// UpstreamModel).
func route[T any](ctx context.Context, p *Proxy, st *state, endpoint, model string,
	accept func(*upstream) bool, call func(context.Context, *upstream) (T, error),
) (T, *ProxyInfo, error) {
	var zero T
	start := p.now()
	reqID := RequestID(ctx)
	if reqID == "" {
		reqID = NewRequestID()
	}

	targets := st.targets(model, accept)
	if len(targets) == 0 {
		return zero, nil, noCandidateError(st, model, endpoint)
	}
	if st.budget != nil {
		st.budget.request(start)
	}
	var buf [4]candidate // room for the usual plans
	order := st.plan(buf[:0], targets, start)

	attempt := 0
	var lastErr *Error
	for i := 0; i < len(order); i++ {
		c := order[i]
		u := c.u
		more := i < len(order)-1
		var res T
		tries := 0
		refused := false // the breaker refused the attempt
		limited := false // the provider's outbound rate limit refused it
		var provErr *Error
		try := func() error {
			// An attempt whose key failed while another key can serve
			// is followed at once by one with the next key: neither a
			// retry nor a failover (see keyring).
			for rotations := 0; ; rotations++ {
				// A provider at its own rate_limit is skipped, not
				// called: its 429s would only cost time.
				if u.cfg.RateLimit > 0 && !p.limits.Allow(ctx, u.cfg.Name, u.cfg.RateLimit) {
					limited = true
					p.RecordRateLimited("outbound")
					return &Error{Kind: KindRateLimited, Status: 429, Provider: u.cfg.Name, Code: "rate_limit_exceeded",
						Message: "the provider is at its configured rate_limit"}
				}
				// A provider the breaker refuses (its half-open trials
				// are taken) goes to the end, unless it is a last
				// resort or nothing else is left to try.
				a, ok := u.begin(endpoint, c.model, c.lastResort || !more)
				if !ok {
					refused = true
					if provErr != nil {
						return provErr
					}
					return errBreakerRefused
				}
				k := u.pick()
				tries++
				attempt++
				actx, span := p.startAttempt(withAttempt(ctx, a), u, endpoint, c.model, attempt, i > 0) // tracing.go
				r, err := safeCall(actx, p, k, reqID, call)
				if err != nil {
					provErr = classify(ctx, u.cfg.Name, err)
					span.fail(provErr)
					rotate := u.keyFault(k, provErr) && rotations < len(u.keys.slots) && ctx.Err() == nil
					if rotate {
						a.endKeyFault()
					} else {
						a.end(provErr)
					}
					p.rec.attempt(u.cfg.Name, provErr, tries > 1)
					p.rec.keyAttempt(k, provErr)
					if rotate {
						tries--
						continue
					}
					return provErr
				}
				p.rec.attempt(u.cfg.Name, nil, tries > 1)
				p.rec.keyAttempt(k, nil)
				span.ok(r)
				a.answered()
				if s, ok := any(r).(streamOutcome); ok {
					s.endAtFinish(a)
				} else {
					a.end(nil)
				}
				res = r
				return nil
			}
		}
		var err error
		if u.cfg.MaxRetries == 0 {
			// One attempt: nothing for retry-go to schedule. Like
			// retry.Do, do not start it once ctx has ended.
			if err = context.Cause(ctx); err == nil {
				err = try()
			}
		} else {
			err = retry.Do(try,
				retry.Context(ctx),
				retry.Attempts(uint(u.cfg.MaxRetries)+1),
				retry.LastErrorOnly(true),
				// st.budget is set: this provider retries.
				retry.RetryIf(func(err error) bool {
					return !refused && !limited && tries <= u.cfg.MaxRetries &&
						shouldRetry(ctx, AsError(err), more) && st.budget.allowRetry(p.now())
				}),
				retry.DelayType(func(n uint, err error, _ *retry.Config) time.Duration {
					// retry-go counts retries from 1; retryDelay from 0.
					return retryDelay(max(n, 1)-1, AsError(err), u.cfg.RetryDelay)
				}),
			)
		}
		if err == nil {
			info := &ProxyInfo{
				Provider:      u.cfg.Name,
				Model:         c.model,
				AttemptNumber: attempt,
				ResponseTime:  p.now().Sub(start).Seconds(),
				RequestID:     reqID,
			}
			return res, info, nil
		}
		if errors.Is(err, errBreakerRefused) {
			order = append(order, candidate{u: u, model: c.model, lastResort: true})
			continue
		}
		e := AsError(err)
		if ctxErr := ctx.Err(); ctxErr != nil && e.Kind != KindInvalidRequest {
			return zero, nil, failed(st, contextError(ctx, e), attempt, false)
		}
		p.logger.Warn("provider attempt failed",
			"request_id", reqID, "provider", u.cfg.Name, "endpoint", endpoint,
			"model", model, "upstream_model", c.model, "kind", e.Kind.String(), "status", e.Status, "error", e.Error())
		if !e.Kind.Failover() {
			return zero, nil, failed(st, e, attempt, false)
		}
		if i < len(order)-1 {
			p.rec.failover(u.cfg.Name)
		}
		lastErr = e
	}
	if lastErr == nil {
		// Unreachable: the last candidate is always tried.
		lastErr = &Error{Kind: KindUnavailable, Message: "no provider could take the request"}
	}
	return zero, nil, failed(st, lastErr, attempt, true)
}

// failed returns a copy of e (which may be shared: a provider may return
// the same *Error twice) with the attempts made for the request and
// whether a client should not retry it (see Error.NoRetry); exhausted
// reports that every candidate was tried.
func failed(st *state, e *Error, attempts int, exhausted bool) *Error {
	c := *e
	c.Attempts = attempts
	c.NoRetry = !st.cfg.ClientRetryAfterFailover && c.RetryAfter <= 0 &&
		(attempts > 1 || (exhausted && attempts > 0))
	return &c
}

// safeCall runs one attempt, turning a panic of the provider's adapter
// into a KindUnavailable failure of that provider (logged with its stack
// and the request id), so that a buggy adapter costs a failover, not the
// process, and counts against the provider.
func safeCall[T any](ctx context.Context, p *Proxy, u *upstream, reqID string,
	call func(context.Context, *upstream) (T, error),
) (res T, err error) {
	defer func() {
		if v := recover(); v != nil {
			p.logger.Error("provider adapter panicked", "request_id", reqID, "provider", u.cfg.Name,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = &Error{Kind: KindUnavailable, Status: 500, Type: "server_error", Provider: u.cfg.Name,
				Message: "the provider adapter failed", Err: fmt.Errorf("panic: %v", v)}
		}
	}()
	return call(ctx, u)
}

// errBreakerRefused is the attempt error of a provider whose circuit
// breaker refused it before it was tried; the router moves on.
var errBreakerRefused = errors.New("llmproxy: circuit breaker refused the attempt")

// streamOutcome is a result whose outcome is known only later: a stream,
// which ends its attempt when it finishes.
type streamOutcome interface {
	endAtFinish(a *attempt)
}

// endAtFinish makes the stream end a with its error (nil after a clean
// end) when it finishes, before it calls its onDone.
func (s *Stream[T]) endAtFinish(a *attempt) { s.attempt = a }

// routeOnce routes a request that gets one whole answer: the request
// timeout bounds the run and the provider's timeout bounds each attempt.
func routeOnce[T any](ctx context.Context, p *Proxy, endpoint, model string,
	accept func(*upstream) bool, call func(context.Context, *upstream) (T, error),
) (T, *ProxyInfo, error) {
	st := p.state.Load()
	start := p.now()
	p.rec.inflight.Inc()
	defer p.rec.inflight.Dec()
	adm, err := p.admit(ctx, st, model)
	if err != nil {
		var zero T
		p.rec.request(endpoint, "", model, statusOf(err), err, p.now().Sub(start), nil)
		return zero, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, st.cfg.RequestTimeout)
	defer cancel()
	res, info, err := route(ctx, p, st, endpoint, model, accept, withAttemptTimeout(call))
	provider := ""
	if info != nil {
		provider = info.Provider
	} else if err != nil {
		provider = AsError(err).Provider
	}
	var answered string
	var u *Usage
	if err == nil {
		answered, u = answerOf(res)
	}
	p.rec.request(endpoint, provider, model, statusOf(err), err, p.now().Sub(start), u)
	if err == nil {
		p.settle(ctx, st, adm, provider, answered, model, u, info)
	}
	return res, info, err
}

// usageOf returns the usage of an answer, if it has one.
func usageOf(v any) *Usage {
	switch r := v.(type) {
	case *ChatResponse:
		return r.Usage
	case *CompletionResponse:
		return r.Usage
	case *EmbeddingResponse:
		return r.Usage
	case *RawAnswer:
		return r.Usage
	}
	return nil
}

// withAttemptTimeout bounds each call by the provider's timeout and
// classifies its failure against the attempt's own context, so that an
// attempt that ran out of time is a timeout of that provider.
func withAttemptTimeout[T any](call func(context.Context, *upstream) (T, error)) func(context.Context, *upstream) (T, error) {
	return func(ctx context.Context, u *upstream) (T, error) {
		actx, cancel := context.WithTimeout(ctx, u.cfg.Timeout)
		defer cancel()
		r, err := call(actx, u)
		if err != nil {
			return r, classify(actx, u.cfg.Name, err)
		}
		return r, nil
	}
}

// classify turns whatever a provider returned into an *Error that names it.
func classify(ctx context.Context, provider string, err error) *Error {
	e, ok := errors.AsType[*Error](err)
	if !ok {
		e = TransportError(ctx, provider, err)
	}
	if e.Provider == "" {
		// Copy rather than write: the provider may return a shared *Error.
		c := *e
		c.Provider = provider
		e = &c
	}
	return e
}

// shouldRetry decides whether a failed attempt is tried again on the same
// provider.
func shouldRetry(ctx context.Context, e *Error, moreCandidates bool) bool {
	if !e.Kind.Retryable() || ctx.Err() != nil {
		return false
	}
	// A refused connection says the provider is down right now: move on to
	// the next candidate at once rather than sleeping on this one.
	if moreCandidates && IsConnectError(e.Err) {
		return false
	}
	if e.RetryAfter > 0 {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < e.RetryAfter {
			return false
		}
	}
	return true
}

// retryDelay is the wait before retry n (0-based): the upstream's
// Retry-After when it gave one, else exponential backoff from base with
// jitter in [d/2, d), capped at maxBackoff.
func retryDelay(n uint, e *Error, base time.Duration) time.Duration {
	if e.RetryAfter > 0 {
		return e.RetryAfter
	}
	d := base << min(n, 16)
	if d <= 0 || d > maxBackoff {
		d = maxBackoff
	}
	half := d / 2
	return half + rand.N(d-half)
}

// contextError is the error for a request whose context ended: the caller's
// cancellation, or the request timeout. A caller that cancels the context
// with an *Error as its cause (context.WithCancelCause) gets that error, so
// that a server can say why it ended a request (a shutdown, say); give it
// KindCanceled so that it counts against no provider.
func contextError(ctx context.Context, last *Error) *Error {
	if e, ok := context.Cause(ctx).(*Error); ok {
		return e
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return &Error{Kind: KindCanceled, Message: "the request was canceled", Err: ctx.Err()}
	}
	e := &Error{Kind: KindTimeout, Message: "the request did not complete within the request timeout", Err: ctx.Err()}
	if last != nil {
		e.Provider = last.Provider
		e.Err = last
	}
	return e
}

func noCandidateError(st *state, model, endpoint string) *Error {
	if len(st.targets(model, nil)) > 0 {
		return &Error{
			Kind: KindInvalidRequest, Param: "model", Code: "unsupported_endpoint",
			Message: "no provider serving the model " + quote(model) + " supports " + endpoint,
		}
	}
	return &Error{
		Kind: KindNotFound, Status: 404, Param: "model", Code: "model_not_found",
		Type:    "invalid_request_error",
		Message: "the model " + quote(model) + " is not served by any enabled provider",
	}
}

func quote(s string) string { return "`" + s + "`" }
