package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machine describes where the numbers were measured: CPUs, CPU model,
// kernel and Go version.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := runtime.GOOS
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = "Linux " + string(bytes.TrimSpace(b))
	}
	return fmt.Sprintf("%s, nproc %d, %s, %s %s/%s, load average %s at the start", model, runtime.NumCPU(), kernel,
		runtime.Version(), runtime.GOOS, runtime.GOARCH, startLoad)
}

// startLoad is the 1-minute load average when the harness started.
var startLoad = "unknown"

// loadAverage returns the 1-minute load average of the machine, or -1.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// ms formats a duration in milliseconds; a negative one (no data) is "—".
func ms(d time.Duration) string {
	if d < 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}

// mb formats bytes in MB (2^20); 0 (not measured) is "—".
func mb(b int64) string {
	if b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f", float64(b)/(1<<20))
}

// num formats a float with digits decimals; NaN is "—".
func num(f float64, digits int) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "—"
	}
	return fmt.Sprintf("%.*f", digits, f)
}

// ratio formats a/b as "1.23×".
func ratio(a, b float64) string {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// ratioD is ratio for durations; no data is "—".
func ratioD(a, b time.Duration) string {
	if a < 0 || b <= 0 {
		return "—"
	}
	return ratio(float64(a), float64(b))
}

// added formats a - b in milliseconds with a sign.
func added(a, b time.Duration) string {
	if a < 0 || b < 0 {
		return "—"
	}
	return fmt.Sprintf("%+.2f", float64(a-b)/float64(time.Millisecond))
}

// yesNo words whether a target holds.
func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// table writes a markdown table.
type table struct {
	w      io.Writer
	header []string
	left   int // leading columns aligned left; the others are numbers
	rows   [][]string
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) flush() {
	fmt.Fprintln(t.w, "| "+strings.Join(t.header, " | ")+" |")
	seps := make([]string, len(t.header))
	for i := range seps {
		seps[i] = "---"
		if i >= max(t.left, 1) {
			seps[i] = "--:"
		}
	}
	fmt.Fprintln(t.w, "| "+strings.Join(seps, " | ")+" |")
	for _, r := range t.rows {
		fmt.Fprintln(t.w, "| "+strings.Join(r, " | ")+" |")
	}
	fmt.Fprintln(t.w)
}

// upstreamLine words how the proxies reach the upstream.
func upstreamLine(o *options) string {
	if o.tls {
		return "Upstream: HTTPS with a self-signed ECDSA P-256 certificate made at start, HTTP/2 and HTTP/1.1 offered by ALPN; " +
			"both proxies trust it through SSL_CERT_FILE and must reach it over HTTP/2."
	}
	return "Upstream: plain HTTP (HTTP/1.1)."
}

// closedRow is one scenario of the closed-loop table: each target's
// results round by round, and merged over the rounds.
type closedRow struct {
	scenario    string
	stream      bool
	bare        *closedResult // merged over bareRounds
	proxy       *closedResult // merged over proxyRounds
	bareRounds  []*closedResult
	proxyRounds []*closedResult
	// The requests the upstream served while each target was driven
	// (warm-ups and lead-ins included), by HTTP version.
	bareProtos, proxyProtos protoCounts
}

// roundsLine words llmproxy's CPU per request over the bare proxy's in
// each round of a scenario, e.g. "streaming: CPU/request llmproxy/bare per
// round: 1.08×, 1.12×", so that the spread of the ratio shows. A round in
// which either target answered nothing is "—".
func roundsLine(scenario string, bare, proxy []*closedResult) string {
	cells := make([]string, min(len(bare), len(proxy)))
	for i := range cells {
		cells[i] = ratio(proxy[i].cpuPerReq(), bare[i].cpuPerReq())
	}
	return scenario + ": CPU/request llmproxy/bare per round: " + strings.Join(cells, ", ")
}

// reportClosed writes the closed-loop table with the ratios proxy/bare and
// the targets.
func reportClosed(w io.Writer, o *options, rows []closedRow, notes []string) {
	fmt.Fprintf(w, "### llmproxy against a bare httputil.ReverseProxy (closed loop)\n\n")
	fmt.Fprintf(w, "Machine: %s.  \n", machine())
	fmt.Fprintf(w, "%s  \n", upstreamLine(o))
	fmt.Fprintf(w, "Load: closed loop, %d connections, %v per row after a %v warm-up, the same small chat request for every row; "+
		"the upstream answers a %d-token completion, or a stream of %d content chunks with no delay; all processes on 127.0.0.1.  \n",
		o.conc, o.dur, o.warmup, len(words), o.chunks)
	fmt.Fprintf(w, "Rounds: after both warm-ups, each row's %v is measured in %d slices of %v, one per round, "+
		"the bare proxy and llmproxy driven in turn, one at a time, in ABBA order (bare first in odd rounds, llmproxy first in even ones), "+
		"each slice after a %v lead-in that is not measured; a row pools its slices' answers, latencies and CPU time, "+
		"and its peak RSS is the highest of its slices'.  \n",
		o.dur, o.rounds, o.sliceDur(), sliceLeadIn(o.warmup))
	fmt.Fprintf(w, "llmproxy: client auth, rate limit (on, never reached), metrics and the access log to a file. "+
		"CPU is the measured process's utime+stime per answer; peak RSS is its VmHWM over a slice, reset at its start.\n\n")
	t := &table{w: w, left: 2, header: []string{"scenario", "target", "req/s", "p50 ms", "p99 ms", "TTFT p50 ms",
		"CPU µs/req", "peak RSS MB", "errors"}}
	for _, r := range rows {
		for _, x := range []struct {
			name string
			res  *closedResult
		}{{"bare", r.bare}, {"llmproxy", r.proxy}} {
			ttft := "—"
			if r.stream {
				ttft = ms(percentile(x.res.ttft, 0.5))
			}
			t.row(r.scenario, x.name, num(x.res.rps(), 0), ms(percentile(x.res.lat, 0.5)), ms(percentile(x.res.lat, 0.99)),
				ttft, num(x.res.cpuPerReq(), 1), mb(x.res.win.peak), fmt.Sprint(x.res.errors))
		}
		ttft := "—"
		if r.stream {
			ttft = ratioD(percentile(r.proxy.ttft, 0.5), percentile(r.bare.ttft, 0.5))
		}
		t.row(r.scenario, "**llmproxy / bare**", ratio(r.proxy.rps(), r.bare.rps()),
			ratioD(percentile(r.proxy.lat, 0.5), percentile(r.bare.lat, 0.5)),
			ratioD(percentile(r.proxy.lat, 0.99), percentile(r.bare.lat, 0.99)), ttft,
			ratio(r.proxy.cpuPerReq(), r.bare.cpuPerReq()),
			ratio(float64(r.proxy.win.peak), float64(r.bare.win.peak)), "")
	}
	t.flush()
	for _, r := range rows {
		fmt.Fprintln(w, roundsLine(r.scenario, r.bareRounds, r.proxyRounds)+"  ")
	}
	fmt.Fprintln(w)

	tg := &table{w: w, left: 3, header: []string{"target", "measured", "holds"}}
	chat := map[bool]closedRow{} // the chat rows, by stream
	for _, r := range rows {
		cpu := r.proxy.cpuPerReq() / r.bare.cpuPerReq()
		if messages, ok := strings.CutPrefix(r.scenario, "messages "); ok {
			// The Messages front's pass-through against the chat
			// pass-through of the same kind.
			if c, ok := chat[r.stream]; ok {
				vs := r.proxy.cpuPerReq() / c.proxy.cpuPerReq()
				tg.row("/v1/messages pass-through "+messages+" CPU/request ≤ 1.1× chat's", fmt.Sprintf("%.2f×", vs), yesNo(vs <= 1.1))
			}
			continue
		}
		chat[r.stream] = r
		if !r.stream {
			rps := r.proxy.rps() / r.bare.rps()
			tg.row("non-streaming CPU/request ≤ 1.0× bare", fmt.Sprintf("%.2f×", cpu), yesNo(cpu <= 1.0))
			tg.row("non-streaming req/s ≥ 1.0× bare", fmt.Sprintf("%.2f×", rps), yesNo(rps >= 1.0))
			tg.row(fmt.Sprintf("peak RSS ≤ 40 MB under %d connections", o.conc), mb(r.proxy.win.peak)+" MB",
				yesNo(r.proxy.win.peak <= 40<<20))
		} else {
			tg.row("streaming CPU/request ≤ 1.1× bare", fmt.Sprintf("%.2f×", cpu), yesNo(cpu <= 1.1))
		}
	}
	tg.flush()
	for _, r := range rows {
		for _, x := range []struct {
			name string
			res  *closedResult
		}{{"bare", r.bare}, {"llmproxy", r.proxy}} {
			if x.res.firstErr != "" {
				fmt.Fprintf(w, "First error of %s %s: %s.  \n", r.scenario, x.name, x.res.firstErr)
			}
		}
	}
	for _, n := range notes {
		fmt.Fprintln(w, n+"  ")
	}
	fmt.Fprintln(w)
}

// reportOverload writes the overload table.
func reportOverload(w io.Writer, o *options, capacity *closedResult, limited, unlimited *openResult, maxInflight int) {
	fmt.Fprintf(w, "### llmproxy under overload (constant arrival rate)\n\n")
	fmt.Fprintf(w, "Machine: %s.  \n", machine())
	fmt.Fprintf(w, "%s  \n", upstreamLine(o))
	fmt.Fprintf(w, "Capacity: closed loop, %d connections, %v after a %v warm-up (non-streaming), against an llmproxy without max_inflight. "+
		"Overload: a fresh llmproxy per row, warmed up for %v in a closed loop, then requests sent at %.1f× the capacity for %v, whatever the answers; "+
		"latency counts from each request's scheduled time "+
		"(waits for a client connection included), and, in the \"from send\" column, from the moment it was written to the proxy. "+
		"The client has %d connections; at most %d requests are open or waiting for one at the client; more are counted as not sent.\n\n",
		o.conc, o.dur, o.warmup, o.warmup, o.factor, o.dur, o.overloadConns, o.maxOutstanding)
	t := &table{w: w, header: []string{"phase", "offered req/s", "200 req/s", "503 shed", "errors", "not sent",
		"admitted p50 ms", "admitted p99 ms", "admitted p99 from send ms", "503 p99 ms", "CPU µs/answer", "peak RSS MB"}}
	t.row(fmt.Sprintf("capacity (closed loop, %d conns, no max_inflight)", o.conc), "—", num(capacity.rps(), 0), "0",
		fmt.Sprint(capacity.errors), "0", ms(percentile(capacity.lat, 0.5)), ms(percentile(capacity.lat, 0.99)),
		ms(percentile(capacity.lat, 0.99)), "—", num(capacity.cpuPerReq(), 1), mb(capacity.win.peak))
	rowOf := func(name string, r *openResult) {
		answers := len(r.admitted) + len(r.shed)
		cpu := math.NaN()
		if answers > 0 {
			cpu = ticksToMicros(r.win.cpu) / float64(answers)
		}
		t.row(name, num(r.offered, 0), num(float64(len(r.admitted))/r.sendElapsed.Seconds(), 0),
			fmt.Sprint(len(r.shed)), fmt.Sprint(r.errors), fmt.Sprint(r.notSent),
			ms(percentile(r.admitted, 0.5)), ms(percentile(r.admitted, 0.99)), ms(percentile(r.admSent, 0.99)),
			ms(percentile(r.shed, 0.99)),
			num(cpu, 1), mb(r.win.peak))
	}
	rowOf(fmt.Sprintf("%.1f× capacity, max_inflight %d", o.factor, maxInflight), limited)
	if unlimited != nil {
		rowOf(fmt.Sprintf("%.1f× capacity, no max_inflight", o.factor), unlimited)
	}
	t.flush()

	capP99 := percentile(capacity.lat, 0.99)
	admP99 := percentile(limited.admitted, 0.99)
	sentP99 := percentile(limited.admSent, 0.99)
	tg := &table{w: w, left: 3, header: []string{"target", "measured", "holds"}}
	tg.row(fmt.Sprintf("admitted p99 at %.1f× capacity ≤ 2× p99 at capacity (from schedule)", o.factor),
		ratioD(admP99, capP99)+" ("+ms(admP99)+" ms vs "+ms(capP99)+" ms)", yesNo(admP99 >= 0 && admP99 <= 2*capP99))
	tg.row(fmt.Sprintf("admitted p99 at %.1f× capacity ≤ 2× p99 at capacity (from send)", o.factor),
		ratioD(sentP99, capP99)+" ("+ms(sentP99)+" ms vs "+ms(capP99)+" ms)", yesNo(sentP99 >= 0 && sentP99 <= 2*capP99))
	tg.row("what is not served is shed with 503, Retry-After and code overloaded",
		fmt.Sprintf("%d of %d 503s", limited.shedValid, len(limited.shed)),
		yesNo(len(limited.shed) > 0 && limited.shedValid == len(limited.shed)))
	tg.row("memory stays bounded (peak RSS, overload vs capacity)",
		mb(limited.win.peak)+" MB vs "+mb(capacity.win.peak)+" MB", "see table")
	tg.flush()
	for _, x := range []struct {
		name string
		err  string
	}{{"capacity", capacity.firstErr}, {"limited", limited.firstErr}} {
		if x.err != "" {
			fmt.Fprintf(w, "First error (%s): %s.  \n", x.name, x.err)
		}
	}
	if unlimited != nil && unlimited.firstErr != "" {
		fmt.Fprintf(w, "First error (no max_inflight): %s.  \n", unlimited.firstErr)
	}
	fmt.Fprintln(w)
}

// reportStreams writes the open-streams table.
func reportStreams(w io.Writer, o *options, direct, bare, proxy *streamsResult) {
	fmt.Fprintf(w, "### %d concurrent open streams (slow upstream)\n\n", o.streams)
	fmt.Fprintf(w, "Machine: %s.  \n", machine())
	fmt.Fprintf(w, "%s  \n", upstreamLine(o))
	fmt.Fprintf(w, "Each stream: a role chunk, then %d content chunks %v apart, a finish chunk, a usage chunk and [DONE]; "+
		"%d streams started evenly over %v, so that all are open at once. TTFT is the time to the first content chunk; "+
		"chunk delay is the time from the upstream's write of a content chunk to the client's read of it. "+
		"Peak RSS and CPU are those of the process in the middle.\n\n",
		o.slowChunks, o.slowDelay, o.streams, o.ramp)
	t := &table{w: w, header: []string{"path", "streams ok", "max open", "TTFT p50 ms", "TTFT p99 ms",
		"chunk delay p50 ms", "chunk delay p99 ms", "CPU µs/stream", "peak RSS MB", "errors"}}
	rowOf := func(name string, r *streamsResult) {
		t.row(name, fmt.Sprint(r.streams), fmt.Sprint(r.maxOpen), ms(percentile(r.ttft, 0.5)), ms(percentile(r.ttft, 0.99)),
			ms(percentile(r.chunkLag, 0.5)), ms(percentile(r.chunkLag, 0.99)), num(r.cpuPerStream(), 0), mb(r.win.peak),
			fmt.Sprint(r.errors))
	}
	rowOf("direct to the upstream", direct)
	rowOf("bare ReverseProxy", bare)
	rowOf("llmproxy", proxy)
	addedRow := func(name string, r *streamsResult) {
		t.row(name, "", "", added(percentile(r.ttft, 0.5), percentile(direct.ttft, 0.5)),
			added(percentile(r.ttft, 0.99), percentile(direct.ttft, 0.99)),
			added(percentile(r.chunkLag, 0.5), percentile(direct.chunkLag, 0.5)),
			added(percentile(r.chunkLag, 0.99), percentile(direct.chunkLag, 0.99)), "", "", "")
	}
	addedRow("**added by bare**", bare)
	addedRow("**added by llmproxy**", proxy)
	t.flush()
	tg := &table{w: w, left: 3, header: []string{"target", "measured", "holds"}}
	tg.row(fmt.Sprintf("peak RSS ≤ 150 MB with %d open streams", o.streams), mb(proxy.win.peak)+" MB",
		yesNo(proxy.win.peak <= 150<<20 && proxy.maxOpen >= int64(o.streams)))
	tg.flush()
	for _, x := range []struct {
		name string
		r    *streamsResult
	}{{"direct", direct}, {"bare", bare}, {"llmproxy", proxy}} {
		if x.r.firstErr != "" {
			fmt.Fprintf(w, "First error (%s): %s.  \n", x.name, x.r.firstErr)
		}
	}
	fmt.Fprintln(w)
}
