package cohere

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmproxy/llmproxy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testKey is the API key the tests configure; no error may contain it.
const testKey = "co-test-SECRET-8d2f61b0e4"

// reply is a fixed answer of the fake upstream.
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

// fakeCohere is an httptest upstream that validates requests the way
// Cohere's API does (per its OpenAPI spec): it requires the bearer key,
// decodes /v2/chat and /v2/embed bodies strictly against the spec's
// request schemas (unknown members are refused, as OpenAI-only members
// leaking through would be), accepts tool_choice only as REQUIRED or NONE,
// and requires input_type on /v2/embed. It answers in Cohere's wire format.
type fakeCohere struct {
	*httptest.Server
	t *testing.T

	mu   sync.Mutex
	reqs []received
	conf fakeConfig
}

// fakeConfig is what the fake answers; tests change it with set.
type fakeConfig struct {
	// chat answers a validated non-streamed chat request; nil answers
	// the spec's plain text example.
	chat func(req *specChatRequest) reply
	// stream is the body of a streamed chat answer, sent as it is.
	stream string
	// force answers the route ("POST /v2/chat") with a fixed reply after
	// the auth check.
	force map[string]reply
	// pages are the model pages of /v1/models; page i is asked for with
	// page_token "p<i>". loopPages makes every page name a next page.
	pages     [][]specModel
	loopPages bool
	// keyValid is check-api-key's valid member.
	keyValid bool
}

// set changes the fake's answers.
func (f *fakeCohere) set(change func(c *fakeConfig)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(&f.conf)
}

type specModel struct {
	Name      string   `json:"name"`
	Endpoints []string `json:"endpoints"`
}

// specChatRequest mirrors the request schema of POST /v2/chat.
type specChatRequest struct {
	Stream           *bool           `json:"stream"`
	Model            string          `json:"model"`
	Messages         []specMessage   `json:"messages"`
	Tools            []specTool      `json:"tools"`
	StrictTools      *bool           `json:"strict_tools"`
	Documents        json.RawMessage `json:"documents"`
	CitationOptions  json.RawMessage `json:"citation_options"`
	ResponseFormat   *specRespFormat `json:"response_format"`
	SafetyMode       *string         `json:"safety_mode"`
	MaxTokens        *int            `json:"max_tokens"`
	StopSequences    []string        `json:"stop_sequences"`
	Temperature      *float64        `json:"temperature"`
	Seed             *uint64         `json:"seed"`
	FrequencyPenalty *float64        `json:"frequency_penalty"`
	PresencePenalty  *float64        `json:"presence_penalty"`
	K                *int            `json:"k"`
	P                *float64        `json:"p"`
	Logprobs         *bool           `json:"logprobs"`
	ToolChoice       *string         `json:"tool_choice"`
	Thinking         json.RawMessage `json:"thinking"`
	Priority         *int            `json:"priority"`
}

type specMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  []specToolCall  `json:"tool_calls"`
	ToolPlan   *string         `json:"tool_plan"`
	ToolCallID *string         `json:"tool_call_id"`
	Citations  json.RawMessage `json:"citations"`
}

type specToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type specTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type specRespFormat struct {
	Type       string          `json:"type"`
	JSONSchema json.RawMessage `json:"json_schema"`
}

// specEmbedRequest mirrors the request schema of POST /v2/embed.
type specEmbedRequest struct {
	Texts           []string        `json:"texts"`
	Images          []string        `json:"images"`
	Model           string          `json:"model"`
	InputType       string          `json:"input_type"`
	Inputs          json.RawMessage `json:"inputs"`
	MaxTokens       *int            `json:"max_tokens"`
	OutputDimension *int            `json:"output_dimension"`
	EmbeddingTypes  []string        `json:"embedding_types"`
	Truncate        *string         `json:"truncate"`
	Priority        *int            `json:"priority"`
}

func newFakeCohere(t *testing.T) *fakeCohere {
	t.Helper()
	f := &fakeCohere{t: t, conf: fakeConfig{keyValid: true}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// requestID is the id of every fake error body.
const requestID = "5f8a3c1e-7b2d-4e91-a0c4-3d9e2f1b6a70"

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// cohereError writes Cohere's flat error body.
func cohereError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"id": requestID, "message": msg})
	writeJSON(w, status, string(b))
}

func (f *fakeCohere) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, received{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(), body: body})
	c := f.conf
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+testKey {
		cohereError(w, http.StatusUnauthorized, "invalid api token")
		return
	}
	route := r.Method + " " + r.URL.Path
	if rep, ok := c.force[route]; ok {
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		if _, set := rep.header["Content-Type"]; !set {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
		return
	}
	switch route {
	case "POST /v2/chat":
		f.serveChat(w, r, body, &c)
	case "POST /v2/embed":
		serveEmbed(w, body)
	case "GET /v1/models":
		serveModels(w, r, &c)
	case "POST /v1/check-api-key":
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"valid":%t,"organization_id":"org-1","owner_id":"owner-1"}`, c.keyValid))
	default:
		cohereError(w, http.StatusNotFound, "404 page not found")
	}
}

// strict decodes body into v, refusing unknown members like the API.
func strict(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func (f *fakeCohere) serveChat(w http.ResponseWriter, r *http.Request, body []byte, c *fakeConfig) {
	var req specChatRequest
	if err := strict(body, &req); err != nil {
		cohereError(w, http.StatusBadRequest, "invalid request: "+err.Error())
		return
	}
	if msg := validateChat(&req); msg != "" {
		cohereError(w, http.StatusBadRequest, msg)
		return
	}
	if req.Stream != nil && *req.Stream {
		if !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			cohereError(w, http.StatusBadRequest, "test fake: the adapter must ask for text/event-stream")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, c.stream)
		return
	}
	rep := reply{status: http.StatusOK, body: fixture(f.t, "chat_text.json")}
	if c.chat != nil {
		rep = c.chat(&req)
	}
	writeJSON(w, rep.status, rep.body)
}

// validateChat checks what Cohere's API checks; it returns the error
// message of a refused request, or "".
func validateChat(req *specChatRequest) string {
	switch {
	case req.Model == "":
		return "invalid request: model is required"
	case len(req.Messages) == 0:
		return "invalid request: messages must not be empty"
	case req.ToolChoice != nil && *req.ToolChoice != "REQUIRED" && *req.ToolChoice != "NONE":
		return fmt.Sprintf("invalid request: tool_choice must be one of REQUIRED, NONE; received %q", *req.ToolChoice)
	case req.ToolChoice != nil && *req.ToolChoice == "REQUIRED" && len(req.Tools) == 0:
		return "invalid request: tool_choice REQUIRED needs tools"
	case req.P != nil && (*req.P < 0.01 || *req.P > 0.99):
		return "invalid request: p must be between 0.01 and 0.99"
	case req.ResponseFormat != nil && req.ResponseFormat.Type != "text" && req.ResponseFormat.Type != "json_object":
		return "invalid request: response_format type must be text or json_object"
	}
	for i, t := range req.Tools {
		if t.Type != "function" || t.Function.Name == "" || len(t.Function.Parameters) == 0 {
			return fmt.Sprintf("invalid request: tools[%d] needs type function, a name and parameters", i)
		}
	}
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "user":
			if len(m.Content) == 0 {
				return fmt.Sprintf("invalid request: messages[%d].content is required", i)
			}
		case "assistant":
		case "tool":
			if m.ToolCallID == nil || *m.ToolCallID == "" || len(m.Content) == 0 {
				return fmt.Sprintf("invalid request: messages[%d] needs tool_call_id and content", i)
			}
		default:
			return fmt.Sprintf("invalid request: messages[%d].role must be one of system, user, assistant, tool", i)
		}
	}
	return ""
}

// vectorFor is the fake's embedding of a text: eight float32-exact values
// derived from the text.
func vectorFor(text string) []float32 {
	h := fnv.New64a()
	_, _ = io.WriteString(h, text)
	s := h.Sum64()
	v := make([]float32, 8)
	base := []float32{0.016296387, -0.008354187, -0.04699707, -0.07104492, 0.00013196468, -0.014892578, -0.018661499, 0.019134521}
	for i := range v {
		v[i] = base[i] * float32(1+(s>>(8*i))%7)
	}
	return v
}

func serveEmbed(w http.ResponseWriter, body []byte) {
	var req specEmbedRequest
	if err := strict(body, &req); err != nil {
		cohereError(w, http.StatusBadRequest, "invalid request: "+err.Error())
		return
	}
	switch {
	case req.Model == "":
		cohereError(w, http.StatusBadRequest, "invalid request: model is required")
		return
	case req.InputType == "":
		cohereError(w, http.StatusBadRequest, "invalid request: input_type is required for embed models v3 and higher")
		return
	case len(req.Texts) == 0:
		cohereError(w, http.StatusBadRequest, "invalid request: texts must not be empty")
		return
	case len(req.Texts) > 96:
		cohereError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: total number of texts must be at most 96 - received %d", len(req.Texts)))
		return
	}
	vecs := make([][]float32, len(req.Texts))
	tokens := 0
	for i, t := range req.Texts {
		vecs[i] = vectorFor(t)
		tokens += len(strings.Fields(t))
	}
	embeddings := map[string]any{}
	for _, typ := range req.EmbeddingTypes {
		if typ == "float" {
			embeddings["float"] = vecs
		}
	}
	out, _ := json.Marshal(map[string]any{
		"id": "da6e531f-54c6-4a73-bf92-f60566d8d753", "response_type": "embeddings_by_type",
		"embeddings": embeddings, "texts": req.Texts,
		"meta": map[string]any{"api_version": map[string]any{"version": "2"}, "billed_units": map[string]any{"input_tokens": tokens}},
	})
	writeJSON(w, http.StatusOK, string(out))
}

func serveModels(w http.ResponseWriter, r *http.Request, c *fakeConfig) {
	page := 0
	if tok := r.URL.Query().Get("page_token"); tok != "" {
		if _, err := fmt.Sscanf(tok, "p%d", &page); err != nil || page >= len(c.pages) {
			cohereError(w, http.StatusBadRequest, "invalid request: bad page_token")
			return
		}
	}
	resp := map[string]any{"models": []specModel{}}
	if page < len(c.pages) {
		resp["models"] = c.pages[page]
	}
	if page+1 < len(c.pages) || c.loopPages {
		resp["next_page_token"] = fmt.Sprintf("p%d", (page+1)%max(len(c.pages), 1))
	}
	out, _ := json.Marshal(resp)
	writeJSON(w, http.StatusOK, string(out))
}

// requests returns the requests received so far.
func (f *fakeCohere) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.reqs...)
}

// last returns the last request received.
func (f *fakeCohere) last(t *testing.T) received {
	t.Helper()
	rs := f.requests()
	require.NotEmpty(t, rs, "the upstream received no request")
	return rs[len(rs)-1]
}

// newTestProvider builds a provider against baseURL with the test key,
// closed when the test ends.
func newTestProvider(t *testing.T, baseURL string, mods ...func(*llmproxy.ProviderConfig)) *Provider {
	t.Helper()
	cfg := llmproxy.ProviderConfig{Name: "co", Type: "cohere", BaseURL: baseURL, APIKey: testKey}
	for _, m := range mods {
		m(&cfg)
	}
	p, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// parseChat parses a client body as the server would.
func parseChat(t *testing.T, body string) *llmproxy.ChatRequest {
	t.Helper()
	req, err := llmproxy.ParseChatRequest([]byte(body))
	require.NoError(t, err)
	return req
}

// asError asserts that err is an *llmproxy.Error and returns it.
func asError(t *testing.T, err error) *llmproxy.Error {
	t.Helper()
	require.Error(t, err)
	var e *llmproxy.Error
	require.Truef(t, errors.As(err, &e), "error %T is not an *llmproxy.Error: %v", err, err)
	return e
}

// fixture returns a file of testdata.
func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(b)
}
