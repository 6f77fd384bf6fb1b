package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/sse"
)

// maxStreamLine caps one line of the upstream's event stream. It is a
// variable so that tests can lower it.
var maxStreamLine = sse.DefaultMaxLineBytes

// ChatCompletionStream opens a streamed chat completion: the request is
// translated as for ChatCompletion and Anthropic's named events are
// translated to OpenAI chunks by a per-request state machine (see
// streamTranslator). Every chunk carries the message's id, the model and
// one creation time; the stream ends with a finish chunk and a usage chunk
// (choices: []), then io.EOF. A stream cut before message_stop, or an error
// event, ends with an *llmproxy.Error instead.
func (p *Provider) ChatCompletionStream(ctx context.Context, req *llmproxy.ChatRequest) (llmproxy.ChunkReader[*llmproxy.ChatChunk], error) {
	mr, err := p.translate(req)
	if err != nil {
		return nil, err
	}
	body, err := p.openStream(ctx, mr)
	if err != nil {
		return nil, err
	}
	return newChatStream(ctx, p, req.Model, body), nil
}

// CompletionStream opens a streamed legacy text completion (see
// ChatCompletionStream): the text deltas become text_completion chunks,
// followed by a finish chunk and a usage chunk.
func (p *Provider) CompletionStream(ctx context.Context, req *llmproxy.CompletionRequest) (llmproxy.ChunkReader[*llmproxy.CompletionResponse], error) {
	mr, err := p.translateCompletion(req)
	if err != nil {
		return nil, err
	}
	body, err := p.openStream(ctx, mr)
	if err != nil {
		return nil, err
	}
	return &completionStream{chat: newChatStream(ctx, p, req.Model, body)}, nil
}

// openStream posts a streamed Messages request and returns the body of the
// answer once the upstream accepted it with a 2xx.
func (p *Provider) openStream(ctx context.Context, mr *messagesRequest) (io.ReadCloser, error) {
	mr.Stream = true
	body, err := p.up.Encode(mr)
	if err != nil {
		return nil, err
	}
	req, err := p.up.NewRequest(ctx, http.MethodPost, "/v1/messages", body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := p.up.Send(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// chatStream reads Anthropic's event stream and hands out OpenAI chunks. It
// is used by one goroutine at a time, as llmproxy.ChunkReader requires.
type chatStream struct {
	ctx     context.Context
	body    io.ReadCloser
	events  *sse.Reader
	t       streamTranslator
	pending []*llmproxy.ChatChunk
	err     error // the error that ended the stream, io.EOF at a clean end
}

// newChatStream returns a chatStream reading body; reqModel names the
// model should the upstream not.
func newChatStream(ctx context.Context, p *Provider, reqModel string, body io.ReadCloser) *chatStream {
	return &chatStream{
		ctx:    ctx,
		body:   body,
		events: sse.NewReader(body, maxStreamLine),
		t:      streamTranslator{p: p, model: reqModel, created: time.Now().Unix()},
	}
}

// Next returns the next chunk, io.EOF after the chunks of message_stop, or
// the *llmproxy.Error that ended the stream (an error event, a cut, an
// unreadable event). After an error every call returns it again.
func (s *chatStream) Next() (*llmproxy.ChatChunk, error) {
	for len(s.pending) == 0 {
		if s.err != nil {
			return nil, s.err
		}
		s.err = s.step()
	}
	c := s.pending[0]
	s.pending[0] = nil
	s.pending = s.pending[1:]
	return c, nil
}

// step reads one event and translates it, queueing its chunks. It returns
// io.EOF once the stream is complete, or the error that ended it.
func (s *chatStream) step() error {
	if s.t.stopped {
		return io.EOF
	}
	ev, err := s.events.Next()
	switch {
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return s.t.fail("the upstream stream ended before message_stop", io.ErrUnexpectedEOF)
	case errors.Is(err, sse.ErrLineTooLong):
		return s.t.fail("the upstream sent a stream line over the size limit", err)
	case err != nil:
		return llmproxy.TransportError(s.ctx, s.t.p.up.Name, err)
	}
	out, err := s.t.event(ev.Name, ev.Data, s.pending)
	s.pending = out
	return err
}

// Close ends the upstream request and releases its connection.
func (s *chatStream) Close() error {
	err := s.body.Close()
	s.events.Release()
	return err
}

// streamTranslator is the state machine that turns one message's events
// into OpenAI chunks. It is not safe for concurrent use.
type streamTranslator struct {
	p       *Provider // for the errors
	id      string
	model   string
	created int64

	started  bool            // message_start was seen
	stopped  bool            // message_stop was seen
	finished bool            // the finish chunk was sent
	blocks   map[int]blockAt // the content blocks by Anthropic index
	tools    int             // tool_use blocks so far: the next OpenAI tool index
	usage    usage           // the latest cumulative counts
}

// blockAt is what the translator remembers of a content block.
type blockAt struct {
	typ  string
	tool int // the OpenAI tool index of a tool_use block
}

// streamEvent holds the members of every event type the translator reads.
type streamEvent struct {
	Type         string          `json:"type"`
	Message      *message        `json:"message"`
	Index        int             `json:"index"`
	ContentBlock *contentBlock   `json:"content_block"`
	Delta        json.RawMessage `json:"delta"`
	Usage        *usage          `json:"usage"`
}

// eventDelta is the delta of content_block_delta and message_delta.
type eventDelta struct {
	Type        string  `json:"type"`
	Text        string  `json:"text"`
	PartialJSON string  `json:"partial_json"`
	Thinking    string  `json:"thinking"`
	StopReason  *string `json:"stop_reason"`
}

// event translates one event, named name (or, when the event: line is
// missing, by the type in its data), appending its chunks to out. Unknown
// events, ping and content_block_stop produce nothing. An error event is
// returned as the upstream's error; data that is not the JSON an event of
// its type needs, or content before message_start, is an invalid stream.
func (t *streamTranslator) event(name string, data []byte, out []*llmproxy.ChatChunk) ([]*llmproxy.ChatChunk, error) {
	data = bytes.TrimSpace(data)
	var ev streamEvent
	readable := len(data) > 0 && data[0] == '{' && json.Unmarshal(data, &ev) == nil
	if name == "" {
		name = ev.Type
	}
	switch name {
	case "error":
		return out, t.p.eventError(data)
	case "message_start", "content_block_start", "content_block_delta", "message_delta", "message_stop":
	default: // ping, content_block_stop and event types added later
		return out, nil
	}
	switch {
	case !readable:
		return out, t.fail("the upstream sent an unreadable "+name+" event", errors.New("the event data is not the expected JSON object"))
	case name == "message_start":
		return t.messageStart(ev, out)
	case !t.started:
		return out, t.fail("the upstream sent "+name+" before message_start", nil)
	}
	switch name {
	case "content_block_start":
		return t.blockStart(ev, out)
	case "content_block_delta":
		return t.blockDelta(ev, out)
	case "message_delta":
		return t.messageDelta(ev, out)
	}
	return t.messageStop(out), nil
}

// messageStart begins the stream: it takes the message's id, model and
// input usage and announces the assistant's role.
func (t *streamTranslator) messageStart(ev streamEvent, out []*llmproxy.ChatChunk) ([]*llmproxy.ChatChunk, error) {
	if t.started || ev.Message == nil {
		return out, t.fail("the upstream sent an unexpected message_start event", nil)
	}
	t.started = true
	t.id = orID(ev.Message.ID)
	t.model = orModel(ev.Message.Model, t.model)
	t.usage.update(ev.Message.Usage)
	empty := ""
	return append(out, t.chunk(llmproxy.Delta{Role: "assistant", Content: &empty}, nil)), nil
}

// messageDelta takes the cumulative usage and sends the finish chunk for
// the first stop reason.
func (t *streamTranslator) messageDelta(ev streamEvent, out []*llmproxy.ChatChunk) ([]*llmproxy.ChatChunk, error) {
	var d eventDelta
	if len(ev.Delta) > 0 && json.Unmarshal(ev.Delta, &d) != nil {
		return out, t.fail("the upstream sent an unreadable message_delta event", nil)
	}
	if ev.Usage != nil {
		t.usage.update(*ev.Usage)
	}
	if d.StopReason != nil && !t.finished {
		out = append(out, t.finish(*d.StopReason))
	}
	return out, nil
}

// messageStop ends the stream: the finish chunk, unless message_delta sent
// it, then the usage chunk.
func (t *streamTranslator) messageStop(out []*llmproxy.ChatChunk) []*llmproxy.ChatChunk {
	t.stopped = true
	if !t.finished {
		out = append(out, t.finish(""))
	}
	c := t.chunk(llmproxy.Delta{}, nil)
	c.Choices, c.Usage = []llmproxy.ChunkChoice{}, t.usage.openAI()
	return append(out, c)
}

// blockStart opens a content block: a tool_use block announces its call
// (id, name, empty arguments) under the next OpenAI tool index.
func (t *streamTranslator) blockStart(ev streamEvent, out []*llmproxy.ChatChunk) ([]*llmproxy.ChatChunk, error) {
	cb := ev.ContentBlock
	if cb == nil {
		return out, t.fail("the upstream sent a content_block_start event without a block", nil)
	}
	if t.blocks == nil {
		t.blocks = map[int]blockAt{}
	}
	b := blockAt{typ: cb.Type}
	switch cb.Type {
	case "text":
		if cb.Text != "" {
			out = append(out, t.text(cb.Text))
		}
	case "thinking":
		if cb.Thinking != "" {
			out = append(out, t.reasoning(cb.Thinking))
		}
	case "tool_use":
		b.tool = t.tools
		t.tools++
		out = append(out, t.toolCall(llmproxy.ToolCall{ID: cb.ID, Type: "function",
			Function: llmproxy.FunctionCall{Name: cb.Name}}, b.tool))
	}
	t.blocks[ev.Index] = b
	return out, nil
}

// blockDelta translates the increment of a content block. Deltas of
// blocks the translator does not know or does not pass on (signatures,
// citations, server tools) produce nothing.
func (t *streamTranslator) blockDelta(ev streamEvent, out []*llmproxy.ChatChunk) ([]*llmproxy.ChatChunk, error) {
	var d eventDelta
	if json.Unmarshal(ev.Delta, &d) != nil {
		return out, t.fail("the upstream sent an unreadable content_block_delta event", nil)
	}
	b, open := t.blocks[ev.Index]
	switch d.Type {
	case "text_delta":
		if d.Text != "" {
			out = append(out, t.text(d.Text))
		}
	case "thinking_delta":
		if d.Thinking != "" {
			out = append(out, t.reasoning(d.Thinking))
		}
	case "input_json_delta":
		if open && b.typ == "tool_use" && d.PartialJSON != "" {
			out = append(out, t.toolCall(llmproxy.ToolCall{Function: llmproxy.FunctionCall{Arguments: d.PartialJSON}}, b.tool))
		}
	}
	return out, nil
}

// chunk returns a chunk of the stream with one choice.
func (t *streamTranslator) chunk(d llmproxy.Delta, finish *string) *llmproxy.ChatChunk {
	return &llmproxy.ChatChunk{ID: t.id, Object: "chat.completion.chunk", Created: t.created, Model: t.model,
		Choices: []llmproxy.ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}}}
}

// text returns a content delta.
func (t *streamTranslator) text(s string) *llmproxy.ChatChunk {
	return t.chunk(llmproxy.Delta{Content: &s}, nil)
}

// reasoning returns a reasoning_content delta.
func (t *streamTranslator) reasoning(s string) *llmproxy.ChatChunk {
	return t.chunk(llmproxy.Delta{Extra: llmproxy.Extra{"reasoning_content": jsonString(s)}}, nil)
}

// toolCall returns a tool call delta under the OpenAI tool index.
func (t *streamTranslator) toolCall(tc llmproxy.ToolCall, index int) *llmproxy.ChatChunk {
	tc.Index = &index
	return t.chunk(llmproxy.Delta{ToolCalls: llmproxy.ToolCalls{tc}}, nil)
}

// finish returns the finish chunk and remembers that it was sent.
func (t *streamTranslator) finish(stopReason string) *llmproxy.ChatChunk {
	t.finished = true
	fr := finishReason(stopReason)
	return t.chunk(llmproxy.Delta{}, &fr)
}

// fail returns the KindUnavailable error of a broken stream, so that a
// failure before the first content fails over.
func (t *streamTranslator) fail(msg string, cause error) *llmproxy.Error {
	return &llmproxy.Error{Kind: llmproxy.KindUnavailable, Provider: t.p.up.Name, Message: msg, Err: cause}
}

// completionStream turns a chat stream into legacy text completion chunks:
// text deltas, the finish reason and the usage; role, reasoning and tool
// chunks are skipped. It is used by one goroutine at a time.
type completionStream struct{ chat *chatStream }

// Next returns the next text completion chunk (see chatStream.Next).
func (s *completionStream) Next() (*llmproxy.CompletionResponse, error) {
	for {
		c, err := s.chat.Next()
		if err != nil {
			return nil, err
		}
		r := &llmproxy.CompletionResponse{ID: c.ID, Object: "text_completion", Created: c.Created, Model: c.Model, Usage: c.Usage}
		if len(c.Choices) == 0 {
			r.Choices = []llmproxy.CompletionChoice{}
			return r, nil
		}
		ch := c.Choices[0]
		switch {
		case ch.FinishReason != nil:
			r.Choices = []llmproxy.CompletionChoice{{Index: 0, FinishReason: *ch.FinishReason}}
		case ch.Delta.Content != nil && *ch.Delta.Content != "":
			r.Choices = []llmproxy.CompletionChoice{{Index: 0, Text: *ch.Delta.Content}}
		default:
			continue
		}
		return r, nil
	}
}

// Close ends the upstream request and releases its connection.
func (s *completionStream) Close() error { return s.chat.Close() }
