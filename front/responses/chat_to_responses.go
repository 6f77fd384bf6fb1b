package responses

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/llmproxy/llmproxy"
)

// response is a Responses API response object as the translation writes
// it. The members echoing the request take the client's values.
type response struct {
	ID                 string             `json:"id"`
	Object             string             `json:"object"`
	CreatedAt          int64              `json:"created_at"`
	Status             string             `json:"status"`
	CompletedAt        *int64             `json:"completed_at"`
	Error              *responseError     `json:"error"`
	IncompleteDetails  *incompleteDetails `json:"incomplete_details"`
	Instructions       json.RawMessage    `json:"instructions"`
	MaxOutputTokens    *int               `json:"max_output_tokens"`
	Model              string             `json:"model"`
	Output             []any              `json:"output"`
	ParallelToolCalls  bool               `json:"parallel_tool_calls"`
	PreviousResponseID *string            `json:"previous_response_id"`
	Reasoning          json.RawMessage    `json:"reasoning"`
	Store              bool               `json:"store"`
	Temperature        *float64           `json:"temperature"`
	Text               json.RawMessage    `json:"text"`
	ToolChoice         json.RawMessage    `json:"tool_choice"`
	Tools              []json.RawMessage  `json:"tools"`
	TopP               *float64           `json:"top_p"`
	Truncation         string             `json:"truncation"`
	Usage              *usage             `json:"usage,omitempty"`
	Metadata           json.RawMessage    `json:"metadata"`
}

// responseError is the "error" of a failed response.
type responseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// incompleteDetails says why a response is incomplete.
type incompleteDetails struct {
	Reason string `json:"reason"`
}

// usage is the token usage of a response.
type usage struct {
	InputTokens         int          `json:"input_tokens"`
	InputTokensDetails  inputDetails `json:"input_tokens_details"`
	OutputTokens        int          `json:"output_tokens"`
	OutputTokensDetails outDetails   `json:"output_tokens_details"`
	TotalTokens         int          `json:"total_tokens"`
}

type inputDetails struct {
	CachedTokens     int `json:"cached_tokens"`
	CacheWriteTokens int `json:"cache_write_tokens"`
}

type outDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// messageItem is an output message.
type messageOut struct {
	Type    string       `json:"type"`
	ID      string       `json:"id"`
	Status  string       `json:"status"`
	Role    string       `json:"role"`
	Content []contentOut `json:"content"`
}

// contentOut is a part of an output message: output_text or refusal.
type contentOut struct {
	Type        string          `json:"type"`
	Text        *string         `json:"text,omitempty"`
	Refusal     *string         `json:"refusal,omitempty"`
	Annotations json.RawMessage `json:"annotations,omitempty"`
	Logprobs    json.RawMessage `json:"logprobs,omitempty"`
}

// reasoningOut is an output reasoning item: the upstream's reasoning text
// (a chat reasoning_content), with no summary.
type reasoningOut struct {
	Type    string         `json:"type"`
	ID      string         `json:"id"`
	Summary []any          `json:"summary"`
	Content []reasoningTxt `json:"content"`
	Status  string         `json:"status"`
}

type reasoningTxt struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// reasoningText returns the reasoning of a chat message or delta (its
// reasoning_content or reasoning member, a string), or "".
func reasoningText(x llmproxy.Extra) string {
	for _, k := range [...]string{"reasoning_content", "reasoning"} {
		if v, ok := x[k]; ok {
			var s string
			if json.Unmarshal(v, &s) == nil && s != "" {
				return s
			}
		}
	}
	return ""
}

// functionCallOut is an output function call.
type functionCallOut struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
	Status    string `json:"status"`
}

var emptyList = json.RawMessage(`[]`)

func textPart(s string) contentOut {
	return contentOut{Type: "output_text", Text: &s, Annotations: emptyList, Logprobs: emptyList}
}

func refusalPart(s string) contentOut { return contentOut{Type: "refusal", Refusal: &s} }

// newResponse returns the response to w with id, before any output: status
// in_progress, the request's settings echoed.
func newResponse(w *wireRequest, id, model string, created time.Time) *response {
	r := &response{ID: id, Object: "response", CreatedAt: created.Unix(), Status: "in_progress",
		Instructions: nullIfEmpty(w.Instructions), MaxOutputTokens: w.MaxOutputTokens, Model: model,
		Output: []any{}, ParallelToolCalls: w.ParallelToolCalls == nil || *w.ParallelToolCalls,
		PreviousResponseID: w.PreviousResponseID, Reasoning: json.RawMessage("null"),
		Store: w.Store == nil || *w.Store, Temperature: w.Temperature, TopP: w.TopP,
		Text: json.RawMessage(`{"format":{"type":"text"}}`), ToolChoice: nullIfEmpty(w.ToolChoice),
		Tools: echoTools(w.Tools), Truncation: "disabled", Metadata: nullIfEmpty(w.Metadata)}
	if bytes.Equal(r.ToolChoice, []byte("null")) {
		r.ToolChoice = json.RawMessage(`"auto"`)
	}
	if bytes.Equal(r.Metadata, []byte("null")) {
		r.Metadata = json.RawMessage(`{}`)
	}
	if w.Text != nil && len(w.Text.Format) > 0 {
		r.Text, _ = json.Marshal(w.Text)
	}
	if w.Reasoning != nil {
		r.Reasoning, _ = json.Marshal(w.Reasoning)
	}
	return r
}

// echoTools returns the request's tools as a response echoes them: as
// given, with the members a function tool must have in a response
// (parameters, strict) set to null where the request left them out.
func echoTools(tools []json.RawMessage) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(tools))
	for _, t := range tools {
		if gjson.GetBytes(t, "type").Str == "function" {
			for _, k := range []string{"parameters", "strict"} {
				if !gjson.GetBytes(t, k).Exists() {
					if b, err := sjson.SetRawBytes(t, k, []byte("null")); err == nil {
						t = b
					}
				}
			}
		}
		out = append(out, t)
	}
	return out
}

func nullIfEmpty(b json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(b)) == 0 {
		return json.RawMessage("null")
	}
	return b
}

// finish sets the response's final status from a chat finish reason:
// length and content_filter make it incomplete, anything else completed.
func (r *response) finish(reason string, u *llmproxy.Usage, now time.Time) {
	switch reason {
	case "length":
		r.Status, r.IncompleteDetails = "incomplete", &incompleteDetails{Reason: "max_output_tokens"}
	case "content_filter":
		r.Status, r.IncompleteDetails = "incomplete", &incompleteDetails{Reason: "content_filter"}
	default:
		r.Status = "completed"
		t := now.Unix()
		r.CompletedAt = &t
	}
	r.Usage = fromChatUsage(u)
}

// fromChatUsage translates a chat usage; nil gives zero counts.
func fromChatUsage(u *llmproxy.Usage) *usage {
	out := &usage{}
	if u == nil {
		return out
	}
	out.InputTokens, out.OutputTokens, out.TotalTokens = u.PromptTokens, u.CompletionTokens, u.TotalTokens
	if out.TotalTokens == 0 {
		out.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	if d := u.PromptTokensDetails; d != nil {
		out.InputTokensDetails.CachedTokens = d.CachedTokens
	}
	if d := u.CompletionTokensDetails; d != nil {
		out.OutputTokensDetails.ReasoningTokens = d.ReasoningTokens
	}
	return out
}

// fromChat translates a whole chat answer into the response r: the first
// choice's text and refusal become a message item, its tool calls
// function_call items.
func fromChat(r *response, resp *llmproxy.ChatResponse, now time.Time) {
	reason := ""
	if len(resp.Choices) > 0 {
		ch := &resp.Choices[0]
		reason = ch.FinishReason
		if rt := reasoningText(ch.Message.Extra); rt != "" {
			r.Output = append(r.Output, &reasoningOut{Type: "reasoning", ID: newID("rs"), Summary: []any{},
				Content: []reasoningTxt{{Type: "reasoning_text", Text: rt}}, Status: "completed"})
		}
		var parts []contentOut
		if text := ch.Message.Content.String(); text != "" {
			parts = append(parts, textPart(text))
		}
		if ch.Message.Refusal != nil && *ch.Message.Refusal != "" {
			parts = append(parts, refusalPart(*ch.Message.Refusal))
		}
		if len(parts) > 0 {
			r.Output = append(r.Output, &messageOut{Type: "message", ID: newID("msg"), Status: "completed", Role: "assistant", Content: parts})
		}
		for _, tc := range ch.Message.ToolCalls {
			callID := tc.ID
			if callID == "" {
				callID = newID("call")
			}
			r.Output = append(r.Output, &functionCallOut{Type: "function_call", ID: newID("fc"), CallID: callID,
				Name: tc.Function.Name, Arguments: tc.Function.Arguments, Status: "completed"})
		}
	}
	r.finish(reason, resp.Usage, now)
}

// toUsage translates a response's usage back to the proxy's, for metrics.
func (u *usage) toUsage() *llmproxy.Usage {
	if u == nil {
		return nil
	}
	return &llmproxy.Usage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: u.TotalTokens}
}
