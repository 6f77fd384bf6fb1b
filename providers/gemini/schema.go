package gemini

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Gemini takes a schema (response_format's, a function's parameters) in
// two forms: responseSchema / parameters, a subset of OpenAPI 3.0's Schema
// that every model understands, and responseJsonSchema /
// parametersJsonSchema, any JSON Schema, which newer models take. The
// adapter sends the first form when the schema converts to it without loss
// (openAPISchema), else the JSON Schema as it came.

// maxSchemaDepth bounds the nesting the converter follows; a deeper schema
// is sent as JSON Schema.
const maxSchemaDepth = 32

// schemaTypes maps JSON Schema's type names to Gemini's Type enum.
var schemaTypes = map[string]string{
	"string": "STRING", "number": "NUMBER", "integer": "INTEGER",
	"boolean": "BOOLEAN", "array": "ARRAY", "object": "OBJECT",
}

// schemaCopied are the keywords that mean the same in both forms and are
// copied as they are.
var schemaCopied = map[string]bool{
	"title": true, "description": true, "nullable": true, "required": true,
	"minItems": true, "maxItems": true, "minProperties": true, "maxProperties": true,
	"minLength": true, "maxLength": true, "pattern": true, "minimum": true, "maximum": true,
	"example": true, "default": true, "propertyOrdering": true,
}

// schemaFormats are the formats Gemini's Schema accepts, by type.
var schemaFormats = map[string]map[string]bool{
	"STRING":  {"enum": true, "date-time": true},
	"NUMBER":  {"float": true, "double": true},
	"INTEGER": {"int32": true, "int64": true},
}

// openAPISchema converts a JSON Schema into Gemini's Schema. ok is false
// when the schema uses anything the subset cannot say ($ref, oneOf, const,
// additionalProperties other than false, tuples, several types, …).
// "$schema" and additionalProperties false, which the subset implies, are
// dropped.
func openAPISchema(raw json.RawMessage) (out map[string]any, ok bool) {
	return convertSchema(raw, 0)
}

func convertSchema(raw json.RawMessage, depth int) (map[string]any, bool) {
	raw = bytes.TrimSpace(raw)
	if depth > maxSchemaDepth || len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var in map[string]json.RawMessage
	if json.Unmarshal(raw, &in) != nil {
		return nil, false
	}
	out := make(map[string]any, len(in))
	typ := ""
	for k, v := range in {
		switch {
		case k == "$schema":
		case k == "type":
			t, nullable, ok := schemaType(v)
			if !ok {
				return nil, false
			}
			typ = t
			out["type"] = t
			if nullable {
				out["nullable"] = true
			}
		case k == "additionalProperties":
			if string(bytes.TrimSpace(v)) != "false" {
				return nil, false
			}
		case k == "enum":
			var values []string
			if json.Unmarshal(v, &values) != nil {
				return nil, false
			}
			out["enum"] = values
		case k == "properties":
			var props map[string]json.RawMessage
			if json.Unmarshal(v, &props) != nil {
				return nil, false
			}
			conv := make(map[string]any, len(props))
			for name, s := range props {
				c, ok := convertSchema(s, depth+1)
				if !ok {
					return nil, false
				}
				conv[name] = c
			}
			out["properties"] = conv
		case k == "items":
			c, ok := convertSchema(v, depth+1)
			if !ok {
				return nil, false
			}
			out["items"] = c
		case k == "anyOf":
			var list []json.RawMessage
			if json.Unmarshal(v, &list) != nil || len(list) == 0 {
				return nil, false
			}
			conv := make([]any, len(list))
			for i, s := range list {
				c, ok := convertSchema(s, depth+1)
				if !ok {
					return nil, false
				}
				conv[i] = c
			}
			out["anyOf"] = conv
		case schemaCopied[k]:
			out[k] = v
		case k == "format":
		default:
			return nil, false
		}
	}
	if f, ok := in["format"]; ok {
		var format string
		if json.Unmarshal(f, &format) != nil || !schemaFormats[typ][format] {
			return nil, false
		}
		out["format"] = format
	}
	if _, ok := out["enum"]; ok && typ != "STRING" {
		return nil, false
	}
	return out, true
}

// schemaType reads a type member: a name, or a list of one name and
// "null" (which makes the schema nullable).
func schemaType(raw json.RawMessage) (typ string, nullable, ok bool) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		typ, ok = schemaTypes[strings.ToLower(one)]
		return typ, false, ok
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil || len(list) != 2 {
		return "", false, false
	}
	switch {
	case list[0] == "null":
		typ, ok = schemaTypes[list[1]]
	case list[1] == "null":
		typ, ok = schemaTypes[list[0]]
	}
	return typ, true, ok
}
