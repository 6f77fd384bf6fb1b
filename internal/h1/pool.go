package h1

import (
	"context"
	"errors"
	"slices"
	"time"
)

// hostPool holds the connections to one host:port. All its fields are
// guarded by Transport.mu.
//
// Invariants: total counts idle connections, connections in use and dials
// in progress, and never exceeds the limit when there is one; waiters is
// non-empty only if idle is empty (a returning connection goes to the first
// waiter before the idle list); idle is sorted by idleAt, oldest first.
type hostPool struct {
	addr    string
	idle    []*conn   // LIFO: the last one is the most recently used
	total   int       // connections counted against the limit
	waiters []*waiter // FIFO: the first one is served first
}

// waiter is a request waiting for a connection of a pool at its limit.
type waiter struct {
	// ch receives, exactly once, either a connection handed over by put or
	// nil: the slot of a closed connection, in which the waiter dials. It
	// is buffered so that the sender, holding Transport.mu, never blocks.
	ch chan *conn
	// granted is set, under Transport.mu, when ch has been sent to and the
	// waiter has left the queue.
	granted bool
}

var errNilConn = errors.New("h1: dialer returned a nil connection and no error")

// getConn returns a connection to addr: the most recently used idle one
// that is not stale, else a new one if the limit allows, else the first one
// to come free after waiting. ctx ends the wait and the dial; the error then
// satisfies errors.Is(err, ctx.Err()).
func (t *Transport) getConn(ctx context.Context, addr string) (*conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.closeIdle = false
	p := t.pools[addr]
	if p == nil {
		p = &hostPool{addr: addr}
		t.pools[addr] = p
	}
	stale := t.pruneLocked(p, time.Now())
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		t.mu.Unlock()
		closeAll(stale)
		return c, nil
	}
	if t.maxConns <= 0 || p.total < t.maxConns {
		p.total++
		t.mu.Unlock()
		closeAll(stale)
		return t.dialConn(ctx, p)
	}
	w := &waiter{ch: make(chan *conn, 1)}
	p.waiters = append(p.waiters, w)
	t.mu.Unlock()
	closeAll(stale)

	select {
	case c := <-w.ch:
		if err := ctx.Err(); err != nil {
			t.giveBack(p, c)
			return nil, err
		}
		if c != nil {
			return c, nil
		}
		return t.dialConn(ctx, p)
	case <-ctx.Done():
		t.mu.Lock()
		if !w.granted {
			p.waiters = slices.DeleteFunc(p.waiters, func(x *waiter) bool { return x == w })
			t.mu.Unlock()
			return nil, ctx.Err()
		}
		t.mu.Unlock()
		// put or releaseSlot chose this waiter just as ctx ended: pass on
		// what it was given, so that no connection or slot is lost.
		t.giveBack(p, <-w.ch)
		return nil, ctx.Err()
	}
}

// dialConn dials a connection in a slot of p already counted in p.total,
// and frees the slot if the dial fails.
func (t *Transport) dialConn(ctx context.Context, p *hostPool) (*conn, error) {
	nc, err := t.dial(ctx, "tcp", p.addr)
	if err == nil && nc == nil {
		err = errNilConn
	}
	if err != nil {
		t.releaseSlot(p)
		return nil, ctxErr(ctx, err)
	}
	c := t.newConn(p, nc)
	if err := ctx.Err(); err != nil {
		// The dial won the race with ctx: keep the connection for others.
		t.put(c)
		return nil, err
	}
	return c, nil
}

// giveBack returns what a waiter received and will not use: a connection
// (c != nil) or a slot (c == nil).
func (t *Transport) giveBack(p *hostPool, c *conn) {
	if c != nil {
		t.put(c)
	} else {
		t.releaseSlot(p)
	}
}

// put returns c, whose exchange is complete, to its pool: to the first
// waiter if there is one, else to the top of the idle list. It closes c
// instead if the server sent bytes nobody asked for, or if
// CloseIdleConnections was called since the last request started.
func (t *Transport) put(c *conn) {
	if c.br.Buffered() > 0 {
		t.closeConn(c)
		return
	}
	c.reused = true
	p := c.pool
	t.mu.Lock()
	if len(p.waiters) > 0 {
		t.grantLocked(p, c)
		t.mu.Unlock()
		return
	}
	if t.closeIdle {
		p.total--
		t.dropIfEmptyLocked(p)
		t.mu.Unlock()
		c.nc.Close()
		return
	}
	now := time.Now()
	stale := t.pruneLocked(p, now)
	c.idleAt = now
	p.idle = append(p.idle, c)
	t.mu.Unlock()
	closeAll(stale)
}

// closeConn closes c and frees its slot.
func (t *Transport) closeConn(c *conn) {
	c.nc.Close()
	t.releaseSlot(c.pool)
}

// releaseSlot frees a slot of p, whose connection is closed or was never
// dialled: the first waiter gets it, or else p.total shrinks.
func (t *Transport) releaseSlot(p *hostPool) {
	t.mu.Lock()
	if len(p.waiters) > 0 {
		t.grantLocked(p, nil)
	} else {
		p.total--
		t.dropIfEmptyLocked(p)
	}
	t.mu.Unlock()
}

// grantLocked hands c (or, if nil, a free slot) to p's first waiter.
func (t *Transport) grantLocked(p *hostPool, c *conn) {
	w := p.waiters[0]
	p.waiters[0] = nil
	p.waiters = p.waiters[1:]
	w.granted = true
	w.ch <- c
}

// pruneLocked removes from p the idle connections older than t.maxIdleAge,
// which are the first ones of the list, and returns them for the caller to
// close once it has released t.mu. It returns nil when there are none.
func (t *Transport) pruneLocked(p *hostPool, now time.Time) []*conn {
	i := 0
	for i < len(p.idle) && now.Sub(p.idle[i].idleAt) > t.maxIdleAge {
		i++
	}
	if i == 0 {
		return nil
	}
	stale := slices.Clone(p.idle[:i])
	n := copy(p.idle, p.idle[i:])
	clear(p.idle[n:])
	p.idle = p.idle[:n]
	p.total -= i
	return stale
}

// dropIfEmptyLocked forgets p once it has no connection and no waiter, so
// that the pools map does not grow with every host ever reached.
func (t *Transport) dropIfEmptyLocked(p *hostPool) {
	if p.total == 0 && len(p.waiters) == 0 && t.pools[p.addr] == p {
		delete(t.pools, p.addr)
	}
}

// closeAll closes the network connections of cs, whose slots are already
// freed.
func closeAll(cs []*conn) {
	for _, c := range cs {
		c.nc.Close()
	}
}
