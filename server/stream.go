package server

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/sse"
)

// writeStream sends a committed stream to the client as OpenAI's SSE:
// "data: <chunk>" frames only, each flushed as it arrives, then
// "data: [DONE]". Chunks pass through as the upstream's bytes when the
// provider kept them.
//
// The chunks that end a stream (a finish reason, a usage chunk) are held
// back by one frame so that _proxy_info can be spliced into the very last
// one; content chunks are never delayed. If the stream fails after the
// commit, it ends with a data: {"error":{...}} frame and no [DONE], so no
// client mistakes a truncated answer for a whole one.
func writeStream[T llmproxy.Chunk](w http.ResponseWriter, st *llmproxy.Stream[T], emptyChunk func(*llmproxy.ProxyInfo) []byte) {
	pi := st.ProxyInfo()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-LLMProxy-Provider", pi.Provider)
	h.Set("X-LLMProxy-Attempt", strconv.Itoa(pi.AttemptNumber))
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)

	var held []byte
	buf := make([]byte, 0, 1024)
	for st.Next() {
		c := st.Current()
		payload, err := chunkBytes(c)
		if err != nil {
			continue
		}
		if held != nil {
			buf = sse.AppendData(buf, held)
			held = nil
		}
		if c.Finished() {
			held = payload
		} else {
			buf = sse.AppendData(buf, payload)
		}
		if len(buf) > 0 {
			if _, err := w.Write(buf); err != nil {
				return // the client went away; the caller closes the stream
			}
			_ = rc.Flush()
			buf = buf[:0]
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
		buf = sse.AppendData(buf, emptyChunk(pi))
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

// chunkBytes returns the chunk's upstream bytes, or encodes it.
func chunkBytes[T llmproxy.Chunk](c T) ([]byte, error) {
	if raw := c.Raw(); raw != nil {
		return raw, nil
	}
	return json.Marshal(c)
}

// emptyChatChunk is the last chunk of a chat stream whose upstream sent no
// final chunk to carry _proxy_info.
func emptyChatChunk(pi *llmproxy.ProxyInfo) []byte {
	b, _ := json.Marshal(&llmproxy.ChatChunk{Object: "chat.completion.chunk", Choices: []llmproxy.ChunkChoice{}, ProxyInfo: pi})
	return b
}

// emptyCompletionChunk is emptyChatChunk for text completions.
func emptyCompletionChunk(pi *llmproxy.ProxyInfo) []byte {
	b, _ := json.Marshal(&llmproxy.CompletionResponse{Object: "text_completion", Choices: []llmproxy.CompletionChoice{}, ProxyInfo: pi})
	return b
}
