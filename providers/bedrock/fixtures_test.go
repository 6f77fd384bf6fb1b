package bedrock

import "testing"

// Converse answers, as the Converse API reference shows them (output,
// stopReason, usage, metrics), with the members Bedrock added later
// (cache token counts).
const (
	answerText = `{"output":{"message":{"role":"assistant","content":[{"text":"Hello! How can I help you today?"}]}},` +
		`"stopReason":"end_turn","usage":{"inputTokens":12,"outputTokens":9,"totalTokens":21},"metrics":{"latencyMs":412}}`

	answerTool = `{"output":{"message":{"role":"assistant","content":[{"text":"Let me check the weather."},` +
		`{"toolUse":{"toolUseId":"tooluse_kZJMlvQmRJ6eAyJE5GIl7Q","name":"get_weather","input":{"city":"Paris","days":12345678901234567890,"unit":"celsius"}}}]}},` +
		`"stopReason":"tool_use","usage":{"inputTokens":380,"outputTokens":70,"totalTokens":1650,"cacheReadInputTokens":1000,"cacheWriteInputTokens":200},"metrics":{"latencyMs":1205}}`

	answerReasoning = `{"output":{"message":{"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":"The user greets me.","signature":"EqQBCkYIAxgCIkD"}}},{"text":"Hi!"}]}},` +
		`"stopReason":"max_tokens","usage":{"inputTokens":5,"outputTokens":3,"totalTokens":8},"metrics":{"latencyMs":90}}`

	answerGuardrail = `{"output":{"message":{"role":"assistant","content":[{"text":"Sorry, the model cannot answer this question."}]}},` +
		`"stopReason":"guardrail_intervened","usage":{"inputTokens":7,"outputTokens":0,"totalTokens":7},"metrics":{"latencyMs":50}}`
)

// Stream fixtures: each event's payload as ConverseStream sends it, with
// the "p" padding member Bedrock adds to hide the payload sizes.

func streamTextFrames(t testing.TB) [][]byte {
	return [][]byte{
		event(t, "messageStart", `{"p":"abcdefghijk","role":"assistant"}`),
		event(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"abcd"}`),
		event(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":" from"},"p":"abcdefgh"}`),
		event(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":" Bedrock"},"p":"ab"}`),
		event(t, "contentBlockStop", `{"contentBlockIndex":0,"p":"abcdefghijklmnop"}`),
		event(t, "messageStop", `{"p":"abcdefghijklmnopqrstu","stopReason":"end_turn"}`),
		event(t, "metadata", `{"metrics":{"latencyMs":357},"p":"abcdef","usage":{"inputTokens":25,"outputTokens":9,"totalTokens":34}}`),
	}
}

func streamToolFrames(t testing.TB) [][]byte {
	return [][]byte{
		event(t, "messageStart", `{"p":"abc","role":"assistant"}`),
		event(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"Checking."},"p":"abcdef"}`),
		event(t, "contentBlockStop", `{"contentBlockIndex":0,"p":"ab"}`),
		event(t, "contentBlockStart", `{"contentBlockIndex":1,"p":"abcd","start":{"toolUse":{"name":"get_weather","toolUseId":"tooluse_Q1w2E3r4T5y6"}}}`),
		event(t, "contentBlockDelta", `{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"city\":"}},"p":"abc"}`),
		event(t, "contentBlockDelta", `{"contentBlockIndex":1,"delta":{"toolUse":{"input":"\"Paris\"}"}},"p":"abcdefg"}`),
		event(t, "contentBlockStop", `{"contentBlockIndex":1,"p":"abcdefghij"}`),
		event(t, "contentBlockStart", `{"contentBlockIndex":2,"p":"abcd","start":{"toolUse":{"name":"get_time","toolUseId":"tooluse_Z9x8C7v6"}}}`),
		event(t, "contentBlockDelta", `{"contentBlockIndex":2,"delta":{"toolUse":{"input":"{}"}},"p":"abc"}`),
		event(t, "contentBlockStop", `{"contentBlockIndex":2,"p":"abcdefghij"}`),
		event(t, "messageStop", `{"p":"abcdefgh","stopReason":"tool_use"}`),
		event(t, "metadata", `{"metrics":{"latencyMs":800},"p":"abc","usage":{"inputTokens":400,"outputTokens":60,"totalTokens":1460,"cacheReadInputTokens":1000}}`),
	}
}

func streamReasoningFrames(t testing.TB) [][]byte {
	return [][]byte{
		event(t, "messageStart", `{"p":"abc","role":"assistant"}`),
		event(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"Thinking"}},"p":"ab"}`),
		event(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"reasoningContent":{"signature":"EqQBCkYIAxgCIkD"}},"p":"ab"}`),
		event(t, "contentBlockStop", `{"contentBlockIndex":0,"p":"ab"}`),
		event(t, "contentBlockDelta", `{"contentBlockIndex":1,"delta":{"text":"Done"},"p":"ab"}`),
		event(t, "contentBlockStop", `{"contentBlockIndex":1,"p":"ab"}`),
		event(t, "messageStop", `{"p":"abcdefgh","stopReason":"guardrail_intervened"}`),
		event(t, "metadata", `{"metrics":{"latencyMs":80},"p":"abc","usage":{"inputTokens":4,"outputTokens":2,"totalTokens":6}}`),
	}
}
