package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"
)

// harness holds what the modes share.
type harness struct {
	o    *options
	f    *fleet
	self string // this executable, re-run for the upstream and the bare proxy
	bin  string // the llmproxy binary
	tmp  string
	log  io.Writer
}

// chatPath is the path of the chat endpoint on every target.
const chatPath = "/v1/chat/completions"

// startUpstream runs the upstream subcommand.
func (h *harness) startUpstream(ctx context.Context, chunks int, delay time.Duration) (*child, error) {
	return h.f.start(ctx, "upstream", h.self, []string{"upstream", "-addr", "127.0.0.1:0",
		"-chunks", strconv.Itoa(chunks), "-delay", delay.String(), "-exit-on-stdin-eof"}, childEnv(), true, "")
}

// startBare runs the bare subcommand in front of up.
func (h *harness) startBare(ctx context.Context, up *child) (*child, error) {
	return h.f.start(ctx, "bare", h.self, []string{"bare", "-addr", "127.0.0.1:0", "-target", up.url(),
		"-exit-on-stdin-eof"}, childEnv(), true, "")
}

// progress reports what the harness is doing on its log.
func (h *harness) progress(format string, args ...any) {
	fmt.Fprintf(h.log, "llmbench: "+format+"\n", args...)
}

// closedScenario is one scenario of closed mode.
type closedScenario struct {
	name   string
	stream bool
}

// closed runs the closed-loop comparison: non-streaming, then streaming,
// each against the bare proxy and llmproxy, fresh processes per scenario.
func (h *harness) closed(ctx context.Context, out io.Writer) error {
	up, err := h.startUpstream(ctx, h.o.chunks, 0)
	if err != nil {
		return err
	}
	var rows []closedRow
	var notes []string
	for _, sc := range []closedScenario{{"non-streaming", false}, {"streaming", true}} {
		row, scNotes, err := h.runScenario(ctx, up, sc)
		if err != nil {
			return err
		}
		rows = append(rows, row)
		notes = append(notes, scNotes...)
	}
	reportClosed(out, h.o, rows, notes)
	return nil
}

// runScenario starts a bare proxy and llmproxy in front of up, measures
// both in rounds (measureInRounds) and stops them. It returns the row and
// the notes for the report.
func (h *harness) runScenario(ctx context.Context, up *child, sc closedScenario) (closedRow, []string, error) {
	row := closedRow{scenario: sc.name, stream: sc.stream}
	bare, err := h.startBare(ctx, up)
	if err != nil {
		return row, nil, err
	}
	px, logFile, err := h.f.startProxy(ctx, h.bin, h.tmp, "llmproxy", proxySetup{upstream: up.addr, maxConns: max(100, 2*h.o.conc)})
	if err != nil {
		return row, nil, err
	}
	var gens [2]*closedGen
	for i, t := range []target{{"bare", bare.url() + chatPath, bare}, {"llmproxy", px.url() + chatPath, px}} {
		if gens[i], err = newClosedGen(ctx, t, sc.stream, h.o.conc); err != nil {
			return row, nil, err
		}
		defer gens[i].close()
	}
	rounds, err := h.measureInRounds(ctx, sc.name, gens)
	if err != nil {
		return row, nil, err
	}
	row.bareRounds, row.proxyRounds = rounds[0], rounds[1]
	row.bare, row.proxy = mergeClosed(row.bareRounds), mergeClosed(row.proxyRounds)

	var notes []string
	if !row.bare.win.resetOK || !row.proxy.win.resetOK {
		notes = append(notes, "Peak RSS could not be reset after the warm-up (/proc/PID/clear_refs): it includes the warm-up.")
	}
	for _, g := range gens {
		g.close()
	}
	h.f.stop(bare)
	h.f.stop(px) // llmproxy flushes its buffered access log as it exits
	if n := countLines(logFile); n >= 0 {
		notes = append(notes, fmt.Sprintf("llmproxy's access log (%s): %d lines for %d measured answers (warm-up and lead-ins included).",
			sc.name, n, row.proxy.ok))
	}
	return row, notes, nil
}

// measureInRounds warms up both targets (gens[0] the bare proxy,
// gens[1] llmproxy), one after the other, then measures them in -rounds
// rounds. In each round each target is driven alone for d/rounds after an
// unmeasured lead-in (sliceLeadIn), in the order of roundOrder, so that a
// drift of the machine's background load weighs on both targets alike. It
// returns each target's results, one per round.
func (h *harness) measureInRounds(ctx context.Context, scenario string, gens [2]*closedGen) ([2][]*closedResult, error) {
	var res [2][]*closedResult
	for _, g := range gens {
		h.progress("%s: %s, warm-up, %d connections, %v", scenario, g.t.name, len(g.workers), h.o.warmup)
		if err := g.warmUp(ctx, h.o.warmup); err != nil {
			return res, err
		}
	}
	slice, leadIn := h.o.sliceDur(), sliceLeadIn(h.o.warmup)
	for round := range h.o.rounds {
		for _, i := range roundOrder(round) {
			g := gens[i]
			h.progress("%s: round %d/%d, %s, %v + %v lead-in", scenario, round+1, h.o.rounds, g.t.name, slice, leadIn)
			r, err := g.run(ctx, leadIn, slice)
			if err != nil {
				return res, err
			}
			res[i] = append(res[i], r)
		}
	}
	return res, nil
}

// roundOrder returns the order in which the targets of closed mode
// (0: the bare proxy, 1: llmproxy) are driven in a round, counted from 0:
// the bare proxy first in even rounds and llmproxy first in odd ones. Over
// the rounds this is ABBA order (bare, llmproxy, llmproxy, bare, …), in
// which a load that rises or falls steadily favours neither target.
func roundOrder(round int) [2]int {
	if round%2 == 0 {
		return [2]int{0, 1}
	}
	return [2]int{1, 0}
}

// sliceLeadIn is the unmeasured time at the start of each slice of closed
// mode: the connections are busy again when the measurement starts, as
// they are after the warm-up, so that each slice is measured in the steady
// state and a connection the server closed while it was idle is re-dialled
// before it counts. It is 100 ms, or the warm-up if that is shorter.
func sliceLeadIn(warmup time.Duration) time.Duration {
	return min(warmup, 100*time.Millisecond)
}

// overload measures llmproxy's capacity in a closed loop, then sends a
// constant arrival rate of factor × capacity for d, once with max_inflight
// and once without. Each of the three runs has its own llmproxy process:
// the capacity run's has no max_inflight, so that no request of the closed
// loop is shed however many connections it has.
func (h *harness) overload(ctx context.Context, out io.Writer) error {
	up, err := h.startUpstream(ctx, h.o.chunks, 0)
	if err != nil {
		return err
	}
	capacity, err := h.measureCapacity(ctx, up)
	if err != nil {
		return err
	}
	rate := h.o.factor * capacity.rps()
	limited, err := h.overloadRun(ctx, up, h.o.maxInflight, rate)
	if err != nil {
		return err
	}
	var unlimited *openResult
	if !h.o.noUnlimited {
		if unlimited, err = h.overloadRun(ctx, up, 0, rate); err != nil {
			return err
		}
	}
	reportOverload(out, h.o, capacity, limited, unlimited, h.o.maxInflight)
	return nil
}

// overloadMaxConns is the provider's max_connections of overload mode's
// llmproxy processes.
func (h *harness) overloadMaxConns() int { return max(100, 2*h.o.conc) }

// measureCapacity runs a closed loop of -c connections, non-streaming,
// against a fresh llmproxy without max_inflight, for d after the warm-up,
// and returns its result.
func (h *harness) measureCapacity(ctx context.Context, up *child) (*closedResult, error) {
	px, _, err := h.f.startProxy(ctx, h.bin, h.tmp, "llmproxy-capacity", proxySetup{upstream: up.addr, maxConns: h.overloadMaxConns()})
	if err != nil {
		return nil, err
	}
	defer h.f.stop(px)
	t := target{"llmproxy", px.url() + chatPath, px}
	h.progress("capacity: llmproxy (no max_inflight), closed loop, %d connections, %v + %v warm-up", h.o.conc, h.o.dur, h.o.warmup)
	capacity, err := closedLoop(ctx, t, false, h.o.conc, h.o.warmup, h.o.dur)
	if err != nil {
		return nil, err
	}
	if capacity.ok == 0 {
		return nil, fmt.Errorf("llmproxy served nothing in the capacity run: %s", capacity.firstErr)
	}
	return capacity, nil
}

// overloadRun starts a fresh llmproxy with maxInflight (0: no limit),
// warms it up in a closed loop at capacity for the warm-up time, then sends
// rate requests per second for d (openLoop) and returns the result. The
// warm-up uses -c connections, or maxInflight if that is fewer, so that
// the warm-up's requests are served rather than shed.
func (h *harness) overloadRun(ctx context.Context, up *child, maxInflight int, rate float64) (*openResult, error) {
	name, limit := "llmproxy-unlimited", "without max_inflight"
	if maxInflight > 0 {
		name, limit = "llmproxy-limited", fmt.Sprintf("with max_inflight %d", maxInflight)
	}
	px, _, err := h.f.startProxy(ctx, h.bin, h.tmp, name, proxySetup{upstream: up.addr, maxInflight: maxInflight, maxConns: h.overloadMaxConns()})
	if err != nil {
		return nil, err
	}
	defer h.f.stop(px)
	t := target{"llmproxy", px.url() + chatPath, px}
	warmConns := h.o.conc
	if maxInflight > 0 {
		warmConns = min(warmConns, maxInflight)
	}
	h.progress("overload: %.0f req/s for %v %s (after a %v warm-up, %d connections)", rate, h.o.dur, limit, h.o.warmup, warmConns)
	if _, err := closedLoop(ctx, t, false, warmConns, h.o.warmup, 0); err != nil {
		return nil, err
	}
	return openLoop(ctx, t, rate, h.o.dur, h.o.overloadConns, h.o.maxOutstanding)
}

// manyStreams holds -streams streams open at once against a slow upstream,
// directly, through the bare proxy and through llmproxy.
func (h *harness) manyStreams(ctx context.Context, out io.Writer) error {
	up, err := h.startUpstream(ctx, h.o.slowChunks, h.o.slowDelay)
	if err != nil {
		return err
	}
	bare, err := h.startBare(ctx, up)
	if err != nil {
		return err
	}
	px, _, err := h.f.startProxy(ctx, h.bin, h.tmp, "llmproxy", proxySetup{upstream: up.addr, maxConns: h.o.streams + 100})
	if err != nil {
		return err
	}
	streamTime := time.Duration(h.o.slowChunks) * h.o.slowDelay
	bound := h.o.ramp + 3*streamTime + time.Minute
	var res [3]*streamsResult
	for i, t := range []target{
		{"direct", up.url() + chatPath, nil},
		{"bare", bare.url() + chatPath, bare},
		{"llmproxy", px.url() + chatPath, px},
	} {
		h.progress("streams: %d streams via %s (%v each)", h.o.streams, t.name, streamTime)
		if res[i], err = manyStreams(ctx, t, h.o.streams, h.o.ramp, bound); err != nil {
			return err
		}
	}
	reportStreams(out, h.o, res[0], res[1], res[2])
	return nil
}
