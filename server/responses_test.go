package server_test

// The Responses front through the server, with openai-go's Responses
// client: translated to an OpenAI-format chat upstream and to an Anthropic
// upstream, passed through to a Responses upstream, with its store, its
// stream ends and its failover.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/redistest"
	"github.com/llmproxy/llmproxy/server"
	"github.com/llmproxy/llmproxy/sse"
)

// Chat upstream wire bytes (OpenAI chat completions, as api.openai.com
// sends them).
const (
	chatHelloAnswer = `{"id":"chatcmpl-R1","object":"chat.completion","created":1741570283,"model":"gpt-4.1-2025-04-14",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello world","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14,"prompt_tokens_details":{"cached_tokens":4,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`
	chatToolAnswer = `{"id":"chatcmpl-R2","object":"chat.completion","created":1741570284,"model":"gpt-4.1-2025-04-14",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[{"id":"call_W1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}],"annotations":[]},"logprobs":null,"finish_reason":"tool_calls"}],` +
		`"usage":{"prompt_tokens":30,"completion_tokens":9,"total_tokens":39}}`
	chatHelloStream = `data: {"id":"chatcmpl-S1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4.1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-S1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4.1","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-S1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4.1","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-S1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4.1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}

data: {"id":"chatcmpl-S1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4.1","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14}}

data: [DONE]

`
	chatToolStream = `data: {"id":"chatcmpl-S2","object":"chat.completion.chunk","created":1741570284,"model":"gpt-4.1","choices":[{"index":0,"delta":{"role":"assistant","content":"Let me check."},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-S2","object":"chat.completion.chunk","created":1741570284,"model":"gpt-4.1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_S1","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-S2","object":"chat.completion.chunk","created":1741570284,"model":"gpt-4.1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-S2","object":"chat.completion.chunk","created":1741570284,"model":"gpt-4.1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-S2","object":"chat.completion.chunk","created":1741570284,"model":"gpt-4.1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}

data: {"id":"chatcmpl-S2","object":"chat.completion.chunk","created":1741570284,"model":"gpt-4.1","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":9,"total_tokens":39}}

data: [DONE]

`
	// chatReasoningStream reasons (DeepSeek's and vLLM's reasoning_content)
	// before it answers.
	chatReasoningStream = `data: {"id":"chatcmpl-S4","object":"chat.completion.chunk","created":1741570286,"model":"deepseek-reasoner","choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":"The user greets."},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-S4","object":"chat.completion.chunk","created":1741570286,"model":"deepseek-reasoner","choices":[{"index":0,"delta":{"content":null,"reasoning_content":" Greet back."},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-S4","object":"chat.completion.chunk","created":1741570286,"model":"deepseek-reasoner","choices":[{"index":0,"delta":{"content":"Hi!","reasoning_content":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":9,"total_tokens":14,"completion_tokens_details":{"reasoning_tokens":6}}}

data: [DONE]

`
	// chatCutStream sends content, then the connection ends without a
	// finish reason.
	chatCutStream = `data: {"id":"chatcmpl-S3","object":"chat.completion.chunk","created":1741570285,"model":"gpt-4.1","choices":[{"index":0,"delta":{"role":"assistant","content":"Half an ans"},"logprobs":null,"finish_reason":null}]}

`
)

// Responses upstream wire bytes (POST /v1/responses on api.openai.com).
const (
	upstreamResponse       = `{"id":"resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b","object":"response","created_at":1756315696,"status":"completed","background":false,"error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"max_tool_calls":null,"model":"gpt-5-2025-08-07","output":[{"id":"rs_68af40312de081938d1f9e9e6a6b0f5905438e46b5f69a3b","type":"reasoning","summary":[]},{"id":"msg_68af4033a7d88193a3e1a2c9d1c9ba1e05438e46b5f69a3b","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"Paris."}],"role":"assistant"}],"parallel_tool_calls":true,"previous_response_id":null,"prompt_cache_key":null,"reasoning":{"effort":"medium","summary":null},"safety_identifier":null,"service_tier":"default","store":true,"temperature":1.0,"text":{"format":{"type":"text"},"verbosity":"medium"},"tool_choice":"auto","tools":[],"top_logprobs":0,"top_p":1.0,"truncation":"disabled","usage":{"input_tokens":15,"input_tokens_details":{"cached_tokens":0},"output_tokens":72,"output_tokens_details":{"reasoning_tokens":64},"total_tokens":87},"user":null,"metadata":{}}`
	upstreamResponseStream = `event: response.created
data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_68af41a1b2c48193","object":"response","created_at":1756316065,"status":"in_progress","background":false,"error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":"gpt-5-2025-08-07","output":[],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":"medium","summary":null},"store":false,"temperature":1.0,"text":{"format":{"type":"text"},"verbosity":"medium"},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","metadata":{}}}

event: response.in_progress
data: {"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_68af41a1b2c48193","object":"response","created_at":1756316065,"status":"in_progress","background":false,"error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":"gpt-5-2025-08-07","output":[],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":"medium","summary":null},"store":false,"temperature":1.0,"text":{"format":{"type":"text"},"verbosity":"medium"},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","metadata":{}}}

event: response.output_item.added
data: {"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"id":"msg_68af41a2c0f08193","type":"message","status":"in_progress","content":[],"role":"assistant"}}

event: response.content_part.added
data: {"type":"response.content_part.added","sequence_number":3,"item_id":"msg_68af41a2c0f08193","output_index":0,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}}

event: response.output_text.delta
data: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_68af41a2c0f08193","output_index":0,"content_index":0,"delta":"Par","logprobs":[],"obfuscation":"x1Yz"}

event: response.output_text.delta
data: {"type":"response.output_text.delta","sequence_number":5,"item_id":"msg_68af41a2c0f08193","output_index":0,"content_index":0,"delta":"is.","logprobs":[],"obfuscation":"Qm"}

event: response.output_text.done
data: {"type":"response.output_text.done","sequence_number":6,"item_id":"msg_68af41a2c0f08193","output_index":0,"content_index":0,"text":"Paris.","logprobs":[]}

event: response.content_part.done
data: {"type":"response.content_part.done","sequence_number":7,"item_id":"msg_68af41a2c0f08193","output_index":0,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":"Paris."}}

event: response.output_item.done
data: {"type":"response.output_item.done","sequence_number":8,"output_index":0,"item":{"id":"msg_68af41a2c0f08193","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"Paris."}],"role":"assistant"}}

event: response.completed
data: {"type":"response.completed","sequence_number":9,"response":{"id":"resp_68af41a1b2c48193","object":"response","created_at":1756316065,"status":"completed","background":false,"error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":"gpt-5-2025-08-07","output":[{"id":"msg_68af41a2c0f08193","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"Paris."}],"role":"assistant"}],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":"medium","summary":null},"store":false,"temperature":1.0,"text":{"format":{"type":"text"},"verbosity":"medium"},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":{"input_tokens":15,"input_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},"output_tokens":8,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":23},"metadata":{}}}

`
	// upstreamFailedStream fails before any content.
	upstreamFailedStream = `event: response.created
data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_failing","object":"response","created_at":1756316065,"status":"in_progress","error":null,"incomplete_details":null,"instructions":null,"model":"gpt-5","output":[],"parallel_tool_calls":true,"tool_choice":"auto","tools":[],"temperature":1.0,"top_p":1.0,"metadata":{}}}

event: response.failed
data: {"type":"response.failed","sequence_number":1,"response":{"id":"resp_failing","object":"response","created_at":1756316065,"status":"failed","error":{"code":"server_error","message":"The server had an error while processing your request."},"incomplete_details":null,"instructions":null,"model":"gpt-5","output":[],"parallel_tool_calls":true,"tool_choice":"auto","tools":[],"temperature":1.0,"top_p":1.0,"metadata":{}}}

`
)

// Anthropic Messages wire bytes.
const (
	anthropicToolAnswer = `{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"I'll check the weather."},{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":30}}`
	anthropicTextStream = `event: message_start
data: {"type":"message_start","message":{"id":"msg_01TextStream7nTd3n","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type":"ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Bonjour"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" Paris"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":6}}

event: message_stop
data: {"type":"message_stop"}

`
)

// scriptedUpstream answers each request with the next of its replies (the
// last one again when they run out) and records the requests.
type scriptedUpstream struct {
	*httptest.Server
	mu      sync.Mutex
	replies []string
	bodies  [][]byte
	paths   []string
}

// newScriptedUpstream serves replies: a reply starting with "{" is a JSON
// answer, one starting with "5" a status (e.g. "503 {...}"), anything
// else an event stream.
func newScriptedUpstream(t *testing.T, replies ...string) *scriptedUpstream {
	u := &scriptedUpstream{replies: replies}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		n := len(u.bodies)
		u.bodies = append(u.bodies, b)
		u.paths = append(u.paths, r.URL.Path)
		reply := u.replies[min(n, len(u.replies)-1)]
		u.mu.Unlock()
		switch {
		case strings.HasPrefix(reply, "{"):
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, reply)
		case strings.HasPrefix(reply, "5"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, reply[4:])
		default:
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, reply)
		}
	}))
	t.Cleanup(u.Close)
	return u
}

// request returns the n-th request body received and the number received.
func (u *scriptedUpstream) request(t *testing.T, n int) map[string]json.RawMessage {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	require.Greater(t, len(u.bodies), n, "the upstream got %d requests", len(u.bodies))
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(u.bodies[n], &m))
	return m
}

func (u *scriptedUpstream) calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.bodies)
}

// responsesProxy is a proxy over one provider of typ at base serving
// model m (and any other model).
func responsesProxy(t *testing.T, providers ...llmproxy.ProviderConfig) *testServer {
	t.Helper()
	return startServer(t, llmproxy.Config{APIKeys: []string{clientKey}, Providers: providers}, server.Options{})
}

func chatProvider(name, url string) llmproxy.ProviderConfig {
	return llmproxy.ProviderConfig{Name: name, Type: "openai", BaseURL: url + "/v1", APIKey: "sk-up"}
}

func responsesProvider(name, url string) llmproxy.ProviderConfig {
	on := true
	return llmproxy.ProviderConfig{Name: name, Type: "openai", BaseURL: url + "/v1", APIKey: "sk-up", ResponsesAPI: &on}
}

// specResponses are the spec's schemas of the Responses objects and events.
var specResponses = func() func() (map[string]*openapi3.Schema, error) {
	var once sync.Once
	var out map[string]*openapi3.Schema
	var err error
	return func() (map[string]*openapi3.Schema, error) {
		once.Do(func() {
			var path string
			if path, err = findSpec(); err != nil {
				return
			}
			var doc *openapi3.T
			if doc, err = openapi3.NewLoader().LoadFromFile(path); err != nil {
				return
			}
			out = map[string]*openapi3.Schema{}
			for name, schema := range eventSchemas {
				ref := doc.Components.Schemas[schema]
				if ref == nil || ref.Value == nil {
					err = fmt.Errorf("the spec has no schema %s", schema)
					return
				}
				out[name] = ref.Value
			}
		})
		return out, err
	}
}()

// eventSchemas names the spec's schema of each event type ("Response":
// a response object).
var eventSchemas = map[string]string{
	"Response":                               "Response",
	"response.created":                       "ResponseCreatedEvent",
	"response.in_progress":                   "ResponseInProgressEvent",
	"response.output_item.added":             "ResponseOutputItemAddedEvent",
	"response.output_item.done":              "ResponseOutputItemDoneEvent",
	"response.content_part.added":            "ResponseContentPartAddedEvent",
	"response.content_part.done":             "ResponseContentPartDoneEvent",
	"response.output_text.delta":             "ResponseTextDeltaEvent",
	"response.output_text.done":              "ResponseTextDoneEvent",
	"response.refusal.delta":                 "ResponseRefusalDeltaEvent",
	"response.refusal.done":                  "ResponseRefusalDoneEvent",
	"response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
	"response.function_call_arguments.done":  "ResponseFunctionCallArgumentsDoneEvent",
	"response.reasoning_text.delta":          "ResponseReasoningTextDeltaEvent",
	"response.reasoning_text.done":           "ResponseReasoningTextDoneEvent",
	"response.completed":                     "ResponseCompletedEvent",
	"response.incomplete":                    "ResponseIncompleteEvent",
	"response.failed":                        "ResponseFailedEvent",
	"error":                                  "ResponseErrorEvent",
}

func responsesSpec(t *testing.T) map[string]*openapi3.Schema {
	t.Helper()
	openAISpec(t) // skips or fails without the spec, as the chat checks do
	s, err := specResponses()
	require.NoError(t, err)
	return s
}

// rawEvent is one event of a stream as the client got it.
type rawEvent struct {
	name string
	data []byte
}

// readEvents posts body and reads the event stream.
func readEvents(t *testing.T, ts *testServer, body string) (reply, []rawEvent) {
	t.Helper()
	r := postJSON(t, ts.Server, "/v1/responses", body)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	rd := sse.NewReader(bytes.NewReader(r.body), 0)
	defer rd.Release()
	var evs []rawEvent
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		evs = append(evs, rawEvent{name: ev.Name, data: bytes.Clone(ev.Data)})
	}
	return r, evs
}

// checkEvents asserts that every event validates against its schema,
// names its type, and has the next sequence number.
func checkEvents(t *testing.T, schemas map[string]*openapi3.Schema, evs []rawEvent) {
	t.Helper()
	last := int64(-1)
	for _, ev := range evs {
		var head struct {
			Type string `json:"type"`
			Seq  *int64 `json:"sequence_number"`
		}
		require.NoError(t, json.Unmarshal(ev.data, &head), "event %s", ev.data)
		assert.Equal(t, ev.name, head.Type, "the event name is its type")
		schema := schemas[head.Type]
		if assert.NotNil(t, schema, "unexpected event type %q", head.Type) {
			var v any
			require.NoError(t, json.Unmarshal(ev.data, &v))
			assert.NoError(t, schema.VisitJSON(v, openapi3.VisitAsResponse(), openapi3.MultiErrors(), openapi3.DisableSchemaErrorDetails()),
				"event does not match %s: %s", eventSchemas[head.Type], ev.data)
		}
		if assert.NotNil(t, head.Seq, "no sequence_number: %s", ev.data) {
			assert.Greater(t, *head.Seq, last, "sequence numbers increase: %s", ev.data)
			last = *head.Seq
		}
	}
}

// checkResponse asserts that body is a response object of the spec.
func checkResponse(t *testing.T, schemas map[string]*openapi3.Schema, body []byte) {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(body, &v))
	assert.NoError(t, schemas["Response"].VisitJSON(v, openapi3.VisitAsResponse(), openapi3.MultiErrors(), openapi3.DisableSchemaErrorDetails()),
		"not a response of the spec: %s", body)
}

func TestResponsesTranslatedToChat(t *testing.T) {
	schemas := responsesSpec(t)
	up := newScriptedUpstream(t, chatHelloAnswer)
	ts := responsesProxy(t, chatProvider("chat-up", up.URL))
	client := newOpenAIClient(ts.Server, clientKey)

	resp, err := client.Responses.New(t.Context(), responses.ResponseNewParams{
		Model:           "gpt-4.1",
		Instructions:    openai.String("Be brief."),
		Input:           responses.ResponseNewParamsInputUnion{OfString: openai.String("Say hello")},
		MaxOutputTokens: openai.Int(50),
		Temperature:     openai.Float(0.5),
		Text: responses.ResponseTextConfigParam{Format: responses.ResponseFormatTextConfigUnionParam{
			OfJSONSchema: &responses.ResponseFormatTextJSONSchemaConfigParam{Name: "greeting", Schema: map[string]any{"type": "object"}},
		}},
	})
	require.NoError(t, err)
	assert.Equal(t, "Hello world", resp.OutputText())
	assert.Equal(t, responses.ResponseStatusCompleted, resp.Status)
	assert.True(t, strings.HasPrefix(resp.ID, "resp_"), resp.ID)
	assert.EqualValues(t, 12, resp.Usage.InputTokens)
	assert.EqualValues(t, 4, resp.Usage.InputTokensDetails.CachedTokens)
	assert.EqualValues(t, 2, resp.Usage.OutputTokens)
	assert.EqualValues(t, 14, resp.Usage.TotalTokens)
	checkResponse(t, schemas, []byte(resp.RawJSON()))
	assert.Equal(t, "chat-up", getProxyInfo(t, []byte(resp.RawJSON())).Provider)

	sent := up.request(t, 0)
	assert.Equal(t, "/v1/chat/completions", up.paths[0])
	assert.JSONEq(t, `[{"role":"system","content":"Be brief."},{"role":"user","content":"Say hello"}]`, string(sent["messages"]))
	assert.JSONEq(t, `50`, string(sent["max_completion_tokens"]))
	assert.JSONEq(t, `0.5`, string(sent["temperature"]))
	assert.JSONEq(t, `{"type":"json_schema","json_schema":{"name":"greeting","schema":{"type":"object"}}}`, string(sent["response_format"]))
	assert.NotContains(t, sent, "input")
	assert.NotContains(t, sent, "instructions")
}

func TestResponsesStreamTranslatedToChat(t *testing.T) {
	schemas := responsesSpec(t)
	up := newScriptedUpstream(t, chatHelloStream)
	ts := responsesProxy(t, chatProvider("chat-up", up.URL))
	client := newOpenAIClient(ts.Server, clientKey)

	st := client.Responses.NewStreaming(t.Context(), responses.ResponseNewParams{
		Model: "gpt-4.1",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Say hello")},
	})
	var acc responses.ResponseAccumulator
	var text strings.Builder
	var types []string
	var final responses.Response
	for st.Next() {
		ev := st.Current()
		types = append(types, ev.Type)
		var wsev responses.ResponsesServerEventUnion
		require.NoError(t, json.Unmarshal([]byte(ev.RawJSON()), &wsev))
		require.NoError(t, acc.AddEvent(wsev), "event %s", ev.RawJSON())
		if ev.Type == "response.output_text.delta" {
			text.WriteString(ev.Delta)
		}
		if ev.Type == "response.completed" {
			final = ev.Response
		}
	}
	require.NoError(t, st.Err())
	require.NoError(t, st.Close())
	assert.Equal(t, "Hello world", text.String())
	assert.Equal(t, "Hello world", acc.Snapshot().OutputText())
	got, err := acc.ReconstructedResponse()
	require.NoError(t, err)
	assert.Equal(t, "Hello world", got.OutputText())
	assert.Equal(t, "Hello world", final.OutputText())
	assert.EqualValues(t, 14, final.Usage.TotalTokens)
	assert.Equal(t, []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.delta", "response.output_text.done", "response.content_part.done",
		"response.output_item.done", "response.completed"}, types)
	sent := up.request(t, 0)
	assert.JSONEq(t, `true`, string(sent["stream"]))

	// The same stream read raw: every event is the spec's.
	r, evs := readEvents(t, ts, `{"model":"gpt-4.1","input":"Say hello","stream":true}`)
	assert.Equal(t, "chat-up", r.header.Get("X-LLMProxy-Provider"))
	checkEvents(t, schemas, evs)
	require.NotEmpty(t, evs)
	assert.Equal(t, "response.completed", evs[len(evs)-1].name)
	var completed struct{ Response json.RawMessage }
	require.NoError(t, json.Unmarshal(evs[len(evs)-1].data, &completed))
	checkResponse(t, schemas, completed.Response)

	// An upstream's reasoning becomes a reasoning item before the message.
	reasoner := newScriptedUpstream(t, chatReasoningStream)
	ts = responsesProxy(t, chatProvider("reasoner", reasoner.URL))
	_, evs = readEvents(t, ts, `{"model":"deepseek-reasoner","input":"Hello","stream":true}`)
	checkEvents(t, schemas, evs)
	var reasoned struct {
		Response struct {
			Output []struct {
				Type    string
				Content []struct{ Type, Text string }
			}
			Usage struct {
				OutputTokensDetails struct {
					ReasoningTokens int `json:"reasoning_tokens"`
				} `json:"output_tokens_details"`
			}
		}
	}
	require.NoError(t, json.Unmarshal(evs[len(evs)-1].data, &reasoned))
	require.Len(t, reasoned.Response.Output, 2, "%s", evs[len(evs)-1].data)
	assert.Equal(t, "reasoning", reasoned.Response.Output[0].Type)
	assert.Equal(t, "The user greets. Greet back.", reasoned.Response.Output[0].Content[0].Text)
	assert.Equal(t, "Hi!", reasoned.Response.Output[1].Content[0].Text)
	assert.Equal(t, 6, reasoned.Response.Usage.OutputTokensDetails.ReasoningTokens)
}

func TestResponsesFunctionCallRoundTrip(t *testing.T) {
	schemas := responsesSpec(t)
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%t", stream), func(t *testing.T) {
			first := chatToolAnswer
			if stream {
				first = chatToolStream
			}
			up := newScriptedUpstream(t, first, chatHelloAnswer)
			ts := responsesProxy(t, chatProvider("chat-up", up.URL))
			client := newOpenAIClient(ts.Server, clientKey)
			params := responses.ResponseNewParams{
				Model: "gpt-4.1",
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris?")},
				Tools: []responses.ToolUnionParam{
					{OfFunction: &responses.FunctionToolParam{Name: "get_weather", Description: openai.String("Weather of a city"),
						Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}},
					{OfWebSearch: &responses.WebSearchToolParam{Type: responses.WebSearchToolTypeWebSearch}},
				},
			}
			var call responses.ResponseFunctionToolCall
			var output []responses.ResponseOutputItemUnion
			if stream {
				st := client.Responses.NewStreaming(t.Context(), params)
				var args strings.Builder
				for st.Next() {
					ev := st.Current()
					if ev.Type == "response.function_call_arguments.delta" {
						args.WriteString(ev.Delta)
					}
					if ev.Type == "response.completed" {
						output = ev.Response.Output
						checkResponse(t, schemas, []byte(ev.Response.RawJSON()))
					}
				}
				require.NoError(t, st.Err())
				require.NoError(t, st.Close())
				assert.Equal(t, `{"city":"Paris"}`, args.String())
			} else {
				resp, err := client.Responses.New(t.Context(), params)
				require.NoError(t, err)
				checkResponse(t, schemas, []byte(resp.RawJSON()))
				output = resp.Output
			}
			for _, it := range output {
				if it.Type == "function_call" {
					call = it.AsFunctionCall()
				}
			}
			assert.Equal(t, "get_weather", call.Name)
			assert.Equal(t, `{"city":"Paris"}`, call.Arguments)
			require.NotEmpty(t, call.CallID)

			sent := up.request(t, 0)
			assert.JSONEq(t, `[{"type":"function","function":{"name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]`,
				string(sent["tools"]), "the hosted web_search tool is dropped")

			// The client runs the tool and sends its output with the
			// conversation so far, as Codex does.
			var input responses.ResponseInputParam
			input = append(input, responses.ResponseInputItemParamOfMessage("Weather in Paris?", responses.EasyInputMessageRoleUser))
			for _, it := range output {
				switch it.Type {
				case "message":
					m := it.AsMessage().ToParam()
					input = append(input, responses.ResponseInputItemUnionParam{OfOutputMessage: &m})
				case "function_call":
					fc := it.AsFunctionCall().ToParam()
					input = append(input, responses.ResponseInputItemUnionParam{OfFunctionCall: &fc})
				}
			}
			input = append(input, responses.ResponseInputItemUnionParam{OfFunctionCallOutput: &responses.ResponseInputItemFunctionCallOutputParam{
				CallID: openai.String(call.CallID), Output: responses.ResponseInputItemFunctionCallOutputOutputUnionParam{OfString: openai.String(`{"temp_c":21}`)}}})
			resp, err := client.Responses.New(t.Context(), responses.ResponseNewParams{
				Model: "gpt-4.1", Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input}, Tools: params.Tools,
			})
			require.NoError(t, err)
			assert.Equal(t, "Hello world", resp.OutputText())
			var msgs []struct {
				Role       string          `json:"role"`
				Content    json.RawMessage `json:"content"`
				ToolCallID string          `json:"tool_call_id"`
				ToolCalls  []struct {
					ID       string `json:"id"`
					Function struct{ Name, Arguments string }
				} `json:"tool_calls"`
			}
			require.NoError(t, json.Unmarshal(up.request(t, 1)["messages"], &msgs))
			require.Len(t, msgs, 3, "user, assistant with the call, tool: %s", up.request(t, 1)["messages"])
			assert.Equal(t, "assistant", msgs[1].Role)
			require.Len(t, msgs[1].ToolCalls, 1)
			assert.Equal(t, call.CallID, msgs[1].ToolCalls[0].ID)
			assert.Equal(t, `{"city":"Paris"}`, msgs[1].ToolCalls[0].Function.Arguments)
			assert.Equal(t, "tool", msgs[2].Role)
			assert.Equal(t, call.CallID, msgs[2].ToolCallID)
			assert.JSONEq(t, `"{\"temp_c\":21}"`, string(msgs[2].Content))
		})
	}
}

func TestResponsesHostedTools(t *testing.T) {
	up := newScriptedUpstream(t, chatHelloAnswer)
	ts := responsesProxy(t, chatProvider("chat-up", up.URL))
	// Codex offers web_search and namespace tools on every request: they
	// are dropped, logged and named in a header.
	r := postJSON(t, ts.Server, "/v1/responses", `{"model":"m","input":"hi","tools":[{"type":"web_search"},{"type":"namespace","name":"mcp","tools":[]},{"type":"function","name":"f","parameters":{"type":"object"}}]}`)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	assert.Equal(t, "web_search, namespace", r.header.Get("X-LLMProxy-Dropped-Tools"))
	assert.Contains(t, ts.logs.String(), "tools dropped in translation")
	assert.Equal(t, 1, up.calls())

	// Forcing one is refused, naming it, in OpenAI's envelope.
	r = postJSON(t, ts.Server, "/v1/responses", `{"model":"m","input":"hi","tools":[{"type":"web_search"}],"tool_choice":{"type":"web_search"}}`)
	assert.Equal(t, http.StatusBadRequest, r.status, "body: %s", r.body)
	env := errorEnvelope(t, r)
	assert.Contains(t, env.Message, `"web_search"`)
	assert.Equal(t, "tool_choice", deref(env.Param))
	assert.Equal(t, 1, up.calls(), "nothing is sent upstream")
}

func TestResponsesBadRequests(t *testing.T) {
	up := newScriptedUpstream(t, chatHelloAnswer)
	ts := responsesProxy(t, chatProvider("chat-up", up.URL))
	for body, param := range map[string]string{
		`{"input":"hi"}`:                            "model",
		`{"model":"m"}`:                             "input",
		`{"model":"m","input":5}`:                   "input",
		`{"model":"m","input":"hi","stream":"yes"}`: "stream",
		`{"model":"m","input":[{"type":"item_reference","id":"x"}]}`: "input[0].type",
		`{"model":"m","input":"hi","model":"n"}`:                     "model",
	} {
		r := postJSON(t, ts.Server, "/v1/responses", body)
		assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", body, r.body)
		assert.Equal(t, param, deref(errorEnvelope(t, r).Param), body)
	}
	r := postJSON(t, ts.Server, "/v1/responses", `not json`)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "invalid_json", deref(errorEnvelope(t, r).Code))
	assert.Equal(t, 0, up.calls())

	r = do(t, ts.Server, http.MethodGet, "/v1/responses", "", "X-API-Key", clientKey)
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)
	r = do(t, ts.Server, http.MethodPost, "/v1/responses", `{"model":"m","input":"hi"}`)
	assert.Equal(t, http.StatusUnauthorized, r.status, "the same auth as chat")
}

func TestResponsesPreviousResponseAcrossReplicas(t *testing.T) {
	redis := redistest.Start(t)
	up := newScriptedUpstream(t, chatHelloAnswer)
	cfg := func() llmproxy.Config {
		return llmproxy.Config{APIKeys: []string{clientKey}, RedisURL: llmproxy.Secret(redis.PatientURL()),
			Providers: []llmproxy.ProviderConfig{chatProvider("chat-up", up.URL)}}
	}
	a := startServer(t, cfg(), server.Options{})
	b := startServer(t, cfg(), server.Options{})
	ca, cb := newOpenAIClient(a.Server, clientKey), newOpenAIClient(b.Server, clientKey)

	first, err := ca.Responses.New(t.Context(), responses.ResponseNewParams{
		Model: "gpt-4.1", Instructions: openai.String("Be brief."),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("My name is Ada.")},
	})
	require.NoError(t, err)

	// The other replica continues the conversation and serves the stored
	// response.
	second, err := cb.Responses.New(t.Context(), responses.ResponseNewParams{
		Model: "gpt-4.1", PreviousResponseID: openai.String(first.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("What is my name?")},
	})
	require.NoError(t, err)
	assert.Equal(t, first.ID, second.PreviousResponseID)
	assert.JSONEq(t, `[{"role":"user","content":"My name is Ada."},{"role":"assistant","content":"Hello world"},{"role":"user","content":"What is my name?"}]`,
		string(up.request(t, 1)["messages"]), "the earlier turn goes upstream; its instructions do not")

	got, err := cb.Responses.Get(t.Context(), first.ID, responses.ResponseGetParams{})
	require.NoError(t, err)
	assert.Equal(t, first.ID, got.ID)
	assert.Equal(t, "Hello world", got.OutputText())

	// A third turn chains on the second, on the first replica.
	_, err = ca.Responses.New(t.Context(), responses.ResponseNewParams{
		Model: "gpt-4.1", PreviousResponseID: openai.String(second.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Thanks")},
	})
	require.NoError(t, err)
	var third []json.RawMessage
	require.NoError(t, json.Unmarshal(up.request(t, 2)["messages"], &third))
	assert.Len(t, third, 5)

	require.NoError(t, ca.Responses.Delete(t.Context(), first.ID))
	_, err = cb.Responses.Get(t.Context(), first.ID, responses.ResponseGetParams{})
	var apiErr *openai.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusNotFound, apiErr.StatusCode)

	// An unknown previous_response_id is a 404 in OpenAI's envelope, and
	// nothing goes upstream.
	calls := up.calls()
	_, err = cb.Responses.New(t.Context(), responses.ResponseNewParams{
		Model: "gpt-4.1", PreviousResponseID: openai.String("resp_unknown"),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
	})
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusNotFound, apiErr.StatusCode)
	assert.Equal(t, "previous_response_id", apiErr.Param)
	assert.Equal(t, calls, up.calls())

	// store: false keeps nothing.
	unstored, err := ca.Responses.New(t.Context(), responses.ResponseNewParams{
		Model: "gpt-4.1", Store: openai.Bool(false),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
	})
	require.NoError(t, err)
	_, err = cb.Responses.Get(t.Context(), unstored.ID, responses.ResponseGetParams{})
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusNotFound, apiErr.StatusCode)

	// Without Redis, a continuation cannot be resolved (503, nothing sent
	// upstream), while a new response is still answered (and the failed
	// store logged).
	redis.Stop()
	calls = up.calls()
	r := postJSON(t, a.Server, "/v1/responses", `{"model":"gpt-4.1","input":"hi","previous_response_id":"`+second.ID+`"}`)
	assert.Equal(t, http.StatusServiceUnavailable, r.status, "body: %s", r.body)
	errorEnvelope(t, r)
	assert.Equal(t, calls, up.calls())
	r = postJSON(t, a.Server, "/v1/responses", `{"model":"gpt-4.1","input":"hi"}`)
	assert.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	assert.Contains(t, a.logs.String(), "could not store a response")
}

func TestResponsesPassThrough(t *testing.T) {
	up := newScriptedUpstream(t, upstreamResponse, upstreamResponseStream)
	ts := responsesProxy(t, responsesProvider("openai-up", up.URL))

	// A whole response: the client's bytes go upstream as they came, the
	// upstream's come back with _proxy_info spliced in.
	const body = `{"model":"gpt-5","input":[{"role":"user","content":[{"type":"input_text","text":"Capital of France?"}]}],"reasoning":{"effort":"medium"},"include":["reasoning.encrypted_content"],"x_vendor":{"a":1}}`
	r := postJSON(t, ts.Server, "/v1/responses", body)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	up.mu.Lock()
	assert.Equal(t, body, string(up.bodies[0]), "the request passes through as its bytes")
	assert.Equal(t, "/v1/responses", up.paths[0])
	up.mu.Unlock()
	head, _, ok := bytes.Cut(r.body, []byte(`,"_proxy_info":`))
	require.True(t, ok, "body: %s", r.body)
	assert.Equal(t, strings.TrimSuffix(upstreamResponse, "}"), string(head))
	assert.Equal(t, "openai-up", getProxyInfo(t, r.body).Provider)
	assert.Empty(t, r.header.Get("X-LLMProxy-Dropped-Tools"))

	// A stream: the events are the upstream's bytes.
	r = postJSON(t, ts.Server, "/v1/responses", `{"model":"gpt-5","input":"Capital of France?","stream":true,"store":false}`)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	assert.Equal(t, upstreamResponseStream, string(r.body))
	assert.JSONEq(t, `false`, string(up.request(t, 1)["store"]))

	// The first response was stored (store defaults to true), so a
	// continuation on the same provider passes the id through.
	firstID := "resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b"
	r = postJSON(t, ts.Server, "/v1/responses", `{"model":"gpt-5","input":"And Spain?","previous_response_id":"`+firstID+`","stream":true}`)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	sent := up.request(t, 2)
	assert.JSONEq(t, `"`+firstID+`"`, string(sent["previous_response_id"]))
	assert.JSONEq(t, `"And Spain?"`, string(sent["input"]))
	r = get(t, ts.Server, "/v1/responses/"+firstID)
	require.Equal(t, http.StatusOK, r.status)
	assert.True(t, bytes.HasPrefix(r.body, []byte(strings.TrimSuffix(upstreamResponse, "}"))), "body: %s", r.body)
}

func TestResponsesPreviousResponseOnAnotherProvider(t *testing.T) {
	// A response produced by translation is continued on a Responses
	// upstream: the upstream gets the whole conversation, not the id.
	chat := newScriptedUpstream(t, chatHelloAnswer)
	native := newScriptedUpstream(t, upstreamResponse)
	chatCfg := chatProvider("chat-up", chat.URL)
	chatCfg.Models = []string{"gpt-4.1"}
	nativeCfg := responsesProvider("openai-up", native.URL)
	nativeCfg.Models = []string{"gpt-5"}
	ts := responsesProxy(t, chatCfg, nativeCfg)
	r := postJSON(t, ts.Server, "/v1/responses", `{"model":"gpt-4.1","input":"hi"}`)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	id := r.object(t)["id"].(string)
	r = postJSON(t, ts.Server, "/v1/responses", `{"model":"gpt-5","input":"again","previous_response_id":"`+id+`"}`)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	sent := native.request(t, 0)
	assert.NotContains(t, sent, "previous_response_id")
	var items []map[string]any
	require.NoError(t, json.Unmarshal(sent["input"], &items))
	require.Len(t, items, 3, "input: %s", sent["input"])
	assert.Equal(t, "hi", items[0]["content"])
	assert.Equal(t, "message", items[1]["type"])
	assert.Equal(t, "assistant", items[1]["role"])
	assert.Equal(t, "again", items[2]["content"])
}

func TestResponsesTranslatedToAnthropic(t *testing.T) {
	schemas := responsesSpec(t)
	up := newScriptedUpstream(t, anthropicToolAnswer, anthropicTextStream)
	ts := responsesProxy(t, llmproxy.ProviderConfig{Name: "claude", Type: "anthropic", BaseURL: up.URL, APIKey: "sk-ant"})
	client := newOpenAIClient(ts.Server, clientKey)

	resp, err := client.Responses.New(t.Context(), responses.ResponseNewParams{
		Model:        "claude-sonnet-4-5",
		Instructions: openai.String("You are terse."),
		Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris?")},
		Tools: []responses.ToolUnionParam{{OfFunction: &responses.FunctionToolParam{Name: "get_weather",
			Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}}},
	})
	require.NoError(t, err)
	checkResponse(t, schemas, []byte(resp.RawJSON()))
	assert.Equal(t, "I'll check the weather.", resp.OutputText())
	require.Len(t, resp.Output, 2)
	call := resp.Output[1].AsFunctionCall()
	assert.Equal(t, "get_weather", call.Name)
	assert.Equal(t, "toolu_01A09q90qw90lq917835lq9", call.CallID)
	assert.JSONEq(t, `{"city":"Paris"}`, call.Arguments)
	assert.EqualValues(t, 42, resp.Usage.TotalTokens)
	sent := up.request(t, 0)
	assert.Equal(t, "/v1/messages", up.paths[0])
	assert.Contains(t, string(sent["system"]), `"You are terse."`)
	assert.Contains(t, string(sent["tools"]), `"input_schema"`)

	_, evs := readEvents(t, ts, `{"model":"claude-sonnet-4-5","input":"Say hi","stream":true}`)
	checkEvents(t, schemas, evs)
	var text strings.Builder
	for _, ev := range evs {
		if ev.name == "response.output_text.delta" {
			var d struct{ Delta string }
			require.NoError(t, json.Unmarshal(ev.data, &d))
			text.WriteString(d.Delta)
		}
	}
	assert.Equal(t, "Bonjour Paris", text.String())
	assert.Equal(t, "response.completed", evs[len(evs)-1].name)
}

func TestResponsesCutStream(t *testing.T) {
	schemas := responsesSpec(t)
	for name, cfg := range map[string]func(url string) llmproxy.ProviderConfig{
		"translated":   func(url string) llmproxy.ProviderConfig { return chatProvider("up", url) },
		"pass-through": func(url string) llmproxy.ProviderConfig { return responsesProvider("up", url) },
	} {
		t.Run(name, func(t *testing.T) {
			cut := chatCutStream
			if name == "pass-through" {
				cut, _, _ = strings.Cut(upstreamResponseStream, "event: response.output_text.done")
			}
			up := newScriptedUpstream(t, cut)
			ts := responsesProxy(t, cfg(up.URL))
			_, evs := readEvents(t, ts, `{"model":"gpt-4.1","input":"hi","stream":true}`)
			checkEvents(t, schemas, evs)
			require.NotEmpty(t, evs)
			last := evs[len(evs)-1]
			assert.Equal(t, "response.failed", last.name, "a cut stream ends with response.failed")
			for _, ev := range evs {
				assert.NotEqual(t, "response.completed", ev.name)
			}
			var failed struct {
				Response struct {
					ID     string
					Status string
					Error  struct{ Code, Message string }
				}
			}
			require.NoError(t, json.Unmarshal(last.data, &failed))
			assert.Equal(t, "failed", failed.Response.Status)
			assert.Equal(t, "server_error", failed.Response.Error.Code)
			assert.NotEmpty(t, failed.Response.ID)

			// The SDK reports the failure.
			client := newOpenAIClient(ts.Server, clientKey)
			st := client.Responses.NewStreaming(t.Context(), responses.ResponseNewParams{Model: "gpt-4.1",
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
			sawFailed := false
			for st.Next() {
				sawFailed = sawFailed || st.Current().Type == "response.failed"
			}
			_ = st.Close()
			assert.True(t, sawFailed || st.Err() != nil, "the client learns that the stream failed")
		})
	}
}

func TestResponsesFailoverBeforeCommit(t *testing.T) {
	schemas := responsesSpec(t)
	// The first provider (a Responses upstream) fails before any content,
	// with response.failed; the second (a chat upstream) answers: the
	// client sees only the second's stream.
	failing := newScriptedUpstream(t, upstreamFailedStream)
	good := newScriptedUpstream(t, chatHelloStream)
	first := responsesProvider("first", failing.URL)
	second := chatProvider("second", good.URL)
	second.Priority = 2
	ts := responsesProxy(t, first, second)
	r, evs := readEvents(t, ts, `{"model":"gpt-4.1","input":"hi","stream":true}`)
	checkEvents(t, schemas, evs)
	assert.Equal(t, "second", r.header.Get("X-LLMProxy-Provider"))
	assert.Equal(t, "2", r.header.Get("X-LLMProxy-Attempt"))
	assert.Equal(t, "response.created", evs[0].name)
	assert.NotContains(t, string(r.body), "resp_failing")
	assert.Equal(t, "response.completed", evs[len(evs)-1].name)
	assert.Equal(t, 1, failing.calls())

	// A whole response fails over from a 503.
	failing2 := newScriptedUpstream(t, `503 {"error":{"message":"overloaded","type":"server_error"}}`)
	good2 := newScriptedUpstream(t, chatHelloAnswer)
	first2 := responsesProvider("first", failing2.URL)
	second2 := chatProvider("second", good2.URL)
	second2.Priority = 2
	ts2 := responsesProxy(t, first2, second2)
	r = postJSON(t, ts2.Server, "/v1/responses", `{"model":"gpt-4.1","input":"hi"}`)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	assert.Equal(t, "second", getProxyInfo(t, r.body).Provider)
	checkResponse(t, schemas, r.body)
}
