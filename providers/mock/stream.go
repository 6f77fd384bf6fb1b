package mock

import (
	"context"
	"io"
	"strings"

	"github.com/llmproxy/llmproxy"
)

// ChatCompletionStream streams the same answer as ChatCompletion, one word
// per chunk: a role chunk first, then the words, a chunk with the finish
// reason and a usage chunk (which the proxy passes on only to clients that
// asked for usage).
func (p *Provider) ChatCompletionStream(ctx context.Context, req *llmproxy.ChatRequest) (llmproxy.ChunkReader[*llmproxy.ChatChunk], error) {
	resp, err := p.ChatCompletion(ctx, req)
	if err != nil {
		return nil, err
	}
	base := llmproxy.ChatChunk{ID: resp.ID, Object: "chat.completion.chunk", Created: resp.Created, Model: resp.Model}
	chunk := func(d llmproxy.Delta, finish *string) *llmproxy.ChatChunk {
		c := base
		c.Choices = []llmproxy.ChunkChoice{{Delta: d, FinishReason: finish}}
		return &c
	}
	empty, stop := "", "stop"
	chunks := []*llmproxy.ChatChunk{chunk(llmproxy.Delta{Role: "assistant", Content: &empty}, nil)}
	for _, w := range splitWords(resp.Choices[0].Message.Content.String()) {
		chunks = append(chunks, chunk(llmproxy.Delta{Content: &w}, nil))
	}
	chunks = append(chunks, chunk(llmproxy.Delta{}, &stop))
	u := base
	u.Choices, u.Usage = []llmproxy.ChunkChoice{}, resp.Usage
	chunks = append(chunks, &u)
	return &reader[*llmproxy.ChatChunk]{ctx: ctx, chunks: chunks}, nil
}

// CompletionStream streams the same answer as Completion, one word per
// chunk, then a chunk with the finish reason and a usage chunk.
func (p *Provider) CompletionStream(ctx context.Context, req *llmproxy.CompletionRequest) (llmproxy.ChunkReader[*llmproxy.CompletionResponse], error) {
	resp, err := p.Completion(ctx, req)
	if err != nil {
		return nil, err
	}
	chunk := func(text, finish string) *llmproxy.CompletionResponse {
		return &llmproxy.CompletionResponse{ID: resp.ID, Object: "text_completion", Created: resp.Created, Model: resp.Model,
			Choices: []llmproxy.CompletionChoice{{Text: text, FinishReason: finish}}}
	}
	var chunks []*llmproxy.CompletionResponse
	for _, w := range splitWords(resp.Choices[0].Text) {
		chunks = append(chunks, chunk(w, ""))
	}
	chunks = append(chunks, chunk("", "stop"))
	chunks = append(chunks, &llmproxy.CompletionResponse{ID: resp.ID, Object: "text_completion", Created: resp.Created,
		Model: resp.Model, Choices: []llmproxy.CompletionChoice{}, Usage: resp.Usage})
	return &reader[*llmproxy.CompletionResponse]{ctx: ctx, chunks: chunks}, nil
}

// splitWords splits s into words that keep their following space, so that
// the pieces concatenate back to s.
func splitWords(s string) []string {
	var out []string
	for s != "" {
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

// reader hands out prepared chunks, stopping when its context ends.
type reader[T any] struct {
	ctx    context.Context
	chunks []T
}

func (r *reader[T]) Next() (T, error) {
	var zero T
	if err := r.ctx.Err(); err != nil {
		return zero, err
	}
	if len(r.chunks) == 0 {
		return zero, io.EOF
	}
	c := r.chunks[0]
	r.chunks = r.chunks[1:]
	return c, nil
}

func (r *reader[T]) Close() error { return nil }
