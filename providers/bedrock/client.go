package bedrock

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/smithy-go/auth/bearer"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/llmproxy/llmproxy"
)

// Auth scheme names of the SDK's AuthSchemePreference.
const (
	schemeSigV4  = "sigv4"
	schemeBearer = "httpBearerAuth"
)

// New returns a provider for the Bedrock upstream described by cfg (see
// the package documentation for the fields it reads). It loads the AWS
// shared configuration (files and environment, no network) to resolve the
// region and the default credential chain; credentials themselves are
// fetched lazily, on the first request. It fails when no region is known,
// when a variable named by aws_access_key_id_env or
// aws_secret_access_key_env is unset, or when cfg.BaseURL is not an
// absolute http(s) URL.
func New(cfg llmproxy.ProviderConfig) (*Provider, error) {
	return newProvider(cfg, llmproxy.NewHTTPClient(cfg), nil)
}

// newProvider is New with the HTTP client to send requests with and, when
// creds is not nil, the credentials to sign them with (the tests' seam).
func newProvider(cfg llmproxy.ProviderConfig, httpClient *http.Client, creds aws.CredentialsProvider) (*Provider, error) {
	name := cfg.Name
	if name == "" {
		name = "bedrock"
	}
	if cfg.DefaultMaxTokens < 0 {
		return nil, fmt.Errorf("bedrock: default_max_tokens must be >= 1, got %d", cfg.DefaultMaxTokens)
	}
	var base string
	if cfg.BaseURL != "" {
		b, err := llmproxy.ResolveBaseURL(cfg, "")
		if err != nil {
			return nil, fmt.Errorf("bedrock: %w", err)
		}
		base = b
	}
	static, secrets, err := staticCredentials(cfg)
	if err != nil {
		return nil, err
	}
	if creds != nil {
		static = creds
	}
	// The HTTP client and the retry policy are the Bedrock client's only:
	// the loader would refuse a plain *http.Client when AWS_CA_BUNDLE is
	// set, and the credential providers (STS, SSO, IMDS) keep the SDK's
	// own client and retries.
	var opts []func(*config.LoadOptions) error
	if cfg.AWSRegion != "" {
		opts = append(opts, config.WithRegion(cfg.AWSRegion))
	}
	if static != nil {
		opts = append(opts, config.WithCredentialsProvider(static))
	}
	awsCfg, err := config.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("bedrock: loading the AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, errors.New("bedrock: no AWS region: set aws_region, or AWS_REGION in the environment")
	}
	key := cfg.APIKey.Reveal()
	if key != "" {
		secrets = append(secrets, key)
	}
	awsCfg.Credentials = markCredentialErrors(awsCfg.Credentials)
	client := bedrockruntime.NewFromConfig(awsCfg, func(o *bedrockruntime.Options) {
		o.HTTPClient = httpClient
		// The router retries; the SDK must send each request once.
		o.Retryer = aws.NopRetryer{}
		o.RetryMaxAttempts = 1
		if base != "" {
			o.BaseEndpoint = aws.String(base)
		}
		if key != "" {
			o.BearerAuthTokenProvider = bearer.StaticTokenProvider{Token: bearer.Token{Value: key}}
			o.AuthSchemePreference = []string{schemeBearer}
		} else {
			// Ignore AWS_BEARER_TOKEN_BEDROCK, which the SDK would
			// otherwise prefer to the configured credentials.
			o.BearerAuthTokenProvider = nil
			o.AuthSchemePreference = []string{schemeSigV4}
		}
		for k, v := range cfg.CustomHeaders {
			o.APIOptions = append(o.APIOptions, smithyhttp.SetHeaderValue(k, v))
		}
	})
	inputType := cfg.EmbeddingInputType
	if inputType == "" {
		inputType = defaultInputType
	}
	return &Provider{
		name:       name,
		region:     awsCfg.Region,
		client:     client,
		httpClient: httpClient,
		maxTokens:  cfg.DefaultMaxTokens,
		inputType:  inputType,
		secrets:    &secrets,
	}, nil
}

// staticCredentials returns the static credentials named by the
// aws_*_env fields, or nil when none is configured, with the secrets to
// redact from errors.
func staticCredentials(cfg llmproxy.ProviderConfig) (aws.CredentialsProvider, []string, error) {
	if cfg.AWSAccessKeyIDEnv == "" && cfg.AWSSecretAccessKeyEnv == "" {
		if cfg.AWSSessionTokenEnv != "" {
			return nil, nil, errors.New("bedrock: aws_session_token_env needs aws_access_key_id_env and aws_secret_access_key_env")
		}
		return nil, nil, nil
	}
	if cfg.AWSAccessKeyIDEnv == "" || cfg.AWSSecretAccessKeyEnv == "" {
		return nil, nil, errors.New("bedrock: aws_access_key_id_env and aws_secret_access_key_env must be set together")
	}
	get := func(field, env string) (string, error) {
		if env == "" {
			return "", nil
		}
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("bedrock: %s names %s, which is not set", field, env)
		}
		return v, nil
	}
	id, err := get("aws_access_key_id_env", cfg.AWSAccessKeyIDEnv)
	if err != nil {
		return nil, nil, err
	}
	secret, err := get("aws_secret_access_key_env", cfg.AWSSecretAccessKeyEnv)
	if err != nil {
		return nil, nil, err
	}
	token, err := get("aws_session_token_env", cfg.AWSSessionTokenEnv)
	if err != nil {
		return nil, nil, err
	}
	secrets := []string{id, secret}
	if token != "" {
		secrets = append(secrets, token)
	}
	return credentials.NewStaticCredentialsProvider(id, secret, token), secrets, nil
}

// credentialsError marks a failure to obtain credentials, which the SDK
// reports only as text ("get identity: ..."), so that it is classified as
// KindAuth.
type credentialsError struct{ err error }

func (e *credentialsError) Error() string {
	return "could not obtain AWS credentials: " + e.err.Error()
}
func (e *credentialsError) Unwrap() error { return e.err }

// credentialsMarker wraps a credentials provider so that its failures are
// credentialsErrors. Wrapping the SDK's cache keeps its caching.
type credentialsMarker struct{ p aws.CredentialsProvider }

// Retrieve returns the wrapped provider's credentials.
func (m credentialsMarker) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := m.p.Retrieve(ctx)
	if err != nil {
		return c, &credentialsError{err: err}
	}
	return c, nil
}

// markCredentialErrors wraps p (nil stays nil: anonymous requests).
func markCredentialErrors(p aws.CredentialsProvider) aws.CredentialsProvider {
	if p == nil {
		return nil
	}
	return credentialsMarker{p: p}
}
