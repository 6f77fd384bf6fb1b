// Package peek reads the few members of OpenAI-format JSON that the proxy
// needs (a request's model and stream flag, an answer's usage, a chunk's
// content and finish markers) without decoding the rest, so that the
// server can forward the bytes it received instead of decoding and
// re-encoding them.
//
// Every function here is a fast path with a contract: when it reports ok,
// the full decoder of the root package (llmproxy.ParseChatRequest, the
// decoding of llmproxy.ChatResponse and llmproxy.ChatChunk) accepts the same
// bytes and agrees with what was peeked. When it cannot vouch for that (the
// JSON is invalid, a modelled member has a shape it does not check, an
// "error" member is present, ...) it reports !ok and the caller takes the
// full decoder, which gives the canonical answer or error. The functions
// are safe for concurrent use.
//
// The functions scan the bytes once, without building a tree: they check
// the whole text with the syntax rules of encoding/json and, member by
// member, the types the full decoder would check, and read the few values
// they return on the way. A modelled member given twice, or a member name
// with an escape or a non-ASCII byte in an object whose members are
// modelled, makes them report !ok rather than follow encoding/json's rules
// for those.
package peek

// Request is what the proxy reads of a chat request.
type Request struct {
	// Model is the "model" member.
	Model string
	// Stream is the "stream" member (false when absent or null).
	Stream bool
	// StreamOptions reports a non-null "stream_options" member, and
	// IncludeUsage its "include_usage" (false when absent or null).
	StreamOptions bool
	IncludeUsage  bool
}

// Usage is the token counts of a "usage" member.
type Usage struct {
	// Present reports a non-null "usage" member.
	Present bool
	// Prompt, Completion and Total are its prompt_tokens,
	// completion_tokens and total_tokens (0 when absent or null).
	Prompt, Completion, Total int
}

// Answer is what the proxy reads of a whole chat completion.
type Answer struct {
	Usage Usage
}

// Chunk is what the proxy reads of one chat completion chunk.
type Chunk struct {
	// Choices is the number of choices.
	Choices int
	// Content is llmproxy.ChatChunk.HasContent; Finished is
	// llmproxy.ChatChunk.Finished; FinishReason reports a choice with a
	// non-empty finish_reason string.
	Content, Finished, FinishReason bool
	Usage                           Usage
}

// ChatRequest peeks at a client's chat completion request. It reports ok
// only when llmproxy.ParseChatRequest accepts body (it decodes and
// validates it) and reads the same model, stream flag and stream options.
// It covers the common shapes: messages whose content is a string, null or
// an array of content parts, tool calls and tool messages, function tools,
// tool_choice, stop, stream_options, the sampling parameters, and any
// member that is not modelled.
func ChatRequest(body []byte) (Request, bool) {
	s := scanner{b: body}
	var r request
	s.checkRequest(&r)
	if !s.end() {
		return Request{}, false
	}
	model, ok := r.modelString(body)
	if !ok {
		return Request{}, false
	}
	r.Model = model
	return r.Request, true
}

// ChatAnswer peeks at an upstream's whole chat completion. It reports ok
// only when body is valid UTF-8 that the OpenAI provider decodes as a
// llmproxy.ChatResponse without an embedded error and with choices, and
// reads the same usage.
func ChatAnswer(body []byte) (Answer, bool) {
	// The scanner checks UTF-8 as it reads the strings, which is all
	// the text can hold but ASCII.
	s := scanner{b: body, utf8: true}
	var a Answer
	s.checkAnswer(&a)
	if !s.end() {
		return Answer{}, false
	}
	return a, true
}

// ChatChunk peeks at the data of one upstream chat chunk. It reports ok
// only when data is valid UTF-8 that the OpenAI provider decodes as a
// llmproxy.ChatChunk it passes on as it is: a "chat.completion.chunk"
// without an embedded error nor a running usage (a usage on a chunk whose
// choices have no finish reason); what it reads then agrees with the
// decoded chunk.
func ChatChunk(data []byte) (Chunk, bool) {
	// The scanner checks UTF-8 as it reads the strings, which is all
	// the text can hold but ASCII.
	s := scanner{b: data, utf8: true}
	var c Chunk
	s.checkChunk(&c)
	if !s.end() {
		return Chunk{}, false
	}
	return c, true
}
