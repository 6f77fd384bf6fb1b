package cohere

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

func TestListModels(t *testing.T) {
	f := newFakeCohere(t)
	f.set(func(c *fakeConfig) {
		c.pages = [][]specModel{
			{{Name: "command-a-03-2025", Endpoints: []string{"generate", "chat", "summarize"}}, {Name: "rerank-v3.5", Endpoints: []string{"rerank"}}},
			{{Name: "embed-v4.0", Endpoints: []string{"embed", "embed-image"}}, {Name: "command-a-03-2025", Endpoints: []string{"chat"}}},
			{{Name: "c4ai-aya-expanse-32b"}},
		}
	})
	p := newTestProvider(t, f.URL)
	models, err := p.ListModels(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []llmproxy.Model{
		{ID: "command-a-03-2025", Object: "model", OwnedBy: "cohere"},
		{ID: "embed-v4.0", Object: "model", OwnedBy: "cohere"},
		{ID: "c4ai-aya-expanse-32b", Object: "model", OwnedBy: "cohere"},
	}, models)
	reqs := f.requests()
	require.Len(t, reqs, 3)
	for i, r := range reqs {
		q, err := url.ParseQuery(r.query)
		require.NoError(t, err)
		assert.Equal(t, "1000", q.Get("page_size"))
		if i > 0 {
			assert.Equal(t, "p"+string(rune('0'+i)), q.Get("page_token"))
		}
	}
}

func TestListModelsBoundedPages(t *testing.T) {
	f := newFakeCohere(t)
	f.set(func(c *fakeConfig) {
		c.pages = [][]specModel{{{Name: "a", Endpoints: []string{"chat"}}}, {{Name: "b", Endpoints: []string{"chat"}}}}
		c.loopPages = true // p0 → p1 → p0 → … forever
	})
	p := newTestProvider(t, f.URL)
	models, err := p.ListModels(t.Context())
	require.NoError(t, err)
	assert.Len(t, models, 2)
	assert.Len(t, f.requests(), maxModelPages)
}

func TestHealthCheck(t *testing.T) {
	f := newFakeCohere(t)
	p := newTestProvider(t, f.URL)
	require.NoError(t, p.HealthCheck(t.Context()))
	r := f.last(t)
	assert.Equal(t, "POST", r.method)
	assert.Equal(t, "/v1/check-api-key", r.path)

	f.set(func(c *fakeConfig) { c.keyValid = false })
	e := asError(t, p.HealthCheck(t.Context()))
	assert.Equal(t, llmproxy.KindAuth, e.Kind)
	assert.Equal(t, "co", e.Provider)

	f.set(func(c *fakeConfig) {
		c.force = map[string]reply{"POST /v1/check-api-key": {status: 200, body: `{"organization_id":"o"}`}}
	})
	assert.Equal(t, llmproxy.KindUnavailable, asError(t, p.HealthCheck(t.Context())).Kind)
}
