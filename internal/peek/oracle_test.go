package peek_test

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/peek"
)

// The full decoders the peeks stand in for, with what they would report.
// They are the oracles of the tests: whenever a peek says ok, the full
// decoder must accept the same bytes and agree.

// fullRequest is what llmproxy.ParseChatRequest makes of body.
func fullRequest(body []byte) (peek.Request, error) {
	r, err := llmproxy.ParseChatRequest(body)
	if err != nil {
		return peek.Request{}, err
	}
	return peek.Request{
		Model:         r.Model,
		Stream:        r.Stream,
		StreamOptions: r.StreamOptions != nil,
		IncludeUsage:  r.StreamOptions != nil && r.StreamOptions.IncludeUsage,
	}, nil
}

// fullAnswer is what the OpenAI provider makes of a whole answer
// (decodeAnswer, embeddedError, the choices check).
func fullAnswer(body []byte) (peek.Answer, error) {
	if !utf8.Valid(body) {
		return peek.Answer{}, errors.New("not UTF-8")
	}
	var resp llmproxy.ChatResponse
	if err := llmproxy.DecodeAnswer(body, &resp); err != nil {
		return peek.Answer{}, err
	}
	if err := embeddedError(resp.Extra); err != nil {
		return peek.Answer{}, err
	}
	if len(resp.Choices) == 0 {
		return peek.Answer{}, errors.New("no choices")
	}
	return peek.Answer{Usage: usageOf(resp.Usage)}, nil
}

// fullChunk is what the OpenAI provider makes of a chunk it passes on as
// it is; the chunks it rewrites (other objects, running usages) are errors
// here.
func fullChunk(data []byte) (peek.Chunk, error) {
	if !utf8.Valid(data) {
		return peek.Chunk{}, errors.New("not UTF-8")
	}
	var c llmproxy.ChatChunk
	if err := llmproxy.DecodeAnswer(data, &c); err != nil {
		return peek.Chunk{}, err
	}
	if err := embeddedError(c.Extra); err != nil {
		return peek.Chunk{}, err
	}
	if c.Object != "chat.completion.chunk" {
		return peek.Chunk{}, fmt.Errorf("object %q is rewritten", c.Object)
	}
	reason := false
	for _, ch := range c.Choices {
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			reason = true
		}
	}
	if c.Usage != nil && len(c.Choices) > 0 && !reason {
		return peek.Chunk{}, errors.New("a running usage is dropped")
	}
	return peek.Chunk{
		Choices:      len(c.Choices),
		Content:      c.HasContent(),
		Finished:     c.Finished(),
		FinishReason: reason,
		Usage:        usageOf(c.Usage),
	}, nil
}

// embeddedError is the test of the provider's embeddedError: a top-level
// "error" member that is not null.
func embeddedError(extra llmproxy.Extra) error {
	if raw, ok := extra["error"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		return fmt.Errorf("embedded error %s", raw)
	}
	return nil
}

func usageOf(u *llmproxy.Usage) peek.Usage {
	if u == nil {
		return peek.Usage{}
	}
	return peek.Usage{Present: true, Prompt: u.PromptTokens, Completion: u.CompletionTokens, Total: u.TotalTokens}
}
