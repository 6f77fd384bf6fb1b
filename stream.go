package llmproxy

import (
	"context"
	"errors"
	"io"
	"iter"
	"sync"
	"sync/atomic"
	"time"
)

// ChatStreamer is a Provider that streams chat completions. Providers
// without it still serve streaming requests: the proxy turns their whole
// answer into a one-chunk stream.
type ChatStreamer interface {
	ChatCompletionStream(ctx context.Context, req *ChatRequest) (ChunkReader[*ChatChunk], error)
}

// CompletionStreamer is a Provider that streams legacy text completions.
type CompletionStreamer interface {
	CompletionStream(ctx context.Context, req *CompletionRequest) (ChunkReader[*CompletionResponse], error)
}

// ChunkReader is a provider's open stream of chunks.
type ChunkReader[T any] interface {
	// Next returns the next chunk. It returns io.EOF at the clean end of
	// the stream (the upstream said it was done) and an error, preferably
	// an *Error, when the stream failed or was cut short.
	Next() (T, error)
	// Close releases the stream's connection. It is called once, also
	// after Next returned an error.
	Close() error
}

// WaitNotifier is a ChunkReader that can say when it is about to wait for
// its upstream: NotifyWait makes it call f, on the goroutine calling Next,
// before each read that may block (none while chunks that already arrived
// are buffered). A server uses it to flush what it wrote only then, so
// that chunks arriving together reach the client in one write, and none
// is held back while the next is awaited (see Stream.OnWait).
type WaitNotifier interface {
	NotifyWait(f func())
}

// Chunk is a streamed chunk type: *ChatChunk or *CompletionResponse.
type Chunk interface {
	*ChatChunk | *CompletionResponse | *RawChunk
	HasContent() bool
	Raw() []byte
	Finished() bool
	chunkUsage() *Usage
	chunkModel() string
}

// ChatStream is a streamed chat completion.
type ChatStream = Stream[*ChatChunk]

// CompletionStream is a streamed text completion.
type CompletionStream = Stream[*CompletionResponse]

// Timeout causes, told apart from the caller's cancellation.
var (
	errFirstTokenTimeout = errors.New("llmproxy: no content within the first-token timeout")
	errIdleTimeout       = errors.New("llmproxy: no chunk within the stream idle timeout")
)

// maxPrimeChunks bounds the chunks buffered before the first content chunk
// (role announcements, keep-alive chunks), so that an upstream that never
// sends content cannot make the proxy buffer without limit.
const maxPrimeChunks = 64

// Stream is an open stream of chunks. Iterate with Next and Current (or
// All), then check Err. A Stream must be closed; Close is idempotent. A
// Stream is not safe for concurrent use: to abandon a stream from another
// goroutine, cancel the context it was opened with.
//
// The stream is committed: the proxy opened it and received its first
// content chunk before handing it over, so every failure up to that point
// was retried or failed over invisibly. A failure after the commit ends the
// iteration and is reported by Err as an *Error; a stream that ends with a
// nil Err ended cleanly.
type Stream[T Chunk] struct {
	r       ChunkReader[T]
	pending []T
	cur     T
	err     error
	info    *ProxyInfo
	usage   *Usage
	// model is the model the first chunk names (the one that answered).
	model     string
	modelSeen bool

	// dropUsageOnly skips usage-only chunks the client did not ask for.
	dropUsageOnly bool

	ctx    context.Context // the attempt's context
	cancel context.CancelCauseFunc
	stop   context.CancelFunc // ends the request timeout
	watch  chunkWatch
	done   bool
	// prime holds the first chunks (up to the commit), so that pending
	// needs no allocation of its own in the usual stream.
	prime [2]T

	closeOnce sync.Once
	// attempt is the attempt the stream ends when it finishes (see
	// endAtFinish); onDone is then called with the stream's error.
	attempt *attempt
	onDone  func(err error)
}

// Next advances to the next chunk and reports whether there is one.
func (s *Stream[T]) Next() bool {
	for {
		if s.done {
			return false
		}
		var c T
		if len(s.pending) > 0 {
			c = s.pending[0]
			var zero T
			s.pending[0], s.pending = zero, s.pending[1:] // not kept for the stream's life
		} else {
			var err error
			s.watch.waiting()
			c, err = s.r.Next()
			s.watch.received()
			if err != nil {
				if err != io.EOF {
					s.err = s.streamError(err)
				}
				s.finish()
				return false
			}
		}
		if u := c.chunkUsage(); u != nil {
			s.usage = u
		}
		if !s.modelSeen {
			s.model, s.modelSeen = c.chunkModel(), true
		}
		if s.dropUsageOnly && usageOnly(c) {
			continue
		}
		s.cur = c
		return true
	}
}

// OnWait asks the stream to call f, on the goroutine calling Next, each
// time Next is about to wait for the upstream, and reports whether it
// will: it does when the provider's reader is a WaitNotifier. A server
// that writes chunks as Next returns them can then flush its writes in f
// only, rather than after every chunk, without delaying any chunk. Call it
// before the first Next.
func (s *Stream[T]) OnWait(f func()) bool {
	if wn, ok := s.r.(WaitNotifier); ok {
		wn.NotifyWait(f)
		return true
	}
	_, exhausted := s.r.(*sliceReader[T])
	return exhausted // it never waits
}

// Current returns the chunk Next advanced to. A *RawChunk is valid only
// until the next call of Next (see RawChatStreamer).
func (s *Stream[T]) Current() T { return s.cur }

// Err returns the error that ended the stream, or nil after a clean end.
func (s *Stream[T]) Err() error { return s.err }

// ProxyInfo tells which provider serves the stream and after how many
// attempts.
func (s *Stream[T]) ProxyInfo() *ProxyInfo { return s.info }

// Usage returns the token usage the upstream reported, once the stream has
// ended (nil if it reported none). The proxy asks OpenAI-format upstreams
// for usage whether or not the client did; chunks that carry only usage are
// passed to the caller only if its request asked for them.
func (s *Stream[T]) Usage() *Usage { return s.usage }

// All returns an iterator over the chunks. It yields each chunk with a nil
// error, and the stream's error, if any, as the last pair. Breaking out of
// the loop does not close the stream.
func (s *Stream[T]) All() iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for s.Next() {
			if !yield(s.Current(), nil) {
				return
			}
		}
		if s.err != nil {
			var zero T
			yield(zero, s.err)
		}
	}
}

// Close ends the stream and releases its upstream connection. Closing a
// stream before its end cancels the upstream request.
func (s *Stream[T]) Close() error {
	if !s.done {
		s.cancel(context.Canceled)
	}
	s.finish()
	return nil
}

// finish releases everything once: the timer, the upstream connection and
// the contexts, and reports the outcome.
func (s *Stream[T]) finish() {
	s.closeOnce.Do(func() {
		s.done = true
		s.watch.stop()
		_ = s.r.Close()
		s.cancel(nil)
		s.stop()
		if s.attempt != nil {
			s.attempt.end(s.err)
		}
		if s.onDone != nil {
			s.onDone(s.err)
		}
	})
}

// streamError classifies a failure after the commit.
func (s *Stream[T]) streamError(err error) error {
	name := ""
	if s.info != nil {
		name = s.info.Provider
	}
	switch context.Cause(s.ctx) {
	case errIdleTimeout:
		return &Error{Kind: KindTimeout, Provider: name, Message: "the upstream stream stalled (no chunk within the stream idle timeout)", Err: err}
	case context.Canceled:
		return &Error{Kind: KindCanceled, Provider: name, Message: "the stream was canceled", Err: err}
	}
	if errors.Is(s.ctx.Err(), context.DeadlineExceeded) {
		return &Error{Kind: KindTimeout, Provider: name, Message: "the stream did not complete within the request timeout", Err: err}
	}
	return classify(s.ctx, name, err)
}

// Keep returns c in a form that stays valid after the stream's next Next:
// a copy of a *RawChunk, which may point into the reader's buffer (see
// RawChatStreamer), and any other chunk as it is.
func Keep[T Chunk](c T) T {
	if rc, ok := any(c).(*RawChunk); ok {
		return any(rc.Clone()).(T)
	}
	return c
}

func usageOnly[T Chunk](c T) bool {
	switch c := any(c).(type) {
	case *ChatChunk:
		return len(c.Choices) == 0 && c.Usage != nil
	case *CompletionResponse:
		return len(c.Choices) == 0 && c.Usage != nil
	case *RawChunk:
		return c.UsageOnly
	}
	return false
}

// openStream opens a stream on one provider and reads up to its first
// content chunk (the commit point), with the provider's first-token timeout.
// Any failure before the commit is returned, classified, for the router to
// retry or fail over.
func openStream[T Chunk](ctx context.Context, u *upstream, open func(context.Context, *upstream) (ChunkReader[T], error)) (*Stream[T], error) {
	actx, cancel := context.WithCancelCause(ctx)
	s := &Stream[T]{ctx: actx, cancel: cancel}
	s.pending = s.prime[:0]
	s.watch.start(u.cfg.FirstTokenTimeout, u.cfg.StreamIdleTimeout, cancel)
	r, err := open(actx, u)
	if err != nil {
		return nil, s.failOpen(u, err)
	}
	s.r = r
	eof := false
	for len(s.pending) < maxPrimeChunks {
		if n := len(s.pending); n > 0 {
			// Kept while later chunks are read: the next Next may
			// reuse the last one's memory. The chunk that ends the
			// priming is handed out before the reader is read again,
			// and needs no copy.
			s.pending[n-1] = Keep(s.pending[n-1])
		}
		c, err := r.Next()
		if err == io.EOF {
			eof = true
			break
		}
		if err != nil {
			return nil, s.failOpen(u, err)
		}
		s.pending = append(s.pending, c)
		if c.HasContent() {
			break
		}
	}
	if !s.watch.commit() {
		// The first-token timeout fired as the content arrived: the
		// attempt's context is canceled, so the stream could not go on.
		// It is a timeout like any other, and nothing was sent yet.
		return nil, s.failOpen(u, context.Cause(actx))
	}
	if eof {
		// The whole stream arrived before any content: hand out what came
		// and end cleanly. The provider's reader is done with and closed
		// here, since the stream will not reach it any more (every
		// chunk was kept before the read that found the end).
		_ = r.Close()
		s.r = &sliceReader[T]{}
	}
	return s, nil
}

// failOpen ends a stream attempt that failed before its commit with err:
// it stops the watch, closes the reader if one was opened, cancels the
// attempt's context and returns the classified error.
func (s *Stream[T]) failOpen(u *upstream, err error) error {
	s.watch.stop()
	if s.r != nil {
		_ = s.r.Close()
	}
	e := classify(s.ctx, u.cfg.Name, err)
	if context.Cause(s.ctx) == errFirstTokenTimeout {
		e = &Error{Kind: KindTimeout, Provider: u.cfg.Name, Message: "the upstream sent no content within the first-token timeout", Err: err}
	}
	s.cancel(nil)
	return e
}

// chunkWatch is the one timer of a stream attempt. Until the commit it
// bounds the wait for the first content: it cancels the attempt's context
// with errFirstTokenTimeout when the first-token timeout passes. From the
// commit on it calls the same cancel with errIdleTimeout when a wait for
// the next chunk lasts longer than the idle timeout. A wait costs two
// atomic stores and a clock reading; the timer is not reset per chunk but
// re-armed by itself, once per idle period at most, for the time the
// current wait has left. Time the consumer spends between waits (writing
// to a slow client) does not count. Its methods are safe for concurrent
// use with the timer. One timer serves both timeouts (BenchmarkRouterRaw:
// a timer and two allocations fewer per stream than one timer each).
type chunkWatch struct {
	idle    time.Duration
	origin  time.Time    // the origin of since's readings
	since   atomic.Int64 // when the current wait began (ns after origin, +1); 0: not waiting
	idling  atomic.Bool  // committed: the timer watches the idle timeout
	stopped atomic.Bool
	timer   *time.Timer
	cancel  context.CancelCauseFunc
}

// start arms the watch for the first-token timeout.
func (w *chunkWatch) start(firstToken, idle time.Duration, cancel context.CancelCauseFunc) {
	w.idle, w.cancel, w.origin = idle, cancel, time.Now()
	w.timer = time.AfterFunc(firstToken, w.check)
}

// commit turns the watch to the idle timeout, once the first content has
// arrived. It reports false if the first-token timeout fired first.
func (w *chunkWatch) commit() bool {
	if !w.timer.Stop() {
		return false
	}
	w.idling.Store(true)
	w.timer.Reset(w.idle)
	return true
}

// waiting marks the start of a wait for a chunk.
func (w *chunkWatch) waiting() { w.since.Store(int64(time.Since(w.origin)) + 1) }

// received marks the end of a wait.
func (w *chunkWatch) received() { w.since.Store(0) }

// check runs when the timer fires. Before the commit, the first-token
// timeout has passed. After it, check cancels if the current wait is over
// the idle timeout, and re-arms the timer for what the wait has left
// otherwise (a whole idle timeout when no wait is under way).
func (w *chunkWatch) check() {
	if w.stopped.Load() {
		return
	}
	if !w.idling.Load() {
		w.cancel(errFirstTokenTimeout)
		return
	}
	next := w.idle
	if since := w.since.Load(); since != 0 {
		waited := time.Since(w.origin) - time.Duration(since-1)
		if waited >= w.idle {
			w.cancel(errIdleTimeout)
			return
		}
		next = w.idle - waited
	}
	w.timer.Reset(next)
}

// stop ends the watch.
func (w *chunkWatch) stop() {
	w.stopped.Store(true)
	w.timer.Stop()
}

// sliceReader is an exhausted ChunkReader.
type sliceReader[T any] struct{}

func (*sliceReader[T]) Next() (T, error) {
	var zero T
	return zero, io.EOF
}

func (*sliceReader[T]) Close() error { return nil }

// oneChunk is a ChunkReader of a single chunk: the whole answer of a
// provider that cannot stream.
type oneChunk[T any] struct {
	c    T
	sent bool
}

func (o *oneChunk[T]) Next() (T, error) {
	if o.sent {
		var zero T
		return zero, io.EOF
	}
	o.sent = true
	return o.c, nil
}

func (o *oneChunk[T]) Close() error { return nil }

// responseChunk turns a whole chat answer into the equivalent single chunk.
func responseChunk(r *ChatResponse) *ChatChunk {
	c := &ChatChunk{ID: r.ID, Object: "chat.completion.chunk", Created: r.Created, Model: r.Model,
		SystemFingerprint: r.SystemFingerprint, Usage: r.Usage, Choices: make([]ChunkChoice, len(r.Choices))}
	for i, ch := range r.Choices {
		text := ch.Message.Content.String()
		fr := ch.FinishReason
		c.Choices[i] = ChunkChoice{Index: ch.Index, FinishReason: &fr, Delta: Delta{
			Role: "assistant", Content: &text, ToolCalls: ch.Message.ToolCalls, Refusal: ch.Message.Refusal,
		}}
		for j := range c.Choices[i].Delta.ToolCalls {
			idx := j
			c.Choices[i].Delta.ToolCalls[j].Index = &idx
		}
	}
	return c
}

// ChatCompletionStream opens a streamed chat completion on the first
// provider that serves req.Model, retrying and failing over until the first
// content chunk arrives (see Stream). The returned error covers everything
// up to that point. The caller must Close the stream.
func (p *Proxy) ChatCompletionStream(ctx context.Context, req *ChatRequest) (*ChatStream, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	dropUsage := req.StreamOptions == nil || !req.StreamOptions.IncludeUsage
	return streamRoute(ctx, p, endpointChat, req.Model, nil, dropUsage,
		func(ctx context.Context, u *upstream) (ChunkReader[*ChatChunk], error) {
			return openChatChunks(ctx, u.p, chatFor(ctx, req))
		})
}

// openChatChunks opens a chat stream on p: its own stream when it can
// stream, else its whole answer as one chunk.
func openChatChunks(ctx context.Context, p Provider, req *ChatRequest) (ChunkReader[*ChatChunk], error) {
	if s, ok := p.(ChatStreamer); ok {
		return s.ChatCompletionStream(ctx, req)
	}
	resp, err := p.ChatCompletion(ctx, req)
	if err != nil {
		return nil, err
	}
	return &oneChunk[*ChatChunk]{c: responseChunk(resp)}, nil
}

// CompletionStream opens a streamed text completion (see
// ChatCompletionStream).
func (p *Proxy) CompletionStream(ctx context.Context, req *CompletionRequest) (*CompletionStream, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	dropUsage := req.StreamOptions == nil || !req.StreamOptions.IncludeUsage
	return streamRoute(ctx, p, endpointCompletions, req.Model,
		func(u *upstream) bool { _, ok := u.p.(Completer); return ok }, dropUsage,
		func(ctx context.Context, u *upstream) (ChunkReader[*CompletionResponse], error) {
			sreq := completionFor(ctx, req)
			if s, ok := u.p.(CompletionStreamer); ok {
				return s.CompletionStream(ctx, sreq)
			}
			resp, err := u.p.(Completer).Completion(ctx, sreq)
			if err != nil {
				return nil, err
			}
			return &oneChunk[*CompletionResponse]{c: resp}, nil
		})
}

// streamRoute routes a stream: each attempt opens the stream and reads to
// the commit point; the request timeout then bounds the rest of the stream.
func streamRoute[T Chunk](ctx context.Context, p *Proxy, endpoint, model string, accept func(*upstream) bool,
	dropUsage bool, open func(context.Context, *upstream) (ChunkReader[T], error),
) (*Stream[T], error) {
	st := p.state.Load()
	start := p.now()
	adm, err := p.admit(ctx, st, model)
	if err != nil {
		p.rec.request(endpoint, "", model, statusOf(err), err, 0, nil)
		return nil, err
	}
	p.rec.inflight.Inc()
	ctx, stop := context.WithTimeout(ctx, st.cfg.RequestTimeout)
	s, info, err := route(ctx, p, st, endpoint, model, accept,
		func(ctx context.Context, u *upstream) (*Stream[T], error) { return openStream(ctx, u, open) })
	if err != nil {
		stop()
		p.rec.inflight.Dec()
		p.rec.request(endpoint, AsError(err).Provider, model, statusOf(err), err, p.now().Sub(start), nil)
		return nil, err
	}
	s.info, s.stop, s.dropUsageOnly = info, stop, dropUsage
	p.rec.firstToken(info.Provider, p.now().Sub(start))
	p.rec.openStreams.Inc()
	s.onDone = func(err error) {
		p.rec.openStreams.Dec()
		p.rec.inflight.Dec()
		// The stream's 200 is sent: a failure after it is in the stream.
		p.rec.request(endpoint, info.Provider, model, 200, err, p.now().Sub(start), s.usage)
		p.settle(ctx, st, adm, info.Provider, s.model, model, s.usage, info)
	}
	return s, nil
}
