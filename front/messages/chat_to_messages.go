package messages

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/anthropicwire"
)

// answer is a Messages answer, as the translation from chat writes it.
type answer struct {
	ID           string        `json:"id"`
	Type         string        `json:"type"`
	Role         string        `json:"role"`
	Model        string        `json:"model"`
	Content      []answerBlock `json:"content"`
	StopReason   *string       `json:"stop_reason"`
	StopSequence *string       `json:"stop_sequence"`
	Usage        *answerUsage  `json:"usage"`
}

// answerBlock is a content block of an answer: text, thinking or
// tool_use.
type answerBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text,omitempty"`
	Thinking  *string         `json:"thinking,omitempty"`
	Signature *string         `json:"signature,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
}

// answerUsage is Anthropic's usage: input_tokens excludes the cached
// input, which cache_read_input_tokens counts.
type answerUsage struct {
	InputTokens          int  `json:"input_tokens"`
	OutputTokens         int  `json:"output_tokens"`
	CacheReadInputTokens *int `json:"cache_read_input_tokens,omitempty"`
}

// FromChat translates a chat answer to a Messages answer: the reasoning
// (reasoning_content or reasoning) as a thinking block without a
// signature, the text (or refusal) as a text block, each tool call as a
// tool_use block whose input is its arguments (the empty object when they
// are not a JSON object), the finish reason as the stop reason (see
// anthropicwire.StopReason) and the usage in Anthropic's terms. model
// names the model when the answer does not.
func FromChat(resp *llmproxy.ChatResponse, model string) ([]byte, error) {
	a := answer{ID: messageID(resp.ID), Type: "message", Role: "assistant", Model: orDefault(resp.Model, model),
		Content: []answerBlock{}, Usage: usageOf(resp.Usage)}
	stop := "end_turn"
	if len(resp.Choices) > 0 {
		ch := &resp.Choices[0]
		m := &ch.Message
		if r := reasoningOf(m.Extra); r != "" {
			empty := ""
			a.Content = append(a.Content, answerBlock{Type: "thinking", Thinking: &r, Signature: &empty})
		}
		text := m.Content.String()
		if text == "" && m.Refusal != nil {
			text = *m.Refusal
		}
		if text != "" {
			a.Content = append(a.Content, answerBlock{Type: "text", Text: &text})
		}
		for _, tc := range m.ToolCalls {
			a.Content = append(a.Content, answerBlock{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: inputOf(tc.Function.Arguments)})
		}
		stop = anthropicwire.StopReason(ch.FinishReason)
		if m.Refusal != nil && *m.Refusal != "" {
			stop = "refusal"
		}
	}
	a.StopReason = &stop
	b, err := json.Marshal(&a)
	if err != nil {
		return nil, &llmproxy.Error{Kind: llmproxy.KindInternal, Message: "could not encode the answer", Err: err}
	}
	return b, nil
}

// messageID returns an answer's id: the upstream's, or a new one.
func messageID(id string) string {
	if id != "" {
		return id
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "msg_" + hex.EncodeToString(b[:])
}

// reasoningOf returns the reasoning a message or delta carries in the
// non-standard members reasoning_content (DeepSeek, vLLM, the Anthropic
// provider) or reasoning (OpenRouter, Ollama).
func reasoningOf(extra llmproxy.Extra) string {
	for _, k := range [...]string{"reasoning_content", "reasoning"} {
		var s string
		if raw := extra[k]; len(raw) > 0 && json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
	}
	return ""
}

// inputOf returns a tool call's arguments as a tool_use input: a JSON
// object, the empty object when they are not one.
func inputOf(args string) json.RawMessage {
	t := bytes.TrimSpace([]byte(args))
	if len(t) == 0 || t[0] != '{' || !json.Valid(t) {
		return json.RawMessage(`{}`)
	}
	var b bytes.Buffer
	_ = json.Compact(&b, t)
	return b.Bytes()
}

// usageOf returns a chat usage in Anthropic's terms: cached prompt tokens
// are cache reads, the rest input tokens. Without usage the counts are 0.
func usageOf(u *llmproxy.Usage) *answerUsage {
	out := &answerUsage{}
	if u == nil {
		return out
	}
	cached := 0
	if u.PromptTokensDetails != nil {
		cached = u.PromptTokensDetails.CachedTokens
	}
	out.InputTokens, out.OutputTokens = max(u.PromptTokens-cached, 0), u.CompletionTokens
	if cached > 0 {
		out.CacheReadInputTokens = &cached
	}
	return out
}
