package llmproxy

import (
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"strings"
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

// Format prints the configuration as fmt prints any struct, except that
// the client keys (APIKeys) show as "[redacted]": no verb (%v, %+v, %#v,
// %s) prints a key of a Config, since the providers' keys and the Redis URL
// are Secrets already.
func (c Config) Format(f fmt.State, verb rune) {
	type config Config // the same fields, without this method
	cp := config(c)
	if c.APIKeys != nil {
		cp.APIKeys = make([]string, len(c.APIKeys))
		for i := range cp.APIKeys {
			cp.APIKeys[i] = redacted
		}
	}
	s := fmt.Sprintf(fmt.FormatString(f, verb), cp)
	if verb == 'v' && f.Flag('#') {
		s = strings.Replace(s, "llmproxy.config{", "llmproxy.Config{", 1)
	}
	_, _ = io.WriteString(f, s)
}

// LogValue logs the configuration as %+v prints it, without the client
// keys.
func (c Config) LogValue() slog.Value { return slog.StringValue(fmt.Sprintf("%+v", c)) }
