package bedrock

import (
	"context"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/schemas"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"

	"github.com/llmproxy/llmproxy"
)

// ChatCompletionStream opens a streamed chat completion with
// ConverseStream: the request is translated as for ChatCompletion, and the
// events the SDK decodes from Bedrock's event stream are translated to
// OpenAI chunks by a per-request state machine (see streamTranslator).
// Every chunk carries one id ("chatcmpl-" and the AWS request id), the
// requested model and one creation time; the stream ends with a finish
// chunk and a usage chunk (choices: []), then io.EOF. A stream cut before
// messageStop, or an exception event, ends with an *llmproxy.Error.
func (p *Provider) ChatCompletionStream(ctx context.Context, req *llmproxy.ChatRequest) (llmproxy.ChunkReader[*llmproxy.ChatChunk], error) {
	cr, terr := translateChat(req, p.maxTokens)
	if terr != nil {
		return nil, p.withProvider(terr)
	}
	out, err := p.client.ConverseStream(ctx, cr.converseStreamInput(), ownCodec)
	if err != nil {
		return nil, p.sdkError(ctx, err)
	}
	es := out.GetStream()
	return &chatStream{
		ctx:    ctx,
		events: es.Events(),
		errf:   es.Err,
		closef: es.Close,
		t:      newStreamTranslator(p, req.Model, requestID(out.ResultMetadata)),
	}, nil
}

// ownCodec gives one ConverseStream call a protocol of its own. The SDK's
// restJson1 protocol holds one event-stream decoder and payload buffer per
// client, which the reader goroutines of concurrent streams would share:
// a data race (smithy-go v1.28.9) that can mix one stream's payload into
// another's. A fresh protocol per stream costs an allocation.
func ownCodec(o *bedrockruntime.Options) {
	o.Protocol = restjson1.New(schemas.AmazonBedrockFrontendService)
}

// chatStream reads the SDK's decoded events and hands out OpenAI chunks.
// It is used by one goroutine at a time, as llmproxy.ChunkReader requires.
type chatStream struct {
	ctx     context.Context
	events  <-chan types.ConverseStreamOutput
	errf    func() error // the error that ended the event stream, if any
	closef  func() error
	t       *streamTranslator
	pending []*llmproxy.ChatChunk
	err     error // the error that ended the stream, io.EOF at a clean end
}

// Next returns the next chunk, io.EOF after the chunks of the last event,
// or the *llmproxy.Error that ended the stream (an exception event, a cut).
// After an error every call returns it again.
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
	if s.t.done {
		return io.EOF
	}
	select {
	case ev, ok := <-s.events:
		if !ok {
			if err := s.errf(); err != nil {
				return s.t.p.sdkError(s.ctx, err)
			}
			if err := s.ctx.Err(); err != nil {
				return llmproxy.TransportError(s.ctx, s.t.p.name, err)
			}
			var err error
			s.pending, err = s.t.end(s.pending)
			return err
		}
		var err error
		s.pending, err = s.t.event(ev, s.pending)
		return err
	case <-s.ctx.Done():
		return llmproxy.TransportError(s.ctx, s.t.p.name, context.Cause(s.ctx))
	}
}

// Close ends the upstream request and releases its connection. It may be
// called more than once. It returns nil: a failure of the stream is
// reported by Next.
func (s *chatStream) Close() error {
	_ = s.closef()
	return nil
}

// streamTranslator is the state machine that turns one answer's events into
// OpenAI chunks. It is not safe for concurrent use.
type streamTranslator struct {
	p       *Provider // for the errors
	id      string
	model   string
	created int64

	started bool // messageStart was seen
	stopped bool // messageStop was seen (and the finish chunk sent)
	done    bool // the last chunk was queued: read no further

	tools map[int32]int // the OpenAI tool index of each toolUse block, by Converse index
	usage *types.TokenUsage
}

// newStreamTranslator returns a translator whose chunks name reqModel and
// carry an id made of the AWS request id.
func newStreamTranslator(p *Provider, reqModel, requestID string) *streamTranslator {
	return &streamTranslator{p: p, id: completionID(requestID), model: reqModel, created: time.Now().Unix()}
}

// event translates one event, appending its chunks to out. Content before
// messageStart, a second messageStart or messageStop, is an invalid
// stream; unknown events produce nothing.
func (t *streamTranslator) event(ev types.ConverseStreamOutput, out []*llmproxy.ChatChunk) ([]*llmproxy.ChatChunk, error) {
	if _, ok := ev.(*types.ConverseStreamOutputMemberMessageStart); ok {
		if t.started {
			return out, t.fail("the upstream sent a second messageStart event")
		}
		t.started = true
		empty := ""
		return append(out, t.chunk(llmproxy.Delta{Role: "assistant", Content: &empty}, nil)), nil
	}
	switch ev.(type) {
	case *types.ConverseStreamOutputMemberContentBlockStart, *types.ConverseStreamOutputMemberContentBlockDelta,
		*types.ConverseStreamOutputMemberContentBlockStop, *types.ConverseStreamOutputMemberMessageStop:
		if !t.started {
			return out, t.fail("the upstream sent content before messageStart")
		}
		if t.stopped {
			return out, t.fail("the upstream sent content after messageStop")
		}
	}
	switch v := ev.(type) {
	case *types.ConverseStreamOutputMemberContentBlockStart:
		return t.blockStart(v.Value, out), nil
	case *types.ConverseStreamOutputMemberContentBlockDelta:
		return t.blockDelta(v.Value, out), nil
	case *types.ConverseStreamOutputMemberMessageStop:
		t.stopped = true
		fr := finishReason(v.Value.StopReason)
		out = append(out, t.chunk(llmproxy.Delta{}, &fr))
		if t.usage != nil {
			out = t.finish(out)
		}
	case *types.ConverseStreamOutputMemberMetadata:
		// A metadata event without usage (metrics only) keeps the usage
		// an earlier one gave.
		if v.Value.Usage != nil {
			t.usage = v.Value.Usage
		}
		if t.stopped && t.usage != nil {
			out = t.finish(out)
		}
	}
	return out, nil
}

// blockStart announces a tool call (index, id, name, no arguments yet) for
// a toolUse block, under the next OpenAI tool index.
func (t *streamTranslator) blockStart(ev types.ContentBlockStartEvent, out []*llmproxy.ChatChunk) []*llmproxy.ChatChunk {
	tu, ok := ev.Start.(*types.ContentBlockStartMemberToolUse)
	if !ok || ev.ContentBlockIndex == nil {
		return out
	}
	if t.tools == nil {
		t.tools = map[int32]int{}
	}
	if _, dup := t.tools[*ev.ContentBlockIndex]; dup {
		return out
	}
	index := len(t.tools)
	t.tools[*ev.ContentBlockIndex] = index
	return append(out, t.toolCall(llmproxy.ToolCall{ID: deref(tu.Value.ToolUseId), Type: "function",
		Function: llmproxy.FunctionCall{Name: deref(tu.Value.Name)}}, index))
}

// blockDelta translates the increment of a content block: text, the
// arguments of an announced tool call, or reasoning text. Other deltas
// (reasoning signatures, citations, images) produce nothing.
func (t *streamTranslator) blockDelta(ev types.ContentBlockDeltaEvent, out []*llmproxy.ChatChunk) []*llmproxy.ChatChunk {
	switch d := ev.Delta.(type) {
	case *types.ContentBlockDeltaMemberText:
		if d.Value != "" {
			s := d.Value
			out = append(out, t.chunk(llmproxy.Delta{Content: &s}, nil))
		}
	case *types.ContentBlockDeltaMemberToolUse:
		if ev.ContentBlockIndex == nil || d.Value.Input == nil || *d.Value.Input == "" {
			return out
		}
		if index, ok := t.tools[*ev.ContentBlockIndex]; ok {
			out = append(out, t.toolCall(llmproxy.ToolCall{Function: llmproxy.FunctionCall{Arguments: *d.Value.Input}}, index))
		}
	case *types.ContentBlockDeltaMemberReasoningContent:
		if r, ok := d.Value.(*types.ReasoningContentBlockDeltaMemberText); ok && r.Value != "" {
			out = append(out, t.chunk(llmproxy.Delta{Extra: llmproxy.Extra{"reasoning_content": jsonString(r.Value)}}, nil))
		}
	}
	return out
}

// finish queues the usage chunk (choices: []) and ends the stream.
func (t *streamTranslator) finish(out []*llmproxy.ChatChunk) []*llmproxy.ChatChunk {
	t.done = true
	u := openAIUsage(t.usage)
	if u == nil {
		return out
	}
	c := t.chunk(llmproxy.Delta{}, nil)
	c.Choices, c.Usage = []llmproxy.ChunkChoice{}, u
	return append(out, c)
}

// end handles the end of the event stream: after messageStop it ends the
// stream cleanly (with the usage chunk if a metadata event gave usage);
// before it, the stream was cut.
func (t *streamTranslator) end(out []*llmproxy.ChatChunk) ([]*llmproxy.ChatChunk, error) {
	if !t.stopped {
		return out, t.fail("the upstream stream ended before messageStop")
	}
	if !t.done {
		out = t.finish(out)
	}
	return out, nil
}

// chunk returns a chunk of the stream with one choice.
func (t *streamTranslator) chunk(d llmproxy.Delta, finish *string) *llmproxy.ChatChunk {
	return &llmproxy.ChatChunk{ID: t.id, Object: "chat.completion.chunk", Created: t.created, Model: t.model,
		Choices: []llmproxy.ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}}}
}

// toolCall returns a tool call delta under the OpenAI tool index.
func (t *streamTranslator) toolCall(tc llmproxy.ToolCall, index int) *llmproxy.ChatChunk {
	tc.Index = &index
	return t.chunk(llmproxy.Delta{ToolCalls: llmproxy.ToolCalls{tc}}, nil)
}

// fail returns the KindUnavailable error of a broken stream, so that a
// failure before the first content fails over.
func (t *streamTranslator) fail(msg string) *llmproxy.Error {
	return &llmproxy.Error{Kind: llmproxy.KindUnavailable, Provider: t.p.name, Message: msg}
}
