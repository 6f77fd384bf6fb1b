package llmproxy

import "encoding/json"

// CompletionRequest is a legacy OpenAI text completion request
// (POST /v1/completions). Members not modelled are kept in Extra and reach
// an OpenAI-compatible upstream unchanged.
type CompletionRequest struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	MaxTokens     *int            `json:"max_tokens,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	N             *int            `json:"n,omitempty"`
	Stop          Stop            `json:"stop,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	StreamOptions *StreamOptions  `json:"stream_options,omitempty"`
	User          string          `json:"user,omitempty"`

	// Extra holds the members not modelled above (suffix, echo, best_of, …).
	Extra Extra `json:"-"`

	raw []byte
}

type completionRequestJSON CompletionRequest

// MarshalJSON encodes the request with its Extra members.
func (r *CompletionRequest) MarshalJSON() ([]byte, error) {
	return marshalWithExtra((*completionRequestJSON)(r), r.Extra)
}

// UnmarshalJSON decodes the request, keeping unknown members in Extra.
func (r *CompletionRequest) UnmarshalJSON(data []byte) error {
	extra, err := unmarshalWithExtra(data, (*completionRequestJSON)(r))
	r.Extra = extra
	return err
}

// Raw returns the bytes the request was parsed from, or nil when it was
// built in code or changed since (see Touch): OpenAI-format providers send
// these bytes as they are.
func (r *CompletionRequest) Raw() []byte { return r.raw }

// Touch forgets the original bytes of a parsed request, so that providers
// encode it from its fields: call it after changing a parsed request.
func (r *CompletionRequest) Touch() { r.raw = nil }

// PromptText returns the prompt when it is a string or a list of strings
// (joined with newlines); ok is false for token arrays.
func (r *CompletionRequest) PromptText() (text string, ok bool) {
	if err := json.Unmarshal(r.Prompt, &text); err == nil {
		return text, true
	}
	var list []string
	if err := json.Unmarshal(r.Prompt, &list); err == nil {
		for i, s := range list {
			if i > 0 {
				text += "\n"
			}
			text += s
		}
		return text, true
	}
	return "", false
}

// ParseCompletionRequest decodes and validates a text completion request
// from a client's body; the request remembers body (see Raw).
func ParseCompletionRequest(body []byte) (*CompletionRequest, error) {
	var r CompletionRequest
	if err := decodeRequest(body, &r); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	r.raw = body
	return &r, nil
}

// Validate checks the request's shape (see ChatRequest.Validate).
func (r *CompletionRequest) Validate() error {
	switch {
	case r.Model == "":
		return errNoModel()
	case len(r.Prompt) == 0 || string(r.Prompt) == "null":
		return invalidParam("prompt", "you must provide a prompt parameter")
	}
	if err := checkMaxTokens("max_tokens", r.MaxTokens); err != nil {
		return err
	}
	if r.N != nil && (*r.N < 1 || *r.N > 128) {
		return invalidParam("n", "n must be between 1 and 128")
	}
	return nil
}

// CompletionResponse is a legacy text completion answer.
type CompletionResponse struct {
	ID        string             `json:"id"`
	Object    string             `json:"object"`
	Created   int64              `json:"created"`
	Model     string             `json:"model"`
	Choices   []CompletionChoice `json:"choices"`
	Usage     *Usage             `json:"usage,omitempty"`
	ProxyInfo *ProxyInfo         `json:"_proxy_info,omitempty"`

	// Extra holds the members not modelled above.
	Extra Extra `json:"-"`

	raw []byte
}

type completionResponseJSON CompletionResponse

// MarshalJSON encodes the response with its Extra members.
func (r *CompletionResponse) MarshalJSON() ([]byte, error) {
	return marshalWithExtra((*completionResponseJSON)(r), r.Extra)
}

// UnmarshalJSON decodes the response, keeping unknown members in Extra.
func (r *CompletionResponse) UnmarshalJSON(data []byte) error {
	extra, err := unmarshalWithExtra(data, (*completionResponseJSON)(r))
	r.Extra = extra
	return err
}

// SetRaw records the upstream's exact answer (see ChatResponse.SetRaw).
func (r *CompletionResponse) SetRaw(b []byte) { r.raw = b }

// Raw returns the bytes recorded by SetRaw, or nil.
func (r *CompletionResponse) Raw() []byte { return r.raw }

// CompletionChoice is one choice of a text completion.
type CompletionChoice struct {
	Index        int    `json:"index"`
	Text         string `json:"text"`
	FinishReason string `json:"finish_reason"`

	// Extra holds the members not modelled above (logprobs, …).
	Extra Extra `json:"-"`
}

type completionChoiceJSON CompletionChoice

// completionChoiceOut is the encoded form of a CompletionChoice: its
// members, with logprobs, which the OpenAI spec requires in every choice,
// and finish_reason null while a stream goes on, as OpenAI sends it.
type completionChoiceOut struct {
	Index        int             `json:"index"`
	Text         string          `json:"text"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

// MarshalJSON encodes the choice with its Extra members, logprobs (from
// Extra, else null) and finish_reason (null when empty).
func (c *CompletionChoice) MarshalJSON() ([]byte, error) {
	out := completionChoiceOut{Index: c.Index, Text: c.Text, Logprobs: member(c.Extra, "logprobs")}
	if c.FinishReason != "" {
		out.FinishReason = &c.FinishReason
	}
	return marshalWithExtra(&out, c.Extra)
}

// UnmarshalJSON decodes the choice, keeping unknown members in Extra.
func (c *CompletionChoice) UnmarshalJSON(data []byte) error {
	extra, err := unmarshalWithExtra(data, (*completionChoiceJSON)(c))
	c.Extra = extra
	return err
}
