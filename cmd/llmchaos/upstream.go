package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// mode is how a fault-injecting upstream answers a request.
type mode int

// The modes. Only modeOK and modeSlow serve; every other one fails in its
// own way.
const (
	modeOK        mode = iota // answers at once
	modeSlow                  // answers, a stream in slow chunks
	mode500                   // 500 with an OpenAI error envelope
	mode429                   // 429 with Retry-After (and retry-after-ms)
	modeHang                  // never answers; waits for the caller to give up
	modeReset                 // resets the connection without an answer
	modeMalformed             // 200 with a body that is not valid JSON (or SSE)
	modeCut                   // a stream cut after its first content; a truncated body
	modeFlaky                 // every other request answers 500
)

var modeNames = [...]string{"ok", "slow", "500", "429", "hang", "reset", "malformed", "cut", "flaky"}

func (m mode) String() string { return modeNames[m] }

// serves reports whether an upstream in mode m answers every request.
func (m mode) serves() bool { return m == modeOK || m == modeSlow }

// schedule is the mode of each upstream in each phase. Phases follow each
// other in a cycle; in every phase some upstream serves, and every change
// of phase keeps one upstream serving on both sides, so that at any moment
// at least one provider can answer.
var schedule = [][3]mode{
	{modeOK, modeFlaky, modeHang},      // up0 serves
	{modeOK, modeSlow, mode500},        // up0, up1
	{modeCut, modeSlow, modeMalformed}, // up1
	{mode429, modeOK, modeOK},          // up1, up2
	{modeReset, modeCut, modeSlow},     // up2
	{modeSlow, modeHang, modeOK},       // up0, up2
}

// slowGap is the pause between two chunks of a slow stream, well under
// the proxy's stream idle timeout.
const slowGap = 15 * time.Millisecond

// upstream is a fault-injecting OpenAI-format server on a loopback port.
// Its mode follows the schedule, read once per request on arrival. It
// counts the requests of each chaos request id (the user message), which
// gives the attempts each request cost.
type upstream struct {
	idx   int
	clock *phaseClock
	srv   *http.Server
	ln    net.Listener
	url   string

	flaky atomic.Int64
	mu    sync.Mutex
	hits  map[string]int
}

// startUpstream listens on 127.0.0.1 and serves until close.
func startUpstream(idx int, clock *phaseClock) (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstream{idx: idx, clock: clock, ln: ln, hits: map[string]int{},
		url: "http://" + ln.Addr().String() + "/v1"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", u.chat)
	mux.HandleFunc("GET /v1/models", u.models)
	u.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: discardLog()}
	go func() { _ = u.srv.Serve(ln) }()
	return u, nil
}

// close stops the server and ends every request in flight, hanging ones
// included.
func (u *upstream) close() { _ = u.srv.Close() }

// mode returns the upstream's mode now.
func (u *upstream) mode() mode { return schedule[u.clock.phase()][u.idx] }

// attempts returns the requests received for the chaos request id.
func (u *upstream) attempts(id string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hits[id]
}

// chatBody is the part of a chat request the upstream reads.
type chatBody struct {
	Model    string `json:"model"`
	Stream   bool   `json:"stream"`
	Messages []struct {
		Content string `json:"content"`
	} `json:"messages"`
}

func (u *upstream) chat(w http.ResponseWriter, r *http.Request) {
	m := u.mode()
	var req chatBody
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
		writeErr(w, http.StatusBadRequest, "invalid_request_error", "bad request body")
		return
	}
	id := req.Messages[0].Content
	u.mu.Lock()
	u.hits[id]++
	u.mu.Unlock()
	if m == modeFlaky {
		if u.flaky.Add(1)%2 == 0 {
			m = mode500
		} else {
			m = modeOK
		}
	}
	if u.fail(w, r, m) {
		return
	}
	text := fmt.Sprintf("answer to %s from upstream %d", id, u.idx)
	if req.Stream {
		u.stream(w, r, m, req.Model, text)
		return
	}
	body := fmt.Sprintf(`{"id":"chatcmpl-%d","object":"chat.completion","created":1741569952,"model":%q,`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`, u.idx, req.Model, text)
	switch m {
	case modeSlow:
		if !sleepCtx(r.Context(), 5*slowGap) {
			return
		}
	case modeCut:
		// Half the body, then the connection ends.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = w.Write([]byte(body[:len(body)/2]))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(body))
}

// fail answers the failure modes that do not depend on the request and
// reports whether it did.
func (u *upstream) fail(w http.ResponseWriter, r *http.Request, m mode) bool {
	switch m {
	case mode500:
		writeErr(w, http.StatusInternalServerError, "server_error", "chaos: internal error")
	case mode429:
		w.Header().Set("Retry-After", "1")
		w.Header().Set("retry-after-ms", "50")
		writeErr(w, http.StatusTooManyRequests, "requests", "chaos: rate limit reached")
	case modeHang:
		<-r.Context().Done()
	case modeReset:
		reset(w)
	case modeMalformed:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"chatcmpl-bad","choices":[{"message":`))
	default:
		return false
	}
	return true
}

// stream sends a streamed answer: a role chunk, content chunks, a finish
// chunk and [DONE]; slowly in modeSlow; cut after the second content
// chunk in modeCut.
func (u *upstream) stream(w http.ResponseWriter, r *http.Request, m mode, model, text string) {
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	frame := func(delta, finish string) {
		fmt.Fprintf(w, `data: {"id":"chatcmpl-%d","object":"chat.completion.chunk","created":1741569952,"model":%q,`+
			`"choices":[{"index":0,"delta":%s,"finish_reason":%s}]}`+"\n\n", u.idx, model, delta, finish)
		fl.Flush()
	}
	frame(`{"role":"assistant","content":""}`, "null")
	words := strings.SplitAfter(text, " ")
	for i, word := range words {
		if m == modeSlow && !sleepCtx(r.Context(), slowGap) {
			return
		}
		c, _ := json.Marshal(word)
		frame(`{"content":`+string(c)+`}`, "null")
		if m == modeCut && i == 1 {
			panic(http.ErrAbortHandler)
		}
	}
	frame(`{}`, `"stop"`)
	_, _ = w.Write([]byte("data: [DONE]\n\n"))
	fl.Flush()
}

// models answers the proxy's health check in the upstream's mode. A
// flaky or cutting upstream passes it: only live traffic shows its faults.
func (u *upstream) models(w http.ResponseWriter, r *http.Request) {
	if m := u.mode(); m != modeFlaky && m != modeCut && u.fail(w, r, m) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"object":"list","data":[{"id":"chaos-model","object":"model","created":1,"owned_by":"chaos"}]}`))
}

// writeErr answers an OpenAI error envelope.
func writeErr(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"message":%q,"type":%q,"param":null,"code":null}}`+"\n", msg, typ)
}

// reset ends the connection with a TCP reset and no answer.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// sleepCtx waits d or until ctx ends, and reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// phaseClock is the phase of the schedule. The run advances it once per
// phase length, but never so that a request sees two changes of phase: the
// schedule promises an upstream that serves across one change, not two,
// so before the change from phase k to k+1 every request begun before
// phase k must have ended. On a machine too busy to finish requests within
// a phase, phases last longer; the promise holds at any speed.
type phaseClock struct {
	idx      atomic.Int64 // the phase, unwrapped; written under mu
	mu       sync.Mutex
	ended    *sync.Cond
	inflight map[int64]int // requests in flight by the phase they began in
}

func newPhaseClock() *phaseClock {
	c := &phaseClock{inflight: map[int64]int{}}
	c.ended = sync.NewCond(&c.mu)
	return c
}

// phase returns the schedule's phase.
func (c *phaseClock) phase() int { return int(c.idx.Load() % int64(len(schedule))) }

// begin records a request beginning and returns its phase, unwrapped.
func (c *phaseClock) begin() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.idx.Load()
	c.inflight[i]++
	return i
}

// end records the end of a request begun in phase i (from begin) and
// returns the phase it ended in, unwrapped.
func (c *phaseClock) end(i int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight[i]--; c.inflight[i] == 0 {
		delete(c.inflight, i)
	}
	c.ended.Broadcast()
	return c.idx.Load()
}

// advance moves to the next phase once every request begun before the
// current one has ended.
func (c *phaseClock) advance() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.olderInFlight() {
		c.ended.Wait()
	}
	c.idx.Add(1)
}

// olderInFlight reports whether a request begun before the current phase
// is in flight. Called with mu held.
func (c *phaseClock) olderInFlight() bool {
	cur := c.idx.Load()
	for i := range c.inflight {
		if i < cur {
			return true
		}
	}
	return false
}

// discardLog is a logger for http.Server that drops everything (aborted
// handlers and hijacked connections are the point here).
func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }
