package responses

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/llmproxy/llmproxy"
)

// Stream is a streamed response: Responses events, each a RawChunk with
// its event name. Its embedded llmproxy.Stream is read as any stream of
// the proxy (Next, Current, Err, Close); a stream cut after its commit
// ends without response.completed, and FailedEvent gives the event that
// tells the client.
type Stream struct {
	*llmproxy.Stream[*llmproxy.RawChunk]
	c  *call
	tr *tracker
}

// DroppedTools names the tools of the request that the provider could not
// run and the translation left out (see Answer.DroppedTools).
func (s *Stream) DroppedTools() []string { return s.c.dropped }

// FailedEvent returns the event that ends the stream when it failed after
// its commit with e: response.failed, with the response as
// response.created gave it, status "failed" and the error, numbered after
// the last event read; or an error event when no response.created came.
func (s *Stream) FailedEvent(e *llmproxy.Error) (name string, data []byte) {
	return s.tr.failed(e)
}

// FailedEvent is Stream.FailedEvent for a stream of which nothing is known:
// an error event numbered 0.
func FailedEvent(e *llmproxy.Error) (name string, data []byte) {
	return (&tracker{seq: -1}).failed(e)
}

// CreateStream opens a streamed response (see Front and Create). The
// caller must Close the stream.
func (f *Front) CreateStream(ctx context.Context, req *Request) (*Stream, error) {
	c, err := f.newCall(ctx, req)
	if err != nil {
		return nil, err
	}
	tr := &tracker{c: c, ctx: context.WithoutCancel(ctx)}
	st, err := f.p.RouteStreamRaw(ctx, Endpoint, req.Model, func(ctx context.Context, t llmproxy.Target) (llmproxy.ChunkReader[*llmproxy.RawChunk], error) {
		tr.reset(t.Name)
		if n := nativeOf(t); n != nil {
			nr, err := c.nativeRequest(t)
			if err != nil {
				return nil, err
			}
			c.native, c.dropped = true, nil
			r, err := n.ResponsesStreamRaw(ctx, nr)
			if err != nil {
				return nil, err
			}
			return tr.wrap(r), nil
		}
		tr2, err := c.translate(t)
		if err != nil {
			return nil, err
		}
		cs, err := llmproxy.OpenChatStream(ctx, t.Provider, streamed(tr2.chat))
		if err != nil {
			return nil, err
		}
		r := newResponse(c.wire, c.id, t.Model, c.start)
		return tr.wrap(newTranslatedStream(cs, newStreamState(r, f.now))), nil
	})
	if err != nil {
		return nil, err
	}
	return &Stream{Stream: st, c: c, tr: tr}, nil
}

// streamed returns a copy of a chat request that asks for a stream with
// its usage.
func streamed(r *llmproxy.ChatRequest) *llmproxy.ChatRequest {
	cp := *r
	cp.Stream = true
	cp.StreamOptions = &llmproxy.StreamOptions{IncludeUsage: true}
	return &cp
}

// tracker watches the events of a stream's attempts: the last sequence
// number and the response of response.created, for FailedEvent, and the
// final response, which it stores.
type tracker struct {
	c        *call
	ctx      context.Context
	provider string
	seq      int64 // the last sequence_number read; -1 before any
	created  []byte
}

func (tr *tracker) reset(provider string) {
	tr.provider, tr.seq, tr.created = provider, -1, nil
}

// trackedReader passes an attempt's events on, showing each to the
// tracker.
type trackedReader struct {
	llmproxy.ChunkReader[*llmproxy.RawChunk]
	tr *tracker
}

func (r trackedReader) Next() (*llmproxy.RawChunk, error) {
	c, err := r.ChunkReader.Next()
	if err == nil {
		r.tr.see(c)
	}
	return c, err
}

// notifyingTrackedReader is a trackedReader over a reader that tells when
// it waits for the upstream.
type notifyingTrackedReader struct{ trackedReader }

func (r notifyingTrackedReader) NotifyWait(f func()) {
	r.ChunkReader.(llmproxy.WaitNotifier).NotifyWait(f)
}

func (tr *tracker) wrap(r llmproxy.ChunkReader[*llmproxy.RawChunk]) llmproxy.ChunkReader[*llmproxy.RawChunk] {
	t := trackedReader{ChunkReader: r, tr: tr}
	if _, ok := r.(llmproxy.WaitNotifier); ok {
		return notifyingTrackedReader{t}
	}
	return t
}

// see reads what the tracker needs of an event.
func (tr *tracker) see(c *llmproxy.RawChunk) {
	if n := gjson.GetBytes(c.Data, "sequence_number"); n.Type == gjson.Number {
		tr.seq = max(tr.seq, n.Int())
	}
	switch c.Event {
	case "response.created":
		tr.created = bytes.Clone([]byte(gjson.GetBytes(c.Data, "response").Raw))
	case "response.completed", "response.incomplete":
		if r := gjson.GetBytes(c.Data, "response"); r.IsObject() {
			tr.c.keep(tr.ctx, []byte(r.Raw), &llmproxy.ProxyInfo{Provider: tr.provider})
		}
	}
}

// failed builds the event that ends a failed stream (see
// Stream.FailedEvent).
func (tr *tracker) failed(e *llmproxy.Error) (string, []byte) {
	code := "server_error"
	if e.Kind == llmproxy.KindRateLimited {
		code = "rate_limit_exceeded"
	}
	msg := e.Message
	if msg == "" {
		msg = e.Error()
	}
	seq := tr.seq + 1
	if len(tr.created) > 0 {
		b, err := sjson.SetBytes(tr.created, "status", "failed")
		if err == nil {
			b, err = sjson.SetBytes(b, "error", responseError{Code: code, Message: msg})
		}
		if err == nil {
			ev, err := json.Marshal(struct {
				Type     string          `json:"type"`
				Seq      int64           `json:"sequence_number"`
				Response json.RawMessage `json:"response"`
			}{"response.failed", seq, b})
			if err == nil {
				return "response.failed", ev
			}
		}
	}
	ev, _ := json.Marshal(struct {
		Type    string  `json:"type"`
		Seq     int64   `json:"sequence_number"`
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Param   *string `json:"param"`
	}{"error", seq, code, msg, nil})
	return "error", ev
}
