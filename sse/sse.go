// Package sse reads and writes Server-Sent Events as LLM APIs use them.
//
// Reader parses an event stream incrementally with a bounded line length,
// so a hostile or broken upstream cannot make it buffer without limit. It
// understands "event:", "data:" (several data lines are joined with "\n"),
// "id:" and "retry:" fields, skips comment lines (": keep-alive",
// ": OPENROUTER PROCESSING"), and accepts LF and CRLF line ends (a lone
// CR, which no LLM API sends, is not a line end here).
//
// For upstreams that frame a stream as newline-delimited JSON instead, a
// line that starts with "{" and is not part of an event is returned as an
// event whose Data is that line.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// DefaultMaxLineBytes is the default longest line a Reader accepts: 4 MiB.
const DefaultMaxLineBytes = 4 << 20

// ErrLineTooLong is returned when a line exceeds the Reader's limit.
var ErrLineTooLong = errors.New("sse: line too long")

// Event is one event of a stream. Data is only valid until the next call
// of Reader.Next.
type Event struct {
	Name string // the "event:" field; empty for unnamed events
	Data []byte // the "data:" lines joined with "\n"
	ID   string
}

// Reader reads events from a stream. It is not safe for concurrent use.
// The zero value is not usable; call NewReader.
type Reader struct {
	br      *bufio.Reader
	max     int
	line    []byte
	data    []byte
	name    string
	id      string
	hasData bool
}

// NewReader returns a Reader of r that accepts lines of at most maxLine
// bytes (DefaultMaxLineBytes when maxLine <= 0).
func NewReader(r io.Reader, maxLine int) *Reader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLineBytes
	}
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	return &Reader{br: br, max: maxLine}
}

// readers recycles the 4 KiB read buffers of released Readers. It holds no
// state of any stream.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// ErrReleased is returned by Next after Release.
var ErrReleased = errors.New("sse: reader released")

// Release returns the Reader's buffer for reuse by other Readers. Call it
// once the stream is done with (its body closed); Next then returns
// ErrReleased. Calling it again does nothing.
func (r *Reader) Release() {
	if r.br == nil {
		return
	}
	r.br.Reset(nil)
	readers.Put(r.br)
	r.br = nil
}

// Next returns the next event. At the end of the stream it returns io.EOF
// (after the last complete event; an event not followed by a blank line at
// EOF is still returned). Errors of the underlying reader are returned as
// they are.
func (r *Reader) Next() (Event, error) {
	if r.br == nil {
		return Event{}, ErrReleased
	}
	if r.br.Buffered() == 0 {
		// Wait for the next bytes here, so that a frame arriving whole
		// is seen whole. With nothing buffered there is no partial line
		// either: an error (io.EOF included) is what the parser below
		// would return too.
		if _, err := r.br.Peek(1); err != nil {
			return Event{}, err
		}
	}
	if ev, ok := r.buffered(); ok {
		return ev, nil
	}
	r.data = r.data[:0]
	r.name, r.id, r.hasData = "", "", false
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF && r.hasData {
				return r.event(), nil
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if r.hasData {
				return r.event(), nil
			}
			r.name, r.id = "", ""
			continue
		}
		if line[0] == ':' {
			continue
		}
		if line[0] == '{' && !r.hasData && r.name == "" {
			// NDJSON framing: the whole line is one event's data.
			r.data = append(r.data, line...)
			r.hasData = true
			return r.event(), nil
		}
		field, value, found := bytes.Cut(line, []byte{':'})
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(field) {
		case "data":
			if r.hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			r.hasData = true
		case "event":
			r.name = string(value)
		case "id":
			r.id = string(value)
		}
		// "retry" and unknown fields are ignored, as the SSE spec says.
	}
}

// buffered returns the next event without copying it when it is the
// common frame of LLM streams, one "data: " line followed by a blank line
// (LF line ends), and has arrived whole: its Data is then a slice of the
// read buffer, valid until the next call of Next like any Data. Anything
// else (another field, a comment, CRLF, a frame not yet read in full)
// reports false and takes the general parser, which gives the same event.
// It never reads from the underlying reader.
func (r *Reader) buffered() (Event, bool) {
	buf, _ := r.br.Peek(r.br.Buffered())
	const prefix = "data: "
	if len(buf) < len(prefix)+2 || string(buf[:len(prefix)]) != prefix {
		return Event{}, false
	}
	eol := bytes.IndexByte(buf[len(prefix):], '\n') + len(prefix)
	if eol < len(prefix) || eol+1 >= len(buf) || buf[eol+1] != '\n' || eol > r.max {
		return Event{}, false
	}
	data := buf[len(prefix):eol]
	if len(data) > 0 && data[len(data)-1] == '\r' {
		return Event{}, false
	}
	_, _ = r.br.Discard(eol + 2)
	return Event{Data: data}, true
}

func (r *Reader) event() Event { return Event{Name: r.name, Data: r.data, ID: r.id} }

// readLine returns the next line without its end, reading at most r.max
// bytes.
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		r.line = append(r.line, chunk...)
		if len(r.line) > r.max+2 {
			return nil, fmt.Errorf("%w (more than %d bytes)", ErrLineTooLong, r.max)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(r.line) > 0 {
				return trimEOL(r.line), nil
			}
			return nil, err
		}
		return trimEOL(r.line), nil
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte{'\n'})
	return bytes.TrimSuffix(b, []byte{'\r'})
}

// Done reports whether data is the OpenAI end-of-stream marker "[DONE]".
func Done(data []byte) bool { return string(bytes.TrimSpace(data)) == "[DONE]" }

// AppendData appends one "data: <payload>\n\n" frame to dst.
func AppendData(dst, payload []byte) []byte {
	dst = append(dst, "data: "...)
	dst = append(dst, payload...)
	return append(dst, '\n', '\n')
}

// DoneFrame is the frame that ends an OpenAI stream.
var DoneFrame = []byte("data: [DONE]\n\n")

// AppendEvent appends one "event: <name>\ndata: <payload>\n\n" frame to
// dst, or a data-only frame when name is empty. name must be one line.
func AppendEvent(dst []byte, name string, payload []byte) []byte {
	if name != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, name...)
		dst = append(dst, '\n')
	}
	return AppendData(dst, payload)
}
