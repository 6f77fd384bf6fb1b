package messages

import (
	"encoding/json"
	"io"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/anthropicwire"
)

// streamTranslator turns one chat stream's chunks into Messages events:
// message_start (and a ping) with the first chunk; a content block per
// run of text, of reasoning (a thinking block) and per tool call
// (content_block_start, its deltas: text_delta, thinking_delta,
// input_json_delta; content_block_stop when the next block begins); and at
// the end message_delta with the stop reason and usage, then message_stop.
// It is a per-request state machine, not safe for concurrent use.
type streamTranslator struct {
	model   string // the model named when the chunks do not name one
	started bool
	ended   bool

	open    int    // index of the open block, -1 when none
	kind    string // type of the open block: text, thinking or tool_use
	next    int    // index of the next block
	tools   map[int]int
	finish  string
	refused bool // a refusal came: the stop reason is refusal
	usage   *llmproxy.Usage
}

// newStreamTranslator returns a translator for a stream of model.
func newStreamTranslator(model string) *streamTranslator {
	return &streamTranslator{model: model, open: -1, tools: map[int]int{}}
}

// Events are encoded from these shapes.
type (
	messageStart struct {
		Type    string `json:"type"`
		Message answer `json:"message"`
	}
	blockStart struct {
		Type         string      `json:"type"`
		Index        int         `json:"index"`
		ContentBlock answerBlock `json:"content_block"`
	}
	blockDelta struct {
		Type  string    `json:"type"`
		Index int       `json:"index"`
		Delta deltaBody `json:"delta"`
	}
	deltaBody struct {
		Type        string  `json:"type"`
		Text        *string `json:"text,omitempty"`
		Thinking    *string `json:"thinking,omitempty"`
		PartialJSON *string `json:"partial_json,omitempty"`
	}
	blockStop struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	}
	messageDelta struct {
		Type  string       `json:"type"`
		Delta stopDelta    `json:"delta"`
		Usage *answerUsage `json:"usage"`
	}
	stopDelta struct {
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	}
)

// event encodes one event; its facts are set by the caller.
func event(name string, v any) *llmproxy.RawChunk {
	b, _ := json.Marshal(v) // the shapes above always encode
	return &llmproxy.RawChunk{Event: name, Data: b}
}

// chunk translates one chat chunk, appending its events to out.
func (t *streamTranslator) chunk(c *llmproxy.ChatChunk, out []*llmproxy.RawChunk) []*llmproxy.RawChunk {
	if !t.started {
		out = t.start(c, out)
	}
	if c.Usage != nil {
		t.usage = c.Usage
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue // Messages answers have one choice
		}
		d := &ch.Delta
		if r := reasoningOf(d.Extra); r != "" {
			out = t.delta("thinking", -1, deltaBody{Type: "thinking_delta", Thinking: &r}, out)
		}
		text := ""
		if d.Content != nil {
			text = *d.Content
		}
		if text == "" && d.Refusal != nil {
			text = *d.Refusal
		}
		if text != "" {
			out = t.delta("text", -1, deltaBody{Type: "text_delta", Text: &text}, out)
		}
		for _, tc := range d.ToolCalls {
			out = t.toolCall(tc, out)
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			t.finish = *ch.FinishReason
		}
		if d.Refusal != nil && *d.Refusal != "" {
			t.refused = true
		}
	}
	return out
}

// start sends message_start, with the chunk's id and model, and a ping.
func (t *streamTranslator) start(c *llmproxy.ChatChunk, out []*llmproxy.RawChunk) []*llmproxy.RawChunk {
	t.started = true
	t.model = orDefault(c.Model, t.model)
	ms := event("message_start", messageStart{Type: "message_start", Message: answer{
		ID: messageID(c.ID), Type: "message", Role: "assistant", Model: t.model,
		Content: []answerBlock{}, Usage: &answerUsage{}}})
	return append(out, ms, event("ping", struct {
		Type string `json:"type"`
	}{"ping"}))
}

// delta sends a delta of a text or thinking block (tool -1) or of the
// tool_use block of tool, opening the block when it is not the open one.
func (t *streamTranslator) delta(kind string, tool int, d deltaBody, out []*llmproxy.RawChunk) []*llmproxy.RawChunk {
	index := t.open
	if kind == "tool_use" {
		index = t.tools[tool]
	} else if t.kind != kind {
		out = t.stop(out)
		index = t.next
		t.next++
		t.open, t.kind = index, kind
		cb := answerBlock{Type: kind}
		empty := ""
		if kind == "text" {
			cb.Text = &empty
		} else {
			cb.Thinking, cb.Signature = &empty, &empty
		}
		out = append(out, event("content_block_start", blockStart{Type: "content_block_start", Index: index, ContentBlock: cb}))
	}
	ev := event("content_block_delta", blockDelta{Type: "content_block_delta", Index: index, Delta: d})
	ev.Content = true
	return append(out, ev)
}

// toolCall translates a tool call delta: the first one of a tool index
// (the one with its id and name) opens a tool_use block; its argument
// fragments are input_json_delta events of that block, also when another
// block was opened since (the events carry the block's index).
func (t *streamTranslator) toolCall(tc llmproxy.ToolCall, out []*llmproxy.RawChunk) []*llmproxy.RawChunk {
	ti := 0
	if tc.Index != nil {
		ti = *tc.Index
	}
	if _, known := t.tools[ti]; !known {
		out = t.stop(out)
		index := t.next
		t.next++
		t.tools[ti] = index
		t.open, t.kind = index, "tool_use"
		ev := event("content_block_start", blockStart{Type: "content_block_start", Index: index,
			ContentBlock: answerBlock{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: json.RawMessage(`{}`)}})
		ev.Content = true
		out = append(out, ev)
	}
	if args := tc.Function.Arguments; args != "" {
		out = t.delta("tool_use", ti, deltaBody{Type: "input_json_delta", PartialJSON: &args}, out)
	}
	return out
}

// stop closes the open block, if any.
func (t *streamTranslator) stop(out []*llmproxy.RawChunk) []*llmproxy.RawChunk {
	if t.open < 0 {
		return out
	}
	out = append(out, event("content_block_stop", blockStop{Type: "content_block_stop", Index: t.open}))
	t.open, t.kind = -1, ""
	return out
}

// end closes the stream after the chat stream's clean end: the open block,
// message_delta with the stop reason and the usage, message_stop.
func (t *streamTranslator) end(out []*llmproxy.RawChunk) []*llmproxy.RawChunk {
	if !t.started {
		out = t.start(&llmproxy.ChatChunk{}, out)
	}
	t.ended = true
	out = t.stop(out)
	reason := anthropicwire.StopReason(t.finish)
	if t.refused {
		reason = "refusal"
	}
	md := event("message_delta", messageDelta{Type: "message_delta",
		Delta: stopDelta{StopReason: reason}, Usage: usageOf(t.usage)})
	md.Content, md.Final, md.Usage = true, true, t.usage
	stop := event("message_stop", struct {
		Type string `json:"type"`
	}{"message_stop"})
	stop.Final = true
	return append(out, md, stop)
}

// translatedStream reads a chat stream and hands out Messages events.
type translatedStream struct {
	r       llmproxy.ChunkReader[*llmproxy.ChatChunk]
	t       *streamTranslator
	pending []*llmproxy.RawChunk
}

// Next returns the next event, io.EOF after message_stop, or the error
// that ended the chat stream (which then has no message_stop).
func (s *translatedStream) Next() (*llmproxy.RawChunk, error) {
	for len(s.pending) == 0 {
		if s.t.ended {
			return nil, io.EOF
		}
		c, err := s.r.Next()
		switch {
		case err == io.EOF:
			s.pending = s.t.end(s.pending)
		case err != nil:
			return nil, err
		default:
			s.pending = s.t.chunk(c, s.pending)
		}
	}
	ev := s.pending[0]
	s.pending[0] = nil
	s.pending = s.pending[1:]
	return ev, nil
}

// Close closes the chat stream.
func (s *translatedStream) Close() error { return s.r.Close() }

// waitingTranslatedStream is a translatedStream over a WaitNotifier, which
// it is too, so that the server flushes only when the upstream is awaited.
type waitingTranslatedStream struct{ *translatedStream }

func (s waitingTranslatedStream) NotifyWait(f func()) {
	s.r.(llmproxy.WaitNotifier).NotifyWait(f)
}

// translateStream returns a reader of Messages events over a chat stream
// of model.
func translateStream(r llmproxy.ChunkReader[*llmproxy.ChatChunk], model string) llmproxy.ChunkReader[*llmproxy.RawChunk] {
	ts := &translatedStream{r: r, t: newStreamTranslator(model)}
	if _, ok := r.(llmproxy.WaitNotifier); ok {
		return waitingTranslatedStream{ts}
	}
	return ts
}
