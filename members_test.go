package llmproxy

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

func TestReadMembers(t *testing.T) {
	names := []string{"a", "b", "c"}
	for body, want := range map[string][3]string{
		`{}`:                                 {"", "", ""},
		`{"a":1,"x":2,"x":3,"c":[true]}`:     {"1", "", "[true]"},
		`{"c":null,"b":"s","B":4,"a ":5}`:    {"", `"s"`, "null"},
		`{"\u0061":{"b":1},"b":{"a":2}}`:     {`{"b":1}`, `{"a":2}`, ""},
		`{"x":{"a":1,"a":2},"a":3,"y":[{}]}`: {"3", "", ""},
	} {
		var got [3]gjson.Result
		require.Empty(t, ReadMembers(gjson.Parse(body), names, got[:]), body)
		require.Equal(t, want, [3]string{got[0].Raw, got[1].Raw, got[2].Raw}, body)
	}
	for body, dup := range map[string]string{
		`{"a":1,"b":2,"a":3}`:       "a",
		`{"b":null,"b":null}`:       "b",
		`{"c":1,"\u0063":2}`:        "c",
		`{"c":1,"a":1,"a":2,"c":2}`: "a",
	} {
		var got [3]gjson.Result
		require.Equal(t, dup, ReadMembers(gjson.Parse(body), names, got[:]), body)
	}
}

func TestReadMembersDoesNotAllocate(t *testing.T) {
	root := gjson.Parse(`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"x":1}`)
	var got [len(chatMembers)]gjson.Result
	allocs := testing.AllocsPerRun(100, func() {
		got = [len(chatMembers)]gjson.Result{}
		ReadMembers(root, chatMembers[:], got[:])
	})
	require.Zero(t, allocs)
	require.Equal(t, "m", got[0].Str)
}

func TestJSONKindAndWrongTypeError(t *testing.T) {
	root := gjson.Parse(`{"o":{},"a":[1],"s":"x","n":1.5,"t":true,"f":false,"z":null}`)
	for member, want := range map[string]string{
		"o": "object", "a": "array", "s": "string", "n": "number", "t": "bool", "f": "bool", "z": "null", "absent": "null",
	} {
		require.Equal(t, want, JSONKind(root.Get(member)), member)
	}
	e := WrongTypeError("stream", "a boolean", root.Get("s"))
	require.Equal(t, &Error{Kind: KindInvalidRequest, Code: "invalid_json", Param: "stream",
		Message: "stream has the wrong type: expected a boolean, got string"}, e)
}
