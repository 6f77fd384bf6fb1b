package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/sse"
)

// maxStreamLine caps one line of an upstream's event stream. It is a
// variable so that tests can lower it.
var maxStreamLine = sse.DefaultMaxLineBytes

// ChatCompletionStream opens a streamed chat completion. The request goes
// out as the client's own bytes where possible; for upstreams that honour
// it, stream_options.include_usage is switched on so that the proxy always
// learns the stream's usage (the proxy drops the usage chunk again for
// clients that did not ask for it). Chunks keep the upstream's bytes.
func (p *Provider) ChatCompletionStream(ctx context.Context, req *llmproxy.ChatRequest) (llmproxy.ChunkReader[*llmproxy.ChatChunk], error) {
	resp, err := p.openChatStream(ctx, req)
	if err != nil {
		return nil, err
	}
	return newStreamReader(ctx, p, resp, owned(p.decodeChatChunk)), nil
}

// openChatStream sends a streamed chat request, with the flavor's fixes,
// and returns the upstream's answer once it is known to be a stream.
func (p *Provider) openChatStream(ctx context.Context, req *llmproxy.ChatRequest) (*http.Response, error) {
	send := req
	if p.flavor.fixChat != nil {
		send = p.flavor.fixChat(send)
	}
	cp := *send
	cp.Stream, cp.StreamOptions = true, withUsage(send.StreamOptions, p.streamUsage)
	body, err := p.encode(&cp)
	if err != nil {
		return nil, err
	}
	path, body, err := p.target(epChat, req.Model, body)
	if err != nil {
		return nil, err
	}
	return p.openStream(ctx, path, body)
}

// CompletionStream opens a streamed legacy text completion (see
// ChatCompletionStream): a request parsed from a client goes out as its
// bytes, with the stream members set where missing.
func (p listingProvider) CompletionStream(ctx context.Context, req *llmproxy.CompletionRequest) (llmproxy.ChunkReader[*llmproxy.CompletionResponse], error) {
	wantUsage := p.streamUsage && (req.StreamOptions == nil || !req.StreamOptions.IncludeUsage)
	var body []byte
	var err error
	if raw := req.Raw(); raw != nil {
		if body, err = streamingBody(raw, req.Stream, wantUsage); err != nil {
			return nil, p.encodeFailure(err)
		}
	} else {
		cp := *req
		cp.Stream, cp.StreamOptions = true, withUsage(req.StreamOptions, wantUsage)
		if body, err = p.encode(&cp); err != nil {
			return nil, err
		}
	}
	path, body, err := p.target(epCompletions, req.Model, body)
	if err != nil {
		return nil, err
	}
	resp, err := p.openStream(ctx, path, body)
	if err != nil {
		return nil, err
	}
	return newStreamReader(ctx, p.Provider, resp, owned(p.decodeCompletionChunk)), nil
}

// withUsage returns opts with include_usage switched on when want is true,
// without modifying opts.
func withUsage(opts *llmproxy.StreamOptions, want bool) *llmproxy.StreamOptions {
	if !want || (opts != nil && opts.IncludeUsage) {
		return opts
	}
	cp := llmproxy.StreamOptions{IncludeUsage: true}
	if opts != nil {
		cp.Extra = opts.Extra
	}
	return &cp
}

// openStream sends a streamed request and returns the answer once the
// upstream accepted it with a 2xx; any other status is its error.
func (p *Provider) openStream(ctx context.Context, path string, body []byte) (*http.Response, error) {
	req, err := p.newRequest(ctx, http.MethodPost, path, body)
	if err != nil {
		return nil, &llmproxy.Error{Kind: llmproxy.KindInternal, Provider: p.name,
			Message: "could not build the upstream request", Err: err}
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, llmproxy.TransportError(ctx, p.name, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, p.statusError(resp.StatusCode, resp.Header, llmproxy.ReadErrorBody(resp))
	}
	return resp, nil
}

// streamReader reads chunks of type T from an upstream's event stream. It
// is used by one goroutine at a time, as llmproxy.ChunkReader requires.
type streamReader[T any] struct {
	ctx    context.Context
	p      *Provider
	body   io.ReadCloser
	waits  *waitReader
	events *sse.Reader
	// decode turns an event's data into a chunk. The data is a slice of
	// the event reader's buffer, valid until the next event is read: a
	// decoder that keeps it past the chunk's own validity must copy it
	// (see owned).
	decode func(data []byte) (c T, finished bool, err error)

	finished bool // a chunk carried a finish reason
}

// owned wraps a decoder whose chunks keep their data (ChatChunk.SetRaw) and
// live on after the next chunk is read: it hands the decoder a copy.
func owned[T any](decode func([]byte) (T, bool, error)) func([]byte) (T, bool, error) {
	return func(data []byte) (T, bool, error) { return decode(bytes.Clone(data)) }
}

func newStreamReader[T any](ctx context.Context, p *Provider, resp *http.Response,
	decode func([]byte) (T, bool, error),
) *streamReader[T] {
	w := &waitReader{r: resp.Body}
	return &streamReader[T]{ctx: ctx, p: p, body: resp.Body, waits: w, events: sse.NewReader(w, maxStreamLine), decode: decode}
}

// NotifyWait makes the reader call f each time it is about to wait for
// the upstream (see llmproxy.WaitNotifier).
func (r *streamReader[T]) NotifyWait(f func()) { r.waits.before = f }

// waitReader calls before ahead of each read of the upstream's body. The
// event reader reads the body only when its buffered bytes are used up,
// that is, when the next chunk has not arrived yet.
type waitReader struct {
	r      io.Reader
	before func()
}

func (w *waitReader) Read(p []byte) (int, error) {
	if w.before != nil {
		w.before()
	}
	return w.r.Read(p)
}

// Next returns the next chunk. The stream ends cleanly (io.EOF) at
// "data: [DONE]", or at the end of the body after a finish reason (some
// OpenAI-compatible servers send no [DONE]). An end before either is a cut
// stream, reported as a KindUnavailable error; an error event is the
// upstream's error.
func (r *streamReader[T]) Next() (T, error) {
	var zero T
	for {
		ev, err := r.events.Next()
		switch {
		case err == io.EOF || (err != nil && errors.Is(err, io.ErrUnexpectedEOF) && r.finished):
			if r.finished {
				return zero, io.EOF
			}
			return zero, &llmproxy.Error{Kind: llmproxy.KindUnavailable, Provider: r.p.name,
				Message: "the upstream stream ended before it was complete", Err: io.ErrUnexpectedEOF}
		case err != nil:
			return zero, llmproxy.StreamReadError(r.ctx, r.p.name, err)
		}
		data := bytes.TrimSpace(ev.Data)
		if len(data) == 0 {
			continue
		}
		if sse.Done(data) {
			return zero, io.EOF
		}
		if ev.Name == "error" {
			return zero, r.p.statusError(http.StatusBadGateway, nil, data)
		}
		if r.p.flavor.normalize != nil {
			if data, err = r.p.flavor.normalize(data); err != nil {
				return zero, r.p.normalizeFailure(err)
			}
		}
		c, fin, err := r.decode(data)
		if err != nil {
			return zero, err
		}
		if fin {
			r.finished = true
		}
		return c, nil
	}
}

// Close ends the upstream request and releases its connection.
func (r *streamReader[T]) Close() error {
	err := r.body.Close()
	r.events.Release()
	return err
}

// decodeChatChunk decodes one chat chunk, keeping its bytes. An "error"
// member (OpenAI's and OpenRouter's mid-stream errors) makes it the
// upstream's error; Perplexity's final "chat.completion.done" object is
// renamed to a chunk, and a whole "chat.completion" (from an upstream that
// does not stream) becomes the equivalent chunk.
func (p *Provider) decodeChatChunk(data []byte) (*llmproxy.ChatChunk, bool, error) {
	var c llmproxy.ChatChunk
	if err := p.decodeAnswer(data, &c); err != nil {
		return nil, false, err
	}
	if e := p.embeddedError(c.Extra); e != nil {
		return nil, false, e
	}
	keepRaw := true
	switch c.Object {
	case "chat.completion.done":
		c.Object = "chat.completion.chunk"
		keepRaw = false
	case "chat.completion":
		// The upstream ignored "stream": true and sent a whole answer,
		// whose messages would be lost on clients reading deltas.
		if err := wholeAnswerChunk(&c); err != nil {
			return nil, false, p.invalidAnswer(err)
		}
		keepRaw = false
	}
	fin := false
	for i := range c.Choices {
		if c.Choices[i].FinishReason != nil && *c.Choices[i].FinishReason != "" {
			fin = true
		}
	}
	if c.Usage != nil && len(c.Choices) > 0 && !fin {
		// A running usage on a content chunk (Perplexity sends one on
		// every chunk): OpenAI clients add up the usage of all chunks
		// (openai-go's accumulator does), so only the final count is kept.
		c.Usage = nil
		keepRaw = false
	}
	if keepRaw {
		c.SetRaw(data)
	}
	return &c, fin, nil
}

// wholeAnswerChunk turns a chat completion decoded as a chunk into the
// equivalent single chunk: each choice's message becomes its delta.
func wholeAnswerChunk(c *llmproxy.ChatChunk) error {
	c.Object = "chat.completion.chunk"
	for i := range c.Choices {
		ch := &c.Choices[i]
		raw, ok := ch.Extra["message"]
		if !ok {
			continue
		}
		var m llmproxy.Message
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		delete(ch.Extra, "message")
		text := m.Content.String()
		ch.Delta = llmproxy.Delta{Role: m.Role, Content: &text, ToolCalls: m.ToolCalls, Refusal: m.Refusal, Extra: m.Extra}
		for j := range ch.Delta.ToolCalls {
			idx := j
			ch.Delta.ToolCalls[j].Index = &idx
		}
	}
	return nil
}

// decodeCompletionChunk is decodeChatChunk for text completion chunks.
func (p *Provider) decodeCompletionChunk(data []byte) (*llmproxy.CompletionResponse, bool, error) {
	var c llmproxy.CompletionResponse
	if err := p.decodeAnswer(data, &c); err != nil {
		return nil, false, err
	}
	if e := p.embeddedError(c.Extra); e != nil {
		return nil, false, e
	}
	c.SetRaw(data)
	fin := false
	for _, ch := range c.Choices {
		if ch.FinishReason != "" {
			fin = true
		}
	}
	return &c, fin, nil
}
