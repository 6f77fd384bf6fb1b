package openai

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmproxy/llmproxy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testKey is the API key the tests configure; no error may contain it.
const testKey = "sk-test-SECRET-5f1c9e2a7b"

// reply is what a mock upstream answers on one route.
type reply struct {
	status int
	header map[string]string
	body   string
}

// received is a request as the mock upstream saw it.
type received struct {
	method string
	path   string
	header http.Header
	body   []byte
}

// mockUpstream is an httptest server that answers fixed bytes per
// "METHOD /path" and records what it received. Unknown routes get 404.
type mockUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

func newMockUpstream(t *testing.T, routes map[string]reply) *mockUpstream {
	t.Helper()
	u := &mockUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, received{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: body})
		u.mu.Unlock()
		rep, ok := routes[r.Method+" "+r.URL.Path]
		if !ok {
			rep = reply{status: 404, body: `{"error":{"message":"Unknown request URL: ` + r.Method + " " + r.URL.Path + `","type":"invalid_request_error","param":null,"code":"unknown_url"}}`}
		}
		if _, set := rep.header["Content-Type"]; !set {
			w.Header().Set("Content-Type", "application/json")
		}
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		status := rep.status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, rep.body)
	}))
	t.Cleanup(u.Close)
	return u
}

// last returns the last request received.
func (u *mockUpstream) last(t *testing.T) received {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	require.NotEmpty(t, u.reqs, "the upstream received no request")
	return u.reqs[len(u.reqs)-1]
}

// count returns the number of requests received.
func (u *mockUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// newTestProvider builds a provider of the flavor against baseURL with the
// test key, closed when the test ends.
func newTestProvider(t *testing.T, flavor, baseURL string, mods ...func(*llmproxy.ProviderConfig)) llmproxy.Provider {
	t.Helper()
	cfg := llmproxy.ProviderConfig{Name: "up-" + flavor, Type: flavor, BaseURL: baseURL, APIKey: testKey}
	for _, m := range mods {
		m(&cfg)
	}
	p, err := New(cfg, flavor)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.(llmproxy.Closer).Close() })
	return p
}

// chatRequest parses a client body as the server would.
func chatRequest(t *testing.T, body string) *llmproxy.ChatRequest {
	t.Helper()
	req, err := llmproxy.ParseChatRequest([]byte(body))
	require.NoError(t, err)
	return req
}

// asError asserts that err is an *llmproxy.Error and returns it.
func asError(t *testing.T, err error) *llmproxy.Error {
	t.Helper()
	require.Error(t, err)
	e, ok := err.(*llmproxy.Error)
	require.Truef(t, ok, "error %T is not an *llmproxy.Error: %v", err, err)
	return e
}
