package cohere

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

func parseEmbed(t *testing.T, body string) *llmproxy.EmbeddingRequest {
	t.Helper()
	req, err := llmproxy.ParseEmbeddingRequest([]byte(body))
	require.NoError(t, err)
	return req
}

func TestEmbeddings(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		cfgType   string
		texts     []string
		inputType string
		base64    bool
		sent      string // the Cohere request expected, for one batch
	}{{
		name:      "float, one string, default input_type",
		body:      `{"model":"embed-v4.0","input":"hello"}`,
		texts:     []string{"hello"},
		inputType: "search_document",
		sent:      `{"model":"embed-v4.0","texts":["hello"],"input_type":"search_document","embedding_types":["float"]}`,
	}, {
		name:      "base64, list, configured input_type, dimensions",
		body:      `{"model":"embed-v4.0","input":["hello","goodbye"],"encoding_format":"base64","dimensions":256}`,
		cfgType:   "clustering",
		texts:     []string{"hello", "goodbye"},
		inputType: "clustering",
		base64:    true,
		sent:      `{"model":"embed-v4.0","texts":["hello","goodbye"],"input_type":"clustering","embedding_types":["float"],"output_dimension":256}`,
	}, {
		name:      "the client's input_type wins",
		body:      `{"model":"embed-v4.0","input":["what is a penguin?"],"input_type":"search_query","truncate":"END","user":"u1"}`,
		cfgType:   "clustering",
		texts:     []string{"what is a penguin?"},
		inputType: "search_query",
		sent:      `{"model":"embed-v4.0","texts":["what is a penguin?"],"input_type":"search_query","embedding_types":["float"],"truncate":"END"}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeCohere(t)
			p := newTestProvider(t, f.URL, func(c *llmproxy.ProviderConfig) { c.EmbeddingInputType = tt.cfgType })
			resp, err := p.Embeddings(t.Context(), parseEmbed(t, tt.body))
			require.NoError(t, err)
			assert.JSONEq(t, tt.sent, string(f.last(t).body))
			assert.Equal(t, "list", resp.Object)
			assert.Equal(t, "embed-v4.0", resp.Model)
			require.Len(t, resp.Data, len(tt.texts))
			words := 0
			for i, text := range tt.texts {
				e := resp.Data[i]
				assert.Equal(t, i, e.Index)
				if tt.base64 {
					assert.Nil(t, e.Vector)
					require.NotEmpty(t, e.Base64)
					b, err := json.Marshal(e)
					require.NoError(t, err)
					assert.Contains(t, string(b), `"embedding":"`+e.Base64+`"`)
					require.NoError(t, e.DecodeBase64())
				}
				assert.Equal(t, vectorFor(text), e.Vector, "the floats come back exactly")
				words += len(strings.Fields(text))
			}
			require.NotNil(t, resp.Usage)
			assert.Equal(t, words, resp.Usage.PromptTokens)
			assert.Equal(t, words, resp.Usage.TotalTokens)
			assert.JSONEq(t, fmt.Sprintf(`{"input_tokens":%d}`, words), string(resp.Usage.Extra["billed_units"]))
		})
	}
}

func TestEmbeddingsBatches(t *testing.T) {
	f := newFakeCohere(t)
	p := newTestProvider(t, f.URL)
	texts := make([]string, 200)
	for i := range texts {
		texts[i] = fmt.Sprintf("text number %d", i)
	}
	in, _ := json.Marshal(texts)
	resp, err := p.Embeddings(t.Context(), parseEmbed(t, `{"model":"embed-v4.0","input":`+string(in)+`}`))
	require.NoError(t, err)
	require.Len(t, f.requests(), 3, "96 + 96 + 8")
	require.Len(t, resp.Data, 200)
	for i, e := range resp.Data {
		assert.Equal(t, i, e.Index)
		assert.Equal(t, vectorFor(texts[i]), e.Vector)
	}
	assert.Equal(t, 600, resp.Usage.PromptTokens)
}

func TestEmbeddingsRefuses(t *testing.T) {
	f := newFakeCohere(t)
	p := newTestProvider(t, f.URL)
	for _, body := range []string{
		`{"model":"embed-v4.0","input":[1212,318,257]}`,
		`{"model":"embed-v4.0","input":[[1212,318],[257]]}`,
		`{"model":"embed-v4.0","input":[]}`,
		`{"model":"embed-v4.0","input":"x","input_type":7}`,
	} {
		_, err := p.Embeddings(t.Context(), parseEmbed(t, body))
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindInvalidRequest, e.Kind, body)
		assert.NotEmpty(t, e.Param)
	}
	assert.Empty(t, f.requests())
}

// TestFakeRequiresInputType shows the fake upstream refusing /v2/embed
// without input_type as Cohere does, and the refusal reaching the caller as
// an invalid request with Cohere's message.
func TestFakeRequiresInputType(t *testing.T) {
	f := newFakeCohere(t)
	p := newTestProvider(t, f.URL)
	var out embedResponse
	err := p.call(t.Context(), "POST", embedPath, []byte(`{"model":"embed-v4.0","texts":["hello"],"embedding_types":["float"]}`), &out)
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindInvalidRequest, e.Kind)
	assert.Equal(t, 400, e.HTTPStatus())
	assert.Equal(t, "invalid request: input_type is required for embed models v3 and higher", e.Message)
	assert.Contains(t, e.Err.Error(), requestID)
}

func TestEmbeddingsInvalidAnswers(t *testing.T) {
	for _, body := range []string{
		`{"id":"x","embeddings":{"float":[[0.1]]}}`,         // one vector for two texts
		`{"id":"x","embeddings":{"int8":[[1],[2]]}}`,        // no floats
		`{"id":"x","embeddings":{"float":[["a"],["b"]]}}`,   // not numbers
		`{"id":"x","embeddings":"none"}`,                    // not embeddings
		`[]`,                                                // not an object
		`{"id":"x","embeddings":{"float":[[1e300],[0.1]]}}`, // not a float32
	} {
		f := newFakeCohere(t)
		f.set(func(c *fakeConfig) { c.force = map[string]reply{"POST /v2/embed": {status: 200, body: body}} })
		p := newTestProvider(t, f.URL)
		_, err := p.Embeddings(t.Context(), parseEmbed(t, `{"model":"embed-v4.0","input":["a","b"]}`))
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindUnavailable, e.Kind, body)
	}
}

func TestEmbeddingsFloatsForm(t *testing.T) {
	f := newFakeCohere(t)
	f.set(func(c *fakeConfig) {
		c.force = map[string]reply{"POST /v2/embed": {status: 200, body: `{"id":"x","response_type":"embeddings_floats","embeddings":[[0.5,-0.25]],"meta":{"tokens":{"input_tokens":3}}}`}}
	})
	p := newTestProvider(t, f.URL)
	resp, err := p.Embeddings(t.Context(), parseEmbed(t, `{"model":"embed-english-v2.0","input":"a"}`))
	require.NoError(t, err)
	assert.Equal(t, []float32{0.5, -0.25}, resp.Data[0].Vector)
	assert.Equal(t, 3, resp.Usage.PromptTokens)
	assert.Nil(t, resp.Usage.Extra)
}
