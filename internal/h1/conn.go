package h1

import (
	"bufio"
	"context"
	"errors"
	"net"
	"time"
)

// aLongTimeAgo is the deadline that interrupts a connection's I/O.
var aLongTimeAgo = time.Unix(1, 0)

var (
	errHeadersTooLarge = errors.New("h1: response headers too large")
	// errWouldBlock stops a drain of buffered bytes at the point where it
	// would have to read from the network.
	errWouldBlock = errors.New("h1: drain would block")
)

// conn is one connection to an upstream. It is used by one exchange at a
// time: ownership passes through the pool, under Transport.mu.
type conn struct {
	nc     net.Conn
	pool   *hostPool
	br     *bufio.Reader // reads through the conn's Read method
	bw     *bufio.Writer // writes to nc
	abort  func()        // sets a past deadline on nc; run by context.AfterFunc
	idleAt time.Time     // when it was last put in the idle list
	reused bool          // it has completed an exchange before

	nread     int64 // bytes read from nc so far
	readLimit int64 // bytes that may still be read: bounds a response head
	noBlock   bool  // Read fails with errWouldBlock instead of reading nc
}

// newConn wraps nc, dialled in a slot of p.
func (t *Transport) newConn(p *hostPool, nc net.Conn) *conn {
	c := &conn{pool: p}
	c.br = bufio.NewReaderSize(c, t.readBufSize)
	c.bw = bufio.NewWriterSize(nc, t.writeBufSize)
	c.setNetConn(nc)
	return c
}

// redial replaces c's network connection, which failed, by a new one in the
// same slot, so that a retried request does not wait for a slot again.
func (t *Transport) redial(ctx context.Context, c *conn) error {
	nc, err := t.dial(ctx, "tcp", c.pool.addr)
	if err == nil && nc == nil {
		err = errNilConn
	}
	if err != nil {
		return ctxErr(ctx, err)
	}
	c.setNetConn(nc)
	c.br.Reset(c)
	c.bw.Reset(nc)
	c.reused = false
	return nil
}

func (c *conn) setNetConn(nc net.Conn) {
	c.nc = nc
	// The hook captures nc rather than c, so that it never reads c.nc while
	// redial replaces it.
	c.abort = func() { nc.SetDeadline(aLongTimeAgo) }
}

// Read reads from the network connection for br, counting the bytes and
// enforcing the response head limit.
func (c *conn) Read(p []byte) (int, error) {
	if c.noBlock {
		return 0, errWouldBlock
	}
	if c.readLimit <= 0 {
		return 0, errHeadersTooLarge
	}
	if int64(len(p)) > c.readLimit {
		p = p[:c.readLimit]
	}
	n, err := c.nc.Read(p)
	c.nread += int64(n)
	c.readLimit -= int64(n)
	return n, err
}
