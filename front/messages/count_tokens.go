package messages

import (
	"github.com/tidwall/gjson"
)

// imageTokens is what EstimateTokens counts for an image or a PDF: about
// what Anthropic charges for an image of 1.15 megapixels.
const imageTokens = 1600

// EstimateTokens estimates the input tokens of a Messages request for a
// provider without a token-counting endpoint: one token per four bytes
// (rounded up) of the text of system, messages and tools (tool inputs and
// schemas as their JSON), and 1600 tokens per image or base64 document,
// whose data is not counted. It is a rough estimate, within some tens of
// percent of real tokenizers for English text and code; it never calls an
// upstream.
func EstimateTokens(body []byte) int {
	bytes, media := 0, 0
	var walk func(v gjson.Result)
	walk = func(v gjson.Result) {
		switch {
		case v.IsObject():
			if src := v.Get("source"); src.IsObject() && src.Get("type").Str == "base64" {
				media++
				return
			}
			v.ForEach(func(k, val gjson.Result) bool {
				switch k.Str {
				case "cache_control", "type", "id", "tool_use_id", "signature", "defer_loading":
				case "input", "input_schema":
					bytes += len(val.Raw)
				default:
					walk(val)
				}
				return true
			})
		case v.IsArray():
			v.ForEach(func(_, val gjson.Result) bool { walk(val); return true })
		case v.Type == gjson.String:
			bytes += len(v.Str)
		}
	}
	root := gjson.ParseBytes(body)
	for _, k := range [...]string{"system", "messages", "tools"} {
		walk(root.Get(k))
	}
	return (bytes+3)/4 + media*imageTokens
}
