package bedrock

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	smithydocument "github.com/aws/smithy-go/document"
)

// jsonDocument returns the JSON text raw as an SDK document that encodes
// back to the same JSON: numbers keep their exact text (no float64 round
// trip), objects and arrays stay objects and arrays, even empty. ok is
// false when raw is not one valid JSON value.
func jsonDocument(raw []byte) (doc document.Interface, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // trailing data
	}
	return document.NewLazyDocument(exactNumbers(v)), true
}

// exactNumbers replaces the json.Numbers of a decoded value by the SDK's
// document.Number, which its document encoder writes as they are.
func exactNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		return smithydocument.Number(x)
	case map[string]any:
		for k, e := range x {
			x[k] = exactNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = exactNumbers(e)
		}
	}
	return v
}

// documentJSON returns a document of an answer (a tool call's input) as
// compact JSON text; a missing or unreadable document is "{}".
func documentJSON(doc document.Interface) string {
	if doc == nil {
		return "{}"
	}
	b, err := doc.MarshalSmithyDocument()
	if err != nil {
		return "{}"
	}
	var out bytes.Buffer
	if json.Compact(&out, b) != nil || out.String() == "null" || out.Len() == 0 {
		return "{}"
	}
	return out.String()
}
