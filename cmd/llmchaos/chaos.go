package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/openai"
	"github.com/llmproxy/llmproxy/server"
)

// options configures one chaos run.
type options struct {
	// Requests is the number of requests sent, every other one streamed.
	Requests int
	// Concurrency bounds the requests in flight.
	Concurrency int
	// Duration is the time the requests are spread over.
	Duration time.Duration
	// Phase is how long the upstreams keep their modes, at least; 0
	// means Duration/12, so that the schedule runs through twice. A change
	// of phase waits for the requests begun before the current phase to
	// end, so that no request spans two changes: each has an upstream that
	// serves from its start to its end, however busy the machine.
	Phase time.Duration
	// AttemptTimeout is the providers' timeout and first-token timeout:
	// what a hanging upstream costs an attempt.
	AttemptTimeout time.Duration
	// LoadBalancing is the proxy's load_balancing.
	LoadBalancing string
	// Log receives the proxy's log; nil discards it.
	Log io.Writer
}

// requestTimeout is the proxy's request timeout: room for a hang on two
// providers and the retries on the third.
func (o options) requestTimeout() time.Duration { return 8*o.AttemptTimeout + 2*time.Second }

// phase returns the length of a phase of the schedule.
func (o options) phase() time.Duration {
	if o.Phase > 0 {
		return o.Phase
	}
	return max(o.Duration/time.Duration(2*len(schedule)), 50*time.Millisecond)
}

// hungAfter is when the client gives a request up as hung: well past the
// proxy's request timeout, by which the proxy must have answered.
func (o options) hungAfter() time.Duration { return o.requestTimeout() + 5*time.Second }

// outcome is how a request ended, as the client saw it.
type outcome int

const (
	outSucceeded outcome = iota // a whole answer
	outCut                      // a stream that ended with an error frame after content
	outFailed                   // an error answer in the OpenAI envelope
	outHung                     // no end within hungAfter
	outLost                     // no proper answer: a broken connection or body
)

// report is the result of a run.
type report struct {
	Requests   int // sent
	Streamed   int
	Succeeded  int
	Failed     int // with a proper error, cut streams included
	Cut        int
	Hung       int
	Lost       int
	NotSent    int // not sent before the run's deadline
	MeanTries  float64
	MaxTries   int
	Goroutines int // left after shutdown
	Elapsed    time.Duration
	Longest    time.Duration // the longest request
	Phase      time.Duration
	// Problems describes the first few requests that failed without being
	// cut, hung or were lost.
	Problems []string
}

// ok reports whether the run met every requirement.
func (r *report) ok() bool {
	return r.Hung == 0 && r.Lost == 0 && r.Goroutines == 0 && r.NotSent == 0 && r.Failed == r.Cut
}

// maxProblems bounds the problems a report lists.
const maxProblems = 10

// result is one request's outcome.
type result struct {
	out    outcome
	stream bool
	detail string
	// phases is the schedule's phase when the request was sent and
	// when it ended.
	phases [2]int
	took   time.Duration
}

// run starts three fault-injecting upstreams and the proxy on loopback
// ports, drives the requests through the proxy's HTTP server, shuts
// everything down and reports. It stops by itself: requests not sent by
// twice the duration are counted as not sent, and every request ends
// within hungAfter.
func run(ctx context.Context, o options) (*report, error) {
	if o.Requests < 1 || o.Concurrency < 1 || o.Duration <= 0 || o.AttemptTimeout <= 0 {
		return nil, errors.New("requests, concurrency, duration and attempt timeout must be positive")
	}
	baseline := runtime.NumGoroutine()
	start := time.Now()
	phaseLen := o.phase()
	clock := newPhaseClock()

	var ups []*upstream
	closeUps := func() {
		for _, u := range ups {
			u.close()
		}
	}
	for i := range 3 {
		u, err := startUpstream(i, clock)
		if err != nil {
			closeUps()
			return nil, err
		}
		ups = append(ups, u)
	}

	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	logger := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	provider := func(i, priority, weight int) llmproxy.ProviderConfig {
		return llmproxy.ProviderConfig{
			Name: "up" + strconv.Itoa(i), Type: "openai", BaseURL: ups[i].url,
			Priority: priority, Weight: weight,
			Timeout: o.AttemptTimeout, FirstTokenTimeout: o.AttemptTimeout, StreamIdleTimeout: o.AttemptTimeout,
			MaxRetries: 2, RetryDelay: 20 * time.Millisecond,
		}
	}
	p, err := llmproxy.New(llmproxy.Config{
		RequestTimeout:          o.requestTimeout(),
		CircuitBreakerThreshold: 3,
		CircuitBreakerTimeout:   phaseLen,
		HealthCheckInterval:     phaseLen,
		LoadBalancing:           o.LoadBalancing,
		Providers:               []llmproxy.ProviderConfig{provider(0, 1, 2), provider(1, 1, 1), provider(2, 2, 1)},
	}, llmproxy.WithLogger(logger))
	if err != nil {
		closeUps()
		return nil, err
	}
	h := server.Handler(p, server.Options{Logger: logger})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		closeUps()
		_ = p.Close()
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: discardLog()}
	go func() { _ = srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()

	tr := &http.Transport{MaxIdleConnsPerHost: o.Concurrency, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: o.hungAfter()}

	results := make([]*result, o.Requests)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Go(func() {
			for i := range jobs {
				from, t0 := clock.begin(), time.Now()
				r := send(client, base, i)
				to := clock.end(from)
				n := int64(len(schedule))
				r.phases, r.took = [2]int{int(from % n), int(to % n)}, time.Since(t0)
				results[i] = r
			}
		})
	}
	// The schedule's clock: a phase change every phaseLen, delayed while a
	// request begun before the current phase is in flight.
	stopClock := make(chan struct{})
	clockDone := make(chan struct{})
	go func() {
		defer close(clockDone)
		tick := time.NewTicker(phaseLen)
		defer tick.Stop()
		for {
			select {
			case <-stopClock:
				return
			case <-tick.C:
				clock.advance()
			}
		}
	}()
	deadline := time.NewTimer(2 * o.Duration)
	interval := o.Duration / time.Duration(o.Requests)
dispatch:
	for i := range o.Requests {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-time.After(d):
			case <-deadline.C:
				break dispatch
			case <-ctx.Done():
				break dispatch
			}
		}
		select {
		case jobs <- i:
		case <-deadline.C:
			break dispatch
		case <-ctx.Done():
			break dispatch
		}
	}
	close(jobs)
	deadline.Stop()
	wg.Wait()
	close(stopClock) // no request is in flight: advance cannot be waiting
	<-clockDone
	elapsed := time.Since(start)

	// Shut down: the proxy's server, its handler, the proxy, the
	// upstreams, the client's connections.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_ = srv.Shutdown(sctx)
	cancel()
	if c, ok := h.(io.Closer); ok {
		_ = c.Close()
	}
	_ = p.Close()
	closeUps()
	tr.CloseIdleConnections()

	rep := &report{Elapsed: elapsed, Phase: phaseLen}
	totalTries := 0
	for i, r := range results {
		if r == nil {
			rep.NotSent++
			continue
		}
		rep.Requests++
		if r.stream {
			rep.Streamed++
		}
		tries := 0
		var per []string
		for j, u := range ups {
			n := u.attempts(requestID(i))
			tries += n
			per = append(per, fmt.Sprintf("up%d×%d", j, n))
		}
		totalTries += tries
		rep.MaxTries = max(rep.MaxTries, tries)
		rep.Longest = max(rep.Longest, r.took)
		switch r.out {
		case outSucceeded:
			rep.Succeeded++
		case outCut:
			rep.Failed++
			rep.Cut++
		case outFailed:
			rep.Failed++
		case outHung:
			rep.Hung++
		case outLost:
			rep.Lost++
		}
		if r.out != outSucceeded && r.out != outCut && len(rep.Problems) < maxProblems {
			kind := "plain"
			if r.stream {
				kind = "stream"
			}
			rep.Problems = append(rep.Problems, fmt.Sprintf("request %d (%s, %v, phases %d→%d, attempts %s): %s",
				i, kind, r.took.Round(time.Millisecond), r.phases[0], r.phases[1], strings.Join(per, " "), r.detail))
		}
	}
	if rep.Requests > 0 {
		rep.MeanTries = float64(totalTries) / float64(rep.Requests)
	}
	rep.Goroutines = goroutinesLeft(baseline)
	return rep, nil
}

// goroutinesLeft waits up to five seconds for the goroutines to fall back
// to baseline and returns how many remain above it.
func goroutinesLeft(baseline int) int {
	end := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine() - baseline
		if n <= 0 {
			return 0
		}
		if time.Now().After(end) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// requestID is the id of request i, sent as its user message so that the
// upstreams can count its attempts.
func requestID(i int) string { return "chaos-" + strconv.Itoa(i) }

// send sends request i (streamed when i is even) and classifies the
// outcome.
func send(client *http.Client, base string, i int) *result {
	stream := i%2 == 0
	body, _ := json.Marshal(map[string]any{
		"model":    "chaos-model",
		"stream":   stream,
		"messages": []map[string]string{{"role": "user", "content": requestID(i)}},
	})
	r := &result{stream: stream}
	resp, err := client.Post(base+"/v1/chat/completions", "application/json", bytes.NewReader(body))
	if err != nil {
		r.out, r.detail = classifyTransport(err)
		return r
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			r.out, r.detail = classifyTransport(err)
			return r
		}
		var env struct {
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &env) != nil || env.Error == nil || env.Error.Message == "" {
			r.out, r.detail = outLost, fmt.Sprintf("status %d without an error envelope: %.200s", resp.StatusCode, b)
			return r
		}
		r.out, r.detail = outFailed, fmt.Sprintf("status %d: %s", resp.StatusCode, env.Error.Message)
		return r
	}
	if !stream {
		var ans struct {
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		}
		b, err := io.ReadAll(resp.Body)
		switch {
		case err != nil:
			r.out, r.detail = classifyTransport(err)
		case json.Unmarshal(b, &ans) != nil || len(ans.Choices) == 0 ||
			!strings.HasPrefix(ans.Choices[0].Message.Content, "answer to "+requestID(i)+" "):
			r.out, r.detail = outLost, fmt.Sprintf("not a whole answer: %.200s", b)
		default:
			r.out = outSucceeded
		}
		return r
	}
	return readStream(resp.Body, i, r)
}

// readStream reads an SSE answer: [DONE] after the content is a success,
// an error frame a proper failure (a cut one after content), anything else
// a lost answer.
func readStream(body io.Reader, i int, r *result) *result {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var text strings.Builder
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if line == "[DONE]" {
			if !strings.HasPrefix(text.String(), "answer to "+requestID(i)+" ") {
				r.out, r.detail = outLost, fmt.Sprintf("[DONE] after a partial answer %q", text.String())
				return r
			}
			r.out = outSucceeded
			return r
		}
		var frame struct {
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
			Choices []struct {
				Delta struct {
					Content *string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(line), &frame); err != nil {
			r.out, r.detail = outLost, fmt.Sprintf("a frame that is not JSON: %.200s", line)
			return r
		}
		if frame.Error != nil {
			r.out, r.detail = outFailed, "error frame: "+frame.Error.Message
			if text.Len() > 0 {
				r.out = outCut
			}
			return r
		}
		for _, c := range frame.Choices {
			if c.Delta.Content != nil {
				text.WriteString(*c.Delta.Content)
			}
		}
	}
	if err := sc.Err(); err != nil {
		r.out, r.detail = classifyTransport(err)
		return r
	}
	r.out, r.detail = outLost, fmt.Sprintf("the stream ended without [DONE] or an error frame after %q", text.String())
	return r
}

// classifyTransport tells a hung request (the client's timeout) from a
// lost one.
func classifyTransport(err error) (outcome, string) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return outHung, "no answer within the client's timeout: " + err.Error()
	}
	return outLost, "transport error: " + err.Error()
}
