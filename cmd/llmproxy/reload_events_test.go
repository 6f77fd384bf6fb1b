package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// outcomeWait bounds the waits of these tests for something the watcher
// does. It is a timeout for a test that would otherwise hang, not a claim
// about speed: the outcome is usually there within a few debounces.
const outcomeWait = 30 * time.Second

// waitUntil calls cond every few milliseconds until it holds, and fails
// the test if it does not within outcomeWait.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(outcomeWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// watched is a proxy built from a config file, with watchConfig running on
// the file and its logs in logs.
type watched struct {
	p    *llmproxy.Proxy
	path string
	logs *lockedBuffer
	hup  chan os.Signal
}

// startWatched writes config (and .env when dotenv is not empty) to a
// fresh directory, builds a proxy from it and runs watchConfig on it until
// the test ends.
func startWatched(t *testing.T, config, dotenv string) *watched {
	t.Helper()
	dir := t.TempDir()
	w := &watched{path: filepath.Join(dir, "config.yaml"), logs: &lockedBuffer{}, hup: make(chan os.Signal, 1)}
	require.NoError(t, os.WriteFile(w.path, []byte(config), 0o600))
	if dotenv != "" {
		require.NoError(t, os.WriteFile(filepath.Join(dir, ".env"), []byte(dotenv), 0o600))
	}
	logger := slog.New(slog.NewJSONHandler(w.logs, nil))
	cfg, err := llmproxy.LoadConfig(w.path)
	require.NoError(t, err)
	w.p, err = llmproxy.New(cfg, llmproxy.WithLogger(logger))
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.p.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchConfig(ctx, w.p, w.path, w.hup, logger)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

// reloadsLogged counts the successful reloads logged so far, with or
// without a restart warning.
func (w *watched) reloadsLogged(t *testing.T) int {
	return len(w.logs.records(t, "config reloaded")) + len(w.logs.records(t, msgReloadedNeedsRestart))
}

// reloading is a proxy built from a config file, reloaded by the test
// itself through reloadConfig (what the watcher calls), with its logs in
// logs. No watcher runs: each reload is exactly one call.
type reloading struct {
	p       *llmproxy.Proxy
	path    string
	running llmproxy.Config
	logs    *lockedBuffer
	logger  *slog.Logger
}

// newReloading writes config to a fresh directory and builds a proxy from
// it, closed when the test ends.
func newReloading(t *testing.T, config string) *reloading {
	t.Helper()
	r := &reloading{path: filepath.Join(t.TempDir(), "config.yaml"), logs: &lockedBuffer{}}
	r.logger = slog.New(slog.NewJSONHandler(r.logs, nil))
	require.NoError(t, os.WriteFile(r.path, []byte(config), 0o600))
	cfg, err := llmproxy.LoadConfig(r.path)
	require.NoError(t, err)
	r.p, err = llmproxy.New(cfg, llmproxy.WithLogger(r.logger))
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.p.Close() })
	r.running = r.p.Config()
	return r
}

// reload writes config and reloads it as a SIGHUP would.
func (r *reloading) reload(t *testing.T, config string) {
	t.Helper()
	require.NoError(t, os.WriteFile(r.path, []byte(config), 0o600))
	reloadConfig(r.p, r.path, r.running, "SIGHUP", r.logger)
	require.Empty(t, r.logs.records(t, "config reload rejected; the previous configuration keeps serving"))
}

// active reports whether the provider named name is active in p.
func active(p *llmproxy.Proxy, name string) bool {
	for _, pi := range p.Providers() {
		if pi.Name == name {
			return pi.Active
		}
	}
	return false
}

// TestReloadOnDotenvRemoved checks that deleting .env reloads the
// configuration, so that the keys it held stop being used.
func TestReloadOnDotenvRemoved(t *testing.T) {
	const keyVar = "LLMPROXY_CMD_TEST_DOTENV_ONLY_KEY"
	_, inEnv := os.LookupEnv(keyVar)
	require.False(t, inEnv, "%s must come from .env only", keyVar)
	config := "host: 127.0.0.1\nproviders:\n" +
		"  - name: keyed\n    type: mock\n    models: [mock-1]\n    api_key_env: " + keyVar + "\n" +
		"  - name: keyless\n    type: mock\n    models: [mock-2]\n"
	w := startWatched(t, config, keyVar+"=sk-from-dotenv\n")
	require.True(t, active(w.p, "keyed"), "the key from .env enables the provider")

	// The watcher is ready once a write of the config file reloads it.
	waitUntil(t, "the watcher noticing writes", func() bool {
		require.NoError(t, os.WriteFile(w.path, []byte(config), 0o600))
		time.Sleep(3 * reloadDebounce)
		return w.reloadsLogged(t) > 0
	})
	require.True(t, active(w.p, "keyed"))

	require.NoError(t, os.Remove(filepath.Join(filepath.Dir(w.path), ".env")))
	waitUntil(t, "the reload after .env was deleted", func() bool { return !active(w.p, "keyed") })
	assert.True(t, active(w.p, "keyless"))
}

// TestReloadNeedsRestart checks that a reload changing the listener's
// settings says that they need a restart, naming them, instead of a plain
// "config reloaded", for as long as they differ from those the process
// started with.
func TestReloadNeedsRestart(t *testing.T) {
	providers := "providers:\n  - name: m\n    type: mock\n    models: [mock-1]\n"
	start := "host: 127.0.0.1\nport: 8001\n" + providers
	w := newReloading(t, start)

	moved := "host: 127.0.0.2\nport: 8002\ntls_cert_file: /etc/llmproxy/cert.pem\ntls_key_file: /etc/llmproxy/key.pem\n" + providers
	w.reload(t, moved)
	recs := w.logs.records(t, msgReloadedNeedsRestart)
	require.Len(t, recs, 1, "the reload that moved the listener")
	assert.Equal(t, "WARN", recs[0]["level"])
	assert.Equal(t, []any{"host", "port", "tls_cert_file", "tls_key_file"}, recs[0]["restart_needed"])
	assert.Empty(t, w.logs.records(t, "config reloaded"), "not a plain reload")
	assert.Equal(t, 8002, w.p.Config().Port, "the rest of the file is applied")

	// Still not what the process listens on: still a warning.
	w.reload(t, "port: 8002\nhost: 127.0.0.1\n"+providers)
	recs = w.logs.records(t, msgReloadedNeedsRestart)
	require.Len(t, recs, 2)
	assert.Equal(t, []any{"port"}, recs[1]["restart_needed"])

	// Back to the settings it started with: a plain reload.
	w.reload(t, start)
	assert.Len(t, w.logs.records(t, msgReloadedNeedsRestart), 2)
	assert.Len(t, w.logs.records(t, "config reloaded"), 1)
}

// TestReloadWarnsOpenProxy checks that a reload leaving a non-loopback
// listener without api_keys logs the open-proxy warning, and one with keys
// does not.
func TestReloadWarnsOpenProxy(t *testing.T) {
	providers := "providers:\n  - name: m\n    type: mock\n    models: [mock-1]\n"
	w := newReloading(t, "host: 0.0.0.0\napi_keys: [k1]\n"+providers)

	w.reload(t, "host: 0.0.0.0\napi_keys: [k1]\nport: 8000\n"+providers)
	assert.Empty(t, w.logs.records(t, msgOpenProxy), "auth on")

	w.reload(t, "host: 0.0.0.0\n"+providers)
	recs := w.logs.records(t, msgOpenProxy)
	require.Len(t, recs, 1, "auth switched off on 0.0.0.0")
	assert.Equal(t, "WARN", recs[0]["level"])
	assert.Equal(t, "0.0.0.0", recs[0]["host"])

	w.reload(t, "host: 0.0.0.0\n"+providers)
	assert.Len(t, w.logs.records(t, msgOpenProxy), 2, "at every reload")

	w.reload(t, "host: 0.0.0.0\napi_keys: [k2]\n"+providers)
	assert.Len(t, w.logs.records(t, msgOpenProxy), 2, "auth on again")
}

// TestRunStartWarnings checks the warnings logged at start: a
// non-loopback host without api_keys, and one line for the providers whose
// key variables are unset. The host is 192.0.2.1 (TEST-NET-1, RFC 5737),
// which no machine has, so run stops when it cannot listen, after the
// warnings, without opening any port.
func TestRunStartWarnings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte("host: 192.0.2.1\nport: 8000\nproviders:\n"+
		"  - name: a\n    type: mock\n    api_key_env: LLMPROXY_CMD_TEST_UNSET_A\n"+
		"  - name: b\n    type: mock\n    api_key_env: [LLMPROXY_CMD_TEST_UNSET_B, LLMPROXY_CMD_TEST_UNSET_B2]\n"+
		"  - name: m\n    type: mock\n"), 0o600))
	logs := &lockedBuffer{}
	err := run([]string{"--config", path}, logs)
	require.Error(t, err, "192.0.2.1 is not an address of this machine")

	recs := logs.records(t, msgOpenProxy)
	require.Len(t, recs, 1, "one warning at start")
	assert.Equal(t, "192.0.2.1", recs[0]["host"])

	recs = logs.records(t, "providers disabled: none of their API key variables is set")
	require.Len(t, recs, 1, "one line for every provider without a key")
	assert.Equal(t, []any{"a", "b"}, recs[0]["providers"])

}

// TestIsLoopbackHost checks which listen hosts count as this machine only.
func TestIsLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.0.0.2": true, "::1": true, "[::1]": true, "localhost": true, "LOCALHOST": true,
		"0.0.0.0": false, "::": false, "": false, "192.168.1.10": false, "proxy.example.com": false,
	} {
		assert.Equal(t, want, isLoopbackHost(host), host)
	}
}
