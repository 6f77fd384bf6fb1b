package openai

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNormalizeNone(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"blackbox answer", blackboxChat, blackboxChatNormalized},
		{
			"details object",
			`{"usage":{"completion_tokens_details":{"accepted_prediction_tokens":"None","reasoning_tokens":0,"rejected_prediction_tokens":"None"}}}`,
			`{"usage":{"completion_tokens_details":{"accepted_prediction_tokens":null,"reasoning_tokens":0,"rejected_prediction_tokens":null}}}`,
		},
		{
			"formatting kept",
			"{\n  \"tool_calls\" :\t\"None\" ,\n  \"n\": 1.50e3\n}\n",
			"{\n  \"tool_calls\" :\tnull ,\n  \"n\": 1.50e3\n}\n",
		},
		{
			"free text kept",
			`{"choices":[{"message":{"role":"assistant","content":"None","tool_calls":[{"id":"c1","type":"function","function":{"name":"None","arguments":"None"}}]}}],"system_fingerprint":"None"}`,
			`{"choices":[{"message":{"role":"assistant","content":"None","tool_calls":[{"id":"c1","type":"function","function":{"name":"None","arguments":"None"}}]}}],"system_fingerprint":null}`,
		},
		{
			"array elements and keys kept",
			`{"None":"None","stop":["None"],"x":{"None":1}}`,
			`{"None":null,"stop":["None"],"x":{"None":1}}`,
		},
		{
			"other strings kept",
			`{"a":"None ","b":"none","c":"\"None\"","d":"\u004eone"}`,
			`{"a":"None ","b":"none","c":"\"None\"","d":"\u004eone"}`,
		},
		{"nothing to do", openAIChat, openAIChat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := []byte(c.in)
			got, err := normalizeNone(in)
			require.NoError(t, err)
			assert.Equal(t, c.want, string(got))
			assert.Equal(t, c.in, string(in), "the input is not modified")
		})
	}
}

func TestNormalizeNoneRejectsInvalidJSON(t *testing.T) {
	for _, in := range []string{
		`{"tool_calls":"None"`,
		`{"tool_calls":"None"} {"x":1}`,
		`"None"x`,
		`{"a":"None",}`,
	} {
		_, err := normalizeNone([]byte(in))
		assert.Error(t, err, in)
	}
}

func TestNormalizeNoneReturnsBodyWithoutNone(t *testing.T) {
	in := []byte(openAIChat)
	got, err := normalizeNone(in)
	require.NoError(t, err)
	assert.Same(t, &in[0], &got[0], "no copy when there is nothing to replace")
}
