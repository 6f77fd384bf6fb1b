package messages_test

import (
	"context"
	"fmt"
	"log"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/front/messages"
	_ "github.com/llmproxy/llmproxy/providers/mock" // registers the "mock" type
)

// A Messages request answered through the proxy's router by a provider that
// does not speak the Messages API: the request is translated to chat and
// the answer back.
func ExampleMessages() {
	p, err := llmproxy.New(llmproxy.Config{
		Providers: []llmproxy.ProviderConfig{{Name: "local", Type: "mock", Models: []string{"mock-*"}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	req, err := messages.ReadRequest([]byte(`{"model":"mock-1","max_tokens":64,"messages":[{"role":"user","content":"Hello!"}]}`))
	if err != nil {
		log.Fatal(err)
	}
	ans, err := messages.Messages(context.Background(), p, req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(gjson.GetBytes(ans.Body, "content.0.text").Str)
	fmt.Println(gjson.GetBytes(ans.Body, "stop_reason").Str, "from", ans.ProxyInfo.Provider)
	// Output:
	// Mock response to: Hello!
	// end_turn from local
}

// A streamed Messages request: the chunks are Anthropic's events, named.
func ExampleMessagesStream() {
	p, err := llmproxy.New(llmproxy.Config{
		Providers: []llmproxy.ProviderConfig{{Name: "local", Type: "mock", Models: []string{"mock-*"}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	req, err := messages.ReadRequest([]byte(`{"model":"mock-1","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hi"}]}`))
	if err != nil {
		log.Fatal(err)
	}
	st, err := messages.MessagesStream(context.Background(), p, req)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	text := ""
	for st.Next() {
		ev := st.Current()
		if ev.Event == "content_block_delta" {
			text += gjson.GetBytes(ev.Data, "delta.text").Str
		}
		if ev.Event == "message_stop" {
			fmt.Println(text)
		}
	}
	if err := st.Err(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// Mock response to: Hi
}
