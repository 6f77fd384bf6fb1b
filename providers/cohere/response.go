package cohere

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"

	"github.com/llmproxy/llmproxy"
)

// This file translates Cohere's chat answers into OpenAI's. Like
// request.go, its functions are pure; their errors carry no provider name.

// chatResponse is Cohere's ChatResponseV2, the answer of POST /v2/chat.
type chatResponse struct {
	ID           string          `json:"id"`
	FinishReason string          `json:"finish_reason"`
	Message      assistantAnswer `json:"message"`
	Usage        *usage          `json:"usage"`
}

// assistantAnswer is Cohere's AssistantMessageResponse. Content is a list
// of text and thinking blocks (a plain string is tolerated).
type assistantAnswer struct {
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	ToolPlan  string          `json:"tool_plan"`
	ToolCalls []toolCall      `json:"tool_calls"`
	Citations json.RawMessage `json:"citations"`
}

// contentBlock is a {"type":"text","text"} or {"type":"thinking","thinking"}
// block of an answer.
type contentBlock struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Thinking string `json:"thinking"`
}

// usage is Cohere's Usage. Counts are JSON numbers that may be written as
// floats (18.0).
type usage struct {
	BilledUnits  json.RawMessage `json:"billed_units"`
	Tokens       *tokenCounts    `json:"tokens"`
	CachedTokens *float64        `json:"cached_tokens"`
}

type tokenCounts struct {
	InputTokens  *float64 `json:"input_tokens"`
	OutputTokens *float64 `json:"output_tokens"`
}

// errNoMessage is the cause of an answer with neither a message nor a
// finish reason.
var errNoMessage = errors.New("the answer has no message")

// toChatResponse translates a Cohere answer for the request's model.
// created is the answer's Unix time (Cohere sends none). A generation that
// ended in ERROR or TIMEOUT is an error (see generationError), not an
// answer.
func toChatResponse(r *chatResponse, model string, created int64) (*llmproxy.ChatResponse, error) {
	if r.FinishReason == "" && r.Message.Role == "" && len(r.Message.Content) == 0 && len(r.Message.ToolCalls) == 0 {
		return nil, errNoMessage
	}
	if isFailure(r.FinishReason) {
		return nil, generationError(r.FinishReason, "")
	}
	text, reasoning, err := answerText(r.Message.Content)
	if err != nil {
		return nil, err
	}
	reasoning += r.Message.ToolPlan
	msg := llmproxy.Message{Role: "assistant", ToolCalls: toToolCalls(r.Message.ToolCalls)}
	if text != "" || len(msg.ToolCalls) == 0 {
		msg.Content = llmproxy.Text(text)
	}
	if reasoning != "" {
		setExtra(&msg.Extra, "reasoning_content", reasoning)
	}
	if c := bytes.TrimSpace(r.Message.Citations); len(c) > 2 && c[0] == '[' {
		msg.Extra = extraWith(msg.Extra, "citations", c)
	}
	choice := llmproxy.Choice{Index: 0, Message: msg, FinishReason: finishReason(r.FinishReason)}
	setExtra(&choice.Extra, "native_finish_reason", r.FinishReason)
	return &llmproxy.ChatResponse{
		ID:      r.ID,
		Object:  "chat.completion",
		Created: created,
		Model:   model,
		Choices: []llmproxy.Choice{choice},
		Usage:   toUsage(r.Usage),
	}, nil
}

// answerText returns the text blocks of an answer's content joined, and its
// thinking blocks joined.
func answerText(raw json.RawMessage) (text, thinking string, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", "", nil
	}
	if raw[0] == '"' {
		err = json.Unmarshal(raw, &text)
		return text, "", err
	}
	var blocks []contentBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", "", err
	}
	var t, th strings.Builder
	for _, b := range blocks {
		switch b.Type {
		case "text":
			t.WriteString(b.Text)
		case "thinking":
			th.WriteString(b.Thinking)
		}
	}
	return t.String(), th.String(), nil
}

// toToolCalls translates an answer's tool calls. Cohere sends the
// arguments of a call without parameters as "null" (or nothing); they
// become "{}".
func toToolCalls(calls []toolCall) llmproxy.ToolCalls {
	if len(calls) == 0 {
		return nil
	}
	out := make(llmproxy.ToolCalls, len(calls))
	for i, c := range calls {
		out[i] = llmproxy.ToolCall{ID: c.ID, Type: "function",
			Function: llmproxy.FunctionCall{Name: c.Function.Name, Arguments: normalizeArgs(c.Function.Arguments)}}
	}
	return out
}

// normalizeArgs returns a call's arguments, with none and "null" as "{}".
func normalizeArgs(a string) string {
	if t := strings.TrimSpace(a); t == "" || t == "null" {
		return "{}"
	}
	return a
}

// finishReason maps Cohere's finish reason to OpenAI's. ERROR and TIMEOUT
// map to stop; callers surface them as errors (see isFailure). An unknown
// or missing reason is stop.
func finishReason(native string) string {
	switch strings.ToUpper(native) {
	case "MAX_TOKENS":
		return "length"
	case "TOOL_CALL":
		return "tool_calls"
	}
	return "stop"
}

// isFailure reports whether a finish reason says the generation failed.
func isFailure(native string) bool {
	switch strings.ToUpper(native) {
	case "ERROR", "TIMEOUT":
		return true
	}
	return false
}

// generationError is the error of a generation that ended in ERROR
// (KindUnavailable) or TIMEOUT (KindTimeout), with Cohere's error text if
// it sent one.
func generationError(native, detail string) *llmproxy.Error {
	e := &llmproxy.Error{Kind: llmproxy.KindUnavailable, Message: "the upstream generation failed (finish_reason ERROR)"}
	if strings.EqualFold(native, "TIMEOUT") {
		e.Kind, e.Message = llmproxy.KindTimeout, "the upstream generation timed out (finish_reason TIMEOUT)"
	}
	if detail = strings.TrimSpace(detail); detail != "" {
		e.Message += ": " + truncate(detail, maxMessageBytes)
	}
	return e
}

// toUsage translates Cohere's usage: tokens (else billed_units) as prompt
// and completion tokens, cached_tokens as prompt_tokens_details, and
// billed_units kept as the usage member billed_units. It returns nil for
// nil.
func toUsage(u *usage) *llmproxy.Usage {
	if u == nil {
		return nil
	}
	var billed tokenCounts
	bu := bytes.TrimSpace(u.BilledUnits)
	hasBilled := len(bu) > 0 && bu[0] == '{' && json.Unmarshal(bu, &billed) == nil
	in, out := billed.InputTokens, billed.OutputTokens
	if u.Tokens != nil {
		if u.Tokens.InputTokens != nil {
			in = u.Tokens.InputTokens
		}
		if u.Tokens.OutputTokens != nil {
			out = u.Tokens.OutputTokens
		}
	}
	r := &llmproxy.Usage{PromptTokens: count(in), CompletionTokens: count(out)}
	r.TotalTokens = r.PromptTokens + r.CompletionTokens
	if c := count(u.CachedTokens); c > 0 {
		r.PromptTokensDetails = &llmproxy.TokenDetails{CachedTokens: c}
	}
	if hasBilled {
		var b bytes.Buffer
		if json.Compact(&b, bu) == nil {
			r.Extra = llmproxy.Extra{"billed_units": b.Bytes()}
		}
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
	*x = extraWith(*x, key, b)
}

// extraWith returns x with the member key set to raw, allocating x if nil.
func extraWith(x llmproxy.Extra, key string, raw []byte) llmproxy.Extra {
	if x == nil {
		x = llmproxy.Extra{}
	}
	x[key] = raw
	return x
}
