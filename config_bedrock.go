package llmproxy

import (
	"fmt"
	"os"
)

// bedrockType is the provider type whose settings validateBedrock checks.
const bedrockType = "bedrock"

// validateBedrock checks the Bedrock settings of the i-th provider: a
// bedrock provider needs a region (its own aws_region, else AWS_REGION or
// AWS_DEFAULT_REGION in the environment); the credential variables must be
// valid names, the key id and the secret come together, a session token
// only with them, and not with api_key_env (a Bedrock API key). Other types
// ignore these settings (a type registered by a program may reuse them).
func validateBedrock(p *ProviderConfig, i int) []error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: fmt.Sprintf("providers[%d].%s", i, name), Problem: fmt.Sprintf(format, args...)})
	}
	envs := []struct{ name, v string }{
		{"aws_access_key_id_env", p.AWSAccessKeyIDEnv},
		{"aws_secret_access_key_env", p.AWSSecretAccessKeyEnv},
		{"aws_session_token_env", p.AWSSessionTokenEnv},
	}
	if p.Type == bedrockType && p.AWSRegion == "" && os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
		bad("aws_region", "is required for type bedrock (or set AWS_REGION in the environment)")
	}
	for _, e := range envs {
		if e.v != "" && !validEnvName(e.v) {
			bad(e.name, "must be the name of an environment variable (letters, digits and _), got %q", e.v)
		}
	}
	switch {
	case (p.AWSAccessKeyIDEnv == "") != (p.AWSSecretAccessKeyEnv == ""):
		bad("aws_secret_access_key_env", "aws_access_key_id_env and aws_secret_access_key_env must be set together")
	case p.AWSSessionTokenEnv != "" && p.AWSAccessKeyIDEnv == "":
		bad("aws_session_token_env", "needs aws_access_key_id_env and aws_secret_access_key_env")
	}
	if len(p.APIKeyEnv) > 0 && p.AWSAccessKeyIDEnv != "" {
		bad("api_key_env", "a Bedrock API key (api_key_env) and static AWS credentials (aws_access_key_id_env) exclude each other")
	}
	return errs
}
