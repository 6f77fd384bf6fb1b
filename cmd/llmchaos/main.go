// Command llmchaos is the proxy's chaos suite. It starts three
// fault-injecting OpenAI-format upstreams on 127.0.0.1, puts the real proxy
// (llmproxy.New and server.Handler on a loopback listener) in front of
// them, drives mixed streamed and plain chat requests through it while the
// upstreams switch between answering, 500s, 429s with Retry-After, hangs,
// connection resets, malformed JSON, streams cut after the first token,
// slow chunks and flakiness — always with at least one upstream able to
// serve — and prints one table:
//
//	requests, succeeded, failed with a proper error (and of those the
//	streams cut after their first token, which no proxy can repair),
//	hung, lost, mean and max attempts per request, goroutines left after
//	shutdown.
//
// Hung, lost, leaked goroutines and failures of requests that were not cut
// must all be 0; llmchaos exits with status 1 otherwise. The run is bounded
// in requests and time, stops by itself and uses the loopback interface
// only.
//
// Usage:
//
//	llmchaos [-requests 3000] [-concurrency 32] [-duration 60s] [-phase 5s]
//	         [-attempt-timeout 2s] [-lb weighted|least_latency] [-v]
//
// A short run (300 requests in a few seconds) runs as a Go test:
// go test ./cmd/llmchaos.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"text/tabwriter"
	"time"

	"github.com/llmproxy/llmproxy"
)

func main() {
	ok, err := cli(os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "llmchaos:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// cli parses args, runs the suite and prints the table to stdout. It
// reports whether every requirement was met.
func cli(args []string, stdout, stderr io.Writer) (bool, error) {
	fs := flag.NewFlagSet("llmchaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.Requests, "requests", 3000, "number of requests, every other one streamed")
	fs.IntVar(&o.Concurrency, "concurrency", 32, "requests in flight at most")
	fs.DurationVar(&o.Duration, "duration", 60*time.Second, "time the requests are spread over (the run stops by 2× this plus the request timeout)")
	fs.DurationVar(&o.Phase, "phase", 0, "how long the upstreams keep a mode, at least: a change waits for the requests begun before the current phase (default duration/12: the schedule runs twice)")
	fs.DurationVar(&o.AttemptTimeout, "attempt-timeout", 2*time.Second, "providers' timeout and first-token timeout")
	fs.StringVar(&o.LoadBalancing, "lb", llmproxy.LoadBalancingWeighted, "load balancing: weighted or least_latency")
	verbose := fs.Bool("v", false, "log the proxy's warnings to standard error")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	if *verbose {
		o.Log = stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Fprintf(stdout, "llmchaos: %d requests, concurrency %d, over %v; 3 upstreams on 127.0.0.1 switching modes every %v\n\n",
		o.Requests, o.Concurrency, o.Duration, o.phase())
	rep, err := run(ctx, o)
	if err != nil {
		return false, err
	}
	printReport(stdout, rep)
	return rep.ok(), nil
}

// printReport writes the report as one table, with the required values.
func printReport(w io.Writer, r *report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, v any, want string) { fmt.Fprintf(tw, "%s\t%v\t%s\t\n", name, v, want) }
	fmt.Fprintln(tw, "\tvalue\trequired\t")
	row("requests", r.Requests, "")
	row("  streamed", r.Streamed, "")
	row("succeeded", r.Succeeded, "")
	row("failed with a proper error", r.Failed, "")
	row("  streams cut after the first token", r.Cut, "")
	row("  other failures", r.Failed-r.Cut, "0")
	row("hung", r.Hung, "0")
	row("lost (no proper answer)", r.Lost, "0")
	if r.NotSent > 0 {
		row("not sent in time", r.NotSent, "0")
	}
	row("attempts per request, mean", fmt.Sprintf("%.2f", r.MeanTries), "")
	row("attempts per request, max", r.MaxTries, "")
	row("goroutines left after shutdown", r.Goroutines, "0")
	row("longest request", r.Longest.Round(time.Millisecond), "< phase "+r.Phase.Round(time.Millisecond).String())
	row("elapsed", r.Elapsed.Round(time.Millisecond), "")
	_ = tw.Flush()
	for _, p := range r.Problems {
		fmt.Fprintln(w, "  ", p)
	}
	if r.ok() {
		fmt.Fprintln(w, "\nPASS")
	} else {
		fmt.Fprintln(w, "\nFAIL")
	}
}
