package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/llmproxy/llmproxy"
)

const (
	// maxBatch is the most requests Gemini takes in one
	// :batchEmbedContents call.
	maxBatch = 100
	// maxTexts is the most inputs one request may hold, as for OpenAI.
	maxTexts = 2048
)

// embedRequest is the body of :embedContent and one request of
// :batchEmbedContents, where Model names the model again.
type embedRequest struct {
	Model                string          `json:"model,omitempty"`
	Content              content         `json:"content"`
	TaskType             json.RawMessage `json:"taskType,omitempty"`
	Title                json.RawMessage `json:"title,omitempty"`
	OutputDimensionality *int            `json:"outputDimensionality,omitempty"`
}

type batchEmbedRequest struct {
	Requests []embedRequest `json:"requests"`
}

// contentEmbedding is one vector of an answer.
type contentEmbedding struct {
	Values []float32 `json:"values"`
}

// embedResponse is the answer of both methods: :embedContent fills
// Embedding, :batchEmbedContents Embeddings. UsageMetadata is read when
// Gemini sends it.
type embedResponse struct {
	Embedding     *contentEmbedding  `json:"embedding"`
	Embeddings    []contentEmbedding `json:"embeddings"`
	UsageMetadata *usageMetadata     `json:"usageMetadata"`
}

// Embeddings computes embeddings: a single string with :embedContent, a
// list of strings with :batchEmbedContents in batches of at most 100 sent
// one after the other (see the package documentation). The vectors are
// floats, or base64 when req asked for encoding_format base64.
func (p *Provider) Embeddings(ctx context.Context, req *llmproxy.EmbeddingRequest) (*llmproxy.EmbeddingResponse, error) {
	path, err := modelPath(req.Model)
	if err != nil {
		return nil, p.withProvider(err)
	}
	texts, tmpl, err := toEmbedRequest(req)
	if err != nil {
		return nil, p.withProvider(err)
	}
	out := &llmproxy.EmbeddingResponse{Object: "list", Model: req.Model, Data: []llmproxy.Embedding{}, Usage: &llmproxy.Usage{}}
	add := func(vecs []contentEmbedding, u *usageMetadata) {
		for _, v := range vecs {
			e := llmproxy.Embedding{Object: "embedding", Index: len(out.Data), Vector: v.Values}
			if e.Vector == nil {
				e.Vector = []float32{}
			}
			if req.EncodingFormat == "base64" {
				e.EncodeBase64()
			}
			out.Data = append(out.Data, e)
		}
		if u != nil {
			out.Usage.PromptTokens += count(u.PromptTokenCount)
			out.Usage.TotalTokens = out.Usage.PromptTokens
		}
	}
	if firstByte(req.Input) == '"' {
		one := tmpl
		one.Content = textContent(texts[0])
		body, err := p.up.Encode(one)
		if err != nil {
			return nil, err
		}
		var r embedResponse
		if err := p.call(ctx, http.MethodPost, path+":embedContent", body, &r); err != nil {
			return nil, err
		}
		if r.Embedding == nil {
			return nil, p.up.InvalidAnswer(fmt.Errorf("the answer has no embedding"))
		}
		add([]contentEmbedding{*r.Embedding}, r.UsageMetadata)
		return out, nil
	}
	for len(texts) > 0 {
		n := min(len(texts), maxBatch)
		batch := batchEmbedRequest{Requests: make([]embedRequest, n)}
		for i, t := range texts[:n] {
			r := tmpl
			r.Model = path[1:]
			r.Content = textContent(t)
			batch.Requests[i] = r
		}
		texts = texts[n:]
		body, err := p.up.Encode(batch)
		if err != nil {
			return nil, err
		}
		var r embedResponse
		if err := p.call(ctx, http.MethodPost, path+":batchEmbedContents", body, &r); err != nil {
			return nil, err
		}
		if len(r.Embeddings) != n {
			return nil, p.up.InvalidAnswer(fmt.Errorf("the answer has %d embeddings for %d texts", len(r.Embeddings), n))
		}
		add(r.Embeddings, r.UsageMetadata)
	}
	return out, nil
}

// toEmbedRequest returns the texts of an OpenAI embeddings request and the
// members every Gemini request of it shares.
func toEmbedRequest(req *llmproxy.EmbeddingRequest) ([]string, embedRequest, error) {
	var tmpl embedRequest
	texts, ok := req.InputStrings()
	switch {
	case !ok:
		return nil, tmpl, invalidParam("input", "Gemini embeds text only: input must be a string or a list of strings, not tokens")
	case len(texts) == 0:
		return nil, tmpl, invalidParam("input", "input must not be empty")
	case len(texts) > maxTexts:
		return nil, tmpl, invalidParam("input", "input may hold at most %d texts, got %d", maxTexts, len(texts))
	}
	tmpl.OutputDimensionality = req.Dimensions
	if v, ok := native(req.Extra, "task_type", "taskType"); ok {
		if v[0] != '"' {
			return nil, tmpl, invalidParam("task_type", "task_type must be a Gemini task type such as RETRIEVAL_DOCUMENT")
		}
		tmpl.TaskType = v
	}
	if v, ok := req.Extra.Present("title"); ok {
		if v[0] != '"' {
			return nil, tmpl, invalidParam("title", "title must be a string")
		}
		tmpl.Title = v
	}
	return texts, tmpl, nil
}

// textContent is a content of one text part (empty text is sent as it is:
// Gemini says what it makes of it).
func textContent(text string) content {
	return content{Parts: []part{{Text: text}}}
}

// firstByte returns the first byte of raw that is not white space, or 0.
func firstByte(raw []byte) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}
