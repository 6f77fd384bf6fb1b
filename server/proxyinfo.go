package server

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/llmproxy/llmproxy"
)

// appendProxyInfo appends pi as encoding/json encodes it, byte for byte.
// When every string in pi is plain (plainJSON) and every number a float
// that encoding/json writes in decimal notation, the member is written
// here, without reflection: a quarter of json.Marshal's time and no
// allocation (BenchmarkProxyInfo); anything else, such as a string that
// json.Marshal escapes, goes through json.Marshal itself. FuzzProxyInfo
// checks that both ways give the same bytes.
func appendProxyInfo(b []byte, pi *llmproxy.ProxyInfo) ([]byte, error) {
	if !plainJSON(pi.Provider) || !plainJSON(pi.Model) || !plainJSON(pi.RequestID) ||
		!decimalFloat(pi.ResponseTime) || (pi.CostUSD != nil && !decimalFloat(*pi.CostUSD)) {
		info, err := json.Marshal(pi)
		return append(b, info...), err
	}
	b = append(b, `{"provider":"`...)
	b = append(b, pi.Provider...)
	if pi.Model != "" {
		b = append(b, `","model":"`...)
		b = append(b, pi.Model...)
	}
	b = append(b, `","attempt_number":`...)
	b = strconv.AppendInt(b, int64(pi.AttemptNumber), 10)
	b = append(b, `,"response_time":`...)
	b = strconv.AppendFloat(b, pi.ResponseTime, 'f', -1, 64)
	b = append(b, `,"request_id":"`...)
	b = append(b, pi.RequestID...)
	b = append(b, '"')
	if pi.CostUSD != nil {
		b = append(b, `,"cost_usd":`...)
		b = strconv.AppendFloat(b, *pi.CostUSD, 'f', -1, 64)
	}
	return append(b, '}'), nil
}

// plainJSON reports whether json.Marshal writes s as it is between
// quotes: printable ASCII without the quote, the backslash and the
// characters it escapes for HTML (<, >, &).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < ' ' || c > '~', c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// decimalFloat reports whether json.Marshal writes f in decimal notation,
// as strconv.AppendFloat(b, f, 'f', -1, 64) does: f is zero or its
// magnitude in [1e-6, 1e21). NaN and the infinities, which json.Marshal
// refuses, are not.
func decimalFloat(f float64) bool {
	abs := math.Abs(f)
	return abs == 0 || (abs >= 1e-6 && abs < 1e21)
}

// encodable reports whether json.Marshal encodes pi: whether its floats
// are finite (a NaN response time, which a duration never is, or an
// infinite cost are refused).
func encodable(pi *llmproxy.ProxyInfo) bool {
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	return finite(pi.ResponseTime) && (pi.CostUSD == nil || finite(*pi.CostUSD))
}
