package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sethvargo/go-limiter"
	"github.com/sony/gobreaker/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy/internal/redistest"
)

// newTestRedis connects to srv like a replica would, logging to the
// returned buffer, and closes the connection when the test ends.
func newTestRedis(t *testing.T, srv *redistest.Server, opts RedisOptions) (*Redis, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	if opts.URL == "" {
		opts.URL = srv.PatientURL()
	}
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	if opts.ProbeInterval == 0 {
		opts.ProbeInterval = 50 * time.Millisecond
	}
	r, err := NewRedis(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	return r, logs
}

// rawClient is a plain client of srv for looking at the keys.
func rawClient(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newStore returns r.Store(name, tokens, interval), closed with the test.
func newStore(t *testing.T, r *Redis, name string, tokens uint64, interval time.Duration) limiter.Store {
	t.Helper()
	s, err := r.Store(name, tokens, interval)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// hammer runs workers goroutines that take from stores in turn, n times in
// all, and returns how many takes were allowed. Every error fails the test.
func hammer(t *testing.T, stores []limiter.Store, key string, workers, n int) int {
	t.Helper()
	var allowed, next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				res, err := Take(context.Background(), stores[w%len(stores)], key)
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
	return int(allowed.Load())
}

func TestNewRedisRejectsBadURL(t *testing.T) {
	_, err := NewRedis(RedisOptions{URL: "http://user:s3cret@example.com"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret", "the URL may hold a password")
}

// Two replicas (two connections) sharing one Redis allow the limit in
// total, not each, under concurrent load.
func TestRedisStoreLimitIsSharedExactly(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := newTestRedis(t, srv, RedisOptions{})
	b, _ := newTestRedis(t, srv, RedisOptions{})
	stores := []limiter.Store{newStore(t, a, "chat", 20, time.Minute), newStore(t, b, "chat", 20, time.Minute)}

	allowed := hammer(t, stores, "key_1", 8, 200)
	assert.InDelta(t, 20, allowed, 1, "20 per minute across both replicas")
	assert.True(t, a.Healthy())
	assert.True(t, b.Healthy())
	assert.Zero(t, a.Outages())

	keys, err := rawClient(t, srv).Keys(context.Background(), "*").Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"rate:llmproxy:rl:chat:key_1"}, keys, "keys are namespaced")
}

func TestRedisStoreResults(t *testing.T) {
	srv := redistest.Start(t)
	r, _ := newTestRedis(t, srv, RedisOptions{KeyPrefix: "test:"})
	s := newStore(t, r, "emb", 3, time.Minute)
	ctx := context.Background()

	for i := range 3 {
		res, err := Take(ctx, s, "k")
		require.NoError(t, err)
		require.True(t, res.OK)
		assert.EqualValues(t, 3, res.Limit)
		assert.EqualValues(t, 2-i, res.Remaining)
		assert.WithinDuration(t, time.Now().Add(time.Duration(i+1)*20*time.Second), res.Reset, 2*time.Second,
			"allowed: reset is when the bucket is full again, 20 s per request used")
	}
	res, err := Take(ctx, s, "k")
	require.NoError(t, err)
	assert.False(t, res.OK)
	assert.Zero(t, res.Remaining)
	assert.WithinDuration(t, time.Now().Add(20*time.Second), res.Reset, 2*time.Second,
		"refused: reset is when the next request is allowed (one token per 20 s)")

	tokens, remaining, err := s.Get(ctx, "k")
	require.NoError(t, err)
	assert.EqualValues(t, 3, tokens)
	assert.EqualValues(t, 0, remaining)

	require.NoError(t, s.Set(ctx, "k", 5, time.Minute))
	tokens, remaining, err = s.Get(ctx, "k")
	require.NoError(t, err)
	assert.EqualValues(t, 5, tokens)
	assert.EqualValues(t, 5, remaining, "Set gives a full bucket")

	_, err = Take(ctx, s, "k")
	require.NoError(t, err)
	n, err := rawClient(t, srv).Exists(ctx, "rate:test:rl:emb:k").Result()
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "KeyPrefix applies")

	require.NoError(t, s.Close(ctx))
	_, err = Take(ctx, s, "k")
	assert.ErrorIs(t, err, limiter.ErrStopped)
}

// Killing Redis mid-run loses no request: every take answers, from the
// local fallback, and the limits go back to Redis when it is back.
func TestRedisOutageFailsOpenAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	r, logs := newTestRedis(t, srv, RedisOptions{})
	s := newStore(t, r, "chat", 5, time.Minute)
	ctx := context.Background()

	for range 2 {
		res, err := Take(ctx, s, "k")
		require.NoError(t, err)
		require.True(t, res.OK)
	}

	// Load runs through the outage and the restart.
	stop := make(chan struct{})
	var errs, takes atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := Take(tctx, s, "load")
				cancel()
				takes.Add(1)
				if err != nil {
					errs.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}

	srv.Stop()
	start := time.Now()
	res, err := Take(ctx, s, "k")
	require.NoError(t, err, "fail-open: the outage is not the caller's problem")
	assert.True(t, res.OK, "the local fallback allows the request")
	assert.Less(t, time.Since(start), time.Second, "the outage is noticed fast")
	assert.Eventually(t, func() bool { return !r.Healthy() }, time.Second, 10*time.Millisecond)
	assert.EqualValues(t, 1, r.Outages())
	time.Sleep(200 * time.Millisecond) // several probe intervals: probes fail, no new logs
	assert.Equal(t, 1, logs.count("redis does not answer"), "one warning per outage")

	srv.Restart()
	assert.Eventually(t, func() bool {
		_, _ = Take(ctx, s, "probe")
		return r.Healthy()
	}, 5*time.Second, 20*time.Millisecond, "recovers by itself")
	close(stop)
	wg.Wait()
	assert.Zero(t, errs.Load(), "no take failed during the outage (%d takes)", takes.Load())
	assert.EqualValues(t, 1, r.Outages())
	assert.Equal(t, 1, logs.count("redis answers again"))

	// The restarted server is empty: the limit is enforced there again.
	for i := range 5 {
		res, err := Take(ctx, s, "fresh")
		require.NoError(t, err)
		require.True(t, res.OK, "request %d", i+1)
	}
	res, err = Take(ctx, s, "fresh")
	require.NoError(t, err)
	assert.False(t, res.OK)
	n, err := rawClient(t, srv).Exists(ctx, "rate:llmproxy:rl:chat:fresh").Result()
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "the count lives in Redis again")
}

func TestRedisOutageFailClosed(t *testing.T) {
	srv := redistest.Start(t)
	r, _ := newTestRedis(t, srv, RedisOptions{FailClosed: true})
	s := newStore(t, r, "chat", 5, time.Minute)
	ctx := context.Background()

	res, err := Take(ctx, s, "k")
	require.NoError(t, err)
	require.True(t, res.OK)

	srv.Stop()
	_, err = Take(ctx, s, "k")
	require.ErrorIs(t, err, ErrUnavailable)
	assert.False(t, r.Healthy())
	assert.True(t, r.FailClosed())

	srv.Restart()
	assert.Eventually(t, func() bool {
		res, err := Take(ctx, s, "k")
		return err == nil && res.OK
	}, 5*time.Second, 20*time.Millisecond)
}

func TestRedisDownAtStartIsAnOutage(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	r, logs := newTestRedis(t, srv, RedisOptions{})
	s := newStore(t, r, "chat", 1, time.Minute)
	require.Error(t, r.Ping(context.Background()))
	assert.False(t, r.Healthy())
	res, err := Take(context.Background(), s, "k")
	require.NoError(t, err)
	assert.True(t, res.OK)
	assert.Equal(t, 1, logs.count("redis does not answer"))
}

func TestProviderLimitsShared(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := newTestRedis(t, srv, RedisOptions{})
	b, _ := newTestRedis(t, srv, RedisOptions{})
	la, lb := NewProviderLimits(a), NewProviderLimits(b)
	t.Cleanup(func() { _ = la.Close(); _ = lb.Close() })
	ctx := context.Background()

	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			l := la
			if i%2 == 1 {
				l = lb
			}
			for range 10 {
				if l.Allow(ctx, "openai", 12) {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.InDelta(t, 12, allowed.Load(), 1, "12 per minute to the provider across both replicas")
	assert.True(t, la.Allow(ctx, "grok", 12))
	assert.True(t, la.Allow(ctx, "openai", 0), "no limit")

	n, err := rawClient(t, srv).Exists(ctx, "rate:llmproxy:rl:provider:openai").Result()
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
}

// tripSettings opens a breaker after 3 consecutive failures for a minute.
func tripSettings(name string) gobreaker.Settings {
	return gobreaker.Settings{
		Name:        name,
		Timeout:     time.Minute,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 3 },
	}
}

var errUpstream = errors.New("upstream 503")

// A breaker opened through one replica is open on the other: gobreaker's
// DistributedCircuitBreaker on two BreakerStores sharing one Redis.
func TestBreakerStoreSharesState(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := newTestRedis(t, srv, RedisOptions{})
	b, _ := newTestRedis(t, srv, RedisOptions{})
	ba, err := gobreaker.NewDistributedCircuitBreaker[string](a.BreakerStore(), tripSettings("openai"))
	require.NoError(t, err)
	bb, err := gobreaker.NewDistributedCircuitBreaker[string](b.BreakerStore(), tripSettings("openai"))
	require.NoError(t, err)

	st, err := bb.State()
	require.NoError(t, err)
	assert.Equal(t, gobreaker.StateClosed, st)

	for range 3 {
		_, err := ba.Execute(func() (string, error) { return "", errUpstream })
		require.ErrorIs(t, err, errUpstream)
	}
	st, err = bb.State()
	require.NoError(t, err)
	assert.Equal(t, gobreaker.StateOpen, st, "opened through a, seen open by b")
	called := false
	_, err = bb.Execute(func() (string, error) { called = true; return "ok", nil })
	assert.ErrorIs(t, err, gobreaker.ErrOpenState)
	assert.False(t, called)

	keys, err := rawClient(t, srv).Keys(context.Background(), "*").Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"llmproxy:cb:gobreaker:state:openai"}, keys, "state namespaced; no lock left behind")
}

func TestBreakerStoreLock(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := newTestRedis(t, srv, RedisOptions{})
	b, _ := newTestRedis(t, srv, RedisOptions{})
	sa, sb := a.BreakerStore(), b.BreakerStore()
	assert.Same(t, sa, a.BreakerStore())

	require.NoError(t, sa.Lock("m"))
	start := time.Now()
	err := sb.Lock("m")
	require.Error(t, err, "held by the other replica")
	assert.GreaterOrEqual(t, time.Since(start), breakerLockWait-50*time.Millisecond)

	got := make(chan error, 1)
	go func() { got <- sb.Lock("m") }()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, sa.Unlock("m"))
	require.NoError(t, <-got, "taken as soon as released")

	// A holder whose lock expired cannot delete the next holder's.
	c := rawClient(t, srv)
	require.NoError(t, c.Set(context.Background(), "llmproxy:cb:m", "someone-else", time.Minute).Err())
	require.NoError(t, sb.Unlock("m"))
	v, err := c.Get(context.Background(), "llmproxy:cb:m").Result()
	require.NoError(t, err)
	assert.Equal(t, "someone-else", v)
	assert.Error(t, sb.Unlock("m"), "not held")

	// Within one process, callers queue on the local lock.
	require.NoError(t, sa.Lock("n"))
	go func() { got <- sa.Lock("n") }()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, sa.Unlock("n"))
	require.NoError(t, <-got)
	require.NoError(t, sa.Unlock("n"))

	data, err := sa.GetData("missing")
	require.NoError(t, err)
	assert.Nil(t, data)
}

// The two-step Breaker: failures recorded on one replica open it on the
// other; after the timeout a trial success closes it for both.
func TestBreakerSharedTwoStep(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := newTestRedis(t, srv, RedisOptions{})
	b, _ := newTestRedis(t, srv, RedisOptions{})
	settings := tripSettings("grok")
	settings.Timeout = 300 * time.Millisecond
	ba, bb := a.NewBreaker(settings), b.NewBreaker(settings)

	for range 3 {
		done, err := ba.Allow()
		require.NoError(t, err)
		done(errUpstream)
	}
	done, err := bb.Allow()
	assert.ErrorIs(t, err, gobreaker.ErrOpenState, "open on the other replica")
	assert.Nil(t, done)
	assert.Equal(t, gobreaker.StateOpen, bb.State())

	time.Sleep(settings.Timeout + 50*time.Millisecond)
	done, err = bb.Allow()
	require.NoError(t, err, "half-open: a trial request")
	done(nil)
	assert.Equal(t, gobreaker.StateClosed, ba.State(), "the trial's success closed it for both")

	// Concurrent use: a single replica's callers queue on the local lock
	// rather than polling Redis.
	var wg sync.WaitGroup
	start := time.Now()
	for range 20 {
		wg.Go(func() {
			done, err := ba.Allow()
			if assert.NoError(t, err) {
				done(nil)
			}
		})
	}
	wg.Wait()
	assert.Less(t, time.Since(start), 2*time.Second)
}

// While Redis is down the breaker works from memory, without hanging, and
// after a restart (empty server) the shared state is created again.
func TestBreakerFallsBackDuringOutage(t *testing.T) {
	srv := redistest.Start(t)
	r, _ := newTestRedis(t, srv, RedisOptions{})
	br := r.NewBreaker(tripSettings("openai"))
	done, err := br.Allow()
	require.NoError(t, err)
	done(nil)

	srv.Stop()
	start := time.Now()
	for range 3 {
		done, err := br.Allow()
		require.NoError(t, err)
		done(errUpstream)
	}
	assert.Less(t, time.Since(start), 2*time.Second, "no 5 s lock retries")
	assert.False(t, r.Healthy())
	_, err = br.Allow()
	assert.ErrorIs(t, err, gobreaker.ErrOpenState, "the local fallback counts failures during the outage")

	srv.Restart()
	require.Eventually(t, func() bool {
		_ = br.State()
		return r.Healthy()
	}, 5*time.Second, 20*time.Millisecond)
	done, err = br.Allow()
	require.NoError(t, err, "the shared state, recreated closed, applies again")
	done(nil)
	n, err := rawClient(t, srv).Exists(context.Background(), "llmproxy:cb:gobreaker:state:openai").Result()
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
}

// A hung server (stopped, connections open) is noticed by the default
// timeouts: the call in flight waits at most the read timeout, the next ones
// not at all, and the server is used again once it answers.
func TestRedisHungServerTimesOutAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	r, logs := newTestRedis(t, srv, RedisOptions{URL: srv.URL()})
	s := newStore(t, r, "chat", 5, time.Minute)
	ctx := context.Background()
	res, err := Take(ctx, s, "k")
	require.NoError(t, err)
	require.True(t, res.OK)

	srv.Pause()
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume()
		}
	}()
	start := time.Now()
	res, err = Take(ctx, s, "k")
	require.NoError(t, err)
	assert.True(t, res.OK, "answered by the fallback")
	assert.Less(t, time.Since(start), 2*time.Second, "bounded by the read timeout")
	assert.False(t, r.Healthy())
	start = time.Now()
	for range 10 {
		_, err := Take(ctx, s, "k")
		require.NoError(t, err)
	}
	assert.Less(t, time.Since(start), 100*time.Millisecond, "during the outage Redis is not waited for")
	assert.Equal(t, 1, logs.count("redis does not answer"))

	srv.Resume()
	resumed = true
	assert.Eventually(t, func() bool {
		_, _ = Take(ctx, s, "k")
		return r.Healthy()
	}, 5*time.Second, 20*time.Millisecond)
}
