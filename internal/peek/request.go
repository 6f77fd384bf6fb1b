package peek

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// The checks below follow the decoding of llmproxy.ChatRequest member by
// member. Two kinds of objects are decoded differently there:
//
//   - the types with an Extra field (ChatRequest, Message, ContentPart,
//     Tool, StreamOptions, and on the answer side ChatResponse, Choice,
//     ChatChunk, ChunkChoice, Delta, Usage, TokenDetails) match member
//     names exactly: a "MODEL" member is an unknown one. Their checkers
//     compare the names member reads as they are;
//   - the plain structs inside them (ImageURL, ToolCall, FunctionCall,
//     FunctionDefinition, ProxyInfo) are decoded by encoding/json, which
//     matches names without regard to case. Their checkers compare the
//     names in lower case (foldedName).
//
// In both, a modelled member given twice fails (see scanner.once), and any
// member not modelled only needs to be valid JSON.

// Bits of the modelled members of a request, for scanner.once.
const (
	reqModel = 1 << iota
	reqMessages
	reqMaxTokens
	reqMaxCompletionTokens
	reqTemperature
	reqTopP
	reqN
	reqStop
	reqStream
	reqStreamOptions
	reqTools
	reqToolChoice
	reqParallelToolCalls
	reqUser
)

// request is what checkRequest finds: the request, and where its model is.
type request struct {
	Request
	model    []byte // the model's bytes between the quotes
	modelAt  int    // the index of the model's opening quote
	modelEsc bool   // the model has escapes
}

// checkRequest reads a chat request, checking it as ParseChatRequest does
// (decoding, then Validate).
func (s *scanner) checkRequest(r *request) {
	var seen uint32
	for n := 0; s.member(&n); {
		switch string(s.name) {
		case "model":
			s.once(&seen, reqModel)
			r.modelAt = s.at()
			r.model, r.modelEsc = s.str() // null leaves it empty
			if len(r.model) == 0 {
				s.fail()
			}
		case "messages":
			s.once(&seen, reqMessages)
			s.checkMessages()
		case "max_tokens":
			s.once(&seen, reqMaxTokens)
			s.checkMaxTokens()
		case "max_completion_tokens":
			s.once(&seen, reqMaxCompletionTokens)
			s.checkMaxTokens()
		case "temperature":
			s.once(&seen, reqTemperature)
			s.checkRange(0, 2)
		case "top_p":
			s.once(&seen, reqTopP)
			s.checkRange(0, 1)
		case "n":
			s.once(&seen, reqN)
			if v, null := s.intOrNull(strconv.IntSize); !null && (v < 1 || v > 128) {
				s.fail()
			}
		case "stop":
			s.once(&seen, reqStop)
			s.checkStop()
		case "stream":
			s.once(&seen, reqStream)
			r.Stream = s.boolOrNull()
		case "stream_options":
			s.once(&seen, reqStreamOptions)
			s.checkStreamOptions(&r.Request)
		case "tools":
			s.once(&seen, reqTools)
			s.checkTools()
		case "tool_choice":
			s.once(&seen, reqToolChoice)
			s.skip()
		case "parallel_tool_calls":
			s.once(&seen, reqParallelToolCalls)
			s.boolOrNull()
		case "user":
			s.once(&seen, reqUser)
			s.strOrNull()
		default:
			s.skip()
		}
	}
	if seen&reqModel == 0 || seen&reqMessages == 0 {
		s.fail()
	}
}

// modelString returns the model of a request checked in body as
// encoding/json decodes it: a copy of its bytes, or, when they hold escapes
// or invalid UTF-8 (which encoding/json replaces), the string encoding/json
// unquotes.
func (r *request) modelString(body []byte) (string, bool) {
	if !r.modelEsc && utf8.Valid(r.model) {
		return string(r.model), true
	}
	var m string
	if err := json.Unmarshal(body[r.modelAt:r.modelAt+len(r.model)+2], &m); err != nil {
		return "", false
	}
	return m, true
}

// checkMaxTokens reads max_tokens or max_completion_tokens: null or an int
// of at least 1.
func (s *scanner) checkMaxTokens() {
	if v, null := s.intOrNull(strconv.IntSize); !null && v < 1 {
		s.fail()
	}
}

// checkRange reads temperature or top_p: null or a number in [lo, hi].
func (s *scanner) checkRange(lo, hi float64) {
	if v, null := s.floatOrNull(); !null && (v < lo || v > hi) {
		s.fail()
	}
}

// checkMessages reads the messages: a non-empty array of messages, each
// with a role.
func (s *scanner) checkMessages() {
	n := 0
	for s.element(&n) {
		s.checkMessage(true)
	}
	if n == 0 {
		s.fail()
	}
}

// Bits of the modelled members of a message.
const (
	msgRole = 1 << iota
	msgContent
	msgName
	msgToolCalls
	msgToolCallID
	msgRefusal
)

// checkMessage reads a message object. In a request (needRole) it must
// have a non-empty role; in an answer it may also be null.
func (s *scanner) checkMessage(needRole bool) {
	if !needRole && s.null() {
		return
	}
	var seen uint32
	for n := 0; s.member(&n); {
		switch string(s.name) {
		case "role":
			s.once(&seen, msgRole)
			if !needRole {
				s.strOrNull()
			} else if role, _ := s.str(); len(role) == 0 {
				s.fail()
			}
		case "content":
			s.once(&seen, msgContent)
			s.checkContent()
		case "name":
			s.once(&seen, msgName)
			s.strOrNull()
		case "tool_calls":
			s.once(&seen, msgToolCalls)
			s.checkToolCalls()
		case "tool_call_id":
			s.once(&seen, msgToolCallID)
			s.strOrNull()
		case "refusal":
			s.once(&seen, msgRefusal)
			s.strOrNull()
		default:
			s.skip()
		}
	}
	if needRole && seen&msgRole == 0 {
		s.fail()
	}
}

// checkContent reads a message's content: null, a string or an array of
// content parts.
func (s *scanner) checkContent() {
	switch s.peek() {
	case 'n':
		s.literal("null")
	case '"':
		s.str()
	case '[':
		for n := 0; s.element(&n); {
			s.checkContentPart()
		}
	default:
		s.fail()
	}
}

// Bits of the modelled members of a content part.
const (
	partType = 1 << iota
	partText
	partImageURL
)

// checkContentPart reads a content part object: a text part, an image_url
// part, or any other kind (input_audio, file, ...) whose members are not
// modelled.
func (s *scanner) checkContentPart() {
	var seen uint32
	for n := 0; s.member(&n); {
		switch string(s.name) {
		case "type":
			s.once(&seen, partType)
			s.strOrNull()
		case "text":
			s.once(&seen, partText)
			s.strOrNull()
		case "image_url":
			s.once(&seen, partImageURL)
			if !s.null() {
				s.checkImageURL()
			}
		default:
			s.skip()
		}
	}
}

// checkImageURL reads the object of an image_url part (a plain struct).
func (s *scanner) checkImageURL() {
	var seen uint32
	var buf [maxKeyLen]byte
	for n := 0; s.member(&n); {
		switch string(s.foldedName(&buf)) {
		case "url":
			s.once(&seen, 1)
			s.strOrNull()
		case "detail":
			s.once(&seen, 2)
			s.strOrNull()
		default:
			s.skip()
		}
	}
}

// checkToolCalls reads a message's or a delta's tool_calls, which decode
// leniently: anything but an array means no calls. It returns the number
// of calls.
func (s *scanner) checkToolCalls() int {
	if s.peek() != '[' {
		s.skip()
		return 0
	}
	n := 0
	for s.element(&n) {
		s.checkToolCall()
	}
	return n
}

// checkToolCall reads a tool call object (a plain struct).
func (s *scanner) checkToolCall() {
	var seen uint32
	var buf [maxKeyLen]byte
	for n := 0; s.member(&n); {
		switch string(s.foldedName(&buf)) {
		case "index":
			s.once(&seen, 1)
			s.intOrNull(strconv.IntSize)
		case "id":
			s.once(&seen, 2)
			s.strOrNull()
		case "type":
			s.once(&seen, 4)
			s.strOrNull()
		case "function":
			s.once(&seen, 8)
			if !s.null() {
				s.checkFunctionCall()
			}
		default:
			s.skip()
		}
	}
}

// checkFunctionCall reads the function of a tool call (a plain struct).
func (s *scanner) checkFunctionCall() {
	var seen uint32
	var buf [maxKeyLen]byte
	for n := 0; s.member(&n); {
		switch string(s.foldedName(&buf)) {
		case "name":
			s.once(&seen, 1)
			s.strOrNull()
		case "arguments":
			s.once(&seen, 2)
			s.strOrNull()
		default:
			s.skip()
		}
	}
}

// checkStop reads stop: null, a string or an array of strings (or nulls).
func (s *scanner) checkStop() {
	switch s.peek() {
	case 'n':
		s.literal("null")
	case '"':
		s.str()
	case '[':
		for n := 0; s.element(&n); {
			s.strOrNull()
		}
	default:
		s.fail()
	}
}

// checkStreamOptions reads stream_options: null or an object whose
// include_usage is a boolean or null.
func (s *scanner) checkStreamOptions(r *Request) {
	r.StreamOptions, r.IncludeUsage = false, false
	if s.null() {
		return
	}
	r.StreamOptions = true
	var seen uint32
	for n := 0; s.member(&n); {
		switch string(s.name) {
		case "include_usage":
			s.once(&seen, 1)
			r.IncludeUsage = s.boolOrNull()
		default:
			s.skip()
		}
	}
}

// checkTools reads tools: null or an array of tool objects.
func (s *scanner) checkTools() {
	if s.null() {
		return
	}
	for n := 0; s.element(&n); {
		s.checkTool()
	}
}

// checkTool reads a tool object: a function tool, or another kind whose
// members are not modelled.
func (s *scanner) checkTool() {
	var seen uint32
	for n := 0; s.member(&n); {
		switch string(s.name) {
		case "type":
			s.once(&seen, 1)
			s.strOrNull()
		case "function":
			s.once(&seen, 2)
			if !s.null() {
				s.checkFunctionDefinition()
			}
		default:
			s.skip()
		}
	}
}

// checkFunctionDefinition reads the function of a tool (a plain struct).
func (s *scanner) checkFunctionDefinition() {
	var seen uint32
	var buf [maxKeyLen]byte
	for n := 0; s.member(&n); {
		switch string(s.foldedName(&buf)) {
		case "name":
			s.once(&seen, 1)
			s.strOrNull()
		case "description":
			s.once(&seen, 2)
			s.strOrNull()
		case "parameters":
			s.once(&seen, 4)
			s.skip()
		case "strict":
			s.once(&seen, 8)
			s.boolOrNull()
		default:
			s.skip()
		}
	}
}
