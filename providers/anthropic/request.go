package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/llmproxy/llmproxy"
)

// messagesRequest is the body of POST /v1/messages. The members the proxy
// passes through from a client's request unchanged are raw JSON.
type messagesRequest struct {
	Model         string          `json:"model"`
	MaxTokens     int             `json:"max_tokens"`
	System        []block         `json:"system,omitempty"`
	Messages      []turn          `json:"messages"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          json.RawMessage `json:"top_k,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
	Tools         []any           `json:"tools,omitempty"`
	ToolChoice    *toolChoice     `json:"tool_choice,omitempty"`
	Thinking      json.RawMessage `json:"thinking,omitempty"`
	ServiceTier   string          `json:"service_tier,omitempty"`
	OutputConfig  json.RawMessage `json:"output_config,omitempty"`
}

// turn is one message of a Messages request: role user or assistant.
type turn struct {
	Role    string  `json:"role"`
	Content []block `json:"content"`
}

// block is a content block of a request: text, image, tool_use or
// tool_result; members that do not belong to its type are empty.
type block struct {
	Type         string          `json:"type"`
	Text         string          `json:"text,omitempty"`
	Source       *imageSource    `json:"source,omitempty"`
	ID           string          `json:"id,omitempty"`
	Name         string          `json:"name,omitempty"`
	Input        json.RawMessage `json:"input,omitempty"`
	ToolUseID    string          `json:"tool_use_id,omitempty"`
	Content      []block         `json:"content,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// imageSource is where an image block's image comes from: inline base64
// data or a URL.
type imageSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

// tool is a client tool of a Messages request.
type tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
	Strict      *bool           `json:"strict,omitempty"`
}

// toolChoice is a Messages request's tool_choice.
type toolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

// emptySchema is the input_schema of a function tool without parameters.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// translateChat translates an OpenAI chat request into a Messages request
// (see the package documentation for the rules) that does not stream;
// req.Stream is left to the caller. defaultMaxTokens is the max_tokens of
// a request that sets none. It does not modify req. A
// request that cannot be translated faithfully is refused with an error of
// kind KindInvalidRequest whose Param names the offending member.
func translateChat(req *llmproxy.ChatRequest, defaultMaxTokens int) (*messagesRequest, *llmproxy.Error) {
	if req.N != nil && *req.N > 1 {
		return nil, invalid("n", "Anthropic models return one choice per request: n must be 1")
	}
	if isTrue(req.Extra["logprobs"]) {
		return nil, invalid("logprobs", "Anthropic models do not return log probabilities: logprobs is not supported")
	}
	if raw := req.Extra["top_logprobs"]; !isNull(raw) && string(bytes.TrimSpace(raw)) != "0" {
		return nil, invalid("top_logprobs", "Anthropic models do not return log probabilities: top_logprobs is not supported")
	}
	mr := &messagesRequest{
		Model:         req.Model,
		MaxTokens:     firstSet(defaultMaxTokens, req.MaxCompletionTokens, req.MaxTokens),
		StopSequences: req.Stop,
		Temperature:   clampTemperature(req.Temperature),
		TopP:          req.TopP,
	}
	var err *llmproxy.Error
	if mr.System, mr.Messages, err = translateMessages(req.Messages); err != nil {
		return nil, err
	}
	if mr.Tools, err = translateTools(req.Tools); err != nil {
		return nil, err
	}
	if mr.ToolChoice, err = translateToolChoice(req.ToolChoice, req.ParallelToolCalls, len(mr.Tools) > 0); err != nil {
		return nil, err
	}
	if err = passThrough(mr, req.Extra, req.User); err != nil {
		return nil, err
	}
	if mr.OutputConfig == nil { // the client's own output_config wins
		if mr.OutputConfig, err = outputConfig(req.Extra["response_format"]); err != nil {
			return nil, err
		}
	}
	return mr, nil
}

// translateCompletion translates a legacy text completion request into a
// Messages request whose one user message is the prompt.
func translateCompletion(req *llmproxy.CompletionRequest, defaultMaxTokens int) (*messagesRequest, *llmproxy.Error) {
	prompt, ok := req.PromptText()
	if !ok {
		return nil, invalid("prompt", "the prompt must be a string or a list of strings for Anthropic models (token arrays are not supported)")
	}
	switch {
	case req.N != nil && *req.N > 1:
		return nil, invalid("n", "Anthropic models return one choice per request: n must be 1")
	case isTrue(req.Extra["echo"]):
		return nil, invalid("echo", "echo is not supported for Anthropic models")
	case !isNull(req.Extra["logprobs"]) && string(bytes.TrimSpace(req.Extra["logprobs"])) != "0":
		return nil, invalid("logprobs", "Anthropic models do not return log probabilities: logprobs is not supported")
	case !isNull(req.Extra["suffix"]) && string(bytes.TrimSpace(req.Extra["suffix"])) != `""`:
		return nil, invalid("suffix", "suffix is not supported for Anthropic models")
	case !isNull(req.Extra["best_of"]) && string(bytes.TrimSpace(req.Extra["best_of"])) != "1":
		return nil, invalid("best_of", "Anthropic models return one choice per request: best_of must be 1")
	}
	mr := &messagesRequest{
		Model:         req.Model,
		MaxTokens:     firstSet(defaultMaxTokens, req.MaxTokens),
		Messages:      []turn{{Role: "user", Content: []block{{Type: "text", Text: prompt}}}},
		StopSequences: req.Stop,
		Temperature:   clampTemperature(req.Temperature),
		TopP:          req.TopP,
	}
	if err := passThrough(mr, req.Extra, req.User); err != nil {
		return nil, err
	}
	return mr, nil
}

// firstSet returns the first of vals that is set, else def.
func firstSet(def int, vals ...*int) int {
	for _, v := range vals {
		if v != nil {
			return *v
		}
	}
	return def
}

// clampTemperature returns t, lowered to 1 when above: OpenAI allows
// temperatures up to 2, Anthropic up to 1.
func clampTemperature(t *float64) *float64 {
	if t == nil || *t <= 1 {
		return t
	}
	one := 1.0
	return &one
}

// translateMessages splits OpenAI messages into the system prompt and
// alternating user and assistant turns.
func translateMessages(msgs []llmproxy.Message) ([]block, []turn, *llmproxy.Error) {
	var system []block
	turns := make([]turn, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		var t turn
		var err *llmproxy.Error
		switch m.Role {
		case "system", "developer":
			var blocks []block
			if blocks, err = textBlocks(m.Content, i); err != nil {
				return nil, nil, err
			}
			system = append(system, blocks...)
			continue
		case "user":
			t.Role = "user"
			t.Content, err = userBlocks(m.Content, i)
		case "assistant":
			t.Role = "assistant"
			t.Content, err = assistantBlocks(m, i)
		case "tool":
			t.Role = "user"
			t.Content, err = toolResult(m, i)
		default:
			return nil, nil, invalid(param(i, "role"),
				fmt.Sprintf("role %q is not supported for Anthropic models (use system, developer, user, assistant or tool)", m.Role))
		}
		if err != nil {
			return nil, nil, err
		}
		if len(t.Content) == 0 {
			continue // nothing to say: Anthropic refuses empty content
		}
		if n := len(turns); n > 0 && turns[n-1].Role == t.Role {
			turns[n-1].Content = append(turns[n-1].Content, t.Content...)
			continue
		}
		turns = append(turns, t)
	}
	for i := range turns {
		if turns[i].Role == "user" {
			resultsFirst(turns[i].Content)
		}
	}
	return system, turns, nil
}

// resultsFirst moves the tool_result blocks of a user turn before its other
// blocks, keeping the order within each group: Anthropic wants the results
// of the previous turn's tool calls first.
func resultsFirst(blocks []block) {
	seenOther := false
	for _, b := range blocks {
		if b.Type != "tool_result" {
			seenOther = true
		} else if seenOther {
			sorted := make([]block, 0, len(blocks))
			for _, b := range blocks {
				if b.Type == "tool_result" {
					sorted = append(sorted, b)
				}
			}
			for _, b := range blocks {
				if b.Type != "tool_result" {
					sorted = append(sorted, b)
				}
			}
			copy(blocks, sorted)
			return
		}
	}
}

// textBlocks returns the text of content as text blocks (system and
// developer messages); any part but text is refused.
func textBlocks(c *llmproxy.Content, i int) ([]block, *llmproxy.Error) {
	if c == nil {
		return nil, nil
	}
	if c.Parts == nil {
		return textBlock(c.Text, nil), nil
	}
	var out []block
	for j, part := range c.Parts {
		if part.Type != "text" {
			return nil, invalid(partParam(i, j), fmt.Sprintf("content parts of type %q are not supported in this message for Anthropic models", part.Type))
		}
		out = append(out, textBlock(part.Text, part.Extra["cache_control"])...)
	}
	return out, nil
}

// textBlock returns a text block of s, or nothing when s is empty (which
// Anthropic refuses).
func textBlock(s string, cacheControl json.RawMessage) []block {
	if s == "" {
		return nil
	}
	return []block{{Type: "text", Text: s, CacheControl: cacheControl}}
}

// userBlocks returns the blocks of a user message: text and images.
func userBlocks(c *llmproxy.Content, i int) ([]block, *llmproxy.Error) {
	if c == nil || c.Parts == nil {
		return textBlocks(c, i)
	}
	var out []block
	for j, part := range c.Parts {
		switch part.Type {
		case "text":
			out = append(out, textBlock(part.Text, part.Extra["cache_control"])...)
		case "image_url":
			b, err := imageBlock(part, i, j)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		default:
			return nil, invalid(partParam(i, j), fmt.Sprintf("content parts of type %q are not supported for Anthropic models (use text or image_url)", part.Type))
		}
	}
	return out, nil
}

// imageBlock translates an image_url part: a data URL becomes a base64
// source, an http(s) URL a url source.
func imageBlock(part llmproxy.ContentPart, i, j int) (block, *llmproxy.Error) {
	p := partParam(i, j) + ".image_url.url"
	if part.ImageURL == nil || part.ImageURL.URL == "" {
		return block{}, invalid(p, "an image_url part needs a url")
	}
	u := part.ImageURL.URL
	b := block{Type: "image", CacheControl: part.Extra["cache_control"]}
	switch {
	case strings.HasPrefix(u, "data:"):
		meta, data, ok := strings.Cut(u[len("data:"):], ",")
		mime, isBase64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isBase64 || mime == "" || data == "" {
			return block{}, invalid(p, "an image data URL must have the form data:<media type>;base64,<data>")
		}
		b.Source = &imageSource{Type: "base64", MediaType: mime, Data: data}
	case strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://"):
		b.Source = &imageSource{Type: "url", URL: u}
	default:
		return block{}, invalid(p, "an image url must be an http(s) URL or a base64 data URL")
	}
	return b, nil
}

// assistantBlocks returns the blocks of an assistant message: its text,
// then a tool_use block per tool call, whose input is the call's arguments
// decoded (they must be a JSON object).
func assistantBlocks(m *llmproxy.Message, i int) ([]block, *llmproxy.Error) {
	var out []block
	if m.Content != nil {
		if m.Content.Parts == nil {
			out = textBlock(m.Content.Text, nil)
		}
		for j, part := range m.Content.Parts {
			switch part.Type {
			case "text":
				out = append(out, textBlock(part.Text, part.Extra["cache_control"])...)
			case "refusal":
			default:
				return nil, invalid(partParam(i, j), fmt.Sprintf("content parts of type %q are not supported in assistant messages", part.Type))
			}
		}
	}
	for j, tc := range m.ToolCalls {
		p := fmt.Sprintf("messages[%d].tool_calls[%d]", i, j)
		if tc.Type != "" && tc.Type != "function" {
			return nil, invalid(p+".type", fmt.Sprintf("tool calls of type %q are not supported for Anthropic models", tc.Type))
		}
		if tc.ID == "" || tc.Function.Name == "" {
			return nil, invalid(p, "a tool call needs an id and a function name")
		}
		input, ok := argumentsObject(tc.Function.Arguments)
		if !ok {
			return nil, invalid(p+".function.arguments", "the arguments of a tool call must be a JSON object")
		}
		out = append(out, block{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return out, nil
}

// argumentsObject returns a tool call's arguments as a compact JSON
// object; empty arguments are the empty object.
func argumentsObject(args string) (json.RawMessage, bool) {
	t := strings.TrimSpace(args)
	if t == "" {
		return json.RawMessage(`{}`), true
	}
	if t[0] != '{' || !json.Valid([]byte(t)) {
		return nil, false
	}
	var b bytes.Buffer
	_ = json.Compact(&b, []byte(t))
	return b.Bytes(), true
}

// toolResult returns the tool_result block of a tool message, whose
// content may hold text and images.
func toolResult(m *llmproxy.Message, i int) ([]block, *llmproxy.Error) {
	if m.ToolCallID == "" {
		return nil, invalid(param(i, "tool_call_id"), "a tool message needs the tool_call_id of the call it answers")
	}
	content, err := userBlocks(m.Content, i)
	if err != nil {
		return nil, err
	}
	return []block{{Type: "tool_result", ToolUseID: m.ToolCallID, Content: content}}, nil
}

// translateTools translates function tools to Anthropic client tools.
// Tools of another type than function or custom (Anthropic's server tools
// such as web_search_20250305) are sent as they came.
func translateTools(tools []llmproxy.Tool) ([]any, *llmproxy.Error) {
	if len(tools) == 0 {
		return nil, nil
	}
	out := make([]any, 0, len(tools))
	for i := range tools {
		t := &tools[i]
		p := fmt.Sprintf("tools[%d]", i)
		switch t.Type {
		case "function":
			f := t.Function
			if f == nil || f.Name == "" {
				return nil, invalid(p+".function.name", "a function tool needs a name")
			}
			schema := f.Parameters
			if len(schema) == 0 || isNull(schema) {
				schema = emptySchema
			}
			out = append(out, tool{Name: f.Name, Description: f.Description, InputSchema: schema, Strict: f.Strict})
		case "custom", "":
			return nil, invalid(p+".type", fmt.Sprintf("tools of type %q are not supported for Anthropic models (use function tools)", t.Type))
		default:
			b, err := json.Marshal(t)
			if err != nil {
				return nil, invalid(p, "the tool could not be encoded")
			}
			out = append(out, json.RawMessage(b))
		}
	}
	return out, nil
}

// translateToolChoice translates tool_choice and parallel_tool_calls. With
// no tools there is no tool_choice, which Anthropic refuses without tools.
func translateToolChoice(raw json.RawMessage, parallel *bool, haveTools bool) (*toolChoice, *llmproxy.Error) {
	if !haveTools {
		return nil, nil
	}
	var tc *toolChoice
	if len(raw) > 0 && !isNull(raw) {
		var s string
		var obj struct {
			Type     string `json:"type"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		switch {
		case json.Unmarshal(raw, &s) == nil:
			switch s {
			case "auto":
				tc = &toolChoice{Type: "auto"}
			case "required":
				tc = &toolChoice{Type: "any"}
			case "none":
				tc = &toolChoice{Type: "none"}
			default:
				return nil, invalid("tool_choice", fmt.Sprintf("tool_choice %q is not supported (use auto, required, none or a function)", s))
			}
		case json.Unmarshal(raw, &obj) == nil && obj.Type == "function" && obj.Function.Name != "":
			tc = &toolChoice{Type: "tool", Name: obj.Function.Name}
		default:
			return nil, invalid("tool_choice", `tool_choice must be "auto", "required", "none" or {"type":"function","function":{"name":...}} for Anthropic models`)
		}
	}
	if parallel != nil && !*parallel {
		if tc == nil {
			tc = &toolChoice{Type: "auto"}
		}
		if tc.Type != "none" {
			tc.DisableParallelToolUse = true
		}
	}
	return tc, nil
}

// passThrough copies the members Anthropic defines itself from a client's
// extra members, and sets metadata.user_id: the client's own
// metadata.user_id, else user, else safety_identifier. Other metadata
// members (OpenAI's tags for stored completions) mean nothing to Anthropic,
// which refuses them, and are dropped.
func passThrough(mr *messagesRequest, extra llmproxy.Extra, user string) *llmproxy.Error {
	set := func(name string) json.RawMessage {
		if v := extra[name]; !isNull(v) {
			return v
		}
		return nil
	}
	mr.TopK, mr.Thinking, mr.OutputConfig = set("top_k"), set("thinking"), set("output_config")
	// Anthropic knows "auto" and "standard_only"; OpenAI's tiers (default,
	// flex, priority, scale) mean nothing to it.
	var tier string
	if json.Unmarshal(extra["service_tier"], &tier) == nil && (tier == "auto" || tier == "standard_only") {
		mr.ServiceTier = tier
	}
	if user == "" {
		_ = json.Unmarshal(extra["safety_identifier"], &user)
	}
	if meta := set("metadata"); meta != nil {
		var m map[string]json.RawMessage
		if json.Unmarshal(meta, &m) != nil {
			return invalid("metadata", "metadata must be an object")
		}
		if id := m["user_id"]; !isNull(id) && json.Unmarshal(id, &user) != nil {
			return invalid("metadata.user_id", "metadata.user_id must be a string")
		}
	}
	if user != "" {
		mr.Metadata, _ = json.Marshal(map[string]string{"user_id": user})
	}
	return nil
}

// outputConfig translates response_format: a JSON schema becomes
// output_config.format; json_object and text have no Anthropic
// equivalent and are dropped.
func outputConfig(raw json.RawMessage) (json.RawMessage, *llmproxy.Error) {
	if len(raw) == 0 || isNull(raw) {
		return nil, nil
	}
	var rf struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	}
	if json.Unmarshal(raw, &rf) != nil {
		return nil, invalid("response_format", "response_format must be an object")
	}
	if rf.Type != "json_schema" {
		return nil, nil
	}
	if len(rf.JSONSchema.Schema) == 0 || isNull(rf.JSONSchema.Schema) {
		return nil, invalid("response_format.json_schema.schema", "a json_schema response format needs a schema")
	}
	b, _ := json.Marshal(map[string]any{"format": map[string]any{"type": "json_schema", "schema": rf.JSONSchema.Schema}})
	return b, nil
}

// invalid returns a KindInvalidRequest error naming param.
func invalid(param, msg string) *llmproxy.Error {
	return &llmproxy.Error{Kind: llmproxy.KindInvalidRequest, Param: param, Message: msg}
}

// param names a member of the i-th message.
func param(i int, field string) string { return fmt.Sprintf("messages[%d].%s", i, field) }

// partParam names the j-th content part of the i-th message.
func partParam(i, j int) string { return fmt.Sprintf("messages[%d].content[%d]", i, j) }

// isNull reports whether a member is absent or null.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// isTrue reports whether a member is true.
func isTrue(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "true" }
