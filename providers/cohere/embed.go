package cohere

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/llmproxy/llmproxy"
)

const (
	// embedPath is Cohere's embeddings endpoint.
	embedPath = "/v2/embed"
	// defaultInputType is the input_type sent when neither the client nor
	// the configuration chose one.
	defaultInputType = "search_document"
	// maxTextsPerCall is the most texts Cohere embeds in one call.
	maxTextsPerCall = 96
	// maxTexts is the most inputs one request may hold, as for OpenAI.
	maxTexts = 2048
)

// embedRequest is the body of POST /v2/embed.
type embedRequest struct {
	Model           string          `json:"model"`
	Texts           []string        `json:"texts"`
	InputType       string          `json:"input_type"`
	EmbeddingTypes  []string        `json:"embedding_types"`
	OutputDimension *int            `json:"output_dimension,omitempty"`
	Truncate        json.RawMessage `json:"truncate,omitempty"`
	Priority        json.RawMessage `json:"priority,omitempty"`
}

// embedResponse is Cohere's EmbedByTypeResponse. Embeddings is an object
// keyed by type ({"float":[[..]]}); the older embeddings_floats form, a
// bare list of float vectors, is tolerated.
type embedResponse struct {
	ID         string          `json:"id"`
	Embeddings json.RawMessage `json:"embeddings"`
	Meta       *struct {
		BilledUnits *tokenCounts `json:"billed_units"`
		Tokens      *tokenCounts `json:"tokens"`
	} `json:"meta"`
}

// Embeddings computes embeddings with POST /v2/embed, in batches of at most
// 96 texts sent one after the other (see the package documentation). The
// vectors are floats, or base64 when req asked for encoding_format base64.
func (p *Provider) Embeddings(ctx context.Context, req *llmproxy.EmbeddingRequest) (*llmproxy.EmbeddingResponse, error) {
	batches, err := toEmbedRequests(req, p.inputType)
	if err != nil {
		return nil, p.withProvider(err)
	}
	out := &llmproxy.EmbeddingResponse{Object: "list", Model: req.Model, Data: []llmproxy.Embedding{}}
	var prompt, billed int
	hasBilled := false
	for _, b := range batches {
		body, err := p.up.Encode(b)
		if err != nil {
			return nil, err
		}
		var r embedResponse
		if err := p.call(ctx, http.MethodPost, embedPath, body, &r); err != nil {
			return nil, err
		}
		vecs, err := floatVectors(r.Embeddings, len(b.Texts))
		if err != nil {
			return nil, p.up.InvalidAnswer(err)
		}
		for _, v := range vecs {
			e := llmproxy.Embedding{Object: "embedding", Index: len(out.Data), Vector: v}
			if req.EncodingFormat == "base64" {
				e.EncodeBase64()
			}
			out.Data = append(out.Data, e)
		}
		if m := r.Meta; m != nil {
			var in *float64
			if m.Tokens != nil {
				in = m.Tokens.InputTokens
			}
			if m.BilledUnits != nil && m.BilledUnits.InputTokens != nil {
				in = m.BilledUnits.InputTokens
				billed += count(m.BilledUnits.InputTokens)
				hasBilled = true
			}
			prompt += count(in)
		}
	}
	out.Usage = &llmproxy.Usage{PromptTokens: prompt, TotalTokens: prompt}
	if hasBilled {
		out.Usage.Extra = llmproxy.Extra{"billed_units": fmt.Appendf(nil, `{"input_tokens":%d}`, billed)}
	}
	return out, nil
}

// toEmbedRequests translates an OpenAI embeddings request into Cohere
// requests of at most maxTextsPerCall texts each. The input_type is the
// client's input_type member, else inputType.
func toEmbedRequests(req *llmproxy.EmbeddingRequest, inputType string) ([]embedRequest, error) {
	texts, ok := req.InputStrings()
	switch {
	case !ok:
		return nil, invalidParam("input", "Cohere embeds text only: input must be a string or a list of strings, not tokens")
	case len(texts) == 0:
		return nil, invalidParam("input", "input must not be empty")
	case len(texts) > maxTexts:
		return nil, invalidParam("input", "input may hold at most %d texts, got %d", maxTexts, len(texts))
	}
	if raw, ok := req.Extra.Present("input_type"); ok {
		if json.Unmarshal(raw, &inputType) != nil || inputType == "" {
			return nil, invalidParam("input_type", "input_type must be a non-empty string")
		}
	}
	tmpl := embedRequest{Model: req.Model, InputType: inputType, EmbeddingTypes: []string{"float"},
		OutputDimension: req.Dimensions}
	tmpl.Truncate, _ = req.Extra.Present("truncate")
	tmpl.Priority, _ = req.Extra.Present("priority")
	var out []embedRequest
	for len(texts) > 0 {
		n := min(len(texts), maxTextsPerCall)
		b := tmpl
		b.Texts, texts = texts[:n:n], texts[n:]
		out = append(out, b)
	}
	return out, nil
}

// floatVectors returns the float vectors of an embeddings member, which
// must hold exactly n of them.
func floatVectors(raw json.RawMessage, n int) ([][]float32, error) {
	raw = bytes.TrimSpace(raw)
	var vecs [][]float32
	switch firstByte(raw) {
	case '{':
		var byType struct {
			Float [][]float32 `json:"float"`
		}
		if err := json.Unmarshal(raw, &byType); err != nil {
			return nil, err
		}
		vecs = byType.Float
	case '[':
		if err := json.Unmarshal(raw, &vecs); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("the answer has no embeddings")
	}
	if len(vecs) != n {
		return nil, fmt.Errorf("the answer has %d float embeddings for %d texts", len(vecs), n)
	}
	return vecs, nil
}
