package llmproxy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRateLimitMessagesRPM(t *testing.T) {
	registerConfigTestType()
	cfg, err := LoadConfigEnv(writeConfig(t, rateLimitProviders, ""), nil)
	require.NoError(t, err)
	assert.Equal(t, DefaultRateLimitMessagesRPM, cfg.RateLimitMessagesRPM, "a file that does not set it gets the default")

	cfg, err = LoadConfigEnv(writeConfig(t, "rate_limit_messages_rpm: 0\n"+rateLimitProviders, ""), nil)
	require.NoError(t, err)
	assert.Zero(t, cfg.RateLimitMessagesRPM, "an explicit 0 is no limit")

	cfg, err = LoadConfigEnv(writeConfig(t, "rate_limit_messages_rpm: 30\n"+rateLimitProviders, ""),
		envFunc(map[string]string{"PROXY_API_RATE_LIMIT_MESSAGES_RPM": "7"}))
	require.NoError(t, err)
	assert.Equal(t, 7, cfg.RateLimitMessagesRPM, "the environment beats the file")

	assert.Zero(t, Config{}.withDefaults().RateLimitMessagesRPM, "in Go, zero is no limit")

	bad := Config{RateLimitMessagesRPM: -4, Providers: []ProviderConfig{{Name: "p", Type: configTestType}}}
	err = bad.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rate_limit_messages_rpm: must be >= 0, got -4")
}
