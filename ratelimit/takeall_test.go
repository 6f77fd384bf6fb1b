package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sethvargo/go-limiter"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy/internal/redistest"
)

// memoryStore returns NewMemory(tokens, interval), closed with the test.
func memoryStore(t *testing.T, tokens uint64, interval time.Duration) limiter.Store {
	t.Helper()
	s, err := NewMemory(tokens, interval)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// remaining returns the tokens key has left in s.
func remaining(t *testing.T, s limiter.Store, key string) uint64 {
	t.Helper()
	_, left, err := s.Get(context.Background(), key)
	require.NoError(t, err)
	return left
}

// widenarrow returns a wide limit (10 per hour) and a narrow one (5 per
// hour) of the backend: long intervals, so that no token comes back during
// the test.
func widenarrow(t *testing.T, backend string) (wide, narrow limiter.Store) {
	t.Helper()
	if backend == "memory" {
		return memoryStore(t, 10, time.Hour), memoryStore(t, 5, time.Hour)
	}
	r, _ := newTestRedis(t, redistest.Start(t), RedisOptions{})
	return newStore(t, r, "wide", 10, time.Hour), newStore(t, r, "narrow", 5, time.Hour)
}

// A request refused by a later limit gives back the token of the earlier
// ones; one refused by the first takes nothing from the later ones.
func TestTakeAllGivesBackOnRefusal(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			wide, narrow := widenarrow(t, backend)

			for i := range 10 {
				res, at, err := TakeAll(ctx, "k", wide, nil, narrow)
				require.NoError(t, err)
				if i < 5 {
					require.True(t, res.OK, "request %d", i+1)
					assert.Equal(t, 2, at, "the narrow limit has fewer left")
					assert.EqualValues(t, 4-i, res.Remaining)
				} else {
					require.False(t, res.OK, "request %d", i+1)
					assert.Equal(t, 2, at, "refused by the narrow limit")
					assert.EqualValues(t, 5, res.Limit)
				}
			}
			assert.EqualValues(t, 5, remaining(t, wide, "k"), "the refused requests spent none of the wide limit")

			res, at, err := TakeAll(ctx, "k2", narrow, wide)
			require.NoError(t, err)
			require.True(t, res.OK)
			assert.Equal(t, 0, at, "a tie goes to the first")
			for range 5 {
				_, _, err := TakeAll(ctx, "k3", narrow)
				require.NoError(t, err)
			}
			res, at, err = TakeAll(ctx, "k3", narrow, wide)
			require.NoError(t, err)
			require.False(t, res.OK)
			assert.Equal(t, 0, at)
			res, err = Take(ctx, wide, "k3")
			require.NoError(t, err)
			assert.EqualValues(t, 9, res.Remaining, "refused by the first limit: the second was not asked")

			res, at, err = TakeAll(ctx, "k")
			require.NoError(t, err)
			assert.True(t, res.OK, "no limit")
			assert.Equal(t, -1, at)
		})
	}
}

// Under concurrent load the requests allowed are exactly the narrow
// limit, and only they count against the wide one.
func TestTakeAllConcurrent(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			wide, narrow := widenarrow(t, backend)
			var allowed, next atomic.Int64
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for next.Add(1) <= 100 {
						res, _, err := TakeAll(context.Background(), "k", wide, narrow)
						if !assert.NoError(t, err) {
							return
						}
						if res.OK {
							allowed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			assert.EqualValues(t, 5, allowed.Load())
			assert.EqualValues(t, 5, remaining(t, wide, "k"), "10 minus the 5 allowed")
		})
	}
}

// A store that fails gives back the tokens taken before it too, and
// GiveBack after Reset (the bucket is full again) gives nothing back.
func TestTakeAllErrorAndLateGiveBack(t *testing.T) {
	ctx := context.Background()
	first := memoryStore(t, 3, time.Minute)
	failing := &fakeStore{}
	failing.fail.Store(true)
	_, at, err := TakeAll(ctx, "k", first, failing)
	require.ErrorIs(t, err, errFake)
	assert.Equal(t, 1, at)
	assert.EqualValues(t, 3, remaining(t, first, "k"))

	res, err := Take(ctx, first, "k")
	require.NoError(t, err)
	res.Reset = time.Now().Add(-time.Second) // as if the bucket were full again
	GiveBack(ctx, first, "k", res)
	assert.EqualValues(t, 2, remaining(t, first, "k"), "too late: nothing is given back")
	res.Reset = time.Now().Add(time.Minute)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	GiveBack(canceled, first, "k", res)
	assert.EqualValues(t, 3, remaining(t, first, "k"), "given back although the request's context is done")
}

// A Redis store's Burst gives tokens back, never beyond a full bucket.
func TestRedisStoreBurst(t *testing.T) {
	ctx := context.Background()
	r, _ := newTestRedis(t, redistest.Start(t), RedisOptions{})
	s := newStore(t, r, "burst", 3, time.Hour)

	require.NoError(t, s.Burst(ctx, "k", 5))
	assert.EqualValues(t, 3, remaining(t, s, "k"), "a full bucket holds no more")
	for range 3 {
		res, err := Take(ctx, s, "k")
		require.NoError(t, err)
		require.True(t, res.OK)
	}
	require.NoError(t, s.Burst(ctx, "k", 2))
	assert.EqualValues(t, 2, remaining(t, s, "k"))
	require.NoError(t, s.Burst(ctx, "k", 0))
	assert.EqualValues(t, 2, remaining(t, s, "k"))
	require.NoError(t, s.Close(ctx))
	assert.ErrorIs(t, s.Burst(ctx, "k", 1), limiter.ErrStopped)
}

// During an outage a fail-open store gives tokens back to its fallback,
// where it took them; a fail-closed one took none and gives none back.
func TestFailoverBurstFollowsTheTake(t *testing.T) {
	ctx := context.Background()
	primary := &fakeStore{}
	primary.fail.Store(true)
	s, _, _ := newTestFailover(t, primary, false)
	defer s.Close(ctx)
	for range 3 {
		res, err := Take(ctx, s, "k")
		require.NoError(t, err)
		require.True(t, res.OK)
	}
	require.NoError(t, s.Burst(ctx, "k", 1))
	res, err := Take(ctx, s, "k")
	require.NoError(t, err)
	assert.True(t, res.OK, "the token given back to the fallback")

	closed, _, _ := newTestFailover(t, primary, true)
	defer closed.Close(ctx)
	_, err = Take(ctx, closed, "k")
	require.ErrorIs(t, err, ErrUnavailable)
	assert.ErrorIs(t, closed.Burst(ctx, "k", 1), ErrUnavailable)
}
