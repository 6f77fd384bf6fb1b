package llmproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
)

// The raw path serves a client that speaks the OpenAI format itself, such
// as the server package: the client's request bytes go upstream as they
// came and the upstream's answer bytes come back as they went. The proxy
// reads only the members it needs with a JSON library (gjson): a request's
// model, stream flag and stream_options.include_usage; an answer's usage;
// a chunk's content and finish markers. Validation of the members the proxy
// does not read is the upstream's job. A provider that translates the
// request (Anthropic, Cohere, …) gets it decoded, once, by
// RawChatRequest.Decode, which checks the whole request.

// RawChatRequest is a client's chat completion request as its bytes, with
// the members the proxy reads to route it.
type RawChatRequest struct {
	// Model is the "model" member of Body.
	Model string
	// Stream is the "stream" member of Body (false when absent or null).
	Stream bool
	// IncludeUsage is Body's "stream_options"."include_usage" (false when
	// absent or null).
	IncludeUsage bool
	// Body is the request as the client sent it: a JSON object. It must
	// not be modified.
	Body []byte
}

// chatMembers are the members of a chat request that ReadChatRequest reads.
var chatMembers = [...]string{"model", "messages", "stream", "stream_options"}

// ReadChatRequest reads a client's chat completion request for the raw
// path: body must be a JSON object (valid UTF-8) with a non-empty string
// "model" and a non-empty "messages" array; "stream" must be a boolean
// and "stream_options" an object whose "include_usage" is a boolean, when
// they are given (null counts as absent), and none of these four members may
// be given twice. Other members are not checked: that is the upstream's
// job. Member names match exactly, as for the upstreams' parsers (see
// ParseChatRequest). Failures are *Error
// values of kind KindInvalidRequest naming the member. The request keeps
// body, which the caller must not modify afterwards.
func ReadChatRequest(body []byte) (*RawChatRequest, error) {
	if !utf8.Valid(body) || !gjson.ValidBytes(body) {
		// The decoder says what is wrong and where.
		if err := decodeRequest(body, new(map[string]json.RawMessage)); err != nil {
			return nil, err
		}
		return nil, &Error{Kind: KindInvalidRequest, Code: "invalid_json", Message: "the request body is not valid UTF-8 JSON"}
	}
	// Parsed in place, as gjson's own GetBytes reads bytes: ParseBytes
	// would copy the whole body, an allocation the size of the request
	// (BenchmarkReadChatRequest). Every Result read from root shares
	// body's memory, so that what the request keeps of them is copied
	// (Model), lest a cache keyed by the model keep the whole body.
	root := gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body)))
	if !root.IsObject() {
		return nil, &Error{Kind: KindInvalidRequest, Code: "invalid_json",
			Message: "the request body must be a JSON object, not " + JSONKind(root)}
	}
	// The members the proxy reads, each at most once: a second one would
	// leave the proxy reading one and an upstream another.
	var m [len(chatMembers)]gjson.Result
	if dup := ReadMembers(root, chatMembers[:], m[:]); dup != "" {
		return nil, invalidParam(dup, dup+" is given more than once")
	}
	model, messages, stream, opts := m[0], m[1], m[2], m[3]
	r := &RawChatRequest{Body: body}
	var err error
	if r.Model, err = checkModel(model); err != nil {
		return nil, err
	}
	r.Model = strings.Clone(r.Model)
	if err := checkMessages(messages); err != nil {
		return nil, err
	}
	if r.Stream, err = optionalBool(stream, "stream"); err != nil {
		return nil, err
	}
	switch {
	case opts.Type == gjson.Null: // absent or null
	case !opts.IsObject():
		return nil, WrongTypeError("stream_options", "an object", opts)
	default:
		if r.IncludeUsage, err = optionalBool(opts.Get("include_usage"), "stream_options.include_usage"); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// checkModel checks the "model" member of a request, the one rule every
// request of every endpoint shares, and returns it.
func checkModel(v gjson.Result) (string, error) {
	if v.Exists() && v.Type != gjson.String && v.Type != gjson.Null {
		return "", WrongTypeError("model", "a string", v)
	}
	if v.Str == "" {
		return "", errNoModel()
	}
	return v.Str, nil
}

// checkMessages checks the "messages" member of a chat request.
func checkMessages(v gjson.Result) error {
	if v.Exists() && v.Type != gjson.Null && !v.IsArray() {
		return WrongTypeError("messages", "an array", v)
	}
	empty := true
	if v.IsArray() {
		v.ForEach(func(_, _ gjson.Result) bool { empty = false; return false })
	}
	if empty {
		return errNoMessages()
	}
	return nil
}

// optionalBool reads a boolean member that may be absent or null.
func optionalBool(v gjson.Result, name string) (bool, error) {
	switch v.Type {
	case gjson.Null:
		return false, nil
	case gjson.True, gjson.False:
		return v.Bool(), nil
	}
	return false, WrongTypeError(name, "a boolean", v)
}

// Decode decodes and validates the whole request, for a provider that
// translates it (see ParseChatRequest), with Model taken from r.
func (r *RawChatRequest) Decode() (*ChatRequest, error) {
	req, err := ParseChatRequest(r.Body)
	if err != nil {
		return nil, err
	}
	req.Model = r.Model
	return req, nil
}

// RawAnswer is a whole answer as the JSON bytes of its format (OpenAI's,
// or a front's: see RouteRaw): what a server sends its client.
type RawAnswer struct {
	// Body is the answer: a JSON object in the format of its endpoint,
	// without _proxy_info. It must not be modified.
	Body []byte
	// Usage holds the token counts the answer reports, or nil, with the
	// cached and reasoning tokens of its details (which price the
	// request); the other details are only in Body.
	Usage *Usage
	// ProxyInfo tells which provider answered; the proxy sets it.
	ProxyInfo *ProxyInfo
}

// RawChatCompleter is a Provider that takes chat requests as the client's
// OpenAI-format bytes and returns its answers undecoded: it sends req.Body
// as it is when it can (and decodes it with req.Decode when it must change
// it), and must not modify req.
type RawChatCompleter interface {
	ChatCompletionRaw(ctx context.Context, req *RawChatRequest) (*RawAnswer, error)
}

// RawChatStreamer is a Provider that streams chat chunks as OpenAI-format
// JSON without decoding them (see RawChatCompleter for the request). Its
// reader may reuse one RawChunk and the buffer its Data points into: a
// chunk it returns is valid only until the next call of Next, so that
// chunks can pass through without a copy or an allocation each.
type RawChatStreamer interface {
	ChatCompletionStreamRaw(ctx context.Context, req *RawChatRequest) (ChunkReader[*RawChunk], error)
}

// RawChunk is one streamed chunk as the JSON bytes of its format (a chat
// chunk of the OpenAI format, or an event of a front's format: see
// RouteStreamRaw), with the facts the proxy needs about it.
type RawChunk struct {
	// Event is the chunk's SSE event name, for formats that name their
	// events (Anthropic Messages, OpenAI Responses); empty for OpenAI chat,
	// whose frames have data only.
	Event string
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

func (c *RawChunk) chunkModel() string { return gjson.GetBytes(c.Data, "model").Str }

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
// OpenAI-format JSON bytes: providers that implement RawChatCompleter take
// the client's bytes (with their "model" rewritten when the attempt sends
// another model: an alias's target, a model_map id) and hand the answer
// over undecoded; for the others
// the request is decoded (once, however many of them are tried) and their
// answers are encoded, or passed on as the upstream's bytes when they kept
// them.
func (p *Proxy) ChatCompletionRaw(ctx context.Context, req *RawChatRequest) (*RawAnswer, error) {
	dec := &rawDecoder{req: req}
	ans, info, err := routeOnce(ctx, p, endpointChat, req.Model, nil,
		func(ctx context.Context, u *upstream) (*RawAnswer, error) {
			if rc, ok := u.p.(RawChatCompleter); ok {
				sreq, err := rawChatFor(ctx, req)
				if err != nil {
					return nil, err
				}
				return rc.ChatCompletionRaw(ctx, sreq)
			}
			dreq, err := dec.decode()
			if err != nil {
				return nil, err
			}
			resp, err := u.p.ChatCompletion(ctx, chatFor(ctx, dreq))
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

// rawDecoder decodes a raw request for the attempts on providers that
// translate it, once however many of them there are. A request's attempts
// run one at a time, so it needs no lock (BenchmarkRouterRaw: one
// allocation fewer per request than sync.OnceValues).
type rawDecoder struct {
	req  *RawChatRequest
	done bool
	d    *ChatRequest
	err  error
}

// decode returns the decoded request (see RawChatRequest.Decode).
func (r *rawDecoder) decode() (*ChatRequest, error) {
	if !r.done {
		r.d, r.err = r.req.Decode()
		r.done = true
	}
	return r.d, r.err
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
// RawChatStreamer take the client's bytes and hand the chunks over
// undecoded; for the others the request is decoded (once) and their chunks
// are encoded, or passed on as the upstream's bytes when they kept them.
// The caller must Close the stream. A chunk the stream's Current returns
// is valid until the next call of Next (see RawChatStreamer); Clone it to
// keep it longer.
func (p *Proxy) ChatCompletionStreamRaw(ctx context.Context, req *RawChatRequest) (*Stream[*RawChunk], error) {
	dec := &rawDecoder{req: req}
	return streamRoute(ctx, p, endpointChat, req.Model, nil, !req.IncludeUsage,
		func(ctx context.Context, u *upstream) (ChunkReader[*RawChunk], error) {
			if rs, ok := u.p.(RawChatStreamer); ok {
				sreq, err := rawChatFor(ctx, req)
				if err != nil {
					return nil, err
				}
				return rs.ChatCompletionStreamRaw(ctx, sreq)
			}
			dreq, err := dec.decode()
			if err != nil {
				return nil, err
			}
			r, err := openChatChunks(ctx, u.p, chatFor(ctx, dreq))
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
