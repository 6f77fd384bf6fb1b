package anthropic

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/secrettest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testKey is the API key the tests configure; no error may contain it.
const testKey = "sk-ant-api03-TEST-SECRET-9f8e7d6c"

// reply is a scripted answer of the fake upstream.
type reply struct {
	status int
	header map[string]string
	body   string
}

// received is a request as the fake upstream saw it.
type received struct {
	method string
	path   string
	query  string
	header http.Header
	body   []byte
}

// fakeAnthropic is an httptest server that validates requests the way the
// Messages API does (see the reference's mock checklist) and answers them
// with scripted wire bytes: messages answers POST /v1/messages without
// stream, events answers it with stream set, models answers GET /v1/models.
// A request that fails validation gets Anthropic's own 4xx error.
type fakeAnthropic struct {
	*httptest.Server
	mu       sync.Mutex
	reqs     []received
	messages reply
	events   reply
	models   []reply // one per page, in order of after_id
}

func newFakeAnthropic(t *testing.T) *fakeAnthropic {
	t.Helper()
	f := &fakeAnthropic{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// set changes the scripted answers under the lock.
func (f *fakeAnthropic) set(change func(f *fakeAnthropic)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

func (f *fakeAnthropic) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, received{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(), body: body})
	messages, events, models := f.messages, f.events, f.models
	f.mu.Unlock()

	w.Header().Set("Request-Id", "req_011CTestRequest")
	switch key := r.Header.Get("X-Api-Key"); {
	case key == "":
		writeAnthropicError(w, 401, "authentication_error", "x-api-key header is required")
		return
	case key != testKey:
		writeAnthropicError(w, 401, "authentication_error", "invalid x-api-key")
		return
	}
	if r.Header.Get("Anthropic-Version") == "" {
		writeAnthropicError(w, 400, "invalid_request_error", "anthropic-version: header is required")
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		page := 0
		if after := r.URL.Query().Get("after_id"); after != "" {
			fmt.Sscanf(after, "page-%d", &page)
		}
		if page >= len(models) {
			writeAnthropicError(w, 404, "not_found_error", "no such page")
			return
		}
		writeReply(w, models[page], "application/json")
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages":
		stream, msg := validateMessages(body)
		if msg != "" {
			writeAnthropicError(w, 400, "invalid_request_error", msg)
			return
		}
		if stream {
			writeReply(w, events, "text/event-stream")
		} else {
			writeReply(w, messages, "application/json")
		}
	default:
		writeAnthropicError(w, 404, "not_found_error", "Not Found")
	}
}

// validateMessages checks a Messages request as the API does and returns
// the error message it would answer with ("" when valid).
func validateMessages(body []byte) (stream bool, problem string) {
	var req struct {
		Model       *string          `json:"model"`
		MaxTokens   *int             `json:"max_tokens"`
		Messages    []map[string]any `json:"messages"`
		Temperature *float64         `json:"temperature"`
		Stream      bool             `json:"stream"`
		ToolChoice  map[string]any   `json:"tool_choice"`
		Tools       []any            `json:"tools"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return false, "There was an issue with your request body: " + err.Error()
	}
	switch {
	case req.Model == nil:
		return false, "model: Field required"
	case req.MaxTokens == nil:
		return false, "max_tokens: Field required"
	case len(req.Messages) == 0:
		return false, "messages: at least one message is required"
	case req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 1):
		return false, "temperature: range: 0..1"
	case req.ToolChoice != nil && len(req.Tools) == 0:
		return false, "tool_choice: tool_choice may only be specified while providing tools"
	}
	var pendingToolUse []string
	prev := ""
	for i, m := range req.Messages {
		role, _ := m["role"].(string)
		switch role {
		case "system":
			return false, `messages: Unexpected role "system". The Messages API accepts a top-level ` + "`system`" + ` parameter, not "system" as an input message role.`
		case "user", "assistant":
		default:
			return false, fmt.Sprintf("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		if role == prev {
			return false, fmt.Sprintf(`messages: roles must alternate between "user" and "assistant", but found multiple %q roles in a row`, role)
		}
		prev = role
		blocks, _ := m["content"].([]any)
		if _, isString := m["content"].(string); !isString && len(blocks) == 0 {
			return false, fmt.Sprintf("messages.%d: all messages must have non-empty content", i)
		}
		// The results of the previous turn's tool calls come first.
		answered := map[string]bool{}
		seenOther := false
		for j, b := range blocks {
			blk, _ := b.(map[string]any)
			switch blk["type"] {
			case "tool_result":
				if seenOther {
					return false, fmt.Sprintf("messages.%d.content.%d: tool_result blocks must come first", i, j)
				}
				id, _ := blk["tool_use_id"].(string)
				answered[id] = true
			case "tool_use":
				if _, ok := blk["input"].(map[string]any); !ok {
					return false, fmt.Sprintf("messages.%d.content.%d.tool_use.input: Input should be a valid dictionary", i, j)
				}
				seenOther = true
			case "text":
				if s, _ := blk["text"].(string); s == "" {
					return false, fmt.Sprintf("messages.%d.content.%d.text: text content blocks must be non-empty", i, j)
				}
				seenOther = true
			default:
				seenOther = true
			}
		}
		for _, id := range pendingToolUse {
			if !answered[id] {
				return false, fmt.Sprintf("messages.%d: tool_use ids were found without tool_result blocks immediately after: %s", i-1, id)
			}
		}
		pendingToolUse = nil
		if role == "assistant" {
			for _, b := range blocks {
				if blk, _ := b.(map[string]any); blk["type"] == "tool_use" {
					id, _ := blk["id"].(string)
					pendingToolUse = append(pendingToolUse, id)
				}
			}
		}
	}
	return req.Stream, ""
}

func writeAnthropicError(w http.ResponseWriter, status int, typ, msg string) {
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": msg},
		"request_id": "req_011CTestRequest"})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeReply(w http.ResponseWriter, rep reply, contentType string) {
	w.Header().Set("Content-Type", contentType)
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	status := rep.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, rep.body)
}

// last returns the last request received.
func (f *fakeAnthropic) last(t *testing.T) received {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(t, f.reqs, "the upstream received no request")
	return f.reqs[len(f.reqs)-1]
}

// count returns the number of requests received.
func (f *fakeAnthropic) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// newTestProvider builds a provider against baseURL with the test key,
// closed when the test ends.
func newTestProvider(t *testing.T, baseURL string, mods ...func(*llmproxy.ProviderConfig)) *Provider {
	t.Helper()
	cfg := llmproxy.ProviderConfig{Name: "claude", Type: "anthropic", BaseURL: baseURL, APIKey: testKey}
	for _, m := range mods {
		m(&cfg)
	}
	p, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// chatRequest parses a client body as the server would.
func chatRequest(t testing.TB, body string) *llmproxy.ChatRequest {
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

// assertNoKey checks that the key, plain or JSON-escaped, appears nowhere
// in e however shown (see secrettest.AssertNoKey), its envelope included.
func assertNoKey(t *testing.T, e *llmproxy.Error) {
	t.Helper()
	b, err := json.Marshal(e.Envelope())
	require.NoError(t, err)
	secrettest.AssertNoKey(t, testKey, e, string(b))
}
