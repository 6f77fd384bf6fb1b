package responses

import (
	"encoding/json"
	"io"
	"time"

	"github.com/llmproxy/llmproxy"
)

// event is one Responses stream event as the translation writes it. Only
// the members of its type are set.
type event struct {
	Type           string          `json:"type"`
	SequenceNumber int             `json:"sequence_number"`
	Response       *response       `json:"response,omitempty"`
	OutputIndex    *int            `json:"output_index,omitempty"`
	ItemID         string          `json:"item_id,omitempty"`
	ContentIndex   *int            `json:"content_index,omitempty"`
	Item           any             `json:"item,omitempty"`
	Part           *contentOut     `json:"part,omitempty"`
	Delta          *string         `json:"delta,omitempty"`
	Text           *string         `json:"text,omitempty"`
	Refusal        *string         `json:"refusal,omitempty"`
	Name           string          `json:"name,omitempty"`
	Arguments      *string         `json:"arguments,omitempty"`
	Logprobs       json.RawMessage `json:"logprobs,omitempty"`
}

// streamState translates one chat stream into Responses events: a small
// state machine fed chunk by chunk. It opens an output item when its
// content begins (a message at the first text, a function_call at the
// first delta of a tool call) and closes it when another item begins or
// the stream ends, so that at most one item is open at a time, as OpenAI
// streams them; every event has the next sequence_number, from 0.
type streamState struct {
	resp *response
	now  func() time.Time
	seq  int
	out  []*llmproxy.RawChunk

	// open is the output index of the open item, -1 when none is.
	open int
	// msg is the open message item, or nil; text and refusal its parts'
	// text so far (text first when both come).
	msg                 *messageOut
	text, refusal       string
	hasText, hasRefusal bool
	// reasoning is the open reasoning item, or nil.
	reasoning *reasoningOut
	// calls are the function_call items by their chat tool call index.
	calls map[int]*functionCallOut

	reason string
	usage  *llmproxy.Usage
}

func newStreamState(r *response, now func() time.Time) *streamState {
	s := &streamState{resp: r, now: now, open: -1, calls: map[int]*functionCallOut{}}
	s.emit(false, &event{Type: "response.created", Response: s.snapshot()})
	s.emit(false, &event{Type: "response.in_progress", Response: s.snapshot()})
	return s
}

// snapshot returns a copy of the response as it stands.
func (s *streamState) snapshot() *response {
	cp := *s.resp
	cp.Output = append([]any{}, s.resp.Output...)
	return &cp
}

func intp(i int) *int { return &i }

func strp(s string) *string { return &s }

// emit appends an event with the next sequence number.
func (s *streamState) emit(content bool, e *event) {
	e.SequenceNumber = s.seq
	s.seq++
	b, err := json.Marshal(e)
	if err != nil {
		return // every member is marshalable
	}
	c := &llmproxy.RawChunk{Event: e.Type, Data: b, Content: content}
	if e.Type == "response.completed" || e.Type == "response.incomplete" {
		c.Final, c.Usage = true, e.Response.Usage.toUsage()
	}
	s.out = append(s.out, c)
}

// take returns the events made so far and forgets them.
func (s *streamState) take() []*llmproxy.RawChunk {
	out := s.out
	s.out = nil
	return out
}

// chunk translates one chat chunk (its first choice).
func (s *streamState) chunk(c *llmproxy.ChatChunk) {
	if c.Usage != nil {
		s.usage = c.Usage
	}
	if len(c.Choices) == 0 {
		return
	}
	ch := &c.Choices[0]
	d := &ch.Delta
	if rt := reasoningText(d.Extra); rt != "" {
		s.reasoningDelta(rt)
	}
	if d.Content != nil && *d.Content != "" {
		s.textDelta(*d.Content, false)
	}
	if d.Refusal != nil && *d.Refusal != "" {
		s.textDelta(*d.Refusal, true)
	}
	for _, tc := range d.ToolCalls {
		idx := 0
		if tc.Index != nil {
			idx = *tc.Index
		}
		s.toolDelta(idx, &tc)
	}
	if ch.FinishReason != nil && *ch.FinishReason != "" {
		s.reason = *ch.FinishReason
	}
}

// reasoningDelta adds reasoning text to the open reasoning item, opening
// one.
func (s *streamState) reasoningDelta(t string) {
	if s.reasoning == nil {
		s.closeOpen()
		s.reasoning = &reasoningOut{Type: "reasoning", ID: newID("rs"), Summary: []any{}, Content: []reasoningTxt{}, Status: "in_progress"}
		s.open = len(s.resp.Output)
		s.resp.Output = append(s.resp.Output, s.reasoning)
		s.emit(true, &event{Type: "response.output_item.added", OutputIndex: intp(s.open), Item: s.reasoning})
		s.reasoning.Content = []reasoningTxt{{Type: "reasoning_text"}}
	}
	s.reasoning.Content[0].Text += t
	s.emit(true, &event{Type: "response.reasoning_text.delta", ItemID: s.reasoning.ID, OutputIndex: intp(s.open), ContentIndex: intp(0), Delta: strp(t)})
}

// textDelta adds text (or refusal text) to the open message, opening one.
func (s *streamState) textDelta(t string, refusal bool) {
	if s.msg == nil {
		s.closeOpen()
		s.msg = &messageOut{Type: "message", ID: newID("msg"), Status: "in_progress", Role: "assistant", Content: []contentOut{}}
		s.text, s.refusal, s.hasText, s.hasRefusal = "", "", false, false
		s.open = len(s.resp.Output)
		s.resp.Output = append(s.resp.Output, s.msg)
		s.emit(true, &event{Type: "response.output_item.added", OutputIndex: intp(s.open), Item: s.msg})
	}
	if refusal {
		if !s.hasRefusal {
			s.hasRefusal = true
			p := refusalPart("")
			s.emit(true, &event{Type: "response.content_part.added", ItemID: s.msg.ID, OutputIndex: intp(s.open), ContentIndex: intp(s.refusalIndex()), Part: &p})
		}
		s.refusal += t
		s.emit(true, &event{Type: "response.refusal.delta", ItemID: s.msg.ID, OutputIndex: intp(s.open), ContentIndex: intp(s.refusalIndex()), Delta: strp(t)})
		return
	}
	if !s.hasText {
		if s.hasRefusal {
			// Text after a refusal would change the refusal's index:
			// it is rare enough to go into the refusal.
			s.textDelta(t, true)
			return
		}
		s.hasText = true
		p := textPart("")
		s.emit(true, &event{Type: "response.content_part.added", ItemID: s.msg.ID, OutputIndex: intp(s.open), ContentIndex: intp(0), Part: &p})
	}
	s.text += t
	s.emit(true, &event{Type: "response.output_text.delta", ItemID: s.msg.ID, OutputIndex: intp(s.open), ContentIndex: intp(0), Delta: strp(t), Logprobs: emptyList})
}

// refusalIndex is the content index of the refusal part.
func (s *streamState) refusalIndex() int {
	if s.hasText {
		return 1
	}
	return 0
}

// toolDelta adds a tool call delta, opening its function_call item.
func (s *streamState) toolDelta(idx int, tc *llmproxy.ToolCall) {
	fc, ok := s.calls[idx]
	if !ok {
		s.closeOpen()
		callID := tc.ID
		if callID == "" {
			callID = newID("call")
		}
		fc = &functionCallOut{Type: "function_call", ID: newID("fc"), CallID: callID, Name: tc.Function.Name, Status: "in_progress"}
		s.calls[idx] = fc
		s.open = len(s.resp.Output)
		s.resp.Output = append(s.resp.Output, fc)
		added := *fc
		s.emit(true, &event{Type: "response.output_item.added", OutputIndex: intp(s.open), Item: &added})
	} else if fc.Name == "" && tc.Function.Name != "" {
		fc.Name = tc.Function.Name
	}
	if a := tc.Function.Arguments; a != "" {
		fc.Arguments += a
		s.emit(true, &event{Type: "response.function_call_arguments.delta", ItemID: fc.ID, OutputIndex: intp(s.indexOf(fc)), Delta: strp(a)})
	}
}

// indexOf returns the output index of an item.
func (s *streamState) indexOf(it any) int {
	for i, o := range s.resp.Output {
		if o == it {
			return i
		}
	}
	return -1
}

// closeOpen closes the open item, if any, with its done events.
func (s *streamState) closeOpen() {
	if s.open < 0 {
		return
	}
	i := s.open
	s.open = -1
	switch it := s.resp.Output[i].(type) {
	case *reasoningOut:
		s.emit(true, &event{Type: "response.reasoning_text.done", ItemID: it.ID, OutputIndex: intp(i), ContentIndex: intp(0), Text: strp(it.Content[0].Text)})
		it.Status = "completed"
		s.reasoning = nil
		s.emit(true, &event{Type: "response.output_item.done", OutputIndex: intp(i), Item: it})
	case *messageOut:
		if s.hasText {
			s.emit(true, &event{Type: "response.output_text.done", ItemID: it.ID, OutputIndex: intp(i), ContentIndex: intp(0), Text: strp(s.text), Logprobs: emptyList})
			p := textPart(s.text)
			s.emit(true, &event{Type: "response.content_part.done", ItemID: it.ID, OutputIndex: intp(i), ContentIndex: intp(0), Part: &p})
			it.Content = append(it.Content, p)
		}
		if s.hasRefusal {
			ri := s.refusalIndex()
			s.emit(true, &event{Type: "response.refusal.done", ItemID: it.ID, OutputIndex: intp(i), ContentIndex: intp(ri), Refusal: strp(s.refusal)})
			p := refusalPart(s.refusal)
			s.emit(true, &event{Type: "response.content_part.done", ItemID: it.ID, OutputIndex: intp(i), ContentIndex: intp(ri), Part: &p})
			it.Content = append(it.Content, p)
		}
		it.Status = "completed"
		s.msg = nil
		s.emit(true, &event{Type: "response.output_item.done", OutputIndex: intp(i), Item: it})
	case *functionCallOut:
		s.emit(true, &event{Type: "response.function_call_arguments.done", ItemID: it.ID, OutputIndex: intp(i), Name: it.Name, Arguments: strp(it.Arguments)})
		it.Status = "completed"
		done := *it
		s.emit(true, &event{Type: "response.output_item.done", OutputIndex: intp(i), Item: &done})
	}
}

// end closes the open item and ends the stream with response.completed,
// or response.incomplete when the answer was cut short (max tokens, a
// content filter).
func (s *streamState) end() {
	s.closeOpen()
	s.resp.finish(s.reason, s.usage, s.now())
	typ := "response.completed"
	if s.resp.Status == "incomplete" {
		typ = "response.incomplete"
	}
	s.emit(true, &event{Type: typ, Response: s.snapshot()})
}

// translatedStream reads a chat stream as Responses events.
type translatedStream struct {
	r     llmproxy.ChunkReader[*llmproxy.ChatChunk]
	st    *streamState
	queue []*llmproxy.RawChunk
	done  bool
}

// Next returns the next event: those the next chat chunk makes, in order.
func (t *translatedStream) Next() (*llmproxy.RawChunk, error) {
	for len(t.queue) == 0 {
		if t.done {
			return nil, io.EOF
		}
		c, err := t.r.Next()
		switch {
		case err == io.EOF:
			t.st.end()
			t.done = true
		case err != nil:
			return nil, err
		default:
			t.st.chunk(c)
		}
		t.queue = t.st.take()
	}
	c := t.queue[0]
	t.queue = t.queue[1:]
	return c, nil
}

// Close closes the chat stream.
func (t *translatedStream) Close() error { return t.r.Close() }

// notifyingStream is a translatedStream over a chat stream that tells
// when it waits for the upstream (see llmproxy.WaitNotifier): the events
// of a chunk are handed out before the next chunk is waited for.
type notifyingStream struct{ *translatedStream }

// NotifyWait passes f to the chat stream.
func (n notifyingStream) NotifyWait(f func()) {
	n.r.(llmproxy.WaitNotifier).NotifyWait(f)
}

// newTranslatedStream returns the Responses events of a chat stream,
// beginning with response.created and response.in_progress.
func newTranslatedStream(r llmproxy.ChunkReader[*llmproxy.ChatChunk], st *streamState) llmproxy.ChunkReader[*llmproxy.RawChunk] {
	t := &translatedStream{r: r, st: st, queue: st.take()}
	if _, ok := r.(llmproxy.WaitNotifier); ok {
		return notifyingStream{t}
	}
	return t
}
