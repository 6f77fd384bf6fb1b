// Package mock provides the "mock" provider type: an upstream that answers
// locally and deterministically, for trying llmproxy without any API key and
// for testing clients. Importing the package registers the type:
//
//	import _ "github.com/llmproxy/llmproxy/providers/mock"
//
// A chat answer echoes the last user message ("Mock response to: …"); a text
// completion echoes the prompt; embeddings are unit vectors derived from a
// hash of each input, so equal inputs give equal vectors. Token counts are
// the number of words.
package mock

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/llmproxy/llmproxy"
)

func init() {
	llmproxy.RegisterProviderType("mock", func(cfg llmproxy.ProviderConfig) (llmproxy.Provider, error) {
		return New(cfg.Name, cfg.Models), nil
	})
}

// Dimensions is the length of the mock's embedding vectors.
const Dimensions = 8

// created is the fixed creation time of every mock answer, so that answers
// are byte-for-byte deterministic.
const created = 1700000000

// Provider is the mock provider. It is safe for concurrent use.
type Provider struct {
	name   string
	models []string
}

// New returns a mock provider called name that lists models (globs are
// left out of its model list).
func New(name string, models []string) *Provider {
	return &Provider{name: name, models: models}
}

// Name returns the provider's name.
func (p *Provider) Name() string { return p.name }

// ChatCompletion answers with "Mock response to: " and the last user
// message's text.
func (p *Provider) ChatCompletion(ctx context.Context, req *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, llmproxy.TransportError(ctx, p.name, err)
	}
	var last string
	var prompt int
	for _, m := range req.Messages {
		text := m.Content.String()
		prompt += words(text)
		if m.Role == "user" {
			last = text
		}
	}
	answer := "Mock response to: " + last
	return &llmproxy.ChatResponse{
		ID:      "chatcmpl-mock-" + digest(answer),
		Object:  "chat.completion",
		Created: created,
		Model:   req.Model,
		Choices: []llmproxy.Choice{{
			Index:        0,
			Message:      llmproxy.Message{Role: "assistant", Content: llmproxy.Text(answer)},
			FinishReason: "stop",
		}},
		Usage: usage(prompt, words(answer)),
	}, nil
}

// Completion answers with "Mock completion of: " and the prompt.
func (p *Provider) Completion(ctx context.Context, req *llmproxy.CompletionRequest) (*llmproxy.CompletionResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, llmproxy.TransportError(ctx, p.name, err)
	}
	prompt, _ := req.PromptText()
	text := "Mock completion of: " + prompt
	return &llmproxy.CompletionResponse{
		ID:      "cmpl-mock-" + digest(text),
		Object:  "text_completion",
		Created: created,
		Model:   req.Model,
		Choices: []llmproxy.CompletionChoice{{Index: 0, Text: text, FinishReason: "stop"}},
		Usage:   usage(words(prompt), words(text)),
	}, nil
}

// Embeddings returns one deterministic unit vector of Dimensions floats per
// input string.
func (p *Provider) Embeddings(ctx context.Context, req *llmproxy.EmbeddingRequest) (*llmproxy.EmbeddingResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, llmproxy.TransportError(ctx, p.name, err)
	}
	inputs, ok := req.InputStrings()
	if !ok {
		return nil, &llmproxy.Error{
			Kind: llmproxy.KindInvalidRequest, Provider: p.name, Param: "input",
			Message: "the mock provider embeds strings only, not token arrays",
		}
	}
	resp := &llmproxy.EmbeddingResponse{Object: "list", Model: req.Model, Data: make([]llmproxy.Embedding, len(inputs))}
	var tokens int
	for i, in := range inputs {
		tokens += words(in)
		resp.Data[i] = llmproxy.Embedding{Object: "embedding", Index: i, Vector: vector(in)}
	}
	resp.Usage = &llmproxy.Usage{PromptTokens: tokens, TotalTokens: tokens}
	return resp, nil
}

// ListModels lists the configured model names that are not globs, and
// "mock-1" unless the configured models exclude it.
func (p *Provider) ListModels(ctx context.Context) ([]llmproxy.Model, error) {
	var out []llmproxy.Model
	for _, m := range p.models {
		if !strings.ContainsAny(m, `*?[\`) {
			out = append(out, llmproxy.Model{ID: m, Object: "model", Created: created, OwnedBy: p.name})
		}
	}
	cfg := llmproxy.ProviderConfig{Models: p.models}
	if cfg.Serves("mock-1") && !slices.ContainsFunc(out, func(m llmproxy.Model) bool { return m.ID == "mock-1" }) {
		out = append(out, llmproxy.Model{ID: "mock-1", Object: "model", Created: created, OwnedBy: p.name})
	}
	return out, nil
}

// HealthCheck always succeeds.
func (p *Provider) HealthCheck(ctx context.Context) error { return nil }

func usage(prompt, completion int) *llmproxy.Usage {
	return &llmproxy.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}

func words(s string) int { return len(strings.Fields(s)) }

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%x", sum[:6])
}

// vector derives a unit vector from the SHA-256 of s.
func vector(s string) []float32 {
	sum := sha256.Sum256([]byte(s))
	v := make([]float32, Dimensions)
	var norm float64
	for i := range v {
		x := float64(int16(binary.LittleEndian.Uint16(sum[2*i:]))) / math.MaxInt16
		v[i] = float32(x)
		norm += x * x
	}
	norm = math.Sqrt(norm)
	if norm == 0 {
		norm = 1
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / norm)
	}
	return v
}
