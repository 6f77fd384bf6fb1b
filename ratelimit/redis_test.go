package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
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

// command is one Redis command as a commandLog saw it end.
type command struct {
	name string
	err  error
	cmd  redis.Cmder
}

// commandLog records the commands a Redis sends, so that tests can say
// whether and how Redis was used without timing anything.
type commandLog struct {
	mu   sync.Mutex
	cmds []command
}

// logCommands records every command r sends from now on.
func logCommands(r *Redis) *commandLog {
	l := &commandLog{}
	r.client.AddHook(l)
	return l
}

func (l *commandLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *commandLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		l.mu.Lock()
		l.cmds = append(l.cmds, command{name: cmd.Name(), err: err, cmd: cmd})
		l.mu.Unlock()
		return err
	}
}

func (l *commandLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		l.mu.Lock()
		for _, c := range cmds {
			l.cmds = append(l.cmds, command{name: c.Name(), err: c.Err(), cmd: c})
		}
		l.mu.Unlock()
		return err
	}
}

// since returns the commands recorded after the first n.
func (l *commandLog) since(n int) []command {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]command(nil), l.cmds[min(n, len(l.cmds)):]...)
}

// len returns the number of commands recorded so far.
func (l *commandLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.cmds)
}

// lockTakes returns those of cmds that try to take a lock: SET … NX
// (go-redis sends SetNX with an expiry as SET key value PX ttl NX).
func lockTakes(cmds []command) []command {
	var out []command
	for _, c := range cmds {
		if c.name != "set" && c.name != "setnx" {
			continue
		}
		for _, a := range c.cmd.Args() {
			if s, ok := a.(string); c.name == "setnx" || ok && strings.EqualFold(s, "nx") {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// endProbeWait lets the next call probe Redis at once, as if the probe
// interval had passed; tests give it an interval of an hour, so that no
// probe happens unless they call this.
func endProbeWait(r *Redis) {
	r.health.mu.Lock()
	r.health.nextProbe = time.Time{}
	r.health.mu.Unlock()
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

	// GCRA on the server's clock: the first take starts the bucket's
	// count, each allowed take moves its "full again" time 20 s further,
	// and a refusal is allowed again 20 s after the first take. Bracketed
	// by the clock read before the first take and after each one, these
	// hold however slow the machine is.
	const slack = 5 * time.Millisecond // float arithmetic in redis_rate
	first := time.Now()
	for i := range 3 {
		res, err := Take(ctx, s, "k")
		after := time.Now()
		require.NoError(t, err)
		require.True(t, res.OK)
		assert.EqualValues(t, 3, res.Limit)
		assert.EqualValues(t, 2-i, res.Remaining)
		per := time.Duration(i+1) * 20 * time.Second
		assert.WithinRange(t, res.Reset, first.Add(per-slack), after.Add(per+slack),
			"allowed: reset is when the bucket is full again, 20 s per request used")
	}
	res, err := Take(ctx, s, "k")
	after := time.Now()
	require.NoError(t, err)
	assert.False(t, res.OK)
	assert.Zero(t, res.Remaining)
	assert.WithinRange(t, res.Reset, first.Add(20*time.Second-slack), after.Add(20*time.Second+slack),
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
	cmds := logCommands(r)
	s := newStore(t, r, "chat", 5, time.Minute)
	ctx := context.Background()

	for range 2 {
		res, err := Take(ctx, s, "k")
		require.NoError(t, err)
		require.True(t, res.OK)
	}

	// Load runs through the outage and the restart. Each take is bounded
	// by the client's own timeouts, so none is given a deadline here: a
	// busy machine must not turn a slow take into an error.
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
				_, err := Take(ctx, s, "load")
				takes.Add(1)
				if err != nil {
					errs.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}

	srv.Stop()
	mark := cmds.len()
	res, err := Take(ctx, s, "k")
	require.NoError(t, err, "fail-open: the outage is not the caller's problem")
	assert.True(t, res.OK, "the local fallback allows the request")
	assert.False(t, r.Healthy(), "the take that returned saw the outage, or came after the one that did")
	assert.EqualValues(t, 1, r.Outages())
	// Several probes (one per 50 ms interval, made by the load) fail, and
	// none logs again.
	waitFor(t, func() bool { return len(failed(cmds.since(mark))) >= 4 }, "probes during the outage")
	assert.Equal(t, 1, logs.count("redis does not answer"), "one warning per outage")
	for _, c := range failed(cmds.since(mark)) {
		assert.False(t, isTimeout(c.err), "a dead server is noticed at once, without waiting for a timeout: %v", c.err)
	}

	srv.Restart()
	waitFor(t, func() bool {
		_, _ = Take(ctx, s, "probe")
		return r.Healthy()
	}, "recovers by itself")
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

// failed returns those of cmds that failed (a missing key is no failure).
func failed(cmds []command) []command {
	var out []command
	for _, c := range cmds {
		if c.err != nil && !errors.Is(c.err, redis.Nil) {
			out = append(out, c)
		}
	}
	return out
}

// waitFor waits until cond holds, polling. It waits as long as a very
// busy machine might need (a minute), so that it measures no speed: a
// condition that never holds fails the test then.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	require.Eventually(t, cond, time.Minute, 10*time.Millisecond, what)
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
	waitFor(t, func() bool {
		res, err := Take(ctx, s, "k")
		return err == nil && res.OK
	}, "limits from Redis again")
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
	// (and briefly on the Redis one); every one gets through and records
	// its outcome, and no lock is left behind.
	cmds := logCommands(a)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			done, err := ba.Allow()
			if assert.NoError(t, err) {
				done(nil)
			}
		})
	}
	wg.Wait()
	taken := 0
	for _, c := range lockTakes(cmds.since(0)) {
		require.NoError(t, c.err)
		if c.cmd.(*redis.BoolCmd).Val() {
			taken++
		}
	}
	assert.GreaterOrEqual(t, taken, 40, "each caller took the Redis lock for both steps")
	assert.Equal(t, gobreaker.StateClosed, bb.State())
	keys, err := rawClient(t, srv).Keys(context.Background(), "*").Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"llmproxy:cb:gobreaker:state:grok"}, keys, "no lock left behind")
}

// While Redis is down the breaker works from memory, without hanging, and
// after a restart (empty server) the shared state is created again.
func TestBreakerFallsBackDuringOutage(t *testing.T) {
	srv := redistest.Start(t)
	r, _ := newTestRedis(t, srv, RedisOptions{ProbeInterval: time.Hour})
	cmds := logCommands(r)
	br := r.NewBreaker(tripSettings("openai"))
	done, err := br.Allow()
	require.NoError(t, err)
	done(nil)

	srv.Stop()
	mark := cmds.len()
	for range 3 {
		done, err := br.Allow()
		require.NoError(t, err)
		done(errUpstream)
	}
	// The first call's read of the shared state fails and starts the
	// outage; the others are served from memory without asking Redis.
	assert.Len(t, failed(cmds.since(mark)), 1, "one failed read notices the outage")
	assert.Len(t, cmds.since(mark), 1, "nothing is sent to Redis during the outage")
	assert.False(t, r.Healthy())
	mark = cmds.len()
	_, err = br.Allow()
	assert.ErrorIs(t, err, gobreaker.ErrOpenState, "the local fallback counts failures during the outage")
	assert.Empty(t, cmds.since(mark), "no probe before the interval")

	srv.Restart()
	endProbeWait(r)
	waitFor(t, func() bool {
		_ = br.State()
		return r.Healthy()
	}, "the next call after the interval probes, and Redis answers")
	done, err = br.Allow()
	require.NoError(t, err, "the shared state, recreated closed, applies again")
	done(nil)
	n, err := rawClient(t, srv).Exists(context.Background(), "llmproxy:cb:gobreaker:state:openai").Result()
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
}

// A breaker first used while Redis is down (a replica starting during an
// outage) serves from memory, neither panicking (gobreaker v2.4.0 does, see
// newDistributed) nor keeping its lock, and takes up the shared state once
// Redis is back.
func TestBreakerFirstUseDuringOutage(t *testing.T) {
	srv := redistest.Start(t)
	r, _ := newTestRedis(t, srv, RedisOptions{ProbeInterval: time.Hour})
	br := r.NewBreaker(tripSettings("anthropic"))
	srv.Stop()
	done, err := br.Allow()
	require.NoError(t, err, "served from memory")
	done(nil)
	assert.False(t, r.Healthy())

	srv.Restart()
	endProbeWait(r)
	waitFor(t, func() bool {
		_ = br.State()
		return r.Healthy()
	}, "the next call after the interval probes, and Redis answers")
	done, err = br.Allow()
	require.NoError(t, err, "the lock was released: the shared state is created")
	done(nil)
	n, err := rawClient(t, srv).Exists(context.Background(), "llmproxy:cb:gobreaker:state:anthropic").Result()
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
}

// A Lock that Redis fails returns nil at once, so that gobreaker does not
// retry it every 500 ms for 5 s: the read or write that follows fails just
// as fast and reports the outage. Unlock then releases the local lock.
func TestBreakerStoreLockDuringOutage(t *testing.T) {
	srv := redistest.Start(t)
	r, _ := newTestRedis(t, srv, RedisOptions{ProbeInterval: time.Hour})
	cmds := logCommands(r)
	st := r.BreakerStore()
	srv.Stop()
	require.NoError(t, st.Lock("m"), "a Redis failure is no busy lock")
	takes := lockTakes(cmds.since(0))
	require.Len(t, takes, 1, "tried once, not polled")
	assert.Error(t, takes[0].err)
	assert.False(t, r.Healthy())
	var se *StoreError
	assert.ErrorAs(t, st.Unlock("m"), &se, "the lock was not taken in Redis")
	require.NoError(t, st.Lock("m"), "the local lock was released")
	_ = st.Unlock("m")
}

// A hung server (stopped, connections open) is noticed by the default
// timeouts: the call in flight waits at most the read timeout, the next ones
// not at all, and the server is used again once it answers.
func TestRedisHungServerTimesOutAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	r, logs := newTestRedis(t, srv, RedisOptions{URL: srv.URL(), ProbeInterval: time.Hour})
	cmds := logCommands(r)
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
	mark := cmds.len()
	res, err = Take(ctx, s, "k")
	require.NoError(t, err)
	assert.True(t, res.OK, "answered by the fallback")
	inFlight := cmds.since(mark)
	require.Len(t, inFlight, 1, "the take tried Redis once")
	assert.True(t, isTimeout(inFlight[0].err), "ended by the read timeout: %v", inFlight[0].err)
	assert.False(t, r.Healthy())

	mark = cmds.len()
	for range 10 {
		res, err := Take(ctx, s, "k")
		require.NoError(t, err)
		assert.True(t, res.OK || res.Limit == 5, "answered by the fallback")
	}
	assert.Empty(t, cmds.since(mark), "during the outage Redis is not waited for: no command until the probe interval")
	assert.Equal(t, 1, logs.count("redis does not answer"))

	srv.Resume()
	resumed = true
	endProbeWait(r)
	mark = cmds.len()
	waitFor(t, func() bool {
		_, _ = Take(ctx, s, "k")
		return r.Healthy()
	}, "the probe after the interval finds Redis answering")
	assert.NotEmpty(t, cmds.since(mark))
	assert.Equal(t, 1, logs.count("redis answers again"))
}
