package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sethvargo/go-limiter"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The memory store is a token bucket per key: N at once from a fresh key,
// then one token back every W/N; Reset is when the bucket is full again
// after an allowed request and when the next token comes after a refusal.
func TestMemoryTokenBucket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		store, err := NewMemory(2, time.Second)
		require.NoError(t, err)
		defer store.Close(ctx)

		start := time.Now()
		first, err := Take(ctx, store, "a")
		require.NoError(t, err)
		assert.Equal(t, Result{Limit: 2, Remaining: 1, Reset: start.Add(500 * time.Millisecond), OK: true}, first)
		second, err := Take(ctx, store, "a")
		require.NoError(t, err)
		assert.Equal(t, Result{Limit: 2, Remaining: 0, Reset: start.Add(time.Second), OK: true}, second,
			"full again after a second")
		refused, err := Take(ctx, store, "a")
		require.NoError(t, err)
		assert.Equal(t, Result{Limit: 2, Remaining: 0, Reset: start.Add(500 * time.Millisecond)}, refused,
			"refused; the next token comes back after half a second")

		other, err := Take(ctx, store, "b")
		require.NoError(t, err)
		assert.True(t, other.OK, "keys have their own buckets")

		time.Sleep(time.Until(refused.Reset))
		res, err := Take(ctx, store, "a")
		require.NoError(t, err)
		assert.True(t, res.OK, "one token came back at Reset")
		res, err = Take(ctx, store, "a")
		require.NoError(t, err)
		assert.False(t, res.OK, "only one")

		time.Sleep(time.Second)
		for i := range 2 {
			res, err = Take(ctx, store, "a")
			require.NoError(t, err)
			assert.True(t, res.OK, "request %d after a whole window", i+1)
		}
		res, err = Take(ctx, store, "a")
		require.NoError(t, err)
		assert.False(t, res.OK, "never more than the bucket")

		_, left, err := store.Get(ctx, "a")
		require.NoError(t, err)
		assert.Zero(t, left)
		limit, left, err := store.Get(ctx, "unseen")
		require.NoError(t, err)
		assert.Equal(t, [2]uint64{2, 2}, [2]uint64{limit, left}, "a key not seen has a full bucket")
	})
}

// A request made at the Reset of a refusal is allowed, whatever the
// rounding of interval/tokens: Retry-After is honest.
func TestMemoryResetIsWhenATokenIsBack(t *testing.T) {
	for _, lim := range []struct {
		tokens   uint64
		interval time.Duration
	}{{3, time.Minute}, {7, time.Second}, {1000, 7 * time.Second}, {3001, 7 * time.Minute}, {1, time.Hour}} {
		synctest.Test(t, func(t *testing.T) {
			ctx := context.Background()
			store, err := NewMemory(lim.tokens, lim.interval)
			require.NoError(t, err)
			defer store.Close(ctx)
			for range lim.tokens {
				res, err := Take(ctx, store, "k")
				require.NoError(t, err)
				require.True(t, res.OK)
			}
			for i := range 20 {
				res, err := Take(ctx, store, "k")
				require.NoError(t, err)
				require.False(t, res.OK, "%d per %v, step %d: spent", lim.tokens, lim.interval, i)
				require.True(t, res.Reset.After(time.Now()))
				time.Sleep(time.Until(res.Reset))
				res, err = Take(ctx, store, "k")
				require.NoError(t, err)
				require.True(t, res.OK, "%d per %v, step %d: a token is back at Reset", lim.tokens, lim.interval, i)
			}
		})
	}
}

// A token given back returns to the bucket, never beyond a full bucket.
func TestMemoryBurstGivesBackUpToFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		store, err := NewMemory(3, time.Hour)
		require.NoError(t, err)
		defer store.Close(ctx)

		require.NoError(t, store.Burst(ctx, "k", 5), "a key not seen: its bucket is full already")
		for range 2 {
			_, _ = Take(ctx, store, "k")
		}
		require.NoError(t, store.Burst(ctx, "k", 1))
		_, left, err := store.Get(ctx, "k")
		require.NoError(t, err)
		assert.EqualValues(t, 2, left, "one of the two back")
		require.NoError(t, store.Burst(ctx, "k", 5))
		_, left, err = store.Get(ctx, "k")
		require.NoError(t, err)
		assert.EqualValues(t, 3, left, "full, not more")
		allowed := 0
		for range 5 {
			if res, _ := Take(ctx, store, "k"); res.OK {
				allowed++
			}
		}
		assert.Equal(t, 3, allowed)
	})
}

// The sweeper forgets the keys whose bucket is full again, keeps the others
// and the limits given by Set; Close stops it (synctest.Test fails on a
// goroutine left blocked in the bubble, goleak on one left outside) and
// refuses later calls.
func TestMemorySweepAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st, err := NewMemory(2, time.Minute)
		require.NoError(t, err)
		keys := func() int {
			s := st.(*bucketStore)
			s.mu.RLock()
			defer s.mu.RUnlock()
			return len(s.buckets)
		}
		_, _ = Take(ctx, st, "idle")
		require.NoError(t, st.Set(ctx, "set", 5, time.Minute))
		time.Sleep(30 * time.Second)
		_, _ = Take(ctx, st, "busy")
		_, _ = Take(ctx, st, "busy")
		assert.Equal(t, 3, keys())

		time.Sleep(30 * time.Second) // the first sweep, a minute after start
		synctest.Wait()
		assert.Equal(t, 2, keys(), "idle was full again and forgotten; busy is not full yet")
		res, err := Take(ctx, st, "set")
		require.NoError(t, err)
		assert.EqualValues(t, 5, res.Limit, "a limit given by Set stays")
		res, err = Take(ctx, st, "idle")
		require.NoError(t, err)
		assert.Equal(t, Result{Limit: 2, Remaining: 1, Reset: time.Now().Add(30 * time.Second), OK: true}, res,
			"a forgotten key starts again from a full bucket")

		require.NoError(t, st.Close(ctx))
		require.NoError(t, st.Close(ctx), "Close is idempotent")
		assert.Zero(t, keys())
		_, err = Take(ctx, st, "busy")
		require.ErrorIs(t, err, limiter.ErrStopped)
		_, _, err = st.Get(ctx, "busy")
		require.ErrorIs(t, err, limiter.ErrStopped)
		require.ErrorIs(t, st.Burst(ctx, "busy", 1), limiter.ErrStopped)
		require.ErrorIs(t, st.Set(ctx, "busy", 1, time.Second), limiter.ErrStopped)
	})
}

// Concurrent takes on one key allow exactly the limit.
func TestMemoryConcurrentTakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		store, err := NewMemory(500, time.Hour)
		require.NoError(t, err)
		defer store.Close(ctx)
		var allowed, refused atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 100 {
					res, err := Take(ctx, store, "k")
					assert.NoError(t, err)
					if res.OK {
						allowed.Add(1)
						assert.Less(t, res.Remaining, uint64(500))
					} else {
						refused.Add(1)
					}
				}
			})
		}
		wg.Wait()
		assert.EqualValues(t, 500, allowed.Load())
		assert.EqualValues(t, 300, refused.Load())
	})
}

// A large limit keeps its size after its first window: 1e8 per minute is
// 1e8 in every minute. go-limiter's memorystore, the store before this
// one, gave interval/tokens tokens per window after the first once tokens²
// passed the interval in nanoseconds (600 a minute here;
// sethvargo/go-limiter#29), and read a clock that a synctest bubble does
// not fake.
func TestMemoryLargeLimitRefills(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		store, err := NewMemory(1e8, time.Minute)
		require.NoError(t, err)
		defer store.Close(ctx)
		for minute := range 3 {
			for i := range 10_000 {
				res, err := Take(ctx, store, "client")
				require.NoError(t, err)
				require.True(t, res.OK, "minute %d, request %d", minute, i+1)
				require.EqualValues(t, 1e8, res.Limit)
				require.EqualValues(t, 1e8-1-i, res.Remaining, "minute %d, request %d: a full bucket each minute", minute, i+1)
			}
			time.Sleep(time.Minute)
		}
	})
}

// A large limit spent to the last token refuses the next request, and
// gives the whole limit back over one interval (20,000 per 100 ms: 20,000²
// is above 1e8, the interval in nanoseconds; memorystore gave 5,000 per
// window after the first).
func TestMemoryLargeLimitSpentAndBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		const n = 20_000
		store, err := NewMemory(n, 100*time.Millisecond)
		require.NoError(t, err)
		defer store.Close(ctx)
		for round := range 2 {
			for i := range n {
				res, err := Take(ctx, store, "client")
				require.NoError(t, err)
				require.True(t, res.OK, "round %d, request %d", round, i+1)
			}
			res, err := Take(ctx, store, "client")
			require.NoError(t, err)
			require.False(t, res.OK, "round %d: request %d is over the limit", round, n+1)
			time.Sleep(100 * time.Millisecond)
		}
	})
}

func TestResultRetryAfterIsAtLeastASecond(t *testing.T) {
	now := time.Now()
	assert.Equal(t, time.Second, Result{Reset: now.Add(10 * time.Millisecond)}.RetryAfter(now))
	assert.Equal(t, time.Second, Result{Reset: now.Add(-time.Hour)}.RetryAfter(now))
	assert.Equal(t, 90*time.Second, Result{Reset: now.Add(90 * time.Second)}.RetryAfter(now))
}

func TestProviderLimitsInMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := NewProviderLimits(nil)
		defer l.Close()

		start := time.Now()
		assert.True(t, l.Allow(ctx, "openai", 2))
		assert.True(t, l.Allow(ctx, "openai", 2))
		assert.False(t, l.Allow(ctx, "openai", 2), "the third request at once is over the provider's limit")
		assert.True(t, l.Allow(ctx, "grok", 2), "providers are counted apart")
		assert.True(t, l.Allow(ctx, "grok", 3), "a provider's limit changed by a reload starts a count of its own")
		for range 100 {
			require.True(t, l.Allow(ctx, "local", 0), "rate_limit 0 is no limit")
		}
		res, err := l.Take(ctx, "openai", 2)
		require.NoError(t, err)
		assert.False(t, res.OK)
		assert.Equal(t, start.Add(30*time.Second), res.Reset,
			"the router can tell when the provider frees up: its next token, half a minute (a minute / 2) on")
		time.Sleep(time.Until(res.Reset))
		assert.True(t, l.Allow(ctx, "openai", 2))

		require.NoError(t, l.Close())
		assert.True(t, l.Allow(ctx, "openai", 2), "a closed limiter takes no provider out of rotation")
		require.NoError(t, l.Close(), "Close is idempotent")
	})
}

// fakeStore is a primary store that fails on demand and counts its calls.
type fakeStore struct {
	fail  atomic.Bool
	calls atomic.Int64
}

var errFake = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func (f *fakeStore) Take(ctx context.Context, key string) (uint64, uint64, uint64, bool, error) {
	f.calls.Add(1)
	if f.fail.Load() {
		return 0, 0, 0, false, errFake
	}
	return 10, 9, uint64(time.Now().Add(time.Minute).UnixNano()), true, nil
}

func (f *fakeStore) Get(ctx context.Context, key string) (uint64, uint64, error) {
	if f.fail.Load() {
		return 0, 0, errFake
	}
	return 10, 9, nil
}

func (f *fakeStore) Set(context.Context, string, uint64, time.Duration) error { return nil }
func (f *fakeStore) Burst(context.Context, string, uint64) error {
	if f.fail.Load() {
		return errFake
	}
	return nil
}
func (f *fakeStore) Close(context.Context) error { return nil }

// syncBuffer is a bytes.Buffer for a logger written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// count returns the number of log lines containing s.
func (b *syncBuffer) count(s string) int {
	n := 0
	for line := range strings.SplitSeq(b.String(), "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// newTestFailover is a failover store over primary with a memory fallback
// of 3 per minute, probing every second, logging to the returned buffer.
func newTestFailover(t *testing.T, primary limiter.Store, failClosed bool) (*failoverStore, *health, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	h := &health{log: slog.New(slog.NewTextHandler(logs, nil)), interval: time.Second, failClosed: failClosed}
	fallback, err := NewMemory(3, time.Minute)
	require.NoError(t, err)
	return &failoverStore{primary: primary, fallback: fallback, health: h, failClosed: failClosed, tokens: 3}, h, logs
}

// The fail-open store falls back to memory on the first failure, logs once
// per outage, leaves Redis alone until the probe interval has passed, and
// goes back by itself when the probe succeeds. Fake time makes the backoff
// exact.
func TestFailoverFallsBackLogsOnceAndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		primary := &fakeStore{}
		s, h, logs := newTestFailover(t, primary, false)
		defer s.Close(ctx)

		res, err := Take(ctx, s, "k")
		require.NoError(t, err)
		assert.EqualValues(t, 10, res.Limit, "answered by the primary")
		assert.False(t, h.down.Load())

		primary.fail.Store(true)
		for i := range 3 {
			res, err = Take(ctx, s, "k")
			require.NoError(t, err, "fail-open: no error reaches the caller")
			assert.True(t, res.OK)
			assert.EqualValues(t, 3, res.Limit, "request %d answered by the memory fallback", i+1)
		}
		res, err = Take(ctx, s, "k")
		require.NoError(t, err)
		assert.False(t, res.OK, "the fallback enforces the same limit locally")
		assert.True(t, h.down.Load())
		assert.EqualValues(t, 1, h.outages.Load())
		assert.EqualValues(t, 2, primary.calls.Load(), "after the failure the primary is left alone until the next probe")
		assert.Equal(t, 1, logs.count("redis does not answer"), "one warning per outage")

		primary.fail.Store(false)
		_, _ = Take(ctx, s, "k")
		assert.EqualValues(t, 2, primary.calls.Load(), "no probe before the interval")

		time.Sleep(time.Second)
		res, err = Take(ctx, s, "k")
		require.NoError(t, err)
		assert.EqualValues(t, 10, res.Limit, "the probe reached the primary and it answered")
		assert.False(t, h.down.Load(), "recovered by itself")
		assert.Equal(t, 1, logs.count("redis answers again"))
		_, _ = Take(ctx, s, "k")
		assert.EqualValues(t, 4, primary.calls.Load(), "back on the primary")

		primary.fail.Store(true)
		_, _ = Take(ctx, s, "k")
		assert.EqualValues(t, 2, h.outages.Load(), "a new outage")
		assert.Equal(t, 2, logs.count("redis does not answer"))

		// A failed probe keeps the outage and waits another interval.
		time.Sleep(time.Second)
		_, _ = Take(ctx, s, "k")
		assert.EqualValues(t, 6, primary.calls.Load(), "probed")
		_, _ = Take(ctx, s, "k")
		assert.EqualValues(t, 6, primary.calls.Load(), "not probed again before the interval")
		assert.Equal(t, 2, logs.count("redis does not answer"), "a failed probe logs nothing")
	})
}

// Of many concurrent callers during an outage, only one probes.
func TestFailoverProbesOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		primary := &fakeStore{}
		primary.fail.Store(true)
		s, h, _ := newTestFailover(t, primary, false)
		defer s.Close(ctx)
		_, _ = Take(ctx, s, "k")
		require.True(t, h.down.Load())
		time.Sleep(time.Second)

		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() { _, _ = Take(ctx, s, "k") })
		}
		wg.Wait()
		assert.EqualValues(t, 2, primary.calls.Load(), "one failing call, then one probe")
	})
}

func TestFailoverFailClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		primary := &fakeStore{}
		s, h, logs := newTestFailover(t, primary, true)
		defer s.Close(ctx)

		primary.fail.Store(true)
		res, err := Take(ctx, s, "k")
		require.ErrorIs(t, err, ErrUnavailable)
		assert.ErrorIs(t, err, errFake, "the cause is kept")
		assert.False(t, res.OK)
		assert.True(t, h.down.Load())
		assert.Contains(t, logs.String(), "refused")

		_, err = Take(ctx, s, "k")
		require.ErrorIs(t, err, ErrUnavailable, "refused without asking the primary")
		assert.EqualValues(t, 1, primary.calls.Load())

		primary.fail.Store(false)
		time.Sleep(time.Second)
		res, err = Take(ctx, s, "k")
		require.NoError(t, err)
		assert.True(t, res.OK)
	})
}

// A caller that goes away is no outage.
func TestFailoverCallerCancelIsNoOutage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	primary := &canceledStore{}
	s, h, _ := newTestFailover(t, primary, false)
	defer s.Close(context.Background())
	_, err := Take(ctx, s, "k")
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, h.down.Load())
}

type canceledStore struct{ fakeStore }

func (c *canceledStore) Take(ctx context.Context, key string) (uint64, uint64, uint64, bool, error) {
	return 0, 0, 0, false, ctx.Err()
}

// The late failure of a call that started before a recovery (a timeout, or
// a probe overtaken by a Ping) is stale news: it starts no new outage.
func TestHealthIgnoresStaleFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		logs := &syncBuffer{}
		h := &health{log: slog.New(slog.NewTextHandler(logs, nil)), interval: time.Second}

		use, early := h.attempt()
		require.True(t, use)
		_, t1 := h.attempt()
		assert.True(t, h.report(ctx, errFake, t1), "a failure: fall back")
		require.True(t, h.down.Load())
		time.Sleep(time.Second)
		use, probe := h.attempt()
		require.True(t, use)
		require.True(t, probe.probe)
		h.report(ctx, nil, probe)
		require.False(t, h.down.Load(), "recovered")

		assert.True(t, h.report(ctx, errFake, early), "the stale call still falls back")
		assert.False(t, h.down.Load(), "but starts no outage")
		assert.EqualValues(t, 1, h.outages.Load())

		_, t2 := h.attempt()
		h.report(ctx, errFake, t2)
		require.EqualValues(t, 2, h.outages.Load())
		time.Sleep(time.Second)
		_, probe = h.attempt()
		require.True(t, probe.probe)
		h.report(ctx, nil, h.now()) // a Ping ends the outage first
		require.False(t, h.down.Load())
		h.report(ctx, errFake, probe)
		assert.False(t, h.down.Load(), "the overtaken probe's failure is stale")
		assert.EqualValues(t, 2, h.outages.Load())
		assert.Equal(t, 2, logs.count("redis does not answer"))
		assert.Equal(t, 2, logs.count("redis answers again"))
	})
}
