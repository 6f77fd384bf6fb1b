package openai

// Wire bytes as the upstreams send them (see the provider wire-format
// reference). Upstream mocks in the tests answer with exactly these bytes.

// openAIChat is an OpenAI chat completion, pretty-printed as OpenAI sends
// it, with usage details and members the proxy does not model.
const openAIChat = `{
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

// perplexityChat is a Sonar answer with its top-level citations and
// search_results and its extended usage.
const perplexityChat = `{"id":"aec30d94-6b4e-4c0d-9a57-2b1f3c8e0d11","model":"sonar","created":1770768220,"usage":{"prompt_tokens":11,"completion_tokens":392,"total_tokens":403,"search_context_size":"low","citation_tokens":512,"num_search_queries":1,"cost":{"input_tokens_cost":0.0,"output_tokens_cost":0.0004,"request_cost":0.005,"total_cost":0.0054}},"citations":["https://go.dev/doc/","https://en.wikipedia.org/wiki/Go_(programming_language)"],"search_results":[{"title":"Documentation - The Go Programming Language","url":"https://go.dev/doc/","date":"2025-02-11","last_updated":"2025-06-30","snippet":"The Go programming language is an open source project.","source":"web"}],"object":"chat.completion","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Go is an open source programming language [1][2]."}}]}`

// blackboxChat is a Blackbox answer written by its Python layer, with
// "None" where null is meant.
const blackboxChat = `{"id":"gen-1770768220-Xk2","provider":"OpenAI","model":"blackboxai/openai/gpt-4","object":"chat.completion","created":1770768220,"choices":[{"logprobs":null,"finish_reason":"stop","native_finish_reason":"stop","index":0,"message":{"role":"assistant","content":"Hello! How can I help?","refusal":null,"reasoning":null,"tool_calls":"None","function_call":"None"},"provider_specific_fields":{"native_finish_reason":"stop"}}],"system_fingerprint":"None","usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16,"completion_tokens_details":"None","prompt_tokens_details":{"cached_tokens":0,"audio_tokens":"None"}}}`

// blackboxChatNormalized is blackboxChat with its "None" values made null.
const blackboxChatNormalized = `{"id":"gen-1770768220-Xk2","provider":"OpenAI","model":"blackboxai/openai/gpt-4","object":"chat.completion","created":1770768220,"choices":[{"logprobs":null,"finish_reason":"stop","native_finish_reason":"stop","index":0,"message":{"role":"assistant","content":"Hello! How can I help?","refusal":null,"reasoning":null,"tool_calls":null,"function_call":null},"provider_specific_fields":{"native_finish_reason":"stop"}}],"system_fingerprint":null,"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16,"completion_tokens_details":null,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":null}}}`

// openAICompletion is a legacy text completion.
const openAICompletion = `{"id":"cmpl-7QmVI15qgYVllxK0FtxVGG6ywfzaq","object":"text_completion","created":1686617332,"model":"gpt-3.5-turbo-instruct","choices":[{"text":"\n\nThis is indeed a test","index":0,"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`

// openAIEmbeddingsFloat and openAIEmbeddingsBase64 are the two forms of an
// embeddings answer; the base64 one holds the float32s 1.5, -2 and 0.25.
const (
	openAIEmbeddingsFloat  = `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023064255,-0.009327292,0.015797347]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}`
	openAIEmbeddingsBase64 = `{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AADAPwAAAMAAAIA+"}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}`
)

// Model lists: OpenAI's, and OpenRouter's, whose entries lack object and
// owned_by.
const (
	openAIModels     = `{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"},{"id":"text-embedding-3-small","object":"model","created":1705948997,"owned_by":"system"}]}`
	openRouterModels = `{"data":[{"id":"anthropic/claude-sonnet-4.5","canonical_slug":"anthropic/claude-4.5-sonnet-20250929","name":"Anthropic: Claude Sonnet 4.5","created":1759161676,"context_length":1000000,"pricing":{"prompt":"0.000003","completion":"0.000015"}},{"id":"openai/gpt-4o","name":"OpenAI: GPT-4o","created":1715367049,"context_length":128000,"pricing":{"prompt":"0.0000025","completion":"0.00001"}}]}`
)

// Health answers: xAI's key info and OpenRouter's key info.
const (
	xaiAPIKey        = `{"redacted_api_key":"xai-...3fZk","user_id":"3a1b2c3d-0000-4000-8000-000000000001","name":"llmproxy","create_time":"2025-03-01T10:00:00.000000Z","modify_time":"2025-03-01T10:00:00.000000Z","modified_by":"3a1b2c3d-0000-4000-8000-000000000001","team_id":"7e8f9a0b-0000-4000-8000-000000000002","acls":["api-key:model:*","api-key:endpoint:*"],"api_key_id":"9c8d7e6f-0000-4000-8000-000000000003","team_blocked":false,"api_key_blocked":false,"api_key_disabled":false}`
	xaiAPIKeyBlocked = `{"redacted_api_key":"xai-...3fZk","user_id":"3a1b2c3d-0000-4000-8000-000000000001","name":"llmproxy","team_id":"7e8f9a0b-0000-4000-8000-000000000002","acls":[],"team_blocked":false,"api_key_blocked":true,"api_key_disabled":false}`
	openRouterKey    = `{"data":{"label":"sk-or-v1-0e6...b7d","limit":null,"usage":0.2531,"usage_daily":0.01,"is_free_tier":false,"limit_remaining":null,"limit_reset":null,"rate_limit":{"requests":-1,"interval":"10s"}}}`
	openRouterKeyOut = `{"data":{"label":"sk-or-v1-0e6...b7d","limit":5,"usage":5.0001,"is_free_tier":false,"limit_remaining":0,"rate_limit":{"requests":-1,"interval":"10s"}}}`
)

// Error bodies.
const (
	openAIBadKey        = `{"error":{"message":"Incorrect API key provided: sk-test***-123. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`
	openAIContextLength = `{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130213 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`
	openAIRateLimit     = `{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-abc123 on tokens per min (TPM): Limit 200000, Used 199800, Requested 500. Please try again in 408ms. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`
	openAIQuota         = `{"error":{"message":"You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`
	openAIServerError   = `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`
	openAIModelNotFound = `{"error":{"message":"The model ` + "`gpt-5-turbo`" + ` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`
	perplexityBadModel  = `{"error":{"message":"Invalid model 'sonar-ultra'. Permitted models can be found in the documentation at https://docs.perplexity.ai/guides/model-cards.","type":"invalid_model","code":400}}`
	xaiBadKey           = `{"code":"Client specified an invalid argument","error":"Incorrect API key provided: xa***ab. You can obtain an API key from https://console.x.ai."}`
	xaiNoCredits        = `{"code":"Some resource has been exhausted","error":"Your team 7e8f9a0b-0000-4000-8000-000000000002 has either used all available credits or reached its monthly spending limit. To continue making API requests, please purchase more credits or raise your spending limit."}`
	openRouterModerated = `{"error":{"code":403,"message":"openai/gpt-4o requires moderation on OpenAI. Your input was flagged for \"violence\".","metadata":{"reasons":["violence"],"flagged_input":"how to...","provider_name":"OpenAI","model_slug":"openai/gpt-4o"}},"user_id":"user_2yhHCZPLAF6jAp8GSK1ulLPMsUh"}`
	openRouterCredits   = `{"error":{"code":402,"message":"This request requires more credits, or fewer max_tokens. You requested up to 4096 tokens, but can only afford 1187. To increase, visit https://openrouter.ai/settings/credits and upgrade to a paid account","metadata":{}}}`
	openRouterEmbedded  = `{"id":"gen-1770768300-abc","provider":"OpenAI","model":"openai/gpt-4o","object":"chat.completion","created":1770768300,"choices":[{"logprobs":null,"finish_reason":"error","native_finish_reason":"error","index":0,"message":{"role":"assistant","content":"","refusal":null}}],"error":{"code":502,"message":"Provider returned error","metadata":{"provider_name":"OpenAI","raw":"upstream connect error"}}}`
	vllmNotFound        = `{"object":"error","message":"The model ` + "`llama-3-70b`" + ` does not exist.","type":"NotFoundError","param":null,"code":404}`
	vllmBadRequest      = `{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.","type":"BadRequestError","param":null,"code":400}`
	cloudflare502       = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)
