package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/llmproxy/llmproxy"
)

// wireRequest is the part of a Responses request that the translation to
// chat reads. Members it does not know (include, truncation, metadata,
// service_tier, prompt_cache_key, …) have no chat equivalent and are
// dropped.
type wireRequest struct {
	Model              string            `json:"model"`
	Instructions       json.RawMessage   `json:"instructions"`
	Input              json.RawMessage   `json:"input"`
	Tools              []json.RawMessage `json:"tools"`
	ToolChoice         json.RawMessage   `json:"tool_choice"`
	Text               *textOptions      `json:"text"`
	MaxOutputTokens    *int              `json:"max_output_tokens"`
	Temperature        *float64          `json:"temperature"`
	TopP               *float64          `json:"top_p"`
	ParallelToolCalls  *bool             `json:"parallel_tool_calls"`
	Reasoning          *reasoning        `json:"reasoning"`
	User               string            `json:"user"`
	Metadata           json.RawMessage   `json:"metadata"`
	PreviousResponseID *string           `json:"previous_response_id"`
	Store              *bool             `json:"store"`
}

// textOptions is the "text" member: the output format.
type textOptions struct {
	Format json.RawMessage `json:"format"`
}

// reasoning is the "reasoning" member.
type reasoning struct {
	Effort *string `json:"effort"`
}

// item is one input item (or a stored output item) of a conversation.
type item struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments string          `json:"arguments"`
	Output    json.RawMessage `json:"output"`
}

// part is one content part of a message item.
type part struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Refusal  string `json:"refusal"`
	ImageURL string `json:"image_url"`
	Detail   string `json:"detail"`
	FileID   string `json:"file_id"`
	FileData string `json:"file_data"`
	Filename string `json:"filename"`
}

// tool is one tool offered by the request.
type tool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
}

// decodeWire decodes the members of body that the translation reads.
func decodeWire(body []byte) (*wireRequest, error) {
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		e := &llmproxy.Error{Kind: llmproxy.KindInvalidRequest, Code: "invalid_json", Err: err,
			Message: "the request body could not be read: " + err.Error()}
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			e.Param = typ.Field
			e.Message = fmt.Sprintf("%s has the wrong type: expected %s, got %s", typ.Field, typ.Type, typ.Value)
		}
		return nil, e
	}
	return &w, nil
}

// inputItems returns the "input" of a request as a list of items: a string
// is one user message.
func inputItems(input json.RawMessage) ([]json.RawMessage, error) {
	input = bytes.TrimSpace(input)
	if len(input) > 0 && input[0] == '"' {
		var s string
		if err := json.Unmarshal(input, &s); err != nil {
			return nil, invalid("input", "input is not a valid string")
		}
		b, _ := json.Marshal(map[string]string{"type": "message", "role": "user", "content": s})
		return []json.RawMessage{b}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(input, &items); err != nil {
		return nil, invalid("input", "input must be a string or an array of input items")
	}
	return items, nil
}

// translation is a Responses request translated to chat.
type translation struct {
	chat *llmproxy.ChatRequest
	// dropped names the tools the request offered that the translation
	// left out (hosted tools, unknown types), in order, each once.
	dropped []string
}

// toChat translates a Responses request to a chat request for model:
// instructions become a system message; items (prior ones of a previous
// response first) become messages; function tools, tool_choice,
// text.format, max_output_tokens, temperature, top_p,
// parallel_tool_calls, reasoning.effort and user their chat equivalents.
// Hosted tools (web_search, file_search, computer use, MCP, …) and tool
// types it does not know are dropped and named in dropped; a tool_choice
// forcing one of them is an invalid request, as is an input item or part it
// cannot translate. Reasoning items are dropped: their content is the
// producing model's own.
func toChat(w *wireRequest, prior []json.RawMessage, model string) (*translation, error) {
	out := &translation{chat: &llmproxy.ChatRequest{Model: model, Extra: llmproxy.Extra{}}}
	c := out.chat
	if len(w.Instructions) > 0 && !bytes.Equal(w.Instructions, []byte("null")) {
		var s string
		if err := json.Unmarshal(w.Instructions, &s); err != nil {
			return nil, wrongTypeMsg("instructions", "a string")
		}
		if s != "" {
			c.Messages = append(c.Messages, llmproxy.Message{Role: "system", Content: llmproxy.Text(s)})
		}
	}
	items, err := inputItems(w.Input)
	if err != nil {
		return nil, err
	}
	msgs, err := itemsToMessages(append(append([]json.RawMessage(nil), prior...), items...), len(prior))
	if err != nil {
		return nil, err
	}
	c.Messages = append(c.Messages, msgs...)
	if len(c.Messages) == 0 {
		return nil, invalid("input", "the input has no message to send")
	}
	if err := translateTools(w, out); err != nil {
		return nil, err
	}
	if w.Text != nil && len(w.Text.Format) > 0 {
		rf, err := responseFormat(w.Text.Format)
		if err != nil {
			return nil, err
		}
		if rf != nil {
			c.Extra["response_format"] = rf
		}
	}
	if w.MaxOutputTokens != nil {
		if *w.MaxOutputTokens < 1 {
			return nil, invalid("max_output_tokens", "max_output_tokens must be at least 1")
		}
		c.MaxCompletionTokens = w.MaxOutputTokens
	}
	c.Temperature, c.TopP, c.ParallelToolCalls, c.User = w.Temperature, w.TopP, w.ParallelToolCalls, w.User
	if w.Reasoning != nil && w.Reasoning.Effort != nil && *w.Reasoning.Effort != "" {
		b, _ := json.Marshal(*w.Reasoning.Effort)
		c.Extra["reasoning_effort"] = b
	}
	if len(c.Extra) == 0 {
		c.Extra = nil
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return out, nil
}

// itemsToMessages translates conversation items to chat messages. The
// first nPrior items come from a stored response; an error in the others
// names them by their index in "input".
func itemsToMessages(items []json.RawMessage, nPrior int) ([]llmproxy.Message, error) {
	var msgs []llmproxy.Message
	for i, raw := range items {
		param := fmt.Sprintf("input[%d]", i-nPrior)
		if i < nPrior {
			param = "previous_response_id"
		}
		var it item
		if err := json.Unmarshal(raw, &it); err != nil {
			return nil, invalid(param, param+" must be an input item object")
		}
		switch it.Type {
		case "message", "":
			m, err := messageItem(&it, param)
			if err != nil {
				return nil, err
			}
			if m.Role == "assistant" && m.Content == nil {
				continue // an empty assistant message says nothing
			}
			msgs = append(msgs, m)
		case "function_call":
			if it.CallID == "" || it.Name == "" {
				return nil, invalid(param, "a function_call item needs a call_id and a name")
			}
			call := llmproxy.ToolCall{ID: it.CallID, Type: "function",
				Function: llmproxy.FunctionCall{Name: it.Name, Arguments: it.Arguments}}
			if n := len(msgs); n > 0 && msgs[n-1].Role == "assistant" {
				msgs[n-1].ToolCalls = append(msgs[n-1].ToolCalls, call)
			} else {
				msgs = append(msgs, llmproxy.Message{Role: "assistant", ToolCalls: llmproxy.ToolCalls{call}})
			}
		case "function_call_output":
			if it.CallID == "" {
				return nil, invalid(param, "a function_call_output item needs a call_id")
			}
			text, err := outputText(it.Output, param)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, llmproxy.Message{Role: "tool", ToolCallID: it.CallID, Content: llmproxy.Text(text)})
		case "reasoning":
			// The model's own reasoning, which another model cannot read.
		default:
			if hostedItems[it.Type] {
				continue // the work of a hosted tool, which chat cannot replay
			}
			return nil, invalid(param+".type", fmt.Sprintf("input items of type %q cannot be translated for this model's provider, which does not speak the Responses API", it.Type))
		}
	}
	return msgs, nil
}

// hostedItems are the item types of hosted tools' calls and outputs
// (which a conversation from a Responses upstream may hold). The
// translation leaves them out, as it leaves the tools out.
var hostedItems = map[string]bool{
	"web_search_call": true, "file_search_call": true, "code_interpreter_call": true,
	"image_generation_call": true, "computer_call": true, "computer_call_output": true,
	"local_shell_call": true, "local_shell_call_output": true, "shell_call": true, "shell_call_output": true,
	"mcp_call": true, "mcp_list_tools": true, "mcp_approval_request": true, "mcp_approval_response": true,
	"custom_tool_call": true, "custom_tool_call_output": true, "tool_search_call": true, "tool_search_output": true,
	"apply_patch_call": true, "apply_patch_call_output": true,
}

// messageItem translates a message item.
func messageItem(it *item, param string) (llmproxy.Message, error) {
	var m llmproxy.Message
	switch it.Role {
	case "user":
		m.Role = "user"
	case "assistant":
		m.Role = "assistant"
	case "system", "developer":
		m.Role = "system"
	default:
		return m, invalid(param+".role", fmt.Sprintf("role %q is not one of user, assistant, system, developer", it.Role))
	}
	content := bytes.TrimSpace(it.Content)
	if len(content) > 0 && content[0] == '"' {
		var s string
		_ = json.Unmarshal(content, &s)
		if s != "" || m.Role != "assistant" {
			m.Content = llmproxy.Text(s)
		}
		return m, nil
	}
	var parts []part
	if err := json.Unmarshal(content, &parts); err != nil {
		return m, invalid(param+".content", "content must be a string or an array of content parts")
	}
	if m.Role == "assistant" {
		// An earlier answer: its text and refusals, as text.
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.Text)
			b.WriteString(p.Refusal)
		}
		if b.Len() > 0 {
			m.Content = llmproxy.Text(b.String())
		}
		return m, nil
	}
	out := make([]llmproxy.ContentPart, 0, len(parts))
	for j, p := range parts {
		pp := fmt.Sprintf("%s.content[%d]", param, j)
		switch p.Type {
		case "input_text", "output_text":
			out = append(out, llmproxy.ContentPart{Type: "text", Text: p.Text})
		case "input_image":
			if p.ImageURL == "" {
				return m, invalid(pp, "only input_image parts with an image_url (an https or data URL) can be translated; file_id needs OpenAI's files")
			}
			out = append(out, llmproxy.ContentPart{Type: "image_url", ImageURL: &llmproxy.ImageURL{URL: p.ImageURL, Detail: p.Detail}})
		case "input_file":
			if p.FileData == "" {
				return m, invalid(pp, "only input_file parts with file_data can be translated; file_id and file_url need OpenAI's files")
			}
			f, _ := json.Marshal(map[string]string{"file_data": p.FileData, "filename": p.Filename})
			out = append(out, llmproxy.ContentPart{Type: "file", Extra: llmproxy.Extra{"file": f}})
		default:
			return m, invalid(pp+".type", fmt.Sprintf("content parts of type %q cannot be translated", p.Type))
		}
	}
	if m.Role == "system" {
		// System messages take text only, joined.
		var b strings.Builder
		for _, p := range out {
			b.WriteString(p.Text)
		}
		m.Content = llmproxy.Text(b.String())
		return m, nil
	}
	m.Content = &llmproxy.Content{Parts: out}
	return m, nil
}

// outputText returns the output of a function_call_output item: a string,
// or the text of its content parts.
func outputText(raw json.RawMessage, param string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var parts []part
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", invalid(param+".output", "output must be a string or an array of content parts")
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// translateTools translates the function tools and tool_choice, and drops
// the others.
func translateTools(w *wireRequest, out *translation) error {
	c := out.chat
	names := map[string]bool{}
	for i, raw := range w.Tools {
		var t tool
		if err := json.Unmarshal(raw, &t); err != nil {
			return invalid(fmt.Sprintf("tools[%d]", i), "each tool must be an object with a type")
		}
		if t.Type != "function" {
			name := t.Type
			if name == "" {
				name = "(untyped)"
			}
			if !contains(out.dropped, name) {
				out.dropped = append(out.dropped, name)
			}
			continue
		}
		if t.Name == "" {
			return invalid(fmt.Sprintf("tools[%d].name", i), "a function tool needs a name")
		}
		names[t.Name] = true
		c.Tools = append(c.Tools, llmproxy.Tool{Type: "function", Function: &llmproxy.FunctionDefinition{
			Name: t.Name, Description: t.Description, Parameters: t.Parameters, Strict: t.Strict}})
	}
	choice := bytes.TrimSpace(w.ToolChoice)
	if len(choice) == 0 || bytes.Equal(choice, []byte("null")) {
		return nil
	}
	if choice[0] == '"' {
		var s string
		_ = json.Unmarshal(choice, &s)
		switch s {
		case "none", "auto", "required":
		default:
			return invalid("tool_choice", fmt.Sprintf("tool_choice %q is not one of none, auto, required", s))
		}
		if len(c.Tools) > 0 {
			c.ToolChoice = choice
		}
		return nil
	}
	var tc struct {
		Type  string `json:"type"`
		Name  string `json:"name"`
		Mode  string `json:"mode"`
		Tools []tool `json:"tools"`
	}
	if err := json.Unmarshal(choice, &tc); err != nil {
		return invalid("tool_choice", "tool_choice must be a string or an object")
	}
	switch tc.Type {
	case "function":
		if !names[tc.Name] {
			return invalid("tool_choice", fmt.Sprintf("tool_choice names the function %q, which is not among the tools", tc.Name))
		}
		c.ToolChoice, _ = json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": tc.Name}})
	case "allowed_tools":
		allowed := map[string]bool{}
		for _, t := range tc.Tools {
			if t.Type != "function" {
				return invalid("tool_choice", fmt.Sprintf("tool_choice allows the tool %q, which this model's provider cannot run (it does not speak the Responses API)", t.Type))
			}
			allowed[t.Name] = true
		}
		kept := c.Tools[:0]
		for _, t := range c.Tools {
			if allowed[t.Function.Name] {
				kept = append(kept, t)
			}
		}
		c.Tools = kept
		mode := tc.Mode
		if mode != "required" {
			mode = "auto"
		}
		if len(c.Tools) > 0 {
			c.ToolChoice, _ = json.Marshal(mode)
		}
	default:
		return invalid("tool_choice", fmt.Sprintf("tool_choice forces the tool %q, which this model's provider cannot run (it does not speak the Responses API)", tc.Type))
	}
	return nil
}

// responseFormat translates text.format to a chat response_format, or nil
// for plain text.
func responseFormat(raw json.RawMessage) (json.RawMessage, error) {
	var f struct {
		Type        string          `json:"type"`
		Name        string          `json:"name"`
		Schema      json.RawMessage `json:"schema"`
		Strict      *bool           `json:"strict"`
		Description string          `json:"description"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, invalid("text.format", "text.format must be an object with a type")
	}
	switch f.Type {
	case "", "text":
		return nil, nil
	case "json_object":
		return json.RawMessage(`{"type":"json_object"}`), nil
	case "json_schema":
		if len(f.Schema) == 0 {
			return nil, invalid("text.format.schema", "a json_schema format needs a schema")
		}
		js := map[string]any{"name": f.Name, "schema": f.Schema}
		if f.Strict != nil {
			js["strict"] = *f.Strict
		}
		if f.Description != "" {
			js["description"] = f.Description
		}
		return json.Marshal(map[string]any{"type": "json_schema", "json_schema": js})
	}
	return nil, invalid("text.format.type", fmt.Sprintf("text.format type %q is not one of text, json_object, json_schema", f.Type))
}

func wrongTypeMsg(param, want string) *llmproxy.Error {
	return &llmproxy.Error{Kind: llmproxy.KindInvalidRequest, Code: "invalid_json", Param: param,
		Message: param + " has the wrong type: expected " + want}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
