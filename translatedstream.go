package llmproxy

import (
	"bytes"
	"context"
	"io"

	"github.com/llmproxy/llmproxy/sse"
)

// EventTranslator turns one event of an upstream's event stream (its name,
// possibly empty, and its data, trimmed and not empty) into the chat chunks
// it stands for. done reports the stream's clean end; an error ends the
// stream and is handed out as it is, so the translator returns its
// provider's own errors.
type EventTranslator func(name string, data []byte) (chunks []*ChatChunk, done bool, err error)

// TranslatedStream is the ChunkReader of an adapter that translates an
// upstream's event stream into chat chunks (Gemini, Cohere): it reads the
// events, hands each to the adapter's translator and hands out the chunks
// it made, in order. The end of the body or a "[DONE]" before the
// translator reported the end is a cut stream (KindUnavailable); once it
// did, nothing more is read. It is used by one goroutine at a time, as
// ChunkReader requires.
type TranslatedStream struct {
	ctx       context.Context
	provider  string
	body      io.ReadCloser
	events    *sse.Reader
	translate EventTranslator
	queue     []*ChatChunk // chunks translated but not yet handed out
	end       error        // io.EOF or the error that ended the stream
}

// NewTranslatedStream returns the reader of the event stream in body, an
// answer of the provider called provider, whose lines are at most maxLine
// bytes long.
func NewTranslatedStream(ctx context.Context, provider string, body io.ReadCloser, maxLine int, translate EventTranslator) *TranslatedStream {
	return &TranslatedStream{ctx: ctx, provider: provider, body: body, events: sse.NewReader(body, maxLine), translate: translate}
}

// Next returns the next chunk, or io.EOF after the last one, or the error
// that ended the stream (again on every later call).
func (s *TranslatedStream) Next() (*ChatChunk, error) {
	for {
		if len(s.queue) > 0 {
			c := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			return c, nil
		}
		if s.end != nil {
			return nil, s.end
		}
		s.end = s.read()
	}
}

// read reads one event and queues its chunks. It returns the error that
// ends the stream, io.EOF at its clean end, and nil to read on.
func (s *TranslatedStream) read() error {
	ev, err := s.events.Next()
	switch {
	case err == io.EOF:
		return s.cut()
	case err != nil:
		return StreamReadError(s.ctx, s.provider, err)
	}
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return nil
	}
	if sse.Done(data) {
		return s.cut()
	}
	chunks, done, err := s.translate(ev.Name, data)
	s.queue = append(s.queue, chunks...)
	switch {
	case err != nil:
		return err
	case done:
		return io.EOF
	}
	return nil
}

// cut is the error of a stream that ended before the translator saw its
// end.
func (s *TranslatedStream) cut() error {
	return &Error{Kind: KindUnavailable, Provider: s.provider,
		Message: "the upstream stream ended before it was complete", Err: io.ErrUnexpectedEOF}
}

// Close ends the upstream request and releases its connection.
func (s *TranslatedStream) Close() error {
	err := s.body.Close()
	s.events.Release()
	return err
}
