package openai

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// The tests in this file put a real Provider in front of a raw TCP
// upstream that writes exact bytes, to pin down how the client built by
// llmproxy.NewHTTPClient behaves on the wire where HTTP/1.1 servers
// misbehave. Each one failed against a hand-written HTTP/1.1 client that
// the proxy once used for plain-HTTP upstreams. net/http logs the stray
// bytes of two of them ("Unsolicited response received on idle HTTP
// channel").

// wireTestTimeout bounds each wire test. It is generous: a client that
// blocks where it should not fails the test when it expires, and no test
// asserts how long anything took.
const wireTestTimeout = 30 * time.Second

// rawRequest is one request read by a rawUpstream, its body unread.
type rawRequest struct {
	n    int          // 1 for the first request read, counted over all connections
	conn int          // 1 for the first connection accepted
	c    *net.TCPConn // the connection the request came on
	*http.Request

	// closing is closed when the test ends; a script that waits for the
	// test gives up then.
	closing <-chan struct{}
}

// rawUpstream is an HTTP/1.1 upstream on a TCP listener on 127.0.0.1 whose
// answers are the exact bytes its script writes. It reads the requests
// of each connection in turn and hands each one to the script, which
// writes what the scenario needs and says whether to read the next
// request of that connection. It records the requests it read and the
// connections whose client closed them between two requests.
type rawUpstream struct {
	ln     net.Listener
	script func(r rawRequest) (more bool)

	closing chan struct{}

	mu    sync.Mutex
	reqs  int
	conns []net.Conn

	// dropped receives the number of each connection the client closed
	// while the upstream waited for its next request.
	dropped chan int
	wg      sync.WaitGroup
}

// newRawUpstream starts a raw upstream running script; it is closed, and
// every connection with it, when the test ends.
func newRawUpstream(t *testing.T, script func(r rawRequest) (more bool)) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	u := &rawUpstream{ln: ln, script: script, closing: make(chan struct{}), dropped: make(chan int, 16)}
	u.wg.Add(1)
	go u.accept()
	t.Cleanup(func() {
		close(u.closing)
		_ = ln.Close()
		u.mu.Lock()
		for _, c := range u.conns {
			_ = c.Close()
		}
		u.mu.Unlock()
		u.wg.Wait()
	})
	return u
}

// url is the upstream's base URL, /v1 included.
func (u *rawUpstream) url() string { return "http://" + u.ln.Addr().String() + "/v1" }

// count returns the number of requests read so far.
func (u *rawUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.reqs
}

func (u *rawUpstream) accept() {
	defer u.wg.Done()
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.mu.Lock()
		u.conns = append(u.conns, c)
		n := len(u.conns)
		u.mu.Unlock()
		u.wg.Add(1)
		go u.serve(c.(*net.TCPConn), n)
	}
}

// serve reads the requests of connection number n until the script says
// to stop or the connection ends.
func (u *rawUpstream) serve(c *net.TCPConn, n int) {
	defer u.wg.Done()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			if err == io.EOF {
				select {
				case u.dropped <- n:
				case <-u.closing:
				}
			}
			return
		}
		u.mu.Lock()
		u.reqs++
		r := rawRequest{n: u.reqs, conn: n, c: c, Request: req, closing: u.closing}
		u.mu.Unlock()
		if !u.script(r) {
			return
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
	}
}

// waitDropped waits until the client closed connection conn.
func (u *rawUpstream) waitDropped(ctx context.Context, t *testing.T, conn int) {
	t.Helper()
	for {
		select {
		case n := <-u.dropped:
			if n == conn {
				return
			}
		case <-ctx.Done():
			t.Fatalf("the client never closed connection %d: %v", conn, ctx.Err())
		}
	}
}

// readBody reads the request's whole body, as an upstream does before it
// starts to work on the request.
func readBody(t *testing.T, r rawRequest) {
	_, err := io.Copy(io.Discard, r.Body)
	assert.NoError(t, err)
}

// await waits until ch is closed and reports whether it was, rather than
// the test ending.
func (r rawRequest) await(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-r.closing:
		return false
	}
}

// wireAnswer is a chat completion whose id tells the answers apart.
func wireAnswer(id string) string {
	return `{"id":"` + id + `","object":"chat.completion","created":1741570283,"model":"gpt-4o-mini",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Hi."},"finish_reason":"stop"}]}`
}

// wireResponse is an HTTP/1.1 response with a Content-Length body.
func wireResponse(status int, body string) string {
	return fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
}

// write writes s on the request's connection in one write.
func write(t *testing.T, r rawRequest, s string) {
	_, err := io.WriteString(r.c, s)
	assert.NoError(t, err)
}

// wireContext is the context of one wire test.
func wireContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wireTestTimeout)
	t.Cleanup(cancel)
	return ctx
}

// chatID sends a chat completion through p and returns the answer's id.
func chatID(ctx context.Context, t *testing.T, p interface {
	ChatCompletion(context.Context, *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error)
}) string {
	t.Helper()
	resp, err := p.ChatCompletion(ctx, chatRequest(t, clientChat))
	require.NoError(t, err)
	return resp.ID
}

// dropSecond is the script of an upstream that answers the first request
// and reads the whole second one, then closes its connection without an
// answer: with a FIN, or with an RST when rst is set. Later requests, on
// any connection, are answered.
func dropSecond(t *testing.T, rst bool) func(r rawRequest) bool {
	return func(r rawRequest) bool {
		readBody(t, r)
		if r.n != 2 {
			write(t, r, wireResponse(http.StatusOK, wireAnswer(fmt.Sprintf("answer-%d", r.n))))
			return true
		}
		assert.Equal(t, 1, r.conn, "the second request must come on the kept-alive connection")
		if rst {
			assert.NoError(t, r.c.SetLinger(0))
		}
		assert.NoError(t, r.c.Close())
		return false
	}
}

// TestDroppedPostIsSentOnce: an upstream that read a POST and then closed
// the kept-alive connection without answering may have acted on it (a
// generation billed, a worker killed mid-way), so the client must not send
// it again on its own: the call fails and the upstream sees one copy.
func TestDroppedPostIsSentOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		rst  bool
	}{{"FIN", false}, {"RST", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := wireContext(t)
			u := newRawUpstream(t, dropSecond(t, tc.rst))
			p := newTestProvider(t, "openai", u.url())

			assert.Equal(t, "answer-1", chatID(ctx, t, p))
			_, err := p.ChatCompletion(ctx, chatRequest(t, clientChat))
			assert.Equal(t, 2, u.count(), "2 calls must reach the upstream as 2 requests")
			e := asError(t, err)
			assert.Equal(t, llmproxy.KindUnavailable, e.Kind, "%v", err)
		})
	}
}

// TestDroppedPostIsSentOnceThroughRouter is TestDroppedPostIsSentOnce
// through a Proxy whose provider has no retries: the router decides on
// every attempt, and it decided on one.
func TestDroppedPostIsSentOnceThroughRouter(t *testing.T) {
	ctx := wireContext(t)
	u := newRawUpstream(t, dropSecond(t, false))
	proxy, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{{
		Name: "raw", Type: "openai", BaseURL: u.url(), APIKey: testKey,
		Models: []string{"gpt-4o-mini"}, MaxRetries: 0,
	}}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = proxy.Close() })

	assert.Equal(t, "answer-1", chatID(ctx, t, proxy))
	_, err = proxy.ChatCompletion(ctx, chatRequest(t, clientChat))
	assert.Equal(t, 2, u.count(), "with max_retries 0 the upstream must see the dropped request once")
	assert.Error(t, err)
}

// strayAfterFirst is the script of an upstream that answers every request
// and, once the test closes idle (the first answer read, its connection
// back among the client's idle ones), writes stray on the first
// connection in a write of its own.
func strayAfterFirst(t *testing.T, idle <-chan struct{}, stray string) func(r rawRequest) bool {
	return func(r rawRequest) bool {
		readBody(t, r)
		write(t, r, wireResponse(http.StatusOK, wireAnswer(fmt.Sprintf("answer-%d", r.n))))
		if r.n == 1 {
			if !r.await(idle) {
				return false
			}
			write(t, r, stray)
		}
		return true
	}
}

// TestUnsolicitedResponseReachesNoRequest: bytes an upstream writes on an
// idle kept-alive connection (here a second, unrequested answer) must
// never be read as the answer to a later request. net/http drops such a
// connection; the test waits for that before it sends the next request,
// since no client could tell stray bytes from the answer to a request
// sent in the same instant as they arrive. A client that keeps the
// connection fails the test at that wait.
func TestUnsolicitedResponseReachesNoRequest(t *testing.T) {
	ctx := wireContext(t)
	idle := make(chan struct{})
	u := newRawUpstream(t, strayAfterFirst(t, idle, wireResponse(http.StatusOK, wireAnswer("unsolicited"))))
	p := newTestProvider(t, "openai", u.url())

	assert.Equal(t, "answer-1", chatID(ctx, t, p))
	close(idle)
	u.waitDropped(ctx, t, 1)
	assert.Equal(t, "answer-2", chatID(ctx, t, p))
	assert.Equal(t, 2, u.count())
}

// TestStrayCRLFAfterBody: a "\r\n" written after a Content-Length body,
// in a write of its own (a common framework bug), does not make the next
// request fail. As with an unsolicited answer, net/http drops the
// connection the stray bytes came on, and the test waits for that.
func TestStrayCRLFAfterBody(t *testing.T) {
	ctx := wireContext(t)
	idle := make(chan struct{})
	u := newRawUpstream(t, strayAfterFirst(t, idle, "\r\n"))
	p := newTestProvider(t, "openai", u.url())

	assert.Equal(t, "answer-1", chatID(ctx, t, p))
	close(idle)
	u.waitDropped(ctx, t, 1)
	assert.Equal(t, "answer-2", chatID(ctx, t, p))
}

// TestEarly413WhileUploading: an upstream that answers 413 after reading
// only the headers of a large request, and neither reads the body nor
// closes the connection, gets its answer to the caller while the body is
// still being sent. A client that first finishes the upload blocks until
// the test's deadline and fails it. The body goes through the provider's
// call, the path of every endpoint, without ParseChatRequest, which would
// take long on 64 MiB under the race detector.
func TestEarly413WhileUploading(t *testing.T) {
	u := newRawUpstream(t, func(r rawRequest) bool {
		// A small receive buffer, so that the unread body fills it at once.
		assert.NoError(t, r.c.SetReadBuffer(4096))
		write(t, r, wireResponse(http.StatusRequestEntityTooLarge,
			`{"error":{"message":"Request too large.","type":"invalid_request_error","param":null,"code":null}}`))
		return false // the connection stays open until the test ends
	})
	p := asProvider(t, newTestProvider(t, "openai", u.url()))

	// Far more than the kernel buffers on both sides of a loopback
	// connection hold while nobody reads.
	big := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` +
		strings.Repeat("a", 64<<20) + `"}]}`)
	_, err := p.call(wireContext(t), http.MethodPost, p.flavor.chatPath, big)
	e := asError(t, err)
	assert.Equal(t, http.StatusRequestEntityTooLarge, e.Status, "%v", err)
	assert.Equal(t, 1, u.count())
}

// asProvider returns the *Provider that p, returned by New, wraps.
func asProvider(t *testing.T, p llmproxy.Provider) *Provider {
	t.Helper()
	switch v := p.(type) {
	case *Provider:
		return v
	case listingProvider:
		return v.Provider
	case embeddingProvider:
		return v.Provider
	}
	t.Fatalf("New returned a %T", p)
	return nil
}

// TestCustomHeaderInjectionRejected: a configured header value with CR,
// LF or NUL is refused by the client before any byte is sent, and a Host
// with them is left out, so no header or request can be smuggled to the
// upstream.
func TestCustomHeaderInjectionRejected(t *testing.T) {
	var (
		mu    sync.Mutex
		hosts []string
	)
	u := newRawUpstream(t, func(r rawRequest) bool {
		assert.Empty(t, r.Header.Values("X-Injected"), "a header was smuggled in")
		mu.Lock()
		hosts = append(hosts, r.Host)
		mu.Unlock()
		readBody(t, r)
		write(t, r, wireResponse(http.StatusOK, wireAnswer("answer")))
		return true
	})
	send := func(t *testing.T, headers map[string]string) (string, error) {
		p := newTestProvider(t, "openai", u.url(), func(c *llmproxy.ProviderConfig) {
			c.CustomHeaders = headers
		})
		resp, err := p.ChatCompletion(wireContext(t), chatRequest(t, clientChat))
		if err != nil {
			return "", err
		}
		return resp.ID, nil
	}
	for name, value := range map[string]string{
		"CRLF": "a\r\nX-Injected: 1",
		"LF":   "a\nX-Injected: 1",
		"CR":   "a\rX-Injected: 1",
		"NUL":  "a\x00b",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := send(t, map[string]string{"X-Custom": value})
			assert.Error(t, err)
		})
	}
	assert.Zero(t, u.count(), "no request with a bad header value may reach the upstream")

	t.Run("Host", func(t *testing.T) {
		id, err := send(t, map[string]string{"Host": "example.com\r\nX-Injected: 1"})
		require.NoError(t, err)
		assert.Equal(t, "answer", id)
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, []string{""}, hosts, "an invalid Host is sent empty")
	})

	// A clean value, a tab included, goes through.
	id, err := send(t, map[string]string{"X-Custom": "a\tb"})
	require.NoError(t, err)
	assert.Equal(t, "answer", id)
}
