package gemini

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

func TestEmbeddings(t *testing.T) {
	t.Run("one string uses embedContent", func(t *testing.T) {
		f := newFakeGemini(t)
		p := newTestProvider(t, f.base())
		resp, err := p.Embeddings(t.Context(), parseEmbed(t, `{"model":"gemini-embedding-001","input":"What is the meaning of life?","dimensions":8,"task_type":"RETRIEVAL_QUERY"}`))
		require.NoError(t, err)
		require.Len(t, resp.Data, 1)
		assert.Equal(t, vectorFor("What is the meaning of life?", "RETRIEVAL_QUERY"), resp.Data[0].Vector)
		assert.Equal(t, "list", resp.Object)
		assert.Equal(t, "gemini-embedding-001", resp.Model)
		assert.Equal(t, &llmproxy.Usage{}, resp.Usage, "Gemini counts no tokens here")
		r := f.last(t)
		assert.Equal(t, "/v1beta/models/gemini-embedding-001:embedContent", r.path)
		assert.JSONEq(t, `{"content":{"parts":[{"text":"What is the meaning of life?"}]},"taskType":"RETRIEVAL_QUERY","outputDimensionality":8}`, string(r.body))
	})
	t.Run("a list uses batchEmbedContents in batches of 100", func(t *testing.T) {
		f := newFakeGemini(t)
		p := newTestProvider(t, f.base())
		inputs := make([]string, 230)
		for i := range inputs {
			inputs[i] = fmt.Sprintf("text %d", i)
		}
		in, _ := json.Marshal(inputs)
		resp, err := p.Embeddings(t.Context(), parseEmbed(t, `{"model":"models/text-embedding-004","input":`+string(in)+`,"title":"Doc"}`))
		require.NoError(t, err)
		require.Len(t, resp.Data, len(inputs))
		for i, e := range resp.Data {
			assert.Equal(t, i, e.Index)
			assert.Equal(t, vectorFor(inputs[i], ""), e.Vector, i)
		}
		reqs := f.requests()
		require.Len(t, reqs, 3)
		for i, want := range []int{100, 100, 30} {
			assert.Equal(t, "/v1beta/models/text-embedding-004:batchEmbedContents", reqs[i].path)
			var b struct {
				Requests []specEmbed `json:"requests"`
			}
			require.NoError(t, strict(reqs[i].body, &b))
			assert.Len(t, b.Requests, want)
			assert.Equal(t, "models/text-embedding-004", b.Requests[0].Model)
			assert.Equal(t, "Doc", b.Requests[0].Title)
		}
	})
	t.Run("base64", func(t *testing.T) {
		f := newFakeGemini(t)
		p := newTestProvider(t, f.base())
		resp, err := p.Embeddings(t.Context(), parseEmbed(t, `{"model":"gemini-embedding-001","input":["a","b"],"encoding_format":"base64"}`))
		require.NoError(t, err)
		require.Len(t, resp.Data, 2)
		for i, e := range resp.Data {
			require.NotEmpty(t, e.Base64)
			require.NoError(t, e.DecodeBase64())
			assert.Equal(t, vectorFor([]string{"a", "b"}[i], ""), e.Vector)
		}
	})
	t.Run("refused", func(t *testing.T) {
		f := newFakeGemini(t)
		p := newTestProvider(t, f.base())
		for body, param := range map[string]string{
			`{"model":"gemini-embedding-001","input":[1,2,3]}`:             "input",
			`{"model":"gemini-embedding-001","input":[]}`:                  "input",
			`{"model":"gemini-embedding-001","input":"x","task_type":7}`:   "task_type",
			`{"model":"gemini-embedding-001","input":"x","title":{"a":1}}`: "title",
			`{"model":"a/b","input":"x"}`:                                  "model",
		} {
			_, err := p.Embeddings(t.Context(), parseEmbed(t, body))
			e := asError(t, err)
			assert.Equal(t, llmproxy.KindInvalidRequest, e.Kind, body)
			assert.Equal(t, param, e.Param, body)
		}
		assert.Empty(t, f.requests())
	})
	t.Run("answer with too few vectors", func(t *testing.T) {
		f := newFakeGemini(t)
		f.set(func(c *fakeConfig) {
			c.force = map[string]reply{"batchEmbedContents": {status: 200, body: `{"embeddings":[{"values":[0.1]}]}`}, "embedContent": {status: 200, body: `{}`}}
		})
		p := newTestProvider(t, f.base())
		_, err := p.Embeddings(t.Context(), parseEmbed(t, `{"model":"gemini-embedding-001","input":["a","b"]}`))
		assert.Equal(t, llmproxy.KindUnavailable, asError(t, err).Kind)
		_, err = p.Embeddings(t.Context(), parseEmbed(t, `{"model":"gemini-embedding-001","input":"a"}`))
		assert.Equal(t, llmproxy.KindUnavailable, asError(t, err).Kind)
	})
}
