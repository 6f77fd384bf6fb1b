package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/redistest"
	"github.com/llmproxy/llmproxy/server"
)

// Client keys of the rate-limit tests; each test that counts uses its own.
const (
	rlKeyA = "sk-rl-client-a"
	rlKeyB = "sk-rl-client-b"
	rlKeyC = "sk-rl-client-c"
)

// rlConfig is a proxy with a mock provider, auth with three keys and no
// limits; tests set the limits they check.
func rlConfig() llmproxy.Config {
	return llmproxy.Config{
		APIKeys: []string{rlKeyA, rlKeyB, rlKeyC},
		Providers: []llmproxy.ProviderConfig{
			{Name: "mock-a", Type: "mock", Models: []string{"mock-1", "mock-embed"}},
		},
	}
}

// startLimited serves a proxy built from cfg like startServer does, and
// closes the handler (its rate limiters) when the test ends.
func startLimited(t *testing.T, cfg llmproxy.Config) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := llmproxy.New(cfg, llmproxy.WithLogger(logger))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	h := server.Handler(p, server.Options{Logger: logger})
	closer, ok := h.(io.Closer)
	require.True(t, ok, "the handler implements io.Closer")
	t.Cleanup(func() { require.NoError(t, closer.Close()) })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close) // runs before the handler's Close
	return &testServer{Server: srv, proxy: p, logs: logs}
}

// chatAs posts a chat request with key.
func chatAs(t *testing.T, srv *httptest.Server, key string, header ...string) reply {
	t.Helper()
	return postJSON(t, srv, "/v1/chat/completions", chatBody("mock-1", "hi"), append([]string{"X-API-Key", key}, header...)...)
}

// headerInt reads an integer header.
func headerInt(t *testing.T, r reply, name string) int64 {
	t.Helper()
	v := r.header.Get(name)
	require.NotEmpty(t, v, "header %s", name)
	n, err := strconv.ParseInt(v, 10, 64)
	require.NoError(t, err, "header %s: %q", name, v)
	return n
}

func TestRateLimitEndpoint(t *testing.T) {
	cfg := rlConfig()
	cfg.RateLimitChatRPM = 3
	cfg.CORSOrigins = []string{"*"}
	ts := startLimited(t, cfg)

	for i := range 3 {
		r := chatAs(t, ts.Server, rlKeyA)
		require.Equal(t, http.StatusOK, r.status, "request %d: %s", i+1, r.body)
		assert.EqualValues(t, 3, headerInt(t, r, "X-RateLimit-Limit"))
		assert.EqualValues(t, 2-i, headerInt(t, r, "X-RateLimit-Remaining"))
		reset := headerInt(t, r, "X-RateLimit-Reset")
		assert.InDelta(t, time.Now().Add(time.Duration(i+1)*20*time.Second).Unix(), reset, 2,
			"Unix time at which the bucket is full again: a token comes back every 20 s")
	}

	r := chatAs(t, ts.Server, rlKeyA, "X-Request-ID", "rl-refused")
	require.Equal(t, http.StatusTooManyRequests, r.status)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	retry := headerInt(t, r, "Retry-After")
	assert.True(t, retry >= 1 && retry <= 60, "Retry-After %d", retry)
	assert.EqualValues(t, 3, headerInt(t, r, "X-RateLimit-Limit"))
	assert.EqualValues(t, 0, headerInt(t, r, "X-RateLimit-Remaining"))
	assert.Empty(t, r.header.Get("X-Should-Retry"), "a client may retry after Retry-After")
	var env struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    string  `json:"code"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(r.body, &env), "%s", r.body)
	assert.Equal(t, "rate_limit_exceeded", env.Error.Code)
	assert.NotEmpty(t, env.Error.Type)
	assert.Contains(t, env.Error.Message, "3 requests per minute to /v1/chat/completions")

	recs := ts.logs.waitRecord(t, "request", "rl-refused")
	require.Len(t, recs, 1)
	assert.Equal(t, llmproxy.KindRateLimitedClient.String(), recs[0]["error_kind"])
	assert.EqualValues(t, 429, recs[0]["status"])

	b := chatAs(t, ts.Server, rlKeyB, "Origin", "https://app.example")
	assert.Equal(t, http.StatusOK, b.status, "each key has its own limit")
	assert.Contains(t, b.header.Get("Access-Control-Expose-Headers"), "X-RateLimit-Remaining", "browsers may read the headers")
	e := postJSON(t, ts.Server, "/v1/embeddings", `{"model":"mock-embed","input":"x"}`, "X-API-Key", rlKeyA)
	assert.Equal(t, http.StatusOK, e.status, "each endpoint has its own limit (embeddings: none here)")
	assert.Empty(t, e.header.Get("X-RateLimit-Limit"), "no limit, no headers")

	m := get(t, ts.Server, "/metrics", "X-API-Key", rlKeyA)
	assert.Contains(t, string(m.body), `llmproxy_ratelimit_rejected_total{endpoint="chat",scope="endpoint"} 1`)
	assert.Contains(t, string(m.body), "llmproxy_redis_up 1")
}

func TestRateLimitGlobal(t *testing.T) {
	cfg := rlConfig()
	cfg.RateLimitRPM = 4
	cfg.RateLimitWindow = 30 * time.Second
	cfg.RateLimitEmbeddingsRPM = 10
	ts := startLimited(t, cfg)

	require.Equal(t, http.StatusOK, chatAs(t, ts.Server, rlKeyA).status)
	require.Equal(t, http.StatusOK, get(t, ts.Server, "/v1/models", "X-API-Key", rlKeyA).status, "models counts too")
	e := postJSON(t, ts.Server, "/v1/embeddings", `{"model":"mock-embed","input":"x"}`, "X-API-Key", rlKeyA)
	require.Equal(t, http.StatusOK, e.status)
	assert.EqualValues(t, 4, headerInt(t, e, "X-RateLimit-Limit"), "the headers show the tighter limit")
	assert.EqualValues(t, 1, headerInt(t, e, "X-RateLimit-Remaining"))
	c := postJSON(t, ts.Server, "/v1/completions", `{"model":"mock-1","prompt":"x"}`, "X-API-Key", rlKeyA)
	require.Equal(t, http.StatusOK, c.status)

	r := postJSON(t, ts.Server, "/v1/embeddings", `{"model":"mock-embed","input":"x"}`, "X-API-Key", rlKeyA)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	assert.Contains(t, string(r.body), "4 requests per 30 s across all endpoints")
	assert.LessOrEqual(t, headerInt(t, r, "Retry-After"), int64(30))
	assert.Equal(t, http.StatusOK, get(t, ts.Server, "/health").status, "health is not limited")
	assert.Equal(t, http.StatusOK, get(t, ts.Server, "/providers", "X-API-Key", rlKeyA).status, "nor /providers")
}

// Without auth the client is its IP address; X-Forwarded-For counts only
// from a trusted proxy.
func TestRateLimitByClientIP(t *testing.T) {
	cfg := rlConfig()
	cfg.APIKeys = nil
	cfg.RateLimitChatRPM = 1
	ts := startLimited(t, cfg)
	require.Equal(t, http.StatusOK, chatAs(t, ts.Server, "", "X-Forwarded-For", "203.0.113.1").status)
	assert.Equal(t, http.StatusTooManyRequests, chatAs(t, ts.Server, "", "X-Forwarded-For", "203.0.113.2").status,
		"an untrusted X-Forwarded-For is ignored: same peer, same client")

	cfg.TrustedProxies = []string{"127.0.0.0/8"}
	ts = startLimited(t, cfg)
	require.Equal(t, http.StatusOK, chatAs(t, ts.Server, "", "X-Forwarded-For", "203.0.113.1").status)
	assert.Equal(t, http.StatusOK, chatAs(t, ts.Server, "", "X-Forwarded-For", "203.0.113.2").status,
		"behind a trusted proxy each forwarded client has its own limit")
	assert.Equal(t, http.StatusTooManyRequests, chatAs(t, ts.Server, "", "X-Forwarded-For", "203.0.113.1").status)
	assert.Equal(t, http.StatusTooManyRequests, chatAs(t, ts.Server, "", "X-Forwarded-For", "198.51.100.9, 203.0.113.2").status,
		"the client is the last untrusted hop; what it claims before that is not believed")
	assert.Equal(t, http.StatusOK, chatAs(t, ts.Server, "", "X-Forwarded-For", "203.0.113.3, 127.0.0.5").status,
		"trusted hops are skipped")

	// A reload that drops the trusted proxy takes effect: the peer is the
	// client again, whatever X-Forwarded-For says.
	cfg.TrustedProxies = nil
	require.NoError(t, ts.proxy.Reload(cfg))
	require.Equal(t, http.StatusOK, chatAs(t, ts.Server, "", "X-Forwarded-For", "203.0.113.4").status)
	assert.Equal(t, http.StatusTooManyRequests, chatAs(t, ts.Server, "", "X-Forwarded-For", "203.0.113.5").status,
		"after the reload X-Forwarded-For is ignored")
}

func TestRateLimitHandlerClose(t *testing.T) {
	cfg := rlConfig()
	cfg.RateLimitChatRPM = 1
	p, err := llmproxy.New(cfg)
	require.NoError(t, err)
	defer p.Close()
	h := server.Handler(p, server.Options{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	require.Equal(t, http.StatusOK, chatAs(t, srv, rlKeyA).status)
	require.Equal(t, http.StatusTooManyRequests, chatAs(t, srv, rlKeyA).status)
	require.NoError(t, h.(io.Closer).Close())
	require.NoError(t, h.(io.Closer).Close(), "idempotent")
	assert.Equal(t, http.StatusOK, chatAs(t, srv, rlKeyA).status, "a closed handler does not limit")
	// goleak (TestMain) checks that the memory stores' sweepers are gone.
}

// replicas starts n proxies sharing the Redis server at url, with cfg.
func replicas(t *testing.T, n int, cfg llmproxy.Config, url string) []*testServer {
	t.Helper()
	cfg.RedisURL = llmproxy.Secret(url)
	out := make([]*testServer, n)
	for i := range out {
		out[i] = startLimited(t, cfg)
	}
	return out
}

// hammerChat sends n chat requests with key from workers goroutines,
// alternating between the replicas, and returns the count of each status.
// A request that fails or takes more than 5 s fails the test.
func hammerChat(t *testing.T, reps []*testServer, key string, workers, n int) map[int]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[int]int{}
	var next atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second} // a bound for a hung request, far above any on a loaded machine
	for w := range workers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				status, err := postStatusVia(client, reps[(w+int(i))%len(reps)].URL, key)
				if !assert.NoError(t, err, "no request is lost") {
					return
				}
				mu.Lock()
				counts[status]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return counts
}

// postStatusVia posts a chat request and returns the status.
func postStatusVia(client *http.Client, base, key string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(chatBody("mock-1", "hi")))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// Two proxies sharing one Redis allow the configured number of requests in
// total, under concurrent load on both.
func TestRateLimitSharedAcrossReplicas(t *testing.T) {
	redis := redistest.Start(t)
	cfg := rlConfig()
	cfg.RateLimitChatRPM = 20
	reps := replicas(t, 2, cfg, redis.PatientURL())

	counts := hammerChat(t, reps, rlKeyA, 8, 100)
	assert.InDelta(t, 20, counts[http.StatusOK], 1, "20 per minute across both replicas: %v", counts)
	assert.Equal(t, 100, counts[http.StatusOK]+counts[http.StatusTooManyRequests], "only 200 and 429: %v", counts)

	h := get(t, reps[0].Server, "/health")
	require.Equal(t, http.StatusOK, h.status)
	assert.Equal(t, map[string]any{"status": "up", "outages": float64(0), "fail_closed": false}, h.object(t)["redis"])
}

// Killing Redis mid-run loses no request: every answer is 200 or 429, none
// is a 5xx or hangs. The outage shows in /health and the metrics, and once
// Redis is back the limits are shared through it again.
func TestRateLimitRedisOutage(t *testing.T) {
	redis := redistest.Start(t)
	cfg := rlConfig()
	cfg.RateLimitChatRPM = 20
	reps := replicas(t, 2, cfg, redis.PatientURL())

	var mu sync.Mutex
	counts := map[int]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second} // a bound for a hung request, far above any on a loaded machine
	for w := range 6 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				status, err := postStatusVia(client, reps[(w+i)%2].URL, rlKeyA)
				if !assert.NoError(t, err, "no request is lost") {
					return
				}
				mu.Lock()
				counts[status]++
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		})
	}

	time.Sleep(100 * time.Millisecond)
	redis.Stop()
	require.Eventually(t, func() bool {
		h := get(t, reps[0].Server, "/health")
		redisState, _ := h.object(t)["redis"].(map[string]any)
		return h.status == http.StatusOK && redisState["status"] == "down"
	}, 5*time.Second, 20*time.Millisecond, "/health shows the outage and stays 200")
	m := get(t, reps[0].Server, "/metrics", "X-API-Key", rlKeyA)
	assert.Contains(t, string(m.body), "llmproxy_redis_up 0")
	assert.Contains(t, string(m.body), "llmproxy_redis_outages_total 1")
	// During the outage each replica limits from its memory.
	time.Sleep(200 * time.Millisecond)

	redis.Restart()
	for _, rep := range reps {
		require.Eventually(t, func() bool {
			h := get(t, rep.Server, "/health")
			redisState, _ := h.object(t)["redis"].(map[string]any)
			return redisState["status"] == "up"
		}, 5*time.Second, 20*time.Millisecond, "recovers by itself")
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	mu.Lock()
	assert.Equal(t, counts[http.StatusOK]+counts[http.StatusTooManyRequests], sumCounts(counts), "only 200 and 429: %v", counts)
	assert.Positive(t, counts[http.StatusTooManyRequests], "the limit held during the run: %v", counts)
	mu.Unlock()

	for _, rep := range reps {
		assert.Equal(t, 1, strings.Count(rep.logs.String(), "redis does not answer"), "one warning per outage and replica")
		assert.Equal(t, 1, strings.Count(rep.logs.String(), "redis answers again"))
	}

	// Shared again: a fresh client gets 20 in total from both replicas,
	// not 20 from each as the per-replica fallback would give.
	after := hammerChat(t, reps, rlKeyB, 8, 60)
	if !assert.InDelta(t, 20, after[http.StatusOK], 1, "enforced in Redis again: %v", after) {
		for _, rep := range reps {
			t.Logf("logs: %s", rep.logs.String())
		}
	}
	assert.Equal(t, 60, after[http.StatusOK]+after[http.StatusTooManyRequests], "%v", after)
	for _, rep := range reps {
		redisState, _ := get(t, rep.Server, "/health").object(t)["redis"].(map[string]any)
		assert.Equal(t, map[string]any{"status": "up", "outages": float64(1), "fail_closed": false}, redisState)
	}
}

func sumCounts(m map[int]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

func TestRateLimitRedisFailClosed(t *testing.T) {
	redis := redistest.Start(t)
	cfg := rlConfig()
	cfg.RateLimitChatRPM = 20
	cfg.RedisFailClosed = true
	reps := replicas(t, 1, cfg, redis.PatientURL())
	require.Equal(t, http.StatusOK, chatAs(t, reps[0].Server, rlKeyA).status)

	redis.Stop()
	r := chatAs(t, reps[0].Server, rlKeyA)
	require.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r.body)
	assert.Equal(t, "1", r.header.Get("Retry-After"))
	assert.Contains(t, string(r.body), `"code":"rate_limiter_unavailable"`)
	h := get(t, reps[0].Server, "/health")
	assert.Equal(t, map[string]any{"status": "down", "outages": float64(1), "fail_closed": true}, h.object(t)["redis"])

	redis.Restart()
	assert.Eventually(t, func() bool {
		return chatAs(t, reps[0].Server, rlKeyA).status == http.StatusOK
	}, 5*time.Second, 50*time.Millisecond)
}

func TestRateLimitClientGoneIsNotLogged(t *testing.T) {
	cfg := rlConfig()
	cfg.RateLimitChatRPM = 5
	ts := startLimited(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/chat/completions", strings.NewReader(chatBody("mock-1", "hi")))
	require.NoError(t, err)
	_, err = ts.Client().Do(req)
	require.Error(t, err)
	assert.NotContains(t, ts.logs.String(), "rate limiter failed")
}
