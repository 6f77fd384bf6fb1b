package messages

import (
	"net/http"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/llmproxy"
)

// Request is a client's Messages request as its bytes, with the members
// the proxy reads to route it. The bytes go to an Anthropic provider as
// they came; the other providers get them decoded and translated to chat.
type Request struct {
	// Model is the "model" member of Body.
	Model string
	// Stream is the "stream" member of Body (false when absent or null).
	Stream bool
	// Body is the request as the client sent it: a JSON object. It must
	// not be modified.
	Body []byte
	// Header holds the client's headers that go to an Anthropic provider
	// (see ForwardedHeaders); nil when there are none.
	Header http.Header
}

// forwarded are the client headers an Anthropic provider receives: the API
// version the client speaks and the beta features it switches on. Nothing
// else of the client's request is forwarded, its key least of all.
var forwarded = [...]string{"Anthropic-Version", "Anthropic-Beta"}

// ForwardedHeaders returns the headers of h that go upstream to an
// Anthropic provider (anthropic-version, anthropic-beta), or nil.
func ForwardedHeaders(h http.Header) http.Header {
	var out http.Header
	for _, k := range forwarded {
		if v := h.Values(k); len(v) > 0 {
			if out == nil {
				out = make(http.Header, len(forwarded))
			}
			out[k] = v
		}
	}
	return out
}

// ReadRequest reads a client's POST /v1/messages body: a JSON object
// (valid UTF-8) with a non-empty string "model", a non-empty "messages"
// array, an integer "max_tokens" of at least 1 and, when given, a boolean
// "stream" (null counts as absent); none of them may be given twice. The
// rest is checked when the request is translated, or by an Anthropic
// upstream, which gets it as it came. Failures are *llmproxy.Error values
// of kind KindInvalidRequest, worded as Anthropic words its own
// ("max_tokens: Field required"). The request keeps body, which the
// caller must not modify afterwards.
func ReadRequest(body []byte) (*Request, error) {
	return read(body, true)
}

// ReadCountTokensRequest reads a client's POST /v1/messages/count_tokens
// body, as ReadRequest does except that it has no max_tokens or stream.
func ReadCountTokensRequest(body []byte) (*Request, error) {
	return read(body, false)
}

// requestMembers are the members of a request that read reads, each at most
// once.
var requestMembers = [...]string{"model", "messages", "max_tokens", "stream"}

// read reads a request; full asks for the members of a Messages request
// that count_tokens has not.
func read(body []byte, full bool) (*Request, error) {
	if !utf8.Valid(body) || !gjson.ValidBytes(body) {
		return nil, invalid("", "the request body is not valid JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, invalid("", "the request body must be a JSON object")
	}
	var m [len(requestMembers)]gjson.Result
	if dup := llmproxy.ReadMembers(root, requestMembers[:], m[:]); dup != "" {
		return nil, invalid(dup, dup+": given more than once")
	}
	model, msgs, maxTokens, stream := m[0], m[1], m[2], m[3]
	r := &Request{Body: body}
	switch {
	case !model.Exists() || model.Type == gjson.Null:
		return nil, invalid("model", "model: Field required")
	case model.Type != gjson.String || model.Str == "":
		return nil, invalid("model", "model: must be a non-empty string")
	}
	r.Model = model.Str
	switch {
	case !msgs.Exists() || msgs.Type == gjson.Null:
		return nil, invalid("messages", "messages: Field required")
	case !msgs.IsArray():
		return nil, invalid("messages", "messages: must be an array")
	case !nonEmpty(msgs):
		return nil, invalid("messages", "messages: at least one message is required")
	}
	if !full {
		return r, nil
	}
	switch {
	case !maxTokens.Exists() || maxTokens.Type == gjson.Null:
		return nil, invalid("max_tokens", "max_tokens: Field required")
	case maxTokens.Type != gjson.Number || maxTokens.Num != float64(int64(maxTokens.Num)) || maxTokens.Num < 1:
		return nil, invalid("max_tokens", "max_tokens: must be an integer of at least 1")
	}
	switch stream.Type {
	case gjson.Null:
	case gjson.True, gjson.False:
		r.Stream = stream.Bool()
	default:
		return nil, invalid("stream", "stream: must be a boolean")
	}
	return r, nil
}

// nonEmpty reports whether the array v has an element.
func nonEmpty(v gjson.Result) bool {
	found := false
	v.ForEach(func(_, _ gjson.Result) bool { found = true; return false })
	return found
}
