package responses

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/llmproxy"
)

// Request is a client's POST /v1/responses request as its bytes, with the
// members the front reads to route it. A provider that speaks the Responses
// API gets Body as it came (see Native); the others get it translated to a
// chat request.
type Request struct {
	// Model is the "model" member of Body.
	Model string
	// Stream is the "stream" member of Body (false when absent or null).
	Stream bool
	// Store is false when Body says "store": false; absent or null means
	// true, as for OpenAI.
	Store bool
	// PreviousResponseID is the "previous_response_id" member of Body, or
	// "".
	PreviousResponseID string
	// Body is the request as the client sent it: a JSON object. It must
	// not be modified.
	Body []byte
}

// requestMembers are the members of a request that ReadRequest reads, each at
// most once.
var requestMembers = [...]string{"model", "input", "stream", "store", "previous_response_id"}

// ReadRequest reads a client's Responses request: body must be a JSON
// object (valid UTF-8) with a non-empty string "model" and an "input" that
// is a string or an array; "stream" and "store" must be booleans,
// "previous_response_id" a string, when they are given (null counts as
// absent), and none of these members may be given twice. The other members
// are checked when the request is translated (see the translation's
// errors), or by the upstream when it passes through. Failures are
// *llmproxy.Error values of kind KindInvalidRequest naming the member. The
// request keeps body, which the caller must not modify afterwards.
func ReadRequest(body []byte) (*Request, error) {
	if !utf8.Valid(body) || !gjson.ValidBytes(body) {
		msg := "the request body is not valid UTF-8 JSON"
		var syn *json.SyntaxError
		if err := json.Unmarshal(body, new(any)); errors.As(err, &syn) {
			msg = fmt.Sprintf("the request body is not valid JSON: %s (at byte %d)", syn.Error(), syn.Offset)
		}
		return nil, &llmproxy.Error{Kind: llmproxy.KindInvalidRequest, Code: "invalid_json", Message: msg}
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, &llmproxy.Error{Kind: llmproxy.KindInvalidRequest, Code: "invalid_json",
			Message: "the request body must be a JSON object, not " + llmproxy.JSONKind(root)}
	}
	var m [len(requestMembers)]gjson.Result
	if dup := llmproxy.ReadMembers(root, requestMembers[:], m[:]); dup != "" {
		return nil, invalid(dup, dup+" is given more than once")
	}
	model, input, stream, store, prev := m[0], m[1], m[2], m[3], m[4]
	r := &Request{Body: body, Store: true}
	switch {
	case model.Exists() && model.Type != gjson.String && model.Type != gjson.Null:
		return nil, llmproxy.WrongTypeError("model", "a string", model)
	case model.Str == "":
		return nil, invalid("model", "you must provide a model parameter")
	}
	r.Model = model.Str
	switch {
	case input.Type == gjson.String, input.IsArray():
	case input.Type == gjson.Null:
		return nil, invalid("input", "you must provide input: a string or an array of input items")
	default:
		return nil, llmproxy.WrongTypeError("input", "a string or an array", input)
	}
	var err error
	if r.Stream, err = optionalBool(stream, "stream", false); err != nil {
		return nil, err
	}
	if r.Store, err = optionalBool(store, "store", true); err != nil {
		return nil, err
	}
	switch prev.Type {
	case gjson.Null:
	case gjson.String:
		r.PreviousResponseID = prev.Str
	default:
		return nil, llmproxy.WrongTypeError("previous_response_id", "a string", prev)
	}
	return r, nil
}

// optionalBool reads a boolean member that may be absent or null (def).
func optionalBool(v gjson.Result, name string, def bool) (bool, error) {
	switch v.Type {
	case gjson.Null:
		return def, nil
	case gjson.True, gjson.False:
		return v.Bool(), nil
	}
	return false, llmproxy.WrongTypeError(name, "a boolean", v)
}

// invalid is the error of an invalid member of a request.
func invalid(param, msg string) *llmproxy.Error {
	return &llmproxy.Error{Kind: llmproxy.KindInvalidRequest, Param: param, Message: msg}
}
