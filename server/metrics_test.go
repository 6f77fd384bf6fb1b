package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/server"
)

// Provider types of the metrics tests.
const (
	// mtFailType fails every chat with a 503 of the provider's.
	mtFailType = "test-metrics-fail"
	// mtStreamType streams "first " at once, then waits until the test
	// releases the provider's name (mtRelease) before "second" and the
	// end of the stream.
	mtStreamType = "test-metrics-stream-gate"
)

// mtGates maps a provider name of mtStreamType to the channel that
// releases its streams.
var mtGates sync.Map // string -> chan struct{}

func init() {
	llmproxy.RegisterProviderType(mtFailType, func(cfg llmproxy.ProviderConfig) (llmproxy.Provider, error) {
		return mtFailProvider{name: cfg.Name}, nil
	})
	llmproxy.RegisterProviderType(mtStreamType, func(cfg llmproxy.ProviderConfig) (llmproxy.Provider, error) {
		return mtStreamProvider{name: cfg.Name}, nil
	})
}

type mtFailProvider struct{ name string }

func (p mtFailProvider) Name() string { return p.name }

func (p mtFailProvider) ChatCompletion(context.Context, *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error) {
	return nil, &llmproxy.Error{Kind: llmproxy.KindUnavailable, Status: http.StatusServiceUnavailable,
		Type: "server_error", Message: "metrics test: the provider is down"}
}

type mtStreamProvider struct{ name string }

func (p mtStreamProvider) Name() string { return p.name }

func (p mtStreamProvider) ChatCompletion(_ context.Context, req *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error) {
	return &llmproxy.ChatResponse{ID: "chatcmpl-gate", Object: "chat.completion", Model: req.Model,
		Choices: []llmproxy.Choice{{Message: llmproxy.Message{Role: "assistant", Content: llmproxy.Text("first second")}, FinishReason: "stop"}}}, nil
}

func (p mtStreamProvider) ChatCompletionStream(ctx context.Context, req *llmproxy.ChatRequest) (llmproxy.ChunkReader[*llmproxy.ChatChunk], error) {
	v, _ := mtGates.Load(p.name)
	gate, _ := v.(chan struct{})
	return &mtGateReader{ctx: ctx, model: req.Model, gate: gate}, nil
}

// mtGateReader is the stream of mtStreamProvider.
type mtGateReader struct {
	ctx   context.Context
	model string
	gate  chan struct{}
	n     int
}

func (r *mtGateReader) Next() (*llmproxy.ChatChunk, error) {
	r.n++
	chunk := func(text string, finish *string) *llmproxy.ChatChunk {
		return &llmproxy.ChatChunk{ID: "chatcmpl-gate", Object: "chat.completion.chunk", Model: r.model,
			Choices: []llmproxy.ChunkChoice{{Delta: llmproxy.Delta{Content: &text}, FinishReason: finish}}}
	}
	switch r.n {
	case 1:
		return chunk("first ", nil), nil
	case 2:
		if r.gate != nil {
			select {
			case <-r.gate:
			case <-r.ctx.Done():
				return nil, r.ctx.Err()
			}
		}
		return chunk("second", nil), nil
	case 3:
		stop := "stop"
		c := chunk("", &stop)
		c.Usage = &llmproxy.Usage{PromptTokens: 2, CompletionTokens: 2, TotalTokens: 4}
		return c, nil
	}
	return nil, io.EOF
}

func (r *mtGateReader) Close() error { return nil }

// mtSample is one sample of the Prometheus text format.
type mtSample struct {
	name   string
	labels map[string]string
	value  float64
}

// mtParse parses the Prometheus text format: it fails the test on a line
// it cannot read.
func mtParse(t *testing.T, body []byte) []mtSample {
	t.Helper()
	var out []mtSample
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		s := mtSample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(rest, "{ "); i >= 0 && rest[i] == '{' {
			s.name, rest = rest[:i], rest[i+1:]
			for !strings.HasPrefix(rest, "}") {
				eq := strings.IndexByte(rest, '=')
				require.Positive(t, eq, "label in %q", line)
				name := rest[:eq]
				q, err := strconv.QuotedPrefix(rest[eq+1:])
				require.NoError(t, err, "label value in %q", line)
				v, err := strconv.Unquote(q)
				require.NoError(t, err)
				s.labels[name] = v
				rest = strings.TrimPrefix(rest[eq+1+len(q):], ",")
			}
			rest = strings.TrimPrefix(rest, "}")
		} else {
			i := strings.IndexByte(rest, ' ')
			require.Positive(t, i, "sample %q", line)
			s.name, rest = rest[:i], rest[i:]
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		require.NoError(t, err, "value of %q", line)
		s.value = v
		out = append(out, s)
	}
	return out
}

// mtFind returns the samples named name whose labels include the given
// pairs (name, value, ...).
func mtFind(samples []mtSample, name string, labels ...string) []mtSample {
	var out []mtSample
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if v, ok := s.labels[labels[i]]; !ok || v != labels[i+1] {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// mtValue returns the value of the one sample named name with exactly the
// given labels, failing the test when there is none.
func mtValue(t *testing.T, samples []mtSample, name string, labels ...string) float64 {
	t.Helper()
	for _, s := range mtFind(samples, name, labels...) {
		if len(s.labels) == len(labels)/2 {
			return s.value
		}
	}
	require.Failf(t, "no such series", "%s %v", name, labels)
	return 0
}

// mtMetrics fetches and parses /metrics.
func mtMetrics(t *testing.T, ts *testServer) []mtSample {
	t.Helper()
	r := get(t, ts.Server, "/metrics")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	return mtParse(t, r.body)
}

// mtStreamBody is a streamed chat request for model.
func mtStreamBody(model, content string) string {
	b, _ := json.Marshal(map[string]any{
		"model": model, "stream": true, "stream_options": map[string]any{"include_usage": true},
		"messages": []map[string]any{{"role": "user", "content": content}},
	})
	return string(b)
}

// mtUsage is the usage member of a JSON answer.
type mtUsage struct {
	Prompt     uint64 `json:"prompt_tokens"`
	Completion uint64 `json:"completion_tokens"`
}

// mtUsageOf returns the usage of a JSON answer, or of the usage chunk of a
// stream.
func mtUsageOf(t *testing.T, body []byte) mtUsage {
	t.Helper()
	var v struct {
		Usage *mtUsage `json:"usage"`
	}
	if len(body) > 0 && body[0] == '{' {
		require.NoError(t, json.Unmarshal(body, &v), "body: %s", body)
		require.NotNil(t, v.Usage, "no usage in %s", body)
		return *v.Usage
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		v.Usage = nil
		require.NoError(t, json.Unmarshal([]byte(data), &v), "frame: %s", data)
		if v.Usage != nil {
			return *v.Usage
		}
	}
	require.Failf(t, "no usage chunk", "stream: %s", body)
	return mtUsage{}
}

func TestMetricsSeries(t *testing.T) {
	gate := make(chan struct{})
	mtGates.Store("gated", gate)
	t.Cleanup(func() { mtGates.Delete("gated") })

	cfg := mockConfig()
	cfg.Providers = append(cfg.Providers,
		// A failover: "failing" is tried (and retried once), "backup" answers.
		llmproxy.ProviderConfig{Name: "failing", Type: mtFailType, Models: []string{"fo-model"}, Priority: 1,
			MaxRetries: 1, RetryDelay: time.Millisecond},
		llmproxy.ProviderConfig{Name: "backup", Type: "mock", Models: []string{"fo-model"}, Priority: 2},
		// An outbound limit of 1 a minute: the second request spills over.
		llmproxy.ProviderConfig{Name: "limited", Type: "mock", Models: []string{"rl-model"}, Priority: 1, RateLimit: 1},
		llmproxy.ProviderConfig{Name: "spill", Type: "mock", Models: []string{"rl-model"}, Priority: 2},
		llmproxy.ProviderConfig{Name: "gated", Type: mtStreamType, Models: []string{"gate-model"}},
	)
	ts := startServer(t, cfg, server.Options{})
	srv := ts.Server

	require.Equal(t, http.StatusOK, postJSON(t, srv, "/v1/chat/completions", chatBody("mock-1", "hello there")).status)
	r := postJSON(t, srv, "/v1/chat/completions", mtStreamBody("mock-1", "stream me"))
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.True(t, strings.HasSuffix(string(r.body), "data: [DONE]\n\n"), "stream: %s", r.body)
	require.Equal(t, http.StatusOK, postJSON(t, srv, "/v1/embeddings", `{"model":"mock-embed","input":"one two"}`).status)
	r = postJSON(t, srv, "/v1/chat/completions", chatBody("fo-model", "fail over"))
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	assert.Equal(t, "backup", getProxyInfo(t, r.body).Provider)
	for _, want := range []string{"limited", "spill"} {
		r = postJSON(t, srv, "/v1/chat/completions", chatBody("rl-model", "limit me"))
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		assert.Equal(t, want, getProxyInfo(t, r.body).Provider)
	}
	require.Equal(t, http.StatusNotFound, postJSON(t, srv, "/v1/chat/completions", chatBody("nope", "hi")).status)

	m := mtMetrics(t, ts)
	// Requests by endpoint, provider, model, outcome and status.
	assert.Equal(t, 2.0, mtValue(t, m, "llmproxy_requests_total", "endpoint", "chat", "provider", "mock-a", "model", "mock-1", "outcome", "ok", "status", "200"))
	assert.Equal(t, 1.0, mtValue(t, m, "llmproxy_requests_total", "endpoint", "embeddings", "provider", "mock-a", "model", "mock-embed", "outcome", "ok", "status", "200"))
	assert.Equal(t, 1.0, mtValue(t, m, "llmproxy_requests_total", "endpoint", "chat", "provider", "backup", "model", "fo-model", "outcome", "ok", "status", "200"))
	assert.Equal(t, 1.0, mtValue(t, m, "llmproxy_requests_total", "endpoint", "chat", "provider", "none", "model", "nope", "outcome", "not_found", "status", "404"))
	// Durations, per endpoint and provider; times to first token per provider.
	for _, ep := range []string{"chat", "embeddings"} {
		inf := mtFind(m, "llmproxy_request_duration_seconds_bucket", "endpoint", ep, "provider", "mock-a", "le", "+Inf")
		require.Len(t, inf, 1, ep)
		assert.Positive(t, inf[0].value, ep)
		assert.NotEmpty(t, mtFind(m, "llmproxy_request_duration_seconds_bucket", "endpoint", ep, "provider", "mock-a", "le", "0.005"), ep)
	}
	assert.Equal(t, 1.0, mtValue(t, m, "llmproxy_time_to_first_token_seconds_bucket", "provider", "mock-a", "le", "+Inf"))
	assert.Equal(t, 1.0, mtValue(t, m, "llmproxy_time_to_first_token_seconds_count", "provider", "mock-a"))
	// Tokens, by kind.
	assert.Positive(t, mtValue(t, m, "llmproxy_tokens_total", "provider", "mock-a", "model", "mock-1", "kind", "prompt"))
	assert.Positive(t, mtValue(t, m, "llmproxy_tokens_total", "provider", "mock-a", "model", "mock-1", "kind", "completion"))
	assert.Empty(t, mtFind(m, "llmproxy_tokens_total", "kind", "cached"), "the mock reports no cached tokens")
	// Attempts, the retry and the failover.
	assert.Equal(t, 2.0, mtValue(t, m, "llmproxy_attempts_total", "provider", "failing", "outcome", "unavailable"))
	assert.Equal(t, 1.0, mtValue(t, m, "llmproxy_attempts_total", "provider", "backup", "outcome", "ok"))
	assert.Equal(t, 1.0, mtValue(t, m, "llmproxy_retries_total", "provider", "failing"))
	assert.Equal(t, 1.0, mtValue(t, m, "llmproxy_failovers_total", "provider", "failing"))
	assert.Empty(t, mtFind(m, "llmproxy_failovers_total", "provider", "backup"))
	// The outbound limit.
	assert.Equal(t, 1.0, mtValue(t, m, "llmproxy_rate_limited_total", "scope", "outbound"))
	assert.Equal(t, 1.0, mtValue(t, m, "llmproxy_failovers_total", "provider", "limited"))
	// Provider state gauges, one per configured provider.
	for _, name := range []string{"mock-a", "failing", "backup", "limited", "spill", "gated"} {
		assert.Equal(t, 0.0, mtValue(t, m, "llmproxy_provider_breaker_state", "provider", name), name)
		assert.Equal(t, 0.0, mtValue(t, m, "llmproxy_provider_health", "provider", name), name)
	}
	assert.Equal(t, 0.0, mtValue(t, m, "llmproxy_inflight_requests"))
	assert.Equal(t, 0.0, mtValue(t, m, "llmproxy_open_streams"))
	info := mtFind(m, "llmproxy_config_info")
	require.Len(t, info, 1)
	assert.Equal(t, 1.0, info[0].value)
	firstHash := info[0].labels["hash"]
	assert.NotEmpty(t, firstHash)
	assert.Empty(t, mtFind(m, "llmproxy_config_reloads_total"), "no reload yet")

	// A stream held open shows in the gauges until it ends.
	type streamResult struct {
		body string
		err  error
	}
	done := make(chan streamResult, 1)
	firstFrame := make(chan struct{})
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(mtStreamBody("gate-model", "hold")))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", clientKey)
		resp, err := srv.Client().Do(req)
		if err != nil {
			close(firstFrame)
			done <- streamResult{err: err}
			return
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		var sb strings.Builder
		signalled := false
		for {
			line, err := br.ReadString('\n')
			sb.WriteString(line)
			if !signalled && strings.HasPrefix(line, "data: ") {
				signalled = true
				close(firstFrame)
			}
			if err != nil {
				if !signalled {
					close(firstFrame)
				}
				if err == io.EOF {
					err = nil
				}
				done <- streamResult{body: sb.String(), err: err}
				return
			}
		}
	}()
	select {
	case <-firstFrame:
	case <-time.After(time.Minute):
		t.Fatal("the gated stream sent nothing")
	}
	m = mtMetrics(t, ts)
	assert.Equal(t, 1.0, mtValue(t, m, "llmproxy_open_streams"), "while the stream is open")
	assert.Equal(t, 1.0, mtValue(t, m, "llmproxy_inflight_requests"), "while the stream is open")
	close(gate)
	var res streamResult
	select {
	case res = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the gated stream did not end")
	}
	require.NoError(t, res.err)
	assert.True(t, strings.HasSuffix(res.body, "data: [DONE]\n\n"), "stream: %s", res.body)
	assert.Contains(t, res.body, `"second"`)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		m = mtMetrics(t, ts)
		if mtValue(t, m, "llmproxy_open_streams") == 0 && mtValue(t, m, "llmproxy_inflight_requests") == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "open streams and in-flight requests back to 0")
	}
	assert.Equal(t, 1.0, mtValue(t, m, "llmproxy_time_to_first_token_seconds_count", "provider", "gated"))
	assert.Equal(t, 1.0, mtValue(t, m, "llmproxy_requests_total", "endpoint", "chat", "provider", "gated", "model", "gate-model", "outcome", "ok", "status", "200"))

	// Reloads: one accepted (a provider less), one rejected.
	next := cfg
	next.Providers = append([]llmproxy.ProviderConfig(nil), cfg.Providers[:len(cfg.Providers)-1]...)
	require.NoError(t, ts.proxy.Reload(next))
	bad := next
	bad.Providers = append(append([]llmproxy.ProviderConfig(nil), next.Providers...), next.Providers[0]) // duplicate name
	require.Error(t, ts.proxy.Reload(bad))
	m = mtMetrics(t, ts)
	assert.Equal(t, 1.0, mtValue(t, m, "llmproxy_config_reloads_total", "result", "ok"))
	assert.Equal(t, 1.0, mtValue(t, m, "llmproxy_config_reloads_total", "result", "rejected"))
	info = mtFind(m, "llmproxy_config_info")
	require.Len(t, info, 1, "one config_info series, the configuration in force")
	assert.NotEqual(t, firstHash, info[0].labels["hash"])
	assert.Empty(t, mtFind(m, "llmproxy_provider_breaker_state", "provider", "gated"), "gauges of a removed provider go")
	assert.Empty(t, mtFind(m, "llmproxy_provider_health", "provider", "gated"))
	assert.Len(t, mtFind(m, "llmproxy_provider_breaker_state"), 5)
}

func TestMetricsJSON(t *testing.T) {
	cfg := mockConfig()
	cfg.CircuitBreakerThreshold = 3
	cfg.Providers = append(cfg.Providers,
		llmproxy.ProviderConfig{Name: "down", Type: mtFailType, Models: []string{"down-model"}},
		llmproxy.ProviderConfig{Name: "idle", Type: "mock", Models: []string{"idle-model"}},
		llmproxy.ProviderConfig{Name: "off", Type: "mock", Enabled: new(false)},
	)
	ts := startServer(t, cfg, server.Options{})
	srv := ts.Server

	var want mtUsage
	add := func(u mtUsage) { want.Prompt += u.Prompt; want.Completion += u.Completion }
	for i := range 4 {
		r := postJSON(t, srv, "/v1/chat/completions", chatBody("mock-1", "question number "+strconv.Itoa(i)))
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		add(mtUsageOf(t, r.body))
	}
	r := postJSON(t, srv, "/v1/chat/completions", mtStreamBody("mock-1", "a streamed question"))
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	add(mtUsageOf(t, r.body))
	r = postJSON(t, srv, "/v1/embeddings", `{"model":"mock-embed","input":["one two","three"]}`)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	add(mtUsageOf(t, r.body))
	for range 3 {
		r := postJSON(t, srv, "/v1/chat/completions", chatBody("down-model", "hi"))
		require.GreaterOrEqual(t, r.status, 500, "body: %s", r.body)
	}
	require.Equal(t, http.StatusNotFound, postJSON(t, srv, "/v1/chat/completions", chatBody("nope", "hi")).status)

	r = get(t, srv, "/metrics?format=json")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Contains(t, r.header.Values("Vary"), "Accept")
	var sum struct {
		StartedAt     time.Time `json:"started_at"`
		UptimeSeconds float64   `json:"uptime_seconds"`
		InFlight      *int64    `json:"inflight_requests"`
		OpenStreams   *int64    `json:"open_streams"`
		Totals        struct {
			Requests    uint64   `json:"requests"`
			Successes   uint64   `json:"successes"`
			Failures    uint64   `json:"failures"`
			SuccessRate *float64 `json:"success_rate"`
			Tokens      struct {
				Prompt     uint64  `json:"prompt"`
				Completion uint64  `json:"completion"`
				Cached     *uint64 `json:"cached"`
			} `json:"tokens"`
		} `json:"totals"`
		Providers []struct {
			Name           string   `json:"name"`
			Active         bool     `json:"active"`
			Status         string   `json:"status"`
			Breaker        string   `json:"breaker"`
			Requests       uint64   `json:"requests"`
			Successes      uint64   `json:"successes"`
			Failures       uint64   `json:"failures"`
			SuccessRate    *float64 `json:"success_rate"`
			Attempts       uint64   `json:"attempts"`
			FailedAttempts uint64   `json:"failed_attempts"`
			Latency        *struct {
				P50     float64 `json:"p50"`
				P95     float64 `json:"p95"`
				Samples int     `json:"samples"`
			} `json:"latency_seconds"`
			TTFT *struct {
				P50     float64 `json:"p50"`
				P95     float64 `json:"p95"`
				Samples int     `json:"samples"`
			} `json:"ttft_seconds"`
			Tokens struct {
				Prompt     uint64 `json:"prompt"`
				Completion uint64 `json:"completion"`
				Cached     uint64 `json:"cached"`
			} `json:"tokens"`
		} `json:"providers"`
	}
	require.NoError(t, json.Unmarshal(r.body, &sum), "body: %s", r.body)

	assert.Positive(t, sum.UptimeSeconds)
	assert.WithinDuration(t, time.Now(), sum.StartedAt, time.Minute)
	require.NotNil(t, sum.InFlight)
	require.NotNil(t, sum.OpenStreams)
	assert.Zero(t, *sum.InFlight)
	assert.Zero(t, *sum.OpenStreams)

	// 6 answered by mock-a, 3 failed on "down", 1 no provider took.
	assert.Equal(t, uint64(10), sum.Totals.Requests)
	assert.Equal(t, uint64(6), sum.Totals.Successes)
	assert.Equal(t, uint64(4), sum.Totals.Failures)
	require.NotNil(t, sum.Totals.SuccessRate)
	assert.InDelta(t, 0.6, *sum.Totals.SuccessRate, 1e-9)
	assert.Equal(t, want.Prompt, sum.Totals.Tokens.Prompt)
	assert.Equal(t, want.Completion, sum.Totals.Tokens.Completion)
	require.NotNil(t, sum.Totals.Tokens.Cached)

	require.Len(t, sum.Providers, 4, "every configured provider, in configuration order")
	names := []string{}
	for _, p := range sum.Providers {
		names = append(names, p.Name)
	}
	assert.Equal(t, []string{"mock-a", "down", "idle", "off"}, names)

	a := sum.Providers[0]
	assert.True(t, a.Active)
	assert.Equal(t, "healthy", a.Status)
	assert.Equal(t, "closed", a.Breaker)
	assert.Equal(t, uint64(6), a.Requests)
	assert.Equal(t, uint64(6), a.Successes)
	assert.Zero(t, a.Failures)
	require.NotNil(t, a.SuccessRate)
	assert.Equal(t, 1.0, *a.SuccessRate)
	assert.Equal(t, uint64(6), a.Attempts)
	assert.Zero(t, a.FailedAttempts)
	require.NotNil(t, a.Latency)
	assert.Equal(t, 6, a.Latency.Samples)
	assert.Positive(t, a.Latency.P50)
	assert.GreaterOrEqual(t, a.Latency.P95, a.Latency.P50)
	assert.Less(t, a.Latency.P95, 5.0, "the mock answers at once")
	require.NotNil(t, a.TTFT, "the stream's time to first token")
	assert.Equal(t, 1, a.TTFT.Samples)
	assert.Positive(t, a.TTFT.P50)
	assert.Equal(t, a.TTFT.P50, a.TTFT.P95)
	assert.Equal(t, want.Prompt, a.Tokens.Prompt)
	assert.Equal(t, want.Completion, a.Tokens.Completion)
	assert.Zero(t, a.Tokens.Cached)

	d := sum.Providers[1]
	assert.True(t, d.Active)
	assert.Equal(t, uint64(3), d.Requests)
	assert.Zero(t, d.Successes)
	assert.Equal(t, uint64(3), d.Failures)
	require.NotNil(t, d.SuccessRate)
	assert.Zero(t, *d.SuccessRate)
	assert.Equal(t, uint64(3), d.Attempts)
	assert.Equal(t, uint64(3), d.FailedAttempts)
	assert.Equal(t, "open", d.Breaker, "3 failures in a row with circuit_breaker_threshold 3")
	assert.Equal(t, "unhealthy", d.Status)
	require.NotNil(t, d.Latency)
	assert.Equal(t, 3, d.Latency.Samples)
	assert.Positive(t, d.Latency.P50)
	assert.GreaterOrEqual(t, d.Latency.P95, d.Latency.P50)
	assert.Nil(t, d.TTFT)
	assert.Zero(t, d.Tokens.Prompt)

	idle := sum.Providers[2]
	assert.True(t, idle.Active)
	assert.Equal(t, "healthy", idle.Status)
	assert.Zero(t, idle.Requests)
	assert.Nil(t, idle.SuccessRate, "no requests: no rate")
	assert.Nil(t, idle.Latency)

	off := sum.Providers[3]
	assert.False(t, off.Active)
	assert.Equal(t, "disabled", off.Status)
	assert.Empty(t, off.Breaker)

	// The same summary through Accept; the text format stays the default.
	r = get(t, srv, "/metrics", "Accept", "application/json")
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.True(t, json.Valid(r.body))
	for _, accept := range []string{"", "*/*", "text/plain",
		"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
		"text/plain, application/json;q=0.5", "application/json;q=0"} {
		r = get(t, srv, "/metrics", "Accept", accept)
		require.Equal(t, http.StatusOK, r.status, accept)
		assert.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "text/plain"), "Accept %q: Content-Type %q", accept, r.header.Get("Content-Type"))
	}
	r = get(t, srv, "/metrics?format=prometheus", "Accept", "application/json")
	assert.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "text/plain"), "format beats Accept")
	r = get(t, srv, "/metrics?format=xml")
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "invalid_format", deref(errorEnvelope(t, r).Code))
	r = do(t, srv, http.MethodGet, "/metrics?format=json", "")
	assert.Equal(t, http.StatusUnauthorized, r.status, "the summary needs a key like the metrics")
}

// TestMetricsJSONLatencyWindow checks that the percentiles cover a
// provider's last 512 requests while the counts cover them all.
func TestMetricsJSONLatencyWindow(t *testing.T) {
	ts := startServer(t, mockConfig(), server.Options{})
	for i := range 600 {
		_, err := ts.proxy.ChatCompletion(t.Context(), &llmproxy.ChatRequest{Model: "mock-1",
			Messages: []llmproxy.Message{{Role: "user", Content: llmproxy.Text("n" + strconv.Itoa(i))}}})
		require.NoError(t, err)
	}
	stats := ts.proxy.Stats()
	require.Len(t, stats, 1)
	assert.Equal(t, uint64(600), stats[0].Requests)
	assert.Equal(t, 512, stats[0].Latency.Samples, "percentiles over the last 512 requests")
	assert.False(t, math.IsNaN(stats[0].Latency.P95))
	tot := ts.proxy.Totals()
	assert.Equal(t, uint64(600), tot.Requests)
	assert.Equal(t, stats[0].PromptTokens, tot.PromptTokens)
}

func TestAccessLogStreamTTFT(t *testing.T) {
	ts := startServer(t, mockConfig(), server.Options{})
	r := postJSON(t, ts.Server, "/v1/chat/completions", mtStreamBody("mock-1", "time me"), "X-Request-ID", "log-stream-1")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	u := mtUsageOf(t, r.body)
	r = postJSON(t, ts.Server, "/v1/chat/completions", chatBody("mock-1", "time me too"), "X-Request-ID", "log-plain-1")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	plain := mtUsageOf(t, r.body)

	recs := ts.logs.waitRecord(t, "request", "log-stream-1")
	require.Len(t, recs, 1, "log:\n%s", ts.logs)
	rec := recs[0]
	require.Contains(t, rec, "ttft_ms")
	ttft, ok := rec["ttft_ms"].(float64)
	require.True(t, ok, "ttft_ms is a number: %v", rec["ttft_ms"])
	assert.GreaterOrEqual(t, ttft, 0.0)
	assert.LessOrEqual(t, ttft, rec["latency_ms"].(float64), "the first token comes before the end")
	assert.Equal(t, float64(u.Prompt), rec["prompt_tokens"])
	assert.Equal(t, float64(u.Completion), rec["completion_tokens"])
	assert.Equal(t, float64(u.Prompt+u.Completion), rec["total_tokens"])

	recs = ts.logs.waitRecord(t, "request", "log-plain-1")
	require.Len(t, recs, 1)
	assert.NotContains(t, recs[0], "ttft_ms", "no time to first token without a stream")
	assert.Equal(t, float64(plain.Prompt+plain.Completion), recs[0]["total_tokens"])
}
