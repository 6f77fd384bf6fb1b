package llmproxy_test

import (
	"context"
	"fmt"
	"log"
	"sync"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/mock" // registers the "mock" type
)

// A proxy built in code with one provider that needs no API key.
func Example() {
	p, err := llmproxy.New(llmproxy.Config{
		Providers: []llmproxy.ProviderConfig{
			{Name: "local", Type: "mock", Models: []string{"mock-*"}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	resp, err := p.ChatCompletion(context.Background(), &llmproxy.ChatRequest{
		Model:    "mock-1",
		Messages: []llmproxy.Message{{Role: "user", Content: llmproxy.Text("Hello!")}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Choices[0].Message.Content.String())
	fmt.Println("answered by", resp.ProxyInfo.Provider)
	// Output:
	// Mock response to: Hello!
	// answered by local
}

// echo is a provider that answers with the last message it was sent.
type echo struct{ name string }

func (e echo) Name() string { return e.name }

func (e echo) ChatCompletion(ctx context.Context, req *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error) {
	last := req.Messages[len(req.Messages)-1].Content.String()
	return &llmproxy.ChatResponse{
		Object: "chat.completion",
		Model:  req.Model,
		Choices: []llmproxy.Choice{{
			Message:      llmproxy.Message{Role: "assistant", Content: llmproxy.Text(last)},
			FinishReason: "stop",
		}},
	}, nil
}

var registerEcho sync.Once // examples may run more than once (go test -count)

// A custom provider type. A provider package would register its type in an
// init function; configurations then name it as a provider's type.
func ExampleRegisterProviderType() {
	registerEcho.Do(func() {
		llmproxy.RegisterProviderType("echo", func(cfg llmproxy.ProviderConfig) (llmproxy.Provider, error) {
			return echo{name: cfg.Name}, nil
		})
	})

	p, err := llmproxy.New(llmproxy.Config{
		Providers: []llmproxy.ProviderConfig{{Name: "parrot", Type: "echo"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	resp, err := p.ChatCompletion(context.Background(), &llmproxy.ChatRequest{
		Model:    "any-model",
		Messages: []llmproxy.Message{{Role: "user", Content: llmproxy.Text("Polly wants a cracker")}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %s\n", resp.ProxyInfo.Provider, resp.Choices[0].Message.Content)
	// Output:
	// parrot: Polly wants a cracker
}
