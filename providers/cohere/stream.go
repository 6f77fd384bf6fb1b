package cohere

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/sse"
)

// maxStreamLine caps one line of Cohere's event stream. It is a variable
// so that tests can lower it.
var maxStreamLine = sse.DefaultMaxLineBytes

// maxStreamToolCalls bounds the tool calls one stream may start, and with
// it the state a stream keeps.
const maxStreamToolCalls = 128

// ChatCompletionStream translates req as ChatCompletion does, asks Cohere
// for a stream and returns a reader that translates Cohere's events into
// OpenAI chunks (see Streams in the package documentation). The request's failures up to the
// answer's status are returned here; the stream's own failures come from
// the reader's Next.
func (p *Provider) ChatCompletionStream(ctx context.Context, req *llmproxy.ChatRequest) (llmproxy.ChunkReader[*llmproxy.ChatChunk], error) {
	cr, err := toChatRequest(req, true)
	if err != nil {
		return nil, p.withProvider(err)
	}
	body, err := p.up.Encode(cr)
	if err != nil {
		return nil, err
	}
	hreq, err := p.up.NewRequest(ctx, http.MethodPost, chatPath, body)
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Accept", "text/event-stream")
	resp, err := p.up.Send(ctx, hreq)
	if err != nil {
		return nil, err
	}
	return newChatStream(ctx, p, resp.Body, req.Model, time.Now().Unix()), nil
}

// newChatStream returns a reader of the event stream in body for a
// request of model, whose chunks carry created. The stream ends cleanly
// (io.EOF) after Cohere's message-end event, once its finish chunk and
// usage chunk were handed out; whatever follows it (a [DONE], the end of
// the body) is not read. The end of the body, or a [DONE], before
// message-end is a cut stream (KindUnavailable); an error event is
// Cohere's error; a generation that ended in ERROR or TIMEOUT is an error
// (see generationError).
func newChatStream(ctx context.Context, p *Provider, body io.ReadCloser, model string, created int64) *llmproxy.TranslatedStream {
	return p.chatStream(ctx, body, newStreamTranslator(newID(), model, created))
}

// chatStream returns the reader of the event stream in body through tr.
func (p *Provider) chatStream(ctx context.Context, body io.ReadCloser, tr *streamTranslator) *llmproxy.TranslatedStream {
	return llmproxy.NewTranslatedStream(ctx, p.up.Name, body, maxStreamLine, func(name string, data []byte) ([]*llmproxy.ChatChunk, bool, error) {
		chunks, done, err := tr.event(name, data)
		var upstream *eventError
		switch {
		case errors.As(err, &upstream):
			return chunks, false, p.statusError(http.StatusBadGateway, nil, upstream.body)
		case err != nil:
			if _, ok := errors.AsType[*llmproxy.Error](err); ok {
				return chunks, false, p.withProvider(err)
			}
			return chunks, false, p.up.InvalidAnswer(err)
		}
		return chunks, done, nil
	})
}

// newID returns a chunk id for a stream whose upstream named none.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "chatcmpl-" + hex.EncodeToString(b[:])
}

// eventError is an error event of the stream; body is its data, an error
// body in Cohere's shape.
type eventError struct{ body []byte }

// Error describes the event without its body.
func (e *eventError) Error() string { return "the upstream sent an error event" }

// streamTranslator is the per-request state machine that turns Cohere's
// stream events into OpenAI chunks. Every chunk has the same id, created
// and model; the first carries the assistant role. It keeps no more than a
// few fields and one map entry per tool call (at most maxStreamToolCalls),
// and an event gives at most two chunks. It is not safe for concurrent use.
//
//	message-start      a role chunk ({"role":"assistant","content":""}); its
//	                   id becomes the chunks' id
//	content-start/-delta  text → content, thinking → reasoning_content
//	tool-plan-delta    tool_plan → reasoning_content
//	tool-call-start    tool_calls[{index,id,type,function{name,arguments}}]
//	tool-call-delta    tool_calls[{index,function{arguments}}]
//	message-end        a finish chunk, then a usage chunk (choices []) if
//	                   Cohere sent usage; the stream is done
//	content-end, tool-call-end, citation-start/-end, debug and unknown
//	events give nothing
//
// Cohere's tool call index (the event's index) maps to OpenAI's index in
// the order the calls start. An event without a type takes the SSE event
// name as its type; an "error" event, or one without a type that carries a
// message string, is Cohere's error.
type streamTranslator struct {
	id      string
	created int64
	model   string

	started  bool        // a chunk went out, so the role was sent
	content  bool        // a chunk with content went out
	tools    map[int]int // Cohere's tool call index → OpenAI's
	lastTool int         // OpenAI index of the last call started, or -1
}

// newStreamTranslator returns the state machine of one stream, whose
// chunks carry id until message-start names another, model and created.
func newStreamTranslator(id, model string, created int64) *streamTranslator {
	return &streamTranslator{id: id, model: model, created: created, lastTool: -1}
}

// streamEvent is the part of an event every type shares.
type streamEvent struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Index   *int            `json:"index"`
	Delta   json.RawMessage `json:"delta"`
	Message json.RawMessage `json:"message"`
}

// messageDelta is delta of the content, tool plan and tool call events.
type messageDelta struct {
	Message struct {
		Content   json.RawMessage `json:"content"`
		ToolPlan  json.RawMessage `json:"tool_plan"`
		ToolCalls json.RawMessage `json:"tool_calls"`
	} `json:"message"`
}

// endDelta is delta of message-end.
type endDelta struct {
	FinishReason string `json:"finish_reason"`
	Usage        *usage `json:"usage"`
	Error        string `json:"error"`
}

// errNotObject is the cause of an event whose data is not a JSON object.
var errNotObject = errors.New("a stream event is not a JSON object")

// event translates one event (the SSE event name, if any, and its data)
// into chunks. done reports message-end. err is an *llmproxy.Error of a
// failed generation, an *eventError, or another error for an event that
// does not decode or breaks the protocol; chunks may come with an error,
// and are to be handed out before it.
func (t *streamTranslator) event(name string, data []byte) (chunks []*llmproxy.ChatChunk, done bool, err error) {
	if len(data) == 0 || data[0] != '{' {
		return nil, false, errNotObject
	}
	var ev streamEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, false, err
	}
	typ := ev.Type
	if typ == "" {
		typ = name
	}
	switch typ {
	case "message-start":
		if t.started {
			return nil, false, nil
		}
		if ev.ID != "" {
			t.id = ev.ID
		}
		empty := ""
		return t.one(llmproxy.Delta{Content: &empty}), false, nil
	case "content-start", "content-delta":
		return t.contentEvent(ev.Delta)
	case "tool-plan-delta":
		d, err := decodeDelta(ev.Delta)
		if err != nil {
			return nil, false, err
		}
		var plan string
		if len(d.Message.ToolPlan) > 0 && json.Unmarshal(d.Message.ToolPlan, &plan) != nil {
			return nil, false, errors.New("tool_plan is not a string")
		}
		if plan == "" {
			return nil, false, nil
		}
		var delta llmproxy.Delta
		setExtra(&delta.Extra, "reasoning_content", plan)
		return t.one(delta), false, nil
	case "tool-call-start":
		return t.toolStart(ev.Index, ev.Delta)
	case "tool-call-delta":
		return t.toolDelta(ev.Index, ev.Delta)
	case "message-end":
		return t.end(ev.Delta)
	case "error":
		return nil, false, &eventError{body: data}
	case "":
		if firstByte(ev.Message) == '"' {
			return nil, false, &eventError{body: data}
		}
	}
	return nil, false, nil
}

// decodeDelta decodes the delta of a content, tool plan or tool call
// event; an absent delta is an empty one.
func decodeDelta(raw json.RawMessage) (*messageDelta, error) {
	var d messageDelta
	if len(raw) == 0 || string(raw) == "null" {
		return &d, nil
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// contentEvent translates content-start and content-delta.
func (t *streamTranslator) contentEvent(raw json.RawMessage) ([]*llmproxy.ChatChunk, bool, error) {
	d, err := decodeDelta(raw)
	if err != nil {
		return nil, false, err
	}
	var c struct {
		Text     string `json:"text"`
		Thinking string `json:"thinking"`
	}
	if cr := bytes.TrimSpace(d.Message.Content); len(cr) > 0 && string(cr) != "null" {
		if err := json.Unmarshal(cr, &c); err != nil {
			return nil, false, err
		}
	}
	if c.Text == "" && c.Thinking == "" {
		return nil, false, nil
	}
	var delta llmproxy.Delta
	if c.Text != "" {
		delta.Content = &c.Text
	}
	if c.Thinking != "" {
		setExtra(&delta.Extra, "reasoning_content", c.Thinking)
	}
	return t.one(delta), false, nil
}

// toolCallOf decodes the tool_calls member of a tool call event: one
// object (Cohere sends an object here, not an array); a one-element array
// is tolerated.
func toolCallOf(raw json.RawMessage) (*toolCall, error) {
	raw = bytes.TrimSpace(raw)
	var tc toolCall
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return &tc, nil
	case raw[0] == '[':
		var list []toolCall
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, err
		}
		if len(list) > 1 {
			return nil, errors.New("a tool call event carries more than one tool call")
		}
		if len(list) == 1 {
			tc = list[0]
		}
		return &tc, nil
	}
	if err := json.Unmarshal(raw, &tc); err != nil {
		return nil, err
	}
	return &tc, nil
}

// toolStart translates tool-call-start: the call's first fragment, with
// its OpenAI index, id, type and name.
func (t *streamTranslator) toolStart(index *int, raw json.RawMessage) ([]*llmproxy.ChatChunk, bool, error) {
	d, err := decodeDelta(raw)
	if err != nil {
		return nil, false, err
	}
	tc, err := toolCallOf(d.Message.ToolCalls)
	if err != nil {
		return nil, false, err
	}
	if t.tools == nil {
		t.tools = map[int]int{}
	}
	key := len(t.tools)
	if index != nil {
		key = *index
	}
	if _, dup := t.tools[key]; dup {
		return nil, false, fmt.Errorf("tool call %d started twice", key)
	}
	if len(t.tools) >= maxStreamToolCalls {
		return nil, false, fmt.Errorf("more than %d tool calls in one stream", maxStreamToolCalls)
	}
	idx := len(t.tools)
	t.tools[key], t.lastTool = idx, idx
	id := tc.ID
	if id == "" {
		id = fmt.Sprintf("call_%d", idx)
	}
	return t.one(llmproxy.Delta{ToolCalls: llmproxy.ToolCalls{{Index: &idx, ID: id, Type: "function",
		Function: llmproxy.FunctionCall{Name: tc.Function.Name, Arguments: tc.Function.Arguments}}}}), false, nil
}

// toolDelta translates tool-call-delta: a fragment of a started call's
// arguments.
func (t *streamTranslator) toolDelta(index *int, raw json.RawMessage) ([]*llmproxy.ChatChunk, bool, error) {
	d, err := decodeDelta(raw)
	if err != nil {
		return nil, false, err
	}
	tc, err := toolCallOf(d.Message.ToolCalls)
	if err != nil {
		return nil, false, err
	}
	idx := t.lastTool
	if index != nil {
		i, ok := t.tools[*index]
		if !ok {
			return nil, false, fmt.Errorf("arguments for tool call %d, which did not start", *index)
		}
		idx = i
	}
	if idx < 0 {
		return nil, false, errors.New("arguments for a tool call that did not start")
	}
	if tc.Function.Arguments == "" {
		return nil, false, nil
	}
	return t.one(llmproxy.Delta{ToolCalls: llmproxy.ToolCalls{{Index: &idx,
		Function: llmproxy.FunctionCall{Arguments: tc.Function.Arguments}}}}), false, nil
}

// end translates message-end: the finish chunk and the usage chunk. A
// failed generation (finish reason ERROR or TIMEOUT, or an error member)
// is an error; if content already went out, the finish and usage chunks
// come first.
func (t *streamTranslator) end(raw json.RawMessage) ([]*llmproxy.ChatChunk, bool, error) {
	var d endDelta
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, false, err
		}
	}
	var fail error
	if isFailure(d.FinishReason) || d.Error != "" {
		native := d.FinishReason
		if !isFailure(native) {
			native = "ERROR"
		}
		fail = generationError(native, d.Error)
		if !t.content {
			// Nothing was shown yet: fail before the commit, so that the
			// proxy can try elsewhere.
			return nil, true, fail
		}
	}
	fr := finishReason(d.FinishReason)
	finish := t.one(llmproxy.Delta{})
	ch := &finish[0].Choices[0]
	ch.FinishReason = &fr
	native := d.FinishReason
	if native == "" {
		native = "COMPLETE"
	}
	setExtra(&ch.Extra, "native_finish_reason", native)
	chunks := finish
	if u := toUsage(d.Usage); u != nil {
		chunks = append(chunks, &llmproxy.ChatChunk{ID: t.id, Object: "chat.completion.chunk",
			Created: t.created, Model: t.model, Choices: []llmproxy.ChunkChoice{}, Usage: u})
	}
	return chunks, true, fail
}

// one returns the chunk of one delta, adding the role to the first.
func (t *streamTranslator) one(d llmproxy.Delta) []*llmproxy.ChatChunk {
	if !t.started {
		d.Role = "assistant"
		t.started = true
	}
	c := &llmproxy.ChatChunk{ID: t.id, Object: "chat.completion.chunk", Created: t.created, Model: t.model,
		Choices: []llmproxy.ChunkChoice{{Index: 0, Delta: d}}}
	if c.HasContent() {
		t.content = true
	}
	return []*llmproxy.ChatChunk{c}
}
