package openai

import "bytes"

// plainDelta reports, from the bytes alone, that a chat chunk carries
// nothing the proxy reads once a stream has shown content: it has a choice,
// every "finish_reason", "usage" and "error" member in it is null, and its
// object, if named, is "chat.completion.chunk". It does not parse the
// chunk: it visits each quote, and where one of those member names follows
// (written without escapes: a name written with \u escapes could hide one,
// so a chunk with an ASCII \u escape anywhere does not qualify) it looks at
// the value after the colon. Inside a string a quote is escaped, so a name
// in the text is not taken for a member. Wherever it is unsure (a name that
// is a string value, a member with another value at any depth) it answers
// false and the chunk is read in full by readChatChunk: false only costs
// time.
//
// Most chunks of a stream are such deltas, and reading each with gjson was
// the largest cost the proxy added to a stream: see BenchmarkReadChatChunk,
// where plainDelta takes a fraction of the full read.
func plainDelta(data []byte) bool {
	if bytes.Contains(data, []byte(`\u00`)) {
		return false
	}
	choices := false
	for rest := data; ; {
		i := bytes.IndexByte(rest, '"')
		if i < 0 {
			return choices
		}
		rest = rest[i+1:]
		var name string
		var valid func(value []byte) bool
		switch rest[0] { // a quote ends no valid chunk
		case 'c':
			name, valid = `choices"`, holdsObject
		case 'f':
			name, valid = `finish_reason"`, startsNull
		case 'u':
			name, valid = `usage"`, startsNull
		case 'e':
			name, valid = `error"`, startsNull
		case 'o':
			name, valid = `object"`, isChunkObject
		default:
			continue
		}
		after, ok := bytes.CutPrefix(rest, []byte(name))
		if !ok {
			continue
		}
		v, ok := memberValue(after)
		if !ok || !valid(v) {
			return false
		}
		choices = choices || name[0] == 'c'
		rest = v
	}
}

// memberValue returns what follows a member name in b: the bytes after the
// colon and the white space around it. It reports false when no colon
// follows, that is, when the name was a string value.
func memberValue(b []byte) ([]byte, bool) {
	b = bytes.TrimLeft(b, space)
	if len(b) == 0 || b[0] != ':' {
		return nil, false
	}
	return bytes.TrimLeft(b[1:], space), true
}

// space is JSON's white space.
const space = " \t\r\n"

func startsNull(v []byte) bool    { return bytes.HasPrefix(v, []byte("null")) }
func isChunkObject(v []byte) bool { return bytes.HasPrefix(v, []byte(`"`+chunkObject+`"`)) }

// holdsObject reports whether v starts an array whose first element is an
// object: a chunk with a choice.
func holdsObject(v []byte) bool {
	v, ok := bytes.CutPrefix(v, []byte("["))
	return ok && bytes.HasPrefix(bytes.TrimLeft(v, space), []byte("{"))
}
