package llmproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Timeouts of the connection set-up done by NewTransport. Waiting for an
// answer is bounded by the attempt's context, not by the transport.
const (
	transportDialTimeout         = 10 * time.Second
	transportKeepAlive           = 30 * time.Second
	transportTLSHandshakeTimeout = 10 * time.Second
	transportExpectContinue      = time.Second
)

// maxSameHostRedirects caps the redirects a client built by NewHTTPClient
// follows for one request.
const maxSameHostRedirects = 5

// maxErrorBodyBytes caps how much of an error answer ReadErrorBody reads.
const maxErrorBodyBytes = 1 << 20

// ErrAnswerTooLarge is returned by ReadAnswer for an answer over its limit.
// TransportError classifies it as a KindUnavailable *Error.
var ErrAnswerTooLarge = errors.New("upstream answer too large")

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

// NewHTTPClient returns the HTTP client a provider should use to reach its
// upstream: it sends every request over a transport built by
// NewTransport(cfg), so a provider's requests share one connection pool.
// It sets no Timeout, so the attempt's context bounds every request. It
// sends a POST once: one the upstream may have read before the connection
// failed is an error for the router to retry or fail over, never sent
// again on its own. It follows a redirect only to the same scheme and host
// as the request first sent, and at most five of them, so that a key is
// never sent somewhere the configuration did not name; a redirect it
// refuses reaches the caller as the 3xx answer itself.
//
// Build one client per provider and call its CloseIdleConnections when the
// provider is closed. The client is safe for concurrent use.
func NewHTTPClient(cfg ProviderConfig) *http.Client {
	return &http.Client{Transport: NewTransport(cfg), CheckRedirect: sameHostRedirects}
}

// sameHostRedirects is the CheckRedirect policy of NewHTTPClient.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	if req.URL.Host != first.Host || req.URL.Scheme != first.Scheme || len(via) > maxSameHostRedirects {
		return http.ErrUseLastResponse
	}
	return nil
}

// ResolveBaseURL returns the base URL a provider sends its requests to:
// cfg.BaseURL, or def when cfg.BaseURL is empty, without trailing slashes.
// It fails unless the result is an absolute http:// or https:// URL with a
// host. It does no I/O and is safe for concurrent use.
func ResolveBaseURL(cfg ProviderConfig, def string) (string, error) {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = def
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("base URL %q must be an absolute http:// or https:// URL", base)
	}
	return base, nil
}

// NewJSONRequest builds a request to url that asks for JSON ("Accept:
// application/json") and, when body is not nil, carries body as JSON
// ("Content-Type: application/json"). The caller adds its own headers, then
// the configured ones with SetCustomHeaders. When ctx carries a span, the
// request carries it as W3C traceparent (and tracestate). It is safe for
// concurrent use.
func NewJSONRequest(ctx context.Context, method, url string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if trace.SpanContextFromContext(ctx).IsValid() {
		// The attempt's span (WithTracerProvider), or the caller's.
		traceContext.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	return req, nil
}

// SetCustomHeaders sets headers (a provider's cfg.CustomHeaders) on req,
// replacing any header of the same name already set; a "Host" entry sets
// req.Host instead. Call it last, so that the configuration may override
// the provider's own headers. It modifies only req, which must not be in
// use elsewhere.
func SetCustomHeaders(req *http.Request, headers map[string]string) {
	for k, v := range headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
}

// ReadAnswer reads the body of resp, typically a 2xx answer, and fails with
// ErrAnswerTooLarge rather than read more than limit bytes: at once when
// the announced Content-Length exceeds limit, else after reading limit+1
// bytes. Any other error is the body's read error. It does not close the
// body. Calls on different answers are safe to run concurrently.
func ReadAnswer(resp *http.Response, limit int64) ([]byte, error) {
	if resp.ContentLength > limit {
		return nil, ErrAnswerTooLarge
	}
	if resp.ContentLength >= 0 {
		// The length is known: one exact allocation, no growing. A body
		// shorter than announced is io.ErrUnexpectedEOF.
		b := make([]byte, resp.ContentLength)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, ErrAnswerTooLarge
	}
	return b, nil
}

// ReadErrorBody reads the body of an error answer, at most its first MiB;
// the rest is dropped, which at worst makes the body unparseable, and a
// read error ends the body early. It does not close the body. Calls on
// different answers are safe to run concurrently.
func ReadErrorBody(resp *http.Response) []byte {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
	return b
}

// DecodeAnswer decodes a successful answer, which must be a JSON object,
// into v. Anything else (an HTML page, an empty body, a stray null) fails;
// a provider should report the failure as a KindUnavailable *Error, so that
// the router retries or fails over. It is safe for concurrent use as long
// as v is not shared.
func DecodeAnswer(body []byte, v any) error {
	t := bytes.TrimLeft(body, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		return errors.New("the answer is not a JSON object")
	}
	return json.Unmarshal(body, v)
}
