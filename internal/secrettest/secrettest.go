// Package secrettest checks, for tests, that an error shows a key in none of
// the ways it can be printed, marshalled or logged.
package secrettest

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// Forms returns key as it is and as it shows once JSON-escaped with
// \u escapes for every '-' and '_', once and twice over (a JSON document
// inside a JSON string): the forms in which an upstream may echo it and
// in which decoding the text gives the key back.
func Forms(key string) []string {
	esc := strings.NewReplacer("-", `\u002d`, "_", `\u005f`).Replace(key)
	return []string{key, esc, strings.ReplaceAll(esc, `\`, `\\`)}
}

// Shown returns err as every common way of showing it would: Error(),
// the fmt verbs %v, %+v, %#v, %s and %q of err and of each error along its
// Unwrap chain (errors joined are followed too), and slog lines of err
// through the JSON and text handlers. extra texts (a client envelope, say)
// are appended.
func Shown(err error, extra ...string) string {
	var b strings.Builder
	var walk func(error)
	walk = func(e error) {
		for ; e != nil; e = errors.Unwrap(e) {
			fmt.Fprintf(&b, "%v\n%+v\n%#v\n%s\n%q\n", e, e, e, e, e)
			if j, ok := e.(interface{ Unwrap() []error }); ok {
				for _, x := range j.Unwrap() {
					walk(x)
				}
			}
		}
	}
	walk(err)
	slog.New(slog.NewJSONHandler(&b, nil)).Error("failed", "err", err, "error", slog.AnyValue(err))
	slog.New(slog.NewTextHandler(&b, nil)).Error("failed", "err", err)
	for _, s := range extra {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return b.String()
}

// AssertNoKey fails t if key, in any of its Forms, is in Shown(err, extra...),
// or in any string of any JSON document found in the texts of err's Unwrap
// chain (after a "…: " prefix), decoded to any depth.
func AssertNoKey(t testing.TB, key string, err error, extra ...string) {
	t.Helper()
	if key == "" {
		t.Fatal("secrettest: an empty key is in every text")
	}
	text := Shown(err, extra...)
	for _, form := range Forms(key) {
		if i := strings.Index(text, form); i >= 0 {
			lo, hi := max(0, i-120), min(len(text), i+len(form)+120)
			t.Errorf("the key (as %q) shows: …%s…", form[:min(len(form), 12)], text[lo:hi])
		}
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		msg := e.Error()
		if i := strings.IndexAny(msg, "{["); i >= 0 {
			msg = msg[i:]
		}
		for _, s := range JSONStrings(msg) {
			if strings.Contains(s, key) {
				t.Errorf("the key shows once the JSON in %q is decoded: %q", e.Error(), s)
			}
		}
	}
}

// JSONStrings returns every member name and string of the JSON document
// text, and those of every string that is itself a JSON document, to any
// depth. It returns nil when text is not JSON.
func JSONStrings(text string) []string {
	var v any
	if json.Unmarshal([]byte(text), &v) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
			out = append(out, JSONStrings(v)...)
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			for k, x := range v {
				out = append(out, k)
				walk(x)
			}
		}
	}
	walk(v)
	return out
}
