package jsonx

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Redacted replaces a key that Redact finds.
const Redacted = "[redacted]"

// Redact returns s with every occurrence of key replaced by Redacted; an
// empty key leaves s as it is. When s is a JSON object or array (an
// upstream's error metadata, or a message that is one), the key is also
// looked for in its member names and strings as they decode, since an
// upstream may write the key with \u escapes, and in every string that is
// itself a JSON document, as OpenRouter's metadata.raw is, to any depth.
// Such an s comes back compact and re-encoded only when the key was found
// in its decoded text; otherwise it comes back as it was.
func Redact(s, key string) string {
	if key == "" {
		return s
	}
	s = strings.ReplaceAll(s, key, Redacted)
	if b := FirstByte([]byte(s)); (b != '{' && b != '[') || !json.Valid([]byte(s)) {
		return s
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber() // numbers come back as they were written
	var v any
	if d.Decode(&v) != nil {
		return s
	}
	v, changed := redactValue(v, key)
	if !changed {
		return s
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return Redacted // cannot happen for decoded JSON; never fall back to the key
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// redactValue applies Redact to every string and member name of a decoded
// JSON value and reports whether it changed any.
func redactValue(v any, key string) (any, bool) {
	switch v := v.(type) {
	case string:
		r := Redact(v, key)
		return r, r != v
	case []any:
		changed := false
		for i, x := range v {
			var c bool
			v[i], c = redactValue(x, key)
			changed = changed || c
		}
		return v, changed
	case map[string]any:
		changed := false
		out := make(map[string]any, len(v))
		for k, x := range v {
			rk := strings.ReplaceAll(k, key, Redacted)
			rx, c := redactValue(x, key)
			out[rk] = rx
			changed = changed || c || rk != k
		}
		return out, changed
	}
	return v, false
}
