package peek_test

// Wire bytes as clients and upstreams send them, taken from the fixtures
// of the root package, of providers/openai and of the server's benchmarks.

// Requests.
const (
	benchRequest = `{"model":"bench-model","messages":[{"role":"system","content":"You are a helpful assistant."},` +
		`{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":64,"temperature":0}`
	benchStreamRequest = `{"model":"bench-model","messages":[{"role":"system","content":"You are a helpful assistant."},` +
		`{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":64,"temperature":0,` +
		`"stream":true,"stream_options":{"include_usage":true}}`
	simpleRequest = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello, proxy"}]}`
	paramsRequest = `{"model": "gpt-4o", "messages": [{"role": "system", "content": "You are terse."}, ` +
		`{"role": "user", "content": "Capital of France?"}], "temperature": 0.2, "top_p": 0.9, "max_tokens": 64, ` +
		`"n": 1, "stop": ["\n\n", "END"], "user": "u-42", "seed": 7}`
	toolsRequest = `{"model":"gpt-4.1","messages":[{"role":"user","content":"Weather in Paris?"},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"call_abc","type":"function","function":` +
		`{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},` +
		`{"role":"tool","tool_call_id":"call_abc","content":"{\"temp_c\":18}"}],` +
		`"tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather",` +
		`"parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},"strict":true}},` +
		`{"type":"web_search_preview","search_context_size":"low"}],"tool_choice":"auto","parallel_tool_calls":false}`
	imageRequest = `{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"What is in this image?"},` +
		`{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==","detail":"low"}},` +
		`{"type":"input_audio","input_audio":{"data":"UklGRiQAAABXQVZF","format":"wav"}}],"name":"alice"}],` +
		`"max_completion_tokens":300}`
	extrasRequest = `{"model":"sonar-pro","messages":[{"role":"user","content":"hi"}],"stream":true,` +
		`"stream_options":{"include_usage":true,"include_obfuscation":false},"reasoning_effort":"low",` +
		`"response_format":{"type":"json_schema","json_schema":{"name":"a","strict":true,"schema":{"type":"object"}}},` +
		`"logit_bias":{"50256":-100},"x_vendor":{"nested":[1,2,{"deep":null}],"flag":true},"search_domain_filter":["example.com"]}`
	assistantRequest = `{"model":"deepseek-reasoner","messages":[{"role":"user","content":"2+2?"},` +
		`{"role":"assistant","content":"4","reasoning_content":"adding","refusal":null,"tool_calls":"None"},` +
		`{"role":"user","content":"and 3+3?"}],"stop":"\n"}`
	caseVariantRequest = `{"model":"gpt-4o","Model":"other","messages":[{"role":"user","ROLE":"system","content":"hi"}],"STREAM":true}`
	escapesRequest     = `{"model":"m\u00e9","messages":[{"role":"user","content":"café \ud83d\ude00 <b>&amp;</b> \u2028"}],"temperature":0,"top_p":1e0}`
	prettyRequest      = "{\n  \"model\" : \"gpt-4o\",\r\n\t\"messages\" : [ { \"role\" : \"user\" , \"content\" : \"hi\" } ] ,\n  \"stream\" : false\n}\n"
)

// Whole answers.
const (
	benchAnswer = `{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model",` +
		`"system_fingerprint":"fp_bench","choices":[{"index":0,"message":{"role":"assistant",` +
		`"content":"Hello there! Here is a short answer from the benchmark upstream, with about twenty tokens of text.",` +
		`"refusal":null},"logprobs":null,"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":24,"completion_tokens":20,"total_tokens":44}}`
	openAIAnswer = `{
  "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
  "object": "chat.completion",
  "created": 1741570283,
  "model": "gpt-4o-mini-2024-07-18",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "Hello! How can I help you today?",
        "refusal": null,
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "prompt_tokens": 9,
    "completion_tokens": 10,
    "total_tokens": 19,
    "prompt_tokens_details": {
      "cached_tokens": 0,
      "audio_tokens": 0
    },
    "completion_tokens_details": {
      "reasoning_tokens": 0,
      "audio_tokens": 0,
      "accepted_prediction_tokens": 0,
      "rejected_prediction_tokens": 0
    }
  },
  "service_tier": "default",
  "system_fingerprint": "fp_06737a9306"
}
`
	perplexityAnswer = `{"id":"aec30d94-6b4e-4c0d-9a57-2b1f3c8e0d11","model":"sonar","created":1770768220,"usage":{"prompt_tokens":11,"completion_tokens":392,"total_tokens":403,"search_context_size":"low","citation_tokens":512,"num_search_queries":1,"cost":{"input_tokens_cost":0.0,"output_tokens_cost":0.0004,"request_cost":0.005,"total_cost":0.0054}},"citations":["https://go.dev/doc/","https://en.wikipedia.org/wiki/Go_(programming_language)"],"search_results":[{"title":"Documentation - The Go Programming Language","url":"https://go.dev/doc/","date":"2025-02-11","last_updated":"2025-06-30","snippet":"The Go programming language is an open source project.","source":"web"}],"object":"chat.completion","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Go is an open source programming language [1][2]."}}]}`
	blackboxAnswer   = `{"id":"gen-1770768220-Xk2","provider":"OpenAI","model":"blackboxai/openai/gpt-4","object":"chat.completion","created":1770768220,"choices":[{"logprobs":null,"finish_reason":"stop","native_finish_reason":"stop","index":0,"message":{"role":"assistant","content":"Hello! How can I help?","refusal":null,"reasoning":null,"tool_calls":"None","function_call":"None"},"provider_specific_fields":{"native_finish_reason":"stop"}}],"system_fingerprint":"None","usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16,"completion_tokens_details":"None","prompt_tokens_details":{"cached_tokens":0,"audio_tokens":"None"}}}`
	toolAnswer       = `{"id":"chatcmpl-W1","object":"chat.completion","created":1741570283,"model":"llama-3","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":4,"completion_tokens":3,"total_tokens":7},"x_vendor":1}`
	openRouterError  = `{"id":"gen-1770768300-abc","provider":"OpenAI","model":"openai/gpt-4o","object":"chat.completion","created":1770768300,"choices":[{"logprobs":null,"finish_reason":"error","native_finish_reason":"error","index":0,"message":{"role":"assistant","content":"","refusal":null}}],"error":{"code":502,"message":"Provider returned error","metadata":{"provider_name":"OpenAI","raw":"upstream connect error"}}}`
)

// Chunks (the data of SSE events).
const (
	benchChunk = `{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model",` +
		`"system_fingerprint":"fp_bench","choices":[{"index":0,"delta":{"content":" tok7"},"logprobs":null,"finish_reason":null}]}`
	roleChunk              = `{"id":"chatcmpl-C9x1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"k3J9"}`
	contentChunk           = `{"id":"chatcmpl-C9x1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"a1"}`
	stopChunk              = `{"id":"chatcmpl-C9x1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null,"obfuscation":"pL0"}`
	usageChunk             = `{"id":"chatcmpl-C9x1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"x"}`
	toolStartChunk         = `{"id":"chatcmpl-T1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4.1","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_Xy","type":"function","function":{"name":"get_weather","arguments":""}}],"refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}`
	toolArgsChunk          = `{"id":"chatcmpl-T1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4.1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}`
	toolStopChunk          = `{"id":"chatcmpl-T1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4.1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}`
	reasoningChunk         = `{"id":"gen-1","object":"chat.completion.chunk","created":1770768300,"model":"deepseek/deepseek-r1","provider":"DeepSeek","choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":"Let me think","reasoning_details":[{"type":"reasoning.text","text":"Let me think"}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}`
	blackboxChunk          = `{"id":"gen-1770768220-Xk2","provider":"OpenAI","model":"blackboxai/openai/gpt-4","object":"chat.completion.chunk","created":1770768220,"system_fingerprint":"None","choices":[{"index":0,"delta":{"role":"assistant","content":"None of it","tool_calls":"None","function_call":"None"},"finish_reason":null,"logprobs":"None"}]}`
	perplexityRunningUsage = `{"id":"8b1c","model":"sonar","created":1770768220,"usage":{"prompt_tokens":11,"completion_tokens":1,"total_tokens":12},"citations":["https://go.dev/doc/"],"object":"chat.completion.chunk","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","content":"Go"}}]}`
	perplexityDone         = `{"id":"8b1c","model":"sonar","created":1770768220,"usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14,"cost":{"total_cost":0.0054}},"citations":["https://go.dev/doc/"],"object":"chat.completion.done","choices":[{"index":0,"finish_reason":"stop","delta":{"role":"assistant","content":""}}]}`
	wholeAnswerChunk       = `{"id":"chatcmpl-W1","object":"chat.completion","created":1741570283,"model":"llama-3","choices":[{"index":0,"message":{"role":"assistant","content":"the whole answer"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":3,"total_tokens":7}}`
	midstreamError         = `{"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}`
)
