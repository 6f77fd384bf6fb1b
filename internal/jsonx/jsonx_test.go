package jsonx

import (
	"strings"
	"testing"
)

func TestOpenObject(t *testing.T) {
	for _, c := range []struct {
		in, open string
		more, ok bool
	}{
		{in: `{"a":1}`, open: `{"a":1`, more: true, ok: true},
		{in: " \n{\"a\":1 }\t", open: `{"a":1 `, more: true, ok: true},
		{in: `{}`, open: `{`, ok: true},
		{in: `{ }`, open: `{ `, ok: true},
		{in: `{`},
		{in: `}`},
		{in: `[1]`},
		{in: `"x"`},
		{in: ``},
		{in: "\u00a0{}"}, // not JSON white space
	} {
		open, more, ok := OpenObject([]byte(c.in))
		if string(open) != c.open || more != c.more || ok != c.ok {
			t.Errorf("OpenObject(%q) = %q, %v, %v; want %q, %v, %v", c.in, open, more, ok, c.open, c.more, c.ok)
		}
		if ok && string(open[:len(open)+1])[len(open)] != '}' {
			t.Errorf("OpenObject(%q): the closing brace does not follow open", c.in)
		}
	}
}

func TestRedact(t *testing.T) {
	const key = "sk-KEY-123"
	esc := `sk\u002dKEY\u002d123`
	for _, c := range []struct{ in, want string }{
		{in: "no key here", want: "no key here"},
		{in: "key " + key + " and " + key, want: "key [redacted] and [redacted]"},
		{in: "[not json " + key, want: "[not json [redacted]"},
		{in: `{"a":"` + key + `","n":1.50}`, want: `{"a":"[redacted]","n":1.50}`},
		// No key in the decoded text: the document comes back untouched.
		{in: `{ "b":1, "a":"\u0041" }`, want: `{ "b":1, "a":"\u0041" }`},
		// Escaped, in a value, a member name, and inside a nested document.
		{in: `{"b":1.50,"a":"` + esc + `"}`, want: `{"a":"[redacted]","b":1.50}`},
		{in: `{"` + esc + `":true}`, want: `{"[redacted]":true}`},
		{in: `[{"raw":"{\"m\":\"` + strings.ReplaceAll(esc, `\`, `\\`) + `\"}"}]`, want: `[{"raw":"{\"m\":\"[redacted]\"}"}]`},
		{in: `{"html":"<&>","k":"` + esc + `"}`, want: `{"html":"<&>","k":"[redacted]"}`},
	} {
		if got := Redact(c.in, key); got != c.want {
			t.Errorf("Redact(%q) = %q; want %q", c.in, got, c.want)
		}
	}
	if got := Redact("x "+key, ""); got != "x "+key {
		t.Errorf("an empty key changed the text: %q", got)
	}
}
