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

// closed runs the closed-loop comparison: non-streaming, then streaming,
// each against the bare proxy and llmproxy, fresh processes per scenario.
func (h *harness) closed(ctx context.Context, out io.Writer) error {
	up, err := h.startUpstream(ctx, h.o.chunks, 0)
	if err != nil {
		return err
	}
	var rows []closedRow
	var notes []string
	for _, sc := range []struct {
		name   string
		stream bool
	}{{"non-streaming", false}, {"streaming", true}} {
		bare, err := h.startBare(ctx, up)
		if err != nil {
			return err
		}
		px, logFile, err := h.f.startProxy(ctx, h.bin, h.tmp, "llmproxy", proxySetup{upstream: up.addr, maxConns: max(100, 2*h.o.conc)})
		if err != nil {
			return err
		}
		row := closedRow{scenario: sc.name, stream: sc.stream}
		h.progress("%s: bare, %d connections, %v + %v warm-up", sc.name, h.o.conc, h.o.dur, h.o.warmup)
		if row.bare, err = closedLoop(ctx, target{"bare", bare.url() + chatPath, bare}, sc.stream, h.o.conc, h.o.warmup, h.o.dur); err != nil {
			return err
		}
		h.progress("%s: llmproxy, %d connections, %v + %v warm-up", sc.name, h.o.conc, h.o.dur, h.o.warmup)
		if row.proxy, err = closedLoop(ctx, target{"llmproxy", px.url() + chatPath, px}, sc.stream, h.o.conc, h.o.warmup, h.o.dur); err != nil {
			return err
		}
		if !row.bare.win.resetOK || !row.proxy.win.resetOK {
			notes = append(notes, "Peak RSS could not be reset after the warm-up (/proc/PID/clear_refs): it includes the warm-up.")
		}
		h.f.stop(bare)
		h.f.stop(px) // llmproxy flushes its buffered access log as it exits
		if n := countLines(logFile); n >= 0 {
			notes = append(notes, fmt.Sprintf("llmproxy's access log (%s): %d lines for %d measured answers (warm-up included).",
				sc.name, n, row.proxy.ok))
		}
		rows = append(rows, row)
	}
	reportClosed(out, h.o, rows, notes)
	return nil
}

// overload measures llmproxy's capacity in a closed loop, then sends a
// constant arrival rate of factor × capacity for d, once with max_inflight
// and once without.
func (h *harness) overload(ctx context.Context, out io.Writer) error {
	up, err := h.startUpstream(ctx, h.o.chunks, 0)
	if err != nil {
		return err
	}
	maxConns := max(100, 2*h.o.conc)
	px, _, err := h.f.startProxy(ctx, h.bin, h.tmp, "llmproxy", proxySetup{upstream: up.addr, maxInflight: h.o.maxInflight, maxConns: maxConns})
	if err != nil {
		return err
	}
	t := target{"llmproxy", px.url() + chatPath, px}
	h.progress("capacity: llmproxy (max_inflight %d), closed loop, %d connections, %v + %v warm-up", h.o.maxInflight, h.o.conc, h.o.dur, h.o.warmup)
	capacity, err := closedLoop(ctx, t, false, h.o.conc, h.o.warmup, h.o.dur)
	if err != nil {
		return err
	}
	if capacity.ok == 0 {
		return fmt.Errorf("llmproxy served nothing in the capacity run: %s", capacity.firstErr)
	}
	rate := h.o.factor * capacity.rps()
	h.progress("overload: %.0f req/s for %v with max_inflight %d", rate, h.o.dur, h.o.maxInflight)
	limited, err := openLoop(ctx, t, rate, h.o.dur, h.o.overloadConns, h.o.maxOutstanding)
	if err != nil {
		return err
	}
	h.f.stop(px)

	var unlimited *openResult
	if !h.o.noUnlimited {
		px2, _, err := h.f.startProxy(ctx, h.bin, h.tmp, "llmproxy-unlimited", proxySetup{upstream: up.addr, maxConns: maxConns})
		if err != nil {
			return err
		}
		t2 := target{"llmproxy", px2.url() + chatPath, px2}
		h.progress("overload: %.0f req/s for %v without max_inflight (after a %v warm-up at capacity)", rate, h.o.dur, h.o.warmup)
		if _, err := closedLoop(ctx, t2, false, h.o.conc, 0, h.o.warmup); err != nil {
			return err
		}
		if unlimited, err = openLoop(ctx, t2, rate, h.o.dur, h.o.overloadConns, h.o.maxOutstanding); err != nil {
			return err
		}
		h.f.stop(px2)
	}
	reportOverload(out, h.o, capacity, limited, unlimited, h.o.maxInflight)
	return nil
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
