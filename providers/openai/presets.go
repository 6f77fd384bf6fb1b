package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/llmproxy/llmproxy"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// presets are OpenAI-compatible upstreams that need only a key (or, for
// local servers, an address): each has its vendor's default base URL and
// key variables, and works around the quirks its vendor documents. The
// quirks that need a request changed are edits of its bytes (fixBody), so
// that everything else the client sent passes through untouched.
var presets = []*flavor{
	{
		// Mistral rejects members it does not know with 422
		// extra_forbidden: stream_options (it sends the usage in the
		// last chunk anyway), max_completion_tokens (its name is
		// max_tokens) and seed (its name is random_seed). Its
		// finish_reason "model_length" (the model's context is full)
		// is OpenAI's "length".
		name:       "mistral",
		baseURL:    "https://api.mistral.ai/v1",
		chatPath:   epChat,
		caps:       capCatalog | capEmbeddings,
		healthPath: epModels,
		fixBody:    fixMistralBody,
		normalize:  normalizeMistral,
		keyEnv:     []string{"MISTRAL_API_KEY", "PROXY_API_MISTRAL_API_KEY"},
	},
	{
		// Groq answers 400 to logprobs, logit_bias, top_logprobs,
		// messages[].name and an n other than 1
		// (https://console.groq.com/docs/openai). It has no legacy
		// completions or embeddings.
		name:        "groq",
		baseURL:     "https://api.groq.com/openai/v1",
		chatPath:    epChat,
		caps:        capCatalog,
		healthPath:  epModels,
		streamUsage: true,
		fixBody:     fixGroqBody,
		keyEnv:      []string{"GROQ_API_KEY", "PROXY_API_GROQ_API_KEY"},
	},
	{
		// DeepSeek's reasoning_content passes through both ways (its
		// thinking mode wants it back on tool-call turns); under load
		// it holds a request open with blank lines (whole answers) or
		// ": keep-alive" comments (streams), which the adapter skips.
		// GET /user/balance is free and says whether the balance can
		// pay for requests. An answer cut short with finish_reason
		// "insufficient_system_resource" is DeepSeek running out of
		// capacity: an unavailable upstream, not a whole answer.
		name:          "deepseek",
		baseURL:       "https://api.deepseek.com",
		chatPath:      epChat,
		caps:          capCatalog,
		healthPath:    "/user/balance",
		healthProblem: deepseekBalanceProblem,
		normalize:     normalizeDeepSeek,
		streamUsage:   true,
		keyEnv:        []string{"DEEPSEEK_API_KEY", "PROXY_API_DEEPSEEK_API_KEY"},
	},
	{
		// Together lists its models as a bare JSON array (listModels
		// reads either shape).
		name:       "together",
		baseURL:    "https://api.together.xyz/v1",
		chatPath:   epChat,
		caps:       capsAll,
		healthPath: epModels,
		keyEnv:     []string{"TOGETHER_API_KEY", "PROXY_API_TOGETHER_API_KEY"},
	},
	{
		// Fireworks sends a stream's usage in its last chunk (the one
		// with the finish reason) without being asked.
		name:       "fireworks",
		baseURL:    "https://api.fireworks.ai/inference/v1",
		chatPath:   epChat,
		caps:       capsAll,
		healthPath: epModels,
		keyEnv:     []string{"FIREWORKS_API_KEY", "PROXY_API_FIREWORKS_API_KEY"},
	},
	{
		// A local Ollama server needs no key.
		name:        "ollama",
		baseURL:     "http://localhost:11434/v1",
		chatPath:    epChat,
		caps:        capsAll,
		healthPath:  epModels,
		streamUsage: true,
	},
	{
		// vLLM listens where it was started; a key only if it was
		// started with one (give api_key_env then).
		name:         "vllm",
		chatPath:     epChat,
		caps:         capsAll,
		healthPath:   epModels,
		streamUsage:  true,
		needsBaseURL: true,
	},
	{
		// LM Studio refuses response_format {"type":"json_object"}
		// ("'response_format.type' must be 'json_schema' or 'text'"):
		// it is sent as the equivalent JSON schema, any object.
		name:         "lmstudio",
		chatPath:     epChat,
		caps:         capsAll,
		healthPath:   epModels,
		fixBody:      fixLMStudioBody,
		needsBaseURL: true,
	},
}

// renameMember returns body with member from renamed to to: moved when to
// is absent, dropped when to is set (the vendor's own name wins) or from
// is null.
func renameMember(body []byte, from, to string) ([]byte, error) {
	v := gjson.GetBytes(body, from)
	if !v.Exists() {
		return body, nil
	}
	var err error
	if v.Type != gjson.Null && !gjson.GetBytes(body, to).Exists() {
		if body, err = sjson.SetRawBytes(body, to, []byte(v.Raw)); err != nil {
			return nil, err
		}
	}
	return sjson.DeleteBytes(body, from)
}

// fixMistralBody drops stream_options and renames max_completion_tokens
// and seed to Mistral's max_tokens and random_seed.
func fixMistralBody(body []byte) ([]byte, error) {
	var err error
	if gjson.GetBytes(body, "stream_options").Exists() {
		if body, err = sjson.DeleteBytes(body, "stream_options"); err != nil {
			return nil, err
		}
	}
	if body, err = renameMember(body, "max_completion_tokens", "max_tokens"); err != nil {
		return nil, err
	}
	return renameMember(body, "seed", "random_seed")
}

// modelLength is Mistral's finish reason for an answer cut by the model's
// context length.
var modelLength = []byte(`"model_length"`)

// normalizeMistral rewrites the finish_reason "model_length" of an
// answer's or a chunk's choices to OpenAI's "length"; anything else is
// returned as it is.
func normalizeMistral(b []byte) ([]byte, error) {
	if !bytes.Contains(b, modelLength) {
		return b, nil
	}
	var err error
	for i, ch := range gjson.GetBytes(b, "choices").Array() {
		if ch.Get("finish_reason").Str == "model_length" {
			if b, err = sjson.SetBytes(b, "choices."+strconv.Itoa(i)+".finish_reason", "length"); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// insufficientResource is DeepSeek's finish reason for an answer its
// inference system cut short for lack of resources.
var insufficientResource = []byte(`"insufficient_system_resource"`)

// normalizeDeepSeek makes an answer or chunk whose choice finished with
// "insufficient_system_resource" a KindUnavailable error, so that the
// router retries or fails over before a stream is committed, and a
// committed stream ends with an error rather than as if it were whole.
func normalizeDeepSeek(b []byte) ([]byte, error) {
	if !bytes.Contains(b, insufficientResource) {
		return b, nil
	}
	for _, ch := range gjson.GetBytes(b, "choices").Array() {
		if ch.Get("finish_reason").Str == "insufficient_system_resource" {
			return nil, &llmproxy.Error{Kind: llmproxy.KindUnavailable, Status: http.StatusServiceUnavailable,
				Code:    "insufficient_system_resource",
				Message: "DeepSeek interrupted the answer: its inference system ran out of resources (finish_reason insufficient_system_resource)"}
		}
	}
	return b, nil
}

// fixGroqBody removes what Groq refuses but the request does not need:
// messages' names (labels of the participants) and the members that ask
// for nothing (logprobs false, n 1, an empty logit_bias, top_logprobs 0,
// or null), which SDKs and frameworks often send. A request that asks for
// what Groq cannot do (logprobs, logit_bias, top_logprobs or several
// choices) is an invalid request, answered without a round trip.
func fixGroqBody(body []byte) ([]byte, error) {
	var err error
	for _, m := range []struct {
		name  string
		asks  func(gjson.Result) bool
		needs string
	}{
		{"logprobs", func(v gjson.Result) bool { return v.Type == gjson.True }, "log probabilities"},
		{"top_logprobs", func(v gjson.Result) bool { return v.Type == gjson.Number && v.Num != 0 }, "log probabilities"},
		{"logit_bias", func(v gjson.Result) bool { return v.IsObject() && len(v.Map()) > 0 }, "logit biases"},
		{"n", func(v gjson.Result) bool { return v.Type == gjson.Number && v.Num != 1 }, "more than one choice"},
	} {
		v := gjson.GetBytes(body, m.name)
		if !v.Exists() {
			continue
		}
		if m.asks(v) {
			return nil, &llmproxy.Error{Kind: llmproxy.KindInvalidRequest, Status: http.StatusBadRequest,
				Type: "invalid_request_error", Code: "unsupported_parameter", Param: m.name,
				Message: fmt.Sprintf("groq does not support `%s` (%s): its OpenAI-compatible API rejects it", m.name, m.needs)}
		}
		if body, err = sjson.DeleteBytes(body, m.name); err != nil {
			return nil, err
		}
	}
	for i, msg := range gjson.GetBytes(body, "messages").Array() {
		if msg.Get("name").Exists() {
			if body, err = sjson.DeleteBytes(body, "messages."+strconv.Itoa(i)+".name"); err != nil {
				return nil, err
			}
		}
	}
	return body, nil
}

// anyObjectSchema is response_format {"type":"json_object"} said as a JSON
// schema: any object.
var anyObjectSchema = []byte(`{"type":"json_schema","json_schema":{"name":"json_object","schema":{"type":"object"}}}`)

// fixLMStudioBody sends response_format {"type":"json_object"} as the
// equivalent JSON schema, which LM Studio accepts.
func fixLMStudioBody(body []byte) ([]byte, error) {
	if gjson.GetBytes(body, "response_format.type").Str != "json_object" {
		return body, nil
	}
	return sjson.SetRawBytes(body, "response_format", anyObjectSchema)
}

// deepseekBalanceProblem reads DeepSeek's GET /user/balance answer and
// reports a balance that cannot pay for requests (is_available false) as
// KindQuotaExceeded, like the 402 "Insufficient Balance" of its requests.
func deepseekBalanceProblem(p *Provider, body []byte) error {
	var info struct {
		IsAvailable *bool `json:"is_available"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return p.invalidAnswer(err)
	}
	if info.IsAvailable != nil && !*info.IsAvailable {
		return &llmproxy.Error{Kind: llmproxy.KindQuotaExceeded, Status: http.StatusPaymentRequired, Provider: p.name,
			Message: "the DeepSeek account's balance is insufficient"}
	}
	return nil
}
