// Command mount shows the proxy mounted in an existing net/http mux, next
// to an application's own routes, under the prefix /llm/.
//
//	go run ./examples/mount
//	curl -s localhost:8080/llm/v1/chat/completions \
//	  -d '{"model":"mock-1","messages":[{"role":"user","content":"hi"}]}'
package main

import (
	"log"
	"net/http"
	"time"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/mock"
	"github.com/llmproxy/llmproxy/server"
)

func main() {
	p, err := llmproxy.New(llmproxy.Config{
		Providers: []llmproxy.ProviderConfig{{Name: "mock", Type: "mock"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("the application's own route\n"))
	})
	// Everything under /llm/ goes to the proxy, with the prefix removed.
	mux.Handle("/llm/", http.StripPrefix("/llm", server.Handler(p, server.Options{})))

	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
