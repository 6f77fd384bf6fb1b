package server

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// TestAppendProxyInfo checks the hand-written encoding of _proxy_info
// against encoding/json's.
func TestAppendProxyInfo(t *testing.T) {
	names := []string{"", "openai", "a\"b", `back\slash`, "<html>&", "tab\there", "é", "\u2028", "\x7f"}
	times := []float64{0, 0.0012345, 1, 12.5, 1e-7, 3e-6, 123456789.123, 1e21, 2.5e22}
	for _, name := range names {
		for _, rt := range times {
			pi := &llmproxy.ProxyInfo{Provider: name, AttemptNumber: 3, ResponseTime: rt, RequestID: "req_" + name}
			want, err := json.Marshal(pi)
			require.NoError(t, err)
			require.Equal(t, string(want), string(appendProxyInfo(nil, pi)), "provider %q, time %v", name, rt)
		}
	}
}

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
		if want != "" {
			require.True(t, json.Valid(got))
		}
	}
}
