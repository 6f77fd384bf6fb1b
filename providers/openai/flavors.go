package openai

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/llmproxy/llmproxy"
)

// capabilities is the set of optional abilities a flavor's upstream has
// besides chat completions.
type capabilities uint8

const (
	// capCatalog: GET /models and a health check that costs no tokens.
	capCatalog capabilities = 1 << iota
	// capCompletions: legacy completions (POST /completions).
	capCompletions
	// capEmbeddings: embeddings (POST /embeddings).
	capEmbeddings

	// capsChatOnly: chat completions only (perplexity, blackbox).
	capsChatOnly capabilities = 0
	// capsNoEmbeddings: everything but embeddings (grok).
	capsNoEmbeddings = capCatalog | capCompletions
	// capsAll: every endpoint (openai, openrouter, …).
	capsAll = capCatalog | capCompletions | capEmbeddings
)

// flavor describes one OpenAI-format upstream: where it lives, which
// endpoints it has and the quirks the adapter works around. Flavors are
// immutable and shared by every provider of their type.
type flavor struct {
	name    string // the provider type name
	baseURL string // the default base URL, without a trailing slash

	// chatPath is the chat completions path below the base URL.
	chatPath string
	// caps selects the optional abilities; with capCatalog, healthPath
	// is set.
	caps capabilities
	// healthPath is a GET path below the base URL that costs no tokens
	// and fails when the key is bad.
	healthPath string

	// streamUsage reports whether the upstream honours
	// stream_options.include_usage, which the adapter then always sets.
	streamUsage bool

	// fixChat, when set, returns the request to send for req: req itself
	// when it needs no change, or a changed copy (req is never modified).
	fixChat func(req *llmproxy.ChatRequest) *llmproxy.ChatRequest
	// normalize, when set, rewrites a successful answer's bytes (a whole
	// answer, or one chunk's data) before they are decoded and handed on;
	// an *llmproxy.Error it returns is the request's outcome.
	normalize func(body []byte) ([]byte, error)
	// healthProblem, when set, inspects the 2xx answer of the health
	// check and returns an error when it reports an unusable key.
	healthProblem func(p *Provider, body []byte) error
	// fixError, when set, corrects the classification of an upstream
	// error whose status does not tell the whole story; body is the
	// error's body.
	fixError func(e *llmproxy.Error, body []byte)
	// fixBody, when set, returns the chat request body to send for body:
	// body itself when it needs no change, else an edited copy (body is
	// never modified). An *llmproxy.Error it returns goes to the client.
	// It works on bytes, so that the raw path edits only the members it
	// must (see presets.go).
	fixBody func(body []byte) ([]byte, error)

	// keyEnv is the api_key_env of a provider of the type that names
	// none (see llmproxy.ProviderTypeDefaults); empty for the types
	// whose provider may run without a key.
	keyEnv []string
	// needsBaseURL makes base_url required: the type has no endpoint of
	// its own (baseURL is empty).
	needsBaseURL bool
}

// ownFlavors are the flavors of the upstreams the adapter was written for.
var ownFlavors = []*flavor{
	{
		name:        "openai",
		baseURL:     "https://api.openai.com/v1",
		chatPath:    "/chat/completions",
		caps:        capsAll,
		healthPath:  "/models",
		streamUsage: true,
	},
	{
		// Perplexity has no model list, no free endpoint and no
		// OpenAI-compatible embeddings (they are base64 int8), and it
		// insists on user/assistant alternation.
		name:     "perplexity",
		baseURL:  "https://api.perplexity.ai",
		chatPath: "/chat/completions",
		caps:     capsChatOnly,
		fixChat:  mergeForAlternation,
	},
	{
		// xAI's errors are not OpenAI-shaped and misuse statuses; its
		// key check is GET /v1/api-key. Embeddings are not documented.
		name:          "grok",
		baseURL:       "https://api.x.ai/v1",
		chatPath:      "/chat/completions",
		caps:          capsNoEmbeddings,
		healthPath:    "/api-key",
		healthProblem: xaiKeyProblem,
		fixError:      fixXAIError,
		streamUsage:   true,
	},
	{
		name:          "openrouter",
		baseURL:       "https://openrouter.ai/api/v1",
		chatPath:      "/chat/completions",
		caps:          capsAll,
		healthPath:    "/key",
		healthProblem: openRouterKeyProblem,
		streamUsage:   true,
	},
	{
		// Blackbox answers through a Python layer that writes "None"
		// for null; it has no documented model list or free endpoint.
		name:      "blackbox",
		baseURL:   "https://api.blackbox.ai",
		chatPath:  "/chat/completions",
		caps:      capsChatOnly,
		normalize: normalizeNone,
	},
}

// flavors lists the supported flavors; init registers one provider type for
// each: the original ones, Azure (azure.go) and the presets (presets.go).
var flavors = slices.Concat(ownFlavors, []*flavor{azureFlavor}, presets)

func flavorByName(name string) (*flavor, bool) {
	for _, f := range flavors {
		if f.name == name {
			return f, true
		}
	}
	return nil, false
}

func flavorNames() []string {
	names := make([]string, len(flavors))
	for i, f := range flavors {
		names[i] = f.name
	}
	return names
}

// fixXAIError reclassifies xAI's errors: a bad key comes as 400 (made an
// authentication failure with status 401), and exhausted credits or a
// reached spending limit come as 429 or 403 (made quota errors, which
// waiting does not cure).
func fixXAIError(e *llmproxy.Error, _ []byte) {
	msg := strings.ToLower(e.Message)
	switch {
	case e.Status == 400 && strings.Contains(msg, "api key"):
		e.Kind = llmproxy.KindAuth
		e.Status = 401
	case (e.Status == 429 || e.Status == 403) &&
		(strings.Contains(msg, "credits") || strings.Contains(msg, "spending limit")):
		e.Kind = llmproxy.KindQuotaExceeded
	}
}

// xaiKeyProblem reads xAI's GET /api-key answer, which is a 200 even for a
// key that is blocked or disabled, and reports such a key as KindAuth.
func xaiKeyProblem(p *Provider, body []byte) error {
	var info struct {
		APIKeyBlocked  bool `json:"api_key_blocked"`
		APIKeyDisabled bool `json:"api_key_disabled"`
		TeamBlocked    bool `json:"team_blocked"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return p.invalidAnswer(err)
	}
	if info.APIKeyBlocked || info.APIKeyDisabled || info.TeamBlocked {
		return &llmproxy.Error{Kind: llmproxy.KindAuth, Status: 401, Provider: p.name,
			Message: "the API key or its team is blocked or disabled"}
	}
	return nil
}

// openRouterKeyProblem reads OpenRouter's GET /key answer and reports a key
// whose credit limit is used up as KindQuotaExceeded. A null
// limit_remaining means the key has no limit.
func openRouterKeyProblem(p *Provider, body []byte) error {
	var info struct {
		Data struct {
			LimitRemaining *float64 `json:"limit_remaining"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return p.invalidAnswer(err)
	}
	if r := info.Data.LimitRemaining; r != nil && *r <= 0 {
		return &llmproxy.Error{Kind: llmproxy.KindQuotaExceeded, Status: 402, Provider: p.name,
			Message: "the API key's credit limit is used up"}
	}
	return nil
}
