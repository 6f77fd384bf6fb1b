package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/server"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// reloadWait is how long a test waits for a written configuration to take
// effect (the watcher's debounce and the reload itself) before it fails.
// It is far longer than that takes even on a busy machine: the tests time
// nothing, they wait for outcomes, in order.
const reloadWait = time.Minute

// lockedBuffer is a bytes.Buffer safe for a logger's writes and a test's
// reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the decoded log records with message msg.
func (b *lockedBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	text := b.buf.String()
	b.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(text, "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "log line %q", line)
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// poll calls cond, in the test's goroutine, every tick until it holds,
// and fails the test if it still does not after timeout.
func poll(t *testing.T, timeout, tick time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(tick)
	}
}

// prov is one mock provider of a configuration: its name and priority.
type prov struct {
	name     string
	priority int
}

// configYAML is a configuration file of mock providers serving mock-1,
// with the client limits off (the load would hit them) and extra appended
// at the top level.
func configYAML(provs []prov, extra string) string {
	var b strings.Builder
	b.WriteString("host: 127.0.0.1\nrate_limit_chat_rpm: 0\nrate_limit_completions_rpm: 0\nrate_limit_embeddings_rpm: 0\n")
	b.WriteString(extra)
	b.WriteString("providers:\n")
	for _, p := range provs {
		fmt.Fprintf(&b, "  - name: %s\n    type: mock\n    models: [mock-1]\n    priority: %d\n", p.name, p.priority)
	}
	return b.String()
}

// preferred is the provider of provs with the lowest priority.
func preferred(provs []prov) string {
	return slices.MinFunc(provs, func(a, b prov) int { return a.priority - b.priority }).name
}

// writeConfig writes the file in place or, with replace, as editors do:
// a new file renamed over the old one.
func writeConfig(t *testing.T, path, content string, replace bool) {
	t.Helper()
	if !replace {
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		return
	}
	tmp := filepath.Join(filepath.Dir(path), ".config.yaml.swp")
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// client talks to the proxy under test.
type client struct {
	base string
	http *http.Client
}

// ask sends a chat request for mock-1, streamed or not, and returns the
// provider that answered. A status other than 200, an incomplete answer
// or a stream that does not end with [DONE] is an error.
func (c *client) ask(ctx context.Context, stream bool, msg string) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"model": "mock-1", "stream": stream,
		"messages": []map[string]any{{"role": "user", "content": msg}},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	want := "Mock response to: " + msg
	type info struct {
		Provider string `json:"provider"`
	}
	if !stream {
		var v struct {
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
			ProxyInfo *info `json:"_proxy_info"`
		}
		if err := json.Unmarshal(b, &v); err != nil || len(v.Choices) == 0 || v.ProxyInfo == nil {
			return "", fmt.Errorf("bad answer %s (%v)", b, err)
		}
		if got := v.Choices[0].Message.Content; got != want {
			return v.ProxyInfo.Provider, fmt.Errorf("answer %q, want %q", got, want)
		}
		return v.ProxyInfo.Provider, nil
	}
	if !strings.HasSuffix(string(b), "data: [DONE]\n\n") {
		return "", fmt.Errorf("the stream does not end with [DONE]: %s", b)
	}
	var text strings.Builder
	provider := ""
	for line := range strings.SplitSeq(string(b), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content *string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Error     json.RawMessage `json:"error"`
			ProxyInfo *info           `json:"_proxy_info"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			return "", fmt.Errorf("bad frame %q: %w", data, err)
		}
		if chunk.Error != nil {
			return "", fmt.Errorf("error frame %s", data)
		}
		for _, ch := range chunk.Choices {
			if ch.Delta.Content != nil {
				text.WriteString(*ch.Delta.Content)
			}
		}
		if chunk.ProxyInfo != nil {
			provider = chunk.ProxyInfo.Provider
		}
	}
	if provider == "" || provider != resp.Header.Get("X-LLMProxy-Provider") {
		return provider, fmt.Errorf("stream provider %q, header %q", provider, resp.Header.Get("X-LLMProxy-Provider"))
	}
	if text.String() != want {
		return provider, fmt.Errorf("streamed %q, want %q", text.String(), want)
	}
	return provider, nil
}

// reloads returns llmproxy_config_reloads_total{result=result} from
// /metrics, 0 when the series does not exist yet.
func (c *client) reloads(t *testing.T, result string) int {
	t.Helper()
	resp, err := c.http.Get(c.base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	prefix := `llmproxy_config_reloads_total{result="` + result + `"} `
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			n, err := strconv.Atoi(v)
			require.NoError(t, err, line)
			return n
		}
	}
	return 0
}

// TestHotReloadUnderLoad runs the binary's pieces (LoadConfig, New,
// server.Handler on a real listener, watchConfig on the file) and rewrites
// the config file 20 times under continuous mixed load: providers added,
// removed, reprioritised, one invalid write. No request may fail; each
// valid write takes effect, in order, while the load runs (load requests
// are answered between each write and the next); the invalid one leaves
// the routing as it was, logs one line and counts as rejected.
func TestHotReloadUnderLoad(t *testing.T) {
	steps := [][]prov{
		{{"alpha", 1}, {"beta", 2}},               // initial
		{{"alpha", 2}, {"beta", 1}},               // reprioritise
		{{"alpha", 2}, {"beta", 1}, {"gamma", 3}}, // add
		{{"alpha", 2}, {"beta", 3}, {"gamma", 1}},
		{{"alpha", 1}, {"gamma", 2}}, // remove
		{{"alpha", 2}, {"gamma", 1}, {"delta", 3}},
		{{"delta", 1}, {"gamma", 2}},
		nil, // invalid: an unknown key
		{{"delta", 2}, {"gamma", 1}},
		{{"alpha", 1}, {"delta", 2}, {"gamma", 3}},
		{{"alpha", 3}, {"beta", 1}, {"delta", 2}},
		{{"beta", 2}, {"delta", 1}},
		{{"beta", 1}},
		{{"beta", 1}, {"gamma", 2}},
		{{"gamma", 1}, {"alpha", 2}, {"beta", 3}, {"delta", 4}},
		{{"alpha", 1}, {"beta", 2}, {"delta", 3}},
		{{"alpha", 2}, {"beta", 1}},
		{{"beta", 2}, {"delta", 1}},
		{{"delta", 2}, {"gamma", 1}},
		{{"gamma", 2}, {"alpha", 1}},
		{{"gamma", 2}, {"alpha", 1}, {"beta", 3}},
	}
	require.Len(t, steps, 21, "the initial configuration and 20 writes")

	path := filepath.Join(t.TempDir(), "config.yaml")
	writeConfig(t, path, configYAML(steps[0], ""), false)
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	cfg, err := llmproxy.LoadConfig(path)
	require.NoError(t, err)
	p, err := llmproxy.New(cfg, llmproxy.WithLogger(logger))
	require.NoError(t, err)
	defer p.Close()

	h := server.Handler(p, server.Options{Logger: slog.New(slog.DiscardHandler)})
	defer h.(io.Closer).Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := server.NewHTTPServer(ln.Addr().String(), h)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, srv.Shutdown(sctx))
		assert.ErrorIs(t, <-served, http.ErrServerClosed)
	}()

	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	// The client's timeout only keeps a hung request from hanging the test.
	c := &client{base: "http://" + ln.Addr().String(), http: &http.Client{Transport: tr, Timeout: reloadWait}}

	watchCtx, stopWatch := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		watchConfig(watchCtx, p, path, hup, logger)
	}()
	defer func() { stopWatch(); <-watched }()
	// The watcher is ready once a write reloads: rewrite the initial file
	// until one does.
	poll(t, reloadWait, 3*reloadDebounce, "the watcher noticing writes", func() bool {
		writeConfig(t, path, configYAML(steps[0], ""), false)
		time.Sleep(3 * reloadDebounce)
		return c.reloads(t, "ok") > 0
	})

	// The load: streamed and plain requests without pause.
	loadCtx, stopLoad := context.WithCancel(context.Background())
	var (
		wg       sync.WaitGroup
		sent     atomic.Int64
		mu       sync.Mutex
		failures []string
	)
	for g := range 6 {
		wg.Go(func() {
			for i := 0; loadCtx.Err() == nil; i++ {
				stream := (g+i)%2 == 0
				_, err := c.ask(context.Background(), stream, fmt.Sprintf("load %d-%d", g, i))
				sent.Add(1)
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("load %d-%d (stream %v): %v", g, i, stream, err))
					mu.Unlock()
				}
			}
		})
	}
	defer func() { stopLoad(); wg.Wait() }()

	// waitFor polls until a fresh request, streamed and plain, is answered
	// by want, the reload counter of result has reached n, and the load
	// has had a request answered since the write (sent passed loadMark), so
	// that every reload happens under load.
	var loadMark int64
	waitFor := func(step int, want, result string, n int) {
		t.Helper()
		deadline := time.Now().Add(reloadWait)
		var got [2]string
		var count int
		for {
			count = c.reloads(t, result)
			var err error
			got[0], err = c.ask(t.Context(), false, "probe "+strconv.Itoa(step))
			require.NoError(t, err)
			got[1], err = c.ask(t.Context(), true, "probe "+strconv.Itoa(step))
			require.NoError(t, err)
			if count >= n && got[0] == want && got[1] == want && sent.Load() > loadMark {
				return
			}
			if time.Now().After(deadline) {
				require.Failf(t, "the configuration did not take effect",
					"write %d: answered by %v, want %s; %s reloads %d, want %d; load requests %d, %d before the write",
					step, got, want, result, count, n, sent.Load(), loadMark)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	okReloads := c.reloads(t, "ok")
	waitFor(0, preferred(steps[0]), "ok", okReloads)
	prev := steps[0]
	for i, step := range steps[1:] {
		n := i + 1
		loadMark = sent.Load()
		if step == nil {
			writeConfig(t, path, configYAML(prev, "no_such_key: true\n"), n%2 == 0)
			waitFor(n, preferred(prev), "rejected", 1)
			// The previous routing goes on, well past the debounce.
			time.Sleep(3 * reloadDebounce)
			waitFor(n, preferred(prev), "rejected", 1)
			assert.Equal(t, 1, c.reloads(t, "rejected"))
			assert.Equal(t, okReloads, c.reloads(t, "ok"), "nothing else reloaded")
			recs := logs.records(t, "config reload rejected; the previous configuration keeps serving")
			require.Len(t, recs, 1, "one log line for the invalid write")
			assert.Equal(t, "ERROR", recs[0]["level"])
			assert.Equal(t, "file change", recs[0]["trigger"])
			assert.Contains(t, recs[0]["error"], "no_such_key")
			continue
		}
		writeConfig(t, path, configYAML(step, ""), n%2 == 0)
		okReloads++
		waitFor(n, preferred(step), "ok", okReloads)
		prev = step
	}

	// SIGHUP reloads the file too, unchanged here.
	loadMark = sent.Load()
	hup <- syscall.SIGHUP
	okReloads++
	waitFor(len(steps), preferred(prev), "ok", okReloads)

	stopLoad()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, failures, "failed requests under reloads")
	assert.GreaterOrEqual(t, sent.Load(), int64(len(steps)), "the load ran through every reload")
	assert.Equal(t, 1, c.reloads(t, "rejected"))
	assert.Equal(t, okReloads, c.reloads(t, "ok"), "one reload per write")
	assert.Len(t, logs.records(t, "config reloaded"), okReloads)
	t.Logf("%d requests during %d reloads and one rejected write", sent.Load(), okReloads)
}

// TestWatchConfigUnwatchable checks that a config path whose directory
// cannot be watched still reloads on SIGHUP, with a warning.
func TestWatchConfigUnwatchable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	writeConfig(t, path, configYAML([]prov{{"alpha", 1}}, ""), false)
	cfg, err := llmproxy.LoadConfig(path)
	require.NoError(t, err)
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	p, err := llmproxy.New(cfg, llmproxy.WithLogger(logger))
	require.NoError(t, err)
	defer p.Close()

	missing := filepath.Join(dir, "nowhere", "config.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchConfig(ctx, p, missing, hup, logger)
	}()
	defer func() { cancel(); <-done }()

	poll(t, reloadWait, 5*time.Millisecond, "the warning", func() bool {
		return len(logs.records(t, "config file is not watched; SIGHUP still reloads it")) == 1
	})
	hup <- syscall.SIGHUP
	poll(t, reloadWait, 5*time.Millisecond, "the missing file rejected", func() bool {
		return len(logs.records(t, "config reload rejected; the previous configuration keeps serving")) == 1
	})
	recs := logs.records(t, "config reload rejected; the previous configuration keeps serving")
	assert.Equal(t, "SIGHUP", recs[0]["trigger"])
	assert.Equal(t, "alpha", p.Config().Providers[0].Name)
}
