package llmproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/llmproxy/llmproxy/sse"
)

// ErrorKind classifies a failure. The router decides retries, failover and
// what the circuit breaker counts from the kind alone, never from messages.
type ErrorKind int

// The kinds of failure. The zero value is KindInternal.
const (
	// KindInternal is a bug or an unexpected state inside the proxy.
	KindInternal ErrorKind = iota
	// KindInvalidRequest is the client's mistake (400, 413, 422): returned
	// at once, never retried, never counted against a provider.
	KindInvalidRequest
	// KindAuth is an upstream's refusal of the proxy's credentials (401,
	// 403): failed over, not retried.
	KindAuth
	// KindNotFound is an unknown model or path (404): failed over.
	KindNotFound
	// KindRateLimited is a retryable 429: retried after Retry-After when it
	// fits the deadline, then failed over.
	KindRateLimited
	// KindQuotaExceeded is a 429 or 402 that waiting does not cure
	// (insufficient_quota, spend limits, exhausted credits): failed over,
	// not retried.
	KindQuotaExceeded
	// KindUnavailable is a 5xx, 529, a refused or reset connection, or a
	// malformed answer: retried with backoff, then failed over.
	KindUnavailable
	// KindTimeout is an upstream that did not answer in time: failed over,
	// not retried on the same provider.
	KindTimeout
	// KindCanceled is the caller going away: never retried, never counted.
	KindCanceled
	// KindUnauthorized is a client presenting no or a wrong proxy key (401).
	KindUnauthorized
	// KindRateLimitedClient is a client over the proxy's own limits (429).
	KindRateLimitedClient
	// KindForbidden is a client whose key may not do what it asked, such
	// as use a model outside its list (403): never retried.
	KindForbidden
)

var kindNames = [...]string{
	KindInternal:          "internal",
	KindInvalidRequest:    "invalid_request",
	KindAuth:              "upstream_auth",
	KindNotFound:          "not_found",
	KindRateLimited:       "rate_limited",
	KindQuotaExceeded:     "quota_exceeded",
	KindUnavailable:       "unavailable",
	KindTimeout:           "timeout",
	KindCanceled:          "canceled",
	KindUnauthorized:      "unauthorized",
	KindRateLimitedClient: "client_rate_limited",
	KindForbidden:         "forbidden",
}

// String returns the kind's snake_case name, as used in logs and metrics.
func (k ErrorKind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Retryable reports whether the same provider may be tried again.
func (k ErrorKind) Retryable() bool { return k == KindRateLimited || k == KindUnavailable }

// Failover reports whether the next provider may be tried.
func (k ErrorKind) Failover() bool {
	switch k {
	case KindAuth, KindNotFound, KindRateLimited, KindQuotaExceeded, KindUnavailable, KindTimeout, KindInternal:
		return true
	}
	return false
}

// CountsAgainstProvider reports whether the failure says something about
// the provider's health (for circuit breakers and health signals).
func (k ErrorKind) CountsAgainstProvider() bool {
	switch k {
	case KindAuth, KindNotFound, KindRateLimited, KindQuotaExceeded, KindUnavailable, KindTimeout:
		return true
	}
	return false
}

// Error is the one error type of llmproxy. Every failure that leaves the
// proxy is an *Error (use errors.As); Err holds the underlying cause.
type Error struct {
	// Kind classifies the failure.
	Kind ErrorKind
	// Status is the HTTP status to answer the client with; 0 means the
	// kind's default (see HTTPStatus).
	Status int
	// Message is a human-readable description, safe to show to the client.
	Message string
	// Type, Param and Code fill the OpenAI error envelope; Type defaults
	// from Kind when empty.
	Type  string
	Param string
	Code  string
	// Provider names the provider that failed; empty for the proxy's own
	// errors.
	Provider string
	// Attempts is the number of attempts the router made on providers for
	// the request, retries and failovers included, as ProxyInfo's
	// AttemptNumber counts them; 0 when the request failed before any
	// attempt.
	Attempts int
	// NoRetry reports that a client should not retry the request: the
	// proxy already retried it or failed it over (more than one attempt),
	// or tried every provider serving its model, so that a client's retry
	// would only repeat that work against providers that just failed (and
	// could open their breakers). The router sets it unless the
	// configuration's ClientRetryAfterFailover is on, and not for an error
	// with a RetryAfter, after which the client may come back. The server
	// answers it with "x-should-retry: false".
	NoRetry bool
	// RetryAfter is how long the upstream (or the proxy) asked to wait.
	RetryAfter time.Duration
	// Err is the wrapped cause, if any. It is never shown to clients.
	Err error
}

// Error returns a one-line description: provider, kind, status and message.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("llmproxy: ")
	if e.Provider != "" {
		b.WriteString("provider ")
		b.WriteString(e.Provider)
		b.WriteString(": ")
	}
	b.WriteString(e.Kind.String())
	if e.Status != 0 {
		b.WriteString(" (")
		b.WriteString(strconv.Itoa(e.Status))
		b.WriteString(")")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil && e.Message == "" {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// HTTPStatus returns the status to answer a client with.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 && e.Kind != KindAuth {
		return e.Status
	}
	switch e.Kind {
	case KindInvalidRequest:
		return http.StatusBadRequest
	case KindUnauthorized:
		return http.StatusUnauthorized
	case KindForbidden:
		return http.StatusForbidden
	case KindNotFound:
		return http.StatusNotFound
	case KindRateLimited, KindQuotaExceeded, KindRateLimitedClient:
		return http.StatusTooManyRequests
	case KindTimeout:
		return http.StatusGatewayTimeout
	case KindCanceled:
		return 499
	case KindAuth, KindUnavailable:
		// An upstream refusing the proxy's own key is not the client's
		// fault: answer 502 so that clients do not blame their key.
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// ErrorType returns the OpenAI envelope's type member.
func (e *Error) ErrorType() string {
	if e.Type != "" {
		return e.Type
	}
	switch e.Kind {
	case KindInvalidRequest, KindNotFound:
		return "invalid_request_error"
	case KindUnauthorized:
		return "authentication_error"
	case KindForbidden:
		return "permission_error"
	case KindRateLimited, KindRateLimitedClient:
		return "rate_limit_error"
	case KindQuotaExceeded:
		return "insufficient_quota"
	case KindTimeout:
		return "timeout_error"
	case KindAuth, KindUnavailable:
		return "upstream_error"
	}
	return "server_error"
}

// ErrorEnvelope is the OpenAI error body: {"error":{...}}.
type ErrorEnvelope struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is the inside of an OpenAI error envelope. Param and Code are
// null when empty, as OpenAI sends them.
type ErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// Envelope returns the error in OpenAI's envelope, as the proxy shows it to
// clients. The wrapped cause is left out: it may name internal addresses.
func (e *Error) Envelope() ErrorEnvelope {
	msg := e.Message
	if msg == "" {
		msg = defaultMessage(e.Kind)
	}
	if e.Provider != "" && e.Kind != KindInvalidRequest {
		msg = "provider " + e.Provider + ": " + msg
	}
	body := ErrorBody{Message: msg, Type: e.ErrorType()}
	if e.Param != "" {
		body.Param = &e.Param
	}
	if e.Code != "" {
		body.Code = &e.Code
	}
	return ErrorEnvelope{Error: body}
}

func defaultMessage(k ErrorKind) string {
	switch k {
	case KindUnavailable:
		return "the upstream is unavailable"
	case KindTimeout:
		return "the upstream did not answer in time"
	case KindCanceled:
		return "the request was canceled"
	case KindRateLimited:
		return "the upstream is rate limiting requests"
	}
	return "internal error"
}

// AsError returns err as an *Error, wrapping anything else as KindInternal
// (or KindCanceled/KindTimeout for context errors).
func AsError(err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	switch {
	case errors.Is(err, context.Canceled):
		return &Error{Kind: KindCanceled, Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: KindTimeout, Message: "the request timed out", Err: err}
	}
	return &Error{Kind: KindInternal, Err: err}
}

// KindFromStatus classifies an upstream's HTTP status.
func KindFromStatus(status int) ErrorKind {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return KindAuth
	case status == http.StatusNotFound:
		return KindNotFound
	case status == http.StatusPaymentRequired:
		return KindQuotaExceeded
	case status == http.StatusTooManyRequests:
		return KindRateLimited
	case status == http.StatusRequestTimeout || status == http.StatusConflict:
		return KindUnavailable
	case status >= 500:
		return KindUnavailable
	case status >= 400:
		return KindInvalidRequest
	}
	return KindUnavailable
}

// ParseRetryAfter reads retry-after-ms, then Retry-After (seconds or an HTTP
// date) from an upstream's headers. It returns 0 when neither is usable.
func ParseRetryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// StreamReadError classifies an error, other than io.EOF, from reading the
// next event of an upstream's event stream (sse.Reader.Next): a line over
// the reader's limit is KindUnavailable, anything else a TransportError.
func StreamReadError(ctx context.Context, provider string, err error) *Error {
	if errors.Is(err, sse.ErrLineTooLong) {
		return &Error{Kind: KindUnavailable, Provider: provider,
			Message: "the upstream sent a stream line over the size limit", Err: err}
	}
	return TransportError(ctx, provider, err)
}

// TransportError classifies an error from sending a request upstream or
// reading its answer (a failed dial, a reset, a timeout, the caller's
// cancellation, an answer too large for ReadAnswer) as an *Error of the
// given provider. ctx is the attempt's context.
func TransportError(ctx context.Context, provider string, err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	e := &Error{Provider: provider, Err: err, Kind: KindUnavailable}
	switch {
	case errors.Is(err, ErrAnswerTooLarge):
		e.Message = "upstream answer too large"
	case errors.Is(err, context.Canceled) || context.Cause(ctx) == context.Canceled:
		e.Kind = KindCanceled
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded:
		e.Kind = KindTimeout
		e.Message = "the upstream did not answer in time"
	case IsConnectError(err):
		e.Message = "could not connect to the upstream"
	default:
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			e.Kind = KindTimeout
			e.Message = "the upstream did not answer in time"
		} else {
			e.Message = "the connection to the upstream failed"
		}
	}
	return e
}

// IsConnectError reports whether err is a failure to establish a connection
// (refused, unreachable, DNS), after which no request reached the upstream.
func IsConnectError(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	if oe, ok := errors.AsType[*net.OpError](err); ok && oe.Op == "dial" {
		return true
	}
	_, ok := errors.AsType[*net.DNSError](err)
	return ok
}

func invalidParam(param, msg string) *Error {
	return &Error{Kind: KindInvalidRequest, Param: param, Message: msg}
}

// errNoModel is the error of a request without a model.
func errNoModel() *Error { return invalidParam("model", "you must provide a model parameter") }

// errNoMessages is the error of a chat request without messages.
func errNoMessages() *Error { return invalidParam("messages", "messages must be a non-empty array") }

func indexParam(list string, i int, field string) string {
	return fmt.Sprintf("%s[%d].%s", list, i, field)
}

func checkMaxTokens(param string, v *int) error {
	if v != nil && *v < 1 {
		return invalidParam(param, param+" must be at least 1")
	}
	return nil
}

// decodeRequest decodes a client's JSON body into v and turns decoding
// failures into invalid-request errors that say what is wrong and where.
func decodeRequest(body []byte, v any) error {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	e := &Error{Kind: KindInvalidRequest, Code: "invalid_json", Err: err}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		e.Message = fmt.Sprintf("the request body is not valid JSON: %s (at byte %d)", syn.Error(), syn.Offset)
	case errors.As(err, &typ):
		e.Param = typ.Field
		if typ.Field == "" {
			e.Message = fmt.Sprintf("the request body must be a JSON object, not %s", typ.Value)
		} else {
			want := jsonTypeName(typ.Type.Kind().String())
			if typ.Type == reflect.TypeFor[Content]() {
				want = "a string or an array of content parts"
			}
			e.Message = fmt.Sprintf("%s has the wrong type: expected %s, got %s", typ.Field, want, typ.Value)
		}
	default:
		e.Message = "the request body could not be decoded: " + err.Error()
	}
	return e
}

func jsonTypeName(goKind string) string {
	switch goKind {
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "ptr":
		return "a value"
	}
	return "a number"
}
