package main

import (
	"context"
	"crypto/tls"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The request every client sends, to every target: a small chat request.
// The streamed one asks for the usage chunk, so that the proxy passes it
// upstream unchanged, as the bare proxy does.
var (
	chatBody = []byte(`{"model":"` + benchModel + `","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":64,"temperature":0}`)
	// The Messages front's requests: the same prompt.
	messagesBody       = []byte(`{"model":"` + benchClaudeModel + `","system":"You are a helpful assistant.","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":64,"temperature":0}`)
	messagesStreamBody = []byte(`{"model":"` + benchClaudeModel + `","system":"You are a helpful assistant.","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":64,"temperature":0,"stream":true}`)
	streamBody         = []byte(`{"model":"` + benchModel + `","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":64,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}`)
)

// target is what a load runs against: a URL, the process whose CPU time
// and peak RSS are measured (nil: none) and, for an https URL, the TLS
// configuration of the load generator's connections.
type target struct {
	name string
	url  string // full URL of the chat endpoint
	proc *child
	tls  *tls.Config
}

// window measures a process over a time window: CPU ticks and peak RSS.
// In a result merged from slices (mergeClosed), cpu and duration are the
// sums over the slices and peak the highest of their peaks.
type window struct {
	pid      int
	cpu0     int64
	cpu      int64 // ticks used in the window
	peak     int64 // bytes
	resetOK  bool
	err      error
	start    time.Time
	duration time.Duration
}

// begin starts the window: it resets the peak RSS and reads the CPU time.
func (w *window) begin(p *child) {
	w.start = time.Now()
	if p == nil {
		return
	}
	w.pid = p.pid()
	w.resetOK = resetPeakRSS(w.pid)
	w.cpu0, w.err = cpuTicks(w.pid)
}

// end closes the window: CPU time used since begin and peak RSS.
func (w *window) end() {
	w.duration = time.Since(w.start)
	if w.pid == 0 || w.err != nil {
		return
	}
	var cpu1 int64
	cpu1, w.err = cpuTicks(w.pid)
	w.cpu = cpu1 - w.cpu0
	if w.err == nil {
		w.peak, w.err = peakRSS(w.pid)
	}
}

// closedResult is the result of a closed-loop run.
type closedResult struct {
	ok       int // 200 answers completed in the window
	errors   int // failures and other statuses completed in the window
	lat      []time.Duration
	ttft     []time.Duration
	win      window
	firstErr string
}

// rps is the rate of good answers in the window.
func (r *closedResult) rps() float64 { return float64(r.ok) / r.win.duration.Seconds() }

// cpuPerReq is the measured process's CPU time per good answer, in µs.
func (r *closedResult) cpuPerReq() float64 {
	if r.ok == 0 {
		return math.NaN()
	}
	return ticksToMicros(r.win.cpu) / float64(r.ok)
}

// closedLoop runs conc clients that each send a request as soon as their
// previous one is answered, for warmup and then for dur, on fresh
// connections that it closes at the end. Only the answers completed within
// dur count; the target process is measured over dur.
func closedLoop(ctx context.Context, t target, stream bool, conc int, warmup, dur time.Duration) (*closedResult, error) {
	g, err := newClosedGen(ctx, t, stream, conc)
	if err != nil {
		return nil, err
	}
	defer g.close()
	return g.run(ctx, warmup, dur)
}

// closedGen is a closed-loop load generator for one target: conc clients,
// each with its own keep-alive connection. The connections stay open from
// one run to the next, so that a target driven in slices, turn about with
// another, keeps the same warm connections.
type closedGen struct {
	t       target
	stream  bool
	req     []byte
	workers []*worker
}

// newClosedGen prepares a generator of conc clients for t; they dial on
// their first request. Its connections close when ctx ends or on close.
func newClosedGen(ctx context.Context, t target, stream bool, conc int) (*closedGen, error) {
	body := chatBody
	switch {
	case strings.HasSuffix(t.url, messagesPath) && stream:
		body = messagesStreamBody
	case strings.HasSuffix(t.url, messagesPath):
		body = messagesBody
	case stream:
		body = streamBody
	}
	req, addr, err := rawRequest(t.url, body)
	if err != nil {
		return nil, err
	}
	g := &closedGen{t: t, stream: stream, req: req}
	for range conc {
		g.workers = append(g.workers, &worker{ctx: ctx, addr: addr, tls: t.tls})
	}
	return g, nil
}

// close closes the generator's connections; call it when no run is going.
func (g *closedGen) close() {
	for _, w := range g.workers {
		w.close()
	}
}

// warmUp drives the target for d and measures nothing.
func (g *closedGen) warmUp(ctx context.Context, d time.Duration) error {
	_, err := g.run(ctx, d, 0)
	return err
}

// run drives the target with every client, each sending a request as soon
// as its previous one is answered, for leadIn and then for dur. Only the
// answers completed within dur count; the target process is measured over
// dur. Each client first drops its connection if the server closed it
// while it was idle.
func (g *closedGen) run(ctx context.Context, leadIn, dur time.Duration) (*closedResult, error) {
	ctx, cancel := context.WithTimeout(ctx, leadIn+dur+requestTimeout)
	defer cancel()

	res := &closedResult{}
	mStart := time.Now().Add(leadIn)
	mEnd := mStart.Add(dur)
	winDone := make(chan struct{})
	go func() {
		defer close(winDone)
		if !sleepUntil(ctx, mStart) {
			return
		}
		res.win.begin(g.t.proc)
		if sleepUntil(ctx, mEnd) {
			res.win.end()
		}
	}()

	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, w := range g.workers {
		wg.Go(func() {
			w.dropIfClosed()
			var lat, ttft []time.Duration
			ok, bad := 0, 0
			firstErr := ""
			for ctx.Err() == nil && time.Now().Before(mEnd) {
				o := w.send(g.req, g.stream, nil)
				now := time.Now()
				if now.Before(mStart) {
					continue
				}
				if now.After(mEnd) {
					break
				}
				if o.err == nil && o.status == http.StatusOK {
					ok++
					lat = append(lat, o.latency)
					if g.stream {
						ttft = append(ttft, o.ttft)
					}
					continue
				}
				bad++
				if firstErr == "" {
					firstErr = describe(o)
				}
			}
			mu.Lock()
			res.ok += ok
			res.errors += bad
			res.lat = append(res.lat, lat...)
			res.ttft = append(res.ttft, ttft...)
			if res.firstErr == "" {
				res.firstErr = firstErr
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	<-winDone
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if res.win.err != nil {
		return nil, res.win.err
	}
	slices.Sort(res.lat)
	slices.Sort(res.ttft)
	return res, nil
}

// mergeClosed merges the results of one target's measured slices into one
// result over the whole measured time: the answers, errors, CPU ticks and
// measured durations add up, the latencies and times to the first chunk of
// all slices are pooled (sorted, so that percentiles are over every
// sample), the peak RSS is the highest of the slices' peaks and the peak
// counts as reset only if it was reset in every slice. The first error is
// the first slice's that has one. The slices are not modified.
func mergeClosed(parts []*closedResult) *closedResult {
	m := &closedResult{win: window{resetOK: len(parts) > 0}}
	for _, s := range parts {
		m.ok += s.ok
		m.errors += s.errors
		m.lat = append(m.lat, s.lat...)
		m.ttft = append(m.ttft, s.ttft...)
		if m.firstErr == "" {
			m.firstErr = s.firstErr
		}
		if m.win.pid == 0 {
			m.win.pid = s.win.pid
		}
		m.win.cpu += s.win.cpu
		m.win.duration += s.win.duration
		m.win.peak = max(m.win.peak, s.win.peak)
		m.win.resetOK = m.win.resetOK && s.win.resetOK
	}
	slices.Sort(m.lat)
	slices.Sort(m.ttft)
	return m
}

// describe words a failed outcome.
func describe(o outcome) string {
	if o.err != nil {
		return o.err.Error()
	}
	return "HTTP " + strconv.Itoa(o.status)
}

// sleepUntil waits until t and reports whether ctx is still live.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// openResult is the result of a constant-arrival-rate run.
type openResult struct {
	offered     float64 // requests per second scheduled
	scheduled   int
	admitted    []time.Duration // latencies of 200 answers, from their scheduled time
	admSent     []time.Duration // latencies of 200 answers, from their sending
	shed        []time.Duration // latencies of 503 answers, from their scheduled time
	shedValid   int             // 503 answers with Retry-After and code "overloaded"
	errors      int             // failures and other statuses
	notSent     int             // not sent: maxOutstanding requests were already open or waiting
	win         window
	firstErr    string
	sendElapsed time.Duration
}

// openLoop sends requests at a constant rate for dur, whatever the answers:
// a slow answer does not delay the next request. The requests share a pool
// of conns connections, as the clients behind a load balancer would; a
// request that finds them all busy waits for one. Latency counts from each
// request's scheduled time, so that a client that falls behind does not
// hide the queueing, and also from the moment it was sent. At most
// maxOutstanding requests are open or waiting at once, to bound the
// harness; requests over it are counted as not sent.
func openLoop(ctx context.Context, t target, rate float64, dur time.Duration, conns, maxOutstanding int) (*openResult, error) {
	req, addr, err := rawRequest(t.url, chatBody)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, dur+requestTimeout)
	defer cancel()
	p := newPool(rctx, addr, t.tls, conns)
	defer p.closeAll()

	res := &openResult{offered: rate}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var outstanding atomic.Int64
	interval := time.Duration(float64(time.Second) / rate)
	res.win.begin(t.proc)
	t0 := res.win.start
	for i := 0; ; i++ {
		due := t0.Add(time.Duration(i) * interval)
		if due.Sub(t0) >= dur || ctx.Err() != nil {
			break
		}
		if !sleepUntil(ctx, due) {
			break
		}
		res.scheduled++
		if outstanding.Add(1) > int64(maxOutstanding) {
			outstanding.Add(-1)
			res.notSent++
			continue
		}
		wg.Go(func() {
			defer outstanding.Add(-1)
			w := p.get(rctx)
			if w == nil {
				return
			}
			o := w.send(req, false, nil)
			p.put(w)
			end := time.Now()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case o.err == nil && o.status == http.StatusOK:
				res.admitted = append(res.admitted, end.Sub(due))
				res.admSent = append(res.admSent, end.Sub(o.sent))
			case o.err == nil && o.status == http.StatusServiceUnavailable:
				res.shed = append(res.shed, end.Sub(due))
				if o.overloaded && o.retryAfter != "" {
					res.shedValid++
				}
			default:
				res.errors++
				if res.firstErr == "" {
					res.firstErr = describe(o)
				}
			}
		})
	}
	res.sendElapsed = time.Since(t0)
	wg.Wait()
	res.win.end()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if res.win.err != nil {
		return nil, res.win.err
	}
	slices.Sort(res.admitted)
	slices.Sort(res.admSent)
	slices.Sort(res.shed)
	return res, nil
}

// streamsResult is the result of holding many streams open at once.
type streamsResult struct {
	streams  int // streams that ended with [DONE]
	errors   int
	maxOpen  int64
	ttft     []time.Duration
	chunkLag []time.Duration // upstream write to client read, per chunk
	win      window
	firstErr string
}

// cpuPerStream is the measured process's CPU time per stream, in µs.
func (r *streamsResult) cpuPerStream() float64 {
	if r.streams == 0 || r.win.pid == 0 {
		return math.NaN()
	}
	return ticksToMicros(r.win.cpu) / float64(r.streams)
}

// manyStreams opens n streams against t, their starts spread evenly over
// ramp, and reads each to its end, recording the time to the first content
// chunk and each chunk's delay from the upstream's write to the client's
// read.
func manyStreams(ctx context.Context, t target, n int, ramp, bound time.Duration) (*streamsResult, error) {
	req, addr, err := rawRequest(t.url, streamBody)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	res := &streamsResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var open, maxOpen atomic.Int64
	res.win.begin(t.proc)
	t0 := res.win.start
	for i := range n {
		start := t0.Add(time.Duration(i) * ramp / time.Duration(n))
		wg.Go(func() {
			if !sleepUntil(rctx, start) {
				return
			}
			if v := open.Add(1); v > maxOpen.Load() {
				for {
					m := maxOpen.Load()
					if v <= m || maxOpen.CompareAndSwap(m, v) {
						break
					}
				}
			}
			defer open.Add(-1)
			w := &worker{ctx: rctx, addr: addr, tls: t.tls}
			defer w.close()
			var lags []time.Duration
			o := w.send(req, true, func(sentNs int64, now time.Time) {
				lags = append(lags, time.Duration(now.UnixNano()-sentNs))
			})
			mu.Lock()
			defer mu.Unlock()
			if o.err != nil || o.status != http.StatusOK {
				res.errors++
				if res.firstErr == "" {
					res.firstErr = describe(o)
				}
				return
			}
			res.streams++
			res.ttft = append(res.ttft, o.ttft)
			res.chunkLag = append(res.chunkLag, lags...)
		})
	}
	wg.Wait()
	res.win.end()
	res.maxOpen = maxOpen.Load()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if res.win.err != nil {
		return nil, res.win.err
	}
	slices.Sort(res.ttft)
	slices.Sort(res.chunkLag)
	return res, nil
}

// percentile returns the q-quantile (0 < q <= 1) of sorted durations, or
// -1 when there are none.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return -1
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
