package llmproxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path"
	"runtime/debug"
	"strings"
	"time"
)

// Config is the whole configuration of a proxy: the global settings and the
// providers. It mirrors config.yaml (see LoadConfig and the README's
// configuration reference). Durations are time.Duration in Go and seconds
// (numbers) in the file. A zero field takes the default given in its
// comment, so a Config built in code needs only its Providers.
type Config struct {
	AppName string `mapstructure:"app_name"` // default "llmproxy"
	// AppVersion is reported by /health; default the version of the
	// llmproxy module in the program's build information (a tag such as
	// v1.2.0, or a pseudo-version from the commit a binary was built
	// from), or "dev" when the build has none (go run, tests).
	AppVersion string `mapstructure:"app_version"`
	Debug      bool   `mapstructure:"debug"` // debug logging (overrides LogLevel)

	// Host is the listen address of the server; default "127.0.0.1", so
	// that only this machine can reach it. "0.0.0.0" (or "::") listens on
	// every interface: set APIKeys first, since anyone who can reach the
	// port can otherwise spend the providers' keys.
	Host string `mapstructure:"host"`
	Port int    `mapstructure:"port"` // listen port of the server; default 8000

	// TLSCertFile and TLSKeyFile, when both set, make the server speak TLS
	// (with HTTP/2); without them it speaks HTTP/1.1 and cleartext HTTP/2.
	TLSCertFile string `mapstructure:"tls_cert_file"`
	TLSKeyFile  string `mapstructure:"tls_key_file"`

	// APIKeys are the keys clients must present; empty disables auth.
	APIKeys []string `mapstructure:"api_keys"`
	// APIKeyHeader is the header that carries a client key besides
	// "Authorization: Bearer"; default "X-API-Key".
	APIKeyHeader string `mapstructure:"api_key_header"`
	// CORSOrigins are the origins allowed by CORS; "*" allows any; empty
	// sends no CORS headers.
	CORSOrigins []string `mapstructure:"cors_origins"`

	// RateLimitRPM is the number of requests a client may make per
	// RateLimitWindow across all endpoints, on top of the per-endpoint
	// limits; 0 (the default, in code and in a config file) means no
	// global limit.
	RateLimitRPM    int           `mapstructure:"rate_limit_rpm"`
	RateLimitWindow time.Duration `mapstructure:"rate_limit_window"` // default 60 s

	// RateLimitChatRPM, RateLimitCompletionsRPM and RateLimitEmbeddingsRPM
	// are the requests a client may make per minute to
	// /v1/chat/completions, /v1/completions and /v1/embeddings, on top of
	// the global limit. 0 means no limit. A config file that does not set
	// them gets DefaultRateLimitChatRPM (100), DefaultRateLimitCompletionsRPM
	// (100) and DefaultRateLimitEmbeddingsRPM (200); in Go, 0 stays 0. A
	// client is its API key when api_keys is set, its IP address otherwise.
	RateLimitChatRPM        int `mapstructure:"rate_limit_chat_rpm"`
	RateLimitCompletionsRPM int `mapstructure:"rate_limit_completions_rpm"`
	RateLimitEmbeddingsRPM  int `mapstructure:"rate_limit_embeddings_rpm"`
	// RateLimitResponsesRPM is the requests a client may make per minute to
	// POST /v1/responses (the Responses front), on top of the global
	// limit; 0 means no limit. A config file that does not set it gets
	// DefaultRateLimitResponsesRPM (100); in Go, 0 stays 0.
	RateLimitResponsesRPM int `mapstructure:"rate_limit_responses_rpm"`

	// Anthropic Messages front.
	//
	// RateLimitMessagesRPM is the requests a client may make per minute
	// to POST /v1/messages and /v1/messages/count_tokens together, as the
	// other per-endpoint limits (a config file that does not set it gets
	// DefaultRateLimitMessagesRPM, 100).
	RateLimitMessagesRPM int `mapstructure:"rate_limit_messages_rpm"`

	// TrustedProxies lists the reverse proxies (IP addresses or CIDR
	// ranges) whose X-Forwarded-For names the client for the rate limits.
	// Empty means the peer address of the connection is the client and
	// X-Forwarded-For is ignored, since any client can send it.
	TrustedProxies []string `mapstructure:"trusted_proxies"`
	// RedisURL is the Redis server that holds the rate limits and
	// circuit-breaker states shared by the replicas of a deployment
	// (redis://[:password@]host:6379/0, rediss:// for TLS). Empty keeps
	// them in each replica's memory. It may hold a password and is never
	// printed.
	RedisURL Secret `mapstructure:"redis_url"`
	// RedisFailClosed makes the rate-limited endpoints answer 503 while
	// Redis does not answer. By default (false) they fail open: each
	// replica falls back to in-memory limits until Redis is back.
	RedisFailClosed bool `mapstructure:"redis_fail_closed"`
	// RedisKeyPrefix starts every Redis key the proxy writes; empty means
	// "llmproxy:". Deployments sharing one Redis server need different
	// prefixes; the replicas of one deployment need the same.
	RedisKeyPrefix string `mapstructure:"redis_key_prefix"`

	// Responses front (front/responses): the responses it serves are kept
	// for previous_response_id and GET/DELETE /v1/responses/{id}, in Redis
	// when redis_url is set (shared by the replicas), else in memory.
	// ResponsesStoreSize bounds the responses kept in memory; 0 means
	// DefaultResponsesStoreSize (10000). ResponsesStoreTTL is how long a
	// response is kept; 0 means DefaultResponsesStoreTTL (24 h).
	ResponsesStoreSize int           `mapstructure:"responses_store_size"`
	ResponsesStoreTTL  time.Duration `mapstructure:"responses_store_ttl"`

	// RequestTimeout bounds a whole request, retries and failover included;
	// default 300 s.
	RequestTimeout time.Duration `mapstructure:"request_timeout"`
	// CircuitBreakerThreshold is the number of consecutive failures that
	// opens a provider's breaker; default 5.
	CircuitBreakerThreshold int `mapstructure:"circuit_breaker_threshold"`
	// CircuitBreakerTimeout is how long a breaker stays open before it lets
	// a trial request through; default 60 s.
	CircuitBreakerTimeout time.Duration `mapstructure:"circuit_breaker_timeout"`

	// HealthCheckInterval is the time between two active health checks of
	// a provider that has a check costing no tokens (HealthChecker), varied
	// at random by up to 20 % either way so that replicas do not check in
	// step; default 60 s. Providers without such a check are watched from
	// live traffic only.
	HealthCheckInterval time.Duration `mapstructure:"health_check_interval"`
	// LoadBalancing orders the providers of equal priority:
	// LoadBalancingWeighted ("weighted", the default: at random in
	// proportion to each provider's weight) or LoadBalancingLeastLatency
	// ("least_latency": lowest latency EWMA first).
	LoadBalancing string `mapstructure:"load_balancing"`
	// RetryBudgetPercent caps the retries across the proxy at this
	// percentage of the requests of the last RetryBudgetWindow, plus
	// RetryBudgetMinRetries per window; default 20. Failing over to the
	// next provider is not a retry and is never capped.
	RetryBudgetPercent int `mapstructure:"retry_budget_percent"`
	// RetryBudgetWindow is the sliding window of the retry budget;
	// default 10 s.
	RetryBudgetWindow time.Duration `mapstructure:"retry_budget_window"`
	// ClientRetryAfterFailover lets clients retry a request on which the
	// proxy already spent its own retries. By default (false) an error
	// answered after more than one attempt, or after every provider
	// serving the model was tried, carries "x-should-retry: false", which
	// the official OpenAI and Anthropic SDKs honour, so that a client's
	// retries do not multiply the proxy's against failing providers.
	// Errors with a Retry-After leave the client free to retry after it.
	ClientRetryAfterFailover bool `mapstructure:"client_retry_after_failover"`

	// MaxInflight bounds the chat, completion and embedding requests the
	// server serves at once; a request beyond it is answered at once with
	// 503, Retry-After: 1 and code "overloaded" instead of queueing, so
	// that under overload the admitted requests stay fast and memory stays
	// bounded. The check comes before authentication and rate limiting,
	// so that a refused request costs next to nothing; refused requests
	// get no access log line (one "requests shed" summary line per second
	// at most) and are counted in llmproxy_requests_shed_total. Set it
	// near the concurrency at which the proxy reaches its capacity:
	// admitting more only queues requests. 0 means no limit.
	MaxInflight int `mapstructure:"max_inflight"`

	// Graceful shutdown (cmd/llmproxy and server.Server).
	//
	// ShutdownTimeout is how long a stopping instance (SIGTERM, SIGINT)
	// lets the requests in flight and the open streams finish, after it
	// has failed its readiness (GET /health answers 503 "shutting_down")
	// and stopped accepting connections; the streams still open then end
	// with an error frame (code "server_shutting_down"), never a clean
	// [DONE]. Default 30 s. Give orchestrators a termination grace period
	// longer than it (see docs/deployment.md).
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`

	// OpenTelemetry traces (cmd/llmproxy; see docs/deployment.md).
	//
	// OTelEndpoint is the OTLP collector's URL (http://collector:4318 for
	// OTLP/HTTP, http://collector:4317 for gRPC). Tracing is off unless it
	// or OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
	// is set. Read at start only.
	OTelEndpoint string `mapstructure:"otel_endpoint"`
	// OTelProtocol is "http/protobuf" (the default) or "grpc"; empty
	// defers to OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL.
	OTelProtocol string `mapstructure:"otel_protocol"`

	LogLevel   string `mapstructure:"log_level"`   // debug, info (default), warn, error
	LogFile    string `mapstructure:"log_file"`    // empty: standard error
	ConfigFile string `mapstructure:"config_file"` // the file this config came from, if any

	Providers []ProviderConfig `mapstructure:"providers"`

	// Model aliases (see docs/configuration.md#model-aliases-and-name-mapping).

	// ModelAliases maps a public model name to the concrete models that
	// serve it, tried in order like priorities: every provider of the
	// first model (in their own priority order) before any of the
	// second, and so on. A target may be another alias (expanded in
	// place) or the alias's own name, which then means the concrete model
	// of that name. Map keys keep their case in a config file.
	ModelAliases map[string][]string `mapstructure:"model_aliases"`
	// Team keys, budgets and pricing (docs/keys.md).

	// Keys are client keys with a policy (models, rpm, tpm, budget); they
	// are accepted beside APIKeys, which are keys without one. Setting
	// either turns authentication on.
	Keys []KeyConfig `mapstructure:"keys"`
	// AdminKeys names the Keys that may read every key's usage (GET
	// /admin/keys).
	AdminKeys []string `mapstructure:"admin_keys"`
	// Pricing prices models by glob, over the shipped defaults (see
	// ModelPrice, DefaultPricesDate).
	Pricing map[string]ModelPrice `mapstructure:"pricing"`
}

// ProviderConfig configures one upstream provider.
type ProviderConfig struct {
	// Name identifies the provider in routing, logs, metrics and
	// _proxy_info; it must be unique.
	Name string `mapstructure:"name"`
	// Type selects the adapter: openai, anthropic, cohere, perplexity,
	// grok, blackbox, openrouter, azure, the OpenAI-compatible presets
	// (mistral, groq, deepseek, together, fireworks, ollama, vllm,
	// lmstudio), gemini, bedrock, mock (providers/all links them all), or a type
	// registered with RegisterProviderType.
	Type string `mapstructure:"type"`
	// BaseURL overrides the type's default base URL (e.g. a vLLM or Ollama
	// server for type openai).
	BaseURL string `mapstructure:"base_url"`
	// APIKeyEnv names the environment variables that may hold the
	// provider's key, in order: the first one set (to a non-empty value)
	// wins, so that one config file serves users of either convention
	// (OPENAI_API_KEY or PROXY_API_OPENAI_API_KEY). In a config file it is
	// one name or a list. When names are given but none is set, the
	// provider is disabled with a warning. Empty means the default of the
	// type (MISTRAL_API_KEY for mistral, …; see ProviderTypeDefaults), and
	// for a type without one that the provider needs no key (mock, local
	// servers).
	APIKeyEnv EnvNames `mapstructure:"api_key_env"`
	// APIKey is the provider's key. LoadConfig and New fill it from
	// APIKeyEnv; code may set it directly. It is never printed.
	APIKey Secret `mapstructure:"-"`
	// Models lists the models the provider serves: exact names or globs
	// ("gpt-4*", path.Match syntax). An empty list means any model, or
	// only the names of ModelMap when it has some.
	Models []string `mapstructure:"models"`
	// Enabled switches the provider off when false; nil means true.
	Enabled *bool `mapstructure:"enabled"`
	// Priority orders the candidates for a model: 1 is tried first;
	// default 1.
	Priority int `mapstructure:"priority"`
	// Timeout bounds one attempt on this provider; default 60 s.
	Timeout time.Duration `mapstructure:"timeout"`
	// FirstTokenTimeout bounds the wait for a stream's first content
	// chunk; until then a stalled stream fails over. Default: Timeout.
	FirstTokenTimeout time.Duration `mapstructure:"first_token_timeout"`
	// StreamIdleTimeout is the longest gap allowed between two chunks of a
	// stream; default 30 s.
	StreamIdleTimeout time.Duration `mapstructure:"stream_idle_timeout"`
	// MaxRetries is how many times a retryable failure is retried on this
	// provider before failing over; 0 means no retries.
	MaxRetries int `mapstructure:"max_retries"`
	// Weight is the provider's share of the requests among the healthy
	// providers of its priority under weighted load balancing; default 1.
	Weight int `mapstructure:"weight"`
	// RetryDelay is the base of the exponential backoff between retries;
	// default 1 s.
	RetryDelay time.Duration `mapstructure:"retry_delay"`
	// RateLimit is the most requests per minute sent to this provider;
	// 0 means no limit.
	RateLimit int `mapstructure:"rate_limit"`
	// MaxConnections caps the open connections to the provider; default 100.
	MaxConnections int `mapstructure:"max_connections"`
	// KeepaliveTimeout is how long an idle connection is kept; default 90 s.
	KeepaliveTimeout time.Duration `mapstructure:"keepalive_timeout"`
	// CustomHeaders are sent with every request to the provider. They may
	// not set Idempotency-Key or X-Idempotency-Key, with which a request
	// could be sent twice.
	CustomHeaders map[string]string `mapstructure:"custom_headers"`

	// DefaultMaxTokens is the max_tokens sent to upstreams that require
	// one (Anthropic) when the client set none; 0 means 4096.
	DefaultMaxTokens int `mapstructure:"default_max_tokens"`
	// EmbeddingInputType is the input_type sent to upstreams that require
	// one (Cohere) when the client set none; empty means
	// "search_document".
	EmbeddingInputType string `mapstructure:"embedding_input_type"`

	// ResponsesAPI says whether the upstream serves the OpenAI Responses
	// API (POST /responses), to which the Responses front then passes
	// requests through as they came instead of translating them to chat.
	// nil means the adapter's default: true for type openai at OpenAI's
	// own base URL, false for every other server (set it to true for a
	// compatible server that has the API). Only the openai adapter's types
	// use it.
	ResponsesAPI *bool `mapstructure:"responses_api"`
	// Azure OpenAI (type azure; see docs/azure-and-presets.md).
	// APIVersion is the api-version of the requests: a dated version
	// ("2024-10-21", the default with Deployments, is the latest GA one),
	// or "v1" for the v1 API (/openai/v1/..., the model in the body), the
	// default without Deployments.
	APIVersion string `mapstructure:"api_version"`
	// Deployments maps public model names to the resource's deployment
	// names ({gpt-4o: my-gpt4o}); a model it does not name is its own
	// deployment name.
	Deployments map[string]string `mapstructure:"deployments"`
	// AzureAuth is how the key is sent: "api-key" (the api-key header,
	// the default) or "bearer" (Authorization: Bearer, for a Microsoft
	// Entra ID token).
	AzureAuth string `mapstructure:"azure_auth"`
	// Bedrock (type bedrock only; see docs/bedrock.md).
	// AWSRegion is the AWS region of the provider (us-east-1, ...); it is
	// required unless the environment sets AWS_REGION or
	// AWS_DEFAULT_REGION.
	AWSRegion string `mapstructure:"aws_region"`
	// AWSAccessKeyIDEnv and AWSSecretAccessKeyEnv name the environment
	// variables holding static AWS credentials (both or neither), and
	// AWSSessionTokenEnv the one holding a session token, if any. Without
	// them the AWS default credential chain is used (environment, shared
	// files, SSO, web identity, ECS and EC2 roles). With api_key_env, a
	// Bedrock API key is sent as a bearer token instead.
	AWSAccessKeyIDEnv     string `mapstructure:"aws_access_key_id_env"`
	AWSSecretAccessKeyEnv string `mapstructure:"aws_secret_access_key_env"`
	AWSSessionTokenEnv    string `mapstructure:"aws_session_token_env"`
	// Model name mapping and several keys per provider (see
	// docs/configuration.md).

	// ModelMap maps a public model name to the id this provider is sent
	// instead: the provider serves the public name (besides Models; see
	// Serves) and the request goes upstream with the mapped id in its
	// "model".
	// Map keys keep their case in a config file.
	ModelMap map[string]string `mapstructure:"model_map"`
	// APIKeysEnv names one environment variable per key of a provider
	// that has several: requests take the keys in turn (round-robin), and
	// a key answered 401, 403 or with an exhausted quota sits out
	// KeyCooldown while the others serve. Variables that are unset are
	// skipped; none set disables the provider, as for APIKeyEnv, which
	// may not be set with it.
	APIKeysEnv []string `mapstructure:"api_keys_env"`
	// APIKeys are the provider's several keys. LoadConfig and New fill
	// them from APIKeysEnv (each ID the variable's name); code may set
	// them directly (an empty ID becomes "key" and its index). They are
	// never printed.
	APIKeys []ProviderKey `mapstructure:"-"`
	// KeyCooldown is how long a key answered 401, 403 or with an
	// exhausted quota is left out of the rotation; default 60 s.
	KeyCooldown time.Duration `mapstructure:"key_cooldown"`
}

// ProviderKey is one of the several keys of a provider (see
// ProviderConfig.APIKeys).
type ProviderKey struct {
	// ID names the key in metrics, logs and /providers: the name of the
	// variable it came from, never the key itself.
	ID string
	// Key is the key.
	Key Secret
}

// EnvNames names environment variables in order of preference. A config
// file gives one name (api_key_env: OPENAI_API_KEY) or a list
// (api_key_env: [OPENAI_API_KEY, PROXY_API_OPENAI_API_KEY]).
type EnvNames []string

// Lookup returns the name and value of the first variable of n that lookup
// finds set to a non-empty value; ok is false when there is none.
func (n EnvNames) Lookup(lookup func(string) (string, bool)) (name, value string, ok bool) {
	for _, name := range n {
		if v, set := lookup(name); set && v != "" {
			return name, v, true
		}
	}
	return "", "", false
}

// String returns the names joined by " or ".
func (n EnvNames) String() string { return strings.Join(n, " or ") }

// IsEnabled reports whether the provider is switched on (Enabled nil or true).
func (p *ProviderConfig) IsEnabled() bool { return p.Enabled == nil || *p.Enabled }

// Serves reports whether the provider is configured for model: a name
// of its ModelMap, or one its Models match. Empty Models match any name,
// unless the provider has a ModelMap: it then serves the names of the
// map only ("*" in Models adds every other name).
func (p *ProviderConfig) Serves(model string) bool {
	if _, ok := p.ModelMap[model]; ok {
		return true
	}
	if len(p.Models) == 0 {
		return len(p.ModelMap) == 0
	}
	for _, m := range p.Models {
		if m == model {
			return true
		}
		if ok, _ := path.Match(m, model); ok {
			return true
		}
	}
	return false
}

// Defaults of the zero-valued fields of Config and ProviderConfig.
const (
	DefaultHost                    = "127.0.0.1"
	DefaultPort                    = 8000
	DefaultAPIKeyHeader            = "X-API-Key"
	DefaultRateLimitWindow         = 60 * time.Second
	DefaultRequestTimeout          = 300 * time.Second
	DefaultCircuitBreakerThreshold = 5
	DefaultCircuitBreakerTimeout   = 60 * time.Second
	DefaultProviderTimeout         = 60 * time.Second
	DefaultRetryDelay              = time.Second
	DefaultStreamIdleTimeout       = 30 * time.Second
	DefaultMaxConnections          = 100
	DefaultKeepaliveTimeout        = 90 * time.Second
	DefaultHealthCheckInterval     = 60 * time.Second
	DefaultRetryBudgetPercent      = 20
	DefaultRetryBudgetWindow       = 10 * time.Second
	DefaultKeyCooldown             = 60 * time.Second
	DefaultShutdownTimeout         = 30 * time.Second
)

// Per-endpoint rate limits, in requests per client per minute, of a config
// file that does not set them (see Config.RateLimitChatRPM).
const (
	DefaultRateLimitChatRPM        = 100
	DefaultRateLimitCompletionsRPM = 100
	DefaultRateLimitEmbeddingsRPM  = 200
	DefaultRateLimitMessagesRPM    = 100
	DefaultRateLimitResponsesRPM   = 100
)

// Defaults of the Responses front's store (see Config.ResponsesStoreSize).
const (
	DefaultResponsesStoreSize = 10000
	DefaultResponsesStoreTTL  = 24 * time.Hour
)

// applyFileDefaults gives the per-endpoint rate limits that neither the
// config file nor the environment sets (isSet reports which are set, by
// key) their file defaults. An explicit 0 stays 0: no limit.
func (c *Config) applyFileDefaults(isSet func(key string) bool) {
	for _, d := range []struct {
		key string
		v   *int
		def int
	}{
		{"rate_limit_chat_rpm", &c.RateLimitChatRPM, DefaultRateLimitChatRPM},
		{"rate_limit_completions_rpm", &c.RateLimitCompletionsRPM, DefaultRateLimitCompletionsRPM},
		{"rate_limit_embeddings_rpm", &c.RateLimitEmbeddingsRPM, DefaultRateLimitEmbeddingsRPM},
		{"rate_limit_responses_rpm", &c.RateLimitResponsesRPM, DefaultRateLimitResponsesRPM},
		{"rate_limit_messages_rpm", &c.RateLimitMessagesRPM, DefaultRateLimitMessagesRPM},
	} {
		if !isSet(d.key) {
			*d.v = d.def
		}
	}
}

// withDefaults returns a copy of c with zero fields set to their defaults.
// The copy shares no slices or maps with c that the proxy writes to.
func (c Config) withDefaults() Config {
	if c.AppName == "" {
		c.AppName = "llmproxy"
	}
	if c.AppVersion == "" {
		c.AppVersion = moduleVersion()
	}
	if c.Host == "" {
		c.Host = DefaultHost
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.APIKeyHeader == "" {
		c.APIKeyHeader = DefaultAPIKeyHeader
	}
	if c.RateLimitWindow == 0 {
		c.RateLimitWindow = DefaultRateLimitWindow
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.CircuitBreakerThreshold == 0 {
		c.CircuitBreakerThreshold = DefaultCircuitBreakerThreshold
	}
	if c.CircuitBreakerTimeout == 0 {
		c.CircuitBreakerTimeout = DefaultCircuitBreakerTimeout
	}
	if c.HealthCheckInterval == 0 {
		c.HealthCheckInterval = DefaultHealthCheckInterval
	}
	if c.LoadBalancing == "" {
		c.LoadBalancing = LoadBalancingWeighted
	}
	if c.RetryBudgetPercent == 0 {
		c.RetryBudgetPercent = DefaultRetryBudgetPercent
	}
	if c.RetryBudgetWindow == 0 {
		c.RetryBudgetWindow = DefaultRetryBudgetWindow
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	ps := make([]ProviderConfig, len(c.Providers))
	for i, p := range c.Providers {
		ps[i] = p.withDefaults()
	}
	c.Providers = ps
	if c.Keys != nil {
		ks := make([]KeyConfig, len(c.Keys))
		for i, k := range c.Keys {
			ks[i] = k.withDefaults()
		}
		c.Keys = ks
	}
	return c
}

func (p ProviderConfig) withDefaults() ProviderConfig {
	if p.Priority == 0 {
		p.Priority = 1
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultProviderTimeout
	}
	if p.FirstTokenTimeout == 0 {
		p.FirstTokenTimeout = p.Timeout
	}
	if p.StreamIdleTimeout == 0 {
		p.StreamIdleTimeout = DefaultStreamIdleTimeout
	}
	if p.RetryDelay == 0 {
		p.RetryDelay = DefaultRetryDelay
	}
	if p.MaxConnections == 0 {
		p.MaxConnections = DefaultMaxConnections
	}
	if p.KeepaliveTimeout == 0 {
		p.KeepaliveTimeout = DefaultKeepaliveTimeout
	}
	if p.Weight == 0 {
		p.Weight = 1
	}
	p.applyTypeDefaults()
	if !p.APIKey.IsSet() {
		if _, v, ok := p.APIKeyEnv.Lookup(os.LookupEnv); ok {
			p.APIKey = Secret(v)
		}
	}
	if p.KeyCooldown == 0 {
		p.KeyCooldown = DefaultKeyCooldown
	}
	if len(p.APIKeys) == 0 {
		p.APIKeys = lookupKeys(p.APIKeysEnv, os.LookupEnv)
	} else {
		p.APIKeys = keyIDs(p.APIKeys)
	}
	return p
}

// ConfigError is a validation failure of one field, named by its path in
// the configuration (e.g. "providers[1].priority").
type ConfigError struct {
	Field   string
	Problem string
}

// Error returns "field: problem".
func (e *ConfigError) Error() string { return e.Field + ": " + e.Problem }

// Validate checks c and returns every problem found, joined (errors.Join),
// each a *ConfigError naming the field. Unset fields that have defaults are
// not problems.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if c.Port < 0 || c.Port > 65535 {
		bad("port", "must be between 1 and 65535, got %d", c.Port)
	}
	for _, l := range []struct {
		name string
		v    int
	}{
		{"rate_limit_rpm", c.RateLimitRPM},
		{"rate_limit_chat_rpm", c.RateLimitChatRPM},
		{"rate_limit_completions_rpm", c.RateLimitCompletionsRPM},
		{"rate_limit_embeddings_rpm", c.RateLimitEmbeddingsRPM},
		{"rate_limit_responses_rpm", c.RateLimitResponsesRPM},
		{"responses_store_size", c.ResponsesStoreSize},
		{"rate_limit_messages_rpm", c.RateLimitMessagesRPM},
	} {
		if l.v < 0 {
			bad(l.name, "must be >= 0, got %d", l.v)
		}
	}
	for i, tp := range c.TrustedProxies {
		if !validProxyAddr(tp) {
			bad(fmt.Sprintf("trusted_proxies[%d]", i), "must be an IP address or a CIDR range (10.0.0.0/8), got %q", tp)
		}
	}
	if c.RedisURL.IsSet() {
		// The URL may hold a password: the problem never quotes it.
		if u, err := url.Parse(c.RedisURL.Reveal()); err != nil {
			bad("redis_url", "is not a valid URL")
		} else if u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix" {
			bad("redis_url", "must start with redis://, rediss:// or unix://")
		} else if u.Scheme != "unix" && u.Host == "" {
			bad("redis_url", "must name a host (redis://host:6379/0)")
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"rate_limit_window", c.RateLimitWindow},
		{"request_timeout", c.RequestTimeout},
		{"circuit_breaker_timeout", c.CircuitBreakerTimeout},
		{"health_check_interval", c.HealthCheckInterval},
		{"retry_budget_window", c.RetryBudgetWindow},
		{"responses_store_ttl", c.ResponsesStoreTTL},
		{"shutdown_timeout", c.ShutdownTimeout},
	} {
		if d.v < 0 {
			bad(d.name, "must be a positive number of seconds, got %v", d.v.Seconds())
		}
	}
	if c.CircuitBreakerThreshold < 0 {
		bad("circuit_breaker_threshold", "must be >= 1, got %d", c.CircuitBreakerThreshold)
	}
	switch c.LoadBalancing {
	case "", LoadBalancingWeighted, LoadBalancingLeastLatency:
	default:
		bad("load_balancing", "must be %q or %q, got %q", LoadBalancingWeighted, LoadBalancingLeastLatency, c.LoadBalancing)
	}
	if c.RetryBudgetPercent < 0 {
		bad("retry_budget_percent", "must be >= 0, got %d", c.RetryBudgetPercent)
	}
	if c.MaxInflight < 0 {
		bad("max_inflight", "must be >= 0, got %d", c.MaxInflight)
	}
	switch strings.ToLower(c.LogLevel) {
	case "", "debug", "info", "warn", "warning", "error":
	default:
		bad("log_level", "must be one of debug, info, warn, error; got %q", c.LogLevel)
	}
	for i, k := range c.APIKeys {
		if strings.TrimSpace(k) == "" {
			bad(fmt.Sprintf("api_keys[%d]", i), "must not be empty")
		}
	}
	c.validateKeys(bad)
	seen := map[string]int{}
	for i := range c.Providers {
		p := &c.Providers[i]
		field := func(name string) string { return fmt.Sprintf("providers[%d].%s", i, name) }
		if p.Name == "" {
			bad(field("name"), "is required")
		} else if j, dup := seen[p.Name]; dup {
			bad(field("name"), "duplicate provider name %q (also providers[%d])", p.Name, j)
		} else {
			seen[p.Name] = i
		}
		if p.Type == "" {
			bad(field("type"), "is required")
		} else if _, err := lookupProviderType(p.Type); err != nil {
			bad(field("type"), "%v", err)
		}
		for j, name := range p.APIKeyEnv {
			f := field("api_key_env")
			if len(p.APIKeyEnv) > 1 {
				f = fmt.Sprintf("%s[%d]", f, j)
			}
			if !validEnvName(name) {
				bad(f, "must be the name of an environment variable (letters, digits and _), got %q", name)
			}
		}
		if p.BaseURL != "" && !strings.HasPrefix(p.BaseURL, "http://") && !strings.HasPrefix(p.BaseURL, "https://") {
			bad(field("base_url"), "must start with http:// or https://, got %q", p.BaseURL)
		}
		p.typeDefaultProblems(field, bad)
		p.azureProblems(field, bad)
		if p.Priority < 0 {
			bad(field("priority"), "must be >= 1, got %d", p.Priority)
		}
		if p.DefaultMaxTokens < 0 {
			bad(field("default_max_tokens"), "must be >= 1, got %d", p.DefaultMaxTokens)
		}
		if p.Weight < 0 {
			bad(field("weight"), "must be >= 1, got %d", p.Weight)
		}
		if p.MaxRetries < 0 {
			bad(field("max_retries"), "must be >= 0, got %d", p.MaxRetries)
		}
		if p.RateLimit < 0 {
			bad(field("rate_limit"), "must be >= 0, got %d", p.RateLimit)
		}
		if p.MaxConnections < 0 {
			bad(field("max_connections"), "must be >= 0, got %d", p.MaxConnections)
		}
		for _, d := range []struct {
			name string
			v    time.Duration
		}{
			{"timeout", p.Timeout}, {"first_token_timeout", p.FirstTokenTimeout},
			{"stream_idle_timeout", p.StreamIdleTimeout}, {"retry_delay", p.RetryDelay},
			{"keepalive_timeout", p.KeepaliveTimeout},
		} {
			if d.v < 0 {
				bad(field(d.name), "must be a positive number of seconds, got %v", d.v.Seconds())
			}
		}
		errs = append(errs, validateBedrock(p, i)...)
		for j, m := range p.Models {
			if _, err := path.Match(m, ""); err != nil || m == "" {
				bad(fmt.Sprintf("providers[%d].models[%d]", i, j), "is not a valid model name or glob: %q", m)
			}
		}
		// Model name mapping and several keys per provider.
		p.validateModelMap(field, bad)
		p.validateKeys(field, bad)
		for h := range p.CustomHeaders {
			switch {
			case !validHeaderName(h):
				bad(field("custom_headers"), "%q is not a valid header name", h)
			case replayHeader(h):
				bad(field("custom_headers"), "%q is not allowed: it would make the HTTP client send a request again after the upstream may have acted on it", h)
			}
		}
	}
	// Model aliases.
	c.validateAliases(bad)
	return errors.Join(errs...)
}

// validProxyAddr reports whether s is an IP address or a CIDR prefix.
func validProxyAddr(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	_, err := netip.ParsePrefix(s)
	return err == nil
}

// validEnvName reports whether s can name an environment variable: not
// empty, without "=", spaces or control characters.
func validEnvName(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool { return r == '=' || r <= ' ' || r == 0x7f })
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) {
			return false
		}
	}
	return true
}

// replayHeader reports whether h is a header that makes net/http's
// transport treat a POST as replayable, and send it again on a new
// connection when a kept-alive one fails after the upstream may have read
// it.
func replayHeader(h string) bool {
	h = http.CanonicalHeaderKey(h)
	return h == "Idempotency-Key" || h == "X-Idempotency-Key"
}

// modulePath is the path of this module, looked up in the build
// information for the default AppVersion.
const modulePath = "github.com/llmproxy/llmproxy"

// devVersion is the default AppVersion of a build without version
// information.
const devVersion = "dev"

// moduleVersion returns the version of this module in the running
// program's build information (see versionFromBuildInfo).
func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return devVersion
	}
	return versionFromBuildInfo(bi)
}

// versionFromBuildInfo returns the version of this module in bi: the main
// module's when the program is one of this module's commands, else that of
// the dependency (or its replacement); devVersion when it is unknown or
// "(devel)".
func versionFromBuildInfo(bi *debug.BuildInfo) string {
	var v string
	if bi.Main.Path == modulePath {
		v = bi.Main.Version
	} else {
		for _, d := range bi.Deps {
			if d.Path == modulePath {
				v = d.Version
				if d.Replace != nil {
					v = d.Replace.Version
				}
				break
			}
		}
	}
	if v == "" || v == "(devel)" {
		return devVersion
	}
	return v
}
