package llmproxy

import (
	"crypto/subtle"
	"log/slog"
)

// Secret holds a credential such as an upstream API key. Every way of
// printing it (fmt verbs, JSON, text marshalling, slog) shows "[redacted]"
// or "" instead of the value, so a Secret that ends up in a log line, an
// error or a status page leaks nothing. Reveal returns the value for the one
// place that needs it: the request header sent upstream. The zero value is
// an unset secret. A Secret is a plain string and safe to copy.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether the secret has a value.
func (s Secret) IsSet() bool { return s != "" }

// Equal compares s with v in constant time.
func (s Secret) Equal(v string) bool {
	return subtle.ConstantTimeCompare([]byte(s), []byte(v)) == 1
}

// String returns "[redacted]" for a set secret and "" for an unset one.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString is like String, so %#v does not print the value either.
func (s Secret) GoString() string { return s.String() }

// MarshalText is like String.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue is like String.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
