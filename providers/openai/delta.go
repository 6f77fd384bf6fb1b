package openai

import "bytes"

// plainDelta reports, from the bytes alone, that a chat chunk carries
// nothing the proxy reads once a stream has shown content: it is an object
// whose "choices" member holds a choice, every "finish_reason", "usage" and
// "error" member in it is null, and its object, if named, is
// "chat.completion.chunk". It does not parse the chunk. It visits each
// colon: outside strings a colon follows a member's quoted name, and where
// that name is one of those it looks at the value after the colon. A colon
// inside a string has no quoted name before it, since a string's own
// quotes are escaped. Names written with \u escapes could hide a member, so
// a chunk with an ASCII \u escape anywhere does not qualify. Every member
// before "choices" must hold a plain value (no object or array): the
// "choices" seen is then the root's own, not one nested in another member.
// Wherever it is unsure it answers false, and the chunk is read in
// full by readChatChunk: false only costs time.
//
// Most chunks of a stream are such deltas, and reading each with gjson was
// the largest cost the proxy added to a stream: see BenchmarkReadChatChunk,
// where plainDelta takes a fraction of the full read. Telling the names
// apart by their last byte (watchedMember) rather than cutting each name
// out spares about a quarter of its instructions and a tenth of its time
// (BenchmarkReadChatChunk/plainDelta).
func plainDelta(data []byte) bool {
	if !bytes.HasPrefix(data, []byte("{")) || bytes.Contains(data, []byte(`\u00`)) {
		return false
	}
	choices := false // the root's "choices" holds a choice
	for i := 0; ; i++ {
		j := bytes.IndexByte(data[i:], ':')
		if j < 0 {
			return choices
		}
		i += j
		m := watchedMember(data[:i])
		if m == otherMember && choices {
			continue
		}
		value := trimSpace(data[i+1:])
		switch m {
		case choicesMember:
			if choices || !holdsObject(value) {
				return false // no choices (the chunk belongs to the end of the stream), or a second "choices"
			}
			choices = true
		case nullMember:
			if !bytes.HasPrefix(value, []byte("null")) {
				return false
			}
		case objectMember:
			if !bytes.HasPrefix(value, []byte(`"`+chunkObject+`"`)) {
				return false
			}
		default:
			// Before "choices": a member holding an object or an array
			// could hold a "choices" that is not the root's.
			if len(value) == 0 || value[0] == '{' || value[0] == '[' {
				return false
			}
		}
	}
}

// The members plainDelta looks at, as watchedMember tells them.
const (
	otherMember   = iota
	choicesMember // "choices": must hold a choice
	nullMember    // "finish_reason", "usage", "error": must be null
	objectMember  // "object": must be "chat.completion.chunk"
)

// watchedMember tells which member b, the bytes before a colon, ends with
// the quoted name of (white space aside). It is otherMember when b does
// not end with a quote (the colon is then inside a string), when the name
// is another, or when the quote before the name is escaped (a name with
// an escaped quote in it is none of those plainDelta looks for).
func watchedMember(b []byte) int {
	if len(b) == 0 || b[len(b)-1] != '"' {
		for len(b) > 0 && isSpace(b[len(b)-1]) {
			b = b[:len(b)-1]
		}
		if len(b) == 0 || b[len(b)-1] != '"' {
			return otherMember
		}
	}
	b = b[:len(b)-1]
	if len(b) == 0 {
		return otherMember
	}
	switch b[len(b)-1] {
	case 's':
		if isName(b, "choices") {
			return choicesMember
		}
	case 'n':
		if isName(b, "finish_reason") {
			return nullMember
		}
	case 'e':
		if isName(b, "usage") {
			return nullMember
		}
	case 'r':
		if isName(b, "error") {
			return nullMember
		}
	case 't':
		if isName(b, "object") {
			return objectMember
		}
	}
	return otherMember
}

// isName reports whether b ends with name and an unescaped quote before
// it.
func isName(b []byte, name string) bool {
	n := len(b) - len(name)
	return n > 0 && b[n-1] == '"' && string(b[n:]) == name && (n == 1 || b[n-2] != '\\')
}

// holdsObject reports whether v starts an array whose first element is an
// object: a chunk with a choice.
func holdsObject(v []byte) bool {
	v, ok := bytes.CutPrefix(v, []byte("["))
	return ok && bytes.HasPrefix(trimSpace(v), []byte("{"))
}

// trimSpace returns b without the JSON white space it starts with.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
