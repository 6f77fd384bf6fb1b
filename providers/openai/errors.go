package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/jsonx"
)

// maxMessageBytes caps an upstream error message kept in an *Error.
const maxMessageBytes = 4096

// maxDetailBytes caps the upstream error metadata kept in an *Error's cause.
const maxDetailBytes = 2048

// statusError turns a non-2xx answer into an *llmproxy.Error: the kind from
// the status, corrected for known quirks, the upstream's message, type,
// param and code from whichever error envelope it used, and the wait the
// upstream asked for. The provider's key never appears in it.
func (p *Provider) statusError(status int, h http.Header, body []byte) *llmproxy.Error {
	e := &llmproxy.Error{
		Kind:     llmproxy.KindFromStatus(status),
		Status:   status,
		Provider: p.name,
	}
	if h != nil {
		e.RetryAfter = llmproxy.ParseRetryAfter(h, time.Now())
	}
	detail := fillFromBody(e, body)
	if status == http.StatusTooManyRequests && (e.Code == "insufficient_quota" || e.Type == "insufficient_quota") {
		e.Kind = llmproxy.KindQuotaExceeded
	}
	if p.flavor.fixError != nil {
		p.flavor.fixError(e, body)
	}
	e.Message = truncate(p.redact(e.Message), maxMessageBytes)
	e.Type = p.redact(e.Type)
	e.Param = p.redact(e.Param)
	e.Code = p.redact(e.Code)
	if detail != "" {
		e.Err = fmt.Errorf("upstream error metadata: %s", truncate(p.redact(detail), maxDetailBytes))
	}
	return e
}

// embeddedError returns the error carried in the top-level "error" member
// of a 2xx answer (OpenRouter and Blackbox report failures after the status
// was sent this way), or nil when there is none. Its status is the error's
// numeric code when that is an error status, else 502.
func (p *Provider) embeddedError(extra llmproxy.Extra) *llmproxy.Error {
	raw, ok := extra["error"]
	if !ok || isNull(raw) {
		return nil
	}
	status := http.StatusBadGateway
	var inner struct {
		Code json.RawMessage `json:"code"`
	}
	if json.Unmarshal(raw, &inner) == nil {
		if c, err := strconv.Atoi(scalar(inner.Code)); err == nil && c >= 400 && c <= 599 {
			status = c
		}
	}
	body := append(append([]byte(`{"error":`), raw...), '}')
	return p.statusError(status, nil, body)
}

// wireError holds the members of the error envelopes seen in the wild;
// each may be a string, a number, null or absent.
type wireError struct {
	Message  json.RawMessage `json:"message"`
	Type     json.RawMessage `json:"type"`
	Param    json.RawMessage `json:"param"`
	Code     json.RawMessage `json:"code"`
	Metadata json.RawMessage `json:"metadata"`
}

// fillFromBody sets e's Message, Type, Param and Code from an error body
// and returns the upstream's metadata, if any, for the cause. It knows:
//
//	OpenAI       {"error":{"message","type","param","code":string|null}}
//	Perplexity   {"error":{"message","type","code":<int>}}
//	OpenRouter   {"error":{"code":<int>,"message","metadata":{..}}} (and Blackbox)
//	xAI          {"code":"<text>","error":"<message>"}
//	vLLM         {"object":"error","message","type","param","code":<int>}
//	others       {"message":..} or {"detail":..}
//
// A body that is not JSON gives a message naming the status only: an HTML
// error page is never passed on.
func fillFromBody(e *llmproxy.Error, body []byte) (detail string) {
	t := bytes.TrimSpace(body)
	var top struct {
		wireError
		Error  json.RawMessage `json:"error"`
		Detail json.RawMessage `json:"detail"`
	}
	switch {
	case len(t) == 0:
		e.Message = fmt.Sprintf("upstream answered %d with an empty body", e.Status)
		return ""
	case t[0] != '{' || json.Unmarshal(t, &top) != nil:
		e.Message = fmt.Sprintf("upstream answered %d with a non-JSON body", e.Status)
		return ""
	}
	var w wireError
	switch {
	case isObject(top.Error):
		_ = json.Unmarshal(top.Error, &w)
	case isString(top.Error): // xAI
		w = wireError{Message: top.Error, Code: top.Code}
	case len(top.Message) > 0 && !isNull(top.Message): // vLLM, Mistral, Cohere
		w = top.wireError
	case len(top.Detail) > 0 && !isNull(top.Detail):
		w = wireError{Message: top.Detail}
	}
	e.Message = messageText(w.Message)
	e.Type = scalar(w.Type)
	e.Param = scalar(w.Param)
	e.Code = scalar(w.Code)
	if e.Message == "" {
		e.Message = fmt.Sprintf("upstream answered %d %s", e.Status, http.StatusText(e.Status))
	}
	if isObject(w.Metadata) {
		var b bytes.Buffer
		if json.Compact(&b, w.Metadata) == nil {
			detail = b.String()
		}
	}
	return detail
}

// redact replaces the provider's key wherever an upstream echoed it, also
// where it wrote the key JSON-escaped (see jsonx.Redact).
func (p *Provider) redact(s string) string { return jsonx.Redact(s, p.key) }

// messageText returns a message member as text: a string as it is, a list
// of strings joined, anything else as compact JSON.
func messageText(raw json.RawMessage) string {
	if len(raw) == 0 || isNull(raw) {
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

// scalar returns a string member as it is and a number or boolean as its
// JSON text; null, absent, objects and arrays give "".
func scalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	case '{', '[', 'n':
		return ""
	}
	return string(raw)
}

func isNull(raw json.RawMessage) bool   { return string(bytes.TrimSpace(raw)) == "null" }
func isObject(raw json.RawMessage) bool { return firstByte(raw) == '{' }
func isString(raw json.RawMessage) bool { return firstByte(raw) == '"' }

func firstByte(raw json.RawMessage) byte { return jsonx.FirstByte(raw) }

func truncate(s string, n int) string { return jsonx.Truncate(s, n) }
