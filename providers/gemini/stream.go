package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/sse"
)

// maxStreamLine caps one line of Gemini's event stream. It is a variable
// so that tests can lower it.
var maxStreamLine = sse.DefaultMaxLineBytes

// ChatCompletionStream translates req as ChatCompletion does, asks Gemini
// for an SSE stream (POST models/{model}:streamGenerateContent?alt=sse) and
// returns a reader that translates Gemini's events into OpenAI chunks (see
// Streams in the package documentation). The request's failures up to the
// answer's status are returned here; the stream's own failures come from
// the reader's Next.
func (p *Provider) ChatCompletionStream(ctx context.Context, req *llmproxy.ChatRequest) (llmproxy.ChunkReader[*llmproxy.ChatChunk], error) {
	path, body, err := p.chatBody(req)
	if err != nil {
		return nil, err
	}
	hreq, err := p.up.NewRequest(ctx, http.MethodPost, path+":streamGenerateContent?alt=sse", body)
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Accept", "text/event-stream")
	resp, err := p.up.Send(ctx, hreq)
	if err != nil {
		return nil, err
	}
	return newChatStream(ctx, p, resp.Body, req.Model, choices(req), time.Now().Unix()), nil
}

// newChatStream returns a reader of the event stream in body for a request
// of model asking for n choices, whose chunks carry created. The stream
// ends cleanly (io.EOF) once every candidate finished and the finish and
// usage chunks were handed out; whatever follows is not read. The end of
// the body before that is a cut stream (KindUnavailable); an error object
// is Gemini's error.
func newChatStream(ctx context.Context, p *Provider, body io.ReadCloser, model string, n int, created int64) *llmproxy.TranslatedStream {
	tr := newStreamTranslator(newID(), model, n, created)
	return llmproxy.NewTranslatedStream(ctx, p.up.Name, body, maxStreamLine, func(_ string, data []byte) ([]*llmproxy.ChatChunk, bool, error) {
		chunks, done, err := tr.event(data)
		var upstream *eventError
		switch {
		case errors.As(err, &upstream):
			return chunks, false, p.streamError(upstream.err)
		case err != nil:
			return chunks, false, p.up.InvalidAnswer(err)
		}
		return chunks, done, nil
	})
}

// eventError is an error object of the stream.
type eventError struct{ err *apiError }

// Error describes the event without its body.
func (e *eventError) Error() string { return "the upstream sent an error in the stream" }

// errNotObject is the cause of an event whose data is not a JSON object.
var errNotObject = errors.New("a stream event is not a JSON object")

// streamTranslator is the per-request state machine that turns Gemini's
// stream events (each a GenerateContentResponse) into OpenAI chunks. Every
// chunk has the same id (the first event's responseId, else a made-up
// one), created and model (the first event's modelVersion, else the
// requested model); each choice's first chunk carries the assistant role.
// It keeps a few fields per candidate (at most n ≤ 128), and an event
// gives at most two chunks per candidate it names plus the usage chunk. It
// is not safe for concurrent use.
//
//	text parts         → content
//	thought parts      → reasoning_content
//	functionCall parts → tool_calls[{index,id,type,function{name,arguments}}],
//	                     whole, numbered per candidate
//	finishReason       → a finish chunk for that choice
//	promptFeedback.blockReason without candidates
//	                   → a content_filter finish chunk for every choice
//	every choice done  → a usage chunk (choices []) if Gemini sent usage;
//	                     the stream is done
type streamTranslator struct {
	id      string
	created int64
	model   string

	begun    bool // the first event was read
	cands    []candState
	finished int
	usage    *llmproxy.Usage
}

// candState is what the translator remembers of one candidate.
type candState struct {
	started bool // a chunk went out, so the role was sent
	done    bool // its finish chunk went out
	called  bool // it called a function
	calls   int  // its function calls so far
}

// newStreamTranslator returns the state machine of one stream of n
// choices, whose chunks carry id and model until the first event names
// others, and created.
func newStreamTranslator(id, model string, n int, created int64) *streamTranslator {
	return &streamTranslator{id: id, model: model, created: created, cands: make([]candState, max(min(n, maxCandidates), 1))}
}

// event translates one event's data into chunks. done reports that every
// candidate finished. err is an *eventError for Gemini's error object, or
// another error for an event that does not decode or breaks the protocol.
func (t *streamTranslator) event(data []byte) (chunks []*llmproxy.ChatChunk, done bool, err error) {
	if len(data) == 0 || data[0] != '{' {
		return nil, false, errNotObject
	}
	var r generateResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, false, err
	}
	if r.Error != nil {
		return nil, false, &eventError{err: r.Error}
	}
	if !t.begun {
		t.begun = true
		if r.ResponseID != "" {
			t.id = r.ResponseID
		}
		t.model = orModel(r.ModelVersion, t.model)
	}
	if r.UsageMetadata != nil {
		t.usage = toUsage(r.UsageMetadata)
	}
	if len(r.Candidates) == 0 && r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
		for i := range t.cands {
			if !t.cands[i].done {
				chunks = append(chunks, t.finish(i, "content_filter", r.PromptFeedback.BlockReason))
			}
		}
		return t.end(chunks)
	}
	for ci := range r.Candidates {
		c := &r.Candidates[ci]
		if c.Index < 0 || c.Index >= len(t.cands) {
			return chunks, false, fmt.Errorf("candidate %d of a stream of %d choices", c.Index, len(t.cands))
		}
		st := &t.cands[c.Index]
		if st.done {
			continue
		}
		d, err := candidateDelta(c, st.calls)
		if err != nil {
			return chunks, false, err
		}
		if d.text != "" || d.thought != "" || len(d.calls) > 0 {
			var delta llmproxy.Delta
			if d.text != "" {
				delta.Content = &d.text
			}
			if d.thought != "" {
				setExtra(&delta.Extra, "reasoning_content", d.thought)
			}
			for i := range d.calls {
				idx := st.calls + i
				d.calls[i].Index = &idx
			}
			delta.ToolCalls = d.calls
			st.calls += len(d.calls)
			st.called = st.called || len(d.calls) > 0
			chunks = append(chunks, t.chunk(c.Index, delta))
		}
		if c.FinishReason != "" {
			chunks = append(chunks, t.finish(c.Index, finishReason(c.FinishReason, st.called), c.FinishReason))
		}
	}
	if t.finished == len(t.cands) {
		return t.end(chunks)
	}
	return chunks, false, nil
}

// end appends the usage chunk, if Gemini sent usage, and reports the end.
func (t *streamTranslator) end(chunks []*llmproxy.ChatChunk) ([]*llmproxy.ChatChunk, bool, error) {
	if t.usage != nil {
		chunks = append(chunks, &llmproxy.ChatChunk{ID: t.id, Object: "chat.completion.chunk",
			Created: t.created, Model: t.model, Choices: []llmproxy.ChunkChoice{}, Usage: t.usage})
	}
	return chunks, true, nil
}

// finish returns the finish chunk of choice i and marks it done.
func (t *streamTranslator) finish(i int, reason, native string) *llmproxy.ChatChunk {
	c := t.chunk(i, llmproxy.Delta{})
	ch := &c.Choices[0]
	ch.FinishReason = &reason
	setExtra(&ch.Extra, "native_finish_reason", native)
	t.cands[i].done = true
	t.finished++
	return c
}

// chunk returns the chunk of one delta of choice i, adding the role to the
// choice's first.
func (t *streamTranslator) chunk(i int, d llmproxy.Delta) *llmproxy.ChatChunk {
	if !t.cands[i].started {
		d.Role = "assistant"
		t.cands[i].started = true
	}
	return &llmproxy.ChatChunk{ID: t.id, Object: "chat.completion.chunk", Created: t.created, Model: t.model,
		Choices: []llmproxy.ChunkChoice{{Index: i, Delta: d}}}
}
