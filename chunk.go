package llmproxy

import "bytes"

// ChatChunk is one chunk of a streamed chat completion
// ("chat.completion.chunk"). Members not modelled are kept in Extra.
type ChatChunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	SystemFingerprint string        `json:"system_fingerprint,omitempty"`
	Choices           []ChunkChoice `json:"choices"`
	Usage             *Usage        `json:"usage,omitempty"`
	ProxyInfo         *ProxyInfo    `json:"_proxy_info,omitempty"`

	// Extra holds the members not modelled above (obfuscation, citations, …).
	Extra Extra `json:"-"`

	raw []byte
}

type chatChunkJSON ChatChunk

// MarshalJSON encodes the chunk with its Extra members.
func (c *ChatChunk) MarshalJSON() ([]byte, error) {
	return marshalWithExtra((*chatChunkJSON)(c), c.Extra)
}

// UnmarshalJSON decodes the chunk, keeping unknown members in Extra.
func (c *ChatChunk) UnmarshalJSON(data []byte) error {
	extra, err := unmarshalWithExtra(data, (*chatChunkJSON)(c))
	c.Extra = extra
	return err
}

// SetRaw records the upstream's exact bytes of the chunk (the data of its
// SSE event), so that a server can forward them without encoding the chunk
// again. The bytes must describe the same chunk as the fields, and must not
// be modified afterwards.
func (c *ChatChunk) SetRaw(b []byte) { c.raw = b }

// Raw returns the bytes recorded by SetRaw, or nil.
func (c *ChatChunk) Raw() []byte { return c.raw }

// HasContent reports whether the chunk carries something a client shows:
// text, a refusal, a tool call, reasoning, or a finish reason. A chunk with
// only a role, or only usage, has no content.
func (c *ChatChunk) HasContent() bool {
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.FinishReason != nil || ch.Delta.hasContent() {
			return true
		}
	}
	return false
}

// chunkUsage returns the chunk's usage, if any.
func (c *ChatChunk) chunkUsage() *Usage { return c.Usage }

func (c *ChatChunk) chunkModel() string { return c.Model }

// Finished reports whether the chunk belongs to the end of a stream: a
// choice of it has a finish reason, or it has no choices at all (a usage
// chunk).
func (c *ChatChunk) Finished() bool {
	if len(c.Choices) == 0 {
		return true
	}
	for i := range c.Choices {
		if c.Choices[i].FinishReason != nil {
			return true
		}
	}
	return false
}

// ChunkChoice is one choice of a chat chunk.
type ChunkChoice struct {
	Index        int     `json:"index"`
	Delta        Delta   `json:"delta"`
	FinishReason *string `json:"finish_reason"`

	// Extra holds the members not modelled above (logprobs, …).
	Extra Extra `json:"-"`
}

type chunkChoiceJSON ChunkChoice

// MarshalJSON encodes the choice with its Extra members.
func (c *ChunkChoice) MarshalJSON() ([]byte, error) {
	return marshalWithExtra((*chunkChoiceJSON)(c), c.Extra)
}

// UnmarshalJSON decodes the choice, keeping unknown members in Extra.
func (c *ChunkChoice) UnmarshalJSON(data []byte) error {
	extra, err := unmarshalWithExtra(data, (*chunkChoiceJSON)(c))
	c.Extra = extra
	return err
}

// Delta is the increment of a message carried by a chunk.
type Delta struct {
	Role      string    `json:"role,omitempty"`
	Content   *string   `json:"content,omitempty"`
	ToolCalls ToolCalls `json:"tool_calls,omitempty"`
	Refusal   *string   `json:"refusal,omitempty"`

	// Extra holds the members not modelled above (reasoning_content, …).
	Extra Extra `json:"-"`
}

type deltaJSON Delta

// MarshalJSON encodes the delta with its Extra members.
func (d *Delta) MarshalJSON() ([]byte, error) { return marshalWithExtra((*deltaJSON)(d), d.Extra) }

// UnmarshalJSON decodes the delta, keeping unknown members in Extra.
func (d *Delta) UnmarshalJSON(data []byte) error {
	extra, err := unmarshalWithExtra(data, (*deltaJSON)(d))
	d.Extra = extra
	return err
}

func (d *Delta) hasContent() bool {
	if (d.Content != nil && *d.Content != "") || (d.Refusal != nil && *d.Refusal != "") || len(d.ToolCalls) > 0 {
		return true
	}
	for _, k := range [...]string{"reasoning_content", "reasoning"} {
		if v, ok := d.Extra[k]; ok && !bytes.Equal(v, []byte("null")) && !bytes.Equal(v, []byte(`""`)) {
			return true
		}
	}
	return false
}

// HasContent reports whether a streamed text completion chunk carries text
// or a finish reason.
func (r *CompletionResponse) HasContent() bool {
	for _, c := range r.Choices {
		if c.Text != "" || c.FinishReason != "" {
			return true
		}
	}
	return false
}

func (r *CompletionResponse) chunkUsage() *Usage { return r.Usage }

func (r *CompletionResponse) chunkModel() string { return r.Model }

// Finished reports whether the chunk belongs to the end of a stream (see
// ChatChunk.Finished).
func (r *CompletionResponse) Finished() bool {
	if len(r.Choices) == 0 {
		return true
	}
	for _, c := range r.Choices {
		if c.FinishReason != "" {
			return true
		}
	}
	return false
}
