package llmproxy

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"time"
)

// Config is the whole configuration of a proxy: the global settings and the
// providers. It mirrors config.yaml (see LoadConfig and the README's
// configuration reference). Durations are time.Duration in Go and seconds
// (numbers) in the file. A zero field takes the default given in its
// comment, so a Config built in code needs only its Providers.
type Config struct {
	AppName    string `mapstructure:"app_name"`    // default "llmproxy"
	AppVersion string `mapstructure:"app_version"` // default the module version
	Debug      bool   `mapstructure:"debug"`       // debug logging and pretty errors

	Host string `mapstructure:"host"` // listen host of the server; default "0.0.0.0"
	Port int    `mapstructure:"port"` // listen port of the server; default 8000

	// APIKeys are the keys clients must present; empty disables auth.
	APIKeys []string `mapstructure:"api_keys"`
	// APIKeyHeader is the header that carries a client key besides
	// "Authorization: Bearer"; default "X-API-Key".
	APIKeyHeader string `mapstructure:"api_key_header"`
	// CORSOrigins are the origins allowed by CORS; "*" allows any; empty
	// sends no CORS headers.
	CORSOrigins []string `mapstructure:"cors_origins"`

	// RateLimitRPM is the number of requests a client may make per
	// RateLimitWindow across all endpoints; 0 means no global limit.
	RateLimitRPM    int           `mapstructure:"rate_limit_rpm"`
	RateLimitWindow time.Duration `mapstructure:"rate_limit_window"` // default 60 s

	// RequestTimeout bounds a whole request, retries and failover included;
	// default 300 s.
	RequestTimeout time.Duration `mapstructure:"request_timeout"`
	// CircuitBreakerThreshold is the number of consecutive failures that
	// opens a provider's breaker; default 5.
	CircuitBreakerThreshold int `mapstructure:"circuit_breaker_threshold"`
	// CircuitBreakerTimeout is how long a breaker stays open before it lets
	// a trial request through; default 60 s.
	CircuitBreakerTimeout time.Duration `mapstructure:"circuit_breaker_timeout"`

	LogLevel   string `mapstructure:"log_level"`   // debug, info (default), warn, error
	LogFile    string `mapstructure:"log_file"`    // empty: standard error
	ConfigFile string `mapstructure:"config_file"` // the file this config came from, if any

	Providers []ProviderConfig `mapstructure:"providers"`
}

// ProviderConfig configures one upstream provider.
type ProviderConfig struct {
	// Name identifies the provider in routing, logs, metrics and
	// _proxy_info; it must be unique.
	Name string `mapstructure:"name"`
	// Type selects the adapter: openai, perplexity, grok, blackbox,
	// openrouter, mock, or a type registered with RegisterProviderType.
	Type string `mapstructure:"type"`
	// BaseURL overrides the type's default base URL (e.g. a vLLM or Ollama
	// server for type openai).
	BaseURL string `mapstructure:"base_url"`
	// APIKeyEnv names the environment variable that holds the provider's
	// key. When it is named but unset, the provider is disabled with a
	// warning. Empty means the provider needs no key (mock, local servers).
	APIKeyEnv string `mapstructure:"api_key_env"`
	// APIKey is the provider's key. LoadConfig and New fill it from
	// APIKeyEnv; code may set it directly. It is never printed.
	APIKey Secret `mapstructure:"-"`
	// Models lists the models the provider serves: exact names or globs
	// ("gpt-4*", path.Match syntax). An empty list means any model.
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
	// CustomHeaders are sent with every request to the provider.
	CustomHeaders map[string]string `mapstructure:"custom_headers"`
}

// IsEnabled reports whether the provider is switched on (Enabled nil or true).
func (p *ProviderConfig) IsEnabled() bool { return p.Enabled == nil || *p.Enabled }

// Serves reports whether the provider is configured for model.
func (p *ProviderConfig) Serves(model string) bool {
	if len(p.Models) == 0 {
		return true
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
	DefaultHost                    = "0.0.0.0"
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
)

// withDefaults returns a copy of c with zero fields set to their defaults.
// The copy shares no slices or maps with c that the proxy writes to.
func (c Config) withDefaults() Config {
	if c.AppName == "" {
		c.AppName = "llmproxy"
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
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	ps := make([]ProviderConfig, len(c.Providers))
	for i, p := range c.Providers {
		ps[i] = p.withDefaults()
	}
	c.Providers = ps
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
	if !p.APIKey.IsSet() && p.APIKeyEnv != "" {
		p.APIKey = Secret(os.Getenv(p.APIKeyEnv))
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
	if c.RateLimitRPM < 0 {
		bad("rate_limit_rpm", "must be >= 0, got %d", c.RateLimitRPM)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"rate_limit_window", c.RateLimitWindow},
		{"request_timeout", c.RequestTimeout},
		{"circuit_breaker_timeout", c.CircuitBreakerTimeout},
	} {
		if d.v < 0 {
			bad(d.name, "must be a positive number of seconds, got %v", d.v.Seconds())
		}
	}
	if c.CircuitBreakerThreshold < 0 {
		bad("circuit_breaker_threshold", "must be >= 1, got %d", c.CircuitBreakerThreshold)
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
		if p.BaseURL != "" && !strings.HasPrefix(p.BaseURL, "http://") && !strings.HasPrefix(p.BaseURL, "https://") {
			bad(field("base_url"), "must start with http:// or https://, got %q", p.BaseURL)
		}
		if p.Priority < 0 {
			bad(field("priority"), "must be >= 1, got %d", p.Priority)
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
		for j, m := range p.Models {
			if _, err := path.Match(m, ""); err != nil || m == "" {
				bad(fmt.Sprintf("providers[%d].models[%d]", i, j), "is not a valid model name or glob: %q", m)
			}
		}
		for h := range p.CustomHeaders {
			if !validHeaderName(h) {
				bad(field("custom_headers"), "%q is not a valid header name", h)
			}
		}
	}
	return errors.Join(errs...)
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
