package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/openai"
	"github.com/llmproxy/llmproxy/server"
)

// failoverModel is the model every upstream of these tests serves.
const failoverModel = "gpt-test"

// step answers one request to a fake upstream.
type step func(w http.ResponseWriter, r *http.Request)

// fakeUpstream is an httptest server speaking OpenAI wire bytes. Its n-th
// request gets the n-th step; the last step answers every later request.
type fakeUpstream struct {
	*httptest.Server
	name  string
	hits  atomic.Int32
	steps []step
}

func newUpstream(t *testing.T, name string, steps ...step) *fakeUpstream {
	t.Helper()
	require.NotEmpty(t, steps)
	u := &fakeUpstream{name: name, steps: steps}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
			http.Error(w, `{"error":{"message":"unexpected `+r.Method+" "+r.URL.Path+`","type":"invalid_request_error","param":null,"code":null}}`, http.StatusNotFound)
			return
		}
		n := int(u.hits.Add(1))
		u.steps[min(n, len(u.steps))-1](w, r)
	}))
	t.Cleanup(func() {
		u.CloseClientConnections() // ends any request still hanging
		u.Close()
	})
	return u
}

// answerOK answers a chat completion whose text names the upstream.
func answerOK(name string) step {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("x-request-id", "req_"+name)
		fmt.Fprintf(w, `{"id":"chatcmpl-%[1]s","object":"chat.completion","created":1741569952,"model":"gpt-test-2025-01-01",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"answer from %[1]s","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8},"service_tier":"default","system_fingerprint":"fp_%[1]s"}`, name)
	}
}

// answerError answers an OpenAI error envelope with status and the given
// header pairs.
func answerError(status int, typ, code, param, message string, header ...string) step {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		nullable := func(s string) string {
			if s == "" {
				return "null"
			}
			return strconv.Quote(s)
		}
		fmt.Fprintf(w, `{"error":{"message":%s,"type":%s,"param":%s,"code":%s}}`+"\n",
			strconv.Quote(message), strconv.Quote(typ), nullable(param), nullable(code))
	}
}

// hang answers nothing until the request ends. It reads the body first:
// only then does net/http notice the client hanging up and cancel the
// request's context.
func hang(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

// upstreamProvider configures an OpenAI-type provider for url.
func upstreamProvider(name, url string, priority int) llmproxy.ProviderConfig {
	return llmproxy.ProviderConfig{
		Name: name, Type: "openai", BaseURL: url + "/v1", APIKey: llmproxy.Secret("sk-" + name + "-key"),
		Models: []string{failoverModel}, Priority: priority,
		Timeout: 10 * time.Second, RetryDelay: 10 * time.Millisecond,
	}
}

func failoverConfig(providers ...llmproxy.ProviderConfig) llmproxy.Config {
	return llmproxy.Config{APIKeys: []string{clientKey}, Providers: providers}
}

const (
	serverErrorMsg = "The server had an error while processing your request. Sorry about that!"
	rateLimitMsg   = "Rate limit reached for gpt-test in organization org-abc on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1s."
	quotaMsg       = "You exceeded your current quota, please check your plan and billing details."
	badKeyMsg      = "Incorrect API key provided: sk-prima***-key. You can find your API key at https://platform.openai.com/account/api-keys."
	contextMsg     = "This model's maximum context length is 8192 tokens. However, your messages resulted in 9001 tokens. Please reduce the length of the messages."
)

func TestFailover(t *testing.T) {
	tests := []struct {
		name        string
		primary     func(t *testing.T) []step
		configure   func(p *llmproxy.ProviderConfig)
		wantFrom    string // "primary" or "backup"
		wantAttempt int
		primaryHits int32
		// minElapsed is a wait the proxy must make (a lower bound, which
		// a busy machine cannot break). No test bounds the time from
		// above: a wait that must not happen is made long enough (an
		// hour) that the request would end at the request timeout
		// (requestTimeout, far above what a correct run needs) instead of
		// with the expected answer.
		minElapsed     time.Duration
		requestTimeout time.Duration
	}{
		{
			name: "500 retried once then backup",
			primary: func(*testing.T) []step {
				return []step{answerError(500, "server_error", "", "", serverErrorMsg)}
			},
			configure:   func(p *llmproxy.ProviderConfig) { p.MaxRetries = 1 },
			wantFrom:    "backup",
			wantAttempt: 3,
			primaryHits: 2,
		},
		{
			name: "429 without retries goes to backup",
			primary: func(*testing.T) []step {
				// No waiting for Retry-After: a wait would outlast the
				// request timeout.
				return []step{answerError(429, "requests", "rate_limit_exceeded", "", rateLimitMsg, "Retry-After", "3600")}
			},
			configure:      func(p *llmproxy.ProviderConfig) { p.MaxRetries = 0 },
			wantFrom:       "backup",
			wantAttempt:    2,
			primaryHits:    1,
			requestTimeout: 30 * time.Second,
		},
		{
			name: "429 retried after Retry-After then primary answers",
			primary: func(*testing.T) []step {
				return []step{
					answerError(429, "requests", "rate_limit_exceeded", "", rateLimitMsg, "Retry-After", "1"),
					answerOK("primary"),
				}
			},
			configure:   func(p *llmproxy.ProviderConfig) { p.MaxRetries = 1 },
			wantFrom:    "primary",
			wantAttempt: 2,
			primaryHits: 2,
			minElapsed:  900 * time.Millisecond, // waited for Retry-After
		},
		{
			name: "429 insufficient_quota goes to backup without retry",
			primary: func(*testing.T) []step {
				return []step{answerError(429, "insufficient_quota", "insufficient_quota", "", quotaMsg)}
			},
			configure:   func(p *llmproxy.ProviderConfig) { p.MaxRetries = 3 },
			wantFrom:    "backup",
			wantAttempt: 2,
			primaryHits: 1,
		},
		{
			name: "timeout goes to backup without retry",
			primary: func(t *testing.T) []step {
				return []step{hang}
			},
			configure: func(p *llmproxy.ProviderConfig) {
				p.Timeout = 300 * time.Millisecond
				p.MaxRetries = 2
			},
			wantFrom:    "backup",
			wantAttempt: 2,
			primaryHits: 1,
			minElapsed:  300 * time.Millisecond,
		},
		{
			name: "401 bad upstream key goes to backup",
			primary: func(*testing.T) []step {
				return []step{answerError(401, "invalid_request_error", "invalid_api_key", "", badKeyMsg)}
			},
			configure:   func(p *llmproxy.ProviderConfig) { p.MaxRetries = 2 },
			wantFrom:    "backup",
			wantAttempt: 2,
			primaryHits: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			primary := newUpstream(t, "primary", tc.primary(t)...)
			backup := newUpstream(t, "backup", answerOK("backup"))
			pc := upstreamProvider("primary", primary.URL, 1)
			tc.configure(&pc)
			cfg := failoverConfig(pc, upstreamProvider("backup", backup.URL, 2))
			cfg.RequestTimeout = tc.requestTimeout
			ts := startServer(t, cfg, server.Options{})

			start := time.Now()
			r := postJSON(t, ts.Server, "/v1/chat/completions", chatBody(failoverModel, "who answers?"))
			elapsed := time.Since(start)

			require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
			assert.Equal(t, "answer from "+tc.wantFrom, chatText(t, r.body))
			pi := getProxyInfo(t, r.body)
			assert.Equal(t, tc.wantFrom, pi.Provider)
			assert.Equal(t, tc.wantAttempt, pi.AttemptNumber)
			assert.Equal(t, tc.wantFrom, r.header.Get("X-LLMProxy-Provider"))
			assert.Equal(t, strconv.Itoa(tc.wantAttempt), r.header.Get("X-LLMProxy-Attempt"))
			assert.Equal(t, tc.primaryHits, primary.hits.Load(), "requests the primary got")
			wantBackupHits := int32(0)
			if tc.wantFrom == "backup" {
				wantBackupHits = 1
			}
			assert.Equal(t, wantBackupHits, backup.hits.Load(), "requests the backup got")
			if tc.minElapsed > 0 {
				assert.GreaterOrEqual(t, elapsed, tc.minElapsed)
			}

			// The access log names the provider that answered and the attempts.
			recs := ts.logs.waitRecord(t, "request", pi.RequestID)
			require.Len(t, recs, 1, "log:\n%s", ts.logs)
			assert.Equal(t, tc.wantFrom, recs[0]["provider"])
			assert.Equal(t, float64(tc.wantAttempt), recs[0]["attempts"])
			assert.NotContains(t, ts.logs.String(), "sk-primary-key")
			assert.NotContains(t, ts.logs.String(), "sk-backup-key")
		})
	}
}

// TestFailoverConnectionRefused checks that a provider refusing connections
// is left at once for the next one, without sleeping on retries: the
// backoff is longer than the request timeout, so a sleep would end the
// request with 504 instead of the backup's answer. Nothing is timed.
func TestFailoverConnectionRefused(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	backup := newUpstream(t, "backup", answerOK("backup"))
	pc := upstreamProvider("primary", deadURL, 1)
	pc.MaxRetries = 3
	pc.RetryDelay = time.Hour // capped at 30 s: a sleep of 15 to 30 s
	cfg := failoverConfig(pc, upstreamProvider("backup", backup.URL, 2))
	cfg.RequestTimeout = 12 * time.Second // above the attempt timeout, below any sleep
	ts := startServer(t, cfg, server.Options{})

	r := postJSON(t, ts.Server, "/v1/chat/completions", chatBody(failoverModel, "anyone there?"))

	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	assert.Equal(t, "answer from backup", chatText(t, r.body))
	pi := getProxyInfo(t, r.body)
	assert.Equal(t, "backup", pi.Provider)
	assert.Equal(t, 2, pi.AttemptNumber, "one attempt on the dead primary, then the backup")
	assert.Equal(t, int32(1), backup.hits.Load())
}

// TestUpstreamInvalidRequestNotFailedOver checks that the upstream's 400 is
// the client's mistake: returned as it is, never tried elsewhere.
func TestUpstreamInvalidRequestNotFailedOver(t *testing.T) {
	primary := newUpstream(t, "primary", answerError(400, "invalid_request_error", "context_length_exceeded", "messages", contextMsg))
	backup := newUpstream(t, "backup", answerOK("backup"))
	pc := upstreamProvider("primary", primary.URL, 1)
	pc.MaxRetries = 3
	ts := startServer(t, failoverConfig(pc, upstreamProvider("backup", backup.URL, 2)), server.Options{})

	r := postJSON(t, ts.Server, "/v1/chat/completions", chatBody(failoverModel, "a very long prompt"))
	require.Equal(t, http.StatusBadRequest, r.status, "body: %s", r.body)
	env := errorEnvelope(t, r)
	assert.Equal(t, contextMsg, env.Message)
	assert.Equal(t, "invalid_request_error", env.Type)
	assert.Equal(t, "messages", deref(env.Param))
	assert.Equal(t, "context_length_exceeded", deref(env.Code))
	assert.Equal(t, "false", r.header.Get("X-Should-Retry"))
	assert.Equal(t, int32(1), primary.hits.Load(), "a 400 is not retried")
	assert.Equal(t, int32(0), backup.hits.Load(), "a 400 is not failed over")
}

// TestAllUpstreamsFail checks the answer when every candidate fails: an
// error envelope that names no upstream key, and that tells the client not
// to retry, since the proxy already tried every provider it has.
func TestAllUpstreamsFail(t *testing.T) {
	primary := newUpstream(t, "primary", answerError(503, "server_error", "", "", serverErrorMsg))
	backup := newUpstream(t, "backup", answerError(500, "server_error", "", "", serverErrorMsg))
	ts := startServer(t, failoverConfig(
		upstreamProvider("primary", primary.URL, 1),
		upstreamProvider("backup", backup.URL, 2),
	), server.Options{})

	r := postJSON(t, ts.Server, "/v1/chat/completions", chatBody(failoverModel, "hello?"))
	assert.GreaterOrEqual(t, r.status, 500, "body: %s", r.body)
	env := errorEnvelope(t, r)
	assert.Contains(t, env.Message, "backup", "the message names the last provider tried")
	assert.Equal(t, "false", r.header.Get("X-Should-Retry"))
	assert.NotContains(t, string(r.body), "sk-primary-key")
	assert.NotContains(t, string(r.body), "sk-backup-key")
	assert.Equal(t, int32(1), primary.hits.Load())
	assert.Equal(t, int32(1), backup.hits.Load())
}
