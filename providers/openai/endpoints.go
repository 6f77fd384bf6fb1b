package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/llmproxy/llmproxy"
)

// errNoChoices is the cause of an answer without choices.
var errNoChoices = errors.New("the answer has no choices")

// ChatCompletion sends a chat completion request and returns the upstream's
// answer, whose Raw holds the upstream's bytes (normalised for the flavor)
// and whose Extra keeps members such as Perplexity's citations. A request
// parsed from a client goes upstream as the client's exact bytes unless the
// flavor must change it; req is never modified. A request with stream set
// is sent without it, since this method returns one whole answer.
//
// Failures are *llmproxy.Error values: the upstream's own errors keep its
// message, type, param and code; an answer that is not a usable JSON chat
// completion (an HTML page, an empty body, members of the wrong type,
// bytes that are not UTF-8), or is larger than 32 MiB, is KindUnavailable,
// which fails over.
func (p *Provider) ChatCompletion(ctx context.Context, req *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error) {
	body, err := p.chatBody(req)
	if err != nil {
		return nil, err
	}
	path, body, err := p.target(epChat, req.Model, body)
	if err != nil {
		return nil, err
	}
	b, err := p.call(ctx, http.MethodPost, path, body)
	if err != nil {
		return nil, err
	}
	return p.decodeChatAnswer(b)
}

// decodeChatAnswer decodes the body of a successful chat answer, keeping
// its bytes. An "error" member makes it the upstream's error; an answer
// without choices is an invalid answer.
func (p *Provider) decodeChatAnswer(b []byte) (*llmproxy.ChatResponse, error) {
	var resp llmproxy.ChatResponse
	if err := p.decodeAnswer(b, &resp); err != nil {
		return nil, err
	}
	if e := p.embeddedError(resp.Extra); e != nil {
		return nil, e
	}
	if len(resp.Choices) == 0 {
		return nil, p.invalidAnswer(errNoChoices)
	}
	resp.SetRaw(b)
	return &resp, nil
}

// completion sends a legacy text completion request (POST /completions);
// it behaves like ChatCompletion.
func (p *Provider) completion(ctx context.Context, req *llmproxy.CompletionRequest) (*llmproxy.CompletionResponse, error) {
	body, err := p.completionBody(req)
	if err != nil {
		return nil, err
	}
	path, body, err := p.target(epCompletions, req.Model, body)
	if err != nil {
		return nil, err
	}
	b, err := p.call(ctx, http.MethodPost, path, body)
	if err != nil {
		return nil, err
	}
	var resp llmproxy.CompletionResponse
	if err := p.decodeAnswer(b, &resp); err != nil {
		return nil, err
	}
	if e := p.embeddedError(resp.Extra); e != nil {
		return nil, e
	}
	if len(resp.Choices) == 0 {
		return nil, p.invalidAnswer(errNoChoices)
	}
	resp.SetRaw(b)
	return &resp, nil
}

// embeddings sends an embeddings request (POST /embeddings). The vectors
// come back in the form the upstream sent: floats, or base64 when the
// request asked for it.
func (p *Provider) embeddings(ctx context.Context, req *llmproxy.EmbeddingRequest) (*llmproxy.EmbeddingResponse, error) {
	body, err := p.embeddingBody(req)
	if err != nil {
		return nil, err
	}
	path, body, err := p.target(epEmbeddings, req.Model, body)
	if err != nil {
		return nil, err
	}
	b, err := p.call(ctx, http.MethodPost, path, body)
	if err != nil {
		return nil, err
	}
	var resp llmproxy.EmbeddingResponse
	if err := p.decodeAnswer(b, &resp); err != nil {
		return nil, err
	}
	if e := p.embeddedError(resp.Extra); e != nil {
		return nil, e
	}
	resp.SetRaw(b)
	return &resp, nil
}

// listModels returns the upstream's models (GET /models): the "data" of a
// list object, or a bare array (Together answers one). Entries without
// object or owned_by (OpenRouter's) get "model" and the provider's name.
// An Azure provider answers without I/O (see azureRoutes.models).
func (p *Provider) listModels(ctx context.Context) ([]llmproxy.Model, error) {
	if p.azure != nil {
		return p.azure.models(p.name), nil
	}
	b, err := p.call(ctx, http.MethodGet, epModels, nil)
	if err != nil {
		return nil, err
	}
	var list llmproxy.ModelList
	if firstByte(bytes.TrimSpace(b)) == '[' {
		if !utf8.Valid(b) {
			return nil, p.invalidAnswer(errors.New("the answer is not valid UTF-8"))
		}
		if err := json.Unmarshal(b, &list.Data); err != nil {
			return nil, p.invalidAnswer(err)
		}
	} else if err := p.decodeAnswer(b, &list); err != nil {
		return nil, err
	}
	models := make([]llmproxy.Model, 0, len(list.Data))
	for _, m := range list.Data {
		if m.ID == "" {
			continue
		}
		if m.Object == "" {
			m.Object = "model"
		}
		if m.OwnedBy == "" {
			m.OwnedBy = p.name
		}
		models = append(models, m)
	}
	return models, nil
}

// healthCheck asks the flavor's free endpoint (GET /models for openai,
// /api-key for grok, /key for openrouter) and reports any non-2xx answer as
// the upstream's error, so a revoked key shows as KindAuth. For grok and
// openrouter it also reads the key's state from the answer: a blocked or
// disabled xAI key is KindAuth, an OpenRouter key out of credit
// KindQuotaExceeded.
func (p *Provider) healthCheck(ctx context.Context) error {
	b, err := p.call(ctx, http.MethodGet, p.healthPath(), nil)
	if err != nil {
		return err
	}
	if p.flavor.healthProblem != nil {
		return p.flavor.healthProblem(p, b)
	}
	return nil
}
