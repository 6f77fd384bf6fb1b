package responses

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

func TestReadRequest(t *testing.T) {
	r, err := ReadRequest([]byte(`{"model":"m","input":"hi","stream":true,"store":false,"previous_response_id":"resp_1","x":{"model":"n"}}`))
	require.NoError(t, err)
	require.Equal(t, &Request{Model: "m", Stream: true, Store: false, PreviousResponseID: "resp_1", Body: r.Body}, r)

	r, err = ReadRequest([]byte(`{"input":[],"model":"m","store":null}`))
	require.NoError(t, err)
	require.True(t, r.Store, "store defaults to true")
}

func TestReadRequestErrors(t *testing.T) {
	for body, want := range map[string][2]string{
		`{"model":"m","input":"x","model":"n"}`:                                           {"model", "model is given more than once"},
		`{"model":"m","input":"x","input":[]}`:                                            {"input", "input is given more than once"},
		`{"model":"m","input":"x","stream":true,"stream":false}`:                          {"stream", "stream is given more than once"},
		`{"model":"m","input":"x","store":null,"store":true}`:                             {"store", "store is given more than once"},
		`{"model":"m","input":"x","previous_response_id":"a","previous_response_id":"b"}`: {"previous_response_id", "previous_response_id is given more than once"},
		`{"input":"x"}`:                                      {"model", "you must provide a model parameter"},
		`{"model":"m"}`:                                      {"input", "you must provide input: a string or an array of input items"},
		`{"model":"m","input":1}`:                            {"input", "input has the wrong type: expected a string or an array, got number"},
		`{"model":"m","input":"x","stream":"1"}`:             {"stream", "stream has the wrong type: expected a boolean, got string"},
		`{"model":"m","input":"x","previous_response_id":1}`: {"previous_response_id", "previous_response_id has the wrong type: expected a string, got number"},
	} {
		_, err := ReadRequest([]byte(body))
		e, ok := errors.AsType[*llmproxy.Error](err)
		require.True(t, ok, body)
		require.Equal(t, llmproxy.KindInvalidRequest, e.Kind, body)
		require.Equal(t, want, [2]string{e.Param, e.Message}, body)
	}
}
