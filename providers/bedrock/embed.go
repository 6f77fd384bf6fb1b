package bedrock

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/llmproxy/llmproxy"
)

// defaultInputType is the input_type of Cohere embeddings whose request
// and provider name none.
const defaultInputType = "search_document"

// cohereBatch is the most texts Cohere's embed models take in one call.
const cohereBatch = 96

// inputTokensHeader is the header in which Bedrock counts the input tokens
// of an InvokeModel call.
const inputTokensHeader = "X-Amzn-Bedrock-Input-Token-Count"

// Embeddings computes embeddings with InvokeModel: Amazon Titan text
// embedding models get one call per input string, Cohere embed models one
// per batch of 96 (see the package documentation). Vectors come back in
// input order, as base64 when the client asked for encoding_format base64.
// Token arrays, an empty input and other models are KindInvalidRequest; an
// answer that is not the model's JSON, or holds the wrong number of
// vectors, is KindUnavailable.
func (p *Provider) Embeddings(ctx context.Context, req *llmproxy.EmbeddingRequest) (*llmproxy.EmbeddingResponse, error) {
	texts, ok := req.InputStrings()
	if !ok {
		return nil, p.withProvider(invalid("input", "input must be a string or a list of strings for Bedrock embedding models (token arrays are not supported)"))
	}
	if len(texts) == 0 {
		return nil, p.withProvider(invalid("input", "input must not be empty"))
	}
	var vecs [][]float32
	var tokens int
	var err error
	switch model := strings.ToLower(req.Model); {
	case strings.Contains(model, "cohere.embed"):
		vecs, tokens, err = p.cohereEmbed(ctx, req, texts)
	case strings.Contains(model, "titan-embed"):
		vecs, tokens, err = p.titanEmbed(ctx, req, texts)
	default:
		return nil, p.withProvider(invalid("model", fmt.Sprintf("model %q is not an embedding model the Bedrock adapter knows (Amazon Titan text embeddings or Cohere embed)", req.Model)))
	}
	if err != nil {
		return nil, err
	}
	resp := &llmproxy.EmbeddingResponse{Object: "list", Model: req.Model, Data: make([]llmproxy.Embedding, len(vecs)),
		Usage: &llmproxy.Usage{PromptTokens: tokens, TotalTokens: tokens}}
	for i, v := range vecs {
		resp.Data[i] = llmproxy.Embedding{Object: "embedding", Index: i, Vector: v}
		if req.EncodingFormat == "base64" {
			resp.Data[i].EncodeBase64()
		}
	}
	return resp, nil
}

// titanRequest is the body of a Titan text embeddings call.
type titanRequest struct {
	InputText  string `json:"inputText"`
	Dimensions *int   `json:"dimensions,omitempty"`
}

// titanResponse is the answer of a Titan text embeddings call.
type titanResponse struct {
	Embedding           []float32 `json:"embedding"`
	InputTextTokenCount int       `json:"inputTextTokenCount"`
}

// titanEmbed embeds each text with one call; dimensions is sent to v2
// models only (v1 has one size and refuses the member).
func (p *Provider) titanEmbed(ctx context.Context, req *llmproxy.EmbeddingRequest, texts []string) ([][]float32, int, error) {
	var dims *int
	if req.Dimensions != nil {
		if !strings.Contains(req.Model, "-v2") {
			return nil, 0, p.withProvider(invalid("dimensions", "dimensions is supported by Titan text embeddings v2 only"))
		}
		dims = req.Dimensions
	}
	vecs := make([][]float32, 0, len(texts))
	tokens := 0
	for _, text := range texts {
		var r titanResponse
		if _, err := p.invoke(ctx, req.Model, titanRequest{InputText: text, Dimensions: dims}, &r); err != nil {
			return nil, 0, err
		}
		if len(r.Embedding) == 0 {
			return nil, 0, p.invalidAnswer("the Titan answer holds no embedding")
		}
		vecs = append(vecs, r.Embedding)
		tokens += r.InputTextTokenCount
	}
	return vecs, tokens, nil
}

// cohereRequest is the body of a Cohere embed call on Bedrock.
type cohereRequest struct {
	Texts           []string `json:"texts"`
	InputType       string   `json:"input_type"`
	OutputDimension *int     `json:"output_dimension,omitempty"`
}

// cohereResponse is the answer of a Cohere embed call: embeddings is a
// list of vectors (response_type embeddings_floats) or an object of lists
// by type (embeddings_by_type).
type cohereResponse struct {
	Embeddings json.RawMessage `json:"embeddings"`
}

// vectors returns the float vectors of the answer.
func (r *cohereResponse) vectors() ([][]float32, bool) {
	var list [][]float32
	if json.Unmarshal(r.Embeddings, &list) == nil && list != nil {
		return list, true
	}
	var byType struct {
		Float [][]float32 `json:"float"`
	}
	if json.Unmarshal(r.Embeddings, &byType) == nil && byType.Float != nil {
		return byType.Float, true
	}
	return nil, false
}

// cohereEmbed embeds the texts in batches of cohereBatch. The input type is
// the client's input_type member, else the provider's.
func (p *Provider) cohereEmbed(ctx context.Context, req *llmproxy.EmbeddingRequest, texts []string) ([][]float32, int, error) {
	inputType := p.inputType
	if raw := req.Extra["input_type"]; !isNull(raw) {
		if json.Unmarshal(raw, &inputType) != nil || inputType == "" {
			return nil, 0, p.withProvider(invalid("input_type", "input_type must be a string"))
		}
	}
	vecs := make([][]float32, 0, len(texts))
	tokens := 0
	for start := 0; start < len(texts); start += cohereBatch {
		batch := texts[start:min(start+cohereBatch, len(texts))]
		var r cohereResponse
		md, err := p.invoke(ctx, req.Model, cohereRequest{Texts: batch, InputType: inputType, OutputDimension: req.Dimensions}, &r)
		if err != nil {
			return nil, 0, err
		}
		got, ok := r.vectors()
		if !ok || len(got) != len(batch) {
			return nil, 0, p.invalidAnswer(fmt.Sprintf("the Cohere answer holds %d embeddings for %d texts", len(got), len(batch)))
		}
		vecs = append(vecs, got...)
		tokens += headerTokens(md)
	}
	return vecs, tokens, nil
}

// invoke sends body as JSON to InvokeModel and decodes the model's JSON
// answer into v. It returns the call's result metadata.
func (p *Provider) invoke(ctx context.Context, model string, body, v any) (middleware.Metadata, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return middleware.Metadata{}, &llmproxy.Error{Kind: llmproxy.KindInternal, Provider: p.name,
			Message: "could not encode the upstream request", Err: err}
	}
	out, err := p.client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(model), Body: b,
		ContentType: aws.String("application/json"), Accept: aws.String("application/json")})
	if err != nil {
		return middleware.Metadata{}, p.sdkError(ctx, err)
	}
	if err := llmproxy.DecodeAnswer(out.Body, v); err != nil {
		return middleware.Metadata{}, p.invalidAnswer("the model's answer is not the expected JSON")
	}
	return out.ResultMetadata, nil
}

// headerTokens returns the input token count Bedrock sent in the headers
// of a call, or 0.
func headerTokens(md middleware.Metadata) int {
	resp, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response)
	if !ok || resp == nil {
		return 0
	}
	n, err := strconv.Atoi(resp.Header.Get(inputTokensHeader))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// invalidAnswer is the error of a 2xx answer the adapter cannot use. It is
// KindUnavailable, so the router retries or fails over.
func (p *Provider) invalidAnswer(msg string) *llmproxy.Error {
	return &llmproxy.Error{Kind: llmproxy.KindUnavailable, Provider: p.name, Message: msg}
}
