package messages

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/anthropicwire"
)

// The Messages request as the translation to chat reads it. Members it
// does not model (cache_control, context_management, defer_loading,
// container, mcp_servers, service_tier, citations, …) are dropped.
type request struct {
	Model         string          `json:"model"`
	MaxTokens     int             `json:"max_tokens"`
	System        json.RawMessage `json:"system"`
	Messages      []message       `json:"messages"`
	StopSequences []string        `json:"stop_sequences"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	Stream        bool            `json:"stream"`
	Metadata      *struct {
		UserID string `json:"user_id"`
	} `json:"metadata"`
	Tools        []tool      `json:"tools"`
	ToolChoice   *toolChoice `json:"tool_choice"`
	OutputConfig *struct {
		Format *struct {
			Type   string          `json:"type"`
			Schema json.RawMessage `json:"schema"`
		} `json:"format"`
	} `json:"output_config"`
}

// maxUserBytes is the longest metadata.user_id sent as the chat request's
// user: OpenAI refuses longer end-user ids, and Claude Code's is a JSON
// object of some 150 bytes.
const maxUserBytes = 64

// message is one message: role user, assistant or system (the 2026-10-21
// API version allows system messages inside messages), and content that
// is a string or a list of blocks.
type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// block is a content block; members that do not belong to its type are
// empty.
type block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Source    json.RawMessage `json:"source"` // an object for images and documents
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
	Title     string          `json:"title"`
}

// source is where an image or document block's data comes from.
type source struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

// tool is a tool definition: a client tool (no type, or "custom") or one
// of Anthropic's own tools (a versioned type such as web_search_20250305).
type tool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
	Strict      *bool           `json:"strict"`
}

// toolChoice is tool_choice: auto, any, tool (with a name) or none.
type toolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
}

// ToChat decodes a Messages request and translates it to a chat request
// for model (see the package documentation for the mapping and what is
// dropped). A request that cannot be translated faithfully (a content
// block of a type the translation does not know, a malformed member) is
// refused with a KindInvalidRequest *llmproxy.Error naming the member.
func ToChat(r *Request, model string) (*llmproxy.ChatRequest, error) {
	var in request
	if err := json.Unmarshal(r.Body, &in); err != nil {
		return nil, invalid("", "the request body does not match the Messages API: "+jsonProblem(err))
	}
	out := &llmproxy.ChatRequest{
		Model:       model,
		Stop:        in.StopSequences,
		Temperature: in.Temperature,
		TopP:        in.TopP,
		Stream:      in.Stream,
	}
	if in.MaxTokens > 0 {
		n := in.MaxTokens
		out.MaxTokens = &n
	}
	if in.Stream {
		out.StreamOptions = &llmproxy.StreamOptions{IncludeUsage: true}
	}
	if in.Metadata != nil && len(in.Metadata.UserID) <= maxUserBytes {
		out.User = in.Metadata.UserID
	}
	if oc := in.OutputConfig; oc != nil && oc.Format != nil && oc.Format.Type == "json_schema" && len(oc.Format.Schema) > 0 {
		rf, _ := json.Marshal(map[string]any{"type": "json_schema",
			"json_schema": map[string]any{"name": "output", "schema": oc.Format.Schema}})
		out.Extra = llmproxy.Extra{"response_format": rf}
	}
	sys, err := systemText(in.System, "system")
	if err != nil {
		return nil, err
	}
	if sys != "" {
		out.Messages = append(out.Messages, llmproxy.Message{Role: "system", Content: llmproxy.Text(sys)})
	}
	for i := range in.Messages {
		if out.Messages, err = appendMessage(out.Messages, &in.Messages[i], i); err != nil {
			return nil, err
		}
	}
	if len(out.Messages) == 0 {
		return nil, invalid("messages", "messages: no message has content that can be sent")
	}
	out.Tools = chatTools(in.Tools)
	if len(out.Tools) > 0 && in.ToolChoice != nil {
		if out.ToolChoice, err = chatToolChoice(in.ToolChoice); err != nil {
			return nil, err
		}
		if in.ToolChoice.DisableParallelToolUse {
			no := false
			out.ParallelToolCalls = &no
		}
	}
	return out, nil
}

// jsonProblem words a decoding error without Go type names.
func jsonProblem(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok && te.Field != "" {
		return te.Field + " has the wrong type (" + te.Value + ")"
	}
	return err.Error()
}

// systemText returns the text of a system prompt, a string or a list of
// text blocks, which are joined by blank lines (their cache_control is
// dropped).
func systemText(raw json.RawMessage, param string) (string, *llmproxy.Error) {
	blocks, text, err := contentOf(raw, param)
	if err != nil || blocks == nil {
		return text, err
	}
	parts := make([]string, 0, len(blocks))
	for j, b := range blocks {
		if b.Type != "text" {
			return "", invalid(fmt.Sprintf("%s[%d]", param, j), fmt.Sprintf("%s[%d]: a system prompt holds text blocks only, not %q", param, j, b.Type))
		}
		if b.Text != "" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n\n"), nil
}

// contentOf decodes a content member: a string (text) or a list of blocks
// (blocks, non-nil). Absent and null are the empty string.
func contentOf(raw json.RawMessage, param string) ([]block, string, *llmproxy.Error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return nil, "", nil
	}
	if t[0] == '"' {
		var s string
		if json.Unmarshal(t, &s) != nil {
			return nil, "", invalid(param, param+": not a valid string")
		}
		return nil, s, nil
	}
	blocks := []block{}
	if err := json.Unmarshal(t, &blocks); err != nil {
		return nil, "", invalid(param, param+": must be a string or a list of content blocks ("+jsonProblem(err)+")")
	}
	return blocks, "", nil
}

// appendMessage appends the chat messages of the i-th message to out.
func appendMessage(out []llmproxy.Message, m *message, i int) ([]llmproxy.Message, *llmproxy.Error) {
	param := fmt.Sprintf("messages[%d].content", i)
	switch m.Role {
	case "system":
		text, err := systemText(m.Content, param)
		if err != nil || text == "" {
			return out, err
		}
		return append(out, llmproxy.Message{Role: "system", Content: llmproxy.Text(text)}), nil
	case "user":
		return appendUser(out, m.Content, param)
	case "assistant":
		return appendAssistant(out, m.Content, param)
	}
	return out, invalid(fmt.Sprintf("messages[%d].role", i),
		fmt.Sprintf("messages[%d].role: %q is not a role (use user, assistant or system)", i, m.Role))
}

// appendUser appends a user message: its tool_result blocks become tool
// messages, in their order, then its text, images and documents a user
// message (with the images of the tool results, which a tool message
// cannot hold).
func appendUser(out []llmproxy.Message, raw json.RawMessage, param string) ([]llmproxy.Message, *llmproxy.Error) {
	blocks, text, err := contentOf(raw, param)
	if err != nil {
		return out, err
	}
	if blocks == nil {
		if text == "" {
			return out, nil
		}
		return append(out, llmproxy.Message{Role: "user", Content: llmproxy.Text(text)}), nil
	}
	var parts []llmproxy.ContentPart
	for j, b := range blocks {
		bp := fmt.Sprintf("%s[%d]", param, j)
		if b.Type == "tool_result" {
			msg, images, err := toolMessage(&b, bp)
			if err != nil {
				return out, err
			}
			out = append(out, msg)
			parts = append(parts, images...)
			continue
		}
		p, keep, err := userPart(&b, bp)
		if err != nil {
			return out, err
		}
		if keep {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return out, nil
	}
	return append(out, llmproxy.Message{Role: "user", Content: partsContent(parts)}), nil
}

// partsContent returns parts as content: plain text when they are one
// text part, which every provider takes.
func partsContent(parts []llmproxy.ContentPart) *llmproxy.Content {
	if len(parts) == 1 && parts[0].Type == "text" {
		return llmproxy.Text(parts[0].Text)
	}
	return &llmproxy.Content{Parts: parts}
}

// userPart translates a block of a user message: text, an image (base64
// or URL) or a document (plain text, or a base64 PDF as a file part).
// Blocks of Anthropic's server tools and container uploads are dropped
// (keep false); other types are refused.
func userPart(b *block, param string) (llmproxy.ContentPart, bool, *llmproxy.Error) {
	switch b.Type {
	case "text":
		return llmproxy.ContentPart{Type: "text", Text: b.Text}, b.Text != "", nil
	case "image":
		u, err := imageURL(sourceOf(b), param)
		if err != nil {
			return llmproxy.ContentPart{}, false, err
		}
		return llmproxy.ContentPart{Type: "image_url", ImageURL: &llmproxy.ImageURL{URL: u}}, true, nil
	case "document":
		return documentPart(b, param)
	case "thinking", "redacted_thinking", "server_tool_use", "container_upload":
		return llmproxy.ContentPart{}, false, nil
	}
	if strings.HasSuffix(b.Type, "_tool_result") {
		return llmproxy.ContentPart{}, false, nil // a server tool's result
	}
	return llmproxy.ContentPart{}, false, invalid(param+".type",
		fmt.Sprintf("%s.type: content blocks of type %q cannot be translated for this provider", param, b.Type))
}

// sourceOf returns the source of an image or document block, nil when it
// has none or it is not an object.
func sourceOf(b *block) *source {
	var s source
	if len(b.Source) == 0 || json.Unmarshal(b.Source, &s) != nil {
		return nil
	}
	return &s
}

// imageURL returns the URL of an image source: a data URL for base64 data.
func imageURL(s *source, param string) (string, *llmproxy.Error) {
	switch {
	case s == nil:
		return "", invalid(param+".source", param+".source: Field required")
	case s.Type == "base64" && s.MediaType != "" && s.Data != "":
		return "data:" + s.MediaType + ";base64," + s.Data, nil
	case s.Type == "url" && s.URL != "":
		return s.URL, nil
	}
	return "", invalid(param+".source", param+`.source: an image source must be {"type":"base64","media_type","data"} or {"type":"url","url"} for this provider`)
}

// documentPart translates a document block: a text source becomes a text
// part (after its title), a base64 PDF a file part.
func documentPart(b *block, param string) (llmproxy.ContentPart, bool, *llmproxy.Error) {
	s := sourceOf(b)
	switch {
	case s != nil && s.Type == "text":
		text := s.Data
		if b.Title != "" {
			text = b.Title + "\n\n" + text
		}
		return llmproxy.ContentPart{Type: "text", Text: text}, text != "", nil
	case s != nil && s.Type == "base64" && s.MediaType == "application/pdf" && s.Data != "":
		file, _ := json.Marshal(map[string]string{"filename": orDefault(b.Title, "document.pdf"),
			"file_data": "data:application/pdf;base64," + s.Data})
		return llmproxy.ContentPart{Type: "file", Extra: llmproxy.Extra{"file": file}}, true, nil
	}
	return llmproxy.ContentPart{}, false, invalid(param+".source",
		param+".source: only text documents and base64 PDFs can be translated for this provider")
}

// toolMessage translates a tool_result block to a tool message; its
// images are returned apart, for the user message that follows. A result
// marked is_error has its text prefixed with "Error: ", since a tool
// message has no such flag.
func toolMessage(b *block, param string) (llmproxy.Message, []llmproxy.ContentPart, *llmproxy.Error) {
	if b.ToolUseID == "" {
		return llmproxy.Message{}, nil, invalid(param+".tool_use_id", param+".tool_use_id: Field required")
	}
	blocks, text, err := contentOf(b.Content, param+".content")
	if err != nil {
		return llmproxy.Message{}, nil, err
	}
	var texts []string
	if text != "" {
		texts = append(texts, text)
	}
	var images []llmproxy.ContentPart
	for j := range blocks {
		p, keep, err := userPart(&blocks[j], fmt.Sprintf("%s.content[%d]", param, j))
		switch {
		case err != nil:
			return llmproxy.Message{}, nil, err
		case !keep:
		case p.Type == "text":
			texts = append(texts, p.Text)
		default:
			images = append(images, p)
		}
	}
	content := strings.Join(texts, "\n")
	if b.IsError {
		content = "Error: " + content
	}
	return llmproxy.Message{Role: "tool", ToolCallID: b.ToolUseID, Content: llmproxy.Text(content)}, images, nil
}

// appendAssistant appends an assistant message: its text blocks joined,
// and a tool call per tool_use block. Thinking blocks (and their
// signatures), redacted thinking and server tool blocks are dropped.
func appendAssistant(out []llmproxy.Message, raw json.RawMessage, param string) ([]llmproxy.Message, *llmproxy.Error) {
	blocks, text, err := contentOf(raw, param)
	if err != nil {
		return out, err
	}
	msg := llmproxy.Message{Role: "assistant"}
	var sb strings.Builder
	sb.WriteString(text)
	for j, b := range blocks {
		bp := fmt.Sprintf("%s[%d]", param, j)
		switch b.Type {
		case "text":
			sb.WriteString(b.Text)
		case "tool_use":
			if b.ID == "" || b.Name == "" {
				return out, invalid(bp, bp+": a tool_use block needs an id and a name")
			}
			msg.ToolCalls = append(msg.ToolCalls, llmproxy.ToolCall{ID: b.ID, Type: "function",
				Function: llmproxy.FunctionCall{Name: b.Name, Arguments: anthropicwire.ToolArguments(b.Input)}})
		case "thinking", "redacted_thinking", "server_tool_use":
		default:
			if !strings.HasSuffix(b.Type, "_tool_result") {
				return out, invalid(bp+".type", fmt.Sprintf("%s.type: content blocks of type %q cannot be translated for this provider", bp, b.Type))
			}
		}
	}
	if sb.Len() == 0 && len(msg.ToolCalls) == 0 {
		return out, nil
	}
	if sb.Len() > 0 {
		msg.Content = llmproxy.Text(sb.String())
	}
	return append(out, msg), nil
}

// chatTools translates the client tools to function tools (their
// cache_control, defer_loading and input_examples dropped). Anthropic's
// own tools (web search, code execution, tool search, computer use, …) run
// at Anthropic or have schemas only Anthropic knows: they are dropped.
func chatTools(tools []tool) []llmproxy.Tool {
	var out []llmproxy.Tool
	for _, t := range tools {
		if (t.Type != "" && t.Type != "custom") || t.Name == "" {
			continue
		}
		schema := t.InputSchema
		if len(bytes.TrimSpace(schema)) == 0 || string(bytes.TrimSpace(schema)) == "null" {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out = append(out, llmproxy.Tool{Type: "function", Function: &llmproxy.FunctionDefinition{
			Name: t.Name, Description: t.Description, Parameters: schema, Strict: t.Strict}})
	}
	return out
}

// chatToolChoice translates tool_choice: auto is "auto", any "required",
// none "none" and tool a named function.
func chatToolChoice(tc *toolChoice) (json.RawMessage, *llmproxy.Error) {
	switch tc.Type {
	case "auto", "":
		return json.RawMessage(`"auto"`), nil
	case "any":
		return json.RawMessage(`"required"`), nil
	case "none":
		return json.RawMessage(`"none"`), nil
	case "tool":
		if tc.Name == "" {
			return nil, invalid("tool_choice.name", "tool_choice.name: Field required")
		}
		b, _ := json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": tc.Name}})
		return b, nil
	}
	return nil, invalid("tool_choice.type", fmt.Sprintf("tool_choice.type: %q is not one of auto, any, tool, none", tc.Type))
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
