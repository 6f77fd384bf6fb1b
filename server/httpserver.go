package server

import (
	"net/http"
	"time"
)

// Timeouts of the http.Server made by NewHTTPServer.
const (
	// ReadHeaderTimeout bounds the wait for a request's headers, so that a
	// client sending them slowly cannot hold a connection forever.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout = 60 * time.Second
	// IdleTimeout closes keep-alive connections idle for that long.
	IdleTimeout = 120 * time.Second
	// MaxHeaderBytes bounds the size of a request's headers.
	MaxHeaderBytes = 1 << 20
)

// NewHTTPServer returns an http.Server for h with the timeouts above and
// HTTP/1.1, HTTP/2 over TLS and cleartext HTTP/2 (h2c, with prior
// knowledge) all enabled. There is no write timeout: a long generation may
// stream for minutes; the proxy's request_timeout bounds it instead.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		Protocols:         &protocols,
	}
}
