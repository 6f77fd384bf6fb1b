// Package jsonx holds the small byte and text helpers that the provider
// adapters and the server share to read upstream error bodies and to add
// members to JSON objects without decoding them.
package jsonx

import (
	"bytes"
	"unicode/utf8"
)

// FirstByte returns the first byte of raw that is not white space, or 0.
func FirstByte(raw []byte) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// Truncate shortens s to at most n bytes without splitting a character,
// marking a cut with "…".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// OpenObject cuts the JSON object obj open before its closing brace, so
// that members can be appended to it without decoding it: open is obj
// without the white space around it and without the closing brace, and
// more reports whether the object already has members (the next one then
// needs a comma before it). ok is false when obj does not start with '{'
// and end with '}'; what lies between the braces is not checked. open
// shares obj's memory: open[:len(open)+1] is the whole object again.
func OpenObject(obj []byte) (open []byte, more, ok bool) {
	t := bytes.Trim(obj, jsonSpace)
	if len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
		return nil, false, false
	}
	open = t[:len(t)-1]
	return open, len(bytes.TrimRight(open, jsonSpace)) > 1, true
}

// jsonSpace is the white space JSON allows between tokens.
const jsonSpace = " \t\r\n"
