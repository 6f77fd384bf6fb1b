package openai

import (
	"bytes"
	"context"
	"net/http"
	"unicode/utf8"
	"unsafe"

	"github.com/llmproxy/llmproxy"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

var (
	_ llmproxy.RawChatCompleter = (*Provider)(nil)
	_ llmproxy.RawChatStreamer  = (*Provider)(nil)
)

// chunkObject is the object of a plain chat chunk, the only one passed on
// as it came: the decoding path rewrites the others.
const chunkObject = "chat.completion.chunk"

// ChatCompletionRaw is ChatCompletion for a caller that has the client's
// bytes and wants the answer's (see llmproxy.RawChatCompleter): the
// request goes upstream as it came (without its stream members, since the
// answer is read whole) unless the flavor must change it, and the answer
// is read for its usage with a JSON library, not decoded. An answer that is
// not plainly a chat completion (invalid JSON, an "error" member, no
// choices) is decoded in full, with the same outcome as ChatCompletion.
func (p *Provider) ChatCompletionRaw(ctx context.Context, req *llmproxy.RawChatRequest) (*llmproxy.RawAnswer, error) {
	if p.flavor.fixChat != nil {
		dreq, err := req.Decode()
		if err != nil {
			return nil, err
		}
		resp, err := p.ChatCompletion(ctx, dreq)
		if err != nil {
			return nil, err
		}
		return &llmproxy.RawAnswer{Body: resp.Raw(), Usage: resp.Usage}, nil
	}
	body := req.Body
	if req.Stream {
		var err error
		if body, err = unstreamed(body); err != nil {
			return nil, p.encodeFailure(err)
		}
	}
	path, body, err := p.target(epChat, req.Model, body)
	if err != nil {
		return nil, err
	}
	b, err := p.call(ctx, http.MethodPost, path, body)
	if err != nil {
		return nil, err
	}
	if u, ok := readChatAnswer(b); ok {
		return &llmproxy.RawAnswer{Body: b, Usage: u}, nil
	}
	resp, err := p.decodeChatAnswer(b)
	if err != nil {
		return nil, err
	}
	return &llmproxy.RawAnswer{Body: resp.Raw(), Usage: resp.Usage}, nil
}

// ChatCompletionStreamRaw is ChatCompletionStream for a caller that has the
// client's bytes and wants the chunks' (see llmproxy.RawChatStreamer): the
// request goes upstream as it came, with "stream" and
// stream_options.include_usage set where missing, unless the flavor must
// change it. Each chunk is read for its content and finish markers and its
// usage, and passed on as the upstream's bytes, from the read buffer: the
// reader reuses one RawChunk, valid until the next call of Next. A chunk
// that is not plainly a chat chunk (an error, a Perplexity
// "chat.completion.done", a whole answer, a running usage) is decoded and
// rewritten as ChatCompletionStream does. Once a chunk with content has
// been returned, the router has committed the stream and no longer asks
// for Content: a chunk that plainDelta shows to be neither a finish, a
// usage nor an error is then passed on unread, reported as content. The
// others (the finish and the usage chunk) are still read in full, their
// JSON checked too, though it costs about a third of the read
// (BenchmarkReadChatChunk): the proxy only trusts a usage it read from
// valid JSON, and an invalid chunk ends the stream with an error rather
// than reaching the client as it came.
func (p *Provider) ChatCompletionStreamRaw(ctx context.Context, req *llmproxy.RawChatRequest) (llmproxy.ChunkReader[*llmproxy.RawChunk], error) {
	var resp *http.Response
	var err error
	if p.flavor.fixChat != nil {
		dreq, err := req.Decode()
		if err != nil {
			return nil, err
		}
		resp, err = p.openChatStream(ctx, dreq)
	} else {
		var body []byte
		if body, err = streamingBody(req.Body, req.Stream, p.streamUsage && !req.IncludeUsage); err != nil {
			return nil, p.encodeFailure(err)
		}
		var path string
		if path, body, err = p.target(epChat, req.Model, body); err != nil {
			return nil, err
		}
		resp, err = p.openStream(ctx, path, body)
	}
	if err != nil {
		return nil, err
	}
	var chunk llmproxy.RawChunk
	shown := false // a chunk with content was returned: the stream is past its commit point
	return newStreamReader(ctx, p, resp, func(data []byte) (*llmproxy.RawChunk, bool, error) {
		if shown && plainDelta(data) {
			chunk = llmproxy.RawChunk{Data: data, Content: true}
			return &chunk, false, nil
		}
		c, fin, err := p.decodeRawChatChunk(&chunk, data)
		shown = shown || (err == nil && c.Content)
		return c, fin, err
	}), nil
}

// unstreamed returns a copy of the request body without its "stream" and
// "stream_options" members, for an answer read whole.
func unstreamed(body []byte) ([]byte, error) {
	body, err := sjson.DeleteBytes(body, "stream")
	if err != nil {
		return nil, err
	}
	return sjson.DeleteBytes(body, "stream_options")
}

// streamingBody returns the request body that asks for a stream: body as
// it is when it does, or a copy with "stream": true and, when wantUsage,
// stream_options.include_usage set to true.
func streamingBody(body []byte, stream, wantUsage bool) ([]byte, error) {
	var err error
	if !stream {
		if body, err = sjson.SetBytes(body, "stream", true); err != nil {
			return nil, err
		}
	}
	if wantUsage {
		return sjson.SetBytes(body, "stream_options.include_usage", true)
	}
	return body, nil
}

// decodeRawChatChunk is decodeChatChunk for the raw path: a plain chunk is
// read and returned in c, its Data the bytes given (borrowed, as c is); any
// other is decoded from a copy and rewritten by decodeChatChunk, then
// encoded into a chunk of its own.
func (p *Provider) decodeRawChatChunk(c *llmproxy.RawChunk, data []byte) (*llmproxy.RawChunk, bool, error) {
	if f, ok := readChatChunk(data); ok {
		*c = llmproxy.RawChunk{Data: data, Content: f.content, Final: f.choices == 0 || f.finishMark,
			UsageOnly: f.choices == 0 && f.usage != nil, Usage: f.usage}
		return c, f.finishReason, nil
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

// validObject reports whether b is valid UTF-8 JSON whose value is an
// object, and returns it parsed. The result, and every Result read from
// it, shares b's memory: it must not outlive the call that reads it.
// (gjson.ParseBytes would copy b, one allocation per chunk of every
// stream: BenchmarkReadChatChunk; gjson's own GetBytes reads bytes the
// same way.)
func validObject(b []byte) (gjson.Result, bool) {
	if len(b) == 0 || !utf8.Valid(b) || !gjson.ValidBytes(b) {
		return gjson.Result{}, false
	}
	v := gjson.Parse(unsafe.String(&b[0], len(b)))
	return v, v.IsObject()
}

// readChatAnswer reads the usage of a whole chat completion. It reports ok
// only for a plain one: a valid JSON object with a non-empty "choices"
// array of objects, each with a message object and a finish_reason string
// (or null), and no "error" member other than null (OpenRouter and
// Blackbox embed their errors in 200 answers). What else the answer holds
// is passed on unread. The usage is nil when there is none.
func readChatAnswer(b []byte) (*llmproxy.Usage, bool) {
	root, ok := validObject(b)
	if !ok {
		return nil, false
	}
	var usage *llmproxy.Usage
	choices := 0
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "choices":
			ok = v.IsArray()
			v.ForEach(func(_, ch gjson.Result) bool {
				choices++
				ok = ok && ch.IsObject() && isObjectOrNull(ch.Get("message")) && isStringOrNull(ch.Get("finish_reason"))
				return ok
			})
		case "usage":
			usage = readUsage(v)
		case "error":
			ok = v.Type == gjson.Null
		}
		return ok
	})
	return usage, ok && choices > 0
}

// chunkFacts is what the proxy reads of a chat chunk.
type chunkFacts struct {
	// choices is the number of choices.
	choices int
	// content reports a choice with a finish reason or a delta that shows
	// something (see llmproxy.ChatChunk.HasContent).
	content bool
	// finishMark reports a choice whose finish_reason is not null, and
	// finishReason one whose finish_reason is a non-empty string.
	finishMark, finishReason bool
	usage                    *llmproxy.Usage
}

// readChatChunk reads the data of one upstream chat chunk. It reports ok
// only for a plain one, which passes on as it came: a valid JSON object
// whose object is "chat.completion.chunk", whose choices are objects (see
// readChunkChoice), without an "error" member other than null, and without
// a running usage (a usage on a chunk whose choices
// have no finish reason, which the decoding path drops).
func readChatChunk(data []byte) (chunkFacts, bool) {
	var f chunkFacts
	root, ok := validObject(data)
	if !ok {
		return f, false
	}
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "object":
			ok = v.Type == gjson.String && v.Str == chunkObject
		case "choices":
			if v.Type == gjson.Null {
				break
			}
			// ForEach calls its function once with v itself when v is
			// not an array or an object.
			ok = v.IsArray()
			v.ForEach(func(_, ch gjson.Result) bool {
				f.choices++
				ok = ok && ch.IsObject() && readChunkChoice(ch, &f)
				return ok
			})
		case "usage":
			f.usage = readUsage(v)
		case "error":
			ok = v.Type == gjson.Null
		}
		return ok
	})
	if f.usage != nil && f.choices > 0 && !f.finishReason {
		return f, false // a running usage
	}
	return f, ok
}

// readChunkChoice adds what one choice of a chunk carries to f. It
// reports false when the choice's delta is not an object (or null) or its
// finish_reason not a string (or null).
func readChunkChoice(ch gjson.Result, f *chunkFacts) bool {
	ok := true
	ch.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "finish_reason":
			ok = isStringOrNull(v)
			if v.Type == gjson.String {
				f.finishMark, f.content = true, true
				f.finishReason = f.finishReason || v.Str != ""
			}
		case "delta":
			ok = isObjectOrNull(v)
			f.content = f.content || deltaShows(v)
		}
		return ok
	})
	return ok
}

// isObjectOrNull reports whether v is an object, null or absent.
func isObjectOrNull(v gjson.Result) bool { return v.Type == gjson.Null || v.IsObject() }

// isStringOrNull reports whether v is a string, null or absent.
func isStringOrNull(v gjson.Result) bool { return v.Type == gjson.Null || v.Type == gjson.String }

// deltaShows reports whether a chunk's delta carries something a client
// shows: text, a refusal, tool calls or reasoning.
func deltaShows(delta gjson.Result) bool {
	shows := false
	delta.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "content", "refusal":
			shows = v.Type == gjson.String && v.Str != ""
		case "tool_calls":
			shows = count(v) > 0
		case "reasoning_content", "reasoning":
			shows = v.Type != gjson.Null && !(v.Type == gjson.String && v.Str == "")
		}
		return !shows
	})
	return shows
}

// count returns the number of elements of an array, 0 for anything else.
func count(v gjson.Result) int {
	n := 0
	if v.IsArray() {
		v.ForEach(func(_, _ gjson.Result) bool { n++; return true })
	}
	return n
}

// readUsage reads a "usage" member: nil when it is null or not an object.
// Of the details it keeps the cached and reasoning tokens, which price a
// request (see llmproxy.ModelPrice.Cost).
func readUsage(v gjson.Result) *llmproxy.Usage {
	if !v.IsObject() {
		return nil
	}
	u := &llmproxy.Usage{}
	v.ForEach(func(k, n gjson.Result) bool {
		switch k.Str {
		case "prompt_tokens":
			u.PromptTokens = int(n.Int())
		case "completion_tokens":
			u.CompletionTokens = int(n.Int())
		case "total_tokens":
			u.TotalTokens = int(n.Int())
		case "prompt_tokens_details":
			if c := n.Get("cached_tokens").Int(); c > 0 {
				u.PromptTokensDetails = &llmproxy.TokenDetails{CachedTokens: int(c)}
			}
		case "completion_tokens_details":
			if r := n.Get("reasoning_tokens").Int(); r > 0 {
				u.CompletionTokensDetails = &llmproxy.TokenDetails{ReasoningTokens: int(r)}
			}
		}
		return true
	})
	return u
}

// encodeFailure is the error of a request body the provider could not
// rewrite.
func (p *Provider) encodeFailure(err error) *llmproxy.Error {
	return &llmproxy.Error{Kind: llmproxy.KindInternal, Provider: p.name,
		Message: "could not encode the upstream request", Err: err}
}
