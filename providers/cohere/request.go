package cohere

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/llmproxy/llmproxy"
)

// This file translates OpenAI chat requests into Cohere's. Its functions
// are pure: they read their arguments, modify none of them and do no I/O.
// Their errors are *llmproxy.Error values of kind KindInvalidRequest
// without a provider name, naming the member at fault in Param.

// Cohere's range for p (top_p).
const (
	minP = 0.01
	maxP = 0.99
)

// chatRequest is the body of POST /v2/chat.
type chatRequest struct {
	Model            string          `json:"model"`
	Messages         []message       `json:"messages"`
	Stream           bool            `json:"stream,omitempty"`
	Tools            []tool          `json:"tools,omitempty"`
	StrictTools      json.RawMessage `json:"strict_tools,omitempty"`
	ToolChoice       string          `json:"tool_choice,omitempty"`
	ResponseFormat   *responseFormat `json:"response_format,omitempty"`
	MaxTokens        *int            `json:"max_tokens,omitempty"`
	StopSequences    []string        `json:"stop_sequences,omitempty"`
	Temperature      *float64        `json:"temperature,omitempty"`
	Seed             json.RawMessage `json:"seed,omitempty"`
	FrequencyPenalty *float64        `json:"frequency_penalty,omitempty"`
	PresencePenalty  *float64        `json:"presence_penalty,omitempty"`
	P                *float64        `json:"p,omitempty"`

	// Cohere-native members a client may send, passed through as they are.
	K               json.RawMessage `json:"k,omitempty"`
	SafetyMode      json.RawMessage `json:"safety_mode,omitempty"`
	Documents       json.RawMessage `json:"documents,omitempty"`
	CitationOptions json.RawMessage `json:"citation_options,omitempty"`
	Thinking        json.RawMessage `json:"thinking,omitempty"`
	Priority        json.RawMessage `json:"priority,omitempty"`
}

// message is one of Cohere's chat messages. Content is a string, a list of
// content blocks (textBlock, imageBlock) or nil (left out).
type message struct {
	Role       string     `json:"role"`
	Content    any        `json:"content,omitempty"`
	ToolPlan   string     `json:"tool_plan,omitempty"`
	ToolCalls  []toolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// textBlock is a {"type":"text"} content block.
type textBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// imageBlock is a {"type":"image_url"} content block of a user message.
type imageBlock struct {
	Type     string   `json:"type"`
	ImageURL imageURL `json:"image_url"`
}

type imageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// toolCall is Cohere's ToolCallV2, the same shape as OpenAI's.
type toolCall struct {
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function toolFunction `json:"function"`
}

type toolFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// tool is Cohere's ToolV2: {"type":"function","function":{...}}.
type tool struct {
	Type     string         `json:"type"`
	Function toolDefinition `json:"function"`
}

type toolDefinition struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
}

// responseFormat is Cohere's ResponseFormatV2.
type responseFormat struct {
	Type       string          `json:"type"`
	JSONSchema json.RawMessage `json:"json_schema,omitempty"`
}

// emptySchema is the parameters of a function tool declared without any.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// toChatRequest translates an OpenAI chat request into Cohere's, with
// stream set as asked.
func toChatRequest(req *llmproxy.ChatRequest, stream bool) (*chatRequest, error) {
	if req.N != nil && *req.N > 1 {
		return nil, invalidParam("n", "n > 1 is not supported by Cohere; ask for one choice")
	}
	out := &chatRequest{Model: req.Model, Stream: stream, Temperature: req.Temperature}
	var err error
	if out.Messages, err = toMessages(req.Messages); err != nil {
		return nil, err
	}
	if err = setTools(out, req); err != nil {
		return nil, err
	}
	out.MaxTokens = req.MaxTokens
	if req.MaxCompletionTokens != nil {
		out.MaxTokens = req.MaxCompletionTokens
	}
	if len(req.Stop) > 0 {
		out.StopSequences = []string(req.Stop)
	}
	if req.TopP != nil {
		p := min(max(*req.TopP, minP), maxP)
		out.P = &p
	}
	if err = setExtras(out, req.Extra); err != nil {
		return nil, err
	}
	return out, nil
}

// setExtras translates the OpenAI members the proxy does not model, and
// passes the Cohere-native members a client may add (k, safety_mode,
// documents, citation_options, thinking, priority, strict_tools) through
// as they are; a client's strict_tools overrides the one derived from its
// tools.
func setExtras(out *chatRequest, x llmproxy.Extra) error {
	var err error
	if out.FrequencyPenalty, err = x.Number("frequency_penalty"); err != nil {
		return err
	}
	if out.PresencePenalty, err = x.Number("presence_penalty"); err != nil {
		return err
	}
	if seed, ok := x.Present("seed"); ok {
		var n json.Number
		if json.Unmarshal(seed, &n) != nil || bytes.ContainsAny(seed, ".eE") {
			return invalidParam("seed", "seed must be an integer")
		}
		out.Seed = seed
	}
	if lp, ok := x.Present("logprobs"); ok && !bytes.Equal(bytes.TrimSpace(lp), []byte("false")) {
		return invalidParam("logprobs", "logprobs are not supported by the Cohere adapter")
	}
	if tl, ok := x.Present("top_logprobs"); ok && !bytes.Equal(bytes.TrimSpace(tl), []byte("0")) {
		return invalidParam("top_logprobs", "top_logprobs are not supported by the Cohere adapter")
	}
	if rf, ok := x.Present("response_format"); ok {
		if out.ResponseFormat, err = toResponseFormat(rf); err != nil {
			return err
		}
	}
	for k, dst := range map[string]*json.RawMessage{
		"k": &out.K, "safety_mode": &out.SafetyMode, "documents": &out.Documents,
		"citation_options": &out.CitationOptions, "thinking": &out.Thinking,
		"priority": &out.Priority, "strict_tools": &out.StrictTools,
	} {
		if v, ok := x.Present(k); ok {
			*dst = v
		}
	}
	return nil
}

// toResponseFormat translates OpenAI's response_format. "text" is Cohere's
// default and is left out (Cohere refuses any response_format together
// with tools or documents); json_schema becomes json_object with the
// schema, as Cohere has no json_schema type.
func toResponseFormat(raw json.RawMessage) (*responseFormat, error) {
	var rf struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	}
	if err := json.Unmarshal(raw, &rf); err != nil {
		return nil, invalidParam("response_format", "response_format must be an object with a type")
	}
	switch rf.Type {
	case "text":
		return nil, nil
	case "json_object":
		return &responseFormat{Type: "json_object"}, nil
	case "json_schema":
		out := &responseFormat{Type: "json_object"}
		if rf.JSONSchema != nil {
			if s := bytes.TrimSpace(rf.JSONSchema.Schema); len(s) > 0 && string(s) != "null" {
				if s[0] != '{' {
					return nil, invalidParam("response_format.json_schema.schema", "the schema must be a JSON object")
				}
				out.JSONSchema = s
			}
		}
		return out, nil
	}
	return nil, invalidParam("response_format.type", "response_format type %q is not supported by Cohere (use text, json_object or json_schema)", rf.Type)
}

// setTools translates tools and tool_choice.
func setTools(out *chatRequest, req *llmproxy.ChatRequest) error {
	strict := false
	for i, t := range req.Tools {
		if t.Type != "function" || t.Function == nil {
			return invalidParam(fmt.Sprintf("tools[%d].type", i), "tool type %q is not supported by Cohere; only function tools are", t.Type)
		}
		if t.Function.Name == "" {
			return invalidParam(fmt.Sprintf("tools[%d].function.name", i), "each function tool needs a name")
		}
		params := bytes.TrimSpace(t.Function.Parameters)
		if len(params) == 0 || string(params) == "null" {
			params = emptySchema
		}
		out.Tools = append(out.Tools, tool{Type: "function", Function: toolDefinition{
			Name: t.Function.Name, Description: t.Function.Description, Parameters: params,
		}})
		if t.Function.Strict != nil && *t.Function.Strict {
			strict = true
		}
	}
	if strict {
		out.StrictTools = json.RawMessage("true")
	}
	choice, err := toToolChoice(req.ToolChoice)
	if err != nil {
		return err
	}
	if choice == "NONE" && len(out.Tools) == 0 {
		choice = "" // nothing to refuse
	}
	out.ToolChoice = choice
	return nil
}

// toToolChoice translates OpenAI's tool_choice: auto (or absent) is
// Cohere's default and gives "", required gives REQUIRED and none NONE.
// Cohere cannot force one named tool, so a named choice is refused.
func toToolChoice(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto", "":
			return "", nil
		case "required":
			return "REQUIRED", nil
		case "none":
			return "NONE", nil
		}
		return "", invalidParam("tool_choice", "tool_choice %q is not supported (use auto, required or none)", s)
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Type == "function" {
		return "", invalidParam("tool_choice", "Cohere cannot force a call of one named function (%q); use tool_choice \"required\" with only that tool in tools", obj.Function.Name)
	}
	return "", invalidParam("tool_choice", "this tool_choice is not supported by Cohere (use auto, required or none)")
}

// toMessages translates the conversation message by message.
func toMessages(msgs []llmproxy.Message) ([]message, error) {
	out := make([]message, 0, len(msgs))
	for i := range msgs {
		m, err := toMessage(&msgs[i], i)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// toMessage translates message i.
func toMessage(m *llmproxy.Message, i int) (message, error) {
	param := func(field string) string { return fmt.Sprintf("messages[%d].%s", i, field) }
	switch m.Role {
	case "system", "developer":
		text, err := textOnly(m.Content, param("content"), m.Role)
		if err != nil {
			return message{}, err
		}
		return message{Role: "system", Content: text}, nil
	case "user":
		content, err := userContent(m.Content, param("content"))
		if err != nil {
			return message{}, err
		}
		return message{Role: "user", Content: content}, nil
	case "assistant":
		return assistantMessage(m, param)
	case "tool":
		if m.ToolCallID == "" {
			return message{}, invalidParam(param("tool_call_id"), "a tool message needs the tool_call_id of the call it answers")
		}
		content, err := toolContent(m.Content, param("content"))
		if err != nil {
			return message{}, err
		}
		return message{Role: "tool", ToolCallID: m.ToolCallID, Content: content}, nil
	case "function":
		return message{}, invalidParam(param("role"), "the function role is not supported by Cohere; send tool messages")
	}
	return message{}, invalidParam(param("role"), "role %q is not supported by Cohere (use system, developer, user, assistant or tool)", m.Role)
}

// textOnly returns content that must be text (system messages): a string,
// or text parts joined.
func textOnly(c *llmproxy.Content, param, role string) (string, error) {
	if c == nil {
		return "", nil
	}
	for j, p := range c.Parts {
		if p.Type != "text" {
			return "", invalidParam(fmt.Sprintf("%s[%d].type", param, j), "a %s message may only hold text, not %q", role, p.Type)
		}
	}
	return c.String(), nil
}

// userContent returns a user message's content: its string, or its text
// and image_url parts as Cohere content blocks.
func userContent(c *llmproxy.Content, param string) (any, error) {
	if c == nil {
		return "", nil
	}
	if c.Parts == nil {
		return c.Text, nil
	}
	blocks := make([]any, 0, len(c.Parts))
	for j, p := range c.Parts {
		switch p.Type {
		case "text":
			blocks = append(blocks, textBlock{Type: "text", Text: p.Text})
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return nil, invalidParam(fmt.Sprintf("%s[%d].image_url", param, j), "an image_url part needs a url")
			}
			blocks = append(blocks, imageBlock{Type: "image_url", ImageURL: imageURL{URL: p.ImageURL.URL, Detail: p.ImageURL.Detail}})
		default:
			return nil, invalidParam(fmt.Sprintf("%s[%d].type", param, j), "content part type %q is not supported by Cohere (use text or image_url)", p.Type)
		}
	}
	return blocks, nil
}

// toolContent returns a tool message's content: its string, or its text
// parts as Cohere text blocks.
func toolContent(c *llmproxy.Content, param string) (any, error) {
	if c == nil {
		return "", nil
	}
	if c.Parts == nil {
		return c.Text, nil
	}
	blocks := make([]any, 0, len(c.Parts))
	for j, p := range c.Parts {
		if p.Type != "text" {
			return nil, invalidParam(fmt.Sprintf("%s[%d].type", param, j), "a tool message may only hold text, not %q", p.Type)
		}
		blocks = append(blocks, textBlock{Type: "text", Text: p.Text})
	}
	return blocks, nil
}

// assistantMessage translates an assistant turn: its text (refusal parts
// are left out), its tool calls, and, when it calls tools, its
// reasoning_content as Cohere's tool_plan.
func assistantMessage(m *llmproxy.Message, param func(string) string) (message, error) {
	out := message{Role: "assistant"}
	if m.Content != nil {
		var text string
		if m.Content.Parts == nil {
			text = m.Content.Text
		} else {
			for j, p := range m.Content.Parts {
				switch p.Type {
				case "text":
					text += p.Text
				case "refusal":
				default:
					return message{}, invalidParam(fmt.Sprintf("%s[%d].type", param("content"), j), "an assistant message may only hold text, not %q", p.Type)
				}
			}
		}
		if text != "" {
			out.Content = text
		}
	}
	for j, tc := range m.ToolCalls {
		if tc.Type != "" && tc.Type != "function" {
			return message{}, invalidParam(fmt.Sprintf("%s[%d].type", param("tool_calls"), j), "tool call type %q is not supported by Cohere", tc.Type)
		}
		if tc.ID == "" {
			return message{}, invalidParam(fmt.Sprintf("%s[%d].id", param("tool_calls"), j), "each tool call needs an id")
		}
		args := tc.Function.Arguments
		if args == "" {
			args = "{}"
		}
		out.ToolCalls = append(out.ToolCalls, toolCall{ID: tc.ID, Type: "function",
			Function: toolFunction{Name: tc.Function.Name, Arguments: args}})
	}
	if len(out.ToolCalls) > 0 {
		if rc, ok := m.Extra.Present("reasoning_content"); ok {
			var plan string
			if json.Unmarshal(rc, &plan) == nil {
				out.ToolPlan = plan
			}
		}
	}
	if out.Content == nil && len(out.ToolCalls) == 0 {
		out.Content = ""
	}
	return out, nil
}
