package server

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// TestSpliceProxyInfo checks the splice into objects of every shape.
func TestSpliceProxyInfo(t *testing.T) {
	pi := &llmproxy.ProxyInfo{Provider: "p", AttemptNumber: 1, ResponseTime: 0.5, RequestID: "r"}
	info := `"_proxy_info":{"provider":"p","attempt_number":1,"response_time":0.5,"request_id":"r"}`
	for raw, want := range map[string]string{
		`{"a":1}`:         `{"a":1,` + info + `}`,
		" \n{\"a\":1}\n ": `{"a":1,` + info + `}`,
		`{}`:              `{` + info + `}`,
		`{ }`:             `{ ` + info + `}`,
		`[1]`:             "",
		`"x"`:             "",
		``:                "",
	} {
		got := spliceProxyInfo([]byte(raw), pi)
		require.Equal(t, want, string(got), "raw %q", raw)
		// With room to splice in place, as a stream's held chunk has.
		roomy := append(make([]byte, 0, len(raw)+256), raw...)
		require.Equal(t, want, string(spliceProxyInfo(roomy, pi)), "raw %q with room", raw)
		if want != "" {
			require.True(t, json.Valid(got))
		}
	}
	// A member that cannot be encoded leaves the object as it was.
	nan := math.NaN()
	for _, bad := range []*llmproxy.ProxyInfo{{ResponseTime: nan}, {CostUSD: &nan}} {
		raw := append(make([]byte, 0, 64), `{"a":1}`...)
		require.Nil(t, spliceProxyInfo(raw, bad))
		require.Equal(t, `{"a":1}`, string(raw))
		_, _, ok := splitForProxyInfo(raw, bad)
		require.False(t, ok)
	}
}
