package llmproxy

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const rateLimitProviders = "providers:\n  - name: p\n    type: config-test\n"

func TestLoadConfigRateLimitKeys(t *testing.T) {
	registerConfigTestType()

	t.Run("file defaults", func(t *testing.T) {
		cfg, err := LoadConfigEnv(writeConfig(t, rateLimitProviders, ""), nil)
		require.NoError(t, err)
		assert.Equal(t, 100, cfg.RateLimitChatRPM)
		assert.Equal(t, 100, cfg.RateLimitCompletionsRPM)
		assert.Equal(t, 200, cfg.RateLimitEmbeddingsRPM)
		assert.False(t, cfg.RedisURL.IsSet(), "in memory by default")
		assert.False(t, cfg.RedisFailClosed, "fail-open by default")
		assert.Empty(t, cfg.TrustedProxies)
	})

	t.Run("set in the file, 0 turns off", func(t *testing.T) {
		yaml := `rate_limit_chat_rpm: 0
rate_limit_completions_rpm: 30
rate_limit_embeddings_rpm: 500
trusted_proxies: ["10.0.0.0/8", "192.168.1.1", "fd00::/8"]
redis_url: redis://:pw@redis.internal:6379/2
redis_fail_closed: true
redis_key_prefix: "staging:"
` + rateLimitProviders
		cfg, err := LoadConfigEnv(writeConfig(t, yaml, ""), nil)
		require.NoError(t, err)
		assert.Equal(t, 0, cfg.RateLimitChatRPM, "an explicit 0 is no limit, not the default")
		assert.Equal(t, 30, cfg.RateLimitCompletionsRPM)
		assert.Equal(t, 500, cfg.RateLimitEmbeddingsRPM)
		assert.Equal(t, []string{"10.0.0.0/8", "192.168.1.1", "fd00::/8"}, cfg.TrustedProxies)
		assert.Equal(t, "redis://:pw@redis.internal:6379/2", cfg.RedisURL.Reveal())
		assert.True(t, cfg.RedisFailClosed)
		assert.Equal(t, "staging:", cfg.RedisKeyPrefix)
	})

	t.Run("environment", func(t *testing.T) {
		cfg, err := LoadConfigEnv(writeConfig(t, "rate_limit_chat_rpm: 10\n"+rateLimitProviders, ""), envFunc(map[string]string{
			"PROXY_API_RATE_LIMIT_CHAT_RPM":       "0",
			"PROXY_API_RATE_LIMIT_EMBEDDINGS_RPM": "7",
			"PROXY_API_REDIS_URL":                 "rediss://redis.internal:6380/0",
			"PROXY_API_REDIS_FAIL_CLOSED":         "true",
			"PROXY_API_TRUSTED_PROXIES":           "10.1.0.0/16, 10.2.0.1",
		}))
		require.NoError(t, err)
		assert.Equal(t, 0, cfg.RateLimitChatRPM, "the environment beats the file, and 0 stays 0")
		assert.Equal(t, 100, cfg.RateLimitCompletionsRPM)
		assert.Equal(t, 7, cfg.RateLimitEmbeddingsRPM)
		assert.Equal(t, "rediss://redis.internal:6380/0", cfg.RedisURL.Reveal())
		assert.True(t, cfg.RedisFailClosed)
		assert.Equal(t, []string{"10.1.0.0/16", "10.2.0.1"}, cfg.TrustedProxies)
	})

	t.Run("in Go, zero is no limit", func(t *testing.T) {
		cfg := Config{}.withDefaults()
		assert.Zero(t, cfg.RateLimitChatRPM)
		assert.Zero(t, cfg.RateLimitCompletionsRPM)
		assert.Zero(t, cfg.RateLimitEmbeddingsRPM)
	})
}

func TestValidateRateLimitKeys(t *testing.T) {
	registerConfigTestType()
	const password = "hunter2-secret"
	cfg := Config{
		RateLimitChatRPM:        -1,
		RateLimitCompletionsRPM: -2,
		RateLimitEmbeddingsRPM:  -3,
		TrustedProxies:          []string{"10.0.0.0/8", "proxy.example.com", "10.0.0.0/99"},
		RedisURL:                Secret("http://:" + password + "@redis:6379"),
		Providers:               []ProviderConfig{{Name: "p", Type: configTestType}},
	}
	err := cfg.Validate()
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		"rate_limit_chat_rpm: must be >= 0, got -1",
		"rate_limit_completions_rpm: must be >= 0, got -2",
		"rate_limit_embeddings_rpm: must be >= 0, got -3",
		`trusted_proxies[1]: must be an IP address or a CIDR range (10.0.0.0/8), got "proxy.example.com"`,
		`trusted_proxies[2]: must be an IP address or a CIDR range`,
		"redis_url: must start with redis://, rediss:// or unix://",
	} {
		assert.Contains(t, msg, want)
	}
	assert.NotContains(t, msg, "trusted_proxies[0]")
	assert.NotContains(t, msg, password, "the problem never quotes the URL")

	cfg = Config{RedisURL: "redis:///0", Providers: []ProviderConfig{{Name: "p", Type: configTestType}}}
	assert.ErrorContains(t, cfg.Validate(), "redis_url: must name a host")
	for _, ok := range []string{"redis://localhost:6379/0", "rediss://user:pw@h:6380", "unix:///run/redis.sock"} {
		cfg = Config{RedisURL: Secret(ok), Providers: []ProviderConfig{{Name: "p", Type: configTestType}}}
		assert.NoError(t, cfg.Validate(), ok)
	}
}

func TestRedisURLIsRedacted(t *testing.T) {
	cfg := Config{RedisURL: "redis://:hunter2@redis:6379/0"}
	printed := fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg)
	js, err := json.Marshal(cfg)
	require.NoError(t, err)
	assert.NotContains(t, printed+string(js), "hunter2")
}
