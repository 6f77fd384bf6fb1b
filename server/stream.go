package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"sync"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/sse"
)

// maxGathered is the most bytes of frames a frameWriter gathers before it
// writes them, waiting or not, so that an upstream that never makes the
// stream wait does not grow the buffer.
const maxGathered = 32 << 10

// writeStream sends a committed stream to the client as OpenAI's SSE:
// "data: <chunk>" frames only, each flushed as soon as no further chunk
// has arrived with it, then "data: [DONE]". Chunks pass through as the
// upstream's bytes when the provider kept them.
//
// The chunks that end a stream (a finish reason, a usage chunk) are held
// back by one frame so that _proxy_info can be spliced into the very last
// one; content chunks are never delayed. If the stream fails after the
// commit, it ends with a data: {"error":{...}} frame and no [DONE], so no
// client mistakes a truncated answer for a whole one.
func writeStream[T llmproxy.Chunk](w http.ResponseWriter, st *llmproxy.Stream[T], emptyChunk func(c T, pi *llmproxy.ProxyInfo) []byte) {
	pi := st.ProxyInfo()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	setProxyHeaders(h, pi)
	w.WriteHeader(http.StatusOK)
	fw := newFrameWriter(w, st.OnWait)
	defer fw.release()

	// Raw chunks are valid until the next one is read (see
	// llmproxy.RawChatStreamer): what is kept across chunks is copied.
	var held, heldBuf []byte
	var first T // for emptyChunk: every chunk of a stream has its id and model
	seen := false
	for st.Next() {
		c := st.Current()
		payload, err := chunkBytes(c)
		if err != nil {
			continue
		}
		if !seen {
			first, seen = llmproxy.Keep(c), true
		}
		if held != nil {
			fw.buf = sse.AppendData(fw.buf, held)
			held = nil
		}
		if c.Finished() {
			// With room for _proxy_info, which is spliced in place at
			// the end: one allocation for the held chunks
			// (BenchmarkServerStream).
			heldBuf = append(slices.Grow(heldBuf[:0], len(payload)+proxyInfoRoom(pi)), payload...)
			held = heldBuf
		} else {
			fw.buf = sse.AppendData(fw.buf, payload)
		}
		if fw.chunkDone() != nil {
			return // the client went away; the caller closes the stream
		}
	}
	if held != nil && st.Err() == nil {
		if spliced := spliceProxyInfo(held, pi); spliced != nil {
			held = spliced
		}
	}
	if held != nil {
		fw.buf = sse.AppendData(fw.buf, held)
	} else if st.Err() == nil {
		fw.buf = sse.AppendData(fw.buf, emptyChunk(first, pi))
	}
	if err := st.Err(); err != nil {
		env, _ := json.Marshal(llmproxy.AsError(err).Envelope())
		fw.buf = sse.AppendData(fw.buf, env)
	} else {
		fw.buf = append(fw.buf, sse.DoneFrame...)
	}
	fw.flush()
}

// frameWriter writes the frames of a committed stream. They are gathered
// in buf and written and flushed when the stream is about to wait for the
// upstream (llmproxy.Stream.OnWait): chunks that arrived together go out
// in one write, and no chunk waits for the next. A stream that cannot tell
// when it waits has each chunk's frames written and flushed at once.
type frameWriter struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	buf    []byte
	pooled *[]byte // where buf came from, in frameBuffers
	err    error   // the first write error: the client went away
	atWait bool    // the stream tells when it waits
}

// newFrameWriter returns a frameWriter to w for a stream whose OnWait
// method is onWait.
func newFrameWriter(w http.ResponseWriter, onWait func(func()) bool) *frameWriter {
	fw := &frameWriter{w: w, rc: http.NewResponseController(w), pooled: frameBuffers.Get().(*[]byte)}
	fw.buf = (*fw.pooled)[:0]
	fw.atWait = onWait(fw.flush)
	return fw
}

// release gives buf back to frameBuffers; fw must not be used after. The
// stream must not call its OnWait function any more.
func (fw *frameWriter) release() {
	if cap(fw.buf) <= maxGathered+64<<10 { // not one grown by a huge frame
		*fw.pooled = fw.buf[:0]
		frameBuffers.Put(fw.pooled)
	}
	fw.buf, fw.pooled = nil, nil
}

// frameBuffers holds the frame buffers of finished streams, so that a
// stream does not allocate 4 KiB for its frames (BenchmarkServerStream).
var frameBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 4096)
	return &b
}}

// chunkDone is called once a chunk's frames are in buf. It writes them
// unless they can wait for the stream's next wait (and buf is not full),
// and returns the first write error.
func (fw *frameWriter) chunkDone() error {
	if !fw.atWait || len(fw.buf) >= maxGathered {
		fw.flush()
	}
	return fw.err
}

// flush writes and flushes what buf holds.
func (fw *frameWriter) flush() {
	if len(fw.buf) == 0 || fw.err != nil {
		return
	}
	_, fw.err = fw.w.Write(fw.buf)
	fw.buf = fw.buf[:0]
	if fw.err == nil {
		_ = fw.rc.Flush()
	}
}

// chunkBytes returns the chunk's upstream bytes, or encodes it. A frame's
// payload must be one line: upstream bytes with line breaks (an event whose
// data was split over several data: lines) are compacted first, since a
// client would read each further line as a field of its own.
func chunkBytes[T llmproxy.Chunk](c T) ([]byte, error) {
	if raw := c.Raw(); raw != nil {
		if bytes.IndexByte(raw, '\n') < 0 && bytes.IndexByte(raw, '\r') < 0 {
			return raw, nil
		}
		var b bytes.Buffer
		if json.Compact(&b, raw) == nil {
			return b.Bytes(), nil
		}
	}
	return json.Marshal(c)
}

// emptyChatChunk is the last chunk of a chat stream whose upstream sent no
// final chunk to carry _proxy_info. It has the id, created and model of a
// chunk of the stream (last; nil when there was none), since clients such
// as openai-go's accumulator refuse a chunk of another completion.
func emptyChatChunk(last *llmproxy.ChatChunk, pi *llmproxy.ProxyInfo) []byte {
	c := &llmproxy.ChatChunk{Object: "chat.completion.chunk", Choices: []llmproxy.ChunkChoice{}, ProxyInfo: pi}
	if last != nil {
		c.ID, c.Created, c.Model, c.SystemFingerprint = last.ID, last.Created, last.Model, last.SystemFingerprint
	}
	b, _ := json.Marshal(c)
	return b
}

// emptyRawChatChunk is emptyChatChunk for a stream of raw chunks.
func emptyRawChatChunk(last *llmproxy.RawChunk, pi *llmproxy.ProxyInfo) []byte {
	var c *llmproxy.ChatChunk
	if last != nil {
		c = new(llmproxy.ChatChunk)
		if json.Unmarshal(last.Data, c) != nil {
			c = nil
		}
	}
	return emptyChatChunk(c, pi)
}

// emptyCompletionChunk is emptyChatChunk for text completions.
func emptyCompletionChunk(last *llmproxy.CompletionResponse, pi *llmproxy.ProxyInfo) []byte {
	c := &llmproxy.CompletionResponse{Object: "text_completion", Choices: []llmproxy.CompletionChoice{}, ProxyInfo: pi}
	if last != nil {
		c.ID, c.Created, c.Model = last.ID, last.Created, last.Model
	}
	b, _ := json.Marshal(c)
	return b
}

// writeEvents sends a committed stream of a front whose frames name their
// events (Anthropic Messages, OpenAI Responses) to the client: each chunk
// as "event: <name>" (when it has one) and "data: <chunk>", flushed as in
// writeStream. The stream's own events begin and end it: nothing is
// added to a clean end. A stream that fails after its commit ends with the
// route's error frame (see errorFormat) instead of the format's clean end.
func writeEvents(w http.ResponseWriter, st *llmproxy.Stream[*llmproxy.RawChunk]) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	setProxyHeaders(h, st.ProxyInfo())
	w.WriteHeader(http.StatusOK)
	fw := newFrameWriter(w, st.OnWait)
	defer fw.release()
	for st.Next() {
		c := st.Current()
		payload, err := chunkBytes(c)
		if err != nil {
			continue
		}
		fw.buf = sse.AppendEvent(fw.buf, c.Event, payload)
		if fw.chunkDone() != nil {
			return // the client went away; the caller closes the stream
		}
	}
	if err := st.Err(); err != nil {
		fw.buf = append(fw.buf, formatOf(w).frame(llmproxy.AsError(err))...)
	}
	fw.flush()
}
