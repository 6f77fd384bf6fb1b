package ratelimit

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"github.com/sethvargo/go-limiter"
)

// RedisStore is a [limiter.Store] that enforces one limit (tokens per
// interval, for every key) in Redis with GCRA, through
// github.com/go-redis/redis_rate. Each take is one atomic script on the
// server, timed by the server's clock, so any number of processes sharing
// the server allow the limit together. See the package doc for how GCRA
// refills.
//
// A key is stored at "rate:" (redis_rate's own prefix) followed by the
// store's prefix and the key, e.g. "rate:llmproxy:rl:chat:key_1a2b3c4d". It
// expires once its bucket is full again.
//
// RedisStore reports Redis failures as errors; [Redis.Store] wraps it with
// the fallback to memory. Build it with NewRedisStore; the zero value is not
// usable. It is safe for concurrent use. Close marks it stopped; it does not
// close the client, which belongs to the caller.
type RedisStore struct {
	rdb    redis.UniversalClient
	lim    *redis_rate.Limiter
	prefix string
	limit  redis_rate.Limit

	mu        sync.RWMutex
	overrides map[string]redis_rate.Limit // from Set, this process only

	stopped atomic.Bool
}

var _ limiter.Store = (*RedisStore)(nil)

// NewRedisStore returns a store on rdb that allows tokens requests per
// interval for each key, with a burst of tokens, under the key prefix
// prefix. tokens 0 counts as 1 and interval 0 as one second, as in
// NewMemory; tokens above math.MaxInt32 are capped there.
func NewRedisStore(rdb redis.UniversalClient, prefix string, tokens uint64, interval time.Duration) *RedisStore {
	return &RedisStore{
		rdb:    rdb,
		lim:    redis_rate.NewLimiter(rdb),
		prefix: prefix,
		limit:  gcraLimit(tokens, interval),
	}
}

// gcraLimit is the GCRA limit of tokens per interval with a burst of tokens.
func gcraLimit(tokens uint64, interval time.Duration) redis_rate.Limit {
	n := int(min(max(tokens, 1), math.MaxInt32))
	if interval <= 0 {
		interval = time.Second
	}
	return redis_rate.Limit{Rate: n, Burst: n, Period: interval}
}

// limitFor returns the limit of key: its override from Set, or the store's.
func (s *RedisStore) limitFor(key string) redis_rate.Limit {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if l, ok := s.overrides[key]; ok {
		return l
	}
	return s.limit
}

// Take takes a token for key. The reset time is, after a refusal, when the
// next request will be allowed, and after an allowed request, when the
// bucket is full again. A Redis failure is returned as the error; a closed
// client or store gives [limiter.ErrStopped].
func (s *RedisStore) Take(ctx context.Context, key string) (tokens, remaining, reset uint64, ok bool, err error) {
	if s.stopped.Load() {
		return 0, 0, 0, false, limiter.ErrStopped
	}
	l := s.limitFor(key)
	res, err := s.lim.Allow(ctx, s.prefix+key, l)
	if err != nil {
		return 0, 0, 0, false, s.wrap(err)
	}
	now := time.Now()
	if res.Allowed > 0 {
		return uint64(l.Burst), uint64(max(res.Remaining, 0)), uint64(now.Add(max(res.ResetAfter, 0)).UnixNano()), true, nil
	}
	return uint64(l.Burst), 0, uint64(now.Add(max(res.RetryAfter, 0)).UnixNano()), false, nil
}

// Get returns the limit of key and the tokens it has left, without taking
// one.
func (s *RedisStore) Get(ctx context.Context, key string) (tokens, remaining uint64, err error) {
	if s.stopped.Load() {
		return 0, 0, limiter.ErrStopped
	}
	l := s.limitFor(key)
	res, err := s.lim.AllowN(ctx, s.prefix+key, l, 0)
	if err != nil {
		return 0, 0, s.wrap(err)
	}
	return uint64(l.Burst), uint64(max(res.Remaining, 0)), nil
}

// Set gives key its own limit of tokens per interval and a full bucket. The
// override lives in this process only: other processes sharing the Redis
// server keep applying their own limit to the key unless they Set it too.
func (s *RedisStore) Set(ctx context.Context, key string, tokens uint64, interval time.Duration) error {
	if s.stopped.Load() {
		return limiter.ErrStopped
	}
	s.mu.Lock()
	if s.overrides == nil {
		s.overrides = make(map[string]redis_rate.Limit)
	}
	s.overrides[key] = gcraLimit(tokens, interval)
	s.mu.Unlock()
	return s.wrap(s.lim.Reset(ctx, s.prefix+key))
}

// Burst gives back tokens to key's bucket, as the memory store does, for a
// request that took one and did not go ahead (see GiveBack). GCRA keeps one
// timestamp per key, so the bucket never holds more than its limit: tokens
// given back to a full bucket are lost. It is a negative take, one atomic
// script like Take.
func (s *RedisStore) Burst(ctx context.Context, key string, tokens uint64) error {
	if s.stopped.Load() {
		return limiter.ErrStopped
	}
	if tokens == 0 {
		return nil
	}
	_, err := s.lim.AllowN(ctx, s.prefix+key, s.limitFor(key), -int(min(tokens, math.MaxInt32)))
	return s.wrap(err)
}

// Close marks the store stopped: later calls return [limiter.ErrStopped].
// It does not close the Redis client.
func (s *RedisStore) Close(ctx context.Context) error {
	s.stopped.Store(true)
	return nil
}

// wrap turns the error of a closed client into limiter.ErrStopped.
func (s *RedisStore) wrap(err error) error {
	if errors.Is(err, redis.ErrClosed) {
		return limiter.ErrStopped
	}
	return err
}
