// Command llmbench measures llmproxy against the floor of one extra HTTP
// hop in Go, a bare net/http/httputil.ReverseProxy, on the local machine.
//
// It starts a local OpenAI-format upstream, the bare reverse proxy and
// llmproxy (built from ./cmd/llmproxy with "go build" into a temporary
// directory) as separate processes on 127.0.0.1, drives them with the same
// load and prints markdown tables:
//
//	go run ./cmd/llmbench                  # -mode closed: req/s, p50, p99, CPU/request, peak RSS; -rounds 4
//	go run ./cmd/llmbench -mode overload   # constant arrival rate at 2× capacity, max_inflight
//	go run ./cmd/llmbench -mode streams    # 1,000 open streams: TTFT, per-chunk delay, memory
//	go run ./cmd/llmbench -tls             # any mode, over an HTTPS upstream (HTTP/2)
//
// In closed mode each target of a scenario is warmed up, then measured for
// -d in -rounds slices of d/rounds (default 4): in each round the bare
// proxy and llmproxy are driven in turn, one at a time, each slice after a
// short lead-in that is not measured, the bare proxy first in odd rounds
// and llmproxy first in even ones (ABBA order), so that a drift of the
// machine's background load weighs on both alike. Each target keeps its
// client connections from one slice to the next. A row pools the answers,
// latencies and CPU time of its target's slices; the CPU per request of
// llmproxy over the bare proxy's is also printed round by round, to show
// the spread.
//
// With -tls the upstream serves HTTPS, as real providers do, with a
// self-signed ECDSA P-256 certificate for 127.0.0.1 and localhost made at
// start and written to the temporary directory; HTTP/2 and HTTP/1.1 are
// offered by ALPN. Both proxies trust the certificate through the
// SSL_CERT_FILE environment variable of their processes and reach the
// upstream over HTTP/2 (llmproxy.NewTransport and the bare proxy's
// transport both attempt it). The upstream counts the requests it serves by
// HTTP version; the report says what each proxy used, and with -tls the
// run fails, after the report, unless both used HTTP/2 only. The load
// generator's connections to the proxies stay plain HTTP/1.1; in streams
// mode its direct streams speak HTTP/1.1 over TLS.
//
// In overload mode, llmproxy's capacity is measured in a closed loop of -c
// connections against a process without max_inflight; the constant-rate
// runs, with -max-inflight (default -c) and without a limit, each get a
// fresh process, warmed up in a closed loop first.
//
// llmproxy runs with the production path switched on: client auth, a rate
// limit (high enough never to trigger), metrics and the access log to a
// file. CPU time comes from /proc/PID/stat (utime+stime) and peak RSS from
// VmHWM in /proc/PID/status, so llmbench runs on Linux only. Every run is
// bounded by its durations; the children are stopped by PID when llmbench
// ends, also on Ctrl-C.
//
// llmbench re-executes itself for the upstream and the bare proxy:
//
//	llmbench upstream -addr 127.0.0.1:0 [-chunks 20] [-delay 0] [-tls-cert cert.pem -tls-key key.pem]
//	llmbench bare -target http://127.0.0.1:PORT [-addr 127.0.0.1:0]
//
// Each prints its bound address on standard output and serves until
// killed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// stdinReader is what a child watches to exit with the harness.
var stdinReader io.Reader = os.Stdin

func main() {
	os.Exit(cliMain(os.Args[1:], os.Stdout, os.Stderr))
}

// cliMain runs the command with args and returns its exit code.
func cliMain(args []string, stdout, stderr io.Writer) int {
	if code, ok := runSubcommand(args, stdout, stderr); ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, args, stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 2
		}
		fmt.Fprintln(stderr, "llmbench:", err)
		return 1
	}
	return 0
}

// runSubcommand runs the upstream and bare subcommands; ok is false for
// any other arguments.
func runSubcommand(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	var err error
	switch args[0] {
	case "upstream":
		err = runUpstream(args[1:], stdout)
	case "bare":
		err = runBare(args[1:], stdout)
	default:
		return 0, false
	}
	if err != nil {
		fmt.Fprintf(stderr, "llmbench %s: %v\n", args[0], err)
		return 1, true
	}
	return 0, true
}

// options are the harness's flags.
type options struct {
	mode           string
	conc           int
	dur            time.Duration
	warmup         time.Duration
	rounds         int
	chunks         int
	factor         float64
	maxInflight    int
	maxOutstanding int
	overloadConns  int
	noUnlimited    bool
	streams        int
	slowChunks     int
	slowDelay      time.Duration
	ramp           time.Duration
	proxyBin       string
	tls            bool
}

// minSlice is the shortest measured slice of closed mode: CPU time is
// counted in clock ticks of 10 ms.
const minSlice = 100 * time.Millisecond

// sliceDur is the measured time of one slice of closed mode, d / rounds.
func (o *options) sliceDur() time.Duration { return o.dur / time.Duration(o.rounds) }

// parseOptions parses the harness's flags and fills in the defaults that
// depend on others.
func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("llmbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: llmbench [-mode closed|overload|streams] [flags]")
		fmt.Fprintln(stderr, "Closed mode measures each target for -d in -rounds slices, the bare proxy and llmproxy in turn (ABBA order).")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.mode, "mode", "closed", "closed, overload or streams")
	fs.IntVar(&o.conc, "c", 50, "concurrent connections of the closed loop")
	fs.DurationVar(&o.dur, "d", 10*time.Second, "measured time of each row (closed mode: of each target, in -rounds slices)")
	fs.DurationVar(&o.warmup, "warmup", -1, "warm-up before each row (default: d/5, at most 2s)")
	fs.IntVar(&o.rounds, "rounds", 4, "closed mode: rounds of one slice of d/rounds per target, bare and llmproxy in turn (ABBA order)")
	fs.IntVar(&o.chunks, "chunks", 20, "content chunks per stream in closed mode")
	fs.Float64Var(&o.factor, "factor", 2, "overload: arrival rate as a multiple of the measured capacity")
	fs.IntVar(&o.maxInflight, "max-inflight", 0, "overload: llmproxy's max_inflight in the constant-rate run (default c: the concurrency at which capacity was measured, without a limit)")
	fs.IntVar(&o.maxOutstanding, "max-outstanding", 4000, "overload: most requests open at the client at once")
	fs.IntVar(&o.overloadConns, "overload-conns", 0, "overload: client connections (default 4×max-inflight)")
	fs.BoolVar(&o.noUnlimited, "no-unlimited", false, "overload: skip the run without max_inflight")
	fs.IntVar(&o.streams, "streams", 1000, "streams mode: concurrent open streams")
	fs.IntVar(&o.slowChunks, "slow-chunks", 50, "streams mode: content chunks per stream")
	fs.DurationVar(&o.slowDelay, "slow-delay", 100*time.Millisecond, "streams mode: upstream delay before each content chunk")
	fs.DurationVar(&o.ramp, "ramp", time.Second, "streams mode: the streams' starts are spread over this time")
	fs.StringVar(&o.proxyBin, "proxy-bin", "", "llmproxy binary to run (default: go build ./cmd/llmproxy)")
	fs.BoolVar(&o.tls, "tls", false, "the upstream serves HTTPS (a self-signed certificate made at start, trusted by both proxies through SSL_CERT_FILE), HTTP/2 by ALPN; the run fails unless both proxies reach it over HTTP/2")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.warmup < 0 {
		o.warmup = min(o.dur/5, 2*time.Second)
	}
	if o.maxInflight == 0 {
		// As many requests in flight as the capacity run had: admitting
		// more only queues them (Little's law) and slows every one.
		o.maxInflight = o.conc
	}
	if o.overloadConns == 0 {
		o.overloadConns = 4 * o.maxInflight
	}
	switch {
	case o.conc < 1, o.dur <= 0, o.chunks < 1, o.factor <= 0, o.maxInflight < 1, o.maxOutstanding < 1, o.overloadConns < 1,
		o.streams < 1, o.slowChunks < 1, o.slowDelay < 0, o.ramp < 0:
		return nil, errors.New("-c, -d, -chunks, -factor, -max-inflight, -max-outstanding, -overload-conns, -streams and -slow-chunks must be positive")
	}
	if o.rounds < 1 {
		return nil, errors.New("-rounds must be positive")
	}
	if o.mode == "closed" && o.sliceDur() < minSlice {
		return nil, fmt.Errorf("-d / -rounds is %v: a slice must last at least %v to be measured in the CPU clock's 10 ms ticks", o.sliceDur(), minSlice)
	}
	return o, nil
}

// run is the harness.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if !haveProc() {
		return errNoProc
	}
	if l := loadAverage(); l >= 0 {
		startLoad = strconv.FormatFloat(l, 'f', 2, 64)
		if l > 0.25*float64(runtime.NumCPU()) {
			fmt.Fprintf(stderr, "llmbench: warning: the machine is busy (load average %.2f on %d CPUs); the numbers will be noisy\n",
				l, runtime.NumCPU())
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "llmbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	f := &fleet{}
	defer f.stopAll()

	bin := o.proxyBin
	if bin == "" {
		fmt.Fprintln(stderr, "llmbench: building ./cmd/llmproxy")
		if bin, err = buildProxy(ctx, tmp); err != nil {
			return err
		}
	}
	h := &harness{o: o, f: f, self: self, bin: bin, tmp: tmp, log: stderr}
	if o.tls {
		if h.cert, err = newUpstreamCert(tmp); err != nil {
			return fmt.Errorf("upstream certificate: %w", err)
		}
	}
	switch o.mode {
	case "closed":
		return h.closed(ctx, stdout)
	case "overload":
		return h.overload(ctx, stdout)
	case "streams":
		return h.manyStreams(ctx, stdout)
	}
	return fmt.Errorf("-mode must be closed, overload or streams, got %q", o.mode)
}
