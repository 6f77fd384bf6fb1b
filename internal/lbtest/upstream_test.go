//go:build linux

package lbtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Stream shapes of the upstream: a short stream ends well within the
// replicas' shutdown_timeout, a long one outlasts it.
const (
	shortChunks = 8
	shortDelay  = 20 * time.Millisecond
	longChunks  = 30
	longDelay   = 100 * time.Millisecond
)

// words returns the content of a stream of n chunks.
func words(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "w%d ", i)
	}
	return b.String()
}

// upstream is an OpenAI-format upstream with two providers' paths:
// /good/v1 answers everything, /broken/v1 answers its model list (so
// that health checks find it up) but fails every completion with a 500.
type upstream struct {
	brokenCalls atomic.Int64 // POSTs to /broken
	goodCalls   atomic.Int64 // POSTs to /good
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	broken := strings.HasPrefix(r.URL.Path, "/broken/")
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/models") {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"object":"list","data":[{"id":"good-model","object":"model","created":1700000000,"owned_by":"lbtest"}]}`)
		return
	}
	if broken {
		u.brokenCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"error":{"message":"the broken provider is broken","type":"server_error","param":null,"code":null}}`)
		return
	}
	u.goodCalls.Add(1)
	var req struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(r.URL.Path, "/embeddings"):
		_, _ = fmt.Fprintf(w, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2,0.3]}],"model":%q,"usage":{"prompt_tokens":2,"total_tokens":2}}`, req.Model)
	case strings.HasSuffix(r.URL.Path, "/completions") && !strings.HasSuffix(r.URL.Path, "/chat/completions"):
		_, _ = fmt.Fprintf(w, `{"id":"cmpl-lb","object":"text_completion","created":1700000000,"model":%q,"choices":[{"text":"done","index":0,"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}`, req.Model)
	case !req.Stream:
		_, _ = fmt.Fprintf(w, `{"id":"chatcmpl-lb","object":"chat.completion","created":1700000000,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":%d,"total_tokens":%d}}`,
			req.Model, words(shortChunks), shortChunks, shortChunks+2)
	default:
		n, delay := shortChunks, shortDelay
		if req.Model == "long-model" {
			n, delay = longChunks, longDelay
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		chunk := func(content, finish string) {
			fr := "null"
			if finish != "" {
				fr = `"` + finish + `"`
			}
			_, _ = fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-lb\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":%s}]}\n\n", req.Model, content, fr)
			fl.Flush()
		}
		for i := range n {
			chunk(fmt.Sprintf("w%d ", i), "")
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		chunk("", "stop")
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
		fl.Flush()
	}
}
