package openai

import (
	"encoding/json"
	"maps"
	"slices"

	"github.com/llmproxy/llmproxy"
)

// chatBody returns the bytes to send for a non-streamed chat request: the
// encoding of req with the flavor's fixes applied and without its stream
// members, since the answer is read whole. req is never modified.
func (p *Provider) chatBody(req *llmproxy.ChatRequest) ([]byte, error) {
	send := req
	if send.Stream || send.StreamOptions != nil {
		cp := *send
		cp.Stream, cp.StreamOptions = false, nil
		send = &cp
	}
	if p.flavor.fixChat != nil {
		send = p.flavor.fixChat(send)
	}
	return p.encode(send)
}

// completionBody is chatBody for a legacy completion request.
func (p *Provider) completionBody(req *llmproxy.CompletionRequest) ([]byte, error) {
	send := req
	if send.Stream {
		cp := *send
		cp.Stream, cp.StreamOptions = false, nil
		cp.Touch()
		send = &cp
	}
	if raw := send.Raw(); raw != nil {
		return raw, nil
	}
	return p.encode(send)
}

// embeddingBody is chatBody for an embeddings request.
func (p *Provider) embeddingBody(req *llmproxy.EmbeddingRequest) ([]byte, error) {
	if raw := req.Raw(); raw != nil {
		return raw, nil
	}
	return p.encode(req)
}

// encode encodes a request from its fields, Extra members included.
func (p *Provider) encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, p.encodeFailure(err)
	}
	return b, nil
}

// mergeForAlternation returns req with its messages rearranged the way
// Perplexity requires (system messages first, then strictly alternating
// user and assistant): system messages are moved to the front in their
// order, and consecutive messages of the same role are merged into one. A
// request that already has that shape is returned as it is; otherwise the
// result is a copy and req is not modified.
func mergeForAlternation(req *llmproxy.ChatRequest) *llmproxy.ChatRequest {
	if !needsMerge(req.Messages) {
		return req
	}
	ordered := make([]llmproxy.Message, 0, len(req.Messages))
	for _, m := range req.Messages {
		if m.Role == "system" {
			ordered = append(ordered, m)
		}
	}
	for _, m := range req.Messages {
		if m.Role != "system" {
			ordered = append(ordered, m)
		}
	}
	out := make([]llmproxy.Message, 0, len(ordered))
	for _, m := range ordered {
		if n := len(out); n > 0 && mergeable(&out[n-1], &m) {
			out[n-1] = mergeMessages(&out[n-1], &m)
			continue
		}
		out = append(out, m)
	}
	cp := *req
	cp.Messages = out
	return &cp
}

// needsMerge reports whether msgs has a system message after another role
// or two mergeable messages in a row.
func needsMerge(msgs []llmproxy.Message) bool {
	seenOther := false
	for i := range msgs {
		if msgs[i].Role == "system" && seenOther {
			return true
		}
		if msgs[i].Role != "system" {
			seenOther = true
		}
		if i > 0 && mergeable(&msgs[i-1], &msgs[i]) {
			return true
		}
	}
	return false
}

// mergeable reports whether b may be folded into a: same system, user or
// assistant role and no tool calls on either (tool messages and tool calls
// keep their identities).
func mergeable(a, b *llmproxy.Message) bool {
	if a.Role != b.Role || len(a.ToolCalls) > 0 || len(b.ToolCalls) > 0 {
		return false
	}
	switch a.Role {
	case "system", "user", "assistant":
		return true
	}
	return false
}

// mergeMessages returns a new message with a's role, name and members and
// the content of a followed by that of b. Neither message is modified.
func mergeMessages(a, b *llmproxy.Message) llmproxy.Message {
	m := *a
	m.Content = joinContent(a.Content, b.Content)
	if len(b.Extra) > 0 {
		m.Extra = maps.Clone(b.Extra)
		maps.Copy(m.Extra, a.Extra) // a's members win
	}
	return m
}

// joinContent returns new content holding a then b: text joined by a blank
// line when both are strings, otherwise the parts of both in order.
func joinContent(a, b *llmproxy.Content) *llmproxy.Content {
	switch {
	case isEmpty(a):
		return b
	case isEmpty(b):
		return a
	case a.Parts == nil && b.Parts == nil:
		return llmproxy.Text(a.Text + "\n\n" + b.Text)
	}
	return &llmproxy.Content{Parts: slices.Concat(asParts(a), asParts(b))}
}

func isEmpty(c *llmproxy.Content) bool {
	return c == nil || (c.Parts == nil && c.Text == "") || (c.Parts != nil && len(c.Parts) == 0)
}

func asParts(c *llmproxy.Content) []llmproxy.ContentPart {
	if c.Parts != nil {
		return c.Parts
	}
	return []llmproxy.ContentPart{{Type: "text", Text: c.Text}}
}
