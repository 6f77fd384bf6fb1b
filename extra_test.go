package llmproxy_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

func TestExtraPresentAndNumber(t *testing.T) {
	x := llmproxy.Extra{"n": json.RawMessage(" 0.5 "), "null": json.RawMessage("null"), "s": json.RawMessage(`"x"`)}
	v, ok := x.Present("n")
	assert.True(t, ok)
	assert.Equal(t, "0.5", string(v), "without the white space")
	for _, key := range []string{"null", "absent"} {
		_, ok := x.Present(key)
		assert.False(t, ok, key)
		n, err := x.Number(key)
		assert.NoError(t, err, key)
		assert.Nil(t, n, key)
	}
	n, err := x.Number("n")
	require.NoError(t, err)
	assert.Equal(t, 0.5, *n)
	_, err = x.Number("s")
	e := llmproxy.AsError(err)
	assert.Equal(t, llmproxy.KindInvalidRequest, e.Kind)
	assert.Equal(t, "s", e.Param)
	assert.Equal(t, "s must be a number", e.Message)
}
