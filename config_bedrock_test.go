package llmproxy

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValidateBedrock(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	problems := func(p ProviderConfig) map[string]string {
		p.Name = "b"
		if p.Type == "" {
			p.Type = "bedrock"
		}
		out := map[string]string{}
		for _, e := range validateBedrock(&p, 0) {
			var ce *ConfigError
			if errors.As(e, &ce) {
				out[ce.Field] = ce.Problem
			}
		}
		return out
	}
	assert.Empty(t, problems(ProviderConfig{AWSRegion: "us-east-1"}))
	assert.Empty(t, problems(ProviderConfig{AWSRegion: "us-east-1", AWSAccessKeyIDEnv: "A", AWSSecretAccessKeyEnv: "B", AWSSessionTokenEnv: "C"}))
	assert.Contains(t, problems(ProviderConfig{}), "providers[0].aws_region")
	t.Setenv("AWS_DEFAULT_REGION", "eu-west-3")
	assert.Empty(t, problems(ProviderConfig{}), "the environment's region will do")

	assert.Contains(t, problems(ProviderConfig{AWSAccessKeyIDEnv: "A"}), "providers[0].aws_secret_access_key_env")
	assert.Contains(t, problems(ProviderConfig{AWSSessionTokenEnv: "C"}), "providers[0].aws_session_token_env")
	assert.Contains(t, problems(ProviderConfig{AWSAccessKeyIDEnv: "A B", AWSSecretAccessKeyEnv: "B"}), "providers[0].aws_access_key_id_env")
	assert.Contains(t, problems(ProviderConfig{APIKeyEnv: EnvNames{"K"}, AWSAccessKeyIDEnv: "A", AWSSecretAccessKeyEnv: "B"}), "providers[0].api_key_env")
	t.Setenv("AWS_DEFAULT_REGION", "")
	assert.Empty(t, problems(ProviderConfig{Type: "openai"}), "other types need no region")

	// Through Validate, with the field's path.
	c := Config{Providers: []ProviderConfig{{Name: "x", Type: "mock", AWSAccessKeyIDEnv: "A"}}}
	err := c.Validate()
	assert.ErrorContains(t, err, "providers[0].aws_secret_access_key_env: aws_access_key_id_env and aws_secret_access_key_env must be set together")
}
