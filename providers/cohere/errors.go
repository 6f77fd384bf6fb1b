package cohere

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/jsonx"
)

// Cohere's own statuses beyond the usual ones.
const (
	// statusBlockedToken is Cohere's 498, which its spec describes as "a
	// request or response contains a deny-listed token".
	statusBlockedToken = 498
	// statusCancelled is Cohere's 499, "the request was cancelled".
	statusCancelled = 499
)

// maxMessageBytes caps an upstream error message kept in an *Error.
const maxMessageBytes = 4096

// wireError is Cohere's error body, {"id","message"}. Both members are
// optional; message may in practice be any JSON value.
type wireError struct {
	ID      string          `json:"id"`
	Message json.RawMessage `json:"message"`
	// Error is not Cohere's, but a gateway in front of it may answer
	// OpenAI's {"error":{"message"}} or {"error":"..."}.
	Error json.RawMessage `json:"error"`
}

// statusError turns a non-2xx answer into an *llmproxy.Error: the kind from
// the status (with Cohere's 498 and 499 and its trial-key quota told apart),
// Cohere's message, its request id in the cause, and the wait a 429 asked
// for. The provider's key never appears in it.
func (p *Provider) statusError(status int, h http.Header, body []byte) *llmproxy.Error {
	e := &llmproxy.Error{
		Kind:     llmproxy.KindFromStatus(status),
		Status:   status,
		Provider: p.up.Name,
	}
	if h != nil {
		e.RetryAfter = llmproxy.ParseRetryAfter(h, time.Now())
	}
	id := fillFromBody(e, body)
	switch {
	case status == statusBlockedToken:
		// A refusal of the content, not of the key: answer the client 400.
		e.Kind, e.Status = llmproxy.KindInvalidRequest, http.StatusBadRequest
		e.Code = "blocked_token"
	case status == statusCancelled:
		// The proxy reads no answer to a request it cancelled itself, so
		// a 499 it reads is the upstream giving up: retry or fail over,
		// and never pass 499 ("client closed request") on to the client.
		e.Kind, e.Status = llmproxy.KindUnavailable, http.StatusBadGateway
	case status == http.StatusTooManyRequests && monthlyLimit(e.Message):
		e.Kind = llmproxy.KindQuotaExceeded
	}
	e.Message = truncate(p.redact(e.Message), maxMessageBytes)
	if id != "" {
		e.Err = fmt.Errorf("cohere request id %s (status %d)", truncate(p.redact(id), 256), status)
	} else {
		e.Err = fmt.Errorf("cohere status %d", status)
	}
	return e
}

// monthlyLimit reports whether a 429 message says that a trial key's
// monthly allowance is used up ("You are using a Trial key, which is
// limited to 1000 API calls / month"), which waiting minutes does not cure.
func monthlyLimit(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "/ month") || strings.Contains(m, "per month") || strings.Contains(m, "/month")
}

// fillFromBody sets e.Message from an error body and returns Cohere's
// request id, if any. A body that is not JSON gives a message naming the
// status only: an HTML error page is never passed on.
func fillFromBody(e *llmproxy.Error, body []byte) (id string) {
	t := bytes.TrimSpace(body)
	var w wireError
	switch {
	case len(t) == 0:
		e.Message = fmt.Sprintf("upstream answered %d with an empty body", e.Status)
		return ""
	case t[0] != '{' || json.Unmarshal(t, &w) != nil:
		e.Message = fmt.Sprintf("upstream answered %d with a non-JSON body", e.Status)
		return ""
	}
	e.Message = messageText(w.Message)
	if e.Message == "" && len(w.Error) > 0 {
		var inner struct {
			Message json.RawMessage `json:"message"`
		}
		if firstByte(w.Error) == '{' && json.Unmarshal(w.Error, &inner) == nil {
			e.Message = messageText(inner.Message)
		} else {
			e.Message = messageText(w.Error)
		}
	}
	if e.Message == "" {
		e.Message = fmt.Sprintf("upstream answered %d %s", e.Status, statusText(e.Status))
	}
	return w.ID
}

// statusText is http.StatusText that also knows Cohere's own statuses.
func statusText(status int) string {
	switch status {
	case statusBlockedToken:
		return "Invalid Token"
	case statusCancelled:
		return "Request Cancelled"
	}
	return http.StatusText(status)
}

// redact replaces the provider's key wherever an upstream echoed it, also
// where it wrote the key JSON-escaped (see jsonx.Redact).
func (p *Provider) redact(s string) string { return jsonx.Redact(s, p.key) }

// messageText returns a message member as text: a string as it is, a list
// of strings joined, anything else as compact JSON.
func messageText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, "; ")
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return ""
	}
	return b.String()
}

func firstByte(raw []byte) byte { return jsonx.FirstByte(raw) }

func truncate(s string, n int) string { return jsonx.Truncate(s, n) }

// invalidParam is a translator's refusal of a request member.
func invalidParam(param, format string, args ...any) *llmproxy.Error {
	return &llmproxy.Error{Kind: llmproxy.KindInvalidRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}
