package server_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/server"
)

// gateProviderType is a provider type whose chat answers wait until the
// test opens the gate of the provider's name, so that a test can hold
// requests in flight.
const gateProviderType = "test-inflight-gate"

// gates maps a provider name to its gate.
var gates sync.Map // string -> *gate

// gate holds requests until it is opened and counts those it holds.
type gate struct {
	open    chan struct{}
	arrived chan struct{}
}

func newGate(t *testing.T, name string) *gate {
	t.Helper()
	g := &gate{open: make(chan struct{}), arrived: make(chan struct{}, 64)}
	gates.Store(name, g)
	t.Cleanup(func() { gates.Delete(name) })
	return g
}

// waitArrived waits until n requests are held by the gate.
func (g *gate) waitArrived(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-g.arrived:
		case <-time.After(time.Minute):
			t.Fatal("requests did not reach the provider")
		}
	}
}

func init() {
	llmproxy.RegisterProviderType(gateProviderType, func(cfg llmproxy.ProviderConfig) (llmproxy.Provider, error) {
		return gateProvider{name: cfg.Name}, nil
	})
}

type gateProvider struct{ name string }

func (p gateProvider) Name() string { return p.name }

func (p gateProvider) ChatCompletion(ctx context.Context, req *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error) {
	v, ok := gates.Load(p.name)
	if ok {
		g := v.(*gate)
		g.arrived <- struct{}{}
		select {
		case <-g.open:
		case <-ctx.Done():
			return nil, llmproxy.TransportError(ctx, p.name, ctx.Err())
		}
	}
	return &llmproxy.ChatResponse{
		ID: "chatcmpl-gate", Object: "chat.completion", Model: req.Model,
		Choices: []llmproxy.Choice{{Message: llmproxy.Message{Role: "assistant", Content: llmproxy.Text("ok")}, FinishReason: "stop"}},
	}, nil
}

// gateConfig is a proxy with client auth and one gate provider.
func gateConfig(name string, maxInflight int) llmproxy.Config {
	return llmproxy.Config{
		APIKeys:     []string{clientKey},
		MaxInflight: maxInflight,
		Providers:   []llmproxy.ProviderConfig{{Name: name, Type: gateProviderType}},
	}
}

// holdRequests starts n chat requests that the gate holds and returns a
// function that waits for their answers' statuses.
func holdRequests(t *testing.T, srv *testServer, g *gate, n int) func() []int {
	t.Helper()
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { statuses[i] = postStatus(srv, chatBody("gate-model", "hold")) })
	}
	g.waitArrived(t, n)
	return func() []int { wg.Wait(); return statuses }
}

// postStatus posts a chat request with the client key and returns the
// answer's status, or -1 when the request failed. Unlike postJSON it may be
// called from any goroutine.
func postStatus(srv *testServer, body string) int {
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return -1
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", clientKey)
	resp, err := srv.Client().Do(req)
	if err != nil {
		return -1
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestMaxInflightSheds(t *testing.T) {
	g := newGate(t, "gate-shed")
	srv := startServer(t, gateConfig("gate-shed", 2), server.Options{})

	wait := holdRequests(t, srv, g, 2)

	// A third request is over the limit: 503 at once, in the envelope,
	// with Retry-After and without x-should-retry: false.
	r := postJSON(t, srv.Server, "/v1/chat/completions", chatBody("gate-model", "third"))
	assert.Equal(t, http.StatusServiceUnavailable, r.status, "body: %s", r.body)
	assert.Equal(t, "1", r.header.Get("Retry-After"))
	assert.Empty(t, r.header.Get("X-Should-Retry"))
	env := errorEnvelope(t, r)
	assert.Equal(t, "overloaded", deref(env.Code))
	assert.Equal(t, "server_error", env.Type)
	assert.Contains(t, env.Message, "max_inflight")

	// Every POST /v1/* endpoint shares the limit; the GET endpoints are
	// not shed. The limit comes before auth: a request without a key is
	// shed too (it would take a slot while it is authenticated).
	for _, path := range []string{"/v1/completions", "/v1/embeddings"} {
		r := postJSON(t, srv.Server, path, `{"model":"gate-model","prompt":"x","input":"x"}`)
		assert.Equal(t, http.StatusServiceUnavailable, r.status, "%s: %s", path, r.body)
	}
	assert.Equal(t, http.StatusOK, get(t, srv.Server, "/v1/models").status)
	assert.Equal(t, http.StatusOK, get(t, srv.Server, "/health").status)
	r = do(t, srv.Server, http.MethodPost, "/v1/chat/completions", chatBody("gate-model", "no key"), "Content-Type", "application/json")
	assert.Equal(t, http.StatusServiceUnavailable, r.status)

	// The shed requests are counted.
	m := get(t, srv.Server, "/metrics")
	assert.Contains(t, string(m.body), "llmproxy_requests_shed_total 4")

	// Once the held requests finish, their slots are free again.
	close(g.open)
	assert.Equal(t, []int{http.StatusOK, http.StatusOK}, wait())
	for range 3 {
		r := postJSON(t, srv.Server, "/v1/chat/completions", chatBody("gate-model", "after"))
		assert.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	}
	r = do(t, srv.Server, http.MethodPost, "/v1/chat/completions", chatBody("gate-model", "no key"), "Content-Type", "application/json")
	assert.Equal(t, http.StatusUnauthorized, r.status)
}

func TestMaxInflightOptionOverridesConfig(t *testing.T) {
	g := newGate(t, "gate-opt")
	srv := startServer(t, gateConfig("gate-opt", 100), server.Options{MaxInflight: 1})
	wait := holdRequests(t, srv, g, 1)
	r := postJSON(t, srv.Server, "/v1/chat/completions", chatBody("gate-model", "second"))
	assert.Equal(t, http.StatusServiceUnavailable, r.status, "body: %s", r.body)
	close(g.open)
	assert.Equal(t, []int{http.StatusOK}, wait())
}

func TestMaxInflightUnlimited(t *testing.T) {
	// 0 in the config and a negative option both mean no limit.
	for _, opts := range []server.Options{{}, {MaxInflight: -1}} {
		g := newGate(t, "gate-unlimited")
		cfg := gateConfig("gate-unlimited", 0)
		if opts.MaxInflight < 0 {
			cfg.MaxInflight = 1
		}
		srv := startServer(t, cfg, opts)
		wait := holdRequests(t, srv, g, 8)
		close(g.open)
		for _, st := range wait() {
			assert.Equal(t, http.StatusOK, st)
		}
		srv.Close()
		gates.Delete("gate-unlimited")
	}
}

func TestMaxInflightConfig(t *testing.T) {
	_, err := llmproxy.New(gateConfig("gate-bad", -1))
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "max_inflight: must be >= 0"), "error: %v", err)

	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte("max_inflight: 64\nproviders:\n  - {name: m, type: mock}\n"), 0o600))
	cfg, err := llmproxy.LoadConfigEnv(path, nil)
	require.NoError(t, err)
	assert.Equal(t, 64, cfg.MaxInflight)
	cfg, err = llmproxy.LoadConfigEnv(path, func(k string) (string, bool) {
		return "8", k == llmproxy.EnvPrefix+"MAX_INFLIGHT"
	})
	require.NoError(t, err)
	assert.Equal(t, 8, cfg.MaxInflight)
}
