package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy/server"
)

// TestShedComesFirst: a request over max_inflight is answered before auth,
// the rate limits and the access log: a bad key gets the 503 too, the shed
// requests take no token of the client's limits, and they are summed up in
// one "requests shed" line instead of an access line each.
func TestShedComesFirst(t *testing.T) {
	g := newGate(t, "gate-first")
	cfg := gateConfig("gate-first", 2)
	cfg.RateLimitChatRPM = 3
	cfg.CORSOrigins = []string{"https://app.example"}
	srv := startServer(t, cfg, server.Options{})
	t.Cleanup(func() { _ = srv.Config.Handler.(io.Closer).Close() }) // the limiters

	wait := holdRequests(t, srv, g, 2) // two of the three tokens

	const shedID = "shed-trace-1"
	shed := []reply{
		postJSON(t, srv.Server, "/v1/chat/completions", chatBody("gate-model", "over"), "X-Request-ID", shedID),
		postJSON(t, srv.Server, "/v1/chat/completions", chatBody("gate-model", "bad key"), "X-API-Key", "not-a-key"),
		do(t, srv.Server, http.MethodPost, "/v1/chat/completions", chatBody("gate-model", "no key")),
		postJSON(t, srv.Server, "/v1/chat/completions", chatBody("gate-model", "cors"), "Origin", "https://app.example"),
		postJSON(t, srv.Server, "/v1/embeddings", `{"model":"gate-model","input":"x"}`),
	}
	for i, r := range shed {
		require.Equal(t, http.StatusServiceUnavailable, r.status, "request %d: %s", i, r.body)
		assert.Equal(t, "1", r.header.Get("Retry-After"), "request %d", i)
		env := errorEnvelope(t, r)
		assert.Equal(t, "overloaded", deref(env.Code), "request %d", i)
		assert.Equal(t, "server_error", env.Type, "request %d", i)
		assert.Contains(t, env.Message, "max_inflight", "request %d", i)
		assert.Empty(t, r.header.Get("X-RateLimit-Limit"), "request %d was rate limited", i)
		assert.Empty(t, r.header.Get("X-Should-Retry"), "request %d", i)
		id := r.header.Get("X-Request-ID")
		if i == 0 {
			assert.Equal(t, shedID, id)
		} else {
			assert.True(t, strings.HasPrefix(id, "req_"), "request %d: id %q", i, id)
		}
	}
	assert.Equal(t, "https://app.example", shed[3].header.Get("Access-Control-Allow-Origin"))
	assert.Empty(t, shed[0].header.Get("Access-Control-Allow-Origin"))

	close(g.open)
	assert.Equal(t, []int{http.StatusOK, http.StatusOK}, wait())

	// The shed requests took no token: one is left, then the limit refuses.
	r := postJSON(t, srv.Server, "/v1/chat/completions", chatBody("gate-model", "last token"))
	assert.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	r = postJSON(t, srv.Server, "/v1/chat/completions", chatBody("gate-model", "limited"))
	assert.Equal(t, http.StatusTooManyRequests, r.status, "body: %s", r.body)

	// Summary lines (at most one a second) instead of access lines. The
	// lines are written by a timer a second after the first refusal; wait
	// for all the shed requests to be counted, however late.
	var sum []map[string]any
	var count float64
	waitLog(t, srv.logs, func() bool {
		sum, count = shedSummary(t, srv.logs)
		return count >= float64(len(shed)) && len(linesWithMsg(t, srv.logs, "request")) >= 4
	})
	for _, rec := range sum {
		assert.Equal(t, "WARN", rec["level"])
		assert.Equal(t, 2.0, rec["max_inflight"])
	}
	assert.Equal(t, float64(len(shed)), count)
	access := linesWithMsg(t, srv.logs, "request")
	assert.Len(t, access, 4, "access lines: the two held requests and the two after; log:\n%s", srv.logs)
	for _, rec := range access {
		assert.NotEqual(t, 503.0, rec["status"], "access line of a shed request: %v", rec)
	}
}

// shedSummary returns the "requests shed" lines and the sum of their counts.
func shedSummary(t *testing.T, logs *syncBuffer) ([]map[string]any, float64) {
	t.Helper()
	sum := linesWithMsg(t, logs, "requests shed")
	var count float64
	for _, rec := range sum {
		count += rec["count"].(float64)
	}
	return sum, count
}

// waitLog polls until cond holds. It waits up to a minute, far longer than
// a correct run needs on any machine, so that it measures no speed; the
// log is in the failure message.
func waitLog(t *testing.T, logs *syncBuffer, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			require.FailNow(t, "the log never showed what was expected", "log:\n%s", logs)
		}
	}
}

// TestShedSummaryOncePerSecond: however many requests are shed, the log
// gets at most one "requests shed" line a second, and every shed request
// is counted in one of them. The timer's exact schedule is tested with fake
// time in inflight_internal_test.go; here only the bound that holds
// whatever the machine's speed is checked: the k-th line's timer starts at
// least k-1 seconds after the first refusal, so the requests shed within
// elapsed give at most 1 + elapsed/1s lines.
func TestShedSummaryOncePerSecond(t *testing.T) {
	g := newGate(t, "gate-summary")
	srv := startServer(t, gateConfig("gate-summary", 1), server.Options{})
	wait := holdRequests(t, srv, g, 1)

	start := time.Now()
	const n = 40
	for range n {
		require.Equal(t, http.StatusServiceUnavailable, postStatus(srv, chatBody("gate-model", "over")))
	}
	elapsed := time.Since(start)
	var sum []map[string]any
	var count float64
	waitLog(t, srv.logs, func() bool {
		sum, count = shedSummary(t, srv.logs)
		return count >= n
	})
	assert.Equal(t, float64(n), count)
	assert.LessOrEqual(t, len(sum), 1+int(elapsed/time.Second), "summary lines")
	close(g.open)
	assert.Equal(t, []int{http.StatusOK}, wait())
}

// TestShedSummaryOnClose: Close logs the requests shed since the last
// summary line.
func TestShedSummaryOnClose(t *testing.T) {
	g := newGate(t, "gate-close")
	srv := startServer(t, gateConfig("gate-close", 1), server.Options{})
	wait := holdRequests(t, srv, g, 1)
	require.Equal(t, http.StatusServiceUnavailable, postStatus(srv, chatBody("gate-model", "over")))
	close(g.open)
	assert.Equal(t, []int{http.StatusOK}, wait())
	srv.Close()
	require.NoError(t, srv.Config.Handler.(io.Closer).Close())
	sum := linesWithMsg(t, srv.logs, "requests shed")
	require.Len(t, sum, 1, "log:\n%s", srv.logs)
	assert.Equal(t, 1.0, sum[0]["count"])
}

// linesWithMsg returns the log records with message msg.
func linesWithMsg(t *testing.T, logs *syncBuffer, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, rec := range logs.lines(t) {
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}
