package main

import (
	"log/slog"
	"net/netip"
	"strings"

	"github.com/llmproxy/llmproxy"
)

// msgOpenProxy is the warning logged, at start and at every reload, while
// authentication is off and the proxy listens beyond this machine.
const msgOpenProxy = "AUTHENTICATION IS OFF and the proxy listens on a non-loopback address: " +
	"anyone who can reach it can spend your provider keys; set api_keys, or host: 127.0.0.1"

// msgReloadedNeedsRestart replaces "config reloaded" when the reloaded file
// changed settings that the running process read only at start.
const msgReloadedNeedsRestart = "config reloaded, but some changed settings take effect only after a restart"

// isLoopbackHost reports whether a listen host reaches this machine only:
// "localhost" or a loopback IP address. Other host names count as
// reachable from outside, since what they resolve to is not known here.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && addr.IsLoopback()
}

// warnIfOpen logs msgOpenProxy when the proxy listens on host, which is not
// a loopback address, and authentication is off (see Config.AuthEnabled).
func warnIfOpen(logger *slog.Logger, host string, authEnabled bool) {
	if !authEnabled && !isLoopbackHost(host) {
		logger.Warn(msgOpenProxy, "host", host)
	}
}

// startOnlySettings are the settings that the command reads only at start:
// the listener, the logger, the in-flight limit of the handler and the
// proxy's Redis connection. A reload that changes one of them takes effect
// for the rest of the configuration only.
var startOnlySettings = []struct {
	key     string
	changed func(running, next *llmproxy.Config) bool
}{
	{"host", func(a, b *llmproxy.Config) bool { return a.Host != b.Host }},
	{"port", func(a, b *llmproxy.Config) bool { return a.Port != b.Port }},
	{"tls_cert_file", func(a, b *llmproxy.Config) bool { return a.TLSCertFile != b.TLSCertFile }},
	{"tls_key_file", func(a, b *llmproxy.Config) bool { return a.TLSKeyFile != b.TLSKeyFile }},
	{"log_level", func(a, b *llmproxy.Config) bool { return !strings.EqualFold(a.LogLevel, b.LogLevel) }},
	{"log_file", func(a, b *llmproxy.Config) bool { return a.LogFile != b.LogFile }},
	{"debug", func(a, b *llmproxy.Config) bool { return a.Debug != b.Debug }},
	{"max_inflight", func(a, b *llmproxy.Config) bool { return a.MaxInflight != b.MaxInflight }},
	{"redis_url", func(a, b *llmproxy.Config) bool { return !a.RedisURL.Equal(b.RedisURL.Reveal()) }},
	{"redis_key_prefix", func(a, b *llmproxy.Config) bool { return a.RedisKeyPrefix != b.RedisKeyPrefix }},
	{"redis_fail_closed", func(a, b *llmproxy.Config) bool { return a.RedisFailClosed != b.RedisFailClosed }},
	{"otel_endpoint", func(a, b *llmproxy.Config) bool { return a.OTelEndpoint != b.OTelEndpoint }},
	{"otel_protocol", func(a, b *llmproxy.Config) bool { return a.OTelProtocol != b.OTelProtocol }},
}

// restartKeys returns the keys of the start-only settings (in the order of
// startOnlySettings) that differ between running, the configuration the
// process started with, and next.
func restartKeys(running, next llmproxy.Config) []string {
	var keys []string
	for _, s := range startOnlySettings {
		if s.changed(&running, &next) {
			keys = append(keys, s.key)
		}
	}
	return keys
}
