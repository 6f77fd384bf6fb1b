// Package jsonx holds the small byte and text helpers the provider
// adapters share when they read upstream error bodies.
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
