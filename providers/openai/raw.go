package openai

import (
	"bytes"
	"context"
	"net/http"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/peek"
)

var (
	_ llmproxy.RawChatCompleter = (*Provider)(nil)
	_ llmproxy.RawChatStreamer  = (*Provider)(nil)
)

// ChatCompletionRaw is ChatCompletion for a caller that wants the answer's
// bytes only (see llmproxy.RawChatCompleter): the request goes upstream as
// the client's bytes when the flavor need not change it, and the answer is
// checked by peeking at it (valid UTF-8 JSON that decodes as a chat
// completion, with choices and no "error" member) and read for its usage,
// not decoded. An answer the peek cannot vouch for is decoded in full, with
// the same outcome as ChatCompletion. req is never modified, except that a
// shallow request (see llmproxy.PeekChatRequest) is decoded when the
// request to send cannot be its bytes as they are.
func (p *Provider) ChatCompletionRaw(ctx context.Context, req *llmproxy.ChatRequest) (*llmproxy.RawAnswer, error) {
	body, err := p.chatBody(req)
	if err != nil {
		return nil, err
	}
	b, err := p.call(ctx, http.MethodPost, p.flavor.chatPath, body)
	if err != nil {
		return nil, err
	}
	if a, ok := peek.ChatAnswer(b); ok {
		return &llmproxy.RawAnswer{Body: b, Usage: usageOf(a.Usage)}, nil
	}
	resp, err := p.decodeChatAnswer(b)
	if err != nil {
		return nil, err
	}
	return &llmproxy.RawAnswer{Body: resp.Raw(), Usage: resp.Usage}, nil
}

// ChatCompletionStreamRaw is ChatCompletionStream for a caller that wants
// the chunks' bytes only (see llmproxy.RawChatStreamer): each chunk is
// peeked at for its content and finish markers and its usage, and passed
// on as the upstream's bytes, from the read buffer: the reader reuses one
// RawChunk, valid until the next call of Next. A chunk the peek cannot
// vouch for (an error, a Perplexity "chat.completion.done", a whole
// answer, a running usage) is decoded and rewritten as
// ChatCompletionStream does.
func (p *Provider) ChatCompletionStreamRaw(ctx context.Context, req *llmproxy.ChatRequest) (llmproxy.ChunkReader[*llmproxy.RawChunk], error) {
	resp, err := p.openChatStream(ctx, req)
	if err != nil {
		return nil, err
	}
	var chunk llmproxy.RawChunk
	return newStreamReader(ctx, p, resp, func(data []byte) (*llmproxy.RawChunk, bool, error) {
		return p.decodeRawChatChunk(&chunk, data)
	}), nil
}

// decodeRawChatChunk is decodeChatChunk for the raw path: a plain chunk is
// peeked at and returned in c, its Data the bytes given (borrowed, as c
// is); any other is decoded from a copy and rewritten by decodeChatChunk,
// then encoded into a chunk of its own.
func (p *Provider) decodeRawChatChunk(c *llmproxy.RawChunk, data []byte) (*llmproxy.RawChunk, bool, error) {
	if pk, ok := peek.ChatChunk(data); ok {
		*c = llmproxy.RawChunk{Data: data, Content: pk.Content, Final: pk.Finished,
			UsageOnly: pk.Choices == 0 && pk.Usage.Present, Usage: usageOf(pk.Usage)}
		return c, pk.FinishReason, nil
	}
	dc, fin, err := p.decodeChatChunk(bytes.Clone(data))
	if err != nil {
		return nil, false, err
	}
	rc, err := llmproxy.RawChatChunk(dc)
	if err != nil {
		return nil, false, p.invalidAnswer(err)
	}
	return rc, fin, nil
}

// usageOf turns peeked token counts into a Usage, nil when there were none.
func usageOf(u peek.Usage) *llmproxy.Usage {
	if !u.Present {
		return nil
	}
	return &llmproxy.Usage{PromptTokens: u.Prompt, CompletionTokens: u.Completion, TotalTokens: u.Total}
}
