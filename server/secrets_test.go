package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/secrettest"
	_ "github.com/llmproxy/llmproxy/providers/anthropic"
	"github.com/llmproxy/llmproxy/server"
)

// The keys of TestNoSecretLeaks. Each is long and unique enough that
// finding it anywhere is a leak.
var (
	secretClientKeys = []string{"sk-client-SECRET-a7f3e9d1c5b2", "sk-client-SECRET-4b8e2f6a0d9c"}
	secretOpenAIKey  = "sk-proj-upstream-SECRET-1e5c9a3f7b2d"
	secretMockKey    = "sk-mock-SECRET-6d0a4e8c2f1b"
	secretAnthKey    = "sk-ant-api03-SECRET-9f2b7d5e1a3c"
)

func secretKeys() []string {
	return append([]string{secretOpenAIKey, secretMockKey, secretAnthKey}, secretClientKeys...)
}

// secretUpstream is an OpenAI-format upstream that echoes its key in every
// error it can: by model, "up-ok" answers (streamed or not), "up-401"
// refuses the key and quotes it whole (as some OpenAI-compatible servers
// do), "up-500" fails quoting it in its message and a header,
// "up-midstream" streams a token and then an error frame quoting it,
// "up-meta" fails as OpenRouter does, quoting it in the error's metadata
// (plain, JSON-escaped, and in metadata.raw, a JSON document in a string).
func secretUpstream(t *testing.T) *hardUpstream {
	return newHardUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/models") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"object":"list","data":[{"id":"up-ok","object":"model","created":1,"owned_by":"up"}]}`)
			return
		}
		var req struct {
			Model  string `json:"model"`
			Stream bool   `json:"stream"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &req)
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case got != secretOpenAIKey:
			answerError(401, "invalid_request_error", "invalid_api_key", "", "no key: "+got)(w, r)
		case req.Model == "up-401":
			answerError(401, "invalid_request_error", "invalid_api_key", got,
				"Incorrect API key provided: "+got+". You can find your API key at https://platform.openai.com/account/api-keys.",
				"WWW-Authenticate", `Bearer realm="api", error="invalid_token", key="`+got+`"`)(w, r)
		case req.Model == "up-500":
			answerError(500, "server_error", got, "", "internal error while serving key "+got, "X-Debug-Key", got)(w, r)
		case req.Model == "up-meta":
			esc := secrettest.Forms(got)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"code":401,"message":"Provider returned error","metadata":{"provider_name":"OpenAI","key":"`+
				got+`","escaped":"`+esc[1]+`","raw":"{\"error\":{\"message\":\"Incorrect API key provided: `+esc[2]+`\"}}"}}}`)
		case req.Model == "up-midstream":
			strmWriteSSE(w, strmFrames(strmChunk(strmRoleDelta, ""), strmChunk(strmText("Hello"), ""),
				`{"error":{"message":"key `+got+` was revoked mid-stream","type":"server_error","param":null,"code":"`+got+`"}}`)...)
		case req.Stream:
			strmWriteSSE(w, strmGoodChat()...)
		default:
			answerOK("up")(w, r)
		}
	})
}

// deadURL returns a URL nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr
}

// TestNoSecretLeaks runs the whole server with known client and upstream
// keys through successes, client mistakes, upstream failures that quote
// the key, streams and the operational endpoints, and fails if any key
// appears in a log line, a response header or body (errors, /providers,
// /metrics, /v1/models, /health), or in the printed configuration.
func TestNoSecretLeaks(t *testing.T) {
	up := secretUpstream(t)
	cfg := llmproxy.Config{
		APIKeys:                 secretClientKeys,
		CircuitBreakerThreshold: 1000, // keep every provider in play
		Providers: []llmproxy.ProviderConfig{
			{Name: "openai-up", Type: "openai", BaseURL: up.URL + "/v1", APIKey: llmproxy.Secret(secretOpenAIKey),
				Models: []string{"up-*"}, Timeout: 5 * time.Second},
			{Name: "mock-keyed", Type: "mock", APIKey: llmproxy.Secret(secretMockKey), Models: []string{"mock-1", "mock-embed"}},
			{Name: "anthropic-dead", Type: "anthropic", BaseURL: deadURL(t), APIKey: llmproxy.Secret(secretAnthKey),
				Models: []string{"claude-*"}, Timeout: 2 * time.Second},
		},
	}
	cfgCopy := cfg
	ts := startServer(t, cfg, server.Options{})
	keyA, keyB := secretClientKeys[0], secretClientKeys[1]

	var seen bytes.Buffer // every answer, headers and body
	record := func(name string, r reply) reply {
		fmt.Fprintf(&seen, "== %s: %d\n", name, r.status)
		names := make([]string, 0, len(r.header))
		for k := range r.header {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Fprintf(&seen, "%s: %s\n", k, strings.Join(r.header[k], ", "))
		}
		seen.Write(r.body)
		seen.WriteString("\n")
		return r
	}
	chat := func(model string) string { return chatBody(model, "hello") }
	stream := func(model string) string {
		return `{"model":"` + model + `","messages":[{"role":"user","content":"hello"}],"stream":true}`
	}
	post := func(name, path, body string, header ...string) reply {
		h := append([]string{"Content-Type", "application/json"}, header...)
		return record(name, do(t, ts.Server, http.MethodPost, path, body, h...))
	}
	asKey := func(k string) []string { return []string{"X-API-Key", k} }
	bearer := func(k string) []string { return []string{"Authorization", "Bearer " + k} }

	tests := []struct {
		name   string
		path   string
		body   string
		header []string
		status int
	}{
		{"chat", "/v1/chat/completions", chat("up-ok"), asKey(keyA), 200},
		{"chat bearer", "/v1/chat/completions", chat("up-ok"), bearer(keyB), 200},
		{"stream", "/v1/chat/completions", stream("up-ok"), bearer(keyA), 200},
		{"mock", "/v1/chat/completions", chat("mock-1"), asKey(keyB), 200},
		{"mock stream", "/v1/chat/completions", stream("mock-1"), asKey(keyB), 200},
		{"embeddings", "/v1/embeddings", `{"model":"mock-embed","input":"hi"}`, asKey(keyA), 200},
		{"wrong key", "/v1/chat/completions", chat("up-ok"), asKey(keyA + "x"), 401},
		{"wrong key, a prefix", "/v1/chat/completions", chat("up-ok"), bearer(keyB[:len(keyB)-1]), 401},
		{"an upstream key as client key", "/v1/chat/completions", chat("up-ok"), bearer(secretOpenAIKey), 401},
		{"no key", "/v1/chat/completions", chat("up-ok"), nil, 401},
		{"unknown model", "/v1/chat/completions", chat("nope"), asKey(keyA), 404},
		{"invalid JSON", "/v1/chat/completions", `{"model":`, asKey(keyA), 400},
		{"upstream 401", "/v1/chat/completions", chat("up-401"), asKey(keyA), 502},
		{"upstream 500", "/v1/chat/completions", chat("up-500"), asKey(keyA), 500},
		{"upstream 401 with metadata", "/v1/chat/completions", chat("up-meta"), asKey(keyA), 502},
		{"upstream 401 with metadata streamed", "/v1/chat/completions", stream("up-meta"), asKey(keyA), 502},
		{"upstream 401 streamed", "/v1/chat/completions", stream("up-401"), asKey(keyA), 502},
		{"upstream error mid-stream", "/v1/chat/completions", stream("up-midstream"), asKey(keyA), 200},
		{"dead upstream", "/v1/chat/completions", chat("claude-sonnet"), asKey(keyB), 502},
		{"dead upstream streamed", "/v1/chat/completions", stream("claude-sonnet"), asKey(keyB), 502},
	}
	for _, tc := range tests {
		r := post(tc.name, tc.path, tc.body, tc.header...)
		assert.Equal(t, tc.status, r.status, "%s: %s", tc.name, r.body)
	}
	// The upstream's echo of its key reached the adapter, which redacted it.
	assert.Contains(t, seen.String(), "Incorrect API key provided: [redacted]")

	for _, path := range []string{"/v1/models", "/providers", "/metrics"} {
		r := record(path, get(t, ts.Server, path, "X-API-Key", keyA))
		assert.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.body)
		r = record(path+" without key", do(t, ts.Server, http.MethodGet, path, ""))
		assert.Equal(t, http.StatusUnauthorized, r.status, "%s: %s", path, r.body)
	}
	r := record("/health", do(t, ts.Server, http.MethodGet, "/health", ""))
	assert.Contains(t, []int{200, 503}, r.status)

	// /providers says which keys are set, not what they are.
	var prov struct {
		Providers []struct {
			Name      string `json:"name"`
			APIKeySet bool   `json:"api_key_set"`
		} `json:"providers"`
	}
	require.NoError(t, json.Unmarshal(get(t, ts.Server, "/providers", "X-API-Key", keyA).body, &prov))
	require.Len(t, prov.Providers, 3)
	for _, p := range prov.Providers {
		assert.True(t, p.APIKeySet, p.Name)
	}

	// The Go API's errors, however printed.
	var printed bytes.Buffer
	for _, model := range []string{"up-401", "up-500", "up-meta", "claude-sonnet"} {
		req, err := llmproxy.ParseChatRequest([]byte(chat(model)))
		require.NoError(t, err)
		_, err = ts.proxy.ChatCompletion(t.Context(), req)
		require.Error(t, err, model)
		fmt.Fprintf(&printed, "%v\n%+v\n%#v\n%s\n", err, err, err, err)
		for e := err; e != nil; e = unwrap(e) {
			fmt.Fprintf(&printed, "%v\n%#v\n", e, e)
		}
		env, _ := json.Marshal(llmproxy.AsError(err).Envelope())
		printed.Write(env)
		secrettest.AssertNoKey(t, secretOpenAIKey, err, string(env))
	}

	// The configuration, however printed or logged.
	for _, c := range []llmproxy.Config{cfgCopy, ts.proxy.Config()} {
		fmt.Fprintf(&printed, "%v\n%+v\n%#v\n%s\n", c, c, c, c)
		fmt.Fprintf(&printed, "%v\n%+v\n%#v\n", &c, &c, &c)
		for _, pc := range c.Providers {
			fmt.Fprintf(&printed, "%v\n%+v\n%#v\n%s\n", pc, pc, pc, pc.APIKey)
		}
		slog.New(slog.NewJSONHandler(&printed, nil)).Info("config", "cfg", c, "provider", c.Providers[0])
		slog.New(slog.NewTextHandler(&printed, nil)).Info("config", "cfg", c, "provider", c.Providers[0])
	}
	assert.Contains(t, printed.String(), "[redacted]")

	// A last request, whose access log line is awaited, so that the log is
	// read whole.
	r = record("last", get(t, ts.Server, "/v1/models", "X-API-Key", keyB, "X-Request-ID", "secrets-last"))
	require.Equal(t, http.StatusOK, r.status)
	require.Len(t, ts.logs.waitRecord(t, "request", "secrets-last"), 1)
	logs := ts.logs.String()
	all := map[string]string{"answers": seen.String(), "logs": logs, "printed": printed.String()}
	for where, text := range all {
		for _, k := range append(secretKeys(), secrettest.Forms(secretOpenAIKey)[1:]...) {
			if i := strings.Index(text, k); i >= 0 {
				lo, hi := max(0, i-200), min(len(text), i+len(k)+200)
				t.Errorf("the key %s… leaks in the %s:\n…%s…", k[:12], where, text[lo:hi])
			}
		}
	}

	// The keys were really in use: the upstream got its own.
	assert.Positive(t, up.hits.Load())
}

func unwrap(err error) error {
	u, ok := err.(interface{ Unwrap() error })
	if !ok {
		return nil
	}
	return u.Unwrap()
}
