package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// The precomputed answer to a shed request is what writeError writes for
// errOverloaded, plus the request id.
func TestRefuseMatchesWriteError(t *testing.T) {
	want := httptest.NewRecorder()
	writeError(want, errOverloaded)

	p, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{{Name: "m", Type: "mock"}}})
	require.NoError(t, err)
	defer p.Close()
	s := &server{p: p}
	got := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	r.Header.Set("X-Request-ID", "trace-1")
	s.refuse(got, r)

	assert.Equal(t, want.Code, got.Code)
	assert.Equal(t, want.Body.String(), got.Body.String())
	h := got.Header().Clone()
	assert.Equal(t, "trace-1", h.Get("X-Request-ID"))
	h.Del("X-Request-ID")
	h.Del("Content-Length")
	assert.Equal(t, want.Header(), h)
	assert.Equal(t, "1", got.Header().Get("Retry-After"))
}

// The context that observe makes answers info and llmproxy.RequestID, and
// passes cancellation and other values through.
func TestObserveContext(t *testing.T) {
	type otherKey struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), otherKey{}, "v"))
	s := &server{log: slog.New(slog.DiscardHandler)}
	var c context.Context
	h := s.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c = r.Context()
	}))
	r := httptest.NewRequestWithContext(parent, http.MethodGet, "/", nil)
	r.Header.Set("X-Request-ID", "id-1")
	h.ServeHTTP(httptest.NewRecorder(), r)
	require.NotNil(t, c)
	ri := info(c)
	assert.Equal(t, "id-1", ri.id)
	assert.Same(t, ri, info(c), "one record per request")
	assert.Equal(t, "id-1", llmproxy.RequestID(c))
	assert.Equal(t, "v", c.Value(otherKey{}))
	child, stop := context.WithTimeout(c, time.Hour)
	defer stop()
	assert.Same(t, ri, info(child), "through derived contexts")
	cancel()
	select {
	case <-child.Done():
	case <-time.After(time.Minute):
		t.Fatal("cancellation did not pass through")
	}
	assert.NotNil(t, info(context.Background()), "outside the middleware: a throwaway record")
}

// Only accepted keys enter the key id cache, and it stays bounded.
func TestKeyIDCache(t *testing.T) {
	p, err := llmproxy.New(llmproxy.Config{
		APIKeys:   []string{"sk-good-1", "sk-good-2"},
		Providers: []llmproxy.ProviderConfig{{Name: "m", Type: "mock"}},
	})
	require.NoError(t, err)
	defer p.Close()
	s := &server{p: p, log: slog.New(slog.DiscardHandler)}
	var seen []string
	h := s.observe(s.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, info(r.Context()).keyID)
	})))
	call := func(key string) int {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-API-Key", key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	entries := func() int {
		n := 0
		s.keyIDs.ids.Range(func(any, any) bool { n++; return true })
		return n
	}
	for i := range 100 {
		assert.Equal(t, http.StatusUnauthorized, call("sk-made-up-"+strings.Repeat("x", i)))
	}
	assert.Zero(t, entries(), "refused keys are not cached")
	for range 3 {
		assert.Equal(t, http.StatusOK, call("sk-good-1"))
		assert.Equal(t, http.StatusOK, call("sk-good-2"))
	}
	assert.Equal(t, 2, entries())
	assert.Equal(t, []string{keyID("sk-good-1"), keyID("sk-good-2")}, seen[:2])
	for i := 0; i < len(seen); i += 2 {
		assert.Equal(t, seen[:2], seen[i:i+2])
	}

	// However many keys pass (configurations come and go), it starts over
	// past its bound.
	var c keyIDCache
	for i := range 3 * minKeyIDCache {
		k := "k" + strings.Repeat("-", i%7) + string(rune('a'+i%26)) + strings.Repeat("z", i/26)
		require.Equal(t, keyID(k), c.get(k, 2))
	}
	n := 0
	c.ids.Range(func(any, any) bool { n++; return true })
	assert.LessOrEqual(t, n, minKeyIDCache)
	assert.Equal(t, keyID("again"), c.get("again", 2))
	assert.Equal(t, keyID("again"), c.get("again", 2))
}

// A logger that does not take Info records costs the access log nothing.
func TestAccessLogDisabled(t *testing.T) {
	var buf bytes.Buffer
	s := &server{log: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	ctx := context.Background()
	ri := &requestInfo{}
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	start := time.Now()
	allocs := testing.AllocsPerRun(100, func() { s.accessLog(ctx, r, ri, 200, start) })
	assert.Zero(t, allocs)
	assert.Zero(t, buf.Len())

	// Enabled: the line has the fields of every kind of request.
	s.log = slog.New(slog.NewJSONHandler(&buf, nil))
	*ri = requestInfo{id: "r1", keyID: "key_1", model: "m", provider: "p", attempts: 2, errKind: "timeout",
		usage: &llmproxy.Usage{PromptTokens: 3, CompletionTokens: 4}, stream: true, ttft: 0.0123456}
	s.accessLog(ctx, r, ri, 504, start)
	for _, want := range []string{`"msg":"request"`, `"request_id":"r1"`, `"method":"POST"`, `"path":"/v1/chat/completions"`,
		`"status":504`, `"latency_ms":`, `"key_id":"key_1"`, `"model":"m"`, `"provider":"p"`, `"attempts":2`,
		`"error_kind":"timeout"`, `"ttft_ms":12.346`, `"prompt_tokens":3`, `"completion_tokens":4`, `"total_tokens":7`} {
		assert.Contains(t, buf.String(), want)
	}
}

// The access log goes through the logger, so a handler that adds the
// source gets it.
func TestAccessLogSource(t *testing.T) {
	var buf bytes.Buffer
	s := &server{log: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{AddSource: true}))}
	r := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
	s.accessLog(context.Background(), r, &requestInfo{id: "r1"}, 200, time.Now())
	assert.Contains(t, buf.String(), `"source":{"function":"github.com/llmproxy/llmproxy/server.(*server).accessLog"`)
}

// Request ids look as before and are unique across goroutines.
func TestNewRequestID(t *testing.T) {
	const perG, gs = 2000, 8
	ids := make([][]string, gs)
	var wg sync.WaitGroup
	for g := range gs {
		wg.Go(func() {
			for range perG {
				ids[g] = append(ids[g], llmproxy.NewRequestID())
			}
		})
	}
	wg.Wait()
	format := regexp.MustCompile(`^req_[0-9a-f]{24}$`)
	seen := map[string]bool{}
	for _, l := range ids {
		for _, id := range l {
			require.Regexp(t, format, id)
			require.False(t, seen[id], "duplicate id %s", id)
			seen[id] = true
		}
	}
	assert.Len(t, seen, perG*gs)
}

// TestCanonicalName checks that the cached canonical form of the key
// header follows the configured name when a reload changes it.
func TestCanonicalName(t *testing.T) {
	var c canonicalName
	for _, tc := range []struct{ name, want string }{
		{"X-API-Key", "X-Api-Key"},
		{"X-API-Key", "X-Api-Key"},
		{"x-custom-key", "X-Custom-Key"},
		{"X-API-Key", "X-Api-Key"},
	} {
		if got := c.canonical(tc.name); got != tc.want {
			t.Errorf("canonical(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// The access log line of a request with every field: its keys in their
// order, and the value of each with its JSON type, as a log shipper
// decoding the line sees them.
func TestAccessLogLine(t *testing.T) {
	var buf bytes.Buffer
	s := &server{log: slog.New(slog.NewJSONHandler(&buf, nil))}
	cost := 0.00042
	ri := &requestInfo{id: "r1", keyID: "key_1", key: "team-a", model: "m", provider: "p", attempts: 2,
		errKind: "timeout", usage: &llmproxy.Usage{PromptTokens: 3, CompletionTokens: 4}, stream: true,
		ttft: 0.0123456, cost: &cost}
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	before := time.Now()
	s.accessLog(context.Background(), r, ri, 504, before.Add(-1500*time.Microsecond))
	s.accessLog(context.Background(), r, &requestInfo{id: "r2"}, 200, before)

	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, lines, 2)
	type member struct {
		key string
		val any
	}
	decode := func(line string) []member {
		d := json.NewDecoder(strings.NewReader(line))
		d.UseNumber()
		tok, err := d.Token()
		require.NoError(t, err)
		require.Equal(t, json.Delim('{'), tok)
		var ms []member
		for d.More() {
			k, err := d.Token()
			require.NoError(t, err)
			var v any
			require.NoError(t, d.Decode(&v))
			ms = append(ms, member{k.(string), v})
		}
		return ms
	}
	got := decode(lines[0])
	keys := make([]string, len(got))
	for i, m := range got {
		keys[i] = m.key
	}
	assert.Equal(t, []string{"time", "level", "msg", "request_id", "method", "path", "status", "latency_ms",
		"key_id", "key", "model", "provider", "attempts", "error_kind", "ttft_ms",
		"prompt_tokens", "completion_tokens", "total_tokens", "cost_usd"}, keys)
	vals := map[string]any{}
	for _, m := range got {
		vals[m.key] = m.val
	}
	ts, err := time.Parse(time.RFC3339Nano, vals["time"].(string))
	require.NoError(t, err)
	assert.False(t, ts.Before(before.Truncate(time.Millisecond)), "the line's time is when it was written")
	latency, err := vals["latency_ms"].(json.Number).Float64()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, latency, 1.5)
	assert.Equal(t, map[string]any{
		"level": "INFO", "msg": "request", "request_id": "r1", "method": "POST", "path": "/v1/chat/completions",
		"status": json.Number("504"), "key_id": "key_1", "key": "team-a", "model": "m", "provider": "p",
		"attempts": json.Number("2"), "error_kind": "timeout", "ttft_ms": json.Number("12.346"),
		"prompt_tokens": json.Number("3"), "completion_tokens": json.Number("4"), "total_tokens": json.Number("7"),
		"cost_usd": json.Number("0.00042"),
	}, func() map[string]any { delete(vals, "time"); delete(vals, "latency_ms"); return vals }())

	// A request that learnt nothing has the five fields every line has.
	keys = keys[:0]
	for _, m := range decode(lines[1]) {
		keys = append(keys, m.key)
	}
	assert.Equal(t, []string{"time", "level", "msg", "request_id", "method", "path", "status", "latency_ms"}, keys)
}
