package anthropic

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/sse"
)

// The native path serves the proxy's Anthropic Messages front (package
// front/messages, whose Native interface the provider implements by its
// methods' shapes, without importing it): the client's Messages request
// goes upstream as it came, with only its model rewritten when the route
// names another, and the answer or events come back as Anthropic sent
// them. The provider reads only what the proxy needs: the usage, and of a
// stream each event's kind, content and usage.

// MessagesRaw sends a client's Messages request (not streamed) as it came
// to POST /v1/messages, or to /v1 + req.Path (such as
// /v1/messages/count_tokens), and returns the answer's bytes with the
// usage they report. The provider's key, anthropic-version (the client's,
// when it sent one and custom_headers set none) and anthropic-beta (the
// client's and the configured ones) go with it; nothing else of the
// client's request does. An answer that is not a JSON object (or, from
// /v1/messages, not a message) is KindUnavailable.
func (p *Provider) MessagesRaw(ctx context.Context, req *llmproxy.NativeRequest) (*llmproxy.RawAnswer, error) {
	body, err := p.nativeBody(req, false)
	if err != nil {
		return nil, err
	}
	hreq, err := p.nativeRequest(ctx, req, body)
	if err != nil {
		return nil, err
	}
	b, err := p.up.RoundTrip(ctx, hreq, maxAnswerBytes)
	if err != nil {
		return nil, err
	}
	root, ok := validObject(b)
	if !ok || (req.Path == "" && root.Get("type").Str != "message") {
		return nil, p.up.InvalidAnswer(errors.New("the answer is not a Messages answer"))
	}
	var u *llmproxy.Usage
	if req.Path == "" {
		u = readUsage(root.Get("usage"), nil)
	}
	return &llmproxy.RawAnswer{Body: b, Usage: u}, nil
}

// MessagesStreamRaw sends a client's streamed Messages request as it came
// (see MessagesRaw) and returns its events as the upstream sent them, each
// with its event name; the reader reuses one RawChunk, valid until the
// next call of Next. An event is Content from the first one that shows
// something (a non-empty delta, a tool block's start, message_delta);
// message_delta and message_stop are Final; Usage is the input counts of
// message_start with the output counts of message_delta. An error event
// ends the stream with the upstream's error (KindUnavailable for an
// overloaded_error, so that it fails over before the commit); a stream
// cut before message_stop is KindUnavailable.
func (p *Provider) MessagesStreamRaw(ctx context.Context, req *llmproxy.NativeRequest) (llmproxy.ChunkReader[*llmproxy.RawChunk], error) {
	body, err := p.nativeBody(req, true)
	if err != nil {
		return nil, err
	}
	hreq, err := p.nativeRequest(ctx, req, body)
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Accept", "text/event-stream")
	resp, err := p.up.Send(ctx, hreq)
	if err != nil {
		return nil, err
	}
	w := &waitReader{r: resp.Body}
	return &nativeStream{ctx: ctx, p: p, body: resp.Body, waits: w, events: sse.NewReader(w, maxStreamLine)}, nil
}

// nativeBody returns the body to send: the client's, or a copy with the
// route's model and, for a stream, "stream": true when it lacks it.
func (p *Provider) nativeBody(req *llmproxy.NativeRequest, stream bool) ([]byte, error) {
	body := req.Body
	var err error
	if req.Model != "" && gjson.GetBytes(body, "model").Str != req.Model {
		if body, err = sjson.SetBytes(body, "model", req.Model); err != nil {
			return nil, p.encodeFailure(err)
		}
	}
	if stream && !gjson.GetBytes(body, "stream").Bool() {
		if body, err = sjson.SetBytes(body, "stream", true); err != nil {
			return nil, p.encodeFailure(err)
		}
	}
	return body, nil
}

// encodeFailure is the error of a request body the provider could not
// rewrite.
func (p *Provider) encodeFailure(err error) *llmproxy.Error {
	return &llmproxy.Error{Kind: llmproxy.KindInternal, Provider: p.up.Name,
		Message: "could not encode the upstream request", Err: err}
}

// nativeRequest builds the upstream request of a native call: the
// provider's own headers (see auth), then the client's
// anthropic-version unless custom_headers set one, and anthropic-beta
// merged from the configured and the client's lists.
func (p *Provider) nativeRequest(ctx context.Context, req *llmproxy.NativeRequest, body []byte) (*http.Request, error) {
	path := "/v1/messages"
	if req.Path != "" {
		path = "/v1" + req.Path
	}
	hreq, err := p.up.NewRequest(ctx, http.MethodPost, path, body)
	if err != nil {
		return nil, err
	}
	if v := req.Header.Get("Anthropic-Version"); v != "" && !p.configured("Anthropic-Version") {
		hreq.Header.Set("Anthropic-Version", v)
	}
	if betas := mergeBetas(hreq.Header.Values("Anthropic-Beta"), req.Header.Values("Anthropic-Beta")); len(betas) > 0 {
		hreq.Header.Set("Anthropic-Beta", strings.Join(betas, ","))
	}
	return hreq, nil
}

// configured reports whether custom_headers sets the header name.
func (p *Provider) configured(name string) bool {
	for k := range p.up.Headers {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// mergeBetas returns the beta features of the header values lists, each
// once, in their order.
func mergeBetas(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, v := range l {
			for b := range strings.SplitSeq(v, ",") {
				if b = strings.TrimSpace(b); b != "" && !slices.Contains(out, b) {
					out = append(out, b)
				}
			}
		}
	}
	return out
}

// nativeStream reads a Messages event stream and hands out its events as
// they came. It is used by one goroutine at a time.
type nativeStream struct {
	ctx    context.Context
	p      *Provider
	body   io.ReadCloser
	waits  *waitReader
	events *sse.Reader

	chunk   llmproxy.RawChunk
	input   *llmproxy.Usage // the counts of message_start
	stopped bool            // message_stop was seen
	shown   bool            // an event with content was returned: the stream is committed
}

// NotifyWait makes the reader call f each time it is about to wait for
// the upstream (see llmproxy.WaitNotifier).
func (s *nativeStream) NotifyWait(f func()) { s.waits.before = f }

// Next returns the next event, io.EOF after message_stop, or the error
// that ended the stream.
func (s *nativeStream) Next() (*llmproxy.RawChunk, error) {
	for {
		if s.stopped {
			return nil, io.EOF
		}
		ev, err := s.events.Next()
		switch {
		case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
			return nil, s.fail("the upstream stream ended before message_stop", io.ErrUnexpectedEOF)
		case errors.Is(err, sse.ErrLineTooLong):
			return nil, s.fail("the upstream sent a stream line over the size limit", err)
		case err != nil:
			return nil, llmproxy.TransportError(s.ctx, s.p.up.Name, err)
		}
		data := bytes.TrimSpace(ev.Data)
		if len(data) == 0 {
			continue // a comment or an empty event
		}
		if s.shown && ev.Name == "content_block_delta" {
			// Past the commit point the router no longer asks whether an
			// event has content, and a delta carries no usage, end or
			// error: it passes on unread, as most events of a stream do.
			s.chunk = llmproxy.RawChunk{Event: ev.Name, Data: data, Content: true}
			return &s.chunk, nil
		}
		root, ok := validObject(data)
		if !ok {
			return nil, s.fail("the upstream sent an event that is not a JSON object", nil)
		}
		name := ev.Name
		if name == "" {
			name = root.Get("type").Str
		}
		if name == "error" {
			return nil, s.p.eventError(data)
		}
		s.chunk = llmproxy.RawChunk{Event: name, Data: data}
		s.read(name, root)
		s.shown = s.shown || s.chunk.Content
		return &s.chunk, nil
	}
}

// read sets the chunk's facts from its event.
func (s *nativeStream) read(name string, root gjson.Result) {
	c := &s.chunk
	switch name {
	case "message_start":
		s.input = readUsage(root.Get("message.usage"), nil)
	case "content_block_start":
		switch cb := root.Get("content_block"); cb.Get("type").Str {
		case "text":
			c.Content = cb.Get("text").Str != ""
		case "thinking":
			c.Content = cb.Get("thinking").Str != ""
		case "redacted_thinking":
		default: // tool_use, server tools and their results, new types
			c.Content = true
		}
	case "content_block_delta":
		d := root.Get("delta")
		switch d.Get("type").Str {
		case "text_delta":
			c.Content = d.Get("text").Str != ""
		case "input_json_delta":
			c.Content = d.Get("partial_json").Str != ""
		case "thinking_delta":
			c.Content = d.Get("thinking").Str != ""
		default: // signatures, citations, new types
			c.Content = true
		}
	case "message_delta":
		c.Content, c.Final = true, true
		c.Usage = readUsage(root.Get("usage"), s.input)
	case "message_stop":
		c.Final = true
		s.stopped = true
	}
}

// fail returns the KindUnavailable error of a broken stream, so that a
// failure before the first content fails over.
func (s *nativeStream) fail(msg string, cause error) *llmproxy.Error {
	return &llmproxy.Error{Kind: llmproxy.KindUnavailable, Provider: s.p.up.Name, Message: msg, Err: cause}
}

// Close ends the upstream request and releases its connection.
func (s *nativeStream) Close() error {
	err := s.body.Close()
	s.events.Release()
	return err
}

// waitReader calls before ahead of each read of the upstream's body: the
// event reader reads the body only when its buffered bytes are used up,
// that is, when the next event has not arrived yet.
type waitReader struct {
	r      io.Reader
	before func()
}

func (w *waitReader) Read(b []byte) (int, error) {
	if w.before != nil {
		w.before()
	}
	return w.r.Read(b)
}

// readUsage reads an Anthropic usage object in OpenAI's terms (see
// usage.openAI), on top of the counts of base (message_start's, for a
// message_delta that gives only some); nil when v is not an object.
func readUsage(v gjson.Result, base *llmproxy.Usage) *llmproxy.Usage {
	if !v.IsObject() {
		return base
	}
	var u usage
	v.ForEach(func(k, n gjson.Result) bool {
		if n.Type != gjson.Number {
			return true
		}
		i := int(n.Int())
		switch k.Str {
		case "input_tokens":
			u.InputTokens = &i
		case "output_tokens":
			u.OutputTokens = &i
		case "cache_creation_input_tokens":
			u.CacheCreationInputTokens = &i
		case "cache_read_input_tokens":
			u.CacheReadInputTokens = &i
		}
		return true
	})
	if base != nil && u.InputTokens == nil && u.CacheReadInputTokens == nil && u.CacheCreationInputTokens == nil {
		out := u.openAI()
		out.PromptTokens, out.PromptTokensDetails = base.PromptTokens, base.PromptTokensDetails
		out.TotalTokens = out.PromptTokens + out.CompletionTokens
		return out
	}
	return u.openAI()
}

// validObject reports whether b is valid UTF-8 JSON whose value is an
// object, and returns it parsed. The result shares b's memory: it must not
// outlive the call that reads it (gjson.ParseBytes would copy b, one
// allocation per event).
func validObject(b []byte) (gjson.Result, bool) {
	if len(b) == 0 || !utf8.Valid(b) || !gjson.ValidBytes(b) {
		return gjson.Result{}, false
	}
	v := gjson.Parse(unsafe.String(&b[0], len(b)))
	return v, v.IsObject()
}
