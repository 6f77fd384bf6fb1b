// Package h1 is a lean HTTP/1.1 client transport for plain-HTTP upstreams,
// which does all of a request's work on the calling goroutine; everything
// else goes to the net/http fallback.
//
// net/http's Transport hands every request to a connection's read and write
// goroutines through channels and matches waiting requests with connections
// through a queue of its own. That machinery is what HTTPS, HTTP/2, proxies
// and 100-continue need, but for a plain HTTP/1.1 upstream it costs more CPU
// than the exchange itself. A Transport of this package writes the request
// and reads the response head on the goroutine that calls RoundTrip, and the
// response body on the goroutine that reads it. It starts no goroutine of its
// own on that path.
//
// # Which requests h1 serves
//
// RoundTrip serves a request itself only when all of these hold, and passes
// any other request unchanged to the fallback's RoundTrip:
//
//   - the URL's scheme is "http" and its host is not empty and is ASCII;
//   - the fallback's Proxy is nil or returns a nil URL for the request (the
//     answer is cached per host:port; an error is not cached, and the
//     request then goes to the fallback, which reports it);
//   - the fallback's DisableKeepAlives is false;
//   - the method is a valid token other than CONNECT, and every header name
//     is a valid token (the fallback reports invalid ones);
//   - there is no "Upgrade" and no "Expect" header;
//   - the body is nil or http.NoBody, or GetBody is set, or ContentLength is
//     positive (a body of unknown length that cannot be replayed goes to the
//     fallback);
//   - the deprecated Cancel channel is nil and the context carries no
//     httptrace.ClientTrace.
//
// The request is written with http.Request.Write, which writes the Host and
// User-Agent headers and Content-Length or chunked Transfer-Encoding itself.
// Unlike net/http, h1 does not add "Accept-Encoding: gzip" and does not
// decompress answers: the body arrives as the upstream sent it.
//
// # Connections
//
// Connections are pooled per host:port (a missing port is 80) and idle ones
// are reused last-in, first-out. A connection goes back to the pool only if
// the request was written completely, the response body was read to its end
// (a Content-Length body whose bytes were all read counts, even if io.EOF was
// not seen), neither the request nor the response asked to close the
// connection (Connection: close, or HTTP/1.0 without keep-alive), the server
// sent nothing more after the response, and the request's context did not end
// during the exchange. Any other connection is closed.
//
// With the fallback's MaxConnsPerHost set, at most that many connections
// (idle, in use and being dialled) are open per host:port. A request that
// finds none free waits, in first-come first-served order, until one is put
// back (it is handed over directly) or closed (the waiter then dials); its
// context ends the wait.
//
// # Stale connections
//
// Servers close idle keep-alive connections on their own schedule (uvicorn
// and Node after 5 s, gunicorn after 2 s). h1 has no background reader to
// notice that, so it uses two rules:
//
//   - An idle connection is never reused once it has been idle for longer
//     than the fallback's IdleConnTimeout or 1 s, whichever is shorter (1 s
//     if IdleConnTimeout is zero). Such connections are closed lazily, when a
//     request or a returning connection finds them in the pool, and by
//     CloseIdleConnections; no goroutine or timer watches the pool.
//   - When a reused connection fails before any byte of the response has
//     arrived (io.EOF, io.ErrUnexpectedEOF, ECONNRESET or EPIPE) and the body
//     can be replayed (it is nil or http.NoBody, or GetBody is set), the
//     request is sent once more on a freshly dialled connection. There is no
//     retry after a failure on a fresh connection, after a response byte has
//     arrived, or once the context has ended.
//
// Together these give what net/http gives through its background reader,
// which notices a connection the server closed before it is reused.
//
// # Cancellation
//
// The request's context bounds every step: waiting for a connection,
// dialling, writing the request, waiting for the response head and reading
// the body. When it ends, the blocked call returns promptly with an error
// that satisfies errors.Is(err, ctx.Err()), and the connection is closed.
package h1
