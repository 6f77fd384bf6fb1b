package server_test

// Tests of the Bedrock adapter through the whole server: openai-go on one
// side; on the other an httptest upstream that speaks Bedrock's runtime
// wire (REST-JSON for Converse and InvokeModel, AWS event-stream frames
// encoded by the SDK's own encoder for ConverseStream), reached by the
// adapter's bedrockruntime client through base_url, with SigV4-signed
// requests from static test credentials.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	openai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/bedrock"
)

const (
	brKeyID   = "AKIAIOSFODNN7SRVTEST"
	brSecret  = "srv/TEST+SECRET/bedrock9a8b7c6d5e4f3a2b1c"
	brRegion  = "eu-central-1"
	brModel   = "anthropic.claude-3-5-haiku-20241022-v1:0"
	brEmbed   = "amazon.titan-embed-text-v2:0"
	brToolUse = "tooluse_2SZqHnXnR6WmmkRUeF9bJA"
)

// brSeen is a request the Bedrock fake received.
type brSeen struct {
	op     string // converse, converse-stream or invoke
	model  string
	header http.Header
	body   map[string]any
	raw    []byte
}

// brFake answers Bedrock's runtime operations with respond, after checking
// the SigV4 Authorization header (key, region, service) as AWS would.
type brFake struct {
	*httptest.Server
	mu      sync.Mutex
	seen    []brSeen
	respond func(w http.ResponseWriter, s brSeen)
}

func newBrFake(t *testing.T, respond func(w http.ResponseWriter, s brSeen)) *brFake {
	t.Helper()
	f := &brFake{respond: respond}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		path, _ := url.PathUnescape(r.URL.EscapedPath())
		s := brSeen{header: r.Header.Clone(), raw: raw}
		if rest, ok := strings.CutPrefix(path, "/model/"); ok {
			if i := strings.LastIndexByte(rest, '/'); i > 0 {
				s.model, s.op = rest[:i], rest[i+1:]
			}
		}
		_ = json.Unmarshal(raw, &s.body)
		f.mu.Lock()
		f.seen = append(f.seen, s)
		f.mu.Unlock()
		w.Header().Set("X-Amzn-Requestid", "0b1c2d3e-srv0-4000-8000-bedrock00001")
		auth := r.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+brKeyID+"/") || !strings.Contains(auth, "/"+brRegion+"/bedrock/aws4_request") {
			brError(w, 403, "UnrecognizedClientException", "The security token included in the request is invalid.")
			return
		}
		f.respond(w, s)
	}))
	t.Cleanup(func() {
		f.CloseClientConnections()
		f.Close()
	})
	return f
}

func (f *brFake) requests() []brSeen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]brSeen(nil), f.seen...)
}

func brError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", code+":http://internal.amazon.com/coral/com.amazon.bedrock/")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": msg})
	_, _ = w.Write(b)
}

func brJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, body)
}

// brAnswer is a Converse answer of the given content blocks.
func brAnswer(content, stop string, in, out int) string {
	b, _ := json.Marshal(map[string]any{
		"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": json.RawMessage(content)}},
		"stopReason": stop,
		"usage":      map[string]int{"inputTokens": in, "outputTokens": out, "totalTokens": in + out},
		"metrics":    map[string]int{"latencyMs": 321},
	})
	return string(b)
}

// brEvents writes a ConverseStream answer: each event a frame encoded by
// the SDK's event-stream encoder, flushed on its own.
func brEvents(w http.ResponseWriter, events ...[2]string) {
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	enc := eventstream.NewEncoder()
	for _, e := range events {
		var msg eventstream.Message
		msg.Headers.Set(":event-type", eventstream.StringValue(e[0]))
		msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
		msg.Headers.Set(":message-type", eventstream.StringValue("event"))
		msg.Payload = []byte(e[1])
		var b bytes.Buffer
		_ = enc.Encode(&b, msg)
		_, _ = w.Write(b.Bytes())
		w.(http.Flusher).Flush()
	}
}

// brProvider is a bedrock provider pointed at the fake, with static
// credentials from the environment.
func brProvider(t *testing.T, url string, maxRetries int) llmproxy.ProviderConfig {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("BR_TEST_KEY_ID", brKeyID)
	t.Setenv("BR_TEST_SECRET", brSecret)
	return llmproxy.ProviderConfig{
		Name: "bedrock", Type: "bedrock", BaseURL: url, AWSRegion: brRegion,
		AWSAccessKeyIDEnv: "BR_TEST_KEY_ID", AWSSecretAccessKeyEnv: "BR_TEST_SECRET",
		Models: []string{brModel, brEmbed}, MaxRetries: maxRetries, Timeout: 10 * time.Second, RetryDelay: 10 * time.Millisecond,
	}
}

func TestNativeBedrock(t *testing.T) {
	t.Run("chat", func(t *testing.T) {
		up := newBrFake(t, func(w http.ResponseWriter, s brSeen) {
			brJSON(w, brAnswer(`[{"text":"Hello from Bedrock"}]`, "end_turn", 12, 6))
		})
		ts := natProxy(t, brProvider(t, up.URL, 0))
		client := newOpenAIClient(ts.Server, clientKey)
		resp, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
			Model: brModel, Messages: natConversation("Say hello"), MaxCompletionTokens: openai.Int(64),
		})
		require.NoError(t, err)
		require.Len(t, resp.Choices, 1)
		assert.Equal(t, "Hello from Bedrock", resp.Choices[0].Message.Content)
		assert.Equal(t, "stop", resp.Choices[0].FinishReason)
		assert.Equal(t, int64(18), resp.Usage.TotalTokens)
		assert.Equal(t, "bedrock", getProxyInfo(t, []byte(resp.RawJSON())).Provider)

		reqs := up.requests()
		require.Len(t, reqs, 1)
		assert.Equal(t, "converse", reqs[0].op)
		assert.Equal(t, brModel, reqs[0].model)
		assert.JSONEq(t, `{"system":[{"text":"`+natSystem+`"}],"messages":[{"role":"user","content":[{"text":"Say hello"}]}],
			"inferenceConfig":{"maxTokens":64}}`, string(reqs[0].raw))
		assert.NotContains(t, ts.logs.String(), brSecret)
		assert.NotContains(t, ts.logs.String(), brKeyID)
	})

	t.Run("stream", func(t *testing.T) {
		up := newBrFake(t, func(w http.ResponseWriter, s brSeen) {
			if s.op != "converse-stream" {
				brError(w, 400, "ValidationException", "test fake: expected converse-stream")
				return
			}
			brEvents(w,
				[2]string{"messageStart", `{"p":"abcdefgh","role":"assistant"}`},
				[2]string{"contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"abc"}`},
				[2]string{"contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":" from"},"p":"abcdef"}`},
				[2]string{"contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":" Bedrock"},"p":"a"}`},
				[2]string{"contentBlockStop", `{"contentBlockIndex":0,"p":"abcd"}`},
				[2]string{"messageStop", `{"p":"abcdefghijkl","stopReason":"end_turn"}`},
				[2]string{"metadata", `{"metrics":{"latencyMs":210},"p":"ab","usage":{"inputTokens":25,"outputTokens":9,"totalTokens":34}}`},
			)
		})
		ts := natProxy(t, brProvider(t, up.URL, 0))
		res := natStream(t, newOpenAIClient(ts.Server, clientKey), openai.ChatCompletionNewParams{
			Model: brModel, Messages: natConversation("Stream a hello"),
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		res.checkOK(t, "Hello from Bedrock", "bedrock", 1)
		assert.Equal(t, 1, res.usageChunks)
		assert.Equal(t, int64(34), res.acc.Usage.TotalTokens)
	})

	t.Run("stream exception after content", func(t *testing.T) {
		up := newBrFake(t, func(w http.ResponseWriter, s brSeen) {
			brEvents(w,
				[2]string{"messageStart", `{"role":"assistant"}`},
				[2]string{"contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"Partial"}}`})
			var msg eventstream.Message
			msg.Headers.Set(":exception-type", eventstream.StringValue("throttlingException"))
			msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
			msg.Headers.Set(":message-type", eventstream.StringValue("exception"))
			msg.Payload = []byte(`{"message":"Too many tokens, please wait before trying again."}`)
			_ = eventstream.NewEncoder().Encode(w, msg)
		})
		ts := natProxy(t, brProvider(t, up.URL, 0))
		res := natStream(t, newOpenAIClient(ts.Server, clientKey), openai.ChatCompletionNewParams{Model: brModel, Messages: natConversation("x")})
		require.Error(t, res.err, "a failed stream must not look whole")
		assert.Equal(t, "Partial", res.content)
	})

	t.Run("stream throttled before content is retried", func(t *testing.T) {
		var mu sync.Mutex
		calls := 0
		up := newBrFake(t, func(w http.ResponseWriter, s brSeen) {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			if n == 1 {
				// A 200 whose first events are the role and a throttling
				// exception: nothing reached the client yet.
				brEvents(w, [2]string{"messageStart", `{"role":"assistant"}`})
				var msg eventstream.Message
				msg.Headers.Set(":exception-type", eventstream.StringValue("throttlingException"))
				msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
				msg.Headers.Set(":message-type", eventstream.StringValue("exception"))
				msg.Payload = []byte(`{"message":"Too many tokens, please wait before trying again."}`)
				_ = eventstream.NewEncoder().Encode(w, msg)
				return
			}
			brEvents(w,
				[2]string{"messageStart", `{"role":"assistant"}`},
				[2]string{"contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"Second try"}}`},
				[2]string{"messageStop", `{"stopReason":"end_turn"}`},
				[2]string{"metadata", `{"usage":{"inputTokens":3,"outputTokens":2,"totalTokens":5}}`})
		})
		ts := natProxy(t, brProvider(t, up.URL, 1))
		res := natStream(t, newOpenAIClient(ts.Server, clientKey), openai.ChatCompletionNewParams{Model: brModel, Messages: natConversation("x")})
		res.checkOK(t, "Second try", "bedrock", 2)
		assert.Len(t, up.requests(), 2, "the router's one retry; none by the SDK")
	})

	t.Run("tool round trip", func(t *testing.T) {
		const final = "It is 18°C and sunny in Paris."
		up := newBrFake(t, func(w http.ResponseWriter, s brSeen) {
			msgs, _ := s.body["messages"].([]any)
			if _, ok := s.body["toolConfig"]; !ok {
				brError(w, 400, "ValidationException", "test fake: expected the toolConfig")
				return
			}
			if len(msgs) == 1 {
				brJSON(w, brAnswer(`[{"text":"Let me look that up."},{"toolUse":{"toolUseId":"`+brToolUse+`","name":"get_weather","input":{"location":"Paris","unit":"celsius"}}}]`, "tool_use", 380, 70))
				return
			}
			brJSON(w, brAnswer(`[{"text":"`+final+`"}]`, "end_turn", 460, 12))
		})
		ts := natProxy(t, brProvider(t, up.URL, 0))
		client := newOpenAIClient(ts.Server, clientKey)
		schema := shared.FunctionParameters{"type": "object", "properties": map[string]any{"location": map[string]any{"type": "string"}}, "required": []string{"location"}}
		tools := []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "get_weather", Description: openai.String("Get the current weather"), Parameters: schema,
		})}
		messages := natConversation("What's the weather in Paris?")
		resp, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{Model: brModel, Messages: messages, Tools: tools})
		require.NoError(t, err)
		msg := resp.Choices[0].Message
		assert.Equal(t, "tool_calls", resp.Choices[0].FinishReason)
		require.Len(t, msg.ToolCalls, 1)
		call := msg.ToolCalls[0]
		assert.Equal(t, brToolUse, call.ID)
		assert.Equal(t, "get_weather", call.Function.Name)
		assert.JSONEq(t, `{"location":"Paris","unit":"celsius"}`, call.Function.Arguments)

		messages = append(messages, msg.ToParam(), openai.ToolMessage(natToolResult, call.ID))
		resp, err = client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{Model: brModel, Messages: messages, Tools: tools})
		require.NoError(t, err)
		assert.Equal(t, final, resp.Choices[0].Message.Content)

		reqs := up.requests()
		require.Len(t, reqs, 2)
		wantSchema, _ := json.Marshal(schema)
		assert.JSONEq(t, `{"tools":[{"toolSpec":{"name":"get_weather","description":"Get the current weather","inputSchema":{"json":`+string(wantSchema)+`}}}]}`,
			mustJSON(t, reqs[0].body["toolConfig"]))
		assert.JSONEq(t, `[{"role":"user","content":[{"text":"What's the weather in Paris?"}]},
			{"role":"assistant","content":[{"text":"Let me look that up."},{"toolUse":{"toolUseId":"`+brToolUse+`","name":"get_weather","input":{"location":"Paris","unit":"celsius"}}}]},
			{"role":"user","content":[{"toolResult":{"toolUseId":"`+brToolUse+`","content":[{"text":`+mustJSON(t, natToolResult)+`}]}}]}]`,
			mustJSON(t, reqs[1].body["messages"]))
	})

	t.Run("embeddings", func(t *testing.T) {
		up := newBrFake(t, func(w http.ResponseWriter, s brSeen) {
			if s.op != "invoke" || s.model != brEmbed {
				brError(w, 404, "ResourceNotFoundException", "test fake: unknown model")
				return
			}
			text, _ := s.body["inputText"].(string)
			brJSON(w, `{"embedding":[`+strings.Repeat("0.5,", len(text))+`1],"inputTextTokenCount":`+mustJSON(t, len(text))+`}`)
		})
		ts := natProxy(t, brProvider(t, up.URL, 0))
		client := newOpenAIClient(ts.Server, clientKey)
		resp, err := client.Embeddings.New(t.Context(), openai.EmbeddingNewParams{
			Model: brEmbed, Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"ab", "abcd"}},
		})
		require.NoError(t, err)
		require.Len(t, resp.Data, 2)
		assert.Len(t, resp.Data[0].Embedding, 3)
		assert.Len(t, resp.Data[1].Embedding, 5)
		assert.Equal(t, int64(6), resp.Usage.PromptTokens)
		assert.Len(t, up.requests(), 2)
	})

	t.Run("error kinds", func(t *testing.T) {
		for _, c := range []struct {
			status int
			code   string
			want   int // the client's status
		}{
			{429, "ThrottlingException", 429},
			{400, "ServiceQuotaExceededException", 429},
			{400, "ValidationException", 400},
			{403, "AccessDeniedException", 502},
			{404, "ResourceNotFoundException", 404},
			{500, "InternalServerException", 500},
			{503, "ServiceUnavailableException", 503},
			{408, "ModelTimeoutException", 504},
		} {
			t.Run(c.code, func(t *testing.T) {
				up := newBrFake(t, func(w http.ResponseWriter, s brSeen) { brError(w, c.status, c.code, "upstream says "+c.code) })
				ts := natProxy(t, brProvider(t, up.URL, 0))
				client := newOpenAIClient(ts.Server, clientKey)
				_, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
					Model: brModel, Messages: natConversation("x"),
				})
				var apiErr *openai.Error
				require.True(t, errors.As(err, &apiErr), "%v", err)
				assert.Equal(t, c.want, apiErr.StatusCode)
				assert.Contains(t, apiErr.Message, "upstream says "+c.code)
				assert.Len(t, up.requests(), 1, "one request upstream: no SDK retry, max_retries 0")
			})
		}
	})

	t.Run("throttling is retried by the router only", func(t *testing.T) {
		var mu sync.Mutex
		calls := 0
		up := newBrFake(t, func(w http.ResponseWriter, s brSeen) {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			if n == 1 {
				brError(w, 429, "ThrottlingException", "Too many requests, please wait before trying again.")
				return
			}
			brJSON(w, brAnswer(`[{"text":"ok"}]`, "end_turn", 1, 1))
		})
		ts := natProxy(t, brProvider(t, up.URL, 1))
		client := newOpenAIClient(ts.Server, clientKey)
		resp, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{Model: brModel, Messages: natConversation("x")})
		require.NoError(t, err)
		assert.Equal(t, "ok", resp.Choices[0].Message.Content)
		assert.Equal(t, 2, getProxyInfo(t, []byte(resp.RawJSON())).AttemptNumber)
		assert.Len(t, up.requests(), 2)
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
