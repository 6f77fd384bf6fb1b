package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/all"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets the harness re-execute the test binary as its upstream and
// bare proxy, as it re-executes llmbench. It builds llmproxy once for the
// end-to-end tests (unless $LLMBENCH_PROXY_BIN names one), outside their
// time limits, which bound the runs and not a cold build on a busy machine.
func TestMain(m *testing.M) {
	if code, ok := runSubcommand(os.Args[1:], os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	if os.Getenv("LLMBENCH_PROXY_BIN") == "" {
		dir, err := os.MkdirTemp("", "llmbench-test-")
		if err == nil {
			bin := dir + "/llmproxy"
			build := exec.Command("go", "build", "-o", bin, "github.com/llmproxy/llmproxy/cmd/llmproxy")
			build.Stdout, build.Stderr = os.Stderr, os.Stderr
			if build.Run() == nil {
				os.Setenv("LLMBENCH_PROXY_BIN", bin)
			}
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// proxyBinArgs passes the llmproxy binary named by $LLMBENCH_PROXY_BIN, if
// set, to the harness, which otherwise builds ./cmd/llmproxy.
func proxyBinArgs(args ...string) []string {
	if bin := os.Getenv("LLMBENCH_PROXY_BIN"); bin != "" {
		return append(args, "-proxy-bin", bin)
	}
	return args
}

// runHarness runs llmbench with args (and the llmproxy binary TestMain
// built) within two minutes and returns what it printed; it skips the test
// where the harness cannot run (no /proc, no go tool) and fails it when the
// run fails.
func runHarness(t *testing.T, args ...string) *bytes.Buffer {
	t.Helper()
	if !haveProc() {
		t.Skip(errNoProc)
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool to build llmproxy:", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var out, log bytes.Buffer
	start := time.Now()
	err := run(ctx, proxyBinArgs(args...), &out, &log)
	require.NoError(t, err, "log:\n%s\nout:\n%s", log.String(), out.String())
	t.Logf("harness ran in %v:\n%s", time.Since(start).Round(time.Millisecond), out.String())
	return &out
}

// TestClosedModeEndToEnd runs the harness with tiny settings: it builds
// llmproxy, starts the three processes, runs both scenarios against both
// targets and prints a table with numbers in every measured row.
func TestClosedModeEndToEnd(t *testing.T) {
	out := runHarness(t, "-d", "1s", "-c", "4", "-warmup", "200ms")

	rows := closedRows(out.String())
	for _, key := range []string{"non-streaming/bare", "non-streaming/llmproxy", "streaming/bare", "streaming/llmproxy",
		"messages non-streaming/bare", "messages non-streaming/llmproxy", "messages streaming/bare", "messages streaming/llmproxy"} {
		row, ok := rows[key]
		require.True(t, ok, "no %s row in:\n%s", key, out.String())
		// scenario, target, req/s, p50, p99, TTFT p50, CPU µs/req, peak RSS MB, errors
		for i, name := range map[int]string{2: "req/s", 3: "p50", 4: "p99", 6: "CPU µs/req", 7: "peak RSS"} {
			v, err := strconv.ParseFloat(row[i], 64)
			if assert.NoError(t, err, "%s %s: %q", key, name, row[i]) {
				assert.Greater(t, v, 0.0, "%s %s", key, name)
			}
		}
		assert.Equal(t, "0", row[8], "%s errors", key)
		if strings.Contains(key, "streaming/") && !strings.Contains(key, "non-streaming/") {
			_, err := strconv.ParseFloat(row[5], 64)
			assert.NoError(t, err, "%s TTFT: %q", key, row[5])
		}
	}
	for _, key := range []string{"non-streaming/**llmproxy / bare**", "streaming/**llmproxy / bare**"} {
		row, ok := rows[key]
		require.True(t, ok, "no %s row", key)
		assert.True(t, strings.HasSuffix(row[2], "×"), "%s req/s ratio: %q", key, row[2])
	}
	assert.NotContains(t, out.String(), "First error")
	assert.Contains(t, out.String(), "| /v1/messages pass-through non-streaming CPU/request ≤ 1.1× chat's |")
	assert.Contains(t, out.String(), "| /v1/messages pass-through streaming CPU/request ≤ 1.1× chat's |")
	assert.Contains(t, out.String(), "Machine: ")
	for _, sc := range []string{"non-streaming", "streaming"} {
		prefix := "\n" + sc + ": CPU/request llmproxy/bare per round: "
		i := strings.Index(out.String(), prefix)
		if assert.GreaterOrEqual(t, i, 0, "no rounds line for %s", sc) {
			line, _, _ := strings.Cut(out.String()[i+len(prefix):], "\n")
			assert.Len(t, strings.Split(strings.TrimSpace(line), ", "), 4, "%s: one ratio per round: %q", sc, line)
		}
	}
}

// closedRows returns the rows of closed mode's table by "scenario/target",
// each row's cells trimmed.
func closedRows(out string) map[string][]string {
	rows := map[string][]string{}
	for line := range strings.SplitSeq(out, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 11 {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows[cells[1]+"/"+cells[2]] = cells[1 : len(cells)-1]
	}
	return rows
}

// upstreamProtocols parses the report's "Upstream (HTTPS) requests from
// …" line into counts by source.
func upstreamProtocols(t *testing.T, out string) map[string]protoCounts {
	t.Helper()
	const prefix = "Upstream (HTTPS) requests "
	i := strings.Index(out, prefix)
	require.GreaterOrEqual(t, i, 0, "no upstream protocols line in:\n%s", out)
	line, _, _ := strings.Cut(out[i+len(prefix):], "\n")
	line = strings.TrimSuffix(strings.TrimSpace(line), ".")
	counts := map[string]protoCounts{}
	for part := range strings.SplitSeq(line, "; ") {
		name, nums, ok := strings.Cut(strings.TrimPrefix(part, "from "), ": ")
		require.True(t, ok, "%q", part)
		var c protoCounts
		_, err := fmt.Sscanf(nums, "%d over HTTP/2, %d over HTTP/1.1", &c.HTTP2, &c.HTTP1)
		require.NoError(t, err, "%q", part)
		counts[name] = c
	}
	return counts
}

// TestClosedModeTLS runs closed mode, tiny, over an HTTPS upstream: every
// request of both scenarios succeeds through both proxies, and the
// upstream served both proxies over HTTP/2 only.
func TestClosedModeTLS(t *testing.T) {
	out := runHarness(t, "-tls", "-d", "400ms", "-rounds", "2", "-c", "2", "-warmup", "100ms")

	assert.Contains(t, out.String(), "Upstream: HTTPS")
	rows := closedRows(out.String())
	for _, key := range []string{"non-streaming/bare", "non-streaming/llmproxy", "streaming/bare", "streaming/llmproxy",
		"messages non-streaming/bare", "messages non-streaming/llmproxy", "messages streaming/bare", "messages streaming/llmproxy"} {
		row, ok := rows[key]
		require.True(t, ok, "no %s row in:\n%s", key, out.String())
		rps, err := strconv.ParseFloat(row[2], 64)
		require.NoError(t, err, "%s req/s: %q", key, row[2])
		assert.Greater(t, rps, 0.0, "%s req/s", key)
		assert.Equal(t, "0", row[8], "%s errors", key)
	}
	assert.NotContains(t, out.String(), "First error")
	counts := upstreamProtocols(t, out.String())
	for _, src := range []string{"non-streaming bare", "non-streaming llmproxy", "streaming bare", "streaming llmproxy"} {
		c, ok := counts[src]
		require.True(t, ok, "no counts of %s in %v", src, counts)
		assert.Positive(t, c.HTTP2, "%s: requests over HTTP/2", src)
		assert.Zero(t, c.HTTP1, "%s: requests over HTTP/1.1", src)
	}
}

// TestStreamsModeTLS runs streams mode, tiny, over an HTTPS upstream: the
// direct streams (HTTP/1.1 over TLS) and both proxies' streams end well,
// and the proxies reached the upstream over HTTP/2.
func TestStreamsModeTLS(t *testing.T) {
	out := runHarness(t, "-tls", "-mode", "streams", "-streams", "6", "-slow-chunks", "3", "-slow-delay", "10ms",
		"-ramp", "30ms")

	for _, path := range []string{"direct to the upstream", "bare ReverseProxy", "llmproxy"} {
		found := false
		for line := range strings.SplitSeq(out.String(), "\n") {
			cells := strings.Split(line, "|")
			if len(cells) < 11 || strings.TrimSpace(cells[1]) != path {
				continue
			}
			found = true
			assert.Equal(t, "6", strings.TrimSpace(cells[2]), "%s: streams ok", path)
			assert.Equal(t, "0", strings.TrimSpace(cells[10]), "%s: errors", path)
		}
		assert.True(t, found, "no %s row in:\n%s", path, out.String())
	}
	counts := upstreamProtocols(t, out.String())
	assert.Equal(t, protoCounts{HTTP1: 6}, counts["direct"], "the load generator speaks HTTP/1.1")
	assert.Equal(t, protoCounts{HTTP2: 6}, counts["bare"])
	assert.Equal(t, protoCounts{HTTP2: 6}, counts["llmproxy"])
}

// TestUpstreamTLS serves the upstream with the harness's certificate: a
// client trusting only that certificate reaches it over HTTP/2 at
// 127.0.0.1 and localhost, and the upstream counts the requests by HTTP
// version.
func TestUpstreamTLS(t *testing.T) {
	cert, err := newUpstreamCert(t.TempDir())
	require.NoError(t, err)
	conf, err := serverTLS(cert.certFile, cert.keyFile)
	require.NoError(t, err)
	u := newUpstream(2, 0)
	srv := httptest.NewUnstartedServer(u)
	srv.TLS = conf
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)

	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.pool}, ForceAttemptHTTP2: true}}
	defer h2.CloseIdleConnections()
	for _, host := range []string{"127.0.0.1", "localhost"} {
		resp, err := h2.Post("https://"+net.JoinHostPort(host, port)+chatPath, "application/json", bytes.NewReader(chatBody))
		require.NoError(t, err, host)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, host)
		assert.Equal(t, 2, resp.ProtoMajor, host)
	}
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: cert.clientTLS()}}
	defer h1.CloseIdleConnections()
	resp, err := h1.Post(srv.URL+chatPath, "application/json", bytes.NewReader(chatBody))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, 1, resp.ProtoMajor)

	got, err := newProtoProbe(srv.URL, cert.clientTLS()).read(t.Context())
	require.NoError(t, err)
	assert.Equal(t, protoCounts{HTTP1: 1, HTTP2: 2}, got, "the probe itself is not counted")

	// A client that trusts the system roots only refuses the certificate.
	_, err = http.Post(srv.URL+chatPath, "application/json", bytes.NewReader(chatBody))
	assert.Error(t, err)
}

func TestRequireHTTP2(t *testing.T) {
	assert.NoError(t, requireHTTP2([]protoSource{{"bare", protoCounts{HTTP2: 3}}, {"llmproxy", protoCounts{HTTP2: 1}}}))
	err := requireHTTP2([]protoSource{{"bare", protoCounts{HTTP2: 3}}, {"llmproxy", protoCounts{HTTP1: 1, HTTP2: 4}}})
	assert.ErrorIs(t, err, errNotHTTP2)
	assert.Contains(t, err.Error(), "llmproxy: 4 over HTTP/2, 1 over HTTP/1.1")
	assert.NotContains(t, err.Error(), "bare")
	assert.ErrorIs(t, requireHTTP2([]protoSource{{"bare", protoCounts{}}}), errNotHTTP2, "no request at all")
}

func TestChunkStamp(t *testing.T) {
	ns, ok := chunkStamp([]byte(`data: {"id":"x","system_fingerprint":"fp_1700000000123456789","choices":[]}` + "\n"))
	assert.True(t, ok)
	assert.Equal(t, int64(1700000000123456789), ns)
	_, ok = chunkStamp([]byte(`data: {"id":"x"}`))
	assert.False(t, ok)
}

func TestProcStat(t *testing.T) {
	if !haveProc() {
		t.Skip(errNoProc)
	}
	ticks, err := cpuTicks(os.Getpid())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, ticks, int64(0))
	peak, err := peakRSS(os.Getpid())
	require.NoError(t, err)
	assert.Greater(t, peak, int64(1<<20))
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions([]string{"-c", "10", "-d", "20s"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 2*time.Second, o.warmup)
	assert.Equal(t, 10, o.maxInflight)
	assert.Equal(t, 40, o.overloadConns)
	_, err = parseOptions([]string{"-c", "0"}, &bytes.Buffer{})
	assert.Error(t, err)
	_, err = parseOptions([]string{"extra"}, &bytes.Buffer{})
	assert.Error(t, err)
}

func TestParseOptionsRounds(t *testing.T) {
	o, err := parseOptions(nil, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 4, o.rounds)
	assert.Equal(t, 2500*time.Millisecond, o.sliceDur())

	o, err = parseOptions([]string{"-d", "9s", "-rounds", "3"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 3, o.rounds)
	assert.Equal(t, 3*time.Second, o.sliceDur())

	for _, args := range [][]string{
		{"-rounds", "0"},
		{"-rounds", "-2"},
		{"-rounds", "x"},
		{"-d", "300ms"},               // 75 ms slices with the default 4 rounds
		{"-d", "1s", "-rounds", "20"}, // 50 ms slices
		{"-max-inflight", "-1"},
	} {
		_, err := parseOptions(args, &bytes.Buffer{})
		assert.Error(t, err, "%q", args)
	}
	// The slice's minimum holds in closed mode only.
	_, err = parseOptions([]string{"-mode", "overload", "-d", "300ms"}, &bytes.Buffer{})
	assert.NoError(t, err)
}

func TestParseOptionsMaxInflight(t *testing.T) {
	o, err := parseOptions([]string{"-c", "50", "-max-inflight", "25"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 25, o.maxInflight)
	assert.Equal(t, 100, o.overloadConns)
}

// ms1 is n milliseconds.
func ms1(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestMergeClosed(t *testing.T) {
	a := &closedResult{ok: 3, errors: 1, lat: []time.Duration{ms1(1), ms1(5), ms1(9)}, ttft: []time.Duration{ms1(2)},
		firstErr: "", win: window{pid: 7, cpu: 30, peak: 10 << 20, resetOK: true, duration: time.Second}}
	b := &closedResult{ok: 2, errors: 0, lat: []time.Duration{ms1(2), ms1(20)}, ttft: []time.Duration{ms1(1), ms1(3)},
		firstErr: "HTTP 502", win: window{pid: 7, cpu: 25, peak: 12 << 20, resetOK: true, duration: 1500 * time.Millisecond}}
	c := &closedResult{ok: 5, errors: 2, lat: []time.Duration{ms1(3), ms1(4), ms1(6), ms1(7), ms1(8)},
		firstErr: "EOF", win: window{pid: 7, cpu: 45, peak: 11 << 20, resetOK: true, duration: 2500 * time.Millisecond}}
	m := mergeClosed([]*closedResult{a, b, c})

	assert.Equal(t, 10, m.ok)
	assert.Equal(t, 3, m.errors)
	assert.Equal(t, []time.Duration{ms1(1), ms1(2), ms1(3), ms1(4), ms1(5), ms1(6), ms1(7), ms1(8), ms1(9), ms1(20)}, m.lat)
	assert.Equal(t, []time.Duration{ms1(1), ms1(2), ms1(3)}, m.ttft)
	assert.Equal(t, ms1(5), percentile(m.lat, 0.5), "p50 over every slice's samples")
	assert.Equal(t, ms1(20), percentile(m.lat, 0.99))
	assert.Equal(t, int64(100), m.win.cpu, "CPU ticks add up")
	assert.Equal(t, 5*time.Second, m.win.duration, "measured time adds up")
	assert.InDelta(t, 2.0, m.rps(), 1e-9, "10 answers in 5 s")
	assert.InDelta(t, 100_000.0, m.cpuPerReq(), 1e-6, "100 ticks = 1 s of CPU for 10 answers")
	assert.Equal(t, int64(12<<20), m.win.peak, "peak RSS is the highest slice's")
	assert.True(t, m.win.resetOK)
	assert.Equal(t, 7, m.win.pid)
	assert.Equal(t, "HTTP 502", m.firstErr, "the first slice's error that has one")

	// The slices are left as they were.
	assert.Equal(t, []time.Duration{ms1(2), ms1(20)}, b.lat)
	assert.Equal(t, 3, a.ok)

	// One slice that could not reset the peak makes the whole row's peak unreset.
	c.win.resetOK = false
	assert.False(t, mergeClosed([]*closedResult{a, b, c}).win.resetOK)

	// Nothing to merge: no answers, no reset, no rate.
	e := mergeClosed(nil)
	assert.Equal(t, 0, e.ok)
	assert.False(t, e.win.resetOK)
	assert.True(t, math.IsNaN(e.cpuPerReq()))
}

func TestRoundOrder(t *testing.T) {
	var order []int
	for round := range 4 {
		o := roundOrder(round)
		order = append(order, o[0], o[1])
		assert.ElementsMatch(t, []int{0, 1}, o[:], "round %d drives each target once", round)
	}
	assert.Equal(t, []int{0, 1, 1, 0, 0, 1, 1, 0}, order, "ABBA order")
}

func TestSliceLeadIn(t *testing.T) {
	assert.Equal(t, 100*time.Millisecond, sliceLeadIn(2*time.Second))
	assert.Equal(t, 50*time.Millisecond, sliceLeadIn(50*time.Millisecond))
	assert.Equal(t, time.Duration(0), sliceLeadIn(0))
}

func TestRoundsLine(t *testing.T) {
	slice := func(ok int, cpu int64) *closedResult {
		return &closedResult{ok: ok, win: window{cpu: cpu, duration: time.Second}}
	}
	bare := []*closedResult{slice(100, 10), slice(100, 20), slice(50, 5)}
	proxy := []*closedResult{slice(100, 11), slice(200, 30), slice(0, 3)}
	assert.Equal(t, "streaming: CPU/request llmproxy/bare per round: 1.10×, 0.75×, —",
		roundsLine("streaming", bare, proxy))
}

// TestDropIfClosed checks that a worker drops a connection the server has
// closed while it was idle, and keeps a live one.
func TestDropIfClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	ctx := t.Context()
	live := &worker{ctx: ctx, addr: ln.Addr().String()}
	dead := &worker{ctx: ctx, addr: ln.Addr().String()}
	for _, w := range []*worker{live, dead} {
		w.c, err = dial(ctx, w.addr, nil)
		require.NoError(t, err)
		defer w.close()
	}
	liveServer := <-accepted
	defer liveServer.Close()
	require.NoError(t, (<-accepted).Close())
	time.Sleep(50 * time.Millisecond) // for the FIN to arrive

	live.dropIfClosed()
	dead.dropIfClosed()
	assert.NotNil(t, live.c, "a live idle connection is kept")
	assert.Nil(t, dead.c, "a connection the server closed is dropped")
	// The probe's deadline is lifted: the live connection still reads.
	_, err = liveServer.Write([]byte("x"))
	require.NoError(t, err)
	b, err := live.c.br.ReadByte()
	require.NoError(t, err)
	assert.Equal(t, byte('x'), b)
}

// TestOverloadCapacityUnlimited runs overload mode with max_inflight below
// the capacity run's concurrency: the capacity run must not be shed (its
// llmproxy has no max_inflight), and the overload row must name the limit.
func TestOverloadCapacityUnlimited(t *testing.T) {
	out := runHarness(t, "-mode", "overload", "-d", "1s", "-c", "8", "-max-inflight", "2", "-no-unlimited",
		"-warmup", "200ms", "-factor", "1.5")

	var capacity, limited []string
	for line := range strings.SplitSeq(out.String(), "\n") {
		cells := strings.Split(line, "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case len(cells) > 5 && strings.HasPrefix(cells[1], "capacity (closed loop, 8 conns, no max_inflight)"):
			capacity = cells[1:]
		case len(cells) > 5 && strings.HasSuffix(cells[1], "capacity, max_inflight 2"):
			limited = cells[1:]
		}
	}
	require.NotNil(t, capacity, "no capacity row in:\n%s", out.String())
	require.NotNil(t, limited, "no max_inflight 2 row in:\n%s", out.String())
	// phase, offered req/s, 200 req/s, 503 shed, errors, ...
	rps, err := strconv.ParseFloat(capacity[2], 64)
	require.NoError(t, err)
	assert.Greater(t, rps, 0.0)
	assert.Equal(t, "0", capacity[4], "capacity errors (503s from a max_inflight below -c)")
	assert.NotContains(t, out.String(), "First error (capacity)")
}

// TestUpstreamModelList checks that the upstream answers the model lists
// both benchmarked providers read (their health checks): a run longer than
// the health-check interval must not find the upstream unhealthy.
func TestUpstreamModelList(t *testing.T) {
	srv := httptest.NewServer(newUpstream(2, 0))
	defer srv.Close()
	p, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{
		{Name: "oa", Type: "openai", BaseURL: srv.URL + "/v1", APIKey: "k"},
		{Name: "an", Type: "anthropic", BaseURL: srv.URL, APIKey: "k"},
	}})
	require.NoError(t, err)
	defer p.Close()
	list, err := p.Models(t.Context())
	require.NoError(t, err)
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	assert.Contains(t, ids, benchModel)
	assert.Contains(t, ids, benchClaudeModel)
}
