package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets the harness re-execute the test binary as its upstream and
// bare proxy, as it re-executes llmbench.
func TestMain(m *testing.M) {
	if code, ok := runSubcommand(os.Args[1:], os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestClosedModeEndToEnd runs the harness with tiny settings: it builds
// llmproxy, starts the three processes, runs both scenarios against both
// targets and prints a table with numbers in every measured row.
func TestClosedModeEndToEnd(t *testing.T) {
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
	err := run(ctx, []string{"-d", "1s", "-c", "4", "-warmup", "200ms"}, &out, &log)
	require.NoError(t, err, "log:\n%s", log.String())
	t.Logf("harness ran in %v:\n%s", time.Since(start).Round(time.Millisecond), out.String())

	rows := map[string][]string{}
	for line := range strings.SplitSeq(out.String(), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 11 {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows[cells[1]+"/"+cells[2]] = cells[1 : len(cells)-1]
	}
	for _, key := range []string{"non-streaming/bare", "non-streaming/llmproxy", "streaming/bare", "streaming/llmproxy"} {
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
		if strings.HasPrefix(key, "streaming/") {
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
	assert.Contains(t, out.String(), "Machine: ")
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
