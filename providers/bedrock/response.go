package bedrock

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/llmproxy/llmproxy"
)

// finishReason maps a Converse stop reason to OpenAI's finish reason.
// Unknown reasons (and a missing one) are "stop".
func finishReason(stop types.StopReason) string {
	switch stop {
	case types.StopReasonToolUse:
		return "tool_calls"
	case types.StopReasonMaxTokens, types.StopReasonModelContextWindowExceeded:
		return "length"
	case types.StopReasonGuardrailIntervened, types.StopReasonContentFiltered:
		return "content_filter"
	}
	return "stop"
}

// openAIUsage returns Converse's token usage in OpenAI's terms: cache
// reads and writes count as prompt tokens, and cache reads are reported as
// cached tokens. nil stays nil.
func openAIUsage(u *types.TokenUsage) *llmproxy.Usage {
	if u == nil {
		return nil
	}
	n := func(p *int32) int {
		if p == nil || *p < 0 {
			return 0
		}
		return int(*p)
	}
	cacheRead := n(u.CacheReadInputTokens)
	prompt := n(u.InputTokens) + cacheRead + n(u.CacheWriteInputTokens)
	out := &llmproxy.Usage{
		PromptTokens:     prompt,
		CompletionTokens: n(u.OutputTokens),
		TotalTokens:      prompt + n(u.OutputTokens),
	}
	if cacheRead > 0 {
		out.PromptTokensDetails = &llmproxy.TokenDetails{CachedTokens: cacheRead}
	}
	return out
}

// chatResponse translates a Converse answer to an OpenAI chat completion
// created at the given unix time. reqModel is the model asked for (Converse
// does not name it) and requestID the AWS request id, which makes the id.
func chatResponse(out types.ConverseOutput, stop types.StopReason, usage *types.TokenUsage, reqModel, requestID string, created int64) *llmproxy.ChatResponse {
	var text, reasoning strings.Builder
	var calls llmproxy.ToolCalls
	hasText := false
	if m, ok := out.(*types.ConverseOutputMemberMessage); ok {
		for _, b := range m.Value.Content {
			switch v := b.(type) {
			case *types.ContentBlockMemberText:
				text.WriteString(v.Value)
				hasText = true
			case *types.ContentBlockMemberReasoningContent:
				if r, ok := v.Value.(*types.ReasoningContentBlockMemberReasoningText); ok && r.Value.Text != nil {
					reasoning.WriteString(*r.Value.Text)
				}
			case *types.ContentBlockMemberToolUse:
				calls = append(calls, llmproxy.ToolCall{ID: deref(v.Value.ToolUseId), Type: "function",
					Function: llmproxy.FunctionCall{Name: deref(v.Value.Name), Arguments: documentJSON(v.Value.Input)}})
			}
		}
	}
	msg := llmproxy.Message{Role: "assistant", ToolCalls: calls}
	if hasText || len(calls) == 0 {
		msg.Content = llmproxy.Text(text.String())
	}
	if reasoning.Len() > 0 {
		msg.Extra = llmproxy.Extra{"reasoning_content": jsonString(reasoning.String())}
	}
	resp := &llmproxy.ChatResponse{
		ID:      completionID(requestID),
		Object:  "chat.completion",
		Created: created,
		Model:   reqModel,
		Choices: []llmproxy.Choice{{Index: 0, Message: msg, FinishReason: finishReason(stop)}},
		Usage:   openAIUsage(usage),
	}
	if resp.Usage == nil {
		resp.Usage = &llmproxy.Usage{}
	}
	return resp
}

// requestID returns the AWS request id of an operation's result metadata.
func requestID(md middleware.Metadata) string {
	id, _ := awsmiddleware.GetRequestIDMetadata(md)
	return id
}

// completionID returns "chatcmpl-" and the AWS request id, or a random id
// when there is none.
func completionID(requestID string) string {
	if requestID != "" {
		return "chatcmpl-" + requestID
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "chatcmpl-" + hex.EncodeToString(b[:])
}

// jsonString encodes s as a JSON string.
func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// deref returns *s, or "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
