package anthropic

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/anthropicwire"
)

// message is a Messages answer, and the message of a stream's
// message_start event.
type message struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	Role       string         `json:"role"`
	Model      string         `json:"model"`
	Content    []contentBlock `json:"content"`
	StopReason *string        `json:"stop_reason"`
	Usage      usage          `json:"usage"`
}

// contentBlock is a content block of an answer; members that do not
// belong to its type are empty.
type contentBlock struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	Input    json.RawMessage `json:"input"`
	Thinking string          `json:"thinking"`
}

// usage is Anthropic's token usage. The counts are pointers because a
// stream's message_delta repeats only some of them, each cumulative.
type usage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
}

// update takes the counts that n carries.
func (u *usage) update(n usage) {
	take := func(dst **int, src *int) {
		if src != nil {
			*dst = src
		}
	}
	take(&u.InputTokens, n.InputTokens)
	take(&u.OutputTokens, n.OutputTokens)
	take(&u.CacheCreationInputTokens, n.CacheCreationInputTokens)
	take(&u.CacheReadInputTokens, n.CacheReadInputTokens)
}

// openAI returns the usage in OpenAI's terms: cached input counts as
// prompt tokens, cache reads are reported as cached tokens and cache
// writes as CacheWriteTokens (which is not encoded), for pricing.
func (u *usage) openAI() *llmproxy.Usage {
	n := func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	}
	cacheRead := n(u.CacheReadInputTokens)
	prompt := n(u.InputTokens) + cacheRead + n(u.CacheCreationInputTokens)
	out := &llmproxy.Usage{
		PromptTokens:     prompt,
		CompletionTokens: n(u.OutputTokens),
		TotalTokens:      prompt + n(u.OutputTokens),
	}
	if cacheWrite := n(u.CacheCreationInputTokens); cacheRead > 0 || cacheWrite > 0 {
		out.PromptTokensDetails = &llmproxy.TokenDetails{CachedTokens: cacheRead, CacheWriteTokens: cacheWrite}
	}
	return out
}

// finishReason maps a stop reason to OpenAI's finish reason (see
// anthropicwire.FinishReason).
func finishReason(stop string) string { return anthropicwire.FinishReason(stop) }

// chatResponse translates a Messages answer to an OpenAI chat completion
// created at the given unix time. reqModel names the model when the
// answer does not.
func chatResponse(m *message, reqModel string, created int64) *llmproxy.ChatResponse {
	var text, thinking strings.Builder
	var calls llmproxy.ToolCalls
	hasText := false
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
			hasText = true
		case "thinking":
			thinking.WriteString(b.Thinking)
		case "tool_use":
			calls = append(calls, llmproxy.ToolCall{ID: b.ID, Type: "function",
				Function: llmproxy.FunctionCall{Name: b.Name, Arguments: anthropicwire.ToolArguments(b.Input)}})
		}
	}
	msg := llmproxy.Message{Role: "assistant", ToolCalls: calls}
	if hasText || len(calls) == 0 {
		msg.Content = llmproxy.Text(text.String())
	}
	if thinking.Len() > 0 {
		msg.Extra = llmproxy.Extra{"reasoning_content": jsonString(thinking.String())}
	}
	return &llmproxy.ChatResponse{
		ID:      orID(m.ID),
		Object:  "chat.completion",
		Created: created,
		Model:   orModel(m.Model, reqModel),
		Choices: []llmproxy.Choice{{Index: 0, Message: msg, FinishReason: finishReason(deref(m.StopReason))}},
		Usage:   m.Usage.openAI(),
	}
}

// completionResponse translates a Messages answer to a legacy text
// completion.
func completionResponse(m *message, reqModel string, created int64) *llmproxy.CompletionResponse {
	var text strings.Builder
	for _, b := range m.Content {
		if b.Type == "text" {
			text.WriteString(b.Text)
		}
	}
	return &llmproxy.CompletionResponse{
		ID:      orID(m.ID),
		Object:  "text_completion",
		Created: created,
		Model:   orModel(m.Model, reqModel),
		Choices: []llmproxy.CompletionChoice{{Index: 0, Text: text.String(), FinishReason: finishReason(deref(m.StopReason))}},
		Usage:   m.Usage.openAI(),
	}
}

// jsonString encodes s as a JSON string.
func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// orID returns id, or a generated OpenAI-style id when it is empty.
func orID(id string) string {
	if id != "" {
		return id
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "chatcmpl-" + hex.EncodeToString(b[:])
}

// orModel returns model, or the requested model when it is empty.
func orModel(model, reqModel string) string {
	if model != "" {
		return model
	}
	return reqModel
}

// deref returns *s, or "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
