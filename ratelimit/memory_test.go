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

// TestMemoryWindowReset runs in real time, not in a testing/synctest
// bubble: the memorystore reads the clock through a linkname to time.now,
// which the bubble does not fake (only time.Now and the runtime's timers
// are), so in a bubble its windows would follow the real clock while
// time.Sleep advanced the fake one. The windows are one second long; the
// logic built on time.Now around the stores (failover, probes, backoff) is
// tested in synctest bubbles below. Nothing here bounds how long a step
// takes: the reset times are checked against clock readings taken around
// the calls, and the next window is judged by the reset time each answer
// names, so a busy machine that lets a window end between two calls
// changes which window a call falls in, never the verdict.
func TestMemoryWindowReset(t *testing.T) {
	ctx := context.Background()
	store, err := NewMemory(2, time.Second)
	require.NoError(t, err)
	defer store.Close(ctx)

	before := time.Now()
	first, err := Take(ctx, store, "a")
	after := time.Now()
	require.NoError(t, err)
	assert.True(t, first.OK)
	assert.EqualValues(t, 2, first.Limit)
	assert.EqualValues(t, 1, first.Remaining)
	assert.WithinRange(t, first.Reset, before.Add(time.Second), after.Add(time.Second),
		"the window ends a second after the key's first request")

	// The window ends a second after the first request: the two takes
	// below fall in it unless the machine stalled for a second; then they
	// name a later reset, and the window checks are skipped for them.
	second, err := Take(ctx, store, "a")
	require.NoError(t, err)
	refused, err := Take(ctx, store, "a")
	require.NoError(t, err)
	if second.Reset.Equal(first.Reset) {
		assert.True(t, second.OK)
		assert.EqualValues(t, 0, second.Remaining)
	}
	if refused.Reset.Equal(first.Reset) {
		assert.False(t, refused.OK, "the third request in the window is refused")
	}

	other, err := Take(ctx, store, "b")
	require.NoError(t, err)
	assert.True(t, other.OK, "keys have their own windows")

	// After the window: the key's next windows start from the first one's
	// end, a whole number of seconds later, each allowing two requests
	// and then refusing. Take until a refusal in a later window.
	time.Sleep(time.Until(first.Reset))
	byWindow := map[time.Time][]bool{}
	var last Result
	for range 50 {
		res, err := Take(ctx, store, "a")
		require.NoError(t, err)
		if res.Reset.Equal(first.Reset) {
			require.False(t, res.OK, "still the first window, which is used up")
			continue
		}
		byWindow[res.Reset] = append(byWindow[res.Reset], res.OK)
		if last = res; !res.OK {
			break
		}
	}
	require.False(t, last.OK, "no refusal in 50 requests: %v", byWindow)
	assert.Equal(t, []bool{true, true, false}, byWindow[last.Reset], "two allowed in the window, then refused")
	assert.True(t, last.Reset.After(first.Reset))
	assert.Zero(t, last.Reset.Sub(first.Reset)%time.Second, "windows follow each other: %v after the first",
		last.Reset.Sub(first.Reset))
}

func TestResultRetryAfterIsAtLeastASecond(t *testing.T) {
	now := time.Now()
	assert.Equal(t, time.Second, Result{Reset: now.Add(10 * time.Millisecond)}.RetryAfter(now))
	assert.Equal(t, time.Second, Result{Reset: now.Add(-time.Hour)}.RetryAfter(now))
	assert.Equal(t, 90*time.Second, Result{Reset: now.Add(90 * time.Second)}.RetryAfter(now))
}

func TestProviderLimitsInMemory(t *testing.T) {
	ctx := context.Background()
	l := NewProviderLimits(nil)
	defer l.Close()

	before := time.Now()
	assert.True(t, l.Allow(ctx, "openai", 2))
	assert.True(t, l.Allow(ctx, "openai", 2))
	assert.False(t, l.Allow(ctx, "openai", 2), "the third request in the minute is over the provider's limit")
	assert.True(t, l.Allow(ctx, "grok", 2), "providers are counted apart")
	assert.True(t, l.Allow(ctx, "grok", 3), "a provider's limit changed by a reload starts a count of its own")
	for range 100 {
		require.True(t, l.Allow(ctx, "local", 0), "rate_limit 0 is no limit")
	}
	res, err := l.Take(ctx, "openai", 2)
	after := time.Now()
	require.NoError(t, err)
	assert.False(t, res.OK)
	assert.WithinRange(t, res.Reset, before.Add(time.Minute), after.Add(time.Minute),
		"the router can tell when the provider frees up: a minute after its window began")

	require.NoError(t, l.Close())
	assert.True(t, l.Allow(ctx, "openai", 2), "a closed limiter takes no provider out of rotation")
	require.NoError(t, l.Close(), "Close is idempotent")
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
