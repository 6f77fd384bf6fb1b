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
// a chunk with an ASCII \u escape anywhere does not qualify. The "choices"
// member counts only when every member before it holds a plain value (no
// object or array): it is then the root's own, not one nested in another
// member. Wherever it is unsure it answers false, and the chunk is read in
// full by readChatChunk: false only costs time.
//
// Most chunks of a stream are such deltas, and reading each with gjson was
// the largest cost the proxy added to a stream: see BenchmarkReadChatChunk,
// where plainDelta takes a fraction of the full read.
func plainDelta(data []byte) bool {
	if !bytes.HasPrefix(data, []byte("{")) || bytes.Contains(data, []byte(`\u00`)) {
		return false
	}
	choices := false
	flat := true // no value so far was an object or an array: the members seen are the root's
	for i := 0; ; i++ {
		j := bytes.IndexByte(data[i:], ':')
		if j < 0 {
			return choices
		}
		i += j
		value := trimSpace(data[i+1:])
		switch string(memberName(data[:i])) {
		case "choices":
			if !flat || !holdsObject(value) {
				return false // no choices (the chunk belongs to the end of the stream), or nested ones
			}
			choices = true
		case "finish_reason", "usage", "error":
			if !bytes.HasPrefix(value, []byte("null")) {
				return false
			}
		case "object":
			if !bytes.HasPrefix(value, []byte(`"`+chunkObject+`"`)) {
				return false
			}
		}
		flat = flat && len(value) > 0 && value[0] != '{' && value[0] != '['
	}
}

// memberName returns the quoted name that b, the bytes before a colon,
// ends with (white space aside), or nil when b does not end with a quote
// (the colon is then inside a string) or when the quote before the name
// is escaped (a name with an escaped quote in it is none of those
// plainDelta looks for).
func memberName(b []byte) []byte {
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	if len(b) == 0 || b[len(b)-1] != '"' {
		return nil
	}
	b = b[:len(b)-1]
	open := bytes.LastIndexByte(b, '"')
	if open > 0 && b[open-1] == '\\' {
		return nil
	}
	return b[open+1:]
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
