package h1

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
)

var (
	errBodyClosed     = errors.New("h1: read on closed response body")
	errConcurrentRead = errors.New("h1: concurrent Read on response body")
)

// body is a response body that owns its connection until the body is read
// to its end or closed, then returns the connection to the pool or closes
// it.
//
// Read and Close may be called from different goroutines: a Close during a
// Read closes the connection, which makes the Read return.
type body struct {
	t    *Transport
	rc   io.ReadCloser // from http.ReadResponse; reads from c.br
	ctx  context.Context
	stop func() bool // stops the cancellation hook; nil if ctx cannot end

	mu      sync.Mutex
	c       *conn // nil once released
	remain  int64 // Content-Length bytes not read yet; -1 without Content-Length
	reuse   bool  // the headers allow keeping the connection
	reading bool  // a Read is in progress outside mu
	closed  bool
	err     error // what Read returns once c is released
}

func newBody(ctx context.Context, t *Transport, c *conn, stop func() bool, resp *http.Response, reuse bool) *body {
	b := &body{t: t, rc: resp.Body, ctx: ctx, stop: stop, c: c, remain: -1, reuse: reuse}
	if resp.ContentLength >= 0 && !chunked(resp.TransferEncoding) {
		b.remain = resp.ContentLength
	}
	return b
}

// Read reads from the response body. At the body's end it releases the
// connection and returns io.EOF, as it does on every later call. An error
// other than io.EOF closes the connection; once the request's context has
// ended, the error satisfies errors.Is(err, ctx.Err()). Read after Close
// fails.
func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	switch {
	case b.closed:
		b.mu.Unlock()
		return 0, errBodyClosed
	case b.c == nil:
		err := b.err
		b.mu.Unlock()
		return 0, err
	case b.reading:
		b.mu.Unlock()
		return 0, errConcurrentRead
	}
	b.reading = true
	b.mu.Unlock()

	n, err := b.rc.Read(p)

	b.mu.Lock()
	defer b.mu.Unlock()
	b.reading = false
	if b.c == nil {
		// Close ran meanwhile and closed the connection.
		return n, errBodyClosed
	}
	if b.remain > 0 {
		b.remain -= int64(n)
	}
	switch {
	case err == io.EOF:
		b.releaseLocked(b.reuse, io.EOF)
	case err != nil:
		err = ctxErr(b.ctx, err)
		b.releaseLocked(false, err)
	case b.remain == 0:
		// All announced bytes are in: the body is complete even though
		// the underlying reader has not said io.EOF yet.
		err = io.EOF
		b.releaseLocked(b.reuse, io.EOF)
	}
	return n, err
}

// Close releases the connection, if Read has not already. The connection is
// kept if the body was read completely, or if its unread rest (the
// remaining Content-Length bytes, or the last chunk and trailers) is
// already buffered: Close then consumes it without reading the network.
// Otherwise the connection is closed; Close never waits for the network.
// Close is idempotent and always returns nil.
func (b *body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	switch {
	case b.c == nil:
	case b.reading:
		// A Read is blocked on the connection: closing it ends the Read.
		b.releaseLocked(false, errBodyClosed)
	default:
		b.releaseLocked(b.reuse && (b.remain == 0 || b.drainBufferedLocked()), errBodyClosed)
	}
	return nil
}

// drainBufferedLocked consumes the rest of the body if it is all in the read
// buffer, and reports whether it was. It never reads from the network, so
// its work is bounded by the buffer's size.
func (b *body) drainBufferedLocked() bool {
	c := b.c
	n := c.br.Buffered()
	if n == 0 || b.remain > int64(n) {
		return false
	}
	c.noBlock = true
	_, err := io.Copy(io.Discard, b.rc)
	c.noBlock = false
	return err == nil
}

// releaseLocked ends the exchange, keeping the connection if reuse holds,
// and makes later Reads return err.
func (b *body) releaseLocked(reuse bool, err error) {
	c := b.c
	b.c = nil
	b.err = err
	b.t.finish(c, b.stop, reuse)
}

func chunked(te []string) bool {
	return len(te) > 0 && te[0] == "chunked"
}
