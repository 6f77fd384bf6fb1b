// Command mount shows the proxy mounted in an existing net/http mux, next
// to an application's own routes, under the prefix /llm/.
//
//	go run ./examples/mount
//	curl -s localhost:8080/llm/v1/chat/completions \
//	  -H 'Content-Type: application/json' \
//	  -d '{"model":"mock-1","messages":[{"role":"user","content":"hi"}]}'
//
// It stops on Ctrl-C (SIGINT) or SIGTERM: the server first, letting
// requests in flight finish, then the proxy's handler, then the proxy.
package main

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/mock"
	"github.com/llmproxy/llmproxy/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	if err := run(ctx, ln); err != nil {
		log.Fatal(err)
	}
}

// run serves the application on ln until ctx ends, then shuts it down.
func run(ctx context.Context, ln net.Listener) error {
	p, err := llmproxy.New(llmproxy.Config{
		// A Config built in code has no client rate limits unless it sets
		// them; this one takes a config file's default for chat.
		RateLimitChatRPM: llmproxy.DefaultRateLimitChatRPM,
		Providers:        []llmproxy.ProviderConfig{{Name: "mock", Type: "mock"}},
	})
	if err != nil {
		return err
	}
	defer p.Close()

	// The proxy's handler holds its rate limiters (goroutines, and a
	// Redis connection with redis_url): close it once the server has
	// stopped, before the proxy.
	llm := server.Handler(p, server.Options{})
	defer llm.(io.Closer).Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("the application's own route\n"))
	})
	// Everything under /llm/ goes to the proxy, with the prefix removed.
	mux.Handle("/llm/", http.StripPrefix("/llm", llm))

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
