package peek

import "strconv"

// The checks below follow the decoding of llmproxy.ChatResponse and
// llmproxy.ChatChunk by the OpenAI provider (see request.go for how member
// names are matched).

// chunkObject is the object of a plain chat chunk, the only one the peek
// vouches for: the full path rewrites the others.
const chunkObject = "chat.completion.chunk"

// Bits of the modelled members of an answer or a chunk.
const (
	ansID = 1 << iota
	ansObject
	ansCreated
	ansModel
	ansFingerprint
	ansChoices
	ansUsage
	ansProxyInfo
)

// checkAnswer reads a whole chat completion. It fails when there are no
// choices or an "error" member is not null, as the provider does.
func (s *scanner) checkAnswer(a *Answer) {
	if choices, _ := s.checkResponse(&a.Usage, nil); choices == 0 {
		s.fail()
	}
}

// checkResponse reads the members of a whole chat completion or, when c
// is not nil, of a chat chunk, adding what its choices carry to c. It
// fails on an "error" member that is not null (an embedded error,
// OpenRouter's or Blackbox's, which the provider turns into the
// upstream's error), and for a chunk on an object other than
// "chat.completion.chunk". It returns the number of choices and the bits
// of the members seen. (Answers and chunks share it so that their common
// members take one switch.)
func (s *scanner) checkResponse(u *Usage, c *Chunk) (choices int, seen uint32) {
	for n := 0; s.member(&n); {
		switch string(s.name) {
		case "object":
			s.once(&seen, ansObject)
			if c == nil {
				s.strOrNull()
			} else if !s.skipChunkObject() {
				// White space first, or another object.
				if obj, esc := s.str(); esc || string(obj) != chunkObject {
					s.fail()
				}
			}
		case "choices":
			s.once(&seen, ansChoices)
			if s.null() {
				break
			}
			for s.element(&choices) {
				if c == nil {
					s.checkChoice()
				} else {
					s.checkChunkChoice(c)
				}
			}
		case "id":
			s.once(&seen, ansID)
			s.strOrNull()
		case "created":
			s.once(&seen, ansCreated)
			s.intOrNull(64)
		case "model":
			s.once(&seen, ansModel)
			s.strOrNull()
		case "system_fingerprint":
			s.once(&seen, ansFingerprint)
			s.strOrNull()
		case "usage":
			s.once(&seen, ansUsage)
			s.checkUsage(u)
		case "_proxy_info":
			s.once(&seen, ansProxyInfo)
			if !s.null() {
				s.checkProxyInfo()
			}
		case "error":
			if !s.null() {
				s.fail()
			}
		default:
			s.skip()
		}
	}
	return choices, seen
}

// Bits of the modelled members of a choice.
const (
	choiceIndex = 1 << iota
	choiceMessage
	choiceFinishReason
)

// choiceDelta is the bit of a chunk's choice's delta, which stands where
// a whole completion's choice has its message.
const choiceDelta = choiceMessage

// checkChoice reads a choice of a whole completion.
func (s *scanner) checkChoice() {
	var seen uint32
	for n := 0; s.member(&n); {
		switch string(s.name) {
		case "index":
			s.once(&seen, choiceIndex)
			s.intOrNull(strconv.IntSize)
		case "message":
			s.once(&seen, choiceMessage)
			s.checkMessage(false)
		case "finish_reason":
			s.once(&seen, choiceFinishReason)
			s.strOrNull()
		default:
			s.skip()
		}
	}
}

// Bits of the modelled members of a usage.
const (
	usagePrompt = 1 << iota
	usageCompletion
	usageTotal
	usagePromptDetails
	usageCompletionDetails
)

// checkUsage reads a usage: null (not present) or an object of token
// counts.
func (s *scanner) checkUsage(u *Usage) {
	*u = Usage{}
	if s.null() {
		return
	}
	u.Present = true
	var seen uint32
	for n := 0; s.member(&n); {
		switch string(s.name) {
		case "prompt_tokens":
			s.once(&seen, usagePrompt)
			u.Prompt = s.count()
		case "completion_tokens":
			s.once(&seen, usageCompletion)
			u.Completion = s.count()
		case "total_tokens":
			s.once(&seen, usageTotal)
			u.Total = s.count()
		case "prompt_tokens_details":
			s.once(&seen, usagePromptDetails)
			s.checkTokenDetails()
		case "completion_tokens_details":
			s.once(&seen, usageCompletionDetails)
			s.checkTokenDetails()
		default:
			s.skip()
		}
	}
}

// count reads a token count: an int or null (0).
func (s *scanner) count() int {
	v, _ := s.intOrNull(strconv.IntSize)
	return int(v)
}

// checkTokenDetails reads token details, which decode leniently: anything
// but an object means no details.
func (s *scanner) checkTokenDetails() {
	if s.peek() != '{' {
		s.skip()
		return
	}
	var seen uint32
	for n := 0; s.member(&n); {
		switch string(s.name) {
		case "cached_tokens":
			s.once(&seen, 1)
			s.count()
		case "reasoning_tokens":
			s.once(&seen, 2)
			s.count()
		default:
			s.skip()
		}
	}
}

// checkProxyInfo reads a _proxy_info object (a plain struct).
func (s *scanner) checkProxyInfo() {
	var seen uint32
	var buf [maxKeyLen]byte
	for n := 0; s.member(&n); {
		switch string(s.foldedName(&buf)) {
		case "provider":
			s.once(&seen, 1)
			s.strOrNull()
		case "attempt_number":
			s.once(&seen, 2)
			s.count()
		case "response_time":
			s.once(&seen, 4)
			s.floatOrNull()
		case "request_id":
			s.once(&seen, 8)
			s.strOrNull()
		default:
			s.skip()
		}
	}
}

// checkChunk reads a chat chunk. It fails unless the object is
// "chat.completion.chunk", on an "error" member that is not null, and on a
// running usage (a usage on a chunk with choices but no finish reason),
// which the provider drops.
func (s *scanner) checkChunk(c *Chunk) {
	choices, seen := s.checkResponse(&c.Usage, c)
	c.Choices = choices
	if seen&ansObject == 0 {
		s.fail()
	}
	if c.Choices == 0 {
		c.Finished = true
	} else if c.Usage.Present && !c.FinishReason {
		s.fail()
	}
}

// checkChunkChoice reads a choice of a chunk and adds what it carries to
// c's Content, Finished and FinishReason.
func (s *scanner) checkChunkChoice(c *Chunk) {
	var seen uint32
	for n := 0; s.member(&n); {
		switch string(s.name) {
		case "index":
			s.once(&seen, choiceIndex)
			s.intOrNull(strconv.IntSize)
		case "delta":
			s.once(&seen, choiceDelta)
			if s.checkDelta() {
				c.Content = true
			}
		case "finish_reason":
			s.once(&seen, choiceFinishReason)
			reason, _, null := s.strOrNull()
			if null {
				break
			}
			// Any string, even "", is a finish reason for HasContent and
			// Finished; only a non-empty one ends the stream.
			c.Content, c.Finished = true, true
			if len(reason) > 0 {
				c.FinishReason = true
			}
		default:
			s.skip()
		}
	}
}

// Bits of the members of a delta that matter.
const (
	deltaRole = 1 << iota
	deltaContent
	deltaToolCalls
	deltaRefusal
	deltaReasoningContent
	deltaReasoning
)

// checkDelta reads the delta of a chunk's choice (null is an empty delta)
// and reports whether it has content: text, a refusal, tool calls, or
// reasoning (a reasoning_content or reasoning member, unknown to the
// decoder, that is neither null nor "").
func (s *scanner) checkDelta() bool {
	if s.null() {
		return false
	}
	var seen uint32
	content := false
	for n := 0; s.member(&n); {
		switch string(s.name) {
		case "role":
			s.once(&seen, deltaRole)
			s.strOrNull()
		case "content":
			s.once(&seen, deltaContent)
			content = s.nonEmptyStrOrNull() || content
		case "tool_calls":
			s.once(&seen, deltaToolCalls)
			content = s.checkToolCalls() > 0 || content
		case "refusal":
			s.once(&seen, deltaRefusal)
			content = s.nonEmptyStrOrNull() || content
		case "reasoning_content":
			s.once(&seen, deltaReasoningContent)
			content = s.reasoning() || content
		case "reasoning":
			s.once(&seen, deltaReasoning)
			content = s.reasoning() || content
		default:
			s.skip()
		}
	}
	return content
}

// nonEmptyStrOrNull reads a string or null and reports a non-empty string.
func (s *scanner) nonEmptyStrOrNull() bool {
	v, _, _ := s.strOrNull()
	return len(v) > 0
}

// reasoning reads any value and reports whether it is neither null nor
// the empty string (compared as bytes, as ChatChunk.HasContent does).
func (s *scanner) reasoning() bool {
	v := s.value()
	return string(v) != "null" && string(v) != `""`
}
