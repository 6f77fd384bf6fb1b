package bedrock

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

func embedRequest(t *testing.T, body string) *llmproxy.EmbeddingRequest {
	t.Helper()
	req, err := llmproxy.ParseEmbeddingRequest([]byte(body))
	require.NoError(t, err)
	return req
}

func TestTitanEmbeddings(t *testing.T) {
	up := newFakeBedrock(t)
	up.on("invoke",
		reply{body: `{"embedding":[0.25,-0.5,1],"inputTextTokenCount":3,"embeddingsByType":{"float":[0.25,-0.5,1]}}`},
		reply{body: `{"embedding":[1,2,3],"inputTextTokenCount":4}`})
	p := newTestProvider(t, up.URL)
	resp, err := p.Embeddings(context.Background(), embedRequest(t, `{"model":"amazon.titan-embed-text-v2:0","input":["hello","world"],"dimensions":256}`))
	require.NoError(t, err)
	assert.Equal(t, 2, up.count(), "one call per text")
	got := up.last(t)
	assert.Equal(t, "/model/amazon.titan-embed-text-v2:0/invoke", got.path)
	assert.JSONEq(t, `{"inputText":"world","dimensions":256}`, string(got.body))
	assert.Equal(t, "list", resp.Object)
	assert.Equal(t, "amazon.titan-embed-text-v2:0", resp.Model)
	require.Len(t, resp.Data, 2)
	assert.Equal(t, []float32{0.25, -0.5, 1}, resp.Data[0].Vector)
	assert.Equal(t, 1, resp.Data[1].Index)
	assert.Equal(t, &llmproxy.Usage{PromptTokens: 7, TotalTokens: 7}, resp.Usage)

	// base64, and v1 without dimensions.
	up.on("invoke", reply{body: `{"embedding":[1],"inputTextTokenCount":1}`})
	resp, err = p.Embeddings(context.Background(), embedRequest(t, `{"model":"amazon.titan-embed-text-v1","input":"x","encoding_format":"base64"}`))
	require.NoError(t, err)
	assert.JSONEq(t, `{"inputText":"x"}`, string(up.last(t).body))
	assert.Equal(t, "AACAPw==", resp.Data[0].Base64)
	_, err = p.Embeddings(context.Background(), embedRequest(t, `{"model":"amazon.titan-embed-text-v1","input":"x","dimensions":5}`))
	assert.Equal(t, "dimensions", asError(t, err).Param)
}

func TestCohereEmbeddings(t *testing.T) {
	up := newFakeBedrock(t)
	p := newTestProvider(t, up.URL, func(c *llmproxy.ProviderConfig) { c.EmbeddingInputType = "search_query" })
	texts := make([]string, 100)
	for i := range texts {
		texts[i] = fmt.Sprint("t", i)
	}
	vecs := func(n int, byType bool) string {
		v := make([][]float32, n)
		for i := range v {
			v[i] = []float32{float32(i)}
		}
		b, _ := json.Marshal(v)
		if byType {
			return `{"id":"c0ffee","response_type":"embeddings_by_type","embeddings":{"float":` + string(b) + `},"texts":[]}`
		}
		return `{"id":"c0ffee","response_type":"embeddings_floats","embeddings":` + string(b) + `,"texts":[]}`
	}
	up.on("invoke",
		reply{body: vecs(96, false), header: map[string]string{inputTokensHeader: "200"}},
		reply{body: vecs(4, true), header: map[string]string{inputTokensHeader: "8"}})
	in, _ := json.Marshal(texts)
	resp, err := p.Embeddings(context.Background(), embedRequest(t, `{"model":"cohere.embed-english-v3","input":`+string(in)+`}`))
	require.NoError(t, err)
	assert.Equal(t, 2, up.count(), "batches of 96")
	var last struct {
		Texts     []string `json:"texts"`
		InputType string   `json:"input_type"`
	}
	require.NoError(t, json.Unmarshal(up.last(t).body, &last))
	assert.Equal(t, texts[96:], last.Texts)
	assert.Equal(t, "search_query", last.InputType)
	require.Len(t, resp.Data, 100)
	assert.Equal(t, []float32{95}, resp.Data[95].Vector)
	assert.Equal(t, []float32{3}, resp.Data[99].Vector)
	assert.Equal(t, 208, resp.Usage.PromptTokens)

	up.on("invoke", reply{body: vecs(2, false)})
	_, err = p.Embeddings(context.Background(), embedRequest(t, `{"model":"cohere.embed-v4:0","input":"x","input_type":"classification"}`))
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindUnavailable, e.Kind, "two vectors for one text")
	assert.Contains(t, string(up.last(t).body), `"input_type":"classification"`)
}

func TestEmbeddingsRefused(t *testing.T) {
	up := newFakeBedrock(t)
	p := newTestProvider(t, up.URL)
	for body, param := range map[string]string{
		`{"model":"amazon.nova-pro-v1:0","input":"x"}`:  "model",
		`{"model":"cohere.embed-v4:0","input":[[1,2]]}`: "input",
		`{"model":"cohere.embed-v4:0","input":[]}`:      "input",
	} {
		_, err := p.Embeddings(context.Background(), embedRequest(t, body))
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindInvalidRequest, e.Kind, body)
		assert.Equal(t, param, e.Param, body)
	}
	assert.Zero(t, up.count())
	assert.False(t, strings.Contains(fmt.Sprint(p), testSecret))
}
