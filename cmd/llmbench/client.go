package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The load generator speaks HTTP/1.1 over its own keep-alive connections:
// each request is written as prepared bytes and its answer parsed with
// http.ReadResponse. It costs the machine less than http.Client (no
// goroutines and channel hand-offs per connection), which matters when the
// load generator shares the CPUs with the processes it measures.

// requestTimeout bounds one request of the load generator.
const requestTimeout = 2 * time.Minute

// rawRequest returns the bytes of a POST of body to rawURL with the
// client key.
func rawRequest(rawURL string, body []byte) ([]byte, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", err
	}
	var b bytes.Buffer
	b.WriteString("POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUser-Agent: llmbench\r\nContent-Type: application/json\r\nAuthorization: Bearer " + clientKey +
		"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	b.Write(body)
	return b.Bytes(), u.Host, nil
}

// conn is one keep-alive connection of the load generator. It is used by
// one goroutine at a time.
type conn struct {
	nc   net.Conn
	br   *bufio.Reader
	sbr  *bufio.Reader // reads a streamed body by lines
	stop func() bool   // stops the close on the context's end
}

// dial opens a connection to addr, over TLS with tlsConf if it is not nil,
// that closes when ctx ends.
func dial(ctx context.Context, addr string, tlsConf *tls.Config) (*conn, error) {
	var nc net.Conn
	var err error
	if tlsConf != nil {
		nc, err = (&tls.Dialer{Config: tlsConf}).DialContext(ctx, "tcp", addr)
	} else {
		nc, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	c := &conn{nc: nc, br: bufio.NewReaderSize(nc, 8192), sbr: bufio.NewReaderSize(nil, 4096)}
	c.stop = context.AfterFunc(ctx, func() { _ = nc.Close() })
	return c, nil
}

func (c *conn) close() {
	c.stop()
	_ = c.nc.Close()
}

// contentMarker starts the delta of a chunk that carries content (the
// upstream's role chunk has "role" first).
var contentMarker = []byte(`"delta":{"content":"`)

// textDeltaMarker marks the content events of an Anthropic stream, and
// messageStopMarker its end.
var (
	textDeltaMarker   = []byte(`"type":"text_delta"`)
	messageStopMarker = []byte(`data: {"type":"message_stop"`)
)

// stampMarker precedes a chunk's write time in the upstream's chunks.
var stampMarker = []byte(`"system_fingerprint":"fp_`)

// outcome is one request's result.
type outcome struct {
	status     int
	sent       time.Time     // when the request was written
	latency    time.Duration // from the start of do to the end of the answer
	ttft       time.Duration // streams: to the first content chunk
	retryAfter string
	overloaded bool // the answer is the "overloaded" error envelope
	keep       bool // the connection can serve another request
	err        error
}

// do sends req on c and reads the whole answer. For streams (stream true)
// it records the time to the first content chunk, calls onChunk (if not
// nil) with the upstream's write time of each content chunk and requires
// the stream to end with "data: [DONE]". The role chunk is left out of
// onChunk: llmproxy holds it back until the first content chunk (its
// commit point), which TTFT shows.
func (c *conn) do(req []byte, stream bool, onChunk func(sentNs int64, now time.Time)) (o outcome) {
	start := time.Now()
	defer func() { o.latency = time.Since(start) }()
	_ = c.nc.SetDeadline(start.Add(requestTimeout))
	if _, err := c.nc.Write(req); err != nil {
		return outcome{err: err}
	}
	o.sent = time.Now()
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		o.err = err
		return o
	}
	defer resp.Body.Close()
	o.status = resp.StatusCode
	o.retryAfter = resp.Header.Get("Retry-After")
	o.keep = !resp.Close
	if resp.StatusCode != http.StatusOK || !stream {
		if resp.StatusCode == http.StatusServiceUnavailable {
			b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			o.overloaded = bytes.Contains(b, []byte(`"code":"overloaded"`))
			o.err = err
		} else {
			_, o.err = io.Copy(io.Discard, resp.Body)
		}
		o.keep = o.keep && o.err == nil
		return o
	}
	c.sbr.Reset(resp.Body)
	done := false
	for {
		line, err := c.sbr.ReadSlice('\n')
		if len(line) > 0 && bytes.HasPrefix(line, []byte("data: ")) {
			now := time.Now()
			content := bytes.Contains(line, contentMarker) || bytes.Contains(line, textDeltaMarker)
			if o.ttft == 0 && content {
				o.ttft = now.Sub(start)
			}
			if bytes.HasPrefix(line, []byte("data: [DONE]")) || bytes.HasPrefix(line, messageStopMarker) {
				done = true
			} else if onChunk != nil && content {
				if ns, ok := chunkStamp(line); ok {
					onChunk(ns, now)
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			o.err = err
			break
		}
	}
	c.sbr.Reset(nil)
	if o.err == nil && !done {
		o.err = errors.New("stream ended without data: [DONE] (or message_stop)")
	}
	o.keep = o.keep && o.err == nil
	return o
}

// chunkStamp returns the upstream's write time carried by a chunk line.
func chunkStamp(line []byte) (int64, bool) {
	i := bytes.Index(line, stampMarker)
	if i < 0 {
		return 0, false
	}
	rest := line[i+len(stampMarker):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0, false
	}
	ns, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	return ns, err == nil
}

// worker is a load generator's client with at most one connection, which
// it re-opens when the server closes it.
type worker struct {
	ctx  context.Context
	addr string
	tls  *tls.Config // nil: plain TCP
	c    *conn
}

// send sends req, dialling first if needed.
func (w *worker) send(req []byte, stream bool, onChunk func(int64, time.Time)) outcome {
	if w.c == nil {
		c, err := dial(w.ctx, w.addr, w.tls)
		if err != nil {
			return outcome{err: err}
		}
		w.c = c
	}
	o := w.c.do(req, stream, onChunk)
	if !o.keep {
		w.close()
	}
	return o
}

// idleProbe is how long dropIfClosed waits to learn that an idle
// connection is still open: a closed one reports its end at once.
const idleProbe = time.Millisecond

// dropIfClosed closes the worker's connection if the server has closed it
// (after its keep-alive idle timeout, say) or sent something unasked while
// it was idle, so that the next request dials afresh instead of failing on
// the dead connection. It waits idleProbe on a live connection.
func (w *worker) dropIfClosed() {
	if w.c == nil {
		return
	}
	_ = w.c.nc.SetReadDeadline(time.Now().Add(idleProbe))
	_, err := w.c.br.Peek(1)
	_ = w.c.nc.SetReadDeadline(time.Time{})
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		w.close()
	}
}

func (w *worker) close() {
	if w.c != nil {
		w.c.close()
		w.c = nil
	}
}

// pool is a fixed set of connection slots shared by the requests of an
// open loop; a request waits for a free slot.
type pool struct {
	slots chan *worker
	all   []*worker
}

func newPool(ctx context.Context, addr string, tlsConf *tls.Config, n int) *pool {
	p := &pool{slots: make(chan *worker, n)}
	for range n {
		w := &worker{ctx: ctx, addr: addr, tls: tlsConf}
		p.all = append(p.all, w)
		p.slots <- w
	}
	return p
}

// get waits for a free slot, or returns nil when ctx ends.
func (p *pool) get(ctx context.Context) *worker {
	select {
	case w := <-p.slots:
		return w
	case <-ctx.Done():
		return nil
	}
}

func (p *pool) put(w *worker) { p.slots <- w }

// closeAll closes every connection; call it once the requests are done.
func (p *pool) closeAll() {
	for _, w := range p.all {
		w.close()
	}
}
