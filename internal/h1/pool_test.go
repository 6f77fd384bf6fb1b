package h1

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gate is a handler that blocks each request until released (or until the
// request's context ends), counting the requests in the handler.
type gate struct {
	release chan struct{}
	once    sync.Once
	in      atomic.Int32
	served  atomic.Int32
}

func newGate() *gate { return &gate{release: make(chan struct{})} }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.in.Add(1)
	defer g.in.Add(-1)
	select {
	case <-g.release:
	case <-r.Context().Done():
		return
	}
	g.served.Add(1)
	io.WriteString(w, "released")
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func TestMaxConnsPerHostBoundsConnections(t *testing.T) {
	const limit, n = 3, 12
	g := newGate()
	srv := newCountingServer(t, g)
	defer g.open()
	var cc connCounter
	tr := newTestTransport(t, &http.Transport{MaxConnsPerHost: limit, DialContext: cc.DialContext})

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				errs <- err
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && string(b) != "released" {
				err = errors.New("unexpected body " + string(b))
			}
			errs <- err
		})
	}
	addr := hostOf(srv.URL)
	require.Eventually(t, func() bool { return g.in.Load() == limit && waiters(tr, addr) == n-limit },
		5*time.Second, 5*time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	assert.EqualValues(t, limit, g.in.Load(), "no request beyond the limit reaches the server")
	g.open()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.EqualValues(t, n, g.served.Load())
	assert.LessOrEqual(t, srv.maxOpenConns(), limit)
	assert.Equal(t, limit, srv.conns(), "waiters are handed the connections that come back")
	dials, _, maxOpen := cc.stats()
	assert.Equal(t, limit, dials)
	assert.Equal(t, limit, maxOpen)
	idle, total := idleConns(tr, addr)
	assert.Equal(t, limit, idle)
	assert.Equal(t, limit, total)
	assert.Zero(t, waiters(tr, addr))
}

func TestWaitersAreServedInOrder(t *testing.T) {
	var order []string
	var mu sync.Mutex
	g := newGate()
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		order = append(order, r.URL.Query().Get("id"))
		mu.Unlock()
		if r.URL.Query().Get("id") == "first" {
			g.ServeHTTP(w, r)
		}
	}))
	defer g.open()
	tr := newTestTransport(t, &http.Transport{MaxConnsPerHost: 1})
	addr := hostOf(srv.URL)

	var wg sync.WaitGroup
	start := func(id string) {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/?id="+id, nil)
			if resp, err := tr.RoundTrip(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	start("first")
	require.Eventually(t, func() bool { return g.in.Load() == 1 }, 5*time.Second, time.Millisecond)
	for i, id := range []string{"a", "b", "c"} {
		start(id)
		require.Eventually(t, func() bool { return waiters(tr, addr) == i+1 }, 5*time.Second, time.Millisecond)
	}
	g.open()
	wg.Wait()
	assert.Equal(t, []string{"first", "a", "b", "c"}, order)
	assert.Equal(t, 1, srv.conns())
}

func TestWaiterCancelledReturnsPromptlyAndKeepsNoSlot(t *testing.T) {
	g := newGate()
	srv := newCountingServer(t, g)
	defer g.open()
	tr := newTestTransport(t, &http.Transport{MaxConnsPerHost: 1})
	addr := hostOf(srv.URL)

	first := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		resp, err := tr.RoundTrip(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		first <- err
	}()
	require.Eventually(t, func() bool { return g.in.Load() == 1 }, 5*time.Second, time.Millisecond)

	for _, cancelIt := range []bool{true, false} {
		var ctx context.Context
		var cancel context.CancelFunc
		if cancelIt {
			ctx, cancel = context.WithCancel(context.Background())
			time.AfterFunc(30*time.Millisecond, cancel)
		} else {
			ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		start := time.Now()
		_, err := tr.RoundTrip(req)
		require.Error(t, err)
		require.ErrorIs(t, err, ctx.Err())
		assert.Less(t, time.Since(start), time.Second)
		cancel()
		assert.Zero(t, waiters(tr, addr))
	}

	g.open()
	require.NoError(t, <-first)
	// The slot is free: later requests get the connection.
	for range 3 {
		assert.Equal(t, "released", readAll(t, get(t, tr, srv.URL)))
	}
	_, total := idleConns(tr, addr)
	assert.Equal(t, 1, total)
	assert.Equal(t, 1, srv.conns())
}

// TestGrantRacingCancellation hands a connection to waiters whose contexts
// end at the same moment, many times over, and checks that neither the
// connection nor its slot is lost.
func TestGrantRacingCancellation(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	var cc connCounter
	tr := newTestTransport(t, &http.Transport{MaxConnsPerHost: 1, DialContext: cc.DialContext})
	addr := hostOf(srv.URL)
	for range 200 {
		resp := get(t, tr, srv.URL)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			errc <- err
		}()
		require.Eventually(t, func() bool { return waiters(tr, addr) == 1 }, 5*time.Second, 50*time.Microsecond)
		go cancel()
		readAll(t, resp) // puts the connection back, racing cancel
		err := <-errc
		if err != nil {
			require.ErrorIs(t, err, context.Canceled)
		}
		cancel()
		idle, total := idleConns(tr, addr)
		// Nothing is in use now: every counted connection is idle (the
		// waiter's exchange may have been cancelled, closing it).
		require.Equal(t, idle, total, "a slot was lost")
		require.LessOrEqual(t, total, 1)
	}
	_, _, maxOpen := cc.stats()
	assert.Equal(t, 1, maxOpen)
}

func TestFailedDialReleasesSlot(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	var fail atomic.Bool
	fail.Store(true)
	var d net.Dialer
	fb := &http.Transport{MaxConnsPerHost: 1, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if fail.Load() {
			return nil, errors.New("dial refused by test")
		}
		return d.DialContext(ctx, network, addr)
	}}
	tr := newTestTransport(t, fb)
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		_, err := tr.RoundTrip(req)
		require.ErrorContains(t, err, "dial refused by test")
	}
	_, total := idleConns(tr, hostOf(srv.URL))
	assert.Zero(t, total)
	fail.Store(false)
	assert.Equal(t, "ok", readAll(t, get(t, tr, srv.URL)))
}

func TestClosedConnectionWakesWaiter(t *testing.T) {
	g := newGate()
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		g.ServeHTTP(w, r)
	}))
	defer g.open()
	var cc connCounter
	tr := newTestTransport(t, &http.Transport{MaxConnsPerHost: 1, DialContext: cc.DialContext})
	addr := hostOf(srv.URL)

	results := make(chan string, 2)
	for range 2 {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				results <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- string(b)
		}()
	}
	require.Eventually(t, func() bool { return g.in.Load() == 1 && waiters(tr, addr) == 1 }, 5*time.Second, time.Millisecond)
	g.open()
	assert.Equal(t, "released", <-results)
	assert.Equal(t, "released", <-results)
	dials, open, maxOpen := cc.stats()
	assert.Equal(t, 2, dials)
	assert.Zero(t, open)
	assert.Equal(t, 1, maxOpen)
	_, total := idleConns(tr, addr)
	assert.Zero(t, total)
}

func TestIdleConnectionsAreLIFO(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	g := newGate()
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.RemoteAddr]++
		mu.Unlock()
		if r.URL.Query().Get("wait") != "" {
			g.ServeHTTP(w, r)
		}
		io.WriteString(w, r.RemoteAddr)
	}))
	defer g.open()
	tr := newTestTransport(t, nil)

	// Open two connections at once.
	var wg sync.WaitGroup
	addrs := make(chan string, 2)
	for range 2 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/?wait=1", nil)
			resp, err := tr.RoundTrip(req)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				addrs <- string(b)
			}
		})
	}
	require.Eventually(t, func() bool { return g.in.Load() == 2 }, 5*time.Second, time.Millisecond)
	g.open()
	wg.Wait()
	require.Equal(t, 2, srv.conns())

	// Sequential requests all use the most recently returned one.
	last := readAll(t, get(t, tr, srv.URL))
	for range 10 {
		assert.Equal(t, last, readAll(t, get(t, tr, srv.URL)))
	}
	idle, total := idleConns(tr, hostOf(srv.URL))
	assert.Equal(t, 2, idle)
	assert.Equal(t, 2, total)
}

// TestGrantAfterWaiterGaveUp forces the interleaving in which a connection
// is handed to a waiter whose context has just ended: the waiter must pass
// it on rather than lose it.
func TestGrantAfterWaiterGaveUp(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	tr := newTestTransport(t, &http.Transport{MaxConnsPerHost: 1})
	addr := hostOf(srv.URL)
	c, err := tr.getConn(context.Background(), addr)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := tr.getConn(ctx, addr)
		errc <- err
	}()
	require.Eventually(t, func() bool { return waiters(tr, addr) == 1 }, 5*time.Second, time.Millisecond)

	tr.mu.Lock()
	cancel()
	time.Sleep(20 * time.Millisecond) // the waiter sees ctx end and blocks on mu
	tr.grantLocked(tr.pools[addr], c)
	tr.mu.Unlock()

	require.ErrorIs(t, <-errc, context.Canceled)
	idle, total := idleConns(tr, addr)
	assert.Equal(t, 1, idle, "the connection went back to the pool")
	assert.Equal(t, 1, total)
	assert.Equal(t, "ok", readAll(t, get(t, tr, srv.URL)))
	assert.Equal(t, 1, srv.conns())
}
