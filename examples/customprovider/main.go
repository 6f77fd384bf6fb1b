// Command customprovider shows how to add a provider type of your own: a
// type with a Name and a ChatCompletion method, registered under a type
// name that config files (or Config values) then use like a built-in one.
package main

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/llmproxy/llmproxy"
)

// shouty answers every chat with the last message in capitals.
type shouty struct{ name string }

func (s *shouty) Name() string { return s.name }

func (s *shouty) ChatCompletion(ctx context.Context, req *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error) {
	last := req.Messages[len(req.Messages)-1].Content.String()
	return &llmproxy.ChatResponse{
		Object: "chat.completion",
		Model:  req.Model,
		Choices: []llmproxy.Choice{{
			Message:      llmproxy.Message{Role: "assistant", Content: llmproxy.Text(strings.ToUpper(last))},
			FinishReason: "stop",
		}},
	}, nil
}

func init() {
	// One line registers the type; the factory gets the provider's config.
	llmproxy.RegisterProviderType("shouty", func(cfg llmproxy.ProviderConfig) (llmproxy.Provider, error) {
		return &shouty{name: cfg.Name}, nil
	})
}

func main() {
	p, err := llmproxy.New(llmproxy.Config{
		Providers: []llmproxy.ProviderConfig{{Name: "loud", Type: "shouty", Models: []string{"shout-*"}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	resp, err := p.ChatCompletion(context.Background(), &llmproxy.ChatRequest{
		Model:    "shout-1",
		Messages: []llmproxy.Message{{Role: "user", Content: llmproxy.Text("hello, proxy")}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Choices[0].Message.Content.String(), "from", resp.ProxyInfo.Provider)
}
