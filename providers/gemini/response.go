package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"

	"github.com/llmproxy/llmproxy"
)

// This file translates Gemini's answers into OpenAI's. Like request.go,
// its functions are pure; their errors carry no provider name.

// generateResponse is Gemini's GenerateContentResponse, the answer of
// :generateContent and each event of :streamGenerateContent. Error is set
// when a stream carries an error object instead.
type generateResponse struct {
	Candidates     []candidate     `json:"candidates"`
	PromptFeedback *promptFeedback `json:"promptFeedback"`
	UsageMetadata  *usageMetadata  `json:"usageMetadata"`
	ModelVersion   string          `json:"modelVersion"`
	ResponseID     string          `json:"responseId"`
	Error          *apiError       `json:"error"`
}

// candidate is one generated answer. Index is absent (0) for the first.
type candidate struct {
	Content      *content `json:"content"`
	FinishReason string   `json:"finishReason"`
	Index        int      `json:"index"`
}

type promptFeedback struct {
	BlockReason string `json:"blockReason"`
}

// usageMetadata is Gemini's token accounting. Counts are JSON numbers;
// absent ones are zero.
type usageMetadata struct {
	PromptTokenCount        *float64 `json:"promptTokenCount"`
	CandidatesTokenCount    *float64 `json:"candidatesTokenCount"`
	TotalTokenCount         *float64 `json:"totalTokenCount"`
	ThoughtsTokenCount      *float64 `json:"thoughtsTokenCount"`
	CachedContentTokenCount *float64 `json:"cachedContentTokenCount"`
	ToolUsePromptTokenCount *float64 `json:"toolUsePromptTokenCount"`
}

// errNoCandidates is the cause of an answer with neither candidates nor a
// blocked prompt.
var errNoCandidates = errors.New("the answer has no candidates")

// maxCandidates bounds the candidate index an answer may use; OpenAI's n
// is at most 128.
const maxCandidates = 128

// toChatResponse translates a whole answer to a request of model for n
// choices. created is the answer's Unix time (Gemini sends none); id is
// used when Gemini sent no responseId.
func toChatResponse(r *generateResponse, model string, n int, created int64, id string) (*llmproxy.ChatResponse, error) {
	if r.ResponseID != "" {
		id = r.ResponseID
	}
	resp := &llmproxy.ChatResponse{ID: id, Object: "chat.completion", Created: created,
		Model: orModel(r.ModelVersion, model), Choices: []llmproxy.Choice{}, Usage: toUsage(r.UsageMetadata)}
	if len(r.Candidates) == 0 {
		if r.PromptFeedback == nil || r.PromptFeedback.BlockReason == "" {
			return nil, errNoCandidates
		}
		for i := range max(n, 1) {
			c := llmproxy.Choice{Index: i, Message: llmproxy.Message{Role: "assistant", Content: llmproxy.Text("")}, FinishReason: "content_filter"}
			setExtra(&c.Extra, "native_finish_reason", r.PromptFeedback.BlockReason)
			resp.Choices = append(resp.Choices, c)
		}
		return resp, nil
	}
	for _, cand := range r.Candidates {
		if cand.Index < 0 || cand.Index >= maxCandidates {
			return nil, errors.New("a candidate index is out of range")
		}
		d, err := candidateDelta(&cand, 0)
		if err != nil {
			return nil, err
		}
		msg := llmproxy.Message{Role: "assistant", ToolCalls: d.calls}
		if d.text != "" || len(d.calls) == 0 {
			msg.Content = llmproxy.Text(d.text)
		}
		if d.thought != "" {
			setExtra(&msg.Extra, "reasoning_content", d.thought)
		}
		c := llmproxy.Choice{Index: cand.Index, Message: msg, FinishReason: finishReason(cand.FinishReason, len(d.calls) > 0)}
		if cand.FinishReason != "" {
			setExtra(&c.Extra, "native_finish_reason", cand.FinishReason)
		}
		resp.Choices = append(resp.Choices, c)
	}
	return resp, nil
}

// orModel returns the model Gemini named, else the requested one.
func orModel(version, requested string) string {
	if version != "" {
		return version
	}
	return requested
}

// delta is what a candidate's parts say: its text and thought text joined,
// and its function calls as OpenAI tool calls.
type delta struct {
	text, thought string
	calls         llmproxy.ToolCalls
}

// candidateDelta reads a candidate's parts. Its function calls are
// numbered from first (the count of the candidate's calls before these, in
// a stream) for the ids of calls Gemini sent without one.
func candidateDelta(c *candidate, first int) (delta, error) {
	var d delta
	if c.Content == nil {
		return d, nil
	}
	var text, thought strings.Builder
	for _, p := range c.Content.Parts {
		switch {
		case p.FunctionCall != nil:
			if p.FunctionCall.Name == "" {
				return d, errors.New("a function call has no name")
			}
			args, err := argumentsOf(p.FunctionCall.Args)
			if err != nil {
				return d, err
			}
			d.calls = append(d.calls, llmproxy.ToolCall{
				ID:       toolCallID(p.FunctionCall.ID, first+len(d.calls), p.ThoughtSignature),
				Type:     "function",
				Function: llmproxy.FunctionCall{Name: p.FunctionCall.Name, Arguments: args},
			})
		case p.Thought:
			thought.WriteString(p.Text)
		default:
			text.WriteString(p.Text)
		}
	}
	d.text, d.thought = text.String(), thought.String()
	return d, nil
}

// argumentsOf returns a call's args as OpenAI's arguments string: the
// object compacted, "{}" when absent or null.
func argumentsOf(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "{}", nil
	}
	if raw[0] != '{' {
		return "", errors.New("the arguments of a function call are not an object")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", err
	}
	return b.String(), nil
}

// finishReason maps Gemini's finish reason to OpenAI's (see the package
// documentation). calledTool reports that the candidate called a function.
func finishReason(native string, calledTool bool) string {
	switch native {
	case "MAX_TOKENS":
		return "length"
	case "SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII",
		"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return "content_filter"
	}
	if calledTool {
		return "tool_calls"
	}
	return "stop"
}

// toUsage translates Gemini's usage metadata (see the package
// documentation); it returns nil for nil.
func toUsage(u *usageMetadata) *llmproxy.Usage {
	if u == nil {
		return nil
	}
	thoughts := count(u.ThoughtsTokenCount)
	r := &llmproxy.Usage{
		PromptTokens:     count(u.PromptTokenCount) + count(u.ToolUsePromptTokenCount),
		CompletionTokens: count(u.CandidatesTokenCount) + thoughts,
	}
	r.TotalTokens = count(u.TotalTokenCount)
	if r.TotalTokens == 0 {
		r.TotalTokens = r.PromptTokens + r.CompletionTokens
	}
	if c := count(u.CachedContentTokenCount); c > 0 {
		r.PromptTokensDetails = &llmproxy.TokenDetails{CachedTokens: c}
	}
	if thoughts > 0 {
		r.CompletionTokensDetails = &llmproxy.TokenDetails{ReasoningTokens: thoughts}
	}
	return r
}

// maxCount bounds a token count taken from an answer, so that absurd
// numbers cannot overflow sums.
const maxCount = math.MaxInt32

// count returns a JSON count as an int: rounded, and 0 for nil or
// negative values.
func count(f *float64) int {
	if f == nil || !(*f > 0) {
		return 0
	}
	if *f >= maxCount {
		return maxCount
	}
	return int(math.Round(*f))
}

// setExtra sets the string member key of *x.
func setExtra(x *llmproxy.Extra, key, value string) {
	b, _ := json.Marshal(value)
	if *x == nil {
		*x = llmproxy.Extra{}
	}
	(*x)[key] = b
}
