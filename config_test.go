package llmproxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// configTestType is a provider type registered for these tests only: the
// built-in types live in packages this test binary does not import.
const configTestType = "config-test"

var registerConfigTestType = sync.OnceFunc(func() {
	RegisterProviderType(configTestType, func(cfg ProviderConfig) (Provider, error) {
		return nil, errors.New("config-test providers are not meant to be built")
	})
})

// writeConfig writes a config file (and a .env beside it when dotenv is not
// empty) to a fresh directory and returns the config file's path.
func writeConfig(t *testing.T, yaml, dotenv string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	if dotenv != "" {
		require.NoError(t, os.WriteFile(filepath.Join(dir, ".env"), []byte(dotenv), 0o600))
	}
	return path
}

// envFunc returns a lookupEnv for LoadConfigEnv that sees only env.
func envFunc(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

const fullConfig = `
app_name: myproxy
app_version: "1.2.3"
debug: true
host: 127.0.0.1
port: 9001
api_keys: [k1, k2]
api_key_header: X-Proxy-Key
cors_origins: ["https://a.example", "https://b.example"]
rate_limit_rpm: 120
rate_limit_window: 30
request_timeout: 120.5
circuit_breaker_threshold: 3
circuit_breaker_timeout: 45
health_check_interval: 15
load_balancing: least_latency
retry_budget_percent: 50
retry_budget_window: 30
shutdown_timeout: 45
log_level: debug
log_file: /var/log/llmproxy.log
config_file: /etc/llmproxy/config.yaml
providers:
  - name: primary
    type: config-test
    base_url: https://api.example.com/v1
    api_key_env: PRIMARY_KEY
    models: ["gpt-4o", "gpt-4*"]
    enabled: false
    priority: 2
    weight: 3
    timeout: 30
    first_token_timeout: 10
    stream_idle_timeout: 2.5
    max_retries: 0
    retry_delay: 0.5
    rate_limit: 60
    max_connections: 10
    keepalive_timeout: "1500ms"
    custom_headers:
      HTTP-Referer: https://example.com
      X-Title: Example
  - name: secondary
    type: config-test
    enabled: true
    max_retries: 5
`

func TestLoadConfig(t *testing.T) {
	registerConfigTestType()
	tests := []struct {
		name   string
		yaml   string
		dotenv string
		env    map[string]string
		check  func(t *testing.T, path string, cfg Config)
	}{
		{
			name: "full file",
			yaml: fullConfig,
			env:  map[string]string{"PRIMARY_KEY": "sk-primary"},
			check: func(t *testing.T, path string, cfg Config) {
				off, on := false, true
				want := Config{
					AppName: "myproxy", AppVersion: "1.2.3", Debug: true,
					Host: "127.0.0.1", Port: 9001,
					APIKeys: []string{"k1", "k2"}, APIKeyHeader: "X-Proxy-Key",
					CORSOrigins:             []string{"https://a.example", "https://b.example"},
					RateLimitRPM:            120,
					RateLimitWindow:         30 * time.Second,
					RateLimitChatRPM:        DefaultRateLimitChatRPM,
					RateLimitCompletionsRPM: DefaultRateLimitCompletionsRPM,
					RateLimitEmbeddingsRPM:  DefaultRateLimitEmbeddingsRPM,
					RateLimitResponsesRPM:   DefaultRateLimitResponsesRPM,
					RateLimitMessagesRPM:    DefaultRateLimitMessagesRPM,
					RequestTimeout:          120*time.Second + 500*time.Millisecond,
					CircuitBreakerThreshold: 3,
					CircuitBreakerTimeout:   45 * time.Second,
					HealthCheckInterval:     15 * time.Second,
					LoadBalancing:           LoadBalancingLeastLatency,
					RetryBudgetPercent:      50,
					RetryBudgetWindow:       30 * time.Second,
					ShutdownTimeout:         45 * time.Second,
					LogLevel:                "debug",
					LogFile:                 "/var/log/llmproxy.log",
					ConfigFile:              "/etc/llmproxy/config.yaml",
					Providers: []ProviderConfig{
						{
							Name: "primary", Type: configTestType,
							BaseURL: "https://api.example.com/v1", APIKeyEnv: EnvNames{"PRIMARY_KEY"},
							APIKey: Secret("sk-primary"),
							Models: []string{"gpt-4o", "gpt-4*"}, Enabled: &off,
							Priority: 2, Weight: 3, Timeout: 30 * time.Second,
							FirstTokenTimeout: 10 * time.Second, StreamIdleTimeout: 2500 * time.Millisecond,
							MaxRetries: 0,
							RetryDelay: 500 * time.Millisecond, RateLimit: 60, MaxConnections: 10,
							KeepaliveTimeout: 1500 * time.Millisecond, KeyCooldown: DefaultKeyCooldown,
							// Keys are case-insensitive and arrive lowercased.
							CustomHeaders: map[string]string{"http-referer": "https://example.com", "x-title": "Example"},
						},
						{
							Name: "secondary", Type: configTestType, Enabled: &on,
							Priority: 1, Weight: 1, Timeout: DefaultProviderTimeout,
							FirstTokenTimeout: DefaultProviderTimeout, StreamIdleTimeout: DefaultStreamIdleTimeout,
							MaxRetries: 5,
							RetryDelay: DefaultRetryDelay, MaxConnections: DefaultMaxConnections,
							KeepaliveTimeout: DefaultKeepaliveTimeout, KeyCooldown: DefaultKeyCooldown,
						},
					},
				}
				assert.Equal(t, want, cfg)
				assert.Equal(t, "sk-primary", cfg.Providers[0].APIKey.Reveal())
			},
		},
		{
			name: "defaults for absent keys",
			yaml: "providers:\n  - name: p\n    type: config-test\n    api_key_env: CONFIG_TEST_UNSET_KEY\n",
			check: func(t *testing.T, path string, cfg Config) {
				want := Config{
					AppName: "llmproxy", AppVersion: "dev", Host: DefaultHost, Port: DefaultPort,
					APIKeyHeader:            DefaultAPIKeyHeader,
					RateLimitWindow:         DefaultRateLimitWindow,
					RateLimitChatRPM:        DefaultRateLimitChatRPM,
					RateLimitCompletionsRPM: DefaultRateLimitCompletionsRPM,
					RateLimitEmbeddingsRPM:  DefaultRateLimitEmbeddingsRPM,
					RateLimitResponsesRPM:   DefaultRateLimitResponsesRPM,
					RateLimitMessagesRPM:    DefaultRateLimitMessagesRPM,
					RequestTimeout:          DefaultRequestTimeout,
					CircuitBreakerThreshold: DefaultCircuitBreakerThreshold,
					CircuitBreakerTimeout:   DefaultCircuitBreakerTimeout,
					HealthCheckInterval:     DefaultHealthCheckInterval,
					LoadBalancing:           LoadBalancingWeighted,
					RetryBudgetPercent:      DefaultRetryBudgetPercent,
					RetryBudgetWindow:       DefaultRetryBudgetWindow,
					ShutdownTimeout:         DefaultShutdownTimeout,
					LogLevel:                "info",
					ConfigFile:              path,
					Providers: []ProviderConfig{{
						Name: "p", Type: configTestType, APIKeyEnv: EnvNames{"CONFIG_TEST_UNSET_KEY"},
						Priority: 1, Weight: 1, Timeout: DefaultProviderTimeout,
						FirstTokenTimeout: DefaultProviderTimeout, StreamIdleTimeout: DefaultStreamIdleTimeout,
						MaxRetries: DefaultMaxRetries,
						RetryDelay: DefaultRetryDelay, MaxConnections: DefaultMaxConnections,
						KeepaliveTimeout: DefaultKeepaliveTimeout, KeyCooldown: DefaultKeyCooldown,
					}},
				}
				assert.Equal(t, want, cfg)
				assert.Equal(t, "127.0.0.1", cfg.Host, "loopback unless told otherwise")
				assert.Zero(t, cfg.RateLimitRPM, "no global limit unless set")
				assert.True(t, cfg.Providers[0].IsEnabled(), "enabled absent means true")
				assert.False(t, cfg.Providers[0].APIKey.IsSet(), "an unset key variable is not an error")
			},
		},
		{
			name: "empty file",
			yaml: "",
			check: func(t *testing.T, path string, cfg Config) {
				assert.Equal(t, DefaultPort, cfg.Port)
				assert.Empty(t, cfg.Providers)
				assert.Equal(t, path, cfg.ConfigFile)
			},
		},
		{
			name: "env overrides beat the file",
			yaml: `
port: 8000
debug: false
log_level: info
api_keys: [file-key]
cors_origins: ["*"]
request_timeout: 300
rate_limit_window: 60
app_name: from-file
`,
			env: map[string]string{
				"PROXY_API_PORT":              "9000",
				"PROXY_API_DEBUG":             "true",
				"PROXY_API_LOG_LEVEL":         "debug",
				"PROXY_API_API_KEYS":          "a, b,",
				"PROXY_API_CORS_ORIGINS":      "https://x.example",
				"PROXY_API_REQUEST_TIMEOUT":   "30",
				"PROXY_API_RATE_LIMIT_WINDOW": "1500ms",
				"PROXY_API_RATE_LIMIT_RPM":    "7",
				"PROXY_API_HOST":              "::1",
				"PROXY_API_APP_NAME":          "", // empty counts as unset
			},
			check: func(t *testing.T, path string, cfg Config) {
				assert.Equal(t, 9000, cfg.Port)
				assert.True(t, cfg.Debug)
				assert.Equal(t, "debug", cfg.LogLevel)
				assert.Equal(t, []string{"a", "b"}, cfg.APIKeys)
				assert.Equal(t, []string{"https://x.example"}, cfg.CORSOrigins)
				assert.Equal(t, 30*time.Second, cfg.RequestTimeout)
				assert.Equal(t, 1500*time.Millisecond, cfg.RateLimitWindow)
				assert.Equal(t, 7, cfg.RateLimitRPM)
				assert.Equal(t, "::1", cfg.Host)
				assert.Equal(t, "from-file", cfg.AppName)
			},
		},
		{
			name: "env overrides keys absent from the file",
			yaml: "providers: []\n",
			env:  map[string]string{"PROXY_API_CIRCUIT_BREAKER_TIMEOUT": "2.5", "PROXY_API_DEBUG": "1"},
			check: func(t *testing.T, path string, cfg Config) {
				assert.Equal(t, 2500*time.Millisecond, cfg.CircuitBreakerTimeout)
				assert.True(t, cfg.Debug)
			},
		},
		{
			name: ".env beside the file, real env wins",
			yaml: `
port: 8000
log_level: info
providers:
  - name: a
    type: config-test
    api_key_env: A_KEY
  - name: b
    type: config-test
    api_key_env: B_KEY
  - name: c
    type: config-test
    api_key_env: C_KEY
`,
			dotenv: "# keys\nPROXY_API_PORT=9100\nPROXY_API_LOG_LEVEL=warn\nA_KEY=a-from-dotenv\nexport B_KEY=\"b-from-dotenv\"\nC_KEY=c-from-dotenv\n",
			env:    map[string]string{"PROXY_API_LOG_LEVEL": "error", "B_KEY": "b-from-env", "C_KEY": ""},
			check: func(t *testing.T, path string, cfg Config) {
				assert.Equal(t, 9100, cfg.Port, ".env overrides the file")
				assert.Equal(t, "error", cfg.LogLevel, "the real environment beats .env")
				assert.Equal(t, "a-from-dotenv", cfg.Providers[0].APIKey.Reveal())
				assert.Equal(t, "b-from-env", cfg.Providers[1].APIKey.Reveal())
				assert.Equal(t, "c-from-dotenv", cfg.Providers[2].APIKey.Reveal(), "an empty variable counts as unset")
			},
		},
		{
			name: "api_key_env resolution",
			yaml: `
providers:
  - name: keyed
    type: config-test
    api_key_env: KEYED_KEY
  - name: unset
    type: config-test
    api_key_env: UNSET_KEY
  - name: keyless
    type: config-test
`,
			env: map[string]string{"KEYED_KEY": "sk-keyed"},
			check: func(t *testing.T, path string, cfg Config) {
				assert.Equal(t, Secret("sk-keyed"), cfg.Providers[0].APIKey)
				assert.False(t, cfg.Providers[1].APIKey.IsSet())
				assert.False(t, cfg.Providers[2].APIKey.IsSet())
			},
		},
		{
			name: "keys are case-insensitive",
			yaml: "Port: 8123\nPROVIDERS:\n  - Name: p\n    TYPE: config-test\n    Priority: 4\n",
			check: func(t *testing.T, path string, cfg Config) {
				assert.Equal(t, 8123, cfg.Port)
				assert.Equal(t, 4, cfg.Providers[0].Priority)
			},
		},
		{
			name: "explicit zeros",
			yaml: `
rate_limit_rpm: 0
providers:
  - name: p
    type: config-test
    max_retries: 0
    enabled: false
    retry_delay: 0.25
    timeout: 1.5
`,
			check: func(t *testing.T, path string, cfg Config) {
				assert.Equal(t, 0, cfg.RateLimitRPM)
				assert.Equal(t, 0, cfg.Providers[0].MaxRetries, "explicit max_retries: 0 means no retries")
				assert.False(t, cfg.Providers[0].IsEnabled())
				assert.Equal(t, 250*time.Millisecond, cfg.Providers[0].RetryDelay)
				assert.Equal(t, 1500*time.Millisecond, cfg.Providers[0].Timeout)
			},
		},
		{
			name: "config_file from the file wins",
			yaml: "config_file: elsewhere.yaml\n",
			check: func(t *testing.T, path string, cfg Config) {
				assert.Equal(t, "elsewhere.yaml", cfg.ConfigFile)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.yaml, tt.dotenv)
			cfg, err := LoadConfigEnv(path, envFunc(tt.env))
			require.NoError(t, err)
			tt.check(t, path, cfg)
		})
	}
}

// TestLoadConfigIgnoresProcessEnv checks that LoadConfigEnv reads keys from
// the environment it is given, never from the process's.
func TestLoadConfigIgnoresProcessEnv(t *testing.T) {
	registerConfigTestType()
	t.Setenv("CONFIG_TEST_PROCESS_KEY", "sk-from-process")
	t.Setenv("PROXY_API_PORT", "9999")
	path := writeConfig(t, "providers:\n  - name: p\n    type: config-test\n    api_key_env: CONFIG_TEST_PROCESS_KEY\n", "")
	cfg, err := LoadConfigEnv(path, envFunc(nil))
	require.NoError(t, err)
	assert.False(t, cfg.Providers[0].APIKey.IsSet())
	assert.Equal(t, DefaultPort, cfg.Port)

	cfg, err = LoadConfig(path)
	require.NoError(t, err)
	assert.Equal(t, "sk-from-process", cfg.Providers[0].APIKey.Reveal())
	assert.Equal(t, 9999, cfg.Port)
}

func TestLoadConfigErrors(t *testing.T) {
	registerConfigTestType()
	tests := []struct {
		name   string
		yaml   string
		dotenv string
		env    map[string]string
		// lines are problems that must each be a whole line of the error,
		// after the "path: " prefix.
		lines []string
		// contains are substrings of the error.
		contains []string
	}{
		{
			name:  "unknown top-level key",
			yaml:  "prot: 8000\nfrobnicate: true\n",
			lines: []string{`prot: unknown key (did you mean "port"?)`, "frobnicate: unknown key"},
		},
		{
			name:  "unknown provider key",
			yaml:  "providers:\n  - name: a\n    type: config-test\n    priorty: 2\n",
			lines: []string{`providers[0].priorty: unknown key (did you mean "priority"?)`},
		},
		{
			name:  "explicit priority 0",
			yaml:  "providers:\n  - name: a\n    type: config-test\n  - name: b\n    type: config-test\n    priority: 0\n",
			lines: []string{"providers[1].priority: must be >= 1, got 0"},
		},
		{
			name:  "negative priority reported once",
			yaml:  "providers:\n  - name: a\n    type: config-test\n    priority: -3\n",
			lines: []string{"providers[0].priority: must be >= 1, got -3"},
		},
		{
			name:  "negative timeout",
			yaml:  "providers:\n  - name: a\n    type: config-test\n    timeout: -5\n",
			lines: []string{"providers[0].timeout: must be a positive number of seconds, got -5"},
		},
		{
			name:  "negative global time",
			yaml:  "request_timeout: -0.5\n",
			lines: []string{"request_timeout: must be a positive number of seconds, got -0.5"},
		},
		{
			name:  "non-numeric timeout",
			yaml:  "providers:\n  - name: a\n    type: config-test\n    timeout: soon\n",
			lines: []string{`providers[0].timeout: must be a number of seconds (e.g. 30 or 0.5), got "soon"`},
		},
		{
			name:  "duplicate provider names",
			yaml:  "providers:\n  - name: a\n    type: config-test\n  - name: a\n    type: config-test\n",
			lines: []string{`providers[1].name: duplicate provider name "a" (also providers[0])`},
		},
		{
			name:  "missing name",
			yaml:  "providers:\n  - type: config-test\n",
			lines: []string{"providers[0].name: is required"},
		},
		{
			name:  "missing type",
			yaml:  "providers:\n  - name: a\n",
			lines: []string{"providers[0].type: is required"},
		},
		{
			name:     "unknown type",
			yaml:     "providers:\n  - name: a\n    type: nosuch\n",
			contains: []string{`providers[0].type: unknown provider type "nosuch" (known types: `, configTestType, "mock", "openai"},
		},
		{
			name: "built-in type not linked",
			yaml: "providers:\n  - name: a\n    type: " + unlinkedBuiltin + "\n",
			contains: []string{
				`providers[0].type: provider type "` + unlinkedBuiltin + `" is built in but not linked into this program`,
				`add import _ "example.com/llmproxy-test/unlinked"`,
				`(or _ "github.com/llmproxy/llmproxy/providers/all" for every built-in type)`,
			},
		},
		{
			name:  "bad base_url",
			yaml:  "providers:\n  - name: a\n    type: config-test\n    base_url: ftp://example.com\n",
			lines: []string{`providers[0].base_url: must start with http:// or https://, got "ftp://example.com"`},
		},
		{
			name:  "bad log_level",
			yaml:  "log_level: loud\n",
			lines: []string{`log_level: must be one of debug, info, warn, error; got "loud"`},
		},
		{
			name:  "port out of range",
			yaml:  "port: 70000\n",
			lines: []string{"port: must be between 1 and 65535, got 70000"},
		},
		{
			name:  "port not a number",
			yaml:  "port: eighty\n",
			lines: []string{`port: must be an integer, got "eighty"`},
		},
		{
			name:  "port from env out of range",
			yaml:  "port: 8000\n",
			env:   map[string]string{"PROXY_API_PORT": "-1"},
			lines: []string{"port: must be between 1 and 65535, got -1"},
		},
		{
			name: "env value of the wrong type",
			yaml: "port: 8000\n",
			env:  map[string]string{"PROXY_API_PORT": "abc", "PROXY_API_DEBUG": "yes please", "PROXY_API_REQUEST_TIMEOUT": "later"},
			lines: []string{
				`port: must be an integer, got "abc" (from PROXY_API_PORT)`,
				`debug: must be true or false, got "yes please" (from PROXY_API_DEBUG)`,
				`request_timeout: must be a number of seconds (e.g. 30 or 0.5), got "later" (from PROXY_API_REQUEST_TIMEOUT)`,
			},
		},
		{
			name: "wrong types in the file",
			yaml: "debug: maybe\napi_keys: secret\nproviders:\n  - name: a\n    type: config-test\n    models: gpt-4o\n    custom_headers: [a]\n    max_retries: 1.5\n",
			lines: []string{
				`debug: must be true or false, got "maybe"`,
				"api_keys: must be a list (value not shown)",
				"providers[0].models: must be a list, got \"gpt-4o\"",
				"providers[0].custom_headers: must be a mapping (value not shown)",
				"providers[0].max_retries: must be an integer, got 1.5",
			},
		},
		{
			name: "credentials are not echoed",
			yaml: "api_keys: sk-client-secret\nproviders:\n  - name: a\n    type: config-test\n    custom_headers:\n      Authorization: [Bearer, sk-header-secret]\n",
			lines: []string{
				"api_keys: must be a list (value not shown)",
				"providers[0].custom_headers[authorization]: must be a string (value not shown)",
			},
		},
		{
			name: "idempotency key headers",
			yaml: "providers:\n  - name: a\n    type: config-test\n    custom_headers:\n      Idempotency-Key: k1\n      X-Idempotency-Key: k2\n",
			lines: []string{
				`providers[0].custom_headers: "idempotency-key" is not allowed: it would make the HTTP client send a request again after the upstream may have acted on it`,
				`providers[0].custom_headers: "x-idempotency-key" is not allowed: it would make the HTTP client send a request again after the upstream may have acted on it`,
			},
		},
		{
			name:  "providers not a list",
			yaml:  "providers:\n  name: a\n",
			lines: []string{"providers: must be a list, got a mapping"},
		},
		{
			name: "every problem is reported",
			yaml: `
port: 0x1FFFF
log_level: loud
colour: blue
providers:
  - name: a
    type: config-test
    priorty: 1
  - name: a
    priority: 0
    retry_delay: -1
`,
			lines: []string{
				"colour: unknown key",
				`providers[0].priorty: unknown key (did you mean "priority"?)`,
				"providers[1].priority: must be >= 1, got 0",
				"port: must be between 1 and 65535, got 131071",
				`log_level: must be one of debug, info, warn, error; got "loud"`,
				`providers[1].name: duplicate provider name "a" (also providers[0])`,
				"providers[1].type: is required",
				"providers[1].retry_delay: must be a positive number of seconds, got -1",
			},
		},
		{
			name:     "YAML syntax error",
			yaml:     "port: 8000\nhost: \"unterminated\n",
			contains: []string{"config.yaml: yaml: line 2: "},
		},
		{
			name:     "bad .env",
			yaml:     "port: 8000\n",
			dotenv:   "GOOD=1\nBAD=\"unterminated\n",
			contains: []string{".env: "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.yaml, tt.dotenv)
			cfg, err := LoadConfigEnv(path, envFunc(tt.env))
			require.Error(t, err)
			assert.Equal(t, Config{}, cfg)
			msg := err.Error()
			assert.Contains(t, msg, filepath.Dir(path), "the error names the file")
			for _, s := range tt.contains {
				assert.Contains(t, msg, s)
			}
			if len(tt.lines) == 0 {
				return
			}
			var got []string
			for line := range strings.SplitSeq(msg, "\n") {
				require.True(t, strings.HasPrefix(line, path+": "), "line %q lacks the path prefix", line)
				got = append(got, strings.TrimPrefix(line, path+": "))
			}
			assert.ElementsMatch(t, tt.lines, got)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Contains(t, tt.lines, ce.Error())
			assert.Len(t, configErrorsOf(err), len(tt.lines), "each problem is a *ConfigError")
		})
	}
}

// configErrorsOf returns every *ConfigError in err's tree.
func configErrorsOf(err error) []*ConfigError {
	var out []*ConfigError
	var walk func(error)
	walk = func(err error) {
		if ce, ok := err.(*ConfigError); ok {
			out = append(out, ce)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

func TestLoadConfigMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.yaml")
	_, err := LoadConfigEnv(path, envFunc(nil))
	require.Error(t, err)
	assert.Equal(t, fmt.Sprintf("config file %q not found", path), err.Error())
	assert.ErrorIs(t, err, fs.ErrNotExist)

	_, err = LoadConfig("x.yaml")
	assert.EqualError(t, err, `config file "x.yaml" not found`)
}

func TestLoadConfigSecretRedaction(t *testing.T) {
	registerConfigTestType()
	const key = "sk-very-secret-value-123"
	path := writeConfig(t, "providers:\n  - name: a\n    type: config-test\n    api_key_env: THE_KEY\n", "")
	cfg, err := LoadConfigEnv(path, envFunc(map[string]string{"THE_KEY": key}))
	require.NoError(t, err)
	require.Equal(t, key, cfg.Providers[0].APIKey.Reveal())

	printed := fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg)
	printed += fmt.Sprintf("%v %+v %#v", cfg.Providers[0], cfg.Providers[0], &cfg.Providers[0])
	assert.NotContains(t, printed, key)
	assert.Contains(t, printed, "[redacted]")

	js, err := json.Marshal(cfg)
	require.NoError(t, err)
	assert.NotContains(t, string(js), key)
	assert.Contains(t, string(js), `"APIKey":"[redacted]"`)
}

// unlinkedBuiltin is a built-in type name that no test binary links: the
// real built-in types may be linked into this one through other test files.
const unlinkedBuiltin = "config-test-unlinked"

func init() { builtinImports[unlinkedBuiltin] = "example.com/llmproxy-test/unlinked" }

// builtinTypeRE matches the type of each provider in config.yaml.
var builtinTypeRE = regexp.MustCompile(`(?m)^(\s+type:\s*)(openai|anthropic|cohere|bedrock|perplexity|grok|openrouter|blackbox|mock)\b`)

// TestRepoConfigLoads loads the repository's config.yaml. The built-in
// provider types are not linked into this test binary, so the file as it
// is may fail only with "not linked" errors, and a copy with the types
// replaced by the test type must load cleanly.
func TestRepoConfigLoads(t *testing.T) {
	registerConfigTestType()
	env := envFunc(map[string]string{"OPENAI_API_KEY": "sk-openai", "XAI_API_KEY": "xai-key"})

	_, err := LoadConfigEnv("config.yaml", env)
	if err != nil {
		ces := configErrorsOf(err)
		require.NotEmpty(t, ces, "%v", err)
		require.Len(t, ces, len(strings.Split(err.Error(), "\n")), "%v", err)
		for _, ce := range ces {
			assert.True(t, strings.HasSuffix(ce.Field, ".type"), "unexpected problem: %v", ce)
			assert.Contains(t, ce.Problem, "is built in but not linked", "unexpected problem: %v", ce)
		}
	}

	data, err := os.ReadFile("config.yaml")
	require.NoError(t, err)
	var types []string
	for _, m := range builtinTypeRE.FindAllStringSubmatch(string(data), -1) {
		types = append(types, m[2])
	}
	path := writeConfig(t, builtinTypeRE.ReplaceAllString(string(data), "${1}"+configTestType), "")
	cfg, err := LoadConfigEnv(path, env)
	require.NoError(t, err)

	assert.Equal(t, "llmproxy", cfg.AppName)
	assert.Equal(t, "127.0.0.1", cfg.Host, "only this machine can reach it out of the box")
	assert.Equal(t, 8000, cfg.Port)
	assert.Empty(t, cfg.APIKeys, "auth is off out of the box")
	assert.Equal(t, "X-API-Key", cfg.APIKeyHeader)
	assert.Equal(t, []string{"*"}, cfg.CORSOrigins)
	assert.Zero(t, cfg.RateLimitRPM, "no global limit: the per-endpoint limits apply alone")
	assert.Equal(t, time.Minute, cfg.RateLimitWindow)
	assert.Equal(t, 100, cfg.RateLimitChatRPM)
	assert.Equal(t, 100, cfg.RateLimitCompletionsRPM)
	assert.Equal(t, 200, cfg.RateLimitEmbeddingsRPM)
	assert.False(t, cfg.RedisURL.IsSet(), "limits in memory out of the box")
	assert.False(t, cfg.RedisFailClosed)
	assert.Equal(t, 300*time.Second, cfg.RequestTimeout)
	assert.Equal(t, 5, cfg.CircuitBreakerThreshold)
	assert.Equal(t, time.Minute, cfg.CircuitBreakerTimeout)
	assert.Equal(t, "info", cfg.LogLevel)

	byName := map[string]*ProviderConfig{}
	var names []string
	for i := range cfg.Providers {
		p := &cfg.Providers[i]
		byName[p.Name] = p
		names = append(names, p.Name)
		assert.Equal(t, types[i], p.Name, "each built-in provider is named after its type")
	}
	assert.Equal(t, []string{"openai", "anthropic", "cohere", "bedrock", "perplexity", "grok", "openrouter", "blackbox", "mock"}, names)

	openai := byName["openai"]
	assert.Equal(t, EnvNames{"OPENAI_API_KEY", "PROXY_API_OPENAI_API_KEY"}, openai.APIKeyEnv)
	assert.Equal(t, "sk-openai", openai.APIKey.Reveal())
	assert.Equal(t, 1, openai.Priority)
	assert.Equal(t, []string{"gpt-4o", "gpt-4o-mini", "gpt-4*", "text-embedding-3-small", "text-embedding-3-large", "gpt-3.5-turbo-instruct"}, openai.Models)
	assert.Equal(t, 2, openai.MaxRetries)

	assert.Equal(t, EnvNames{"ANTHROPIC_API_KEY", "PROXY_API_ANTHROPIC_API_KEY"}, byName["anthropic"].APIKeyEnv)
	assert.True(t, byName["anthropic"].Serves("claude-sonnet-4-5"))
	assert.Equal(t, 4096, byName["anthropic"].DefaultMaxTokens)
	assert.Equal(t, EnvNames{"COHERE_API_KEY", "CO_API_KEY", "PROXY_API_COHERE_API_KEY"}, byName["cohere"].APIKeyEnv)
	assert.Equal(t, "search_document", byName["cohere"].EmbeddingInputType)
	assert.Equal(t, EnvNames{"AWS_BEARER_TOKEN_BEDROCK"}, byName["bedrock"].APIKeyEnv)
	assert.Equal(t, "us-east-1", byName["bedrock"].AWSRegion)
	assert.Equal(t, EnvNames{"PERPLEXITY_API_KEY", "PROXY_API_PERPLEXITY_API_KEY"}, byName["perplexity"].APIKeyEnv)
	assert.False(t, byName["perplexity"].APIKey.IsSet())
	assert.Equal(t, []string{"sonar", "sonar-pro", "sonar-reasoning-pro"}, byName["perplexity"].Models)
	assert.Equal(t, 2, byName["perplexity"].Priority)
	assert.Equal(t, EnvNames{"XAI_API_KEY", "PROXY_API_GROK_API_KEY"}, byName["grok"].APIKeyEnv)
	assert.True(t, byName["grok"].Serves("grok-3"))
	assert.Equal(t, EnvNames{"OPENROUTER_API_KEY", "PROXY_API_OPENROUTER_API_KEY"}, byName["openrouter"].APIKeyEnv)
	assert.Equal(t, 3, byName["openrouter"].Priority)
	assert.True(t, byName["openrouter"].Serves("anthropic/claude-3.5-sonnet"))
	assert.Contains(t, byName["openrouter"].CustomHeaders, "http-referer")
	assert.Contains(t, byName["openrouter"].CustomHeaders, "x-title")
	assert.Equal(t, EnvNames{"BLACKBOX_API_KEY", "PROXY_API_BLACKBOX_API_KEY"}, byName["blackbox"].APIKeyEnv)
	assert.Equal(t, 3, byName["blackbox"].Priority)

	mock := byName["mock"]
	assert.Empty(t, mock.APIKeyEnv, "the mock needs no key")
	assert.Equal(t, 10, mock.Priority, "real providers win over the mock")
	assert.True(t, mock.Serves("mock-1"))
	assert.True(t, mock.Serves("gpt-4o-mini"))
	for _, p := range cfg.Providers {
		assert.True(t, p.IsEnabled(), p.Name)
	}
}

// TestLoadConfigEnvExample checks that .env.example parses as a .env file
// and shows every key variable of every provider in config.yaml: the
// first, the vendor's own name, as an empty variable, the others at least
// in a comment.
func TestLoadConfigEnvExample(t *testing.T) {
	registerConfigTestType()
	example, err := os.ReadFile(".env.example")
	require.NoError(t, err)
	env, err := readDotenv(".env.example")
	require.NoError(t, err)
	cfgText, err := os.ReadFile("config.yaml")
	require.NoError(t, err)
	cfg, err := LoadConfigEnv(writeConfig(t, builtinTypeRE.ReplaceAllString(string(cfgText), "${1}"+configTestType), ""), nil)
	require.NoError(t, err)
	named := 0
	for _, p := range cfg.Providers {
		if len(p.APIKeyEnv) == 0 {
			continue
		}
		named++
		v, ok := env[p.APIKeyEnv[0]]
		assert.True(t, ok, "%s missing from .env.example:\n%s", p.APIKeyEnv[0], example)
		assert.Empty(t, v, "%s must be empty in .env.example", p.APIKeyEnv[0])
		for _, name := range p.APIKeyEnv[1:] {
			assert.Regexp(t, `(?m)^# `+name+`=$`, string(example), "%s missing from .env.example", name)
		}
	}
	assert.Equal(t, 8, named, "the providers that need a key")
}
