package main

import (
	"context"
	"crypto/tls"
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
	cert *upstreamCert // the upstream's certificate with -tls, else nil
}

// chatPath is the path of the chat endpoint on every target, and
// messagesPath that of the Anthropic Messages front (passed through to
// an Anthropic provider).
const (
	chatPath     = "/v1/chat/completions"
	messagesPath = "/v1/messages"
)

// startUpstream runs the upstream subcommand, serving HTTPS with -tls, and
// returns it with a probe of its protocol counts.
func (h *harness) startUpstream(ctx context.Context, chunks int, delay time.Duration) (*child, *protoProbe, error) {
	args := []string{"upstream", "-addr", "127.0.0.1:0", "-chunks", strconv.Itoa(chunks), "-delay", delay.String(), "-exit-on-stdin-eof"}
	var tlsConf *tls.Config
	if h.cert != nil {
		args = append(args, "-tls-cert", h.cert.certFile, "-tls-key", h.cert.keyFile)
		tlsConf = h.cert.clientTLS()
	}
	up, err := h.f.start(ctx, "upstream", h.self, args, childEnv(), true, "")
	if err != nil {
		return nil, nil, err
	}
	if h.cert != nil {
		up.scheme = "https"
	}
	return up, newProtoProbe(up.url(), tlsConf), nil
}

// proxyEnv is the extra environment of the proxies' processes: with -tls,
// the certificate they trust the upstream by.
func (h *harness) proxyEnv() []string {
	if h.cert == nil {
		return nil
	}
	return []string{h.cert.env()}
}

// startBare runs the bare subcommand in front of up.
func (h *harness) startBare(ctx context.Context, up *child) (*child, error) {
	return h.f.start(ctx, "bare", h.self, []string{"bare", "-addr", "127.0.0.1:0", "-target", up.url(),
		"-exit-on-stdin-eof"}, childEnv(h.proxyEnv()...), true, "")
}

// startProxy runs llmproxy in front of up with the given limits.
func (h *harness) startProxy(ctx context.Context, name string, up *child, maxConns, maxInflight int) (*child, string, error) {
	return h.f.startProxy(ctx, h.bin, h.tmp, name, proxySetup{upstream: up.url(), maxConns: maxConns, maxInflight: maxInflight,
		env: h.proxyEnv()})
}

// directTLS is the TLS configuration of the load generator's connections
// straight to the upstream: nil for plain HTTP.
func (h *harness) directTLS() *tls.Config {
	if h.cert == nil {
		return nil
	}
	return h.cert.clientTLS()
}

// checkProtocols fails with -tls unless every source reached the upstream
// over HTTP/2 only.
func (h *harness) checkProtocols(sources []protoSource) error {
	if h.cert == nil {
		return nil
	}
	return requireHTTP2(sources)
}

// progress reports what the harness is doing on its log.
func (h *harness) progress(format string, args ...any) {
	fmt.Fprintf(h.log, "llmbench: "+format+"\n", args...)
}

// closedScenario is one scenario of closed mode.
type closedScenario struct {
	name   string
	stream bool
	path   string // chatPath or messagesPath
}

// closed runs the closed-loop comparison: chat non-streaming, then
// streaming, then the same through the Anthropic Messages front (passed
// through to an Anthropic provider), each against the bare proxy and
// llmproxy, fresh processes per scenario.
//
// With -tls it fails, after the report, unless both proxies reached the
// upstream over HTTP/2 only.
func (h *harness) closed(ctx context.Context, out io.Writer) error {
	up, probe, err := h.startUpstream(ctx, h.o.chunks, 0)
	if err != nil {
		return err
	}
	defer probe.close()
	var rows []closedRow
	var notes []string
	var protos []protoSource
	for _, sc := range []closedScenario{{"non-streaming", false, chatPath}, {"streaming", true, chatPath},
		{"messages non-streaming", false, messagesPath}, {"messages streaming", true, messagesPath}} {
		row, scNotes, err := h.runScenario(ctx, up, probe, sc)
		if err != nil {
			return err
		}
		rows = append(rows, row)
		notes = append(notes, scNotes...)
		protos = append(protos, protoSource{sc.name + " bare", row.bareProtos}, protoSource{sc.name + " llmproxy", row.proxyProtos})
	}
	notes = append(notes, protocolsLine(h.cert != nil, protos))
	reportClosed(out, h.o, rows, notes)
	return h.checkProtocols(protos)
}

// runScenario starts a bare proxy and llmproxy in front of up, measures
// both in rounds (measureInRounds) and stops them. It returns the row and
// the notes for the report.
func (h *harness) runScenario(ctx context.Context, up *child, probe *protoProbe, sc closedScenario) (closedRow, []string, error) {
	row := closedRow{scenario: sc.name, stream: sc.stream}
	bare, err := h.startBare(ctx, up)
	if err != nil {
		return row, nil, err
	}
	px, logFile, err := h.startProxy(ctx, "llmproxy", up, max(100, 2*h.o.conc), 0)
	if err != nil {
		return row, nil, err
	}
	var gens [2]*closedGen
	for i, t := range []target{{"bare", bare.url() + sc.path, bare, nil}, {"llmproxy", px.url() + sc.path, px, nil}} {
		if gens[i], err = newClosedGen(ctx, t, sc.stream, h.o.conc); err != nil {
			return row, nil, err
		}
		defer gens[i].close()
	}
	rounds, protos, err := h.measureInRounds(ctx, sc.name, probe, gens)
	if err != nil {
		return row, nil, err
	}
	row.bareProtos, row.proxyProtos = protos[0], protos[1]
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
// returns each target's results, one per round, and the requests the
// upstream served while each target was driven, by HTTP version.
func (h *harness) measureInRounds(ctx context.Context, scenario string, probe *protoProbe, gens [2]*closedGen) ([2][]*closedResult, [2]protoCounts, error) {
	var res [2][]*closedResult
	var protos [2]protoCounts
	for i, g := range gens {
		h.progress("%s: %s, warm-up, %d connections, %v", scenario, g.t.name, len(g.workers), h.o.warmup)
		if err := probe.during(ctx, &protos[i], func() error { return g.warmUp(ctx, h.o.warmup) }); err != nil {
			return res, protos, err
		}
	}
	slice, leadIn := h.o.sliceDur(), sliceLeadIn(h.o.warmup)
	for round := range h.o.rounds {
		for _, i := range roundOrder(round) {
			g := gens[i]
			h.progress("%s: round %d/%d, %s, %v + %v lead-in", scenario, round+1, h.o.rounds, g.t.name, slice, leadIn)
			err := probe.during(ctx, &protos[i], func() error {
				r, err := g.run(ctx, leadIn, slice)
				res[i] = append(res[i], r)
				return err
			})
			if err != nil {
				return res, protos, err
			}
		}
	}
	return res, protos, nil
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
// loop is shed however many connections it has. With -tls it fails, after
// the report, unless llmproxy reached the upstream over HTTP/2 only.
func (h *harness) overload(ctx context.Context, out io.Writer) error {
	up, probe, err := h.startUpstream(ctx, h.o.chunks, 0)
	if err != nil {
		return err
	}
	defer probe.close()
	var protos protoCounts
	var capacity *closedResult
	err = probe.during(ctx, &protos, func() (err error) {
		capacity, err = h.measureCapacity(ctx, up)
		return err
	})
	if err != nil {
		return err
	}
	rate := h.o.factor * capacity.rps()
	var limited, unlimited *openResult
	err = probe.during(ctx, &protos, func() (err error) {
		limited, err = h.overloadRun(ctx, up, h.o.maxInflight, rate)
		return err
	})
	if err != nil {
		return err
	}
	if !h.o.noUnlimited {
		err = probe.during(ctx, &protos, func() (err error) {
			unlimited, err = h.overloadRun(ctx, up, 0, rate)
			return err
		})
		if err != nil {
			return err
		}
	}
	reportOverload(out, h.o, capacity, limited, unlimited, h.o.maxInflight)
	sources := []protoSource{{"llmproxy", protos}}
	fmt.Fprintf(out, "%s\n\n", protocolsLine(h.cert != nil, sources))
	return h.checkProtocols(sources)
}

// overloadMaxConns is the provider's max_connections of overload mode's
// llmproxy processes.
func (h *harness) overloadMaxConns() int { return max(100, 2*h.o.conc) }

// measureCapacity runs a closed loop of -c connections, non-streaming,
// against a fresh llmproxy without max_inflight, for d after the warm-up,
// and returns its result.
func (h *harness) measureCapacity(ctx context.Context, up *child) (*closedResult, error) {
	px, _, err := h.startProxy(ctx, "llmproxy-capacity", up, h.overloadMaxConns(), 0)
	if err != nil {
		return nil, err
	}
	defer h.f.stop(px)
	t := target{"llmproxy", px.url() + chatPath, px, nil}
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
	px, _, err := h.startProxy(ctx, name, up, h.overloadMaxConns(), maxInflight)
	if err != nil {
		return nil, err
	}
	defer h.f.stop(px)
	t := target{"llmproxy", px.url() + chatPath, px, nil}
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
// directly, through the bare proxy and through llmproxy. With -tls the
// direct streams speak HTTP/1.1 over TLS, and it fails, after the report,
// unless both proxies reached the upstream over HTTP/2 only.
func (h *harness) manyStreams(ctx context.Context, out io.Writer) error {
	up, probe, err := h.startUpstream(ctx, h.o.slowChunks, h.o.slowDelay)
	if err != nil {
		return err
	}
	defer probe.close()
	bare, err := h.startBare(ctx, up)
	if err != nil {
		return err
	}
	px, _, err := h.startProxy(ctx, "llmproxy", up, h.o.streams+100, 0)
	if err != nil {
		return err
	}
	streamTime := time.Duration(h.o.slowChunks) * h.o.slowDelay
	bound := h.o.ramp + 3*streamTime + time.Minute
	var res [3]*streamsResult
	sources := make([]protoSource, 3)
	for i, t := range []target{
		{"direct", up.url() + chatPath, nil, h.directTLS()},
		{"bare", bare.url() + chatPath, bare, nil},
		{"llmproxy", px.url() + chatPath, px, nil},
	} {
		h.progress("streams: %d streams via %s (%v each)", h.o.streams, t.name, streamTime)
		sources[i].name = t.name
		err := probe.during(ctx, &sources[i].counts, func() (err error) {
			res[i], err = manyStreams(ctx, t, h.o.streams, h.o.ramp, bound)
			return err
		})
		if err != nil {
			return err
		}
	}
	reportStreams(out, h.o, res[0], res[1], res[2])
	fmt.Fprintf(out, "%s\n\n", protocolsLine(h.cert != nil, sources))
	return h.checkProtocols(sources[1:])
}
