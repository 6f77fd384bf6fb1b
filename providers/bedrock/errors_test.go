package bedrock

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// errorCases are the errors Bedrock's runtime API answers, with their HTTP
// statuses as its API reference gives them, and the kind each must become.
var errorCases = []struct {
	status int
	code   string
	kind   llmproxy.ErrorKind
	client int // the status the client is answered with
}{
	{429, "ThrottlingException", llmproxy.KindRateLimited, 429},
	{400, "ServiceQuotaExceededException", llmproxy.KindRateLimited, 429},
	{400, "ValidationException", llmproxy.KindInvalidRequest, 400},
	{403, "AccessDeniedException", llmproxy.KindAuth, 502},
	{403, "UnrecognizedClientException", llmproxy.KindAuth, 502},
	{403, "ExpiredTokenException", llmproxy.KindAuth, 502},
	{404, "ResourceNotFoundException", llmproxy.KindNotFound, 404},
	{429, "ModelNotReadyException", llmproxy.KindUnavailable, 503},
	{424, "ModelErrorException", llmproxy.KindUnavailable, 502},
	{500, "InternalServerException", llmproxy.KindUnavailable, 500},
	{503, "ServiceUnavailableException", llmproxy.KindUnavailable, 503},
	{408, "ModelTimeoutException", llmproxy.KindTimeout, 504},
	{418, "BrandNewException", llmproxy.KindInvalidRequest, 418},
	{502, "BrandNewServerException", llmproxy.KindUnavailable, 502},
}

func TestErrorKinds(t *testing.T) {
	for _, c := range errorCases {
		t.Run(c.code, func(t *testing.T) {
			up := newFakeBedrock(t)
			msg := "upstream says " + c.code
			up.on("converse", reply{status: c.status, errCode: c.code, body: msg, header: map[string]string{"Retry-After": "3"}})
			p := newTestProvider(t, up.URL)
			_, err := p.ChatCompletion(context.Background(), chatRequest(t, `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`))
			e := asError(t, err)
			assert.Equal(t, c.kind, e.Kind)
			assert.Equal(t, c.client, e.HTTPStatus())
			assert.Equal(t, c.code, e.Code)
			assert.Equal(t, msg, e.Message)
			assert.Equal(t, "bedrock", e.Provider)
			assert.Contains(t, e.Err.Error(), testReqID, "the cause keeps the request id")
			if c.kind == llmproxy.KindRateLimited {
				assert.Equal(t, 3*time.Second, e.RetryAfter)
			}
			assert.Equal(t, 1, up.count(), "the SDK must not retry: the router decides")
			assertNoSecret(t, e)
		})
	}
}

// TestNoSDKRetries checks that retryable failures are sent once, even when
// the environment asks the SDK for more attempts.
func TestNoSDKRetries(t *testing.T) {
	up := newFakeBedrock(t)
	up.on("converse", reply{status: 503, errCode: "ServiceUnavailableException", body: "busy"})
	up.on("invoke", reply{status: 429, errCode: "ThrottlingException", body: "slow down"})
	up.on("converse-stream", reply{status: 500, errCode: "InternalServerException", body: "oops"})
	p := newTestProvider(t, up.URL)
	t.Setenv("AWS_MAX_ATTEMPTS", "5")
	t.Setenv("AWS_RETRY_MODE", "adaptive")
	p2 := newTestProvider(t, up.URL)
	for _, p := range []*Provider{p, p2} {
		before := up.count()
		_, err := p.ChatCompletion(context.Background(), chatRequest(t, `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`))
		require.Error(t, err)
		_, err = p.Embeddings(context.Background(), &llmproxy.EmbeddingRequest{Model: "amazon.titan-embed-text-v2:0", Input: []byte(`"x"`)})
		require.Error(t, err)
		_, err = p.ChatCompletionStream(context.Background(), chatRequest(t, `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`))
		require.Error(t, err)
		assert.Equal(t, before+3, up.count(), "one request per call")
	}
}

func TestConnectionAndDecodingFailures(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	p := newTestProvider(t, url)
	_, err := p.ChatCompletion(context.Background(), chatRequest(t, `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`))
	assert.Equal(t, llmproxy.KindUnavailable, asError(t, err).Kind)

	up := newFakeBedrock(t)
	up.on("converse", reply{body: `<html>oops</html>`})
	p = newTestProvider(t, up.URL)
	_, err = p.ChatCompletion(context.Background(), chatRequest(t, `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`))
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindUnavailable, e.Kind)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = p.ChatCompletion(ctx, chatRequest(t, `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`))
	assert.Equal(t, llmproxy.KindCanceled, asError(t, err).Kind)
}

// failingCredentials is a credentials provider that always fails, with a
// message that holds a secret.
type failingCredentials struct{}

func (failingCredentials) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{}, errors.New("no valid credential sources found (tried " + testSecret + ")")
}

func TestCredentialFailureIsAuth(t *testing.T) {
	isolateAWSConfig(t)
	up := newFakeBedrock(t)
	cfg := llmproxy.ProviderConfig{Name: "bedrock", BaseURL: up.URL, AWSRegion: testRegion}
	p, err := newProvider(cfg, llmproxy.NewHTTPClient(cfg), failingCredentials{})
	require.NoError(t, err)
	*p.secrets = append(*p.secrets, testSecret)
	defer p.Close()
	_, err = p.ChatCompletion(context.Background(), chatRequest(t, `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`))
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindAuth, e.Kind)
	assert.Equal(t, "could not obtain AWS credentials", e.Message)
	assert.Zero(t, up.count(), "nothing is sent unsigned")
	assertNoSecret(t, e)
}

func TestSignatureErrorRedactsCredentials(t *testing.T) {
	isolateAWSConfig(t)
	up := newFakeBedrock(t)
	cfg := llmproxy.ProviderConfig{Name: "bedrock", BaseURL: up.URL, AWSRegion: "eu-west-1"}
	p, err := newProvider(cfg, llmproxy.NewHTTPClient(cfg), credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""))
	require.NoError(t, err)
	defer p.Close()
	_, err = p.ChatCompletion(context.Background(), chatRequest(t, `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`))
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindAuth, e.Kind, "signed for the wrong region")
	assert.Equal(t, "InvalidSignatureException", e.Code)
	assertNoSecret(t, e)
}
