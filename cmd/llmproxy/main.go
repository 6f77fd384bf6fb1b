// Command llmproxy serves the llmproxy router over HTTP: one
// OpenAI-compatible API in front of the providers in a config file.
//
// Usage:
//
//	llmproxy [--config config.yaml] [--log-format json|text]
//	llmproxy --version
//	llmproxy [--config config.yaml] --healthcheck
//
// --healthcheck probes a running instance's GET /health on loopback (the
// container's HEALTHCHECK: distroless images have no curl) and exits 0 when
// it answers 200; --version prints the version and exits.
//
// It listens on host:port from the config (PROXY_API_HOST and
// PROXY_API_PORT override them; the default, 127.0.0.1:8000, reaches this
// machine only, and a non-loopback host without api_keys is warned about
// at start and at every reload), logs JSON to standard error or log_file
// (buffered: a line reaches the file within 100 ms, and every line is
// written out before the command exits), and shuts down gracefully on
// SIGINT or SIGTERM: GET /health answers 503 "shutting_down" and new
// connections are refused at once, in-flight requests and open streams
// get shutdown_timeout to finish, and the streams still open then end
// with an error frame (never a clean [DONE]).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/all" // every built-in provider type
	"github.com/llmproxy/llmproxy/ratelimit"
	"github.com/llmproxy/llmproxy/server"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "llmproxy:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("llmproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "config.yaml", "path of the configuration file")
	logFormat := fs.String("log-format", "json", "log format: json or text")
	showVersion := fs.Bool("version", false, "print the version and exit")
	probe := fs.Bool("healthcheck", false, "ask the running instance (the config's port, on loopback) for GET /health; exit 0 when it answers 200, 1 otherwise")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		printVersion(os.Stdout)
		return nil
	}
	if *probe {
		return healthcheck(context.Background(), *configPath, os.Stdout)
	}

	cfg, err := llmproxy.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	logger, closeLog, err := newLogger(cfg, *logFormat, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	warnIfOpen(logger, cfg.Host, cfg.AuthEnabled())

	opts := []llmproxy.Option{llmproxy.WithLogger(logger)}
	tp, err := newTracerProvider(context.Background(), cfg) // tracing.go; nil: off
	if err != nil {
		return err
	}
	if tp != nil {
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tp.Shutdown(sctx); err != nil {
				logger.Warn("tracing: spans not sent at exit", "error", err.Error())
			}
		}()
		opts = append(opts, llmproxy.WithTracerProvider(tp))
	}
	p, err := llmproxy.New(cfg, opts...)
	if err != nil {
		return err
	}
	defer p.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	// go-redis logs each failed dial; the proxy logs one warning per Redis
	// outage, so go-redis's own lines go to debug.
	ratelimit.SetRedisLogger(logger)
	h := server.Handler(p, server.Options{Logger: logger})
	defer h.(io.Closer).Close() // after serve: releases the rate limiters
	srv := server.NewServer(addr, h)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		watchConfig(ctx, p, *configPath, hup, logger)
	}()
	defer func() { stop(); <-watchDone }()
	logger.Info("llmproxy listening", "addr", ln.Addr().String(), "config", *configPath,
		"providers_active", countActive(p), "shared_limits", cfg.RedisURL.IsSet())
	return serve(ctx, srv, ln, cfg.TLSCertFile, cfg.TLSKeyFile, p, logger)
}

// serve runs srv on ln (with TLS when certFile is set) until ctx ends, then
// shuts it down gracefully (see server.Server.Shutdown): it fails its
// readiness and stops accepting at once, lets in-flight requests and open
// streams finish for up to p's shutdown_timeout (read then, so a reload
// changes it), and ends those left with an error. A second signal during
// that wait ends them at once.
func serve(ctx context.Context, srv *server.Server, ln net.Listener, certFile, keyFile string, p *llmproxy.Proxy, logger *slog.Logger) error {
	errc := make(chan error, 1)
	go func() {
		if certFile != "" {
			errc <- srv.ServeTLS(ln, certFile, keyFile)
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	timeout := p.Config().ShutdownTimeout
	logger.Info("shutting down; waiting for in-flight requests", "shutdown_timeout", timeout.String())
	again, stopAgain := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopAgain()
	err := srv.Shutdown(again, timeout)
	if err != nil {
		logger.Warn("shutdown: " + err.Error())
	} else {
		logger.Info("shutdown: every request finished")
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return nil
}

// newLogger builds the slog logger from log_level, log_file and the format.
func newLogger(cfg llmproxy.Config, format string, stderr io.Writer) (*slog.Logger, func(), error) {
	var level slog.Level
	switch strings.ToLower(cfg.LogLevel) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	if cfg.Debug {
		level = slog.LevelDebug
	}
	out, closeFn := stderr, func() {}
	if cfg.LogFile != "" {
		f, err := os.OpenFile(cfg.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("log_file: %w", err)
		}
		bl := newBufferedLog(f, logBufferSize, logFlushInterval)
		out, closeFn = bl, func() { _ = bl.Close() }
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch format {
	case "json":
		h = slog.NewJSONHandler(out, opts)
	case "text":
		h = slog.NewTextHandler(out, opts)
	default:
		closeFn()
		return nil, nil, fmt.Errorf("--log-format must be json or text, got %q", format)
	}
	return slog.New(h), closeFn, nil
}

func countActive(p *llmproxy.Proxy) int {
	n := 0
	for _, pi := range p.Providers() {
		if pi.Active {
			n++
		}
	}
	return n
}

// The buffering of log_file. Writing each log line with its own write
// system call costs a few percent of a request's CPU; the lines are
// instead gathered in a buffer of logBufferSize bytes, written out when it
// fills, at most logFlushInterval after a line was buffered, and when the
// process exits through run (every return path, signals included). A
// crash (or SIGKILL) loses at most the lines of the last logFlushInterval.
const (
	logBufferSize    = 64 << 10
	logFlushInterval = 100 * time.Millisecond
)

// bufferedLog is a buffered writer over a log file that flushes itself:
// when its buffer fills, at most interval after a write (a timer armed by
// the first write into an empty buffer, so that an idle log costs
// nothing) and on Flush and Close. A write after Close fails. It is safe
// for concurrent use.
type bufferedLog struct {
	mu       sync.Mutex
	f        io.WriteCloser
	w        *bufio.Writer
	interval time.Duration
	timer    *time.Timer // armed while the buffer holds data; nil before the first
	armed    bool
	closed   bool
}

// newBufferedLog returns a bufferedLog over f with a buffer of size bytes
// that holds a line at most interval.
func newBufferedLog(f io.WriteCloser, size int, interval time.Duration) *bufferedLog {
	return &bufferedLog{f: f, w: bufio.NewWriterSize(f, size), interval: interval}
}

// Write buffers p (a write larger than the free space goes out at once).
func (b *bufferedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, os.ErrClosed
	}
	n, err := b.w.Write(p)
	if err != nil {
		b.w.Reset(b.f) // drop what failed; the next lines may get through
	}
	if b.w.Buffered() > 0 && !b.armed {
		b.armed = true
		if b.timer == nil {
			b.timer = time.AfterFunc(b.interval, b.tick)
		} else {
			b.timer.Reset(b.interval)
		}
	}
	return n, err
}

// tick is the timer's flush.
func (b *bufferedLog) tick() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.armed = false
	if !b.closed {
		_ = b.flushLocked()
	}
}

// flushLocked writes out the buffer; after a failed write it drops what is
// left, so that the buffer does not stay stuck on the error.
func (b *bufferedLog) flushLocked() error {
	err := b.w.Flush()
	if err != nil {
		b.w.Reset(b.f)
	}
	return err
}

// Flush writes out the buffered lines.
func (b *bufferedLog) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return os.ErrClosed
	}
	return b.flushLocked()
}

// Close flushes the buffer and closes the file. Later calls return nil.
func (b *bufferedLog) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.timer != nil {
		b.timer.Stop()
	}
	return errors.Join(b.w.Flush(), b.f.Close())
}
