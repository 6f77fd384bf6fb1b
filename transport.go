package llmproxy

import (
	"net"
	"net/http"
	"time"
)

// Timeouts of the connection set-up done by NewTransport. Waiting for an
// answer is bounded by the attempt's context, not by the transport.
const (
	transportDialTimeout         = 10 * time.Second
	transportKeepAlive           = 30 * time.Second
	transportTLSHandshakeTimeout = 10 * time.Second
	transportExpectContinue      = time.Second
)

// NewTransport returns the pooled HTTP transport a provider should use to
// reach its upstream, sized from cfg: at most cfg.MaxConnections
// connections to the upstream host, as many of them kept idle, each idle one
// closed after cfg.KeepaliveTimeout (zero values take DefaultMaxConnections
// and DefaultKeepaliveTimeout). It dials with a 10 s timeout, allows 10 s
// for the TLS handshake, attempts HTTP/2 and honours the HTTP(S)_PROXY
// environment variables. It sets no ResponseHeaderTimeout: the router's
// per-attempt context bounds the wait for an answer, so long generations
// are not cut short.
//
// Build one transport per provider and close its idle connections when the
// provider is closed. The transport is safe for concurrent use.
func NewTransport(cfg ProviderConfig) *http.Transport {
	conns := cfg.MaxConnections
	if conns <= 0 {
		conns = DefaultMaxConnections
	}
	idle := cfg.KeepaliveTimeout
	if idle <= 0 {
		idle = DefaultKeepaliveTimeout
	}
	dialer := &net.Dialer{Timeout: transportDialTimeout, KeepAlive: transportKeepAlive}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		MaxConnsPerHost:       conns,
		IdleConnTimeout:       idle,
		TLSHandshakeTimeout:   transportTLSHandshakeTimeout,
		ExpectContinueTimeout: transportExpectContinue,
	}
}
