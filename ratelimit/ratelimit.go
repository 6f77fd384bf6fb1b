// Package ratelimit holds the rate limiters of llmproxy, in memory or shared
// by several replicas through Redis, and the Redis store that lets gobreaker
// share circuit-breaker state between replicas.
//
// Every limiter is a go-limiter [limiter.Store]: one store enforces one limit
// (a number of tokens per interval) for any number of keys.
//
//   - [NewMemory] keeps a token bucket per key in memory, with
//     golang.org/x/time/rate. It runs a sweeper goroutine until Close.
//   - [Redis.Store] enforces the limit in Redis with GCRA (the generic cell
//     rate algorithm of github.com/go-redis/redis_rate), atomically, so that
//     any number of replicas sharing the Redis server allow the limit
//     together, not each. When Redis fails it falls back to a memory store
//     with the same limit (fail-open, the default) or refuses (fail-closed);
//     see [Redis].
//   - [ProviderLimits] applies the outbound per-provider limits (rate_limit,
//     requests per minute) on either of them.
//   - [Redis.BreakerStore] is a gobreaker [gobreaker.SharedDataStore] on
//     Redis, and [Breaker] a two-step breaker built on it.
//
// # What a limit means
//
// A limit of N per window W means the same in memory and in Redis: each key
// has a bucket of N tokens, full for a key not seen before, and gets back
// one token every W/N, never holding more than N. A request takes a token
// or is refused. (GCRA keeps that bucket as one timestamp per key; it is
// the same limit.) A fresh key can thus make N requests at once and N per W
// on average, at any size of N; in the worst case 2N requests pass within
// one span of length W (a full bucket spent at its start, then the refill
// during it). A test or client that makes N+1 requests in a time much
// shorter than W/N sees exactly N allowed, in memory per process and in
// Redis across every replica sharing the server.
//
// Both count requests, not tokens of text.
package ratelimit

import (
	"context"
	"errors"
	"time"

	"github.com/sethvargo/go-limiter"
)

// Result is the answer of a limiter to one request: the limit, the requests
// left, when tokens come back and whether the request may go ahead. The
// zero value is a refusal with no limit information.
type Result struct {
	// Limit is the number of requests the limit allows per interval.
	Limit uint64
	// Remaining is the number of requests the key may still make now.
	Remaining uint64
	// Reset is when tokens come back: after a refusal, the moment the
	// next request will be allowed; after an allowed request, the moment
	// the bucket is full again.
	Reset time.Time
	// OK reports whether the request may go ahead.
	OK bool
}

// RetryAfter returns how long after now a refused request should wait: the
// time to Reset, at least one second (HTTP's Retry-After counts whole
// seconds, and 0 would invite an immediate retry).
func (r Result) RetryAfter(now time.Time) time.Duration {
	return max(r.Reset.Sub(now), time.Second)
}

// Take takes a token for key from store and returns the store's answer as a
// Result. The error is the store's: a backend failure, [limiter.ErrStopped]
// for a closed store, or [ErrUnavailable] for a fail-closed Redis store
// during an outage.
func Take(ctx context.Context, store limiter.Store, key string) (Result, error) {
	tokens, remaining, reset, ok, err := store.Take(ctx, key)
	if err != nil {
		return Result{}, err
	}
	return Result{Limit: tokens, Remaining: remaining, Reset: time.Unix(0, int64(reset)), OK: ok}, nil
}

// TakeAll takes a token for key from each of stores, in order, for a
// request that must pass every limit. It stops at the first store that
// refuses or fails, and then gives back the tokens it took from the stores
// before it (see GiveBack), so that a request refused by one limit spends
// no token of another. It returns that store's Result (zero on an error),
// its index in stores and the error; when every store allows, the Result
// with the fewest requests left (the first of them on a tie) and its
// index. A nil store is skipped; with none, the Result is an OK without a
// limit and the index -1.
//
// Taking in order and giving back, rather than looking at every store
// first (Get) and taking after, is what stays correct under concurrency:
// two requests can both see a limit's last token, and the loser would
// then have spent the other limits' tokens. A token held for a moment by a
// request that will give it back can make a concurrent request be refused
// by that limit: the limits never allow more than their size because of
// TakeAll, only, rarely, less.
func TakeAll(ctx context.Context, key string, stores ...limiter.Store) (Result, int, error) {
	best, bestAt := Result{OK: true}, -1
	taken := make([]Result, len(stores))
	for i, st := range stores {
		if st == nil {
			continue
		}
		res, err := Take(ctx, st, key)
		if err != nil || !res.OK {
			for j := range i {
				if stores[j] != nil {
					GiveBack(ctx, stores[j], key, taken[j])
				}
			}
			return res, i, err
		}
		taken[i] = res
		if bestAt == -1 || res.Remaining < best.Remaining {
			best, bestAt = res, i
		}
	}
	return best, bestAt, nil
}

// GiveBack returns to store the token of key that Take allowed with res,
// for a request that did not go ahead after all. Nothing is given back once
// res.Reset has passed: the bucket is full again by then. It uses the
// store's Burst (a negative take, never beyond a full bucket) and ignores
// its error, which leaves the token spent as if the request had gone ahead.
// The token is given back even when ctx is done: the request that took it
// is gone, not its count.
func GiveBack(ctx context.Context, store limiter.Store, key string, res Result) {
	if !res.OK || !time.Now().Before(res.Reset) {
		return
	}
	_ = store.Burst(context.WithoutCancel(ctx), key, 1)
}

// ErrUnavailable is the error of a fail-closed Redis store while Redis does
// not answer: the request must be refused because the shared limit cannot be
// checked. Errors returned by the stores wrap it together with the cause.
var ErrUnavailable = errors.New("ratelimit: redis is unavailable and the limits fail closed")
