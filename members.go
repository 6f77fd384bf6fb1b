package llmproxy

import "github.com/tidwall/gjson"

// ReadMembers reads the top-level members of the JSON object root named by
// names, in one pass: values[i] gets the member names[i], or stays the zero
// Result (which does not Exist) when root has none; values must be at least
// as long as names. It returns the name of the first of them that root
// gives twice, or "" when none is: a front must refuse such a request, or
// it would read one copy of the member while an upstream reads another.
// Names match exactly, as for the upstreams' parsers. ReadMembers does not
// allocate; a caller keeps its names in a package-level array and its
// values in a local one.
func ReadMembers(root gjson.Result, names []string, values []gjson.Result) (dup string) {
	values = values[:len(names)]
	root.ForEach(func(k, v gjson.Result) bool {
		for i, name := range names {
			if k.Str != name {
				continue
			}
			if values[i].Exists() {
				dup = name
				return false
			}
			values[i] = v
			break
		}
		return true
	})
	return dup
}

// WrongTypeError is the error of a request member of the wrong type, worded
// as the decoder of requests words it: KindInvalidRequest, code
// "invalid_json", Param name, and the message "NAME has the wrong type:
// expected WANT, got KIND" (see JSONKind). Fronts use it for the members
// they read with ReadMembers.
func WrongTypeError(name, want string, got gjson.Result) *Error {
	return &Error{Kind: KindInvalidRequest, Code: "invalid_json", Param: name,
		Message: name + " has the wrong type: expected " + want + ", got " + JSONKind(got)}
}

// JSONKind names the JSON type of v as encoding/json's errors do: "object",
// "array", "string", "number", "bool" or "null" (which an absent v is
// too).
func JSONKind(v gjson.Result) string {
	switch {
	case v.IsObject():
		return "object"
	case v.IsArray():
		return "array"
	case v.Type == gjson.String:
		return "string"
	case v.Type == gjson.Number:
		return "number"
	case v.Type == gjson.True, v.Type == gjson.False:
		return "bool"
	}
	return "null"
}
