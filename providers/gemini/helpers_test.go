package gemini

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
	"github.com/llmproxy/llmproxy/internal/secrettest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testKey is the API key the tests configure; no error may contain it.
const testKey = "AIzaSy-test-SECRET-5c0ffee4d2"

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

// fakeGemini is an httptest upstream that validates requests the way the
// Gemini API does (per its REST reference and the errors it is known to
// answer): the key must come in x-goog-api-key (a wrong key is a 400
// API_KEY_INVALID, none a 403), never in the URL; generateContent bodies
// are decoded strictly against the GenerateContentRequest schema (unknown
// members are refused, as OpenAI-only members leaking through would be);
// contents must alternate sensibly (no empty parts, no empty text, function
// responses right after the model turn that made the calls, as many
// responses as calls, with matching names); Gemini 3 models refuse an
// unsigned first function call of a model turn; thinkingLevel and
// thinkingBudget exclude each other, as do responseSchema and
// responseJsonSchema. It answers in Gemini's wire format.
type fakeGemini struct {
	*httptest.Server
	t testing.TB

	mu   sync.Mutex
	reqs []received
	conf fakeConfig
}

// fakeConfig is what the fake answers; tests change it with set.
type fakeConfig struct {
	// chat answers a validated generateContent request; nil answers the
	// generate_text.json fixture.
	chat func(model string, req *specRequest) reply
	// stream is the body of a streamed answer, sent as it is; nil sends
	// the stream_text.sse fixture.
	stream func(model string, req *specRequest) string
	// force answers a method ("generateContent", "streamGenerateContent",
	// "embedContent", "batchEmbedContents", "models") with a fixed reply
	// after the key check.
	force map[string]reply
	// pages are the model pages of GET models; page i is asked for with
	// pageToken "p<i>".
	pages [][]specModel
}

// set changes the fake's answers.
func (f *fakeGemini) set(change func(c *fakeConfig)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(&f.conf)
}

type specModel struct {
	Name                       string   `json:"name"`
	DisplayName                string   `json:"displayName,omitempty"`
	SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
}

// specRequest mirrors GenerateContentRequest.
type specRequest struct {
	Contents          []specContent   `json:"contents"`
	SystemInstruction *specContent    `json:"systemInstruction"`
	Tools             []specTool      `json:"tools"`
	ToolConfig        *specToolConfig `json:"toolConfig"`
	SafetySettings    []struct {
		Category  string `json:"category"`
		Threshold string `json:"threshold"`
	} `json:"safetySettings"`
	GenerationConfig *specGenConfig `json:"generationConfig"`
	CachedContent    *string        `json:"cachedContent"`
}

type specContent struct {
	Role  string     `json:"role"`
	Parts []specPart `json:"parts"`
}

type specPart struct {
	Text             *string `json:"text"`
	Thought          *bool   `json:"thought"`
	ThoughtSignature *string `json:"thoughtSignature"`
	InlineData       *struct {
		MimeType string `json:"mimeType"`
		Data     string `json:"data"`
	} `json:"inlineData"`
	FileData *struct {
		MimeType string `json:"mimeType"`
		FileURI  string `json:"fileUri"`
	} `json:"fileData"`
	FunctionCall *struct {
		ID   string          `json:"id"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"functionCall"`
	FunctionResponse *struct {
		ID       string          `json:"id"`
		Name     string          `json:"name"`
		Response json.RawMessage `json:"response"`
	} `json:"functionResponse"`
}

type specTool struct {
	FunctionDeclarations []struct {
		Name                 string          `json:"name"`
		Description          string          `json:"description"`
		Parameters           json.RawMessage `json:"parameters"`
		ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema"`
	} `json:"functionDeclarations"`
}

type specToolConfig struct {
	FunctionCallingConfig struct {
		Mode                 string   `json:"mode"`
		AllowedFunctionNames []string `json:"allowedFunctionNames"`
	} `json:"functionCallingConfig"`
}

type specGenConfig struct {
	StopSequences      []string        `json:"stopSequences"`
	ResponseMimeType   string          `json:"responseMimeType"`
	ResponseSchema     json.RawMessage `json:"responseSchema"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema"`
	CandidateCount     *int            `json:"candidateCount"`
	MaxOutputTokens    *int            `json:"maxOutputTokens"`
	Temperature        *float64        `json:"temperature"`
	TopP               *float64        `json:"topP"`
	TopK               *float64        `json:"topK"`
	Seed               *int32          `json:"seed"`
	PresencePenalty    *float64        `json:"presencePenalty"`
	FrequencyPenalty   *float64        `json:"frequencyPenalty"`
	ThinkingConfig     *struct {
		IncludeThoughts *bool   `json:"includeThoughts"`
		ThinkingBudget  *int    `json:"thinkingBudget"`
		ThinkingLevel   *string `json:"thinkingLevel"`
	} `json:"thinkingConfig"`
}

// specEmbed mirrors EmbedContentRequest.
type specEmbed struct {
	Model                string      `json:"model"`
	Content              specContent `json:"content"`
	TaskType             string      `json:"taskType"`
	Title                string      `json:"title"`
	OutputDimensionality *int        `json:"outputDimensionality"`
}

func newFakeGemini(t testing.TB) *fakeGemini {
	t.Helper()
	f := &fakeGemini{t: t}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.CloseClientConnections()
		f.Close()
	})
	return f
}

// base is the base URL of the fake, as a provider is configured with it.
func (f *fakeGemini) base() string { return f.URL + "/v1beta" }

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// googleError writes Google's error envelope.
func googleError(w http.ResponseWriter, code int, status, msg string, details ...string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
	if len(details) > 0 {
		b = []byte(fmt.Sprintf(`{"error":{"code":%d,"message":%q,"status":%q,"details":[%s]}}`, code, msg, status, strings.Join(details, ",")))
	}
	writeJSON(w, code, string(b))
}

// keyInvalid is the ErrorInfo detail of a wrong key.
const keyInvalid = `{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}`

func (f *fakeGemini) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, received{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(), body: body})
	c := f.conf
	f.mu.Unlock()
	switch key := r.Header.Get("X-Goog-Api-Key"); {
	case r.URL.Query().Has("key"):
		googleError(w, 400, "INVALID_ARGUMENT", "test fake: the key must not travel in the URL")
		return
	case key == "":
		googleError(w, 403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
		return
	case key != testKey:
		googleError(w, 400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", keyInvalid)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1beta/")
	if !ok {
		googleError(w, 404, "NOT_FOUND", "test fake: unknown path "+r.URL.Path)
		return
	}
	if r.Method == http.MethodGet && rest == "models" {
		if rep, ok := c.force["models"]; ok {
			writeReply(w, rep)
			return
		}
		serveModels(w, r, &c)
		return
	}
	resource, method, _ := strings.Cut(rest, ":")
	model, isModel := strings.CutPrefix(resource, "models/")
	if r.Method != http.MethodPost || !isModel || strings.Contains(model, "/") {
		googleError(w, 404, "NOT_FOUND", "test fake: unknown path "+r.URL.Path)
		return
	}
	if rep, ok := c.force[method]; ok {
		writeReply(w, rep)
		return
	}
	switch method {
	case "generateContent", "streamGenerateContent":
		var req specRequest
		if err := strict(body, &req); err != nil {
			googleError(w, 400, "INVALID_ARGUMENT", "Invalid JSON payload received. "+err.Error())
			return
		}
		if msg := validateGenerate(model, &req); msg != "" {
			googleError(w, 400, "INVALID_ARGUMENT", msg)
			return
		}
		if method == "generateContent" {
			rep := reply{status: 200, body: fixture(f.t, "generate_text.json")}
			if c.chat != nil {
				rep = c.chat(model, &req)
			}
			writeReply(w, rep)
			return
		}
		if r.URL.Query().Get("alt") != "sse" {
			googleError(w, 400, "INVALID_ARGUMENT", "test fake: the adapter must ask for alt=sse")
			return
		}
		stream := fixture(f.t, "stream_text.sse")
		if c.stream != nil {
			stream = c.stream(model, &req)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, stream)
	case "embedContent":
		var req specEmbed
		if err := strict(body, &req); err != nil || len(req.Content.Parts) == 0 || req.Content.Parts[0].Text == nil {
			googleError(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("Invalid JSON payload received. %v", err))
			return
		}
		out, _ := json.Marshal(map[string]any{"embedding": map[string]any{"values": vectorFor(*req.Content.Parts[0].Text, req.TaskType)}})
		writeJSON(w, 200, string(out))
	case "batchEmbedContents":
		var req struct {
			Requests []specEmbed `json:"requests"`
		}
		if err := strict(body, &req); err != nil {
			googleError(w, 400, "INVALID_ARGUMENT", "Invalid JSON payload received. "+err.Error())
			return
		}
		if len(req.Requests) > 100 {
			googleError(w, 400, "INVALID_ARGUMENT", "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n")
			return
		}
		var vecs []map[string]any
		for i, e := range req.Requests {
			if e.Model != "models/"+model {
				googleError(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("Model names should match: requests[%d].model is %q", i, e.Model))
				return
			}
			if len(e.Content.Parts) == 0 || e.Content.Parts[0].Text == nil {
				googleError(w, 400, "INVALID_ARGUMENT", "test fake: a request without text")
				return
			}
			vecs = append(vecs, map[string]any{"values": vectorFor(*e.Content.Parts[0].Text, e.TaskType)})
		}
		out, _ := json.Marshal(map[string]any{"embeddings": vecs})
		writeJSON(w, 200, string(out))
	default:
		googleError(w, 404, "NOT_FOUND", "test fake: unknown method "+method)
	}
}

func writeReply(w http.ResponseWriter, rep reply) {
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if _, set := rep.header["Content-Type"]; !set {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

// strict decodes body into v, refusing unknown members like the API.
func strict(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// validateGenerate checks what the Gemini API checks; it returns the error
// message of a refused request, or "".
func validateGenerate(model string, req *specRequest) string {
	if len(req.Contents) == 0 {
		return "* GenerateContentRequest.contents: contents is not specified\n"
	}
	if req.SystemInstruction != nil {
		for _, p := range req.SystemInstruction.Parts {
			if p.Text == nil {
				return "* GenerateContentRequest.system_instruction: only text parts are allowed\n"
			}
		}
	}
	var lastCalls []string
	for i, c := range req.Contents {
		if c.Role != "user" && c.Role != "model" {
			return fmt.Sprintf("* GenerateContentRequest.contents[%d].role: Please use a valid role: user, model.\n", i)
		}
		if len(c.Parts) == 0 {
			return fmt.Sprintf("* GenerateContentRequest.contents[%d].parts: contents.parts must not be empty.\n", i)
		}
		var calls, responses []string
		for j, p := range c.Parts {
			set := 0
			for _, present := range []bool{p.Text != nil, p.InlineData != nil, p.FileData != nil, p.FunctionCall != nil, p.FunctionResponse != nil} {
				if present {
					set++
				}
			}
			if set != 1 {
				return fmt.Sprintf("* GenerateContentRequest.contents[%d].parts[%d].data: required oneof field 'data' must have one initialized field\n", i, j)
			}
			if p.Text != nil && *p.Text == "" {
				return "Unable to submit request because it has an empty text parameter. Add a value to the parameter and try again."
			}
			if p.FunctionCall != nil {
				if c.Role != "model" {
					return "test fake: a functionCall in a user turn"
				}
				if len(calls) == 0 && strings.HasPrefix(model, "gemini-3") && p.ThoughtSignature == nil {
					return fmt.Sprintf("Function call `%s` in the %d. content block is missing a `thought_signature`.", p.FunctionCall.Name, i)
				}
				if a := bytes.TrimSpace(p.FunctionCall.Args); len(a) > 0 && a[0] != '{' {
					return "Invalid value at 'contents[" + fmt.Sprint(i) + "].parts[" + fmt.Sprint(j) + "].function_call.args' (type.googleapis.com/google.protobuf.Struct)"
				}
				calls = append(calls, p.FunctionCall.Name)
			}
			if p.FunctionResponse != nil {
				if a := bytes.TrimSpace(p.FunctionResponse.Response); len(a) == 0 || a[0] != '{' {
					return "Invalid value at 'contents[" + fmt.Sprint(i) + "].parts[" + fmt.Sprint(j) + "].function_response.response' (type.googleapis.com/google.protobuf.Struct)"
				}
				responses = append(responses, p.FunctionResponse.Name)
			}
		}
		if len(responses) > 0 {
			if len(responses) != len(lastCalls) {
				return "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn."
			}
			for k := range responses {
				if responses[k] != lastCalls[k] {
					return fmt.Sprintf("test fake: function response %q answers call %q", responses[k], lastCalls[k])
				}
			}
		}
		if len(responses) == 0 && len(lastCalls) > 0 {
			return "Please ensure that function call turn comes immediately after a user turn or after a function response turn."
		}
		lastCalls = calls
	}
	for _, t := range req.Tools {
		for _, d := range t.FunctionDeclarations {
			if d.Name == "" {
				return "* GenerateContentRequest.tools[0].function_declarations[0].name: Name cannot be empty.\n"
			}
			if len(d.Parameters) > 0 && len(d.ParametersJSONSchema) > 0 {
				return "test fake: parameters and parametersJsonSchema are exclusive"
			}
		}
	}
	if g := req.GenerationConfig; g != nil {
		if tc := g.ThinkingConfig; tc != nil && tc.ThinkingBudget != nil && tc.ThinkingLevel != nil {
			return "You can only set only one of thinking budget and thinking level."
		}
		if len(g.ResponseSchema) > 0 && len(g.ResponseJSONSchema) > 0 {
			return "test fake: responseSchema and responseJsonSchema are exclusive"
		}
		if (len(g.ResponseSchema) > 0 || len(g.ResponseJSONSchema) > 0) && g.ResponseMimeType != "application/json" {
			return "* GenerateContentRequest.generation_config.response_mime_type: Only `application/json` response mime type is supported with a response schema.\n"
		}
	}
	return ""
}

// vectorFor is the fake's embedding of a text: eight float32-exact values
// derived from the text and the task type.
func vectorFor(text, task string) []float32 {
	h := fnv.New64a()
	_, _ = io.WriteString(h, task+"\x00"+text)
	s := h.Sum64()
	base := []float32{0.013168523, -0.008711934, -0.046782676, 0.00069968984, -0.009518873, -0.008720178, 0.060103577, 0.024932676}
	v := make([]float32, len(base))
	for i := range v {
		v[i] = base[i] * float32(1+(s>>(8*i))%7)
	}
	return v
}

func serveModels(w http.ResponseWriter, r *http.Request, c *fakeConfig) {
	page := 0
	if tok := r.URL.Query().Get("pageToken"); tok != "" {
		if _, err := fmt.Sscanf(tok, "p%d", &page); err != nil || page >= len(c.pages) {
			googleError(w, 400, "INVALID_ARGUMENT", "Invalid page token.")
			return
		}
	}
	resp := map[string]any{"models": []specModel{}}
	if page < len(c.pages) {
		resp["models"] = c.pages[page]
	}
	if page+1 < len(c.pages) {
		resp["nextPageToken"] = fmt.Sprintf("p%d", page+1)
	}
	out, _ := json.Marshal(resp)
	writeJSON(w, 200, string(out))
}

// requests returns the requests received so far.
func (f *fakeGemini) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.reqs...)
}

// last returns the last request received.
func (f *fakeGemini) last(t testing.TB) received {
	t.Helper()
	rs := f.requests()
	require.NotEmpty(t, rs, "the upstream received no request")
	return rs[len(rs)-1]
}

// lastGenerate returns the body of the last request, decoded.
func (f *fakeGemini) lastGenerate(t testing.TB) specRequest {
	t.Helper()
	var req specRequest
	require.NoError(t, strict(f.last(t).body, &req))
	return req
}

// newTestProvider builds a provider against baseURL with the test key,
// closed when the test ends.
func newTestProvider(t testing.TB, baseURL string, mods ...func(*llmproxy.ProviderConfig)) *Provider {
	t.Helper()
	cfg := llmproxy.ProviderConfig{Name: "gem", Type: "gemini", BaseURL: baseURL, APIKey: testKey}
	for _, m := range mods {
		m(&cfg)
	}
	p, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// parseChat parses a client body as the server would.
func parseChat(t testing.TB, body string) *llmproxy.ChatRequest {
	t.Helper()
	req, err := llmproxy.ParseChatRequest([]byte(body))
	require.NoError(t, err)
	return req
}

// parseEmbed parses an embeddings body as the server would.
func parseEmbed(t testing.TB, body string) *llmproxy.EmbeddingRequest {
	t.Helper()
	req, err := llmproxy.ParseEmbeddingRequest([]byte(body))
	require.NoError(t, err)
	return req
}

// asError asserts that err is an *llmproxy.Error and returns it.
func asError(t testing.TB, err error) *llmproxy.Error {
	t.Helper()
	require.Error(t, err)
	var e *llmproxy.Error
	require.Truef(t, errors.As(err, &e), "error %T is not an *llmproxy.Error: %v", err, err)
	return e
}

// assertNoKey checks that the key, plain or JSON-escaped, appears nowhere
// in e however shown (see secrettest.AssertNoKey), its envelope included.
func assertNoKey(t testing.TB, e *llmproxy.Error) {
	t.Helper()
	b, err := json.Marshal(e.Envelope())
	require.NoError(t, err)
	secrettest.AssertNoKey(t, testKey, e, string(b))
}

// fixture returns a file of testdata.
func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(b)
}
