package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/server"
)

// The "health-test" provider type answers chat completions and health
// checks as its script, found by provider name, says.

const healthTestType = "health-test"

var (
	healthTestOnce sync.Once
	healthScripts  sync.Map // name -> *healthScript
)

// healthScript is what a health-test provider answers.
type healthScript struct {
	mu       sync.Mutex
	chatErr  error // nil: a successful answer
	checkErr error
}

func (s *healthScript) set(chatErr, checkErr error) {
	s.mu.Lock()
	s.chatErr, s.checkErr = chatErr, checkErr
	s.mu.Unlock()
}

type healthTestProvider struct {
	name string
	s    *healthScript
}

func (p healthTestProvider) Name() string { return p.name }

func (p healthTestProvider) ChatCompletion(ctx context.Context, req *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error) {
	p.s.mu.Lock()
	err := p.s.chatErr
	p.s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &llmproxy.ChatResponse{ID: "chatcmpl-h", Object: "chat.completion", Model: req.Model,
		Choices: []llmproxy.Choice{{Message: llmproxy.Message{Role: "assistant", Content: llmproxy.Text("from " + p.name)}, FinishReason: "stop"}}}, nil
}

func (p healthTestProvider) HealthCheck(ctx context.Context) error {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.s.checkErr
}

// healthProvider configures a health-test provider with its script.
func healthProvider(t *testing.T, name string) (llmproxy.ProviderConfig, *healthScript) {
	t.Helper()
	healthTestOnce.Do(func() {
		llmproxy.RegisterProviderType(healthTestType, func(cfg llmproxy.ProviderConfig) (llmproxy.Provider, error) {
			s, _ := healthScripts.Load(cfg.Name)
			return healthTestProvider{name: cfg.Name, s: s.(*healthScript)}, nil
		})
	})
	s := &healthScript{}
	healthScripts.Store(name, s)
	t.Cleanup(func() { healthScripts.Delete(name) })
	return llmproxy.ProviderConfig{Name: name, Type: healthTestType}, s
}

// serveNoNet builds the handler of p and returns a function that answers
// one request without a network, so that the test can run in a synctest
// bubble.
func serveNoNet(t *testing.T, p *llmproxy.Proxy) func(method, path, body string) *httptest.ResponseRecorder {
	h := server.Handler(p, server.Options{})
	t.Cleanup(func() {
		if c, ok := h.(io.Closer); ok {
			_ = c.Close()
		}
	})
	return func(method, path, body string) *httptest.ResponseRecorder {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req := httptest.NewRequestWithContext(t.Context(), method, path, rd)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
}

// chatJSON is a small chat request.
const chatJSON = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`

// healthBody is the body of GET /health.
type healthBody struct {
	Status    string `json:"status"`
	Active    int    `json:"providers_active"`
	Available int    `json:"providers_available"`
	Providers []struct {
		Name    string    `json:"name"`
		Status  string    `json:"status"`
		Reason  string    `json:"reason"`
		Since   time.Time `json:"since"`
		Breaker string    `json:"breaker"`
	} `json:"providers"`
}

func decodeHealth(t *testing.T, rec *httptest.ResponseRecorder) healthBody {
	t.Helper()
	var b healthBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &b), rec.Body.String())
	return b
}

func TestHealthTurns503AndBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, sa := healthProvider(t, "hc-a")
		b, sb := healthProvider(t, "hc-b")
		b.Priority = 2
		p, err := llmproxy.New(llmproxy.Config{
			HealthCheckInterval: 10 * time.Second, CircuitBreakerThreshold: 2, CircuitBreakerTimeout: 30 * time.Second,
			Providers: []llmproxy.ProviderConfig{a, b},
		})
		require.NoError(t, err)
		defer p.Close()
		do := serveNoNet(t, p)
		start := time.Now()

		rec := do(http.MethodGet, "/health", "")
		require.Equal(t, http.StatusOK, rec.Code)
		hb := decodeHealth(t, rec)
		assert.Equal(t, "healthy", hb.Status)
		assert.Equal(t, 2, hb.Active)
		assert.Equal(t, 2, hb.Available)
		require.Len(t, hb.Providers, 2)
		assert.Equal(t, "hc-a", hb.Providers[0].Name)
		assert.Equal(t, "closed", hb.Providers[0].Breaker)

		// a's health check fails: degraded overall, still 200.
		sa.set(nil, &llmproxy.Error{Kind: llmproxy.KindUnavailable, Status: 503, Message: "down for maintenance"})
		time.Sleep(12 * time.Second)
		rec = do(http.MethodGet, "/health", "")
		require.Equal(t, http.StatusOK, rec.Code)
		hb = decodeHealth(t, rec)
		assert.Equal(t, "degraded", hb.Status)
		assert.Equal(t, 1, hb.Available)
		assert.Equal(t, "unhealthy", hb.Providers[0].Status)
		assert.Equal(t, "health check failed: unavailable (503): down for maintenance", hb.Providers[0].Reason)

		// Live requests fail on b, then on a as a last resort, until both
		// breakers open: no provider can serve, 503.
		sb.set(&llmproxy.Error{Kind: llmproxy.KindUnavailable, Status: 502, Message: "bad gateway"}, nil)
		sa.set(&llmproxy.Error{Kind: llmproxy.KindUnavailable, Status: 503, Message: "overloaded"},
			&llmproxy.Error{Kind: llmproxy.KindUnavailable, Status: 503, Message: "down for maintenance"})
		for range 2 {
			rec := do(http.MethodPost, "/v1/chat/completions", chatJSON)
			require.Equal(t, http.StatusServiceUnavailable, rec.Code, "a's error, the last tried")
		}
		openedAt := time.Now()
		rec = do(http.MethodGet, "/health", "")
		require.Equal(t, http.StatusServiceUnavailable, rec.Code)
		hb = decodeHealth(t, rec)
		assert.Equal(t, "unhealthy", hb.Status)
		assert.Zero(t, hb.Available)
		assert.Equal(t, "open", hb.Providers[1].Breaker)
		assert.True(t, openedAt.Equal(hb.Providers[1].Since), "since %v", hb.Providers[1].Since)
		assert.Equal(t, "circuit breaker open; last failure: unavailable (502): bad gateway", hb.Providers[1].Reason)

		// /providers shows the same per provider, in detail.
		rec = do(http.MethodGet, "/providers", "")
		require.Equal(t, http.StatusOK, rec.Code)
		var pv struct {
			Providers []llmproxy.ProviderInfo `json:"providers"`
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &pv))
		require.Len(t, pv.Providers, 2)
		assert.Equal(t, "unhealthy", pv.Providers[1].Status)
		require.NotNil(t, pv.Providers[1].Health)
		assert.Equal(t, llmproxy.BreakerOpen, pv.Providers[1].Health.Breaker)
		assert.Equal(t, 2, pv.Providers[1].Health.Attempts)
		assert.Equal(t, 1.0, pv.Providers[1].Health.ErrorRate)
		assert.True(t, pv.Providers[0].Health.ActiveChecks)
		assert.False(t, pv.Providers[0].Health.Since.Before(start))

		// The upstreams recover: a's check passes and, after the breaker
		// timeout, the breakers half-open: the providers can serve again.
		sa.set(nil, nil)
		sb.set(nil, nil)
		time.Sleep(30*time.Second + time.Millisecond)
		rec = do(http.MethodGet, "/health", "")
		require.Equal(t, http.StatusOK, rec.Code)
		hb = decodeHealth(t, rec)
		assert.Equal(t, "degraded", hb.Status)
		assert.Equal(t, 2, hb.Available)
		assert.Equal(t, "half-open", hb.Providers[0].Breaker)

		// A's trial request succeeds and closes its breaker.
		rec = do(http.MethodPost, "/v1/chat/completions", chatJSON)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Equal(t, "hc-a", rec.Header().Get("X-LLMProxy-Provider"))
		hb = decodeHealth(t, do(http.MethodGet, "/health", ""))
		assert.Equal(t, "closed", hb.Providers[0].Breaker)
		assert.Equal(t, "healthy", hb.Providers[0].Status)
	})
}

func TestHealthNoActiveProvider503(t *testing.T) {
	a, _ := healthProvider(t, "hc-off")
	a.Enabled = new(false)
	p, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{a}})
	require.NoError(t, err)
	defer p.Close()
	rec := serveNoNet(t, p)(http.MethodGet, "/health", "")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	hb := decodeHealth(t, rec)
	assert.Equal(t, "unhealthy", hb.Status)
	assert.Zero(t, hb.Active)
	assert.Empty(t, hb.Providers)
}

func TestNonRetryableErrorsTellSDKsNotToRetry(t *testing.T) {
	a, sa := healthProvider(t, "sr-a")
	p, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{a}})
	require.NoError(t, err)
	defer p.Close()
	do := serveNoNet(t, p)

	for _, tc := range []struct {
		name   string
		err    *llmproxy.Error
		status int
		retry  string // X-Should-Retry; empty: not set
	}{
		{"quota", &llmproxy.Error{Kind: llmproxy.KindQuotaExceeded, Status: 429, Code: "insufficient_quota", Message: "out of credit"}, 429, "false"},
		{"upstream auth", &llmproxy.Error{Kind: llmproxy.KindAuth, Status: 401, Message: "bad key"}, 502, "false"},
		{"invalid request", &llmproxy.Error{Kind: llmproxy.KindInvalidRequest, Status: 400, Message: "bad tools"}, 400, "false"},
		// Retryable, but the only provider was tried: see
		// TestErrorAfterProxyRetriesSaysDoNotRetry.
		{"unavailable", &llmproxy.Error{Kind: llmproxy.KindUnavailable, Status: 503}, 503, "false"},
		{"rate limited", &llmproxy.Error{Kind: llmproxy.KindRateLimited, Status: 429, RetryAfter: 2 * time.Second}, 429, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sa.set(tc.err, nil)
			rec := do(http.MethodPost, "/v1/chat/completions", chatJSON)
			assert.Equal(t, tc.status, rec.Code)
			assert.Equal(t, tc.retry, rec.Header().Get("X-Should-Retry"))
		})
	}
	// The invalid request did not count against the provider; the others
	// did.
	h := p.Health()[0]
	assert.Equal(t, 4, h.Attempts)
}
