package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	openai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/redistest"
	"github.com/llmproxy/llmproxy/server"
)

// The usage every answer of a usageUpstream reports, and what it costs at
// keysPricing: (1000 × $1 + 500 × $2) / 1M.
const (
	upPrompt     = 1000
	upCompletion = 500
	upCost       = 0.002
)

// keysPricing prices the test models.
var keysPricing = map[string]llmproxy.ModelPrice{"gpt-test*": {Input: 1, Output: 2}}

// usageUpstream is an OpenAI-compatible upstream whose every answer, whole
// or streamed, reports upPrompt and upCompletion tokens. With a gate, each
// request waits at the upstream until the gate is closed.
type usageUpstream struct {
	*httptest.Server
	calls   atomic.Int64
	arrived atomic.Int64
	gate    chan struct{}
}

func startUsageUpstream(t *testing.T, gated bool) *usageUpstream {
	t.Helper()
	u := &usageUpstream{}
	if gated {
		u.gate = make(chan struct{})
	}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model  string `json:"model"`
			Stream bool   `json:"stream"`
		}
		body, _ := io.ReadAll(r.Body)
		if json.Unmarshal(body, &req) != nil || r.URL.Path != "/v1/chat/completions" {
			http.Error(w, `{"error":{"message":"bad request","type":"invalid_request_error"}}`, http.StatusBadRequest)
			return
		}
		u.calls.Add(1)
		if u.gate != nil {
			u.arrived.Add(1)
			<-u.gate
		}
		usage := fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}`,
			upPrompt, upCompletion, upPrompt+upCompletion)
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"ok","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":%s}`,
				req.Model, usage)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":%q,"choices":[%s],"usage":%s}`
		fmt.Fprintf(w, "data: "+chunk+"\n\n", req.Model, `{"index":0,"delta":{"role":"assistant","content":"ok"},"finish_reason":null}`, "null")
		fmt.Fprintf(w, "data: "+chunk+"\n\n", req.Model, `{"index":0,"delta":{},"finish_reason":"stop"}`, "null")
		fmt.Fprintf(w, "data: "+chunk+"\n\n", req.Model, "", usage)
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(u.Server.Close)
	return u
}

// keysConfig is a proxy on up with the given keys (and their values in
// Key), priced by keysPricing.
func keysConfig(up *usageUpstream, keys ...llmproxy.KeyConfig) llmproxy.Config {
	return llmproxy.Config{
		Keys:    keys,
		Pricing: keysPricing,
		Providers: []llmproxy.ProviderConfig{
			{Name: "up", Type: "openai", BaseURL: up.URL + "/v1", Timeout: 60e9},
		},
	}
}

// startKeysServer serves a proxy built from cfg with a closed handler at
// the end, as startLimited does.
func startKeysServer(t *testing.T, cfg llmproxy.Config, opts ...llmproxy.Option) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := llmproxy.New(cfg, append([]llmproxy.Option{llmproxy.WithLogger(logger)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	h := server.Handler(p, server.Options{Logger: logger})
	t.Cleanup(func() { require.NoError(t, h.(io.Closer).Close()) })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testServer{Server: srv, proxy: p, logs: logs}
}

// ask makes one chat completion with the openai-go client and returns the
// answer's _proxy_info.cost_usd (NaN when absent) or the API error.
func ask(t *testing.T, srv *httptest.Server, key, model string) (float64, *openai.Error) {
	t.Helper()
	c := newOpenAIClient(srv, key)
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	if err != nil {
		var apiErr *openai.Error
		require.True(t, errors.As(err, &apiErr), "not an API error: %v", err)
		return 0, apiErr
	}
	var extra struct {
		Info struct {
			Cost *float64 `json:"cost_usd"`
		} `json:"_proxy_info"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp.RawJSON()), &extra))
	if extra.Info.Cost == nil {
		return math.NaN(), nil
	}
	return *extra.Info.Cost, nil
}

// keyUsage reads GET /v1/key with key.
func keyUsage(t *testing.T, srv *httptest.Server, key string) llmproxy.KeyUsage {
	t.Helper()
	r := do(t, srv, http.MethodGet, "/v1/key", "", "Authorization", "Bearer "+key)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var u llmproxy.KeyUsage
	require.NoError(t, json.Unmarshal(r.body, &u))
	return u
}

func TestKeyModelNotAllowed(t *testing.T) {
	up := startUsageUpstream(t, false)
	cfg := keysConfig(up, llmproxy.KeyConfig{Name: "team-a", Key: "sk-team-a", Models: []string{"gpt-test-a*"}})
	// A second provider whose models GET /v1/models lists; "up" serves any.
	cfg.Providers = append(cfg.Providers, llmproxy.ProviderConfig{Name: "m", Type: "mock", Models: []string{"mock-1", "gpt-test-a9"}, Priority: 2})
	srv := startKeysServer(t, cfg)

	cost, apiErr := ask(t, srv.Server, "sk-team-a", "gpt-test-a1")
	require.Nil(t, apiErr)
	assert.InDelta(t, upCost, cost, 1e-12, "_proxy_info.cost_usd")

	_, apiErr = ask(t, srv.Server, "sk-team-a", "gpt-test-b")
	require.NotNil(t, apiErr)
	assert.Equal(t, http.StatusForbidden, apiErr.StatusCode)
	assert.Equal(t, "model_not_allowed", apiErr.Code)
	assert.Equal(t, "model", apiErr.Param)
	assert.Contains(t, apiErr.Message, "team-a", "the error names the key")
	assert.NotContains(t, apiErr.Message, "sk-team-a", "never the key itself")
	assert.Equal(t, "false", apiErr.Response.Header.Get("X-Should-Retry"))
	assert.EqualValues(t, 1, up.calls.Load(), "the refused request never reached the upstream")

	// GET /v1/models lists only the models the key may use.
	r := do(t, srv.Server, http.MethodGet, "/v1/models", "", "Authorization", "Bearer sk-team-a")
	require.Equal(t, http.StatusOK, r.status)
	assert.NotContains(t, string(r.body), "mock-1")
	assert.Contains(t, string(r.body), "gpt-test-a9")

	// A wrong key is still refused, and a key of keys authenticates.
	_, apiErr = ask(t, srv.Server, "sk-nope", "gpt-test-a1")
	require.NotNil(t, apiErr)
	assert.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
	waitLog(t, srv.logs, func() bool { return strings.Count(srv.logs.String(), `"key":"team-a"`) >= 2 })
	assert.NotContains(t, srv.logs.String(), "sk-team-a", "the key never reaches the log")
}

func TestKeyBudgetExceeded(t *testing.T) {
	up := startUsageUpstream(t, false)
	srv := startKeysServer(t, keysConfig(up, llmproxy.KeyConfig{Name: "team-b", Key: "sk-team-b", BudgetUSD: 0.005, BudgetPeriod: "daily"}))

	// Admitted while under the budget: 0, 0.002, 0.004 spent before each.
	for i := range 3 {
		_, apiErr := ask(t, srv.Server, "sk-team-b", "gpt-test")
		require.Nil(t, apiErr, "request %d", i)
	}
	_, apiErr := ask(t, srv.Server, "sk-team-b", "gpt-test")
	require.NotNil(t, apiErr, "the spend (0.006) crossed the budget (0.005)")
	assert.Equal(t, http.StatusTooManyRequests, apiErr.StatusCode)
	assert.Equal(t, "budget_exceeded", apiErr.Code)
	assert.Equal(t, "insufficient_quota", apiErr.Type)
	assert.Equal(t, "false", apiErr.Response.Header.Get("X-Should-Retry"), "the SDKs must not retry it")
	assert.EqualValues(t, 3, up.calls.Load())

	u := keyUsage(t, srv.Server, "sk-team-b")
	assert.Equal(t, "team-b", u.Name)
	assert.InDelta(t, 3*upCost, u.SpendUSD, 1e-9)
	require.NotNil(t, u.RemainingUSD)
	assert.Zero(t, *u.RemainingUSD)
	assert.Equal(t, "daily", u.BudgetPeriod)

	metrics := get(t, srv.Server, "/metrics", "X-API-Key", "sk-team-b")
	assert.Contains(t, string(metrics.body), `llmproxy_cost_usd_total{provider="up",model="gpt-test",key="team-b"} 0.006`)
}

// TestKeyBudgetOvershootBound checks the documented bound: a request is
// admitted while the spend is under the budget and charged when its
// answer is known, so the spend can pass the budget by at most the cost
// of the requests in flight, and never by more.
func TestKeyBudgetOvershootBound(t *testing.T) {
	const budget = 10.5 * upCost // ten and a half requests
	t.Run("50 in flight at once", func(t *testing.T) {
		up := startUsageUpstream(t, true)
		srv := startKeysServer(t, keysConfig(up, llmproxy.KeyConfig{Name: "burst", Key: "sk-burst", BudgetUSD: budget}))
		var refused atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan *openai.Error, 50)
		for range 50 {
			wg.Go(func() {
				if _, apiErr := ask(t, srv.Server, "sk-burst", "gpt-test"); apiErr != nil {
					refused.Add(1)
					errs <- apiErr
				}
			})
		}
		// Hold every admitted request at the upstream until all 50 are
		// either there or refused: the worst case, 50 in flight.
		for up.arrived.Load()+refused.Load() < 50 {
			time.Sleep(time.Millisecond) // a poll, not a timing assertion
		}
		close(up.gate)
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Errorf("refused while nothing was charged yet: %d %s", e.StatusCode, e.Code)
		}
		spend := keyUsage(t, srv.Server, "sk-burst").SpendUSD
		assert.InDelta(t, 50*upCost, spend, 1e-9, "every answered request is charged, none lost")
		assert.LessOrEqual(t, spend, budget+50*upCost, "the bound: the budget plus the requests in flight")
		_, apiErr := ask(t, srv.Server, "sk-burst", "gpt-test")
		require.NotNil(t, apiErr)
		assert.Equal(t, "budget_exceeded", apiErr.Code)
	})
	t.Run("waves of 10", func(t *testing.T) {
		up := startUsageUpstream(t, false)
		srv := startKeysServer(t, keysConfig(up, llmproxy.KeyConfig{Name: "waves", Key: "sk-waves", BudgetUSD: budget}))
		var ok, refused atomic.Int64
		for range 5 {
			var wg sync.WaitGroup
			for range 10 {
				wg.Go(func() {
					_, apiErr := ask(t, srv.Server, "sk-waves", "gpt-test")
					switch {
					case apiErr == nil:
						ok.Add(1)
					case apiErr.Code == "budget_exceeded":
						refused.Add(1)
					default:
						t.Errorf("unexpected error %d %s", apiErr.StatusCode, apiErr.Code)
					}
				})
			}
			wg.Wait()
		}
		spend := keyUsage(t, srv.Server, "sk-waves").SpendUSD
		assert.InDelta(t, float64(ok.Load())*upCost, spend, 1e-9, "spend is exactly the answered requests' cost")
		assert.GreaterOrEqual(t, spend, budget, "admitted until the budget was crossed")
		assert.LessOrEqual(t, spend, budget+10*upCost, "at most 10 in flight: at most 10 requests over")
		assert.EqualValues(t, 50, ok.Load()+refused.Load())
		assert.EqualValues(t, ok.Load(), up.calls.Load(), "refused requests never reach the upstream")
	})
}

// askHeaders is ask with the answer's (or the error's) headers; stream
// makes a streamed request, read to its end.
func askHeaders(t *testing.T, srv *httptest.Server, key, model string, stream bool) (http.Header, *openai.Error) {
	t.Helper()
	c := newOpenAIClient(srv, key)
	var resp *http.Response
	params := openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	var err error
	if stream {
		st := c.Chat.Completions.NewStreaming(context.Background(), params, option.WithResponseInto(&resp))
		for st.Next() {
		}
		err = st.Err()
		_ = st.Close()
	} else {
		_, err = c.Chat.Completions.New(context.Background(), params, option.WithResponseInto(&resp))
	}
	if err != nil {
		var apiErr *openai.Error
		require.True(t, errors.As(err, &apiErr), "not an API error: %v", err)
		return apiErr.Response.Header, apiErr
	}
	return resp.Header, nil
}

// tokenWindow is the minute an answer's X-RateLimit-Reset-Tokens names.
func tokenWindow(t *testing.T, h http.Header) string {
	t.Helper()
	v := h.Get("X-RateLimit-Reset-Tokens")
	require.NotEmpty(t, v, "X-RateLimit-Reset-Tokens")
	return v
}

// tpmRun makes requests for key alternately on the servers until one is
// refused, and returns how many were admitted and the refusal's headers,
// or ok false when the requests did not all fall in one minute (the
// caller tries again with another key). Every request reports 1,500
// tokens; one in two is streamed, whose usage the proxy learns at its end.
func tpmRun(t *testing.T, key string, srvs ...*httptest.Server) (admitted int, refusal http.Header, apiErr *openai.Error, ok bool) {
	t.Helper()
	window := ""
	for i := 0; i < 20; i++ {
		h, e := askHeaders(t, srvs[i%len(srvs)], key, "gpt-test", i%2 == 1)
		if w := tokenWindow(t, h); window == "" {
			window = w
		} else if w != window {
			return 0, nil, nil, false
		}
		if e != nil {
			return i, h, e, true
		}
	}
	t.Fatal("never refused")
	return 0, nil, nil, false
}

func TestKeyTPM(t *testing.T) {
	up := startUsageUpstream(t, false)
	var keys []llmproxy.KeyConfig
	for i := range 3 {
		keys = append(keys, llmproxy.KeyConfig{Name: "tpm-" + strconv.Itoa(i), Key: llmproxy.Secret("sk-tpm-" + strconv.Itoa(i)), TPM: 3000})
	}
	srv := startKeysServer(t, keysConfig(up, keys...))
	for i := range 3 {
		admitted, h, apiErr, ok := tpmRun(t, "sk-tpm-"+strconv.Itoa(i), srv.Server)
		if !ok {
			continue // a minute ended between two requests
		}
		assert.Equal(t, 2, admitted, "0 and 1,500 tokens used are under 3,000; 3,000 is not")
		assert.Equal(t, http.StatusTooManyRequests, apiErr.StatusCode)
		assert.Equal(t, "rate_limit_exceeded", apiErr.Code)
		assert.NotEmpty(t, h.Get("Retry-After"))
		assert.Equal(t, "3000", h.Get("X-RateLimit-Limit-Tokens"))
		assert.Equal(t, "0", h.Get("X-RateLimit-Remaining-Tokens"))
		assert.Equal(t, "3000", strconv.FormatInt(keyUsage(t, srv.Server, "sk-tpm-"+strconv.Itoa(i)).TokensThisMinute, 10))
		return
	}
	t.Fatal("three runs each crossed a minute")
}

func TestKeyReloadKeepsSpend(t *testing.T) {
	up := startUsageUpstream(t, false)
	key := llmproxy.KeyConfig{Name: "team-r", Key: "sk-team-r", BudgetUSD: 0.003}
	cfg := keysConfig(up, key)
	srv := startKeysServer(t, cfg)
	for range 2 {
		_, apiErr := ask(t, srv.Server, "sk-team-r", "gpt-test")
		require.Nil(t, apiErr)
	}
	_, apiErr := ask(t, srv.Server, "sk-team-r", "gpt-test")
	require.NotNil(t, apiErr)
	assert.Equal(t, "budget_exceeded", apiErr.Code)

	key.BudgetUSD = 0.1
	cfg.Keys = []llmproxy.KeyConfig{key}
	require.NoError(t, srv.proxy.Reload(cfg))
	_, apiErr = ask(t, srv.Server, "sk-team-r", "gpt-test")
	require.Nil(t, apiErr, "the raised budget applies to the next request")
	u := keyUsage(t, srv.Server, "sk-team-r")
	assert.InDelta(t, 3*upCost, u.SpendUSD, 1e-9, "the spend of before the reload is kept")
	assert.InDelta(t, 0.1, u.BudgetUSD, 1e-12)

	key.Models = []string{"other-*"}
	cfg.Keys = []llmproxy.KeyConfig{key}
	require.NoError(t, srv.proxy.Reload(cfg))
	_, apiErr = ask(t, srv.Server, "sk-team-r", "gpt-test")
	require.NotNil(t, apiErr)
	assert.Equal(t, "model_not_allowed", apiErr.Code)
}

// TestKeyLimitsSharedInRedis runs two replicas on one redis-server: they
// enforce one budget and one tpm limit between them, and concurrent
// charges on both are all counted.
func TestKeyLimitsSharedInRedis(t *testing.T) {
	rs := redistest.Start(t)
	up := startUsageUpstream(t, false)
	keys := []llmproxy.KeyConfig{
		{Name: "shared-budget", Key: "sk-shared-budget", BudgetUSD: 10.5 * upCost},
		{Name: "shared-spend", Key: "sk-shared-spend", BudgetUSD: 100},
	}
	for i := range 3 {
		keys = append(keys, llmproxy.KeyConfig{Name: "shared-tpm-" + strconv.Itoa(i), Key: llmproxy.Secret("sk-shared-tpm-" + strconv.Itoa(i)), TPM: 4500})
	}
	cfg := keysConfig(up, keys...)
	cfg.RedisURL = llmproxy.Secret(rs.PatientURL())
	a := startKeysServer(t, cfg)
	b := startKeysServer(t, cfg)

	// One budget: sequential requests, alternately on each replica, are
	// admitted while the shared spend is under 10.5 requests' worth.
	answered := 0
	for i := range 30 {
		srv := []*testServer{a, b}[i%2]
		_, apiErr := ask(t, srv.Server, "sk-shared-budget", "gpt-test")
		if apiErr != nil {
			assert.Equal(t, "budget_exceeded", apiErr.Code)
			break
		}
		answered++
	}
	assert.Equal(t, 11, answered, "one budget for both replicas (each alone would admit 11)")
	for _, srv := range []*testServer{a, b} {
		assert.InDelta(t, 11*upCost, keyUsage(t, srv.Server, "sk-shared-budget").SpendUSD, 1e-9, "every replica reads the shared spend")
	}

	// Concurrent charges on both replicas are all counted.
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			_, apiErr := ask(t, []*testServer{a, b}[i%2].Server, "sk-shared-spend", "gpt-test")
			assert.Nil(t, apiErr)
		})
	}
	wg.Wait()
	assert.InDelta(t, 40*upCost, keyUsage(t, a.Server, "sk-shared-spend").SpendUSD, 1e-9)

	// One tpm limit: 0, 1,500 and 3,000 tokens are under 4,500; the
	// fourth request, on either replica, is not.
	for i := range 3 {
		admitted, _, apiErr, ok := tpmRun(t, "sk-shared-tpm-"+strconv.Itoa(i), a.Server, b.Server)
		if !ok {
			continue
		}
		assert.Equal(t, 3, admitted, "one tpm limit for both replicas")
		assert.Equal(t, "rate_limit_exceeded", apiErr.Code)
		return
	}
	t.Fatal("three runs each crossed a minute")
}

func TestKeyRPMAndAdmin(t *testing.T) {
	up := startUsageUpstream(t, false)
	srv := startKeysServer(t, keysConfig(up,
		llmproxy.KeyConfig{Name: "team-rpm", Key: "sk-team-rpm", RPM: 2},
		llmproxy.KeyConfig{Name: "ops", Key: "sk-ops"},
	))
	cfg := srv.proxy.Config()
	cfg.AdminKeys = []string{"ops"}
	require.NoError(t, srv.proxy.Reload(cfg))

	for i := range 2 {
		h, apiErr := askHeaders(t, srv.Server, "sk-team-rpm", "gpt-test", false)
		require.Nil(t, apiErr, "request %d", i)
		assert.Equal(t, "2", h.Get("X-RateLimit-Limit"))
		assert.Equal(t, strconv.Itoa(1-i), h.Get("X-RateLimit-Remaining"))
	}
	h, apiErr := askHeaders(t, srv.Server, "sk-team-rpm", "gpt-test", false)
	require.NotNil(t, apiErr)
	assert.Equal(t, http.StatusTooManyRequests, apiErr.StatusCode)
	assert.Equal(t, "rate_limit_exceeded", apiErr.Code)
	assert.Contains(t, apiErr.Message, "team-rpm")
	assert.NotEmpty(t, h.Get("Retry-After"))
	assert.Equal(t, "0", h.Get("X-RateLimit-Remaining"))
	assert.EqualValues(t, 2, up.calls.Load())

	r := do(t, srv.Server, http.MethodGet, "/admin/keys", "", "Authorization", "Bearer sk-team-rpm")
	assert.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
	r = do(t, srv.Server, http.MethodGet, "/admin/keys", "", "Authorization", "Bearer sk-ops")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var list struct {
		Data []llmproxy.KeyUsage `json:"data"`
	}
	require.NoError(t, json.Unmarshal(r.body, &list))
	require.Len(t, list.Data, 2)
	assert.Equal(t, "team-rpm", list.Data[0].Name)
	assert.InDelta(t, 2*upCost, list.Data[0].SpendUSD, 1e-9)
	assert.Equal(t, 2, list.Data[0].RPM)
	assert.Nil(t, list.Data[0].RemainingUSD, "no budget")
	assert.Equal(t, "ops", list.Data[1].Name)
}

func TestKeyStreamCost(t *testing.T) {
	up := startUsageUpstream(t, false)
	srv := startKeysServer(t, keysConfig(up, llmproxy.KeyConfig{Name: "team-s", Key: "sk-team-s"}))
	c := newOpenAIClient(srv.Server, "sk-team-s")
	st := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-test", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	last := ""
	for st.Next() {
		last = st.Current().RawJSON()
	}
	require.NoError(t, st.Err())
	require.NoError(t, st.Close())
	var chunk struct {
		Info struct {
			Cost *float64 `json:"cost_usd"`
		} `json:"_proxy_info"`
	}
	require.NoError(t, json.Unmarshal([]byte(last), &chunk), last)
	require.NotNil(t, chunk.Info.Cost, "the last chunk's _proxy_info has the stream's cost: %s", last)
	assert.InDelta(t, upCost, *chunk.Info.Cost, 1e-12)
	assert.InDelta(t, upCost, keyUsage(t, srv.Server, "sk-team-s").SpendUSD, 1e-12, "a stream is charged when it ends")
	// The access log line is written once the handler returns, which may
	// be after the client read the end of the stream.
	waitLog(t, srv.logs, func() bool { return strings.Contains(srv.logs.String(), `"cost_usd":0.002`) })
}
