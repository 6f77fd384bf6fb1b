package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// fileSink is an in-memory file that counts its writes.
type fileSink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	closed bool
	fail   error // returned by Write while set
}

func (f *fileSink) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return 0, f.fail
	}
	f.writes++
	return f.buf.Write(p)
}

func (f *fileSink) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fileSink) state() (string, int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.String(), f.writes, f.closed
}

// TestBufferedLogFlushesOnTimer runs in fake time (testing/synctest): the
// flush timer fires exactly one interval after the first buffered line,
// however slow the machine, and not a moment before.
func TestBufferedLogFlushesOnTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fileSink{}
		b := newBufferedLog(f, 4096, 50*time.Millisecond)
		defer b.Close()
		for i := range 10 {
			_, err := fmt.Fprintf(b, "line %d\n", i)
			require.NoError(t, err)
		}
		time.Sleep(49 * time.Millisecond)
		synctest.Wait()
		text, writes, _ := f.state()
		assert.Empty(t, text, "buffered, not written before the interval")
		assert.Zero(t, writes)
		time.Sleep(time.Millisecond)
		synctest.Wait()
		text, writes, _ = f.state()
		assert.Equal(t, 10, strings.Count(text, "\n"), "the timer's flush, one interval after the first line")
		assert.Equal(t, 1, writes, "ten lines, one write")

		// Nothing buffered: no timer runs, nothing is written.
		time.Sleep(time.Hour)
		synctest.Wait()
		_, writes, _ = f.state()
		assert.Equal(t, 1, writes)

		// The timer is armed again by the next line after a flush.
		_, _ = io.WriteString(b, "later\n")
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		text, writes, _ = f.state()
		assert.True(t, strings.HasSuffix(text, "later\n"), "the second flush")
		assert.Equal(t, 2, writes)
	})
}

func TestBufferedLogFlushesWhenFull(t *testing.T) {
	f := &fileSink{}
	b := newBufferedLog(f, 64, time.Hour)
	line := strings.Repeat("x", 39) + "\n"
	_, _ = io.WriteString(b, line)
	text, _, _ := f.state()
	assert.Empty(t, text)
	_, _ = io.WriteString(b, line) // does not fit: the buffer goes out
	text, _, _ = f.state()
	assert.NotEmpty(t, text)
	require.NoError(t, b.Flush())
	text, _, _ = f.state()
	assert.Equal(t, line+line, text)
	require.NoError(t, b.Close())
}

func TestBufferedLogClose(t *testing.T) {
	f := &fileSink{}
	b := newBufferedLog(f, 4096, time.Hour)
	_, _ = io.WriteString(b, "last words\n")
	require.NoError(t, b.Close())
	text, _, closed := f.state()
	assert.Equal(t, "last words\n", text, "Close flushes")
	assert.True(t, closed)
	_, err := io.WriteString(b, "too late\n")
	assert.ErrorIs(t, err, os.ErrClosed)
	assert.ErrorIs(t, b.Flush(), os.ErrClosed)
	assert.NoError(t, b.Close(), "idempotent")
}

// A failed write does not leave the buffer stuck: later lines get through.
func TestBufferedLogRecoversFromWriteError(t *testing.T) {
	f := &fileSink{fail: errors.New("disk full")}
	b := newBufferedLog(f, 4096, time.Hour)
	defer b.Close()
	_, _ = io.WriteString(b, "lost\n")
	assert.Error(t, b.Flush())
	f.mu.Lock()
	f.fail = nil
	f.mu.Unlock()
	_, _ = io.WriteString(b, "kept\n")
	require.NoError(t, b.Flush())
	text, _, _ := f.state()
	assert.Equal(t, "kept\n", text)
}

func TestBufferedLogConcurrent(t *testing.T) {
	f := &fileSink{}
	b := newBufferedLog(f, 1024, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				_, _ = fmt.Fprintf(b, "g%d line %d %s\n", g, i, strings.Repeat("y", i%50))
			}
		})
	}
	wg.Wait()
	require.NoError(t, b.Close())
	text, _, _ := f.state()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	assert.Len(t, lines, 8*500)
	re := regexp.MustCompile(`^g\d line \d+ y*$`)
	for _, l := range lines {
		require.Regexp(t, re, l, "a torn line")
	}
}

// newLogger with log_file buffers the lines; its close function writes
// them out.
func TestNewLoggerLogFileBuffered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "proxy.log")
	logger, closeLog, err := newLogger(llmproxy.Config{LogFile: path}, "json", io.Discard)
	require.NoError(t, err)
	logger.Info("hello", "n", 1)
	closeLog()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"msg":"hello"`)
}

// run writes its log to log_file and flushes it on the way out: the lines
// of a request and of the shutdown are in the file once run has returned.
func TestRunFlushesLogFileOnExit(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "proxy.log")
	cfgPath := filepath.Join(dir, "config.yaml")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	require.NoError(t, ln.Close())
	// The environment overrides the file: set it to the same.
	t.Setenv("PROXY_API_HOST", "127.0.0.1")
	t.Setenv("PROXY_API_PORT", port)
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`host: 127.0.0.1
port: %s
api_keys: ["sk-run-test"]
log_file: %q
providers:
  - {name: m, type: mock}
`, port, logPath)), 0o600))

	done := make(chan error, 1)
	go func() { done <- run([]string{"--config", cfgPath}, io.Discard) }()

	// The listening line reaches the file within the flush interval.
	var addr string
	re := regexp.MustCompile(`"msg":"llmproxy listening","addr":"([^"]+)"`)
	poll(t, 10*time.Second, 10*time.Millisecond, "the listening line in log_file", func() bool {
		b, _ := os.ReadFile(logPath)
		if m := re.FindSubmatch(b); m != nil {
			addr = string(m[1])
			return true
		}
		return false
	})
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/models", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer sk-run-test")
	req.Header.Set("X-Request-ID", "run-flush-1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after SIGINT")
	}
	b, err := os.ReadFile(logPath)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"request_id":"run-flush-1"`)
	assert.Contains(t, string(b), `"msg":"shutting down; waiting for in-flight requests"`)
}

// BenchmarkLogFile measures one access-log-sized line written by slog's
// JSON handler to log_file, unbuffered (a write system call per line) and
// through bufferedLog.
func BenchmarkLogFile(b *testing.B) {
	line := func(b *testing.B, w io.Writer) {
		logger := slog.New(slog.NewJSONHandler(w, nil))
		b.ReportAllocs()
		for b.Loop() {
			logger.LogAttrs(context.Background(), slog.LevelInfo, "request",
				slog.String("request_id", "req_0123456789abcdef01234567"), slog.String("method", "POST"),
				slog.String("path", "/v1/chat/completions"), slog.Int("status", 200), slog.Float64("latency_ms", 1.234),
				slog.String("key_id", "key_01234567"), slog.String("model", "bench-model"))
		}
	}
	open := func(b *testing.B) *os.File {
		f, err := os.OpenFile(filepath.Join(b.TempDir(), "access.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		require.NoError(b, err)
		return f
	}
	b.Run("file", func(b *testing.B) {
		f := open(b)
		defer f.Close()
		line(b, f)
	})
	b.Run("buffered", func(b *testing.B) {
		bl := newBufferedLog(open(b), logBufferSize, logFlushInterval)
		defer bl.Close()
		line(b, bl)
	})
}
