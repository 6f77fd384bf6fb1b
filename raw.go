package llmproxy

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/llmproxy/llmproxy/internal/peek"
)

// The raw path serves a client that speaks the OpenAI format itself, such
// as the server package: the client's request bytes go upstream as they
// came and the upstream's answer bytes come back as they went, so that the
// proxy reads only the members it needs (the model, the stream flag, the
// usage, the content and finish markers of chunks) instead of decoding and
// encoding every request, answer and chunk. Each fast path falls back to
// the full decoder whenever it cannot vouch for the bytes, so that the
// answers and errors are the same as on the decoded path.

// PeekChatRequest is ParseChatRequest for a request that will most likely
// be forwarded as it came: it checks body as ParseChatRequest does (and
// returns the same errors) but, when it can, decodes only Model, Stream
// and StreamOptions (include_usage). The other fields are decoded when
// first needed: by Decode, Touch, or the proxy before it hands the request
// to a provider that does not take raw requests (see RawChatCompleter).
// Code that reads other fields of the request must call Decode first.
// Since the request is decoded in place, one that is to be used by several
// goroutines at once must be decoded (Decode) before it is shared.
func PeekChatRequest(body []byte) (*ChatRequest, error) {
	pk, ok := peek.ChatRequest(body)
	if !ok {
		return ParseChatRequest(body)
	}
	r := &ChatRequest{Model: pk.Model, Stream: pk.Stream, raw: body, shallow: true}
	if pk.StreamOptions {
		r.StreamOptions = &StreamOptions{IncludeUsage: pk.IncludeUsage}
		r.peekedOpts = r.StreamOptions
	}
	return r, nil
}

// Decode decodes the fields of a request made by PeekChatRequest that are
// not decoded yet; Model, Stream and StreamOptions keep the values they
// have, which the caller may have changed. For any other request it does
// nothing. The bytes were checked when the request was made, so it fails
// only if they were modified since.
func (r *ChatRequest) Decode() error {
	if !r.shallow {
		return nil
	}
	var full ChatRequest
	if err := decodeRequest(r.raw, &full); err != nil {
		return err
	}
	full.raw = r.raw
	full.Model, full.Stream = r.Model, r.Stream
	if r.StreamOptions != r.peekedOpts {
		full.StreamOptions = r.StreamOptions
	}
	*r = full
	return nil
}

// Shallow reports whether the request was made by PeekChatRequest and is
// not decoded yet: only Model, Stream, StreamOptions and Raw are set.
func (r *ChatRequest) Shallow() bool { return r.shallow }

// RawAnswer is a whole answer as the JSON bytes of the OpenAI format: what
// a server sends its client.
type RawAnswer struct {
	// Body is the answer: a JSON object in the OpenAI format of its
	// endpoint, without _proxy_info. It must not be modified.
	Body []byte
	// Usage holds the token counts the answer reports, or nil; the
	// details (cached, reasoning tokens) are only in Body.
	Usage *Usage
	// ProxyInfo tells which provider answered; the proxy sets it.
	ProxyInfo *ProxyInfo
}

// RawChatCompleter is a Provider whose chat answers are OpenAI-format JSON
// that it can return undecoded. The request it is given may be shallow
// (see PeekChatRequest): it sends req.Raw() as it is when it can, and
// calls req.Decode before it reads any other field than Model, Stream and
// StreamOptions.
type RawChatCompleter interface {
	ChatCompletionRaw(ctx context.Context, req *ChatRequest) (*RawAnswer, error)
}

// RawChatStreamer is a Provider that streams chat chunks as OpenAI-format
// JSON without decoding them (see RawChatCompleter for the request). Its
// reader may reuse one RawChunk and the buffer its Data points into: a
// chunk it returns is valid only until the next call of Next, so that
// chunks can pass through without a copy or an allocation each.
type RawChatStreamer interface {
	ChatCompletionStreamRaw(ctx context.Context, req *ChatRequest) (ChunkReader[*RawChunk], error)
}

// RawChunk is one streamed chat chunk as the JSON bytes of the OpenAI
// format, with the facts the proxy needs about it.
type RawChunk struct {
	// Data is the chunk: one JSON object, on one line, without
	// _proxy_info. It must not be modified. In a stream it may point into
	// the reader's buffer (see RawChatStreamer): use Clone to keep a chunk
	// past the next one.
	Data []byte
	// Content reports that the chunk carries something a client shows
	// (see ChatChunk.HasContent): the first such chunk commits a stream.
	Content bool
	// Final reports that the chunk belongs to the end of the stream (see
	// ChatChunk.Finished).
	Final bool
	// UsageOnly reports a chunk with usage and no choices, which the proxy
	// passes on only to clients that asked for usage.
	UsageOnly bool
	// Usage holds the token counts the chunk reports, or nil.
	Usage *Usage
}

// HasContent reports whether the chunk commits a stream (see Content).
func (c *RawChunk) HasContent() bool { return c.Content }

// Raw returns the chunk's bytes.
func (c *RawChunk) Raw() []byte { return c.Data }

// Finished reports whether the chunk belongs to the end of the stream.
func (c *RawChunk) Finished() bool { return c.Final }

func (c *RawChunk) chunkUsage() *Usage { return c.Usage }

// Clone returns a copy of c that owns its Data.
func (c *RawChunk) Clone() *RawChunk {
	cp := *c
	cp.Data = bytes.Clone(c.Data)
	return &cp
}

// RawChatChunk turns a decoded chunk into a RawChunk: its upstream bytes
// when it kept them (see ChatChunk.SetRaw), else its encoding.
func RawChatChunk(c *ChatChunk) (*RawChunk, error) {
	data := c.Raw()
	if data == nil {
		var err error
		if data, err = json.Marshal(c); err != nil {
			return nil, err
		}
	}
	return &RawChunk{Data: data, Content: c.HasContent(), Final: c.Finished(),
		UsageOnly: usageOnly(c), Usage: c.Usage}, nil
}

// ChatCompletionRaw answers req like ChatCompletion, but as the answer's
// OpenAI-format JSON bytes: providers that implement RawChatCompleter hand
// them over undecoded, the others' answers are encoded (or passed on as
// the upstream's bytes when they kept them). req may come from
// PeekChatRequest; it is decoded for the providers that need its fields.
func (p *Proxy) ChatCompletionRaw(ctx context.Context, req *ChatRequest) (*RawAnswer, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	ans, info, err := routeOnce(ctx, p, endpointChat, req.Model, nil,
		func(ctx context.Context, u *upstream) (*RawAnswer, error) {
			if rc, ok := u.p.(RawChatCompleter); ok {
				return rc.ChatCompletionRaw(ctx, req)
			}
			if err := req.Decode(); err != nil {
				return nil, err
			}
			resp, err := u.p.ChatCompletion(ctx, req)
			if err != nil {
				return nil, err
			}
			return rawChatAnswer(resp)
		})
	if err != nil {
		return nil, err
	}
	ans.ProxyInfo = info
	return ans, nil
}

// rawChatAnswer turns a decoded answer into a RawAnswer.
func rawChatAnswer(resp *ChatResponse) (*RawAnswer, error) {
	body := resp.Raw()
	if body == nil {
		var err error
		if body, err = json.Marshal(resp); err != nil {
			return nil, &Error{Kind: KindInternal, Message: "could not encode the answer", Err: err}
		}
	}
	return &RawAnswer{Body: body, Usage: resp.Usage}, nil
}

// ChatCompletionStreamRaw opens a stream like ChatCompletionStream whose
// chunks are OpenAI-format JSON bytes: providers that implement
// RawChatStreamer hand them over undecoded, the others' chunks are encoded
// (or passed on as the upstream's bytes when they kept them). req may come
// from PeekChatRequest. The caller must Close the stream. A chunk the
// stream's Current returns is valid until the next call of Next (see
// RawChatStreamer); Clone it to keep it longer.
func (p *Proxy) ChatCompletionStreamRaw(ctx context.Context, req *ChatRequest) (*Stream[*RawChunk], error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	dropUsage := req.StreamOptions == nil || !req.StreamOptions.IncludeUsage
	return streamRoute(ctx, p, endpointChat, req.Model, nil, dropUsage,
		func(ctx context.Context, u *upstream) (ChunkReader[*RawChunk], error) {
			if rs, ok := u.p.(RawChatStreamer); ok {
				return rs.ChatCompletionStreamRaw(ctx, req)
			}
			if err := req.Decode(); err != nil {
				return nil, err
			}
			r, err := openChatChunks(ctx, u.p, req)
			if err != nil {
				return nil, err
			}
			return newRawChunkReader(r), nil
		})
}

// rawChunkReader turns a reader of decoded chunks into one of RawChunks.
type rawChunkReader struct{ r ChunkReader[*ChatChunk] }

func (r *rawChunkReader) Next() (*RawChunk, error) {
	c, err := r.r.Next()
	if err != nil {
		return nil, err
	}
	rc, err := RawChatChunk(c)
	if err != nil {
		return nil, &Error{Kind: KindInternal, Message: "could not encode a chunk", Err: err}
	}
	return rc, nil
}

func (r *rawChunkReader) Close() error { return r.r.Close() }

// waitingRawChunkReader is a rawChunkReader over a WaitNotifier, which it
// is too.
type waitingRawChunkReader struct{ *rawChunkReader }

func (r waitingRawChunkReader) NotifyWait(f func()) { r.r.(WaitNotifier).NotifyWait(f) }

// newRawChunkReader returns a reader of RawChunks over r, which is a
// WaitNotifier when r is.
func newRawChunkReader(r ChunkReader[*ChatChunk]) ChunkReader[*RawChunk] {
	rr := &rawChunkReader{r: r}
	if _, ok := r.(WaitNotifier); ok {
		return waitingRawChunkReader{rr}
	}
	return rr
}
