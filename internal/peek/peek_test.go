package peek_test

import (
	"strings"
	"testing"

	"github.com/llmproxy/llmproxy/internal/peek"
)

// Each function is tested on three tables: shapes it vouches for (with the
// values it must read, which the full decoder must agree with), shapes the
// full decoder refuses (so must the peek), and shapes the full decoder
// accepts but the peek declines on purpose (it is only slower there).

// testOK checks that peekFn vouches for body and reads want, and that
// full, the decoder it stands in for, agrees.
func testOK[T comparable](t *testing.T, body string, want T, peekFn func([]byte) (T, bool), full func([]byte) (T, error)) {
	t.Helper()
	got, ok := peekFn([]byte(body))
	if !ok {
		t.Fatalf("peek: not ok for %s", body)
	}
	if got != want {
		t.Fatalf("peek: %+v, want %+v", got, want)
	}
	if f, err := full([]byte(body)); err != nil || f != got {
		t.Fatalf("full decoder: %+v, %v; the peek read %+v", f, err, got)
	}
}

// testNotOK checks that peekFn does not vouch for the cases, and that
// full accepts them (fullAccepts: the peek only declines) or refuses them.
func testNotOK[T any](t *testing.T, cases []badCase, peekFn func([]byte) (T, bool), full func([]byte) (T, error), fullAccepts bool) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, ok := peekFn([]byte(tc.body)); ok {
				t.Fatalf("peek: ok (%+v) for %s", got, tc.body)
			}
			_, err := full([]byte(tc.body))
			if fullAccepts && err != nil {
				t.Fatalf("the full decoder refuses %s: %v", tc.body, err)
			}
			if !fullAccepts && err == nil {
				t.Fatalf("the full decoder accepts %s", tc.body)
			}
		})
	}
}

// requestCase is a request the peek vouches for, with what it reads.
type requestCase struct {
	name, body string
	want       peek.Request
}

// answerCase is an answer the peek vouches for, with the usage it reads.
type answerCase struct {
	name, body string
	want       peek.Usage
}

// chunkCase is a chunk the peek vouches for, with what it reads.
type chunkCase struct {
	name, body string
	want       peek.Chunk
}

// badCase is a body the peek does not vouch for.
type badCase struct{ name, body string }

// withMessage returns a request whose only message is msg.
func withMessage(msg string) string {
	return `{"model":"m","messages":[` + msg + `]}`
}

// withContent returns a request whose only message has content c.
func withContent(c string) string {
	return withMessage(`{"role":"user","content":` + c + `}`)
}

// withMember returns a valid request with the member m added.
func withMember(m string) string {
	return `{"model":"m","messages":[{"role":"user","content":"hi"}],` + m + `}`
}

// withTool returns a request whose only tool is tool.
func withTool(tool string) string {
	return withMember(`"tools":[` + tool + `]`)
}

// withToolCall returns a request with an assistant message whose only
// tool call is call.
func withToolCall(call string) string {
	return withMessage(`{"role":"assistant","content":null,"tool_calls":[` + call + `]}`)
}

// requestCases are the common shapes of requests.
var requestCases = []requestCase{
	{"bench", benchRequest, peek.Request{Model: "bench-model"}},
	{"bench stream", benchStreamRequest, peek.Request{Model: "bench-model", Stream: true, StreamOptions: true, IncludeUsage: true}},
	{"simple", simpleRequest, peek.Request{Model: "gpt-4o-mini"}},
	{"params", paramsRequest, peek.Request{Model: "gpt-4o"}},
	{"tools", toolsRequest, peek.Request{Model: "gpt-4.1"}},
	{"image parts", imageRequest, peek.Request{Model: "gpt-4o"}},
	{"extras", extrasRequest, peek.Request{Model: "sonar-pro", Stream: true, StreamOptions: true, IncludeUsage: true}},
	{"assistant extras", assistantRequest, peek.Request{Model: "deepseek-reasoner"}},
	{"case variants are unknown members", caseVariantRequest, peek.Request{Model: "gpt-4o"}},
	{"unicode escapes", escapesRequest, peek.Request{Model: "mé"}},
	{"escaped slash in model", `{"model":"openai\/gpt-4o","messages":[{"role":"user","content":"hi"}]}`, peek.Request{Model: "openai/gpt-4o"}},
	{"invalid UTF-8 in model", "{\"model\":\"caf\xe9\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", peek.Request{Model: "caf\uFFFD"}},
	{"invalid UTF-8 in content", withContent("\"caf\xe9\""), peek.Request{Model: "m"}},
	{"pretty", prettyRequest, peek.Request{Model: "gpt-4o"}},
	{"MODEL beside model", `{"MODEL":"x","model":"m","messages":[{"role":"user"}]}`, peek.Request{Model: "m"}},
	{"nulls", withMember(`"stream":null,"stream_options":null,"stop":null,"tools":null,"max_tokens":null,"n":null,"temperature":null,"top_p":null,"user":null,"parallel_tool_calls":null,"tool_choice":null`), peek.Request{Model: "m"}},
	{"stream options without usage", withMember(`"stream":true,"stream_options":{}`), peek.Request{Model: "m", Stream: true, StreamOptions: true}},
	{"include_usage null", withMember(`"stream_options":{"include_usage":null}`), peek.Request{Model: "m", StreamOptions: true}},
	{"include_usage false", withMember(`"stream_options":{"include_usage":false}`), peek.Request{Model: "m", StreamOptions: true}},
	{"ranges at their bounds", withMember(`"max_tokens":1,"max_completion_tokens":1,"n":128,"temperature":2,"top_p":1`), peek.Request{Model: "m"}},
	{"ranges low", withMember(`"n":1,"temperature":0.0,"top_p":-0`), peek.Request{Model: "m"}},
	{"float forms", withMember(`"temperature":1.5e0,"top_p":5E-1`), peek.Request{Model: "m"}},
	{"stop strings and null", withMember(`"stop":["a",null,"\u0000"]`), peek.Request{Model: "m"}},
	{"content null", withContent(`null`), peek.Request{Model: "m"}},
	{"content empty array", withContent(`[]`), peek.Request{Model: "m"}},
	{"image_url null", withContent(`[{"type":"image_url","image_url":null}]`), peek.Request{Model: "m"}},
	{"image_url case variants", withContent(`[{"type":"image_url","image_url":{"URL":"http://x","Detail":null}}]`), peek.Request{Model: "m"}},
	{"tool calls null", withMessage(`{"role":"assistant","tool_calls":null}`), peek.Request{Model: "m"}},
	{"tool calls object", withMessage(`{"role":"assistant","tool_calls":{"x":1}}`), peek.Request{Model: "m"}},
	{"tool call fields", withToolCall(`{"index":3,"id":null,"type":"function","function":{"name":"f","arguments":"{}","x":[]},"extra":1}`), peek.Request{Model: "m"}},
	{"tool call function null", withToolCall(`{"id":"c","function":null}`), peek.Request{Model: "m"}},
	{"tool without function", withTool(`{"type":"code_interpreter","container":{"type":"auto"}}`), peek.Request{Model: "m"}},
	{"tool function fields", withTool(`{"type":"function","function":{"name":"f","description":null,"parameters":null,"strict":null}}`), peek.Request{Model: "m"}},
	{"tool function case variants", withTool(`{"function":{"NAME":"f","Strict":false}}`), peek.Request{Model: "m"}},
	{"tool_choice object", withMember(`"tool_choice":{"type":"function","function":{"name":"f"}}`), peek.Request{Model: "m"}},
	{"name and refusal", withMessage(`{"role":"assistant","name":"a","refusal":"no","tool_call_id":null}`), peek.Request{Model: "m"}},
	{"duplicate unknown members", withMember(`"seed":1,"seed":"x"`), peek.Request{Model: "m"}},
	{"control escapes", withContent(`"\b\f\n\r\t\"\\\/\uABCD\ud800"`), peek.Request{Model: "m"}},
	{"big numbers elsewhere", withMember(`"seed":123456789012345678901234567890,"x":1e999`), peek.Request{Model: "m"}},
}

func TestChatRequest(t *testing.T) {
	for _, tc := range requestCases {
		t.Run(tc.name, func(t *testing.T) { testOK(t, tc.body, tc.want, peek.ChatRequest, fullRequest) })
	}
}

// refusedRequests are requests ParseChatRequest refuses.
var refusedRequests = []badCase{
	// Not JSON, or not one object.
	{"empty", ``},
	{"white space", " \n"},
	{"null", `null`},
	{"array", `[]`},
	{"string", `"x"`},
	{"cut", `{"model":"m","messages":[{"role":"user","content":"hi"}]`},
	{"cut in string", `{"model":"m","messages":[{"role":"user","content":"hi`},
	{"broken array", `{"model": "gpt-4o-mini", "messages": [}`},
	{"trailing garbage", simpleRequest + ` x`},
	{"two objects", simpleRequest + simpleRequest},
	{"trailing comma in object", withMember(`"seed":1,`)},
	{"trailing comma in array", withMember(`"stop":["a",]`)},
	{"missing comma", `{"model":"m" "messages":[{"role":"user"}]}`},
	{"missing colon", `{"model" "m","messages":[{"role":"user"}]}`},
	{"single quotes", `{'model':'m','messages':[{'role':'user'}]}`},
	{"bare word", withMember(`"seed":undefined`)},
	{"NaN", withMember(`"seed":NaN`)},
	{"truncated literal", withMember(`"seed":tru`)},
	{"literal with suffix", withMember(`"seed":nullx`)},
	{"leading zero", withMember(`"max_tokens":064`)},
	{"leading zero in unknown member", withMember(`"seed":00`)},
	{"plus sign", withMember(`"seed":+1`)},
	{"bare fraction", withMember(`"seed":.5`)},
	{"empty fraction", withMember(`"seed":1.`)},
	{"empty exponent", withMember(`"seed":1e`)},
	{"hex number", withMember(`"seed":0x10`)},
	{"invalid escape", withContent(`"\x41"`)},
	{"short unicode escape", withContent(`"\u12"`)},
	{"bad unicode escape", withContent(`"\u12g4"`)},
	{"escape at end", withContent(`"\`)},
	{"raw newline in string", withContent("\"a\nb\"")},
	{"raw tab in string", withContent("\"a\tb\"")},
	{"NUL in string", withContent("\"a\x00b\"")},
	{"control character in key", "{\"a\x01\":1," + simpleRequest[1:]},
	{"control character in unknown member", withMember("\"x\":\"\x1f\"")},
	{"byte order mark", "\xef\xbb\xbf" + simpleRequest},
	{"comment", "/* c */" + simpleRequest},
	{"too deep", withMember(`"x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001))},
	// Top-level members of the wrong type or out of range.
	{"no model", `{"messages":[{"role":"user"}]}`},
	{"MODEL only", `{"MODEL":"m","messages":[{"role":"user"}]}`},
	{"model null", `{"model":null,"messages":[{"role":"user"}]}`},
	{"model empty", `{"model":"","messages":[{"role":"user"}]}`},
	{"model number", `{"model":5,"messages":[{"role":"user"}]}`},
	{"model array", `{"model":["m"],"messages":[{"role":"user"}]}`},
	{"no messages", `{"model":"m"}`},
	{"Messages only", `{"model":"m","Messages":[{"role":"user"}]}`},
	{"messages null", `{"model":"m","messages":null}`},
	{"messages empty", `{"model":"m","messages":[]}`},
	{"messages string", `{"model":"m","messages":"hello"}`},
	{"messages object", `{"model":"m","messages":{"role":"user"}}`},
	{"max_tokens fraction", withMember(`"max_tokens":1.5`)},
	{"max_tokens exponent", withMember(`"max_tokens":1e3`)},
	{"max_tokens string", withMember(`"max_tokens":"64"`)},
	{"max_tokens zero", withMember(`"max_tokens":0`)},
	{"max_tokens negative", withMember(`"max_tokens":-1`)},
	{"max_tokens overflow", withMember(`"max_tokens":99999999999999999999`)},
	{"max_completion_tokens zero", withMember(`"max_completion_tokens":0`)},
	{"max_completion_tokens bool", withMember(`"max_completion_tokens":true`)},
	{"n zero", withMember(`"n":0`)},
	{"n too big", withMember(`"n":129`)},
	{"n fraction", withMember(`"n":1.0`)},
	{"temperature too high", withMember(`"temperature":2.5`)},
	{"temperature negative", withMember(`"temperature":-0.1`)},
	{"temperature string", withMember(`"temperature":"0.5"`)},
	{"temperature overflow", withMember(`"temperature":1e400`)},
	{"top_p too high", withMember(`"top_p":1.1`)},
	{"top_p object", withMember(`"top_p":{}`)},
	{"stop number", withMember(`"stop":5`)},
	{"stop object", withMember(`"stop":{}`)},
	{"stop bool", withMember(`"stop":true`)},
	{"stop array of numbers", withMember(`"stop":[1]`)},
	{"stop array of arrays", withMember(`"stop":[["a"]]`)},
	{"stream string", withMember(`"stream":"true"`)},
	{"stream number", withMember(`"stream":1`)},
	{"stream_options bool", withMember(`"stream_options":true`)},
	{"stream_options string", withMember(`"stream_options":"x"`)},
	{"stream_options array", withMember(`"stream_options":[]`)},
	{"include_usage string", withMember(`"stream_options":{"include_usage":"yes"}`)},
	{"tools object", withMember(`"tools":{}`)},
	{"tools string", withMember(`"tools":"x"`)},
	{"tool string", withTool(`"x"`)},
	{"tool type number", withTool(`{"type":1}`)},
	{"tool function string", withTool(`{"type":"function","function":"f"}`)},
	{"tool function name number", withTool(`{"function":{"name":1}}`)},
	{"tool function NAME number", withTool(`{"function":{"NAME":1}}`)},
	{"tool function strict string", withTool(`{"function":{"strict":"yes"}}`)},
	{"tool function description array", withTool(`{"function":{"description":[]}}`)},
	{"parallel_tool_calls string", withMember(`"parallel_tool_calls":"no"`)},
	{"user number", withMember(`"user":5`)},
	// Messages of the wrong shape.
	{"message null", withMessage(`null`)},
	{"message string", withMessage(`"hi"`)},
	{"message array", withMessage(`[]`)},
	{"message without role", withMessage(`{"content":"hi"}`)},
	{"message ROLE only", withMessage(`{"ROLE":"user"}`)},
	{"role empty", withMessage(`{"role":""}`)},
	{"role null", withMessage(`{"role":null}`)},
	{"role number", withMessage(`{"role":1}`)},
	{"second message without role", `{"model":"m","messages":[{"role":"user"},{}]}`},
	{"content number", withContent(`5`)},
	{"content object", withContent(`{"text":"hi"}`)},
	{"content bool", withContent(`true`)},
	{"content part string", withContent(`["hi"]`)},
	{"content part number", withContent(`[1]`)},
	{"content part type number", withContent(`[{"type":1}]`)},
	{"content part text object", withContent(`[{"type":"text","text":{}}]`)},
	{"image_url string", withContent(`[{"type":"image_url","image_url":"http://x"}]`)},
	{"image_url url number", withContent(`[{"type":"image_url","image_url":{"url":1}}]`)},
	{"image_url URL number", withContent(`[{"type":"image_url","image_url":{"URL":1}}]`)},
	{"image_url detail bool", withContent(`[{"type":"image_url","image_url":{"url":"u","detail":false}}]`)},
	{"name number", withMessage(`{"role":"user","name":1}`)},
	{"tool_call_id number", withMessage(`{"role":"tool","tool_call_id":1}`)},
	{"refusal number", withMessage(`{"role":"assistant","refusal":1}`)},
	{"tool call string", withToolCall(`"x"`)},
	{"tool call number", withToolCall(`1`)},
	{"tool call index fraction", withToolCall(`{"index":1.5}`)},
	{"tool call index string", withToolCall(`{"index":"0"}`)},
	{"tool call id number", withToolCall(`{"id":5}`)},
	{"tool call ID number", withToolCall(`{"ID":5}`)},
	{"tool call type bool", withToolCall(`{"type":true}`)},
	{"tool call function string", withToolCall(`{"function":"f"}`)},
	{"tool call function array", withToolCall(`{"function":[]}`)},
	{"tool call arguments object", withToolCall(`{"function":{"arguments":{}}}`)},
	{"tool call Arguments object", withToolCall(`{"function":{"Arguments":{}}}`)},
	{"tool call name number", withToolCall(`{"function":{"name":1}}`)},
}

func TestChatRequestRefused(t *testing.T) {
	testNotOK(t, refusedRequests, peek.ChatRequest, fullRequest, false)
}

// declinedRequests are requests ParseChatRequest accepts but the peek
// leaves to it: duplicates, names it would have to unescape or fold,
// nulls where objects are expected, deep nesting.
var declinedRequests = []badCase{
	{"duplicate model", `{"model":"a","model":"b","messages":[{"role":"user"}]}`},
	{"duplicate stream", withMember(`"stream":true,"stream":false`)},
	{"duplicate stream_options", withMember(`"stream_options":{"include_usage":true},"stream_options":{}`)},
	{"duplicate include_usage", withMember(`"stream_options":{"include_usage":true,"include_usage":false}`)},
	{"duplicate messages", `{"model":"m","messages":[{"role":"user"}],"messages":[{"role":"user"}]}`},
	{"duplicate role", withMessage(`{"role":"user","role":"system"}`)},
	{"duplicate max_tokens", withMember(`"max_tokens":0,"max_tokens":5`)},
	{"duplicate url in any case", withContent(`[{"type":"image_url","image_url":{"url":"a","URL":"b"}}]`)},
	{"escaped member name", `{"mod\u0065l":"m","messages":[{"role":"user"}]}`},
	{"escaped unknown member name", withMember(`"se\u0065d":1`)},
	{"non-ASCII member name", withMember(`"modél":1`)},
	{"long s member name", withMember(`"ſtream":true`)},
	{"null content part", withContent(`[null]`)},
	{"null tool", withTool(`null`)},
	{"null tool call", withToolCall(`null`)},
	{"deep unknown member", withMember(`"x":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000))},
}

func TestChatRequestDeclined(t *testing.T) {
	testNotOK(t, declinedRequests, peek.ChatRequest, fullRequest, true)
}

// withChoice returns an answer whose only choice is choice.
func withChoice(choice string) string {
	return `{"id":"c","object":"chat.completion","choices":[` + choice + `]}`
}

// withAnswerMessage returns an answer whose only choice has message msg.
func withAnswerMessage(msg string) string {
	return withChoice(`{"index":0,"message":` + msg + `,"finish_reason":"stop"}`)
}

// withAnswerMember returns a valid answer with the member m added.
func withAnswerMember(m string) string {
	return `{"id":"c","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}],` + m + `}`
}

// answerCases are the common shapes of whole answers.
var answerCases = []answerCase{
	{"bench", benchAnswer, peek.Usage{Present: true, Prompt: 24, Completion: 20, Total: 44}},
	{"openai", openAIAnswer, peek.Usage{Present: true, Prompt: 9, Completion: 10, Total: 19}},
	{"perplexity", perplexityAnswer, peek.Usage{Present: true, Prompt: 11, Completion: 392, Total: 403}},
	{"blackbox None", blackboxAnswer, peek.Usage{Present: true, Prompt: 9, Completion: 7, Total: 16}},
	{"tool calls", toolAnswer, peek.Usage{Present: true, Prompt: 4, Completion: 3, Total: 7}},
	{"no usage", withChoice(`{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}`), peek.Usage{}},
	{"usage null", withAnswerMember(`"usage":null`), peek.Usage{}},
	{"usage empty", withAnswerMember(`"usage":{}`), peek.Usage{Present: true}},
	{"usage nulls", withAnswerMember(`"usage":{"prompt_tokens":null,"completion_tokens":2,"total_tokens":null,"prompt_tokens_details":null}`), peek.Usage{Present: true, Completion: 2}},
	{"usage details any", withAnswerMember(`"usage":{"total_tokens":-3,"prompt_tokens_details":[1],"completion_tokens_details":{"reasoning_tokens":5,"x":"y"}}`), peek.Usage{Present: true, Total: -3}},
	{"error null", withAnswerMember(`"error":null`), peek.Usage{}},
	{"Error is another member", withAnswerMember(`"Error":{"message":"x"}`), peek.Usage{}},
	{"USAGE is another member", withAnswerMember(`"USAGE":{"prompt_tokens":"x"}`), peek.Usage{}},
	{"proxy info", withAnswerMember(`"_proxy_info":{"provider":"p","attempt_number":1,"response_time":0.5,"request_id":"r"}`), peek.Usage{}},
	{"proxy info null", withAnswerMember(`"_proxy_info":null`), peek.Usage{}},
	{"message null", withAnswerMessage(`null`), peek.Usage{}},
	{"message empty", withAnswerMessage(`{}`), peek.Usage{}},
	{"message without role", withAnswerMessage(`{"content":"x"}`), peek.Usage{}},
	{"message role null", withAnswerMessage(`{"role":null,"content":null}`), peek.Usage{}},
	{"content parts", withAnswerMessage(`{"role":"assistant","content":[{"type":"text","text":"hi"}]}`), peek.Usage{}},
	{"two choices", withChoice(`{"index":0},{"index":1,"finish_reason":null}`), peek.Usage{}},
	{"pretty", "\r\n\t " + benchAnswer + "\n", peek.Usage{Present: true, Prompt: 24, Completion: 20, Total: 44}},
}

func TestChatAnswer(t *testing.T) {
	for _, tc := range answerCases {
		t.Run(tc.name, func(t *testing.T) { testOK(t, tc.body, peek.Answer{Usage: tc.want}, peek.ChatAnswer, fullAnswer) })
	}
}

// refusedAnswers are answers the provider refuses.
var refusedAnswers = []badCase{
	{"empty", ``},
	{"html", "<html>\r\n<head><title>502 Bad Gateway</title></head></html>\r\n"},
	{"null", `null`},
	{"array", `[]`},
	{"cut", benchAnswer[:len(benchAnswer)-1]},
	{"trailing garbage", benchAnswer + `}`},
	{"two objects", benchAnswer + "\n" + benchAnswer},
	{"invalid UTF-8 in content", withAnswerMessage("{\"role\":\"assistant\",\"content\":\"caf\xe9\"}")},
	{"invalid UTF-8 in unknown member", withAnswerMember("\"x\":\"\xff\"")},
	{"invalid UTF-8 in a name", withAnswerMember("\"x\xc3\":1")},
	{"invalid UTF-8 between members", withAnswerMember("\xff\"x\":1")},
	{"surrogate in a string", withAnswerMessage("{\"role\":\"assistant\",\"content\":\"\xed\xa0\x80\"}")},
	{"surrogate bytes", withAnswerMember("\"x\":\"\xed\xa0\x80\"")},
	{"control character", withAnswerMessage("{\"content\":\"a\x1fb\"}")},
	{"invalid escape", withAnswerMessage(`{"content":"\a"}`)},
	{"leading zero", withAnswerMember(`"created":0123`)},
	{"no choices", `{"id":"c","choices":[]}`},
	{"choices null", `{"id":"c","choices":null}`},
	{"choices missing", `{"id":"c","object":"chat.completion"}`},
	{"Choices only", `{"id":"c","Choices":[{"index":0}]}`},
	{"choices object", `{"id":"c","choices":{"index":0}}`},
	{"choice string", withChoice(`"x"`)},
	{"choice index string", withChoice(`{"index":"0"}`)},
	{"choice index fraction", withChoice(`{"index":0.5}`)},
	{"finish_reason number", withChoice(`{"index":0,"finish_reason":7}`)},
	{"message string", withAnswerMessage(`"hi"`)},
	{"message array", withAnswerMessage(`[]`)},
	{"role number", withAnswerMessage(`{"role":1}`)},
	{"content number", withAnswerMessage(`{"content":1}`)},
	{"content object", withAnswerMessage(`{"content":{}}`)},
	{"refusal bool", withAnswerMessage(`{"refusal":false}`)},
	{"tool call id number", withAnswerMessage(`{"tool_calls":[{"id":1}]}`)},
	{"id number", withAnswerMember(`"id2":1,"object":5`)},
	{"created fraction", withAnswerMember(`"created":1.5`)},
	{"created string", withAnswerMember(`"created":"1700000000"`)},
	{"created overflow", withAnswerMember(`"created":9223372036854775808`)},
	{"model number", withAnswerMember(`"model":1`)},
	{"system_fingerprint bool", withAnswerMember(`"system_fingerprint":true`)},
	{"usage array", withAnswerMember(`"usage":[]`)},
	{"usage string", withAnswerMember(`"usage":"None"`)},
	{"prompt_tokens fraction", withAnswerMember(`"usage":{"prompt_tokens":1.5}`)},
	{"prompt_tokens string", withAnswerMember(`"usage":{"prompt_tokens":"10"}`)},
	{"total_tokens exponent", withAnswerMember(`"usage":{"total_tokens":1e2}`)},
	{"cached_tokens string", withAnswerMember(`"usage":{"prompt_tokens_details":{"cached_tokens":"x"}}`)},
	{"proxy info string", withAnswerMember(`"_proxy_info":"x"`)},
	{"proxy info attempt string", withAnswerMember(`"_proxy_info":{"Attempt_Number":"1"}`)},
	{"embedded error", openRouterError},
	{"error string", withAnswerMember(`"error":"boom"`)},
	{"error false", withAnswerMember(`"error":false`)},
	{"second error", withAnswerMember(`"error":null,"error":{}`)},
}

func TestChatAnswerRefused(t *testing.T) {
	testNotOK(t, refusedAnswers, peek.ChatAnswer, fullAnswer, false)
}

// declinedAnswers are answers the provider accepts but the peek leaves to
// it.
var declinedAnswers = []badCase{
	{"duplicate usage", withAnswerMember(`"usage":{"total_tokens":1},"usage":{"prompt_tokens":2}`)},
	{"duplicate choices", withAnswerMember(`"choices":[{}]`)},
	{"duplicate prompt_tokens", withAnswerMember(`"usage":{"prompt_tokens":1,"prompt_tokens":2}`)},
	{"null choice", withChoice(`null`)},
	{"escaped member name", withAnswerMember(`"us\u0061ge":null`)},
}

func TestChatAnswerDeclined(t *testing.T) {
	testNotOK(t, declinedAnswers, peek.ChatAnswer, fullAnswer, true)
}

// withChunkChoice returns a chunk whose only choice is choice.
func withChunkChoice(choice string) string {
	return `{"id":"c","object":"chat.completion.chunk","choices":[` + choice + `]}`
}

// withDelta returns a chunk whose only choice has delta d.
func withDelta(d string) string {
	return withChunkChoice(`{"index":0,"delta":` + d + `,"finish_reason":null}`)
}

// withChunkMember returns a valid content chunk with the member m added.
func withChunkMember(m string) string {
	return `{"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}],` + m + `}`
}

// usage9211 is the usage of usageChunk.
var usage9211 = peek.Usage{Present: true, Prompt: 9, Completion: 2, Total: 11}

// chunkCases are the common shapes of chunks.
var chunkCases = []chunkCase{
	{"bench", benchChunk, peek.Chunk{Choices: 1, Content: true}},
	{"role", roleChunk, peek.Chunk{Choices: 1}},
	{"content", contentChunk, peek.Chunk{Choices: 1, Content: true}},
	{"stop", stopChunk, peek.Chunk{Choices: 1, Content: true, Finished: true, FinishReason: true}},
	{"usage", usageChunk, peek.Chunk{Finished: true, Usage: usage9211}},
	{"tool start", toolStartChunk, peek.Chunk{Choices: 1, Content: true}},
	{"tool arguments", toolArgsChunk, peek.Chunk{Choices: 1, Content: true}},
	{"tool stop", toolStopChunk, peek.Chunk{Choices: 1, Content: true, Finished: true, FinishReason: true}},
	{"reasoning", reasoningChunk, peek.Chunk{Choices: 1, Content: true}},
	{"blackbox None", blackboxChunk, peek.Chunk{Choices: 1, Content: true}},
	{"stop with usage", withChunkChoice(`{"index":0,"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}, "x":[`),
		peek.Chunk{Choices: 1, Content: true, Finished: true, FinishReason: true, Usage: usage9211}},
	{"empty finish reason", withChunkChoice(`{"index":0,"delta":{},"finish_reason":""}`), peek.Chunk{Choices: 1, Content: true, Finished: true}},
	{"choices null", `{"object":"chat.completion.chunk","choices":null}`, peek.Chunk{Finished: true}},
	{"no choices member", `{"object":"chat.completion.chunk"}`, peek.Chunk{Finished: true}},
	{"delta null", withDelta(`null`), peek.Chunk{Choices: 1}},
	{"delta empty", withDelta(`{}`), peek.Chunk{Choices: 1}},
	{"content empty", withDelta(`{"content":""}`), peek.Chunk{Choices: 1}},
	{"content null", withDelta(`{"content":null}`), peek.Chunk{Choices: 1}},
	{"content escaped", withDelta(`{"content":"\n"}`), peek.Chunk{Choices: 1, Content: true}},
	{"refusal", withDelta(`{"refusal":"no"}`), peek.Chunk{Choices: 1, Content: true}},
	{"refusal empty", withDelta(`{"refusal":""}`), peek.Chunk{Choices: 1}},
	{"tool calls empty", withDelta(`{"tool_calls":[]}`), peek.Chunk{Choices: 1}},
	{"tool calls None", withDelta(`{"tool_calls":"None"}`), peek.Chunk{Choices: 1}},
	{"reasoning_content", withDelta(`{"reasoning_content":"hmm"}`), peek.Chunk{Choices: 1, Content: true}},
	{"reasoning null", withDelta(`{"reasoning":null,"reasoning_content":""}`), peek.Chunk{Choices: 1}},
	{"reasoning object", withDelta(`{"reasoning":{}}`), peek.Chunk{Choices: 1, Content: true}},
	{"reasoning spaced empty", withDelta(`{"reasoning": "" }`), peek.Chunk{Choices: 1}},
	{"Reasoning is another member", withDelta(`{"Reasoning":"x","CONTENT":"y"}`), peek.Chunk{Choices: 1}},
	{"two choices, one finished", withChunkChoice(`{"index":0,"delta":{}},{"index":1,"delta":{},"finish_reason":"stop"}`), peek.Chunk{Choices: 2, Content: true, Finished: true, FinishReason: true}},
	{"usage null", withChunkMember(`"usage":null`), peek.Chunk{Choices: 1, Content: true}},
	{"error null", withChunkMember(`"error":null`), peek.Chunk{Choices: 1, Content: true}},
	{"usage only, no choices", `{"object":"chat.completion.chunk","choices":[],"usage":{}}`, peek.Chunk{Finished: true, Usage: peek.Usage{Present: true}}},
}

func TestChatChunk(t *testing.T) {
	for _, tc := range chunkCases {
		t.Run(tc.name, func(t *testing.T) { testOK(t, tc.body, tc.want, peek.ChatChunk, fullChunk) })
	}
}

// refusedChunks are chunks the provider refuses or rewrites.
var refusedChunks = []badCase{
	{"empty", ``},
	{"done marker", `[DONE]`},
	{"null", `null`},
	{"cut", benchChunk[:len(benchChunk)-2]},
	{"trailing garbage", benchChunk + `,`},
	{"invalid UTF-8", "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\xe9\"},\"finish_reason\":null}]}"},
	{"invalid UTF-8 at the end of a string", withDelta("{\"content\":\"caf\xc3\"}")},
	{"cut UTF-8 at the end of the text", withDelta(`{"content":"x"}`) + "\xe2\x82"},
	{"invalid UTF-8 between members", withChunkMember("\xff\"x\":1")},
	{"invalid UTF-8 in a number", withChunkMember("\"created\":1\xff")},
	{"control character", withDelta("{\"content\":\"\x07\"}")},
	{"invalid escape", withDelta(`{"content":"\'"}`)},
	{"leading zero", withChunkChoice(`{"index":00}`)},
	{"whole answer", wholeAnswerChunk},
	{"perplexity done", perplexityDone},
	{"no object", `{"choices":[]}`},
	{"object null", `{"object":null,"choices":[]}`},
	{"OBJECT only", `{"OBJECT":"chat.completion.chunk","choices":[]}`},
	{"other object", `{"object":"text_completion","choices":[]}`},
	{"object with space", `{"object":"chat.completion.chunk ","choices":[]}`},
	{"object number", `{"object":1,"choices":[]}`},
	{"midstream error", midstreamError},
	{"error beside a chunk", withChunkMember(`"error":{"message":"x"}`)},
	{"error zero", withChunkMember(`"error":0`)},
	{"running usage", perplexityRunningUsage},
	{"running usage empty reason", withChunkChoice(`{"index":0,"delta":{},"finish_reason":""}],"usage":{"total_tokens":1},"x":[`)},
	{"choices string", `{"object":"chat.completion.chunk","choices":"x"}`},
	{"usage array", `{"object":"chat.completion.chunk","choices":[],"usage":[]}`},
	{"choice number", withChunkChoice(`1`)},
	{"index string", withChunkChoice(`{"index":"0"}`)},
	{"finish_reason number", withChunkChoice(`{"finish_reason":7}`)},
	{"finish_reason object", withChunkChoice(`{"finish_reason":{}}`)},
	{"delta string", withDelta(`"hi"`)},
	{"delta array", withDelta(`[]`)},
	{"content number", withDelta(`{"content":5}`)},
	{"content array", withDelta(`{"content":["x"]}`)},
	{"role bool", withDelta(`{"role":true}`)},
	{"refusal number", withDelta(`{"refusal":1}`)},
	{"tool call number", withDelta(`{"tool_calls":[1]}`)},
	{"tool call index fraction", withDelta(`{"tool_calls":[{"index":0.5}]}`)},
	{"tool call arguments object", withDelta(`{"tool_calls":[{"function":{"arguments":{}}}]}`)},
	{"created string", withChunkMember(`"created":"1"`)},
	{"id number", withChunkMember(`"id":1`)},
	{"usage prompt_tokens string", `{"object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":"9"}}`},
}

func TestChatChunkRefused(t *testing.T) {
	testNotOK(t, refusedChunks, peek.ChatChunk, fullChunk, false)
}

// declinedChunks are chunks the provider passes on as they are but the
// peek leaves to it.
var declinedChunks = []badCase{
	{"escaped object", `{"object":"chat.completion\u002echunk","choices":[]}`},
	{"duplicate object", `{"object":"chat.completion.chunk","object":"chat.completion.chunk","choices":[]}`},
	{"duplicate finish_reason", withChunkChoice(`{"finish_reason":null,"finish_reason":"stop"}`)},
	{"duplicate content", withDelta(`{"content":"","content":"x"}`)},
	{"duplicate reasoning", withDelta(`{"reasoning":"","reasoning":"x"}`)},
	{"null choice", withChunkChoice(`null`)},
	{"null tool call", withDelta(`{"tool_calls":[null]}`)},
}

func TestChatChunkDeclined(t *testing.T) {
	testNotOK(t, declinedChunks, peek.ChatChunk, fullChunk, true)
}

// TestStringsAreCopies checks that a returned model does not share the
// body's memory, which the caller may reuse.
func TestStringsAreCopies(t *testing.T) {
	body := []byte(simpleRequest)
	r, ok := peek.ChatRequest(body)
	if !ok {
		t.Fatal("not ok")
	}
	for i := range body {
		body[i] = 'x'
	}
	if r.Model != "gpt-4o-mini" {
		t.Fatalf("the model changed with the body: %q", r.Model)
	}
}
