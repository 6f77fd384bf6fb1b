// Command llmproxy serves the llmproxy router over HTTP: one
// OpenAI-compatible API in front of the providers in a config file.
//
// Usage:
//
//	llmproxy [--config config.yaml] [--log-format json|text]
//
// It listens on host:port from the config (PROXY_API_HOST and
// PROXY_API_PORT override them), logs JSON to standard error or log_file,
// and shuts down gracefully on SIGINT or SIGTERM, letting in-flight
// requests finish.
package main

import (
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
	"syscall"
	"time"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/anthropic"
	_ "github.com/llmproxy/llmproxy/providers/cohere"
	_ "github.com/llmproxy/llmproxy/providers/mock"
	_ "github.com/llmproxy/llmproxy/providers/openai"
	"github.com/llmproxy/llmproxy/ratelimit"
	"github.com/llmproxy/llmproxy/server"
)

// shutdownGrace is how long in-flight requests may take to finish after a
// shutdown signal.
const shutdownGrace = 30 * time.Second

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
	if err := fs.Parse(args); err != nil {
		return err
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

	p, err := llmproxy.New(cfg, llmproxy.WithLogger(logger))
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
	srv := server.NewHTTPServer(addr, h)
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
	return serve(ctx, srv, ln, cfg.TLSCertFile, cfg.TLSKeyFile, logger)
}

// serve runs srv on ln (with TLS when certFile is set) until ctx ends, then
// shuts it down gracefully, letting in-flight requests finish.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, certFile, keyFile string, logger *slog.Logger) error {
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
	logger.Info("shutting down; waiting for in-flight requests", "grace", shutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
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
		out, closeFn = f, func() { _ = f.Close() }
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
