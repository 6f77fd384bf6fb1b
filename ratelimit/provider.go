package ratelimit

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sethvargo/go-limiter"
)

// ProviderLimits applies the outbound limits of the providers: at most rpm
// requests per minute sent to each provider (its rate_limit), counted in
// memory or, with a Redis connection, across every replica sharing it. A
// provider at its limit is to be skipped in favour of the next candidate,
// not waited for and not tried: the router asks Allow (or Take) before each
// attempt.
//
// Build it with NewProviderLimits and Close it when done. It is safe for
// concurrent use; the zero value is not usable.
type ProviderLimits struct {
	redis *Redis
	name  string

	mu     sync.Mutex
	stores map[int]limiter.Store // by rpm
	closed bool
}

// NewProviderLimits returns the outbound limits, kept in redis when it is
// not nil (under <prefix>rl:provider:<name>, falling back as redis's stores
// do) and in memory otherwise. ProviderLimits does not close redis.
func NewProviderLimits(redis *Redis) *ProviderLimits {
	return NewLimits(redis, "provider")
}

// NewLimits is NewProviderLimits for limits of another kind, kept in redis
// under <prefix>rl:<name>:<key>: the router uses name "key" for the client
// keys' rpm, with the key's name for the provider.
func NewLimits(redis *Redis, name string) *ProviderLimits {
	return &ProviderLimits{redis: redis, name: name, stores: make(map[int]limiter.Store)}
}

// Allow takes a token of provider's limit of rpm requests per minute and
// reports whether the request may be sent now. It never waits. rpm 0 or
// less means no limit (always true, nothing counted). After Close, and when
// the store fails for another reason than a fail-closed Redis outage, it
// answers true: a broken limiter must not take a provider out of rotation.
// During an outage of a fail-closed Redis it answers false.
//
// The router calls it once per attempt, just before sending, for the
// providers that have a rate_limit, and moves on to the next candidate when
// it is false.
func (l *ProviderLimits) Allow(ctx context.Context, provider string, rpm int) bool {
	res, err := l.Take(ctx, provider, rpm)
	if err != nil {
		return !errors.Is(err, ErrUnavailable)
	}
	return res.OK
}

// Take is Allow with the whole answer, for a router that wants to tell the
// client when the first provider frees up (Result.Reset) when every
// candidate is at its limit. rpm 0 or less gives an OK Result with Limit 0.
func (l *ProviderLimits) Take(ctx context.Context, provider string, rpm int) (Result, error) {
	if rpm <= 0 {
		return Result{OK: true}, nil
	}
	store, err := l.store(rpm)
	if err != nil {
		return Result{}, err
	}
	return Take(ctx, store, provider)
}

// store returns the store of the limit rpm per minute, built on first use.
// Providers with the same rpm share a store (their keys differ); a changed
// rpm after a reload gets a store of its own (in Redis the count carries
// over, since the key is the same).
func (l *ProviderLimits) store(rpm int) (limiter.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, limiter.ErrStopped
	}
	if s, ok := l.stores[rpm]; ok {
		return s, nil
	}
	var (
		s   limiter.Store
		err error
	)
	if l.redis != nil {
		s, err = l.redis.Store(l.name, uint64(rpm), time.Minute)
	} else {
		s, err = NewMemory(uint64(rpm), time.Minute)
	}
	if err != nil {
		return nil, err
	}
	l.stores[rpm] = s
	return s, nil
}

// Close releases the stores (and their sweeper goroutines). Later calls of
// Allow answer true. Close is idempotent.
func (l *ProviderLimits) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var errs []error
	for _, s := range l.stores {
		errs = append(errs, s.Close(context.Background()))
	}
	clear(l.stores)
	return errors.Join(errs...)
}
