package server

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// checkProxyInfo fails unless appendProxyInfo writes pi as json.Marshal
// does, after what b already holds, or fails where it fails.
func checkProxyInfo(t *testing.T, pi *llmproxy.ProxyInfo) {
	t.Helper()
	want, wantErr := json.Marshal(pi)
	require.Equal(t, wantErr == nil, encodable(pi), "%+v", pi)
	got, err := appendProxyInfo([]byte("x"), pi)
	if wantErr != nil {
		require.Error(t, err, "%+v", pi)
		return
	}
	require.NoError(t, err, "%+v", pi)
	require.Equal(t, "x"+string(want), string(got), "%+v", pi)
	if decimalFloat(pi.ResponseTime) && (pi.CostUSD == nil || decimalFloat(*pi.CostUSD)) {
		member, err := closeWithProxyInfo(nil, true, pi)
		require.NoError(t, err)
		require.LessOrEqual(t, len(member), proxyInfoRoom(pi), "%+v", pi)
	}
}

// TestAppendProxyInfo checks the member against json.Marshal's bytes for
// the plain values written without reflection and for each kind of value
// left to json.Marshal.
func TestAppendProxyInfo(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, pi := range []*llmproxy.ProxyInfo{
		{Provider: "openai", Model: "gpt-4o-mini", AttemptNumber: 1, ResponseTime: 0.123456789,
			RequestID: "req_0123456789abcdef01234567", CostUSD: f(0.000123)},
		{},
		{Provider: "p", AttemptNumber: -3, ResponseTime: math.Copysign(0, -1), RequestID: "r", CostUSD: f(0)},
		{Provider: "p", AttemptNumber: math.MaxInt, ResponseTime: 1e20, CostUSD: f(1e-6)},
		{Provider: "p", ResponseTime: 1e21, CostUSD: f(9.99e-7)}, // exponents
		{Provider: "p", ResponseTime: 1e-7, CostUSD: f(-2.5e-9)},
		{Provider: "p", ResponseTime: 123456789.000001},
		{Provider: "p", Model: "m", AttemptNumber: math.MinInt, ResponseTime: -1.2345678901234567e-6,
			RequestID: "r", CostUSD: f(-9.876543210987654e20)}, // the longest
		{Provider: "a<b>&c", Model: "m\"1\\", RequestID: "tab\there"},
		{Provider: "é", Model: "\u2028", RequestID: "\x00\x7f"},
		{Provider: "bad\xff"},
		{Provider: "~ !#$%'()*+,-./09:;=?@AZ[]^_`az{|}"},
	} {
		checkProxyInfo(t, pi)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		_, err := appendProxyInfo(nil, &llmproxy.ProxyInfo{ResponseTime: bad})
		assert.Error(t, err)
		_, err = appendProxyInfo(nil, &llmproxy.ProxyInfo{CostUSD: &bad})
		assert.Error(t, err)
	}
}

// FuzzProxyInfo checks that appendProxyInfo always writes json.Marshal's
// bytes.
func FuzzProxyInfo(f *testing.F) {
	f.Add("openai", "gpt-4o-mini", "req_0123456789abcdef01234567", 1, 0.123456789, true, 0.000123)
	f.Add("", "", "", 0, 0.0, false, 0.0)
	f.Add("a<b", "m\"", "\n", -1, 1e21, true, 1e-7)
	f.Add("p", "é", "r", 2, 1e-6, true, math.NaN())
	f.Fuzz(func(t *testing.T, provider, model, requestID string, attempt int, rt float64, priced bool, cost float64) {
		pi := &llmproxy.ProxyInfo{Provider: provider, Model: model, AttemptNumber: attempt, ResponseTime: rt, RequestID: requestID}
		if priced {
			pi.CostUSD = &cost
		}
		checkProxyInfo(t, pi)
	})
}

// BenchmarkProxyInfo measures the encoding of a typical _proxy_info
// member: append is appendProxyInfo, json is json.Marshal.
func BenchmarkProxyInfo(b *testing.B) {
	cost := 0.000123
	pi := &llmproxy.ProxyInfo{Provider: "openai", Model: "gpt-4o-mini", AttemptNumber: 1, ResponseTime: 0.123456789,
		RequestID: "req_0123456789abcdef01234567", CostUSD: &cost}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 256)
		for b.Loop() {
			buf, _ = appendProxyInfo(buf[:0], pi)
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(pi)
		}
	})
}
