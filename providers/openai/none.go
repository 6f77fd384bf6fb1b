package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// noneLiteral is how a Python layer that printed its null writes it.
var noneLiteral = []byte(`"None"`)

// freeText names the members whose string value is text a model or a person
// wrote, where "None" may be meant literally. normalizeNone leaves them.
var freeText = map[string]bool{
	"content":           true,
	"text":              true,
	"arguments":         true,
	"reasoning":         true,
	"reasoning_content": true,
	"name":              true,
	"title":             true,
	"snippet":           true,
	"message":           true,
	"description":       true,
}

// normalizeNone rewrites an answer in which a Python layer wrote the string
// "None" where JSON null was meant (Blackbox sends "tool_calls":"None",
// "system_fingerprint":"None", "completion_tokens_details":"None", …): every
// object member whose value is exactly "None" becomes null, except members
// holding free text (content, arguments, …). All other bytes are kept as
// they are, so the result is what the upstream would have sent with proper
// nulls. body is not modified; a body without "None" is returned as it is.
// A body that is not valid JSON is an error.
func normalizeNone(body []byte) ([]byte, error) {
	if !bytes.Contains(body, noneLiteral) {
		return body, nil
	}
	spans, err := noneSpans(body)
	if err != nil {
		return nil, err
	}
	if len(spans) == 0 {
		return body, nil
	}
	out := make([]byte, 0, len(body))
	last := 0
	for _, start := range spans {
		out = append(out, body[last:start]...)
		out = append(out, "null"...)
		last = start + len(noneLiteral)
	}
	return append(out, body[last:]...), nil
}

// frame is one open object or array while scanning JSON tokens.
type frame struct {
	object    bool
	expectKey bool   // in an object: the next string is a member name
	key       string // in an object: the name of the member being read
}

// noneSpans returns the offsets of the "None" values normalizeNone
// replaces, in order. It validates the whole body.
func noneSpans(body []byte) ([]int, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []frame
	var spans []int
	values := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		var top *frame
		if n := len(stack); n > 0 {
			top = &stack[n-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if top != nil && top.object {
					top.expectKey = true
				}
				if top == nil {
					values++
				}
				stack = append(stack, frame{object: d == '{', expectKey: d == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if top == nil {
			values++
			continue
		}
		if top.object && top.expectKey {
			top.key, _ = tok.(string)
			top.expectKey = false
			continue
		}
		if top.object {
			top.expectKey = true
			end := int(dec.InputOffset())
			start := end - len(noneLiteral)
			if s, ok := tok.(string); ok && s == "None" && !freeText[top.key] &&
				start >= 0 && bytes.Equal(body[start:end], noneLiteral) {
				spans = append(spans, start)
			}
		}
	}
	if values != 1 || len(stack) != 0 {
		return nil, errors.New("the answer is not one JSON value")
	}
	return spans, nil
}
