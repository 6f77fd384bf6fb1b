package h1

import (
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
)

// maxRoutes bounds the cache of proxy decisions; past it, decisions are made
// afresh for each request to a host not yet cached.
const maxRoutes = 1024

// route reports whether h1 serves req (see the package documentation) and,
// if so, the host:port to dial.
func (t *Transport) route(req *http.Request) (string, bool) {
	u := req.URL
	if t.disabled || u == nil || u.Scheme != "http" || u.Host == "" ||
		req.Method == http.MethodConnect || (req.Method != "" && !isToken(req.Method)) ||
		req.Cancel != nil || //nolint:staticcheck // honoured by the fallback only
		req.Header.Get("Upgrade") != "" || req.Header.Get("Expect") != "" {
		return "", false
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil && req.ContentLength <= 0 {
		return "", false
	}
	for k := range req.Header {
		if !isToken(k) {
			return "", false
		}
	}
	if httptrace.ContextClientTrace(req.Context()) != nil {
		return "", false
	}
	addr, ok := canonicalAddr(u)
	if !ok {
		return "", false
	}
	if t.proxy != nil && !t.direct(req, addr) {
		return "", false
	}
	return addr, true
}

// direct reports whether the fallback's Proxy sends req to addr without a
// proxy, caching the answer per addr. An error is not cached: the request
// goes to the fallback, which reports it.
func (t *Transport) direct(req *http.Request, addr string) bool {
	t.routeMu.RLock()
	d, ok := t.routes[addr]
	t.routeMu.RUnlock()
	if ok {
		return d
	}
	pu, err := t.proxy(req)
	if err != nil {
		return false
	}
	d = pu == nil
	t.routeMu.Lock()
	if len(t.routes) < maxRoutes {
		t.routes[addr] = d
	}
	t.routeMu.Unlock()
	return d
}

// canonicalAddr returns u's host with port 80 when it has none, and false
// for a non-ASCII host, which net/http would first convert to Punycode.
func canonicalAddr(u *url.URL) (string, bool) {
	for i := 0; i < len(u.Host); i++ {
		if u.Host[i] >= 0x80 {
			return "", false
		}
	}
	if u.Port() != "" {
		return u.Host, true
	}
	return net.JoinHostPort(u.Hostname(), "80"), true
}

// isToken reports whether s is a non-empty RFC 9110 token, as a method or a
// header name must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || !tokenChars[c] {
			return false
		}
	}
	return true
}

var tokenChars = func() (t [0x80]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
