package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/jsonx"
)

// maxMessageBytes caps an upstream error message kept in an *Error.
const maxMessageBytes = 4096

// maxRetryDelay bounds a retryDelay taken from an error body, so that an
// absurd value cannot overflow a time.Duration.
const maxRetryDelay = 24 * time.Hour

// errorEnvelope is Google's error body, {"error":{...}} (google.rpc.Status
// with the HTTP code).
type errorEnvelope struct {
	Error *apiError `json:"error"`
}

// apiError is the inside of the envelope. Details are typed by their
// "@type" member: ErrorInfo (reason), RetryInfo (retryDelay), QuotaFailure
// (violations), Help, …
type apiError struct {
	Code    int             `json:"code"`
	Message json.RawMessage `json:"message"`
	Status  string          `json:"status"`
	Details []errorDetail   `json:"details"`
}

// errorDetail holds the members of the details the adapter reads.
type errorDetail struct {
	Type       string          `json:"@type"`
	Reason     string          `json:"reason"`
	RetryDelay string          `json:"retryDelay"`
	Violations []quotaViolaton `json:"violations"`
}

type quotaViolaton struct {
	QuotaID string `json:"quotaId"`
}

// statusError turns a non-2xx answer into an *llmproxy.Error: the kind from
// the status and Gemini's status and details, Gemini's message, and the
// wait a 429 asked for. h may be nil (an error inside a stream). The
// provider's key never appears in it.
func (p *Provider) statusError(status int, h http.Header, body []byte) *llmproxy.Error {
	e := &llmproxy.Error{Kind: llmproxy.KindFromStatus(status), Status: status, Provider: p.up.Name}
	if h != nil {
		e.RetryAfter = llmproxy.ParseRetryAfter(h, time.Now())
	}
	t := bytes.TrimSpace(body)
	var env errorEnvelope
	if len(t) > 0 && t[0] == '[' {
		// streamGenerateContent without alt=sse wraps its error in a list.
		var list []errorEnvelope
		if json.Unmarshal(t, &list) == nil && len(list) > 0 && list[0].Error != nil {
			t, _ = json.Marshal(list[0])
		}
	}
	switch {
	case len(t) == 0:
		e.Message = fmt.Sprintf("upstream answered %d with an empty body", status)
	case t[0] != '{' || json.Unmarshal(t, &env) != nil:
		e.Message = fmt.Sprintf("upstream answered %d with a non-JSON body", status)
	case env.Error == nil:
		e.Message = fmt.Sprintf("upstream answered %d %s", status, http.StatusText(status))
	default:
		classify(e, env.Error)
	}
	e.Message = jsonx.Truncate(p.redact(e.Message), maxMessageBytes)
	e.Err = fmt.Errorf("gemini status %d", status)
	if s := statusOf(env.Error); s != "" {
		e.Err = fmt.Errorf("gemini status %d %s", status, jsonx.Truncate(p.redact(s), 64))
	}
	return e
}

func statusOf(a *apiError) string {
	if a == nil {
		return ""
	}
	return a.Status
}

// classify fills e from Gemini's error: its message, its status as the
// error's code, and the kind where Gemini's status or details say more
// than the HTTP status.
func classify(e *llmproxy.Error, a *apiError) {
	e.Message = messageText(a.Message)
	if e.Message == "" {
		e.Message = fmt.Sprintf("upstream answered %d %s", e.Status, http.StatusText(e.Status))
	}
	e.Code = a.Status
	var reasons []string
	perDay := false
	for _, d := range a.Details {
		if d.Reason != "" {
			reasons = append(reasons, d.Reason)
		}
		if d.RetryDelay != "" && e.RetryAfter == 0 {
			e.RetryAfter = parseDelay(d.RetryDelay)
		}
		for _, v := range d.Violations {
			if strings.Contains(v.QuotaID, "PerDay") {
				perDay = true
			}
		}
	}
	switch {
	case hasReason(reasons, "API_KEY_INVALID") || hasReason(reasons, "API_KEY_SERVICE_BLOCKED"):
		// Gemini answers a wrong key with 400 INVALID_ARGUMENT: it is the
		// proxy's credential, not the client's request.
		e.Kind = llmproxy.KindAuth
	case a.Status == "FAILED_PRECONDITION" && strings.Contains(strings.ToLower(e.Message), "location is not supported"):
		// The deployment's region cannot use the API: this provider
		// cannot serve the request, another one may.
		e.Kind = llmproxy.KindAuth
	case e.Status == http.StatusTooManyRequests && perDay:
		e.Kind = llmproxy.KindQuotaExceeded
	case e.Status == http.StatusGatewayTimeout || a.Status == "DEADLINE_EXCEEDED":
		e.Kind = llmproxy.KindTimeout
	}
}

func hasReason(reasons []string, r string) bool {
	for _, x := range reasons {
		if x == r {
			return true
		}
	}
	return false
}

// parseDelay reads a protobuf Duration in its JSON form ("37s", "1.5s"); it
// returns 0 when the value is not one.
func parseDelay(s string) time.Duration {
	v, ok := strings.CutSuffix(strings.TrimSpace(s), "s")
	if !ok {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return 0
	}
	d := time.Duration(f * float64(time.Second))
	if f*float64(time.Second) > float64(maxRetryDelay) {
		d = maxRetryDelay
	}
	return d
}

// streamError is the error of an {"error":{...}} object inside a stream,
// whose code is the HTTP status Gemini would have answered with (502 when
// it names none).
func (p *Provider) streamError(a *apiError) *llmproxy.Error {
	status := a.Code
	if status < 400 || status > 599 {
		status = http.StatusBadGateway
	}
	b, _ := json.Marshal(errorEnvelope{Error: a})
	return p.statusError(status, nil, b)
}

// redact replaces the provider's key wherever an upstream echoed it, also
// where it wrote the key JSON-escaped (see jsonx.Redact).
func (p *Provider) redact(s string) string { return jsonx.Redact(s, p.key) }

// messageText returns a message member as text: a string as it is,
// anything else as compact JSON.
func messageText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return ""
	}
	return b.String()
}

// invalidParam is a translator's refusal of a request member.
func invalidParam(param, format string, args ...any) *llmproxy.Error {
	return &llmproxy.Error{Kind: llmproxy.KindInvalidRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}
