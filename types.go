package llmproxy

import (
	"bytes"
	"encoding/json"
	"reflect"
)

// ChatRequest is an OpenAI chat completion request. The fields the proxy
// reads or translates are modelled; every other member the client sent
// (tools options, response_format, reasoning_effort, vendor extras, …) is
// kept in Extra and reaches an OpenAI-compatible upstream unchanged. (A
// server that forwards a client's bytes as they came uses RawChatRequest.)
type ChatRequest struct {
	Model               string          `json:"model"`
	Messages            []Message       `json:"messages"`
	MaxTokens           *int            `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int            `json:"max_completion_tokens,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	N                   *int            `json:"n,omitempty"`
	Stop                Stop            `json:"stop,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *StreamOptions  `json:"stream_options,omitempty"`
	Tools               []Tool          `json:"tools,omitempty"`
	ToolChoice          json.RawMessage `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls,omitempty"`
	User                string          `json:"user,omitempty"`

	// Extra holds the members not modelled above, forwarded verbatim.
	Extra Extra `json:"-"`
}

type chatRequestJSON ChatRequest

// MarshalJSON encodes the request with its Extra members.
func (r *ChatRequest) MarshalJSON() ([]byte, error) {
	return marshalWithExtra((*chatRequestJSON)(r), r.Extra)
}

// UnmarshalJSON decodes the request, keeping unknown members in Extra.
func (r *ChatRequest) UnmarshalJSON(data []byte) error {
	extra, err := unmarshalWithExtra(data, (*chatRequestJSON)(r))
	r.Extra = extra
	return err
}

// ParseChatRequest decodes a chat completion request from a client's body
// and validates it (see Validate).
func ParseChatRequest(body []byte) (*ChatRequest, error) {
	var r ChatRequest
	if err := decodeRequest(body, &r); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Validate checks the parts of the request that the proxy relies on and
// returns an *Error of kind KindInvalidRequest naming the first problem.
// Its first two rules, a model and messages, are those ReadChatRequest
// checks too.
func (r *ChatRequest) Validate() error {
	switch {
	case r.Model == "":
		return errNoModel()
	case len(r.Messages) == 0:
		return errNoMessages()
	}
	for i := range r.Messages {
		if r.Messages[i].Role == "" {
			return invalidParam(indexParam("messages", i, "role"), "each message needs a role")
		}
	}
	if err := checkMaxTokens("max_tokens", r.MaxTokens); err != nil {
		return err
	}
	if err := checkMaxTokens("max_completion_tokens", r.MaxCompletionTokens); err != nil {
		return err
	}
	if r.N != nil && (*r.N < 1 || *r.N > 128) {
		return invalidParam("n", "n must be between 1 and 128")
	}
	if r.Temperature != nil && (*r.Temperature < 0 || *r.Temperature > 2) {
		return invalidParam("temperature", "temperature must be between 0 and 2")
	}
	if r.TopP != nil && (*r.TopP < 0 || *r.TopP > 1) {
		return invalidParam("top_p", "top_p must be between 0 and 1")
	}
	return nil
}

// Message is one chat message. Content is nil for an assistant message that
// only calls tools, a string (Content.Text) or a list of parts.
type Message struct {
	Role       string    `json:"role"`
	Content    *Content  `json:"content"`
	Name       string    `json:"name,omitempty"`
	ToolCalls  ToolCalls `json:"tool_calls,omitempty"`
	ToolCallID string    `json:"tool_call_id,omitempty"`
	Refusal    *string   `json:"refusal,omitempty"`

	// Extra holds the members not modelled above (reasoning_content,
	// annotations, audio, …), forwarded verbatim.
	Extra Extra `json:"-"`
}

type messageJSON Message

// MarshalJSON encodes the message with its Extra members.
func (m *Message) MarshalJSON() ([]byte, error) { return marshalWithExtra((*messageJSON)(m), m.Extra) }

// UnmarshalJSON decodes the message, keeping unknown members in Extra.
func (m *Message) UnmarshalJSON(data []byte) error {
	extra, err := unmarshalWithExtra(data, (*messageJSON)(m))
	m.Extra = extra
	return err
}

// answerMessage is the message of an answer's choice. The OpenAI spec
// requires refusal in it, so it is written as null when unset; a Message
// of a request leaves it out, so that the bytes sent upstream do not grow.
type answerMessage Message

// MarshalJSON encodes the message as Message does, with refusal always
// present.
func (m *answerMessage) MarshalJSON() ([]byte, error) {
	b, err := (*Message)(m).MarshalJSON()
	if err != nil || m.Refusal != nil {
		return b, err
	}
	// b is an object with at least role and content, and Extra cannot
	// hold refusal (a modelled member), so the member goes before the
	// closing brace.
	return append(b[:len(b)-1], `,"refusal":null}`...), nil
}

// Content is a message's content: a plain string, or a list of parts when
// Parts is not nil.
type Content struct {
	Text  string
	Parts []ContentPart
}

// Text returns string content for a Message.
func Text(s string) *Content { return &Content{Text: s} }

// String returns the text of the content: Text, or the text parts joined.
func (c *Content) String() string {
	if c == nil {
		return ""
	}
	if c.Parts == nil {
		return c.Text
	}
	var b bytes.Buffer
	for _, p := range c.Parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// MarshalJSON encodes the content as a string or an array of parts.
func (c Content) MarshalJSON() ([]byte, error) {
	if c.Parts != nil {
		return json.Marshal(c.Parts)
	}
	return json.Marshal(c.Text)
}

// UnmarshalJSON accepts a string or an array of parts.
func (c *Content) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		c.Parts = []ContentPart{}
		return json.Unmarshal(data, &c.Parts)
	}
	if len(data) > 0 && data[0] != '"' {
		// A type error, so that the decoder adds where it happened
		// ("messages.content") and the client learns which member is wrong.
		got := "number"
		switch data[0] {
		case '{':
			got = "object"
		case 't', 'f':
			got = "bool"
		case 'n':
			got = "null"
		}
		return &json.UnmarshalTypeError{Value: got, Type: reflect.TypeFor[Content]()}
	}
	return json.Unmarshal(data, &c.Text)
}

// ContentPart is one part of a multi-part message content.
type ContentPart struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	ImageURL *ImageURL `json:"image_url,omitempty"`

	// Extra holds the members not modelled above (input_audio, file, …).
	Extra Extra `json:"-"`
}

type contentPartJSON ContentPart

// MarshalJSON encodes the part with its Extra members.
func (p *ContentPart) MarshalJSON() ([]byte, error) {
	return marshalWithExtra((*contentPartJSON)(p), p.Extra)
}

// UnmarshalJSON decodes the part, keeping unknown members in Extra.
func (p *ContentPart) UnmarshalJSON(data []byte) error {
	extra, err := unmarshalWithExtra(data, (*contentPartJSON)(p))
	p.Extra = extra
	return err
}

// ImageURL is an image_url content part: an http(s) URL or a data URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// ToolCall is a call of a function tool made by the assistant.
type ToolCall struct {
	// Index is set in streamed deltas only.
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}

// FunctionCall names a function and carries its arguments as a JSON string.
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// ToolCalls is a list of tool calls. It decodes leniently: null and the
// string "None" (sent by some Python-backed upstreams) both mean no calls.
type ToolCalls []ToolCall

// UnmarshalJSON accepts an array, null or a string (taken as no calls).
func (t *ToolCalls) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] != '[' {
		*t = nil
		return nil
	}
	return json.Unmarshal(data, (*[]ToolCall)(t))
}

// Tool is a tool the model may call.
type Tool struct {
	Type     string              `json:"type"`
	Function *FunctionDefinition `json:"function,omitempty"`

	// Extra holds the members of non-function tools.
	Extra Extra `json:"-"`
}

type toolJSON Tool

// MarshalJSON encodes the tool with its Extra members.
func (t *Tool) MarshalJSON() ([]byte, error) { return marshalWithExtra((*toolJSON)(t), t.Extra) }

// UnmarshalJSON decodes the tool, keeping unknown members in Extra.
func (t *Tool) UnmarshalJSON(data []byte) error {
	extra, err := unmarshalWithExtra(data, (*toolJSON)(t))
	t.Extra = extra
	return err
}

// FunctionDefinition describes a function tool.
type FunctionDefinition struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// Stop is the stop parameter: one string or a list of strings.
type Stop []string

// MarshalJSON encodes a single stop sequence as a string, several as an array.
func (s Stop) MarshalJSON() ([]byte, error) {
	if len(s) == 1 {
		return json.Marshal(s[0])
	}
	return json.Marshal([]string(s))
}

// UnmarshalJSON accepts a string, an array of strings or null.
func (s *Stop) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var one string
		if err := json.Unmarshal(data, &one); err != nil {
			return err
		}
		*s = Stop{one}
		return nil
	}
	return json.Unmarshal(data, (*[]string)(s))
}

// StreamOptions are the options of a streamed request.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage,omitempty"`

	// Extra holds the members not modelled above (include_obfuscation, …).
	Extra Extra `json:"-"`
}

type streamOptionsJSON StreamOptions

// MarshalJSON encodes the options with their Extra members.
func (o *StreamOptions) MarshalJSON() ([]byte, error) {
	return marshalWithExtra((*streamOptionsJSON)(o), o.Extra)
}

// UnmarshalJSON decodes the options, keeping unknown members in Extra.
func (o *StreamOptions) UnmarshalJSON(data []byte) error {
	extra, err := unmarshalWithExtra(data, (*streamOptionsJSON)(o))
	o.Extra = extra
	return err
}

// ChatResponse is an OpenAI chat completion. Members the upstream sent that
// are not modelled (citations, search_results, provider, …) are kept in
// Extra. ProxyInfo is set by the proxy.
type ChatResponse struct {
	ID                string     `json:"id"`
	Object            string     `json:"object"`
	Created           int64      `json:"created"`
	Model             string     `json:"model"`
	SystemFingerprint string     `json:"system_fingerprint,omitempty"`
	Choices           []Choice   `json:"choices"`
	Usage             *Usage     `json:"usage,omitempty"`
	ProxyInfo         *ProxyInfo `json:"_proxy_info,omitempty"`

	// Extra holds the members not modelled above.
	Extra Extra `json:"-"`

	raw []byte
}

type chatResponseJSON ChatResponse

// MarshalJSON encodes the response with its Extra members.
func (r *ChatResponse) MarshalJSON() ([]byte, error) {
	return marshalWithExtra((*chatResponseJSON)(r), r.Extra)
}

// UnmarshalJSON decodes the response, keeping unknown members in Extra.
func (r *ChatResponse) UnmarshalJSON(data []byte) error {
	extra, err := unmarshalWithExtra(data, (*chatResponseJSON)(r))
	r.Extra = extra
	return err
}

// SetRaw records the upstream's exact answer bytes (a JSON object) so that a
// server can return them as they are, with _proxy_info spliced in, instead
// of encoding the response again. Providers that decode an OpenAI-format
// body call it; the bytes must describe the same response as the fields.
func (r *ChatResponse) SetRaw(b []byte) { r.raw = b }

// Raw returns the bytes recorded by SetRaw, or nil.
func (r *ChatResponse) Raw() []byte { return r.raw }

// Choice is one choice of a chat completion.
type Choice struct {
	Index        int     `json:"index"`
	Message      Message `json:"message"`
	FinishReason string  `json:"finish_reason"`

	// Extra holds the members not modelled above (logprobs, …).
	Extra Extra `json:"-"`
}

type choiceJSON Choice

// choiceOut is the encoded form of a Choice: its members, and logprobs,
// which the OpenAI spec requires in every choice of an answer.
type choiceOut struct {
	Index        int             `json:"index"`
	Message      *answerMessage  `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

// MarshalJSON encodes the choice with its Extra members. The members the
// OpenAI spec requires of an answer's choice are always written: logprobs
// (from Extra, else null) and the message's refusal (null when unset).
func (c *Choice) MarshalJSON() ([]byte, error) {
	out := choiceOut{Index: c.Index, Message: (*answerMessage)(&c.Message), Logprobs: member(c.Extra, "logprobs"), FinishReason: c.FinishReason}
	return marshalWithExtra(&out, c.Extra)
}

// member returns the member key of x, or nil (which encodes as null) when x
// has no such member or an empty one.
func member(x Extra, key string) json.RawMessage {
	if v := x[key]; len(v) > 0 {
		return v
	}
	return nil
}

// UnmarshalJSON decodes the choice, keeping unknown members in Extra.
func (c *Choice) UnmarshalJSON(data []byte) error {
	extra, err := unmarshalWithExtra(data, (*choiceJSON)(c))
	c.Extra = extra
	return err
}

// Usage counts the tokens of a request.
type Usage struct {
	PromptTokens            int           `json:"prompt_tokens"`
	CompletionTokens        int           `json:"completion_tokens"`
	TotalTokens             int           `json:"total_tokens"`
	PromptTokensDetails     *TokenDetails `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *TokenDetails `json:"completion_tokens_details,omitempty"`

	// Extra holds the members not modelled above (cost, …).
	Extra Extra `json:"-"`
}

type usageJSON Usage

// MarshalJSON encodes the usage with its Extra members.
func (u *Usage) MarshalJSON() ([]byte, error) { return marshalWithExtra((*usageJSON)(u), u.Extra) }

// UnmarshalJSON decodes the usage, keeping unknown members in Extra.
func (u *Usage) UnmarshalJSON(data []byte) error {
	extra, err := unmarshalWithExtra(data, (*usageJSON)(u))
	u.Extra = extra
	return err
}

// TokenDetails breaks a token count down. It decodes leniently: null and
// strings such as "None" mean no details.
type TokenDetails struct {
	CachedTokens    int `json:"cached_tokens,omitempty"`
	ReasoningTokens int `json:"reasoning_tokens,omitempty"`
	// CacheWriteTokens counts the prompt tokens written to the provider's
	// prompt cache (Anthropic's cache_creation_input_tokens), which are
	// part of prompt_tokens and priced apart (see ModelPrice). The OpenAI
	// format has no member for it: adapters set it and it is not encoded.
	CacheWriteTokens int `json:"-"`

	// Extra holds the members not modelled above.
	Extra Extra `json:"-"`
}

type tokenDetailsJSON TokenDetails

// MarshalJSON encodes the details with their Extra members.
func (d *TokenDetails) MarshalJSON() ([]byte, error) {
	return marshalWithExtra((*tokenDetailsJSON)(d), d.Extra)
}

// UnmarshalJSON decodes the details, keeping unknown members in Extra and
// treating anything but an object as empty.
func (d *TokenDetails) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		*d = TokenDetails{}
		return nil
	}
	extra, err := unmarshalWithExtra(data, (*tokenDetailsJSON)(d))
	d.Extra = extra
	return err
}

// ProxyInfo tells which provider answered a request and how. The server adds
// it to every JSON answer as _proxy_info.
type ProxyInfo struct {
	Provider string `json:"provider"`
	// Model is the model id sent to the provider that answered: the
	// concrete model of an alias, after the provider's model_map (see
	// UpstreamModel).
	Model         string  `json:"model,omitempty"`
	AttemptNumber int     `json:"attempt_number"`
	ResponseTime  float64 `json:"response_time"` // seconds
	RequestID     string  `json:"request_id"`
	// CostUSD is the price of the request in US dollars, from the usage
	// the upstream reported and the model's price (see ModelPrice); nil
	// when the model has no price or the upstream reported no usage. A
	// stream's is set when it ends (the server puts it in the last
	// chunk's _proxy_info).
	CostUSD *float64 `json:"cost_usd,omitempty"`
}

// Model is one entry of the model list.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// ModelList is the answer of GET /v1/models.
type ModelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}
