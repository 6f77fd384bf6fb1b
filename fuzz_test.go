package llmproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

// The fuzz targets of the request decoders. Their seed corpora are the
// files in testdata/fuzz/<target>: realistic requests (tools, images,
// audio, vendor extras, streams) and a few broken ones. Run one with
//
//	go test -run='^$' -fuzz=FuzzParseChatRequest -fuzztime=60s .
//
// Each checks, for any body:
//   - the parser neither panics nor changes the body;
//   - a failure is an *Error of kind KindInvalidRequest with a message,
//     answered with a 4xx, whose envelope encodes;
//   - a success is valid JSON, passes Validate, remembers the body (Raw),
//     and reads the same model (and stream flag, and number of messages or
//     inputs) as a parser that matches member names exactly, as the
//     upstreams do, since the proxy routes on what it reads and forwards
//     the body as it is;
//   - a success encodes to valid JSON that parses again to the same
//     request (encoding that parse gives the same bytes).

func FuzzParseChatRequest(f *testing.F) {
	f.Add([]byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := checkParse(t, body, ParseChatRequest)
		if req == nil {
			return
		}
		exact := exactMembers(t, body)
		checkExactString(t, exact, "model", req.Model)
		checkExactBool(t, exact, "stream", req.Stream)
		var msgs []json.RawMessage
		if err := json.Unmarshal(exact["messages"], &msgs); err != nil || len(msgs) != len(req.Messages) {
			t.Fatalf("the proxy read %d messages, an exact parser %d (%v)", len(req.Messages), len(msgs), err)
		}
		for i := range req.Messages {
			checkExactString(t, exactMembers(t, msgs[i]), "role", req.Messages[i].Role)
		}
		reencoded(t, req, ParseChatRequest)
	})
}

// FuzzReadChatRequest checks the raw path's reader of chat requests: for
// any body it neither panics nor changes the body; a failure is a
// well-formed invalid-request error; a success is valid UTF-8 JSON whose
// model, stream flag and include_usage are what an exact parser reads, and
// which ParseChatRequest, when it accepts the body too, reads alike.
func FuzzReadChatRequest(f *testing.F) {
	f.Add([]byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":true}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		req, err := ReadChatRequest(body)
		if !bytes.Equal(body, orig) {
			t.Fatalf("the reader changed its input")
		}
		if err != nil {
			checkInvalidRequest(t, body, err)
			return
		}
		if !json.Valid(body) || !utf8.Valid(body) || !bytes.Equal(req.Body, body) {
			t.Fatalf("accepted %q as %q", body, req.Body)
		}
		exact := exactMembers(t, body)
		checkExactString(t, exact, "model", req.Model)
		checkExactBool(t, exact, "stream", req.Stream)
		include := false
		if o := exact["stream_options"]; o != nil && string(o) != "null" {
			checkExactBool(t, exactMembers(t, o), "include_usage", req.IncludeUsage)
			include = req.IncludeUsage
		}
		if req.IncludeUsage != include {
			t.Fatalf("include_usage read without stream_options")
		}
		if full, err := ParseChatRequest(body); err == nil {
			if full.Model != req.Model || full.Stream != req.Stream ||
				(full.StreamOptions != nil && full.StreamOptions.IncludeUsage) != req.IncludeUsage {
				t.Fatalf("ParseChatRequest reads %q/%v, ReadChatRequest %q/%v", full.Model, full.Stream, req.Model, req.Stream)
			}
		}
	})
}

func FuzzParseCompletionRequest(f *testing.F) {
	f.Add([]byte(`{"model":"gpt-3.5-turbo-instruct","prompt":"Say this is a test","max_tokens":7}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := checkParse(t, body, ParseCompletionRequest)
		if req == nil {
			return
		}
		if req.Raw() == nil || !bytes.Equal(req.Raw(), body) {
			t.Fatalf("Raw is not the body")
		}
		exact := exactMembers(t, body)
		checkExactString(t, exact, "model", req.Model)
		checkExactBool(t, exact, "stream", req.Stream)
		if !bytes.Equal(compact(t, exact["prompt"]), compact(t, req.Prompt)) {
			t.Fatalf("the proxy read the prompt %s, an exact parser %s", req.Prompt, exact["prompt"])
		}
		if text, ok := req.PromptText(); ok && !utf8.ValidString(text) && utf8.Valid(req.Prompt) {
			t.Fatalf("PromptText made invalid UTF-8 of valid UTF-8")
		}
		reencoded(t, req, ParseCompletionRequest)
	})
}

func FuzzParseEmbeddingRequest(f *testing.F) {
	f.Add([]byte(`{"model":"text-embedding-3-small","input":["a","b"],"encoding_format":"base64"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := checkParse(t, body, ParseEmbeddingRequest)
		if req == nil {
			return
		}
		if req.Raw() == nil || !bytes.Equal(req.Raw(), body) {
			t.Fatalf("Raw is not the body")
		}
		exact := exactMembers(t, body)
		checkExactString(t, exact, "model", req.Model)
		if !bytes.Equal(compact(t, exact["input"]), compact(t, req.Input)) {
			t.Fatalf("the proxy read the input %s, an exact parser %s", req.Input, exact["input"])
		}
		if in, ok := req.InputStrings(); ok && len(in) == 0 && !bytes.HasPrefix(bytes.TrimSpace(req.Input), []byte("[")) {
			t.Fatalf("a single input gave no strings")
		}
		reencoded(t, req, ParseEmbeddingRequest)
	})
}

// request is what the three parsers return.
type request interface {
	Validate() error
}

// checkParse parses body and checks the outcome; it returns the request, or
// nil after a (well-formed) failure.
func checkParse[R request](t *testing.T, body []byte, parse func([]byte) (R, error)) R {
	t.Helper()
	orig := bytes.Clone(body)
	req, err := parse(body)
	var zero R
	if !bytes.Equal(body, orig) {
		t.Fatalf("the parser changed its input")
	}
	if err != nil {
		checkInvalidRequest(t, body, err)
		return zero
	}
	if !json.Valid(body) {
		t.Fatalf("accepted a body that is not valid JSON: %q", body)
	}
	if err := req.Validate(); err != nil {
		t.Fatalf("a parsed request fails Validate: %v", err)
	}
	return req
}

// checkInvalidRequest checks the error of a body the parser refused.
func checkInvalidRequest(t *testing.T, body []byte, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || error(e) != err {
		t.Fatalf("error %T %v is not an *Error", err, err)
	}
	if e.Kind != KindInvalidRequest {
		t.Fatalf("error kind %v, want invalid_request: %v", e.Kind, e)
	}
	if e.Message == "" {
		t.Fatalf("error without a message: %#v", e)
	}
	if s := e.HTTPStatus(); s < 400 || s > 499 {
		t.Fatalf("a client's mistake answered %d", s)
	}
	env, jerr := json.Marshal(e.Envelope())
	if jerr != nil || !json.Valid(env) {
		t.Fatalf("the error envelope does not encode: %v", jerr)
	}
	if len(e.Message) > len(body)+256 {
		t.Fatalf("a %d-byte message for a %d-byte body", len(e.Message), len(body))
	}
	_ = e.Error()
}

// reencoded checks that req encodes to valid JSON that parses again to the
// same request.
func reencoded[R request](t *testing.T, req R, parse func([]byte) (R, error)) {
	t.Helper()
	out, err := json.Marshal(req)
	if err != nil {
		t.Fatalf("a parsed request does not encode: %v", err)
	}
	if !json.Valid(out) {
		t.Fatalf("a parsed request encodes to invalid JSON: %s", out)
	}
	again, err := parse(out)
	if err != nil {
		t.Fatalf("the encoding of a parsed request does not parse: %v\n%s", err, out)
	}
	out2, err := json.Marshal(again)
	if err != nil {
		t.Fatalf("the request parsed again does not encode: %v", err)
	}
	if !bytes.Equal(out, out2) {
		t.Fatalf("the request changed on a round trip:\n%s\n%s", out, out2)
	}
}

// exactMembers decodes a JSON object into its members, names matched
// exactly and the last of equal names winning, as Python's and
// JavaScript's parsers (and so the upstreams) read it.
func exactMembers(t *testing.T, obj []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		t.Fatalf("not an object: %v: %s", err, obj)
	}
	return m
}

// checkExactString checks that the member name of an object, read exactly,
// is the string got ("" when absent or null).
func checkExactString(t *testing.T, m map[string]json.RawMessage, name, got string) {
	t.Helper()
	var want string
	if raw, ok := m[name]; ok {
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("%s: the proxy read %q where an exact parser fails: %v", name, got, err)
		}
	}
	if want != got {
		t.Fatalf("%s: the proxy read %q, an exact parser %q", name, got, want)
	}
}

// checkExactBool is checkExactString for a boolean member.
func checkExactBool(t *testing.T, m map[string]json.RawMessage, name string, got bool) {
	t.Helper()
	var want bool
	if raw, ok := m[name]; ok {
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("%s: the proxy read %v where an exact parser fails: %v", name, got, err)
		}
	}
	if want != got {
		t.Fatalf("%s: the proxy read %v, an exact parser %v", name, got, want)
	}
}

// compact returns raw without insignificant space (nil for nil or null).
func compact(t *testing.T, raw []byte) []byte {
	t.Helper()
	if len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("not JSON: %v: %s", err, raw)
	}
	return b.Bytes()
}

// TestParseRequestMatchesNamesExactly pins what the fuzz targets found:
// encoding/json matches member names without regard to case, so a member
// such as "MODEL" or "Messages" was decoded over the real one, and the
// proxy routed on a model the upstream never saw.
func TestParseRequestMatchesNamesExactly(t *testing.T) {
	req, err := ParseChatRequest([]byte(`{"model":"gpt-4o","MODEL":"cheap-model","messages":[{"role":"user","content":"hi"}],"Stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if req.Model != "gpt-4o" || req.Stream {
		t.Fatalf("model %q stream %v, want gpt-4o and false", req.Model, req.Stream)
	}
	if string(req.Extra["MODEL"]) != `"cheap-model"` || string(req.Extra["Stream"]) != "true" {
		t.Fatalf("the members of other case are not kept: %v", req.Extra)
	}
	// Nested objects too, and the Unicode folds encoding/json applies
	// ("ſ" is an s, "K" the Kelvin sign a k).
	req, err = ParseChatRequest([]byte(`{"model":"m","meſſages":[],"messages":[{"role":"user","ROLE":"system","content":"hi","Content":5}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Messages) != 1 || req.Messages[0].Role != "user" || req.Messages[0].Content.String() != "hi" {
		t.Fatalf("messages %+v", req.Messages)
	}
	// Without the real member, one of another case is not it.
	_, err = ParseChatRequest([]byte(`{"Model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`))
	var e *Error
	if !errors.As(err, &e) || e.Param != "model" {
		t.Fatalf("err = %v, want a missing model", err)
	}
	emb, err := ParseEmbeddingRequest([]byte(`{"model":"e","input":"a","INPUT":["b","c"],"encoding_format":"float","Encoding_Format":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(emb.Input) != `"a"` || emb.EncodingFormat != "float" {
		t.Fatalf("input %s format %q", emb.Input, emb.EncodingFormat)
	}
}
