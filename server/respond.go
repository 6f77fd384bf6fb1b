package server

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/jsonx"
)

// writeError answers err in the route's envelope (OpenAI's unless the
// route set another: see errorFormat) with its status. For
// errors a client should not retry it sets "x-should-retry: false", which
// the official SDKs honour; for rate limits it sets Retry-After. When a
// provider was involved it names it and the attempts made, as a
// successful answer does (X-LLMProxy-Provider, X-LLMProxy-Attempt); the
// X-Request-ID header is observe's, set before any handler runs.
func writeError(w http.ResponseWriter, err error) {
	e := llmproxy.AsError(err)
	if ew, ok := w.(errorWriter); ok {
		ew.setError(e)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.Provider != "" {
		h.Set(headerProvider, e.Provider)
	}
	if e.Attempts > 0 {
		h.Set(headerAttempt, strconv.Itoa(e.Attempts))
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	f := formatOf(w)
	status := e.HTTPStatus()
	if f.status != nil {
		status = f.status(e)
	}
	if !clientMayRetry(e) {
		h.Set("X-Should-Retry", "false")
	}
	w.WriteHeader(status)
	_, _ = w.Write(f.body(e))
}

// clientMayRetry reports whether retrying the same request later can help:
// not for the client's own mistakes, nor for a request on which the proxy
// already spent its retries and failovers (Error.NoRetry).
func clientMayRetry(e *llmproxy.Error) bool {
	if e.NoRetry {
		return false
	}
	switch e.Kind {
	case llmproxy.KindRateLimited, llmproxy.KindRateLimitedClient, llmproxy.KindUnavailable,
		llmproxy.KindTimeout, llmproxy.KindInternal:
		return true
	}
	return false
}

// setProxyHeaders sets the headers that name the provider that answered
// and the model it was sent.
func setProxyHeaders(h http.Header, pi *llmproxy.ProxyInfo) {
	h.Set(headerProvider, pi.Provider)
	h.Set(headerAttempt, strconv.Itoa(pi.AttemptNumber))
	if pi.Model != "" {
		h.Set(headerModel, pi.Model)
	}
}

// writeAnswer writes a successful JSON answer. When the provider kept the
// upstream's exact bytes (raw), they are written as they are with
// _proxy_info spliced in, so that every member the upstream sent reaches the
// client without a decode/encode round trip; otherwise v is encoded, or,
// when v is nil, raw as a json.RawMessage (an answer that is not a JSON
// object).
func writeAnswer(w http.ResponseWriter, raw []byte, v any, pi *llmproxy.ProxyInfo) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if pi != nil {
		setProxyHeaders(h, pi)
	}
	if raw != nil {
		if head, tail, ok := splitForProxyInfo(raw, pi); ok {
			// Two writes into the response's buffer rather than a
			// spliced copy of the answer.
			h.Set("Content-Length", strconv.Itoa(len(head)+len(tail)))
			_, _ = w.Write(head)
			_, _ = w.Write(tail)
			return
		}
	}
	if v == nil && raw != nil {
		v = json.RawMessage(raw)
	}
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, &llmproxy.Error{Kind: llmproxy.KindInternal, Message: "could not encode the answer", Err: err})
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// spliceProxyInfo returns the JSON object raw with a "_proxy_info" member
// appended before its closing brace, or nil when raw is not a JSON object.
// It neither decodes nor re-encodes raw, and splices in place: the result
// reuses raw's memory, overwriting raw, when its capacity allows (a
// stream's held chunk, which the stream owns: BenchmarkServerStream).
func spliceProxyInfo(raw []byte, pi *llmproxy.ProxyInfo) []byte {
	open, more, ok := jsonx.OpenObject(raw)
	if !ok {
		return nil
	}
	if pi == nil {
		return open[:len(open)+1] // the whole object
	}
	if !encodable(pi) {
		return nil // checked before raw is overwritten
	}
	spliced, _ := closeWithProxyInfo(open, more, pi)
	return spliced
}

// splitForProxyInfo cuts the JSON object raw, without the white space
// around it, into head, which is raw up to its closing brace (the whole
// object when pi is nil), and tail, the "_proxy_info" member and the
// closing brace; head followed by tail is the spliced object. ok is false
// when raw is not a JSON object.
func splitForProxyInfo(raw []byte, pi *llmproxy.ProxyInfo) (head, tail []byte, ok bool) {
	open, more, ok := jsonx.OpenObject(raw)
	if !ok {
		return nil, nil, false
	}
	if pi == nil {
		return open[:len(open)+1], nil, true // the whole object
	}
	tail = make([]byte, 0, proxyInfoRoom(pi)) // one allocation
	tail, err := closeWithProxyInfo(tail, more, pi)
	if err != nil {
		return nil, nil, false // a NaN response time, which a duration never is
	}
	return open, tail, true
}

// closeWithProxyInfo appends to b, which follows an object's last member
// (more) or its opening brace, the "_proxy_info" member and the closing
// brace.
func closeWithProxyInfo(b []byte, more bool, pi *llmproxy.ProxyInfo) ([]byte, error) {
	if more {
		b = append(b, ',')
	}
	b = append(b, `"_proxy_info":`...)
	b, err := appendProxyInfo(b, pi)
	return append(b, '}'), err
}

// proxyInfoRoom is the room that closeWithProxyInfo takes at most for pi
// when pi's numbers are written in decimal notation (appendProxyInfo): the
// member's names and punctuation, its strings, an int and two floats at
// their longest.
func proxyInfoRoom(pi *llmproxy.ProxyInfo) int {
	const names = len(`,"_proxy_info":{"provider":"","model":"","attempt_number":,"response_time":,"request_id":"","cost_usd":}}`)
	const maxInt, maxFloat = 20, 32
	return names + maxInt + 2*maxFloat + len(pi.Provider) + len(pi.Model) + len(pi.RequestID)
}
