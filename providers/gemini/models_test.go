package gemini

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

func TestListModels(t *testing.T) {
	f := newFakeGemini(t)
	f.set(func(c *fakeConfig) {
		c.pages = [][]specModel{
			{{Name: "models/gemini-2.5-flash", DisplayName: "Gemini 2.5 Flash", SupportedGenerationMethods: []string{"generateContent", "countTokens", "createCachedContent", "batchGenerateContent"}},
				{Name: "models/imagen-4.0-generate-001", SupportedGenerationMethods: []string{"predict"}}},
			{{Name: "models/gemini-embedding-001", SupportedGenerationMethods: []string{"embedContent", "countTextTokens", "countTokens"}},
				{Name: "models/gemini-2.5-flash", SupportedGenerationMethods: []string{"generateContent"}}},
		}
	})
	p := newTestProvider(t, f.base())
	models, err := p.ListModels(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []llmproxy.Model{
		{ID: "gemini-2.5-flash", Object: "model", OwnedBy: "google"},
		{ID: "gemini-embedding-001", Object: "model", OwnedBy: "google"},
	}, models)
	reqs := f.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "/v1beta/models", reqs[0].path)
	assert.Equal(t, "pageSize=1000", reqs[0].query)
	assert.Equal(t, "pageSize=1000&pageToken=p1", reqs[1].query)
}

func TestHealthCheck(t *testing.T) {
	f := newFakeGemini(t)
	p := newTestProvider(t, f.base())
	require.NoError(t, p.HealthCheck(t.Context()))
	r := f.last(t)
	assert.Equal(t, "GET", r.method)
	assert.Equal(t, "/v1beta/models", r.path)
	assert.Equal(t, "pageSize=1", r.query, "one model: the cheapest answer")
}

func TestRegistered(t *testing.T) {
	assert.Contains(t, llmproxy.ProviderTypes(), "gemini")
	proxy, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{{Name: "g", Type: "gemini", APIKey: "k"}}})
	require.NoError(t, err)
	require.NoError(t, proxy.Close())
	p, err := New(llmproxy.ProviderConfig{})
	require.NoError(t, err)
	assert.Equal(t, DefaultBaseURL, p.BaseURL())
	assert.Equal(t, "gemini", p.Name())
	assert.True(t, strings.HasPrefix(DefaultBaseURL, "https://"))
	_, err = New(llmproxy.ProviderConfig{BaseURL: "ftp://x"})
	assert.Error(t, err)
}
