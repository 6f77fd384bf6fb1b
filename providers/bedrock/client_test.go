package bedrock

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

func TestNewRegionAndCredentials(t *testing.T) {
	isolateAWSConfig(t)
	_, err := New(llmproxy.ProviderConfig{Name: "b"})
	require.ErrorContains(t, err, "no AWS region")

	t.Setenv("AWS_REGION", "ap-south-1")
	p, err := New(llmproxy.ProviderConfig{Name: "b"})
	require.NoError(t, err)
	assert.Equal(t, "ap-south-1", p.Region())
	assert.Equal(t, "b", p.Name())
	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "Close may be called twice")

	p, err = New(llmproxy.ProviderConfig{AWSRegion: testRegion})
	require.NoError(t, err)
	assert.Equal(t, testRegion, p.Region(), "aws_region wins over AWS_REGION")
	assert.Equal(t, "bedrock", p.Name())
	_ = p.Close()

	for name, cfg := range map[string]llmproxy.ProviderConfig{
		"unset variable":    {AWSRegion: testRegion, AWSAccessKeyIDEnv: "BR_UNSET_ID", AWSSecretAccessKeyEnv: "BR_UNSET_SECRET"},
		"id without secret": {AWSRegion: testRegion, AWSAccessKeyIDEnv: "BR_ID"},
		"token alone":       {AWSRegion: testRegion, AWSSessionTokenEnv: "BR_TOKEN"},
		"bad base_url":      {AWSRegion: testRegion, BaseURL: "ftp://x"},
		"bad max tokens":    {AWSRegion: testRegion, DefaultMaxTokens: -1},
	} {
		_, err := New(cfg)
		assert.Error(t, err, name)
	}
	assert.Contains(t, llmproxy.ProviderTypes(), "bedrock")
}

// TestStaticCredentialsFromEnvironment signs with the credentials that
// the configured variables hold, session token included.
func TestStaticCredentialsFromEnvironment(t *testing.T) {
	isolateAWSConfig(t)
	t.Setenv("BR_ID", testKeyID)
	t.Setenv("BR_SECRET", testSecret)
	t.Setenv("BR_TOKEN", "session-token-TEST-7f6e")
	t.Setenv("AWS_BEARER_TOKEN_BEDROCK", "must-not-be-used")
	up := newFakeBedrock(t)
	up.on("converse", reply{body: answerText})
	p, err := New(llmproxy.ProviderConfig{BaseURL: up.URL, AWSRegion: testRegion,
		AWSAccessKeyIDEnv: "BR_ID", AWSSecretAccessKeyEnv: "BR_SECRET", AWSSessionTokenEnv: "BR_TOKEN"})
	require.NoError(t, err)
	defer p.Close()
	_, err = p.ChatCompletion(context.Background(), chatRequest(t, `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`))
	require.NoError(t, err)
	got := up.last(t)
	assert.Equal(t, "session-token-TEST-7f6e", got.header.Get("X-Amz-Security-Token"))
	assert.Contains(t, got.header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="+testKeyID+"/")

	// The secret is redacted from upstream messages.
	up.on("converse", reply{status: 400, errCode: "ValidationException", body: "echo " + testSecret + " session-token-TEST-7f6e"})
	_, err = p.ChatCompletion(context.Background(), chatRequest(t, `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`))
	e := asError(t, err)
	assert.Equal(t, "echo [redacted] [redacted]", e.Message)
}

// TestBedrockAPIKey sends api_key_env's key as a bearer token instead of
// a signature (Bedrock API keys; the SDK sends bearer tokens over HTTPS
// only).
func TestBedrockAPIKey(t *testing.T) {
	isolateAWSConfig(t)
	const key = "ABSKQmVkcm9ja0FQSUtleS1TRVNUZXN0"
	var auth string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		auth = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answerText)
	}))
	defer srv.Close()
	cfg := llmproxy.ProviderConfig{BaseURL: srv.URL, AWSRegion: testRegion, APIKey: key}
	p, err := newProvider(cfg, srv.Client(), nil)
	require.NoError(t, err)
	defer p.Close()
	resp, err := p.ChatCompletion(context.Background(), chatRequest(t, `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`))
	require.NoError(t, err)
	assert.Equal(t, "Bearer "+key, auth)
	assert.Equal(t, "stop", resp.Choices[0].FinishReason)
}
