package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/anthropicwire"
	"github.com/llmproxy/llmproxy/internal/jsonx"
)

// maxMessageBytes caps an upstream error message kept in an *Error.
const maxMessageBytes = 4096

// statusOverloaded is Anthropic's status for a global overload.
const statusOverloaded = anthropicwire.StatusOverloaded

// typeStatus is the HTTP status Anthropic answers each error type with. It
// classifies error events, which arrive after a 200.
var typeStatus = anthropicwire.ErrorStatus

// errorEnvelope is Anthropic's error body:
// {"type":"error","error":{"type","message","details"?},"request_id"}.
type errorEnvelope struct {
	Type  string `json:"type"`
	Error *struct {
		Type    string          `json:"type"`
		Message string          `json:"message"`
		Details json.RawMessage `json:"details"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

// statusError turns a non-2xx answer into an *llmproxy.Error: the kind
// from the status, corrected for Anthropic's quirks (see classify), the
// upstream's message and error type, the wait it asked for and its request
// id (in the cause). The provider's key never appears in it.
func (p *Provider) statusError(status int, h http.Header, body []byte) *llmproxy.Error {
	env, ok := parseError(body)
	e := &llmproxy.Error{Kind: llmproxy.KindFromStatus(status), Status: status, Provider: p.up.Name}
	switch {
	case ok:
		e.Type, e.Message, e.Code = env.Error.Type, env.Error.Message, errorCode(env.Error.Details)
	case len(bytes.TrimSpace(body)) == 0:
		e.Message = fmt.Sprintf("upstream answered %d with an empty body", status)
	default:
		e.Message = fmt.Sprintf("upstream answered %d with a non-JSON body", status)
	}
	if e.Message == "" {
		e.Message = fmt.Sprintf("upstream answered %d %s", status, http.StatusText(status))
	}
	requestID := env.RequestID
	if h != nil {
		e.RetryAfter = llmproxy.ParseRetryAfter(h, time.Now())
		if requestID == "" {
			requestID = h.Get("Request-Id")
		}
	}
	classify(e)
	p.finishError(e, requestID)
	return e
}

// eventError turns the data of an error event, which arrives after the
// upstream answered 200, into an *llmproxy.Error classified by the error's
// type as if it had been the answer's status (an overloaded_error is
// KindUnavailable); an unknown or missing type is a 502.
func (p *Provider) eventError(data []byte) *llmproxy.Error {
	env, ok := parseError(data)
	if !ok {
		return &llmproxy.Error{Kind: llmproxy.KindUnavailable, Status: http.StatusBadGateway, Provider: p.up.Name,
			Message: "the upstream stream failed with an unreadable error event"}
	}
	status, known := typeStatus[env.Error.Type]
	if !known {
		status = http.StatusBadGateway
	}
	e := &llmproxy.Error{Kind: llmproxy.KindFromStatus(status), Status: status, Provider: p.up.Name,
		Type: env.Error.Type, Message: env.Error.Message, Code: errorCode(env.Error.Details)}
	if e.Message == "" {
		e.Message = "the upstream stream failed: " + env.Error.Type
	}
	classify(e)
	p.finishError(e, env.RequestID)
	return e
}

// classify corrects the kind and status of an Anthropic error:
//
//   - 529 overloaded_error is KindUnavailable, reported as 503 since
//     OpenAI clients do not know 529 (the type stays overloaded_error);
//   - a billing problem is KindQuotaExceeded, which waiting does not cure:
//     402 billing_error, a 429 whose details.error_code is
//     enforced_spend_limit_reached (the spend limit of the account's tier),
//     and the 400s that say "Your credit balance is too low" or "You have
//     reached your specified API usage limits" (Anthropic gives those no
//     code, so the message is all there is to go by); those 400s are
//     reported as 402, since they are not the client's mistake.
//
// Other statuses keep llmproxy.KindFromStatus's kind: 400 (prompt is too
// long, …) and 413 are KindInvalidRequest, 401 and 403 KindAuth, 404
// KindNotFound, 429 KindRateLimited, 500 and 504 KindUnavailable.
func classify(e *llmproxy.Error) {
	switch {
	case e.Status == statusOverloaded || e.Type == "overloaded_error":
		e.Kind, e.Status = llmproxy.KindUnavailable, http.StatusServiceUnavailable
	case billingProblem(e):
		e.Kind = llmproxy.KindQuotaExceeded
		if e.Status == http.StatusBadRequest || e.Status == http.StatusForbidden {
			e.Status = http.StatusPaymentRequired
		}
	}
}

// billingProblem reports whether e says the account may not spend more.
func billingProblem(e *llmproxy.Error) bool {
	if e.Type == "billing_error" || e.Code == "enforced_spend_limit_reached" {
		return true
	}
	if e.Status < 400 || e.Status > 499 {
		return false
	}
	msg := strings.ToLower(e.Message)
	for _, s := range [...]string{"credit balance is too low", "api usage limits", "enforced_spend_limit_reached", "spend limit"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// parseError decodes an error body; ok is false when it is not Anthropic's
// envelope.
func parseError(body []byte) (env errorEnvelope, ok bool) {
	t := bytes.TrimSpace(body)
	if len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &env) != nil || env.Error == nil {
		return errorEnvelope{}, false
	}
	return env, true
}

// errorCode returns details.error_code of an error, if any.
func errorCode(details json.RawMessage) string {
	var d struct {
		ErrorCode string `json:"error_code"`
	}
	if len(details) == 0 || json.Unmarshal(details, &d) != nil {
		return ""
	}
	return d.ErrorCode
}

// finishError redacts the key from e and bounds its message, and records
// the upstream's request id in the cause.
func (p *Provider) finishError(e *llmproxy.Error, requestID string) {
	e.Message = truncate(p.redact(e.Message), maxMessageBytes)
	e.Type, e.Code = truncate(p.redact(e.Type), 256), truncate(p.redact(e.Code), 256)
	if requestID != "" {
		e.Err = errors.New("anthropic request id " + truncate(p.redact(requestID), 256))
	}
}

// redact replaces the provider's key wherever an upstream echoed it, also
// where it wrote the key JSON-escaped (see jsonx.Redact).
func (p *Provider) redact(s string) string { return jsonx.Redact(s, p.key) }

func truncate(s string, n int) string { return jsonx.Truncate(s, n) }
