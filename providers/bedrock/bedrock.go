// Package bedrock provides the adapter for AWS Bedrock's Converse API.
// Importing the package registers the provider type "bedrock":
//
//	import _ "github.com/llmproxy/llmproxy/providers/bedrock"
//
// Clients keep speaking OpenAI's API; the provider translates each request
// to Bedrock's runtime API and each answer back:
//
//	chat completions   Converse        POST /model/{modelId}/converse
//	streamed chat      ConverseStream  POST /model/{modelId}/converse-stream
//	embeddings         InvokeModel     POST /model/{modelId}/invoke (Titan, Cohere embed)
//
// Signing (SigV4), the JSON protocol and the binary event-stream framing
// of ConverseStream are done by the AWS SDK for Go v2
// (service/bedrockruntime), never by hand. The model of a request is the
// Bedrock model id, inference profile id or ARN (e.g.
// "anthropic.claude-3-5-sonnet-20240620-v1:0",
// "us.amazon.nova-pro-v1:0").
//
// # Configuration and credentials
//
// aws_region names the region (e.g. us-east-1); without it the
// environment's AWS_REGION (or AWS_DEFAULT_REGION) is used, and a config
// that has neither is refused. base_url replaces the regional endpoint
// (https://bedrock-runtime.{region}.amazonaws.com), for a VPC endpoint or
// a test server; requests are still signed for the region.
//
// Credentials come, in this order of precedence, from:
//
//   - api_key_env: a Bedrock API key, sent as "Authorization: Bearer"
//     instead of a SigV4 signature;
//   - aws_access_key_id_env and aws_secret_access_key_env (and optionally
//     aws_session_token_env): the names of environment variables holding
//     static credentials, read when the provider is built;
//   - otherwise the AWS default credential chain (environment, shared
//     config and credentials files, SSO, web identity, ECS and EC2 roles),
//     resolved lazily and refreshed by the SDK.
//
// The SDK's own AWS_BEARER_TOKEN_BEDROCK variable is ignored unless
// api_key_env names it, so that a provider configured for SigV4 stays on
// SigV4. Credentials never appear in logs or errors.
//
// Requests go through an http.Client built by llmproxy.NewHTTPClient (the
// provider's connection pool, max_connections and keepalive_timeout). The
// SDK's retries are switched off (aws.NopRetryer, one attempt): the router
// decides retries and failover, and a request is never sent twice behind
// its back. custom_headers are added to every request before it is signed.
//
// # Chat requests
//
// System and developer messages become Converse's system blocks; user
// messages keep text and images (a base64 data URL of a PNG, JPEG, GIF or
// WebP image becomes an image block with its bytes; an s3:// URL becomes
// an S3 location; http(s) URLs are refused, since Bedrock does not fetch
// them); assistant messages keep their text and tool calls (toolUse blocks
// with the call's id, name and arguments as a JSON object); tool messages
// become toolResult blocks of a user message (a tool message with the
// non-standard member "status":"error" becomes a toolResult whose status
// is error). Consecutive messages of the same role are merged, as Converse
// wants user and assistant turns to alternate, and a user turn's tool
// results come first. Empty text is left out, since Bedrock refuses blank
// text blocks.
//
// max_completion_tokens (else max_tokens, else the provider's
// default_max_tokens if set) becomes inferenceConfig.maxTokens;
// temperature (lowered to 1 when above, as Bedrock's models take 0–1),
// top_p and stop (stopSequences) go to inferenceConfig. Function tools
// become toolSpec tools with their parameters as inputSchema.json;
// tool_choice "auto", "required" and a named function become auto, any
// and tool. tool_choice "none" sends no tools, unless the conversation
// already holds tool calls or results, for which Bedrock requires the
// tool configuration: then the tools are sent without a choice.
//
// n above 1, logprobs, top_logprobs, response_format json_schema, content
// parts other than text and images, and non-function tools are refused
// with a 400 (llmproxy.KindInvalidRequest naming the member) rather than
// answered differently than asked. A client may pass Bedrock's own
// additionalModelRequestFields (e.g. {"top_k":50} or a thinking budget)
// as the member additional_model_request_fields, and a guardrail as
// guardrail_config ({"guardrailIdentifier","guardrailVersion","trace"}).
// Other OpenAI members without a Converse meaning (user, seed,
// presence_penalty, …) are dropped.
//
// # Chat answers
//
// Text blocks are joined into the content; toolUse blocks become
// tool_calls (arguments: the input as compact JSON); reasoning blocks
// become the non-standard reasoning_content member. Stop reasons:
// end_turn and stop_sequence → stop; tool_use → tool_calls; max_tokens
// and model_context_window_exceeded → length; guardrail_intervened and
// content_filtered → content_filter; anything else → stop. Usage counts
// cache reads and writes as prompt tokens, as OpenAI does: prompt_tokens
// is inputTokens + cacheReadInputTokens + cacheWriteInputTokens, with
// the cache reads as prompt_tokens_details.cached_tokens. Converse has no
// message id: the completion's id is "chatcmpl-" and the AWS request id.
//
// # Streams
//
// ConverseStream's events are translated by a per-request state machine:
// messageStart gives the role chunk; contentBlockStart of a toolUse block
// announces a tool call (index, id, name); contentBlockDelta gives text,
// tool arguments or reasoning; messageStop gives the finish chunk; the
// metadata event (usage) gives a usage chunk with no choices, and ends
// the stream. The end of the body before messageStop is a cut stream
// (KindUnavailable), even where it falls on a frame boundary, which the
// SDK itself reports as a clean end; the end of the body after messageStop
// but before metadata ends the stream cleanly without usage. Exception
// events (throttlingException, modelStreamErrorException,
// internalServerException, serviceUnavailableException,
// validationException) end the stream with the error of their kind.
//
// # Embeddings
//
// input (a string or a list of strings) is embedded with InvokeModel. For
// Amazon Titan text embeddings (amazon.titan-embed-text-v1, -v2:0 and
// other ids containing "titan-embed") each string is one call, in order;
// dimensions is sent for v2 models. For Cohere embed models on Bedrock
// (ids containing "cohere.embed") the strings are sent in batches of 96
// with input_type (the client's own input_type member, else the
// provider's embedding_input_type, else "search_document"); dimensions
// becomes output_dimension. Other models are refused with a 400. Usage
// is Titan's inputTextTokenCount, or Bedrock's
// X-Amzn-Bedrock-Input-Token-Count header for Cohere.
//
// # Errors
//
// Errors of the SDK become *llmproxy.Error values by their AWS error code:
// ThrottlingException and ServiceQuotaExceededException are
// KindRateLimited; ValidationException is KindInvalidRequest;
// AccessDeniedException, UnrecognizedClientException and the other
// signature and token errors are KindAuth, as is a failure to obtain
// credentials; ResourceNotFoundException is KindNotFound;
// ModelNotReadyException, ModelErrorException, ModelStreamErrorException,
// InternalServerException and ServiceUnavailableException are
// KindUnavailable; ModelTimeoutException is KindTimeout. Other codes are
// classified by their HTTP status (llmproxy.KindFromStatus). Network
// failures and the caller's cancellation are classified as for every
// provider (llmproxy.TransportError).
//
// Bedrock has no model list and no check that costs nothing in its
// runtime API, so the provider implements neither llmproxy.ModelLister nor
// llmproxy.HealthChecker; it is watched from live traffic.
package bedrock

import (
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/llmproxy/llmproxy"
)

func init() {
	llmproxy.RegisterProviderType("bedrock", func(cfg llmproxy.ProviderConfig) (llmproxy.Provider, error) {
		return New(cfg)
	})
}

// Provider talks to AWS Bedrock's runtime API through the AWS SDK. It
// implements llmproxy.Provider, llmproxy.ChatStreamer, llmproxy.Embedder
// and llmproxy.Closer. It holds no mutable state beyond the SDK client's
// connection pool and credential cache and is safe for concurrent use.
type Provider struct {
	name       string
	region     string
	client     *bedrockruntime.Client
	httpClient interface{ CloseIdleConnections() }
	maxTokens  int
	inputType  string
	// secrets are the credentials the provider holds, redacted from any
	// upstream message kept in an error. A pointer, so that printing the
	// provider shows an address, never them.
	secrets *[]string
}

var (
	_ llmproxy.Provider     = (*Provider)(nil)
	_ llmproxy.ChatStreamer = (*Provider)(nil)
	_ llmproxy.Embedder     = (*Provider)(nil)
	_ llmproxy.Closer       = (*Provider)(nil)
)

// Name returns the provider's configured name.
func (p *Provider) Name() string { return p.name }

// Region returns the AWS region requests are signed for.
func (p *Provider) Region() string { return p.region }

// Close closes the provider's idle connections; in-flight requests finish.
// It may be called more than once and concurrently with requests. It always
// returns nil.
func (p *Provider) Close() error {
	p.httpClient.CloseIdleConnections()
	return nil
}
