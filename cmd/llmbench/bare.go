package main

import (
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// runBare is the "bare" subcommand: the floor of one extra HTTP hop in Go,
// a net/http/httputil.ReverseProxy forwarding every request to -target as
// it is, with no auth, no rate limit, no metrics and no log. Its transport
// keeps as many idle connections as the load needs, as the proxy's does.
// ReverseProxy flushes text/event-stream answers as they come. It prints
// its address on standard output. An https target is reached over HTTP/2
// when the upstream offers it (ALPN), as llmproxy's transport does; the
// harness has the process trust the upstream's certificate through
// SSL_CERT_FILE.
func runBare(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("llmbench bare", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	target := fs.String("target", "", "base URL of the upstream, e.g. http://127.0.0.1:9000")
	exitOnEOF := fs.Bool("exit-on-stdin-eof", false, "exit when standard input ends (set by the harness)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" {
		return errors.New("bare: -target is required")
	}
	u, err := url.Parse(*target)
	if err != nil {
		return err
	}
	return serveChild(*addr, newBareProxy(u), nil, stdout, *exitOnEOF)
}

// newBareProxy returns the bare reverse proxy to target.
//
// It switches the server's full-duplex mode on for each request: without
// it, net/http's HTTP/1 server drains and closes the request body when a
// streamed answer's headers are written, racing the transport, which reads
// that body once more after sending it, and a lost race cuts the stream
// ("ReverseProxy read error during body copy: use of closed network
// connection", golang/go#40747). llmproxy reads the whole body before it
// answers, so it is not exposed to this.
func newBareProxy(target *url.URL) http.Handler {
	rp := newReverseProxy(target)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
	})
}

// newReverseProxy returns a plain httputil.ReverseProxy to target.
func newReverseProxy(target *url.URL) *httputil.ReverseProxy {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: &http.Transport{
			DialContext: dialer.DialContext,
			// A custom DialContext turns HTTP/2 off unless it is asked for.
			ForceAttemptHTTP2:   true,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     90 * time.Second,
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
}
