package server

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/sse"
)

// writeStream sends a committed stream to the client as OpenAI's SSE:
// "data: <chunk>" frames only, each flushed as soon as no further chunk
// has arrived with it, then "data: [DONE]". Chunks pass through as the upstream's bytes when the
// provider kept them.
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
	rc := http.NewResponseController(w)
	// Frames are flushed when the stream is about to wait for the
	// upstream: chunks that arrived together go out in one write, and no
	// chunk waits for the next. A stream that cannot tell is flushed after
	// every chunk.
	unflushed := false
	flushAtWait := st.OnWait(func() {
		if unflushed {
			_ = rc.Flush()
			unflushed = false
		}
	})

	// Raw chunks are valid until the next one is read (see
	// llmproxy.RawChatStreamer): what is kept across chunks is copied.
	var held, heldBuf []byte
	var first T // for emptyChunk: every chunk of a stream has its id and model
	seen := false
	buf := make([]byte, 0, 1024)
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
			buf = sse.AppendData(buf, held)
			held = nil
		}
		if c.Finished() {
			heldBuf = append(heldBuf[:0], payload...)
			held = heldBuf
		} else {
			buf = sse.AppendData(buf, payload)
		}
		if len(buf) > 0 {
			if _, err := w.Write(buf); err != nil {
				return // the client went away; the caller closes the stream
			}
			buf = buf[:0]
			if flushAtWait {
				unflushed = true
			} else {
				_ = rc.Flush()
			}
		}
	}
	if held != nil && st.Err() == nil {
		if spliced := spliceProxyInfo(held, pi); spliced != nil {
			held = spliced
		}
	}
	if held != nil {
		buf = sse.AppendData(buf, held)
	} else if st.Err() == nil {
		buf = sse.AppendData(buf, emptyChunk(first, pi))
	}
	if err := st.Err(); err != nil {
		env, _ := json.Marshal(llmproxy.AsError(err).Envelope())
		buf = sse.AppendData(buf, env)
	} else {
		buf = append(buf, sse.DoneFrame...)
	}
	_, _ = w.Write(buf)
	_ = rc.Flush()
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
	rc := http.NewResponseController(w)
	unflushed := false
	flushAtWait := st.OnWait(func() {
		if unflushed {
			_ = rc.Flush()
			unflushed = false
		}
	})
	buf := make([]byte, 0, 1024)
	for st.Next() {
		c := st.Current()
		payload, err := chunkBytes(c)
		if err != nil {
			continue
		}
		buf = sse.AppendEvent(buf[:0], c.Event, payload)
		if _, err := w.Write(buf); err != nil {
			return // the client went away; the caller closes the stream
		}
		if flushAtWait {
			unflushed = true
		} else {
			_ = rc.Flush()
		}
	}
	if err := st.Err(); err != nil {
		_, _ = w.Write(formatOf(w).frame(llmproxy.AsError(err)))
	}
	_ = rc.Flush()
}
