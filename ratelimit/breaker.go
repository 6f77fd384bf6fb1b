package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// Lock timing of BreakerStore. The lock guards one read-modify-write of a
// breaker's state (a few round trips), never a request to a provider.
const (
	breakerLockTTL  = 2 * time.Second // a crashed holder blocks the others this long
	breakerLockWait = time.Second     // Lock gives up after this, and gobreaker retries
)

// BreakerStore is a gobreaker [gobreaker.SharedDataStore] on Redis. Each
// name gobreaker uses lives at <prefix>cb:<name>: the state of a
// [gobreaker.DistributedCircuitBreaker] at <prefix>cb:gobreaker:state:<breaker>
// (no expiry), its lock at <prefix>cb:gobreaker:mutex:<breaker>, taken with
// SET NX PX and a random token and deleted only by its holder
// (compare-and-delete). Within a process the lock is a local mutex first,
// so that callers of one replica queue instead of polling Redis.
//
// Get one from [Redis.BreakerStore]; the zero value is not usable. It is
// safe for concurrent use. Its failures count as Redis outages in the
// connection's health. Two points
// where it departs from a plain store, both for gobreaker v2.4.0:
//   - GetData returns a placeholder along with an error, because gobreaker
//     looks at the data before the error and would take a failed read for a
//     missing state (ErrNoSharedState) and overwrite it.
//   - Lock returns nil when Redis fails (not when the lock is held
//     elsewhere): gobreaker would otherwise retry every 500 ms for 5 s. The
//     read or write that follows fails just as fast, so the breaker reports
//     the outage at once.
type BreakerStore struct {
	r      *Redis
	prefix string

	mu    sync.Mutex
	locks map[string]*storeLock
}

var _ gobreaker.SharedDataStore = (*BreakerStore)(nil)

// storeLock is the local side of one lock name: a one-slot semaphore and the
// token of the Redis lock while this process holds it.
type storeLock struct {
	sem   chan struct{}
	token string
}

// BreakerStore returns the SharedDataStore of r's breakers. Calls to it on
// one Redis share the local locks.
func (r *Redis) BreakerStore() *BreakerStore {
	r.breakerOnce.Do(func() {
		r.breakers = &BreakerStore{r: r, prefix: r.prefix + "cb:", locks: make(map[string]*storeLock)}
	})
	return r.breakers
}

// StoreError is the error of a BreakerStore call that Redis failed (or
// that found the store closed).
type StoreError struct{ Err error }

func (e *StoreError) Error() string { return "ratelimit: breaker store: " + e.Err.Error() }

// Unwrap returns the Redis error.
func (e *StoreError) Unwrap() error { return e.Err }

// failed records err, the failure of a call started in the health period
// of t, and wraps it.
func (s *BreakerStore) failed(err error, t ticket) error {
	s.r.health.report(context.Background(), err, t)
	return &StoreError{Err: err}
}

func (s *BreakerStore) lockOf(name string) *storeLock {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.locks[name]
	if !ok {
		l = &storeLock{sem: make(chan struct{}, 1)}
		s.locks[name] = l
	}
	return l
}

// Lock takes the lock name: first locally, then in Redis, waiting up to a
// second for either. It returns an error when the lock stays held
// elsewhere, and nil when Redis fails (see the type's doc).
func (s *BreakerStore) Lock(name string) error {
	if s.r.closed.Load() {
		return &StoreError{Err: redis.ErrClosed}
	}
	l := s.lockOf(name)
	deadline := time.NewTimer(breakerLockWait)
	defer deadline.Stop()
	select {
	case l.sem <- struct{}{}:
	case <-deadline.C:
		return fmt.Errorf("ratelimit: breaker lock %q is busy in this process", name)
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	key := s.prefix + name
	t := ticket{gen: s.r.health.gen.Load()}
	for wait := 2 * time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		ok, err := s.r.client.SetNX(context.Background(), key, token, breakerLockTTL).Result()
		if err != nil {
			l.token = ""
			_ = s.failed(err, t)
			return nil // keep the local lock; Unlock releases it
		}
		if ok {
			l.token = token
			return nil
		}
		select {
		case <-deadline.C:
			<-l.sem
			return fmt.Errorf("ratelimit: breaker lock %q is held by another replica", name)
		case <-time.After(wait):
		}
	}
}

// unlockScript deletes a lock only if it still holds the caller's token, so
// that a holder whose lock expired cannot delete the next holder's.
var unlockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)

// Unlock releases the lock name taken by Lock.
func (s *BreakerStore) Unlock(name string) error {
	l := s.lockOf(name)
	if len(l.sem) == 0 {
		return fmt.Errorf("ratelimit: breaker lock %q is not held", name)
	}
	// Read the token while the local lock is still held: once it is
	// released, the next Lock writes it.
	token := l.token
	l.token = ""
	<-l.sem
	if token == "" { // Lock found Redis failing
		return &StoreError{Err: errors.New("lock was not taken in redis")}
	}
	t := ticket{gen: s.r.health.gen.Load()}
	if err := unlockScript.Run(context.Background(), s.r.client, []string{s.prefix + name}, token).Err(); err != nil {
		return s.failed(err, t)
	}
	return nil
}

// unreadable is what GetData returns with an error (see the type's doc).
var unreadable = []byte("unavailable")

// GetData returns the value name, or nil and no error when there is none.
func (s *BreakerStore) GetData(name string) ([]byte, error) {
	t := ticket{gen: s.r.health.gen.Load()}
	data, err := s.r.client.Get(context.Background(), s.prefix+name).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case err != nil:
		return unreadable, s.failed(err, t)
	}
	return data, nil
}

// SetData stores data as the value name, without expiry.
func (s *BreakerStore) SetData(name string, data []byte) error {
	t := ticket{gen: s.r.health.gen.Load()}
	if err := s.r.client.Set(context.Background(), s.prefix+name, data, 0).Err(); err != nil {
		return s.failed(err, t)
	}
	return nil
}

// Breaker is a two-step circuit breaker whose state is shared by every
// replica through Redis: failures recorded by one replica count for all,
// and a breaker one replica opened is open on the others. While Redis does
// not answer it falls back to a breaker in this process's memory, which
// starts closed; when Redis is back the shared state applies again.
//
// It is built on gobreaker's DistributedCircuitBreaker, used so that its
// lock is held only while the state is read and written, never while a
// provider is called: Allow reads (and updates) the state, the caller
// makes its request, and done records the outcome in a second short step.
// Each step is a few Redis round trips under the breaker's lock. In the
// half-open state the replicas may let a few more trial requests through
// than Settings.MaxRequests, since the trials are counted when recorded.
// OnStateChange runs in the replica that made the transition.
//
// Build one per provider with Redis.NewBreaker; the zero value is not
// usable. It is safe for concurrent use.
type Breaker struct {
	r        *Redis
	settings gobreaker.Settings
	local    *gobreaker.TwoStepCircuitBreaker[struct{}]

	mu  sync.Mutex
	dcb *gobreaker.DistributedCircuitBreaker[struct{}]
}

// NewBreaker returns a breaker shared through r. settings.Name names the
// shared state and must be the same on every replica (the provider's
// name); the other settings must be the same too. Nothing is read from
// Redis until the first call.
func (r *Redis) NewBreaker(settings gobreaker.Settings) *Breaker {
	return &Breaker{
		r:        r,
		settings: settings,
		local:    gobreaker.NewTwoStepCircuitBreaker[struct{}](settings),
	}
}

// shared returns the distributed breaker, built (and its state created in
// Redis when missing) on first use.
func (b *Breaker) shared() (*gobreaker.DistributedCircuitBreaker[struct{}], error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dcb != nil {
		return b.dcb, nil
	}
	dcb, err := newDistributed(b.r.BreakerStore(), b.settings)
	if err != nil {
		return nil, err
	}
	b.dcb = dcb
	return dcb, nil
}

// newDistributed is gobreaker.NewDistributedCircuitBreaker without its
// panic: in v2.4.0, when reading the state fails once the lock is taken
// (Redis down when a breaker is first used), its deferred unlock runs on
// the nil breaker it returns, and the local lock stays held. The panic
// becomes a StoreError (the failed read has already reported the outage)
// and the lock is released here.
func newDistributed(store *BreakerStore, settings gobreaker.Settings) (dcb *gobreaker.DistributedCircuitBreaker[struct{}], err error) {
	defer func() {
		if v := recover(); v != nil {
			_ = store.Unlock("gobreaker:mutex:" + settings.Name)
			dcb, err = nil, &StoreError{Err: fmt.Errorf("creating the shared breaker state: %v", v)}
		}
	}()
	return gobreaker.NewDistributedCircuitBreaker[struct{}](store, settings)
}

// forget drops the distributed breaker after its state vanished from Redis
// (a restarted server without persistence), so that the next call creates
// it again, closed.
func (b *Breaker) forget(dcb *gobreaker.DistributedCircuitBreaker[struct{}]) {
	b.mu.Lock()
	if b.dcb == dcb {
		b.dcb = nil
	}
	b.mu.Unlock()
}

// Allow reports whether a request may go ahead. When it may, call done
// exactly once with the request's outcome (nil for success; Settings'
// IsSuccessful and IsExcluded judge it). When the breaker is open it
// returns gobreaker.ErrOpenState (or, half-open, ErrTooManyRequests from the
// local fallback) and a nil done.
func (b *Breaker) Allow() (done func(err error), err error) {
	if use, t := b.r.health.attempt(); use {
		st, dcb, err := b.sharedState()
		if b.r.health.report(context.Background(), storeFailure(err), t) {
			return b.local.Allow()
		}
		if err != nil {
			return b.local.Allow() // store closed: serve from memory
		}
		if st == gobreaker.StateOpen {
			return nil, gobreaker.ErrOpenState
		}
		return func(outcome error) { b.record(dcb, outcome) }, nil
	}
	return b.local.Allow()
}

// sharedState returns the shared state after gobreaker's transitions (an
// open breaker whose timeout passed is half-open).
func (b *Breaker) sharedState() (gobreaker.State, *gobreaker.DistributedCircuitBreaker[struct{}], error) {
	dcb, err := b.shared()
	if err != nil {
		return 0, nil, err
	}
	st, err := dcb.State()
	if errors.Is(err, gobreaker.ErrNoSharedState) {
		b.forget(dcb)
		if dcb, err = b.shared(); err != nil {
			return 0, nil, err
		}
		st, err = dcb.State()
	}
	return st, dcb, err
}

// record writes the outcome of a request into the shared state.
func (b *Breaker) record(dcb *gobreaker.DistributedCircuitBreaker[struct{}], outcome error) {
	_, err := dcb.Execute(func() (struct{}, error) { return struct{}{}, outcome })
	if errors.Is(err, gobreaker.ErrNoSharedState) {
		b.forget(dcb)
	}
	// Store failures are in the health state already; the outcome itself
	// and ErrOpenState/ErrTooManyRequests need nothing more.
}

// State returns the breaker's state: the shared one while Redis answers,
// the local fallback's otherwise.
func (b *Breaker) State() gobreaker.State {
	if use, t := b.r.health.attempt(); use {
		st, _, err := b.sharedState()
		if !b.r.health.report(context.Background(), storeFailure(err), t) && err == nil {
			return st
		}
	}
	return b.local.State()
}

// storeFailure returns err when it is a failure of Redis, and nil for the
// errors that are not (none, or gobreaker's own).
func storeFailure(err error) error {
	if se, ok := errors.AsType[*StoreError](err); ok {
		return se.Err
	}
	return nil
}
