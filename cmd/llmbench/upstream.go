package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// benchModel is the model every chat request asks for, and
// benchClaudeModel the model of the Messages front's requests, served by
// an Anthropic provider.
const (
	benchModel       = "bench-model"
	benchClaudeModel = "bench-claude"
)

// words are the tokens of the upstream's answers.
var words = strings.Fields("Hello there! Here is a short answer from the benchmark upstream, " +
	"with about twenty tokens of text, as a small chat reply would have.")

// runUpstream is the "upstream" subcommand: a local OpenAI-format server
// (that also answers POST /v1/messages in Anthropic's format, whole or as
// an event stream of -chunks text deltas, for the Messages pass-through)
// that answers POST /v1/chat/completions with a fixed small completion, or,
// for "stream": true, with a role chunk, -chunks content chunks flushed one
// by one (each after -delay), a finish chunk, a usage chunk when
// stream_options.include_usage is set, and "data: [DONE]". Every chunk
// carries the time it was written, in nanoseconds since the epoch, in its
// system_fingerprint ("fp_<ns>"), so that a client can tell how long the
// chunk took to reach it. With -tls-cert and -tls-key it serves HTTPS,
// HTTP/2 or HTTP/1.1 as the client's ALPN asks. It counts the chat requests
// it serves by HTTP version and reports the counts at GET
// /llmbench/protocols (protocolsPath). It prints its address on standard
// output.
func runUpstream(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("llmbench upstream", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	chunks := fs.Int("chunks", 20, "content chunks per streamed answer")
	delay := fs.Duration("delay", 0, "wait before each content chunk of a stream")
	certFile := fs.String("tls-cert", "", "serve HTTPS with this PEM certificate (with -tls-key)")
	keyFile := fs.String("tls-key", "", "the PEM private key of -tls-cert")
	exitOnEOF := fs.Bool("exit-on-stdin-eof", false, "exit when standard input ends (set by the harness)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var tlsConf *tls.Config
	if *certFile != "" || *keyFile != "" {
		var err error
		if tlsConf, err = serverTLS(*certFile, *keyFile); err != nil {
			return err
		}
	}
	u := newUpstream(*chunks, *delay)
	return serveChild(*addr, u, tlsConf, stdout, *exitOnEOF)
}

// serveChild listens on addr, prints the bound address on stdout and
// serves h, over TLS when tlsConf is not nil, until the process is killed
// (or its standard input ends, with exitOnEOF).
func serveChild(addr string, h http.Handler, tlsConf *tls.Config, stdout io.Writer, exitOnEOF bool) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if exitOnEOF {
		go func() {
			_, _ = io.Copy(io.Discard, stdinReader)
			_ = ln.Close()
		}()
	}
	fmt.Fprintln(stdout, ln.Addr().String())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, TLSConfig: tlsConf}
	if tlsConf != nil {
		err = srv.ServeTLS(ln, "", "") // sets HTTP/2 up, offered by ALPN (serverTLS)
	} else {
		err = srv.Serve(ln)
	}
	if exitOnEOF {
		return nil
	}
	return err
}

// upstream is the handler of the upstream subcommand.
type upstream struct {
	answer []byte // the non-streamed answer
	chunks int
	delay  time.Duration
	// The parts of a streamed answer around each chunk's timestamp.
	chunkHead []byte
	tails     [][]byte // role chunk, content chunks, finish chunk, usage chunk
	protos    protoCounter
	// The Anthropic Messages answer and event stream, for the
	// pass-through of POST /v1/messages.
	message, events []byte
}

func newUpstream(chunks int, delay time.Duration) *upstream {
	u := &upstream{chunks: max(chunks, 1), delay: delay}
	text := strings.Join(words, " ")
	u.answer, _ = json.Marshal(map[string]any{
		"id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000, "model": benchModel,
		"system_fingerprint": "fp_bench",
		"choices": []any{map[string]any{
			"index": 0, "message": map[string]any{"role": "assistant", "content": text, "refusal": nil},
			"logprobs": nil, "finish_reason": "stop",
		}},
		"usage": map[string]any{"prompt_tokens": 24, "completion_tokens": len(words), "total_tokens": 24 + len(words)},
	})
	u.chunkHead = []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"` +
		benchModel + `","system_fingerprint":"fp_`)
	choice := func(delta, finish string) []byte {
		return []byte(`","choices":[{"index":0,"delta":` + delta + `,"logprobs":null,"finish_reason":` + finish + "}]}\n\n")
	}
	u.tails = append(u.tails, choice(`{"role":"assistant","content":"","refusal":null}`, "null"))
	for i := range u.chunks {
		w, _ := json.Marshal(" " + words[i%len(words)])
		u.tails = append(u.tails, choice(`{"content":`+string(w)+`}`, "null"))
	}
	u.tails = append(u.tails, choice(`{}`, `"stop"`))
	u.tails = append(u.tails, []byte(`","choices":[],"usage":{"prompt_tokens":24,"completion_tokens":`+
		strconv.Itoa(u.chunks)+`,"total_tokens":`+strconv.Itoa(24+u.chunks)+"}}\n\n"))
	u.messagesAnswers(text)
	return u
}

// messagesAnswers prepares the answers to POST /v1/messages in Anthropic's
// format: the same text whole, and a stream of the same -chunks words.
func (u *upstream) messagesAnswers(text string) {
	t, _ := json.Marshal(text)
	u.message = []byte(`{"id":"msg_bench","type":"message","role":"assistant","model":"` + benchClaudeModel +
		`","content":[{"type":"text","text":` + string(t) + `}],"stop_reason":"end_turn","stop_sequence":null,` +
		`"usage":{"input_tokens":24,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":` + strconv.Itoa(len(words)) + `}}`)
	ev := func(name, data string) { u.events = append(u.events, "event: "+name+"\ndata: "+data+"\n\n"...) }
	ev("message_start", `{"type":"message_start","message":{"id":"msg_bench","type":"message","role":"assistant","model":"`+benchClaudeModel+
		`","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":24,"output_tokens":1}}}`)
	ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	for i := range u.chunks {
		w, _ := json.Marshal(" " + words[i%len(words)])
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+string(w)+`}}`)
	}
	ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
	ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":`+strconv.Itoa(u.chunks)+`}}`)
	ev("message_stop", `{"type":"message_stop"}`)
}

// serveMessages answers POST /v1/messages: the whole message, or the
// event stream written event by event, each flushed.
func (u *upstream) serveMessages(w http.ResponseWriter, stream bool) {
	h := w.Header()
	if !stream {
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(u.message)))
		_, _ = w.Write(u.message)
		return
	}
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for rest := u.events; len(rest) > 0; {
		i := bytes.Index(rest, []byte("\n\n")) + 2
		if _, err := w.Write(rest[:i]); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		rest = rest[i:]
	}
}

// chatRequest is what the upstream reads of a request.
type chatRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// modelsPath and modelsList are the model list the upstream serves, in
// OpenAI's format, which Anthropic's list shares (a "data" array of
// objects with an "id").
const (
	modelsPath = "/v1/models"
	modelsList = `{"object":"list","data":[{"id":"` + benchModel + `","object":"model","created":1700000000,"owned_by":"llmbench"},` +
		`{"id":"` + benchClaudeModel + `","type":"model","object":"model","created":1700000000,"owned_by":"llmbench"}],"has_more":false}`
)

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == protocolsPath {
		u.protos.serve(w)
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == modelsPath {
		// The proxies' health checks: a run longer than their interval
		// must not find the upstream unhealthy.
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, modelsList)
		return
	}
	u.protos.count(r)
	if r.Method == http.MethodPost && r.URL.Path == messagesPath {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		var req chatRequest
		_ = json.Unmarshal(body, &req)
		u.serveMessages(w, req.Stream)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error","param":null,"code":null}}`, http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Model == "" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":{"message":"invalid request","type":"invalid_request_error","param":null,"code":null}}`))
		return
	}
	if !req.Stream {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(u.answer)))
		_, _ = w.Write(u.answer)
		return
	}
	u.stream(r.Context(), w, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
}

// stream writes a streamed answer, flushing each chunk.
func (u *upstream) stream(ctx context.Context, w http.ResponseWriter, usage bool) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	buf := make([]byte, 0, 512)
	var timer *time.Timer
	if u.delay > 0 {
		timer = time.NewTimer(u.delay)
		defer timer.Stop()
	}
	last := len(u.tails) - 1
	if !usage {
		last--
	}
	for i := 0; i <= last; i++ {
		if timer != nil && i >= 1 && i <= u.chunks {
			timer.Reset(u.delay)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		buf = append(buf[:0], u.chunkHead...)
		buf = strconv.AppendInt(buf, time.Now().UnixNano(), 10)
		buf = append(buf, u.tails[i]...)
		if i == last {
			buf = append(buf, "data: [DONE]\n\n"...)
		}
		if _, err := w.Write(buf); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
