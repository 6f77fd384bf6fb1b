package server_test

// Tests of the native (non-OpenAI) adapters through the whole server, with
// the official openai-go client on one side and, on the other, compact
// httptest upstreams that validate requests the way Anthropic's Messages
// API and Cohere's API v2 do and answer in their wire formats (see the
// provider reference, sections 2 and 3): a translation the real API would
// refuse fails these tests.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/anthropic"
	_ "github.com/llmproxy/llmproxy/providers/cohere"
	_ "github.com/llmproxy/llmproxy/providers/openai"
	"github.com/llmproxy/llmproxy/server"
)

const (
	natAntKey     = "sk-ant-api03-native-SECRET-4b1c"
	natCohereKey  = "co-native-SECRET-9a7e"
	natAntModel   = "claude-sonnet-4-5"
	natCoModel    = "command-a-03-2025"
	natCoEmbed    = "embed-v4.0"
	natSystem     = "You are terse."
	natToolUseID  = "toolu_01A09q90qw90lq917835lq9"
	natToolResult = `{"temperature":"18°C","conditions":"sunny"}`
)

// ---------------------------------------------------------------------------
// Anthropic upstream

// natAntRequest is a Messages request as the fake decodes it.
type natAntRequest struct {
	Model     *string         `json:"model"`
	MaxTokens *int            `json:"max_tokens"`
	System    json.RawMessage `json:"system"`
	Messages  []natAntMessage `json:"messages"`
	Stream    bool            `json:"stream"`
	Tools     []struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		InputSchema json.RawMessage `json:"input_schema"`
	} `json:"tools"`
	ToolChoice  json.RawMessage `json:"tool_choice"`
	Temperature *float64        `json:"temperature"`
}

type natAntMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type natAntBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
}

// blocks returns the content blocks of m; string content is one text block.
func (m natAntMessage) blocks() ([]natAntBlock, error) {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return []natAntBlock{{Type: "text", Text: s}}, nil
	}
	var bs []natAntBlock
	err := json.Unmarshal(m.Content, &bs)
	return bs, err
}

// natTextOf returns the text of a string or of a list of text blocks (a
// system prompt, a tool_result's content).
func natTextOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var bs []natAntBlock
	_ = json.Unmarshal(raw, &bs)
	var parts []string
	for _, b := range bs {
		if b.Type == "text" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n\n")
}

// natAntSeen is a request the Anthropic fake received and accepted.
type natAntSeen struct {
	header http.Header
	req    natAntRequest
}

// natAnthropic validates like the Messages API: x-api-key and
// anthropic-version are required, top-level members Anthropic does not
// define are refused ("Extra inputs are not permitted"), max_tokens is
// required, there is no system role in messages, roles alternate, and every
// tool_use must be answered by a tool_result at the start of the next
// message. Valid requests are answered by respond.
type natAnthropic struct {
	*httptest.Server
	mu      sync.Mutex
	calls   int
	seen    []natAntSeen
	respond func(w http.ResponseWriter, req *natAntRequest)
}

func newNatAnthropic(t *testing.T, respond func(w http.ResponseWriter, req *natAntRequest)) *natAnthropic {
	t.Helper()
	f := &natAnthropic{respond: respond}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.CloseClientConnections()
		f.Close()
	})
	return f
}

// natAntMembers are the top-level members of a Messages request.
var natAntMembers = map[string]bool{
	"model": true, "messages": true, "max_tokens": true, "system": true, "stream": true, "tools": true,
	"tool_choice": true, "temperature": true, "top_p": true, "top_k": true, "stop_sequences": true,
	"metadata": true, "thinking": true, "service_tier": true, "output_config": true, "container": true,
	"inference_geo": true, "cache_control": true, "mcp_servers": true, "context_management": true,
}

func (f *natAnthropic) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	w.Header().Set("request-id", "req_011CNativeTest")
	switch key := r.Header.Get("X-Api-Key"); {
	case key == "":
		natAntError(w, 401, "authentication_error", "x-api-key header is required")
		return
	case key != natAntKey:
		natAntError(w, 401, "authentication_error", "invalid x-api-key")
		return
	}
	if r.Header.Get("Anthropic-Version") == "" {
		natAntError(w, 400, "invalid_request_error", "anthropic-version: header is required")
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		natAntError(w, 404, "not_found_error", "Not Found")
		return
	}
	var req natAntRequest
	if msg := natAntValidate(body, &req); msg != "" {
		natAntError(w, 400, "invalid_request_error", msg)
		return
	}
	f.mu.Lock()
	f.seen = append(f.seen, natAntSeen{header: r.Header.Clone(), req: req})
	f.mu.Unlock()
	f.respond(w, &req)
}

// natAntValidate decodes body into req and returns the message Anthropic
// would refuse it with, or "".
func natAntValidate(body []byte, req *natAntRequest) string {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return "There was an issue with your request body: " + err.Error()
	}
	for k := range members {
		if !natAntMembers[k] {
			return k + ": Extra inputs are not permitted"
		}
	}
	if err := json.Unmarshal(body, req); err != nil {
		return "There was an issue with your request body: " + err.Error()
	}
	switch {
	case req.Model == nil:
		return "model: Field required"
	case req.MaxTokens == nil:
		return "max_tokens: Field required"
	case *req.MaxTokens < 1:
		return "max_tokens: Input should be greater than or equal to 1"
	case len(req.Messages) == 0:
		return "messages: at least one message is required"
	case req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 1):
		return "temperature: range: 0..1"
	case len(req.ToolChoice) > 0 && len(req.Tools) == 0:
		return "tool_choice: tool_choice may only be specified while providing tools"
	}
	var pending []string
	prev := ""
	for i, m := range req.Messages {
		switch m.Role {
		case "system":
			return `messages: Unexpected role "system". The Messages API accepts a top-level ` + "`system`" + ` parameter, not "system" as an input message role.`
		case "user", "assistant":
		default:
			return fmt.Sprintf("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		if m.Role == prev {
			return fmt.Sprintf(`messages: roles must alternate between "user" and "assistant", but found multiple %q roles in a row`, m.Role)
		}
		prev = m.Role
		blocks, err := m.blocks()
		if err != nil || len(blocks) == 0 {
			return fmt.Sprintf("messages.%d: all messages must have non-empty content", i)
		}
		answered := map[string]bool{}
		other := false
		for j, b := range blocks {
			switch b.Type {
			case "tool_result":
				if other {
					return fmt.Sprintf("messages.%d.content.%d: tool_result blocks must come first", i, j)
				}
				answered[b.ToolUseID] = true
			case "tool_use":
				if !bytes.HasPrefix(bytes.TrimSpace(b.Input), []byte("{")) {
					return fmt.Sprintf("messages.%d.content.%d.tool_use.input: Input should be a valid dictionary", i, j)
				}
				other = true
			case "text":
				if b.Text == "" {
					return fmt.Sprintf("messages.%d.content.%d.text: text content blocks must be non-empty", i, j)
				}
				other = true
			default:
				other = true
			}
		}
		for _, id := range pending {
			if !answered[id] {
				return fmt.Sprintf("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s", i-1, id)
			}
		}
		pending = nil
		if m.Role == "assistant" {
			for _, b := range blocks {
				if b.Type == "tool_use" {
					pending = append(pending, b.ID)
				}
			}
		}
	}
	if len(pending) > 0 {
		return "messages: the conversation ends with unanswered tool_use blocks"
	}
	return ""
}

// natAntError writes Anthropic's error body.
func natAntError(w http.ResponseWriter, status int, typ, msg string) {
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": msg},
		"request_id": "req_011CNativeTest"})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// natWriteJSON answers body with status 200.
func natWriteJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, body)
}

// natAntMessageJSON is a Messages answer with the given content blocks.
func natAntMessageJSON(id, blocks, stopReason string, in, out int) string {
	return fmt.Sprintf(`{"id":%q,"type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",`+
		`"content":%s,"stop_reason":%q,"stop_sequence":null,`+
		`"usage":{"input_tokens":%d,"output_tokens":%d,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,`+
		`"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"service_tier":"standard"}}`,
		id, blocks, stopReason, in, out)
}

// natAntText is a one-text-block answer.
func natAntText(text string) string {
	b, _ := json.Marshal([]map[string]string{{"type": "text", "text": text}})
	return natAntMessageJSON("msg_01XFDUDYJgAACzvnptvVoYEL", string(b), "end_turn", 12, 6)
}

// natEvent is one named SSE event.
type natEvent struct{ name, data string }

// natWriteEvents answers a 200 event stream of named events, flushing
// after each.
func natWriteEvents(w http.ResponseWriter, events ...natEvent) {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	f := w.(http.Flusher)
	f.Flush()
	for _, e := range events {
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.name, e.data)
		f.Flush()
	}
}

// natAntStreamHead is the start of a streamed text answer: message_start,
// the text block's start, a ping and one text_delta per piece.
func natAntStreamHead(pieces ...string) []natEvent {
	ev := []natEvent{
		{"message_start", `{"type":"message_start","message":{"id":"msg_01StreamNative","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}`},
		{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
		{"ping", `{"type": "ping"}`},
	}
	for _, p := range pieces {
		b, _ := json.Marshal(p)
		ev = append(ev, natEvent{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":` + string(b) + `}}`})
	}
	return ev
}

// natAntStreamText is a whole streamed text answer (25 input tokens, 9
// output tokens, end_turn).
func natAntStreamText(pieces ...string) []natEvent {
	return append(natAntStreamHead(pieces...),
		natEvent{"content_block_stop", `{"type":"content_block_stop","index":0}`},
		natEvent{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9}}`},
		natEvent{"message_stop", `{"type":"message_stop"}`},
	)
}

// natAntOverloaded is Anthropic's mid-stream error event.
var natAntOverloaded = natEvent{"error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`}

// natAntTextAnswer answers every valid request with text, as a whole
// message or as a stream.
func natAntTextAnswer(text string, pieces ...string) func(w http.ResponseWriter, req *natAntRequest) {
	return func(w http.ResponseWriter, req *natAntRequest) {
		if req.Stream {
			natWriteEvents(w, natAntStreamText(pieces...)...)
			return
		}
		natWriteJSON(w, natAntText(text))
	}
}

func (f *natAnthropic) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// accepted returns the requests that passed validation.
func (f *natAnthropic) accepted() []natAntSeen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]natAntSeen(nil), f.seen...)
}

// last returns the last accepted request.
func (f *natAnthropic) last(t *testing.T) natAntSeen {
	t.Helper()
	s := f.accepted()
	require.NotEmpty(t, s, "the Anthropic upstream accepted no request")
	return s[len(s)-1]
}

// checkAntBasics checks what every translated request must carry.
func checkAntBasics(t *testing.T, s natAntSeen, stream bool) {
	t.Helper()
	assert.Equal(t, natAntKey, s.header.Get("X-Api-Key"))
	assert.Equal(t, "2023-06-01", s.header.Get("Anthropic-Version"))
	assert.Empty(t, s.header.Get("Authorization"), "no bearer key goes to Anthropic")
	for name, vals := range s.header {
		for _, v := range vals {
			assert.NotContains(t, v, clientKey, "header %s carries the client key upstream", name)
		}
	}
	assert.Equal(t, stream, s.req.Stream)
	assert.Equal(t, natSystem, natTextOf(s.req.System), "system messages become the top-level system prompt")
	require.NotNil(t, s.req.MaxTokens)
	assert.Equal(t, 4096, *s.req.MaxTokens, "the default max_tokens")
}

// ---------------------------------------------------------------------------
// Cohere upstream

type natCoChatRequest struct {
	Stream           *bool           `json:"stream"`
	Model            string          `json:"model"`
	Messages         []natCoMessage  `json:"messages"`
	Tools            json.RawMessage `json:"tools"`
	StrictTools      *bool           `json:"strict_tools"`
	Documents        json.RawMessage `json:"documents"`
	CitationOptions  json.RawMessage `json:"citation_options"`
	ResponseFormat   json.RawMessage `json:"response_format"`
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

type natCoMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  json.RawMessage `json:"tool_calls"`
	ToolPlan   *string         `json:"tool_plan"`
	ToolCallID *string         `json:"tool_call_id"`
	Citations  json.RawMessage `json:"citations"`
}

type natCoEmbedRequest struct {
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

// natCohere validates like Cohere's API v2: the bearer key is required,
// /v2/chat and /v2/embed bodies are decoded strictly against the spec's
// request schemas (unknown members are refused), tool_choice is REQUIRED or
// NONE only, a streamed chat must ask for text/event-stream, and /v2/embed
// requires input_type. It answers chats with chatText (streamed in
// streamPieces) and embeds with natCoVector.
type natCohere struct {
	*httptest.Server
	chatText     string
	streamPieces []string
	mu           sync.Mutex
	chats        []natCoChatRequest
	embeds       []natCoEmbedRequest
	headers      []http.Header
}

func newNatCohere(t *testing.T, chatText string, streamPieces ...string) *natCohere {
	t.Helper()
	f := &natCohere{chatText: chatText, streamPieces: streamPieces}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.CloseClientConnections()
		f.Close()
	})
	return f
}

// natCoError writes Cohere's flat error body.
func natCoError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"id": "5f8a3c1e-7b2d-4e91-a0c4-3d9e2f1b6a70", "message": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func natStrict(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func (f *natCohere) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.headers = append(f.headers, r.Header.Clone())
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+natCohereKey {
		natCoError(w, http.StatusUnauthorized, "invalid api token")
		return
	}
	switch r.Method + " " + r.URL.Path {
	case "POST /v2/chat":
		f.serveChat(w, r, body)
	case "POST /v2/embed":
		f.serveEmbed(w, body)
	default:
		natCoError(w, http.StatusNotFound, "404 page not found")
	}
}

func (f *natCohere) serveChat(w http.ResponseWriter, r *http.Request, body []byte) {
	var req natCoChatRequest
	if err := natStrict(body, &req); err != nil {
		natCoError(w, http.StatusBadRequest, "invalid request: "+err.Error())
		return
	}
	switch {
	case req.Model == "":
		natCoError(w, http.StatusBadRequest, "invalid request: model is required")
		return
	case len(req.Messages) == 0:
		natCoError(w, http.StatusBadRequest, "invalid request: messages must not be empty")
		return
	case req.ToolChoice != nil && *req.ToolChoice != "REQUIRED" && *req.ToolChoice != "NONE":
		natCoError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: tool_choice must be one of REQUIRED, NONE; received %q", *req.ToolChoice))
		return
	case req.P != nil && (*req.P < 0.01 || *req.P > 0.99):
		natCoError(w, http.StatusBadRequest, "invalid request: p must be between 0.01 and 0.99")
		return
	}
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "user":
			if len(m.Content) == 0 {
				natCoError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: messages[%d].content is required", i))
				return
			}
		case "assistant", "tool":
		default:
			natCoError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: messages[%d].role must be one of system, user, assistant, tool", i))
			return
		}
	}
	stream := req.Stream != nil && *req.Stream
	if stream && !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		natCoError(w, http.StatusBadRequest, "test fake: a streamed chat must ask for text/event-stream")
		return
	}
	f.mu.Lock()
	f.chats = append(f.chats, req)
	f.mu.Unlock()
	if !stream {
		text, _ := json.Marshal(f.chatText)
		natWriteJSON(w, `{"id":"c14c80c3-18eb-4519-9460-6c92edd8cfb4","message":{"role":"assistant","content":[{"type":"text","text":`+string(text)+
			`}]},"finish_reason":"COMPLETE","usage":{"billed_units":{"input_tokens":5,"output_tokens":4},"tokens":{"input_tokens":71,"output_tokens":4}}}`)
		return
	}
	events := []natEvent{
		{"message-start", `{"type":"message-start","id":"29f14a5a-11de-4cae-9800-25e4747408ea","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}`},
		{"content-start", `{"type":"content-start","index":0,"delta":{"message":{"content":{"type":"text","text":""}}}}`},
	}
	for _, p := range f.streamPieces {
		b, _ := json.Marshal(p)
		events = append(events, natEvent{"content-delta", `{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":` + string(b) + `}}}}`})
	}
	events = append(events,
		natEvent{"content-end", `{"type":"content-end","index":0}`},
		natEvent{"message-end", `{"type":"message-end","delta":{"finish_reason":"COMPLETE","usage":{"billed_units":{"input_tokens":3,"output_tokens":3},"tokens":{"input_tokens":70,"output_tokens":3}}}}`},
	)
	natWriteEvents(w, events...)
}

// natCoVector is the fake's embedding of text: eight float32 values
// derived from it.
func natCoVector(text string) []float32 {
	h := fnv.New64a()
	_, _ = io.WriteString(h, text)
	s := h.Sum64()
	v := make([]float32, 8)
	for i := range v {
		v[i] = float32(math.Sin(float64(s>>(8*i)&0xffff)) / 7)
	}
	return v
}

func (f *natCohere) serveEmbed(w http.ResponseWriter, body []byte) {
	var req natCoEmbedRequest
	if err := natStrict(body, &req); err != nil {
		natCoError(w, http.StatusBadRequest, "invalid request: "+err.Error())
		return
	}
	switch req.InputType {
	case "":
		natCoError(w, http.StatusBadRequest, "invalid request: input_type is required")
		return
	case "search_document", "search_query", "classification", "clustering", "image":
	default:
		natCoError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: input_type %q is not one of search_document, search_query, classification, clustering, image", req.InputType))
		return
	}
	switch {
	case req.Model == "":
		natCoError(w, http.StatusBadRequest, "invalid request: model is required")
		return
	case len(req.Texts) == 0 || len(req.Texts) > 96:
		natCoError(w, http.StatusBadRequest, "invalid request: texts must hold 1 to 96 texts")
		return
	}
	f.mu.Lock()
	f.embeds = append(f.embeds, req)
	f.mu.Unlock()
	vecs := make([][]float32, len(req.Texts))
	tokens := 0
	for i, t := range req.Texts {
		vecs[i] = natCoVector(t)
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
	natWriteJSON(w, string(out))
}

func (f *natCohere) lastChat(t *testing.T) natCoChatRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(t, f.chats, "the Cohere upstream accepted no chat")
	return f.chats[len(f.chats)-1]
}

func (f *natCohere) acceptedEmbeds() []natCoEmbedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]natCoEmbedRequest(nil), f.embeds...)
}

func (f *natCohere) chatCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.chats)
}

// checkCoMessages checks the system + user conversation every chat sends.
func checkCoMessages(t *testing.T, req natCoChatRequest, user string) {
	t.Helper()
	require.Len(t, req.Messages, 2)
	assert.Equal(t, "system", req.Messages[0].Role)
	assert.Equal(t, natSystem, natTextOf(req.Messages[0].Content))
	assert.Equal(t, "user", req.Messages[1].Role)
	assert.Equal(t, user, natTextOf(req.Messages[1].Content))
	assert.Equal(t, natCoModel, req.Model)
}

// ---------------------------------------------------------------------------
// Proxy and client helpers

// natProxy serves a proxy (client key clientKey) over providers.
func natProxy(t *testing.T, providers ...llmproxy.ProviderConfig) *testServer {
	t.Helper()
	return startServer(t, llmproxy.Config{APIKeys: []string{clientKey}, Providers: providers}, server.Options{})
}

func natAntProvider(name, url string, priority int) llmproxy.ProviderConfig {
	return llmproxy.ProviderConfig{
		Name: name, Type: "anthropic", BaseURL: url, APIKey: llmproxy.Secret(natAntKey),
		Models: []string{natAntModel}, Priority: priority, Timeout: 10 * time.Second, RetryDelay: 10 * time.Millisecond,
	}
}

func natCoProvider(name, url string, priority int) llmproxy.ProviderConfig {
	return llmproxy.ProviderConfig{
		Name: name, Type: "cohere", BaseURL: url, APIKey: llmproxy.Secret(natCohereKey),
		Models: []string{natCoModel, natCoEmbed, natAntModel}, Priority: priority, Timeout: 10 * time.Second, RetryDelay: 10 * time.Millisecond,
	}
}

// natConversation is the system + user conversation of the chat tests.
func natConversation(user string) []openai.ChatCompletionMessageParamUnion {
	return []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(natSystem), openai.UserMessage(user)}
}

// natStreamResult is a stream read to its end with openai-go.
type natStreamResult struct {
	acc         openai.ChatCompletionAccumulator
	content     string // concatenated content deltas, also of a failed stream
	usageChunks int
	lastRaw     string
	err         error
	resp        *http.Response
}

// natStream streams params through client and reads the stream to its end.
func natStream(t *testing.T, client openai.Client, params openai.ChatCompletionNewParams) *natStreamResult {
	t.Helper()
	res := &natStreamResult{}
	stream := client.Chat.Completions.NewStreaming(t.Context(), params, option.WithResponseInto(&res.resp))
	defer stream.Close()
	n := 0
	for stream.Next() {
		c := stream.Current()
		n++
		assert.True(t, res.acc.AddChunk(c), "the accumulator refused chunk %d: %s", n, c.RawJSON())
		for _, ch := range c.Choices {
			res.content += ch.Delta.Content
		}
		if c.Usage.TotalTokens > 0 {
			res.usageChunks++
		}
		res.lastRaw = c.RawJSON()
	}
	res.err = stream.Err()
	return res
}

// checkStreamOK checks a clean stream answering text from provider on the
// given attempt.
func (r *natStreamResult) checkOK(t *testing.T, text, provider string, attempt int) {
	t.Helper()
	require.NoError(t, r.err)
	require.Len(t, r.acc.Choices, 1)
	assert.Equal(t, text, r.acc.Choices[0].Message.Content)
	assert.Equal(t, "stop", r.acc.Choices[0].FinishReason)
	assert.Equal(t, "assistant", string(r.acc.Choices[0].Message.Role))
	require.NotEmpty(t, r.lastRaw)
	pi := getProxyInfo(t, []byte(r.lastRaw))
	assert.Equal(t, provider, pi.Provider)
	assert.Equal(t, attempt, pi.AttemptNumber)
	require.NotNil(t, r.resp)
	assert.Equal(t, provider, r.resp.Header.Get("X-LLMProxy-Provider"))
	assert.Equal(t, fmt.Sprint(attempt), r.resp.Header.Get("X-LLMProxy-Attempt"))
}

// natStreamBody is a raw streamed chat request body.
func natStreamBody(model, user string) string {
	b, _ := json.Marshal(map[string]any{
		"model": model, "stream": true,
		"messages": []map[string]any{{"role": "system", "content": natSystem}, {"role": "user", "content": user}},
	})
	return string(b)
}

// ---------------------------------------------------------------------------
// Tests

func TestNativeAnthropic(t *testing.T) {
	t.Run("upstream validates", func(t *testing.T) {
		// The fake must refuse what the real API refuses, or the tests
		// below prove nothing.
		up := newNatAnthropic(t, natAntTextAnswer("unused"))
		good := `{"model":"` + natAntModel + `","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`
		r := do(t, up.Server, http.MethodPost, "/v1/messages", good, "anthropic-version", "2023-06-01")
		assert.Equal(t, 401, r.status, "no x-api-key: %s", r.body)
		r = do(t, up.Server, http.MethodPost, "/v1/messages", good, "x-api-key", natAntKey)
		assert.Equal(t, 400, r.status, "no anthropic-version: %s", r.body)
		for name, body := range map[string]string{
			"system role":     `{"model":"m","max_tokens":16,"messages":[{"role":"system","content":"be"},{"role":"user","content":"hi"}]}`,
			"no max_tokens":   `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
			"openai member":   `{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}`,
			"lone tool_use":   `{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":{}}]},{"role":"user","content":"again"}]}`,
			"string input":    `{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":"{}"}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"x"}]}]}`,
			"same role twice": `{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hi"},{"role":"user","content":"hi"}]}`,
		} {
			r := do(t, up.Server, http.MethodPost, "/v1/messages", body, "x-api-key", natAntKey, "anthropic-version", "2023-06-01")
			assert.Equal(t, 400, r.status, "%s: %s", name, r.body)
			assert.Contains(t, string(r.body), `"type":"invalid_request_error"`, name)
		}
		r = do(t, up.Server, http.MethodPost, "/v1/messages", good, "x-api-key", natAntKey, "anthropic-version", "2023-06-01")
		assert.Equal(t, 200, r.status, "body: %s", r.body)
	})

	t.Run("chat", func(t *testing.T) {
		up := newNatAnthropic(t, natAntTextAnswer("Hello from Claude"))
		ts := natProxy(t, natAntProvider("claude", up.URL, 1))
		client := newOpenAIClient(ts.Server, clientKey)

		resp, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
			Model: natAntModel, Messages: natConversation("Say hello"),
		})
		require.NoError(t, err)
		require.Len(t, resp.Choices, 1)
		assert.Equal(t, "Hello from Claude", resp.Choices[0].Message.Content)
		assert.Equal(t, "stop", resp.Choices[0].FinishReason)
		assert.Equal(t, "assistant", string(resp.Choices[0].Message.Role))
		assert.Equal(t, "chat.completion", string(resp.Object))
		assert.Equal(t, int64(12), resp.Usage.PromptTokens)
		assert.Equal(t, int64(6), resp.Usage.CompletionTokens)
		assert.Equal(t, int64(18), resp.Usage.TotalTokens)
		pi := getProxyInfo(t, []byte(resp.RawJSON()))
		assert.Equal(t, "claude", pi.Provider)
		assert.Equal(t, 1, pi.AttemptNumber)

		s := up.last(t)
		checkAntBasics(t, s, false)
		require.Len(t, s.req.Messages, 1)
		assert.Equal(t, "user", s.req.Messages[0].Role)
		blocks, err := s.req.Messages[0].blocks()
		require.NoError(t, err)
		require.Len(t, blocks, 1)
		assert.Equal(t, "Say hello", blocks[0].Text)
		assert.Equal(t, natAntModel, *s.req.Model)
		assert.NotContains(t, ts.logs.String(), natAntKey)
	})

	t.Run("stream", func(t *testing.T) {
		for _, includeUsage := range []bool{false, true} {
			t.Run(fmt.Sprintf("include_usage=%t", includeUsage), func(t *testing.T) {
				up := newNatAnthropic(t, natAntTextAnswer("unused", "Hello", " from", " Claude"))
				ts := natProxy(t, natAntProvider("claude", up.URL, 1))
				params := openai.ChatCompletionNewParams{Model: natAntModel, Messages: natConversation("Stream a hello")}
				if includeUsage {
					params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
				}
				res := natStream(t, newOpenAIClient(ts.Server, clientKey), params)
				res.checkOK(t, "Hello from Claude", "claude", 1)
				if includeUsage {
					assert.Equal(t, 1, res.usageChunks, "one usage chunk")
					assert.Equal(t, int64(25), res.acc.Usage.PromptTokens)
					assert.Equal(t, int64(9), res.acc.Usage.CompletionTokens)
					assert.Equal(t, int64(34), res.acc.Usage.TotalTokens)
				} else {
					assert.Zero(t, res.usageChunks, "usage was not asked for")
				}
				checkAntBasics(t, up.last(t), true)
			})
		}
	})

	t.Run("tool round trip", func(t *testing.T) {
		toolUse := natAntMessageJSON("msg_01ToolUse", `[{"type":"text","text":"Let me look that up."},`+
			`{"type":"tool_use","id":"`+natToolUseID+`","name":"get_weather","input":{"location":"Paris","unit":"celsius"}}]`, "tool_use", 380, 70)
		const final = "It is 18°C and sunny in Paris."
		up := newNatAnthropic(t, func(w http.ResponseWriter, req *natAntRequest) {
			last, _ := req.Messages[len(req.Messages)-1].blocks()
			var result *natAntBlock
			for i := range last {
				if last[i].Type == "tool_result" {
					result = &last[i]
				}
			}
			switch {
			case len(req.Tools) != 1 || req.Tools[0].Name != "get_weather":
				natAntError(w, 400, "invalid_request_error", "test fake: expected the get_weather tool")
			case result == nil:
				natWriteJSON(w, toolUse)
			case result.ToolUseID != natToolUseID:
				natAntError(w, 400, "invalid_request_error", "test fake: tool_result for unknown tool_use_id "+result.ToolUseID)
			case natTextOf(result.Content) != natToolResult:
				natAntError(w, 400, "invalid_request_error", "test fake: unexpected tool_result content "+string(result.Content))
			default:
				natWriteJSON(w, natAntMessageJSON("msg_01Final", `[{"type":"text","text":"`+final+`"}]`, "end_turn", 460, 12))
			}
		})
		ts := natProxy(t, natAntProvider("claude", up.URL, 1))
		client := newOpenAIClient(ts.Server, clientKey)

		schema := shared.FunctionParameters{
			"type":       "object",
			"properties": map[string]any{"location": map[string]any{"type": "string"}, "unit": map[string]any{"type": "string", "enum": []string{"celsius", "fahrenheit"}}},
			"required":   []string{"location"},
		}
		tools := []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "get_weather", Description: openai.String("Get the current weather"), Parameters: schema,
		})}
		messages := natConversation("What's the weather in Paris?")

		resp, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{Model: natAntModel, Messages: messages, Tools: tools})
		require.NoError(t, err)
		require.Len(t, resp.Choices, 1)
		msg := resp.Choices[0].Message
		assert.Equal(t, "tool_calls", resp.Choices[0].FinishReason)
		assert.Equal(t, "Let me look that up.", msg.Content)
		require.Len(t, msg.ToolCalls, 1)
		call := msg.ToolCalls[0]
		assert.Equal(t, natToolUseID, call.ID)
		assert.Equal(t, "function", call.Type)
		assert.Equal(t, "get_weather", call.Function.Name)
		// On the wire, arguments is a JSON string holding the object.
		var wire struct {
			Choices []struct {
				Message struct {
					ToolCalls []struct {
						Function struct {
							Arguments json.RawMessage `json:"arguments"`
						} `json:"function"`
					} `json:"tool_calls"`
				} `json:"message"`
			} `json:"choices"`
		}
		require.NoError(t, json.Unmarshal([]byte(resp.RawJSON()), &wire))
		require.Len(t, wire.Choices, 1)
		require.Len(t, wire.Choices[0].Message.ToolCalls, 1)
		var args string
		require.NoError(t, json.Unmarshal(wire.Choices[0].Message.ToolCalls[0].Function.Arguments, &args),
			"arguments must be a JSON string: %s", wire.Choices[0].Message.ToolCalls[0].Function.Arguments)
		assert.JSONEq(t, `{"location":"Paris","unit":"celsius"}`, args)
		assert.JSONEq(t, args, call.Function.Arguments)

		first := up.last(t)
		checkAntBasics(t, first, false)
		require.Len(t, first.req.Tools, 1)
		assert.Equal(t, "Get the current weather", first.req.Tools[0].Description)
		wantSchema, _ := json.Marshal(schema)
		assert.JSONEq(t, string(wantSchema), string(first.req.Tools[0].InputSchema))

		// The client answers the call and sends the conversation back.
		messages = append(messages, msg.ToParam(), openai.ToolMessage(natToolResult, call.ID))
		resp, err = client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{Model: natAntModel, Messages: messages, Tools: tools})
		require.NoError(t, err)
		require.Len(t, resp.Choices, 1)
		assert.Equal(t, final, resp.Choices[0].Message.Content)
		assert.Equal(t, "stop", resp.Choices[0].FinishReason)
		assert.Empty(t, resp.Choices[0].Message.ToolCalls)
		assert.Equal(t, "claude", getProxyInfo(t, []byte(resp.RawJSON())).Provider)

		second := up.last(t)
		checkAntBasics(t, second, false)
		require.Len(t, second.req.Messages, 3)
		assert.Equal(t, "user", second.req.Messages[0].Role)
		assert.Equal(t, "assistant", second.req.Messages[1].Role)
		asst, err := second.req.Messages[1].blocks()
		require.NoError(t, err)
		var uses []natAntBlock
		for _, b := range asst {
			if b.Type == "tool_use" {
				uses = append(uses, b)
			}
		}
		require.Len(t, uses, 1, "assistant blocks: %s", second.req.Messages[1].Content)
		assert.Equal(t, natToolUseID, uses[0].ID)
		assert.Equal(t, "get_weather", uses[0].Name)
		assert.JSONEq(t, `{"location":"Paris","unit":"celsius"}`, string(uses[0].Input))
		assert.Equal(t, "user", second.req.Messages[2].Role)
		results, err := second.req.Messages[2].blocks()
		require.NoError(t, err)
		require.NotEmpty(t, results)
		assert.Equal(t, "tool_result", results[0].Type)
		assert.Equal(t, natToolUseID, results[0].ToolUseID)
		assert.Equal(t, natToolResult, natTextOf(results[0].Content))
		assert.Equal(t, 2, up.count())
	})
}

func TestNativeCohere(t *testing.T) {
	t.Run("upstream validates", func(t *testing.T) {
		up := newNatCohere(t, "unused")
		auth := "Bearer " + natCohereKey
		r := do(t, up.Server, http.MethodPost, "/v2/embed", `{"model":"embed-v4.0","texts":["a"],"embedding_types":["float"]}`, "Authorization", auth)
		assert.Equal(t, 400, r.status)
		assert.JSONEq(t, `{"id":"5f8a3c1e-7b2d-4e91-a0c4-3d9e2f1b6a70","message":"invalid request: input_type is required"}`, string(r.body))
		r = do(t, up.Server, http.MethodPost, "/v2/chat", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream_options":{}}`, "Authorization", auth)
		assert.Equal(t, 400, r.status, "unknown member: %s", r.body)
		r = do(t, up.Server, http.MethodPost, "/v2/chat", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"auto"}`, "Authorization", auth)
		assert.Equal(t, 400, r.status, "tool_choice auto: %s", r.body)
		r = do(t, up.Server, http.MethodPost, "/v2/chat", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
		assert.Equal(t, 401, r.status, "no key: %s", r.body)
		r = do(t, up.Server, http.MethodPost, "/v2/chat", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "Authorization", auth)
		assert.Equal(t, 200, r.status, "body: %s", r.body)
	})

	t.Run("chat", func(t *testing.T) {
		up := newNatCohere(t, "Hello from Cohere")
		ts := natProxy(t, natCoProvider("cohere", up.URL, 1))
		client := newOpenAIClient(ts.Server, clientKey)
		resp, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
			Model: natCoModel, Messages: natConversation("Say hello"),
		})
		require.NoError(t, err)
		require.Len(t, resp.Choices, 1)
		assert.Equal(t, "Hello from Cohere", resp.Choices[0].Message.Content)
		assert.Equal(t, "stop", resp.Choices[0].FinishReason)
		assert.Equal(t, "assistant", string(resp.Choices[0].Message.Role))
		assert.Equal(t, int64(71), resp.Usage.PromptTokens)
		assert.Equal(t, int64(4), resp.Usage.CompletionTokens)
		assert.Equal(t, int64(75), resp.Usage.TotalTokens)
		pi := getProxyInfo(t, []byte(resp.RawJSON()))
		assert.Equal(t, "cohere", pi.Provider)
		assert.Equal(t, 1, pi.AttemptNumber)

		req := up.lastChat(t)
		checkCoMessages(t, req, "Say hello")
		assert.True(t, req.Stream == nil || !*req.Stream)
		assert.NotContains(t, ts.logs.String(), natCohereKey)
	})

	t.Run("stream", func(t *testing.T) {
		for _, includeUsage := range []bool{false, true} {
			t.Run(fmt.Sprintf("include_usage=%t", includeUsage), func(t *testing.T) {
				up := newNatCohere(t, "unused", "Hello", " from", " Cohere")
				ts := natProxy(t, natCoProvider("cohere", up.URL, 1))
				params := openai.ChatCompletionNewParams{Model: natCoModel, Messages: natConversation("Stream a hello")}
				if includeUsage {
					params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
				}
				res := natStream(t, newOpenAIClient(ts.Server, clientKey), params)
				res.checkOK(t, "Hello from Cohere", "cohere", 1)
				if includeUsage {
					assert.Equal(t, 1, res.usageChunks, "one usage chunk")
					assert.Equal(t, int64(70), res.acc.Usage.PromptTokens)
					assert.Equal(t, int64(3), res.acc.Usage.CompletionTokens)
					assert.Equal(t, int64(73), res.acc.Usage.TotalTokens)
				} else {
					assert.Zero(t, res.usageChunks, "usage was not asked for")
				}
				req := up.lastChat(t)
				checkCoMessages(t, req, "Stream a hello")
				require.NotNil(t, req.Stream)
				assert.True(t, *req.Stream)
			})
		}
	})

	t.Run("embeddings float and base64", func(t *testing.T) {
		up := newNatCohere(t, "unused")
		ts := natProxy(t, natCoProvider("cohere", up.URL, 1))
		client := newOpenAIClient(ts.Server, clientKey)
		inputs := []string{"the first text", "the second, longer text"}

		asFloat, err := client.Embeddings.New(t.Context(), openai.EmbeddingNewParams{
			Model: natCoEmbed, Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
			EncodingFormat: openai.EmbeddingNewParamsEncodingFormatFloat,
		})
		require.NoError(t, err)
		assert.False(t, rawEmbeddingIsString(t, asFloat.RawJSON()), "float form answered as a string")
		asBase64, err := client.Embeddings.New(t.Context(), openai.EmbeddingNewParams{
			Model: natCoEmbed, Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
			EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64,
		})
		require.NoError(t, err)
		assert.True(t, rawEmbeddingIsString(t, asBase64.RawJSON()), "base64 form answered as numbers: %s", asBase64.RawJSON())

		require.Len(t, asFloat.Data, len(inputs))
		require.Len(t, asBase64.Data, len(inputs))
		for i, in := range inputs {
			assert.Equal(t, int64(i), asFloat.Data[i].Index)
			assert.Equal(t, int64(i), asBase64.Data[i].Index)
			assert.Equal(t, natCoVector(in), float32s(asFloat.Data[i].Embedding), "float vector %d", i)
			assert.Equal(t, float32s(asFloat.Data[i].Embedding), float32s(asBase64.Data[i].Embedding), "base64 vector %d", i)
		}
		assert.NotEqual(t, asFloat.Data[0].Embedding, asFloat.Data[1].Embedding)
		assert.Equal(t, int64(7), asFloat.Usage.PromptTokens, "billed input tokens")
		assert.Equal(t, "cohere", getProxyInfo(t, []byte(asBase64.RawJSON())).Provider)

		embeds := up.acceptedEmbeds()
		require.Len(t, embeds, 2)
		for _, e := range embeds {
			assert.Equal(t, "search_document", e.InputType, "the default input_type")
			assert.Equal(t, natCoEmbed, e.Model)
			assert.Equal(t, inputs, e.Texts)
			assert.Equal(t, []string{"float"}, e.EmbeddingTypes)
		}
	})
}

// TestCrossFormatFailover fails an OpenAI-format primary over to an
// Anthropic backup: the backup's answer, translated, reaches the client,
// and _proxy_info names the backup on the second attempt.
func TestCrossFormatFailover(t *testing.T) {
	const backupText = "Answer from Claude"
	setup := func(t *testing.T, primary http.HandlerFunc) (*testServer, *strmUpstream, *natAnthropic) {
		t.Helper()
		oa := newStrmUpstream(t, primary)
		ant := newNatAnthropic(t, natAntTextAnswer(backupText, "Answer", " from", " Claude"))
		ts := natProxy(t,
			llmproxy.ProviderConfig{
				Name: "oa-primary", Type: "openai", BaseURL: oa.URL + "/v1", APIKey: "sk-oa-primary",
				Models: []string{natAntModel}, Priority: 1, MaxRetries: 0, Timeout: 10 * time.Second,
			},
			natAntProvider("claude-backup", ant.URL, 2),
		)
		return ts, oa, ant
	}
	serverError := http.HandlerFunc(answerError(http.StatusInternalServerError, "server_error", "", "", serverErrorMsg))

	t.Run("chat after 500", func(t *testing.T) {
		ts, oa, ant := setup(t, serverError)
		var raw *http.Response
		client := newOpenAIClient(ts.Server, clientKey)
		resp, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
			Model: natAntModel, Messages: natConversation("Who answers?"),
		}, option.WithResponseInto(&raw))
		require.NoError(t, err)
		require.Len(t, resp.Choices, 1)
		assert.Equal(t, backupText, resp.Choices[0].Message.Content)
		assert.Equal(t, "stop", resp.Choices[0].FinishReason)
		pi := getProxyInfo(t, []byte(resp.RawJSON()))
		assert.Equal(t, "claude-backup", pi.Provider)
		assert.Equal(t, 2, pi.AttemptNumber)
		assert.Equal(t, "claude-backup", raw.Header.Get("X-LLMProxy-Provider"))
		assert.NotContains(t, resp.RawJSON(), "Sorry about that")
		assert.Equal(t, 1, oa.calls(), "max_retries 0: one call to the primary")
		assert.Equal(t, 1, ant.count())
		checkAntBasics(t, ant.last(t), false)
	})

	for name, primary := range map[string]http.HandlerFunc{
		"stream after 503 before first byte": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":{"message":"The engine is currently overloaded, please try again later","type":"server_error","param":null,"code":null}}`)
		},
		"stream after error frame before content": strmServe([]string{
			"data: " + strmChunk(strmRoleDelta, "") + "\n\n",
			`data: {"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}` + "\n\n",
		}, nil),
	} {
		t.Run(name, func(t *testing.T) {
			ts, oa, ant := setup(t, primary)
			res := natStream(t, newOpenAIClient(ts.Server, clientKey), openai.ChatCompletionNewParams{
				Model: natAntModel, Messages: natConversation("Who streams?"),
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
			})
			res.checkOK(t, backupText, "claude-backup", 2)
			assert.Equal(t, int64(34), res.acc.Usage.TotalTokens)
			assert.Equal(t, 1, oa.calls(), "max_retries 0: one call to the primary")
			assert.Equal(t, 1, ant.count())
			checkAntBasics(t, ant.last(t), true)
		})
	}

	// The other way round: an Anthropic primary overloaded before any
	// content (an error event after a 200) fails over to a Cohere backup.
	t.Run("anthropic overloaded before content to cohere", func(t *testing.T) {
		ant := newNatAnthropic(t, func(w http.ResponseWriter, req *natAntRequest) {
			natWriteEvents(w, append(natAntStreamHead()[:2], natAntOverloaded)...)
		})
		co := newNatCohere(t, "unused", "Cohere", " steps in")
		cp := natCoProvider("cohere-backup", co.URL, 2)
		ap := natAntProvider("claude-primary", ant.URL, 1)
		ts := natProxy(t, ap, cp)
		res := natStream(t, newOpenAIClient(ts.Server, clientKey), openai.ChatCompletionNewParams{
			Model: natAntModel, Messages: natConversation("Who streams?"),
		})
		res.checkOK(t, "Cohere steps in", "cohere-backup", 2)
		assert.Equal(t, 1, ant.count())
		assert.Equal(t, 1, co.chatCount())
		assert.NotContains(t, res.lastRaw, "Overloaded")
	})
}

// TestNativeAnthropicMidStreamError: an overloaded_error event after
// content cannot fail over; the client's stream ends with an error frame
// and no [DONE], and openai-go reports the error.
func TestNativeAnthropicMidStreamError(t *testing.T) {
	up := newNatAnthropic(t, func(w http.ResponseWriter, req *natAntRequest) {
		natWriteEvents(w, append(natAntStreamHead("Partial", " answer"), natAntOverloaded)...)
	})
	co := newNatCohere(t, "must not be used", "must", " not")
	ts := natProxy(t, natAntProvider("claude", up.URL, 1), natCoProvider("cohere-backup", co.URL, 2))

	t.Run("openai-go", func(t *testing.T) {
		before := up.count()
		res := natStream(t, newOpenAIClient(ts.Server, clientKey), openai.ChatCompletionNewParams{
			Model: natAntModel, Messages: natConversation("Stream, then fail"),
		})
		require.Error(t, res.err, "a stream cut by an upstream error must not end cleanly")
		assert.Contains(t, res.err.Error(), "Overloaded")
		assert.Equal(t, "Partial answer", res.content)
		assert.Equal(t, before+1, up.count())
		assert.Zero(t, co.chatCount(), "a stream that sent content is not failed over")
	})

	t.Run("raw SSE", func(t *testing.T) {
		before := up.count()
		r := postJSON(t, ts.Server, "/v1/chat/completions", natStreamBody(natAntModel, "Stream, then fail"))
		assert.NotContains(t, string(r.body), "data: [DONE]")
		assert.Contains(t, string(r.body), "\ndata: {\"error\":")
		text, env := strmCheckFailed(t, strmReply{status: r.status, header: r.header, body: r.body}, "claude")
		assert.Equal(t, "Partial answer", text)
		assert.Contains(t, env["message"], "Overloaded")
		assert.Equal(t, "overloaded_error", env["type"], "Anthropic's error type is kept")
		assert.NotContains(t, string(r.body), "must not")
		assert.Equal(t, before+1, up.count())
		assert.Zero(t, co.chatCount(), "a stream that sent content is not failed over")
	})
}
