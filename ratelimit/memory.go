package ratelimit

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sethvargo/go-limiter"
	"golang.org/x/time/rate"
)

// NewMemory returns an in-memory store that allows tokens requests per
// interval for each key: a token bucket per key (golang.org/x/time/rate)
// holding tokens, full for a new key, that gets back one token every
// interval/tokens. It is the limit the Redis store enforces with GCRA (see
// the package doc). tokens 0 counts as 1 and interval 0 as one second;
// tokens above math.MaxInt32 are capped there, as in the Redis store.
//
// The store is safe for concurrent use. It runs a sweeper goroutine that
// forgets the keys whose bucket is full again (a forgotten key starts with
// a full bucket, so forgetting changes no answer) until Close is called, so
// always Close it. Take, Get, Set and Burst on a closed store return
// [limiter.ErrStopped].
func NewMemory(tokens uint64, interval time.Duration) (limiter.Store, error) {
	s := &bucketStore{
		tokens:   int(min(max(tokens, 1), math.MaxInt32)),
		interval: interval,
		buckets:  make(map[string]*bucket),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if s.interval <= 0 {
		s.interval = time.Second
	}
	// An idle key's bucket is full one interval after its last request:
	// sweeping every interval (at most once a minute) forgets it at most
	// one sweep later, so that a proxy with many clients does not hold
	// every key it ever saw.
	go s.sweep(max(s.interval, time.Minute))
	return s, nil
}

// bucketStore is the store of NewMemory: the buckets by key, sharing the
// store's limit unless Set gave a key its own.
type bucketStore struct {
	tokens   int
	interval time.Duration

	// mu guards the map, not the buckets (a rate.Limiter has its own
	// lock). A take holds the read lock until it is done with its bucket,
	// so that the sweeper, which holds the write lock, never removes a
	// bucket in the middle of a take (the token would be lost).
	mu      sync.RWMutex
	buckets map[string]*bucket

	closed atomic.Bool
	stop   chan struct{} // closed by Close
	done   chan struct{} // closed by the sweeper when it returns
}

// bucket is the token bucket of one key.
type bucket struct {
	lim    *rate.Limiter
	tokens int
	// perToken is the time one token takes to come back, in nanoseconds.
	perToken float64
	// set marks a limit given by Set, which the sweeper keeps.
	set bool
}

func newBucket(tokens int, interval time.Duration) *bucket {
	return &bucket{
		lim:      rate.NewLimiter(rate.Limit(float64(tokens)/interval.Seconds()), tokens),
		tokens:   tokens,
		perToken: float64(interval) / float64(tokens),
	}
}

// take takes a token at now and returns the store's answer. reset is,
// after a refusal, when the next token comes back, and after an allowed
// take, when the bucket is full again (as in the Redis store), rounded up
// to the nanosecond so that a request made then finds the tokens. The
// count left is read just after the take: a concurrent take of the same
// key may already be counted in it.
func (b *bucket) take(now time.Time) (tokens, remaining, reset uint64, ok bool) {
	ok = b.lim.AllowN(now, 1)
	left := b.lim.TokensAt(now)
	need := 1 - left
	if ok {
		remaining, need = uint64(max(left, 0)), float64(b.tokens)-left
	}
	return uint64(b.tokens), remaining, uint64(now.UnixNano() + int64(math.Ceil(need*b.perToken))), ok
}

// Take takes a token for key.
func (s *bucketStore) Take(ctx context.Context, key string) (tokens, remaining, reset uint64, ok bool, err error) {
	if s.closed.Load() {
		return 0, 0, 0, false, limiter.ErrStopped
	}
	now := time.Now()
	s.mu.RLock()
	if b := s.buckets[key]; b != nil {
		tokens, remaining, reset, ok = b.take(now)
		s.mu.RUnlock()
		return tokens, remaining, reset, ok, nil
	}
	s.mu.RUnlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[key]
	if b == nil {
		b = newBucket(s.tokens, s.interval)
		s.buckets[key] = b
	}
	tokens, remaining, reset, ok = b.take(now)
	return tokens, remaining, reset, ok, nil
}

// Get returns the limit of key and the tokens it has left, without taking
// one. A key without a bucket has a full one.
func (s *bucketStore) Get(ctx context.Context, key string) (tokens, remaining uint64, err error) {
	if s.closed.Load() {
		return 0, 0, limiter.ErrStopped
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	b := s.buckets[key]
	if b == nil {
		return uint64(s.tokens), uint64(s.tokens), nil
	}
	return uint64(b.tokens), uint64(max(b.lim.TokensAt(time.Now()), 0)), nil
}

// Set gives key its own limit of tokens per interval (0 counting as in
// NewMemory) and a full bucket. The sweeper keeps it.
func (s *bucketStore) Set(ctx context.Context, key string, tokens uint64, interval time.Duration) error {
	if s.closed.Load() {
		return limiter.ErrStopped
	}
	if interval <= 0 {
		interval = time.Second
	}
	b := newBucket(int(min(max(tokens, 1), math.MaxInt32)), interval)
	b.set = true
	s.mu.Lock()
	s.buckets[key] = b
	s.mu.Unlock()
	return nil
}

// Burst gives back tokens to key's bucket, for a request that took one and
// did not go ahead (see GiveBack). As in the Redis store, the bucket never
// holds more than its limit: tokens given back to a full bucket are lost,
// and so are tokens given to a key without a bucket, which is full.
func (s *bucketStore) Burst(ctx context.Context, key string, tokens uint64) error {
	if s.closed.Load() {
		return limiter.ErrStopped
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if b := s.buckets[key]; b != nil && tokens > 0 {
		// A take of -n puts n tokens back, and rate.Limiter caps its
		// bucket at the burst when it next counts, so a full bucket stays
		// full: behaviour the Go team means to document (golang/go#54082)
		// and TestMemoryBurstGivesBackUpToFull pins.
		b.lim.AllowN(time.Now(), -int(min(tokens, uint64(b.tokens))))
	}
	return nil
}

// Close stops the sweeper, waits for it to return and forgets every key.
// Later calls return [limiter.ErrStopped]. Close is idempotent.
func (s *bucketStore) Close(ctx context.Context) error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(s.stop)
	<-s.done
	s.mu.Lock()
	clear(s.buckets)
	s.mu.Unlock()
	return nil
}

// sweep removes, every interval until Close, the buckets that are full
// again, except those of Set.
func (s *bucketStore) sweep(every time.Duration) {
	defer close(s.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		now := time.Now()
		s.mu.Lock()
		for key, b := range s.buckets {
			if !b.set && b.lim.TokensAt(now) >= float64(b.tokens) {
				delete(s.buckets, key)
			}
		}
		s.mu.Unlock()
	}
}
