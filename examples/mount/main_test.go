package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// documentedCurl returns the request of the curl command in the package
// comment: its path, headers and body.
func documentedCurl(t *testing.T) (path string, header http.Header, body string) {
	t.Helper()
	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	// The command: the comment lines from "curl" to the first without a
	// trailing backslash.
	var cmd strings.Builder
	in := false
	for line := range strings.SplitSeq(string(src), "\n") {
		text, ok := strings.CutPrefix(line, "//\t")
		if !ok {
			in = false
			continue
		}
		if strings.HasPrefix(text, "curl ") {
			in = true
		}
		if in {
			cmd.WriteString(strings.TrimSuffix(strings.TrimSpace(text), `\`) + " ")
			in = strings.HasSuffix(text, `\`)
		}
	}
	require.NotEmpty(t, cmd.String(), "no curl command in the package comment")
	m := regexp.MustCompile(`curl -s localhost:8080(\S+)`).FindStringSubmatch(cmd.String())
	require.NotNil(t, m, "curl URL in %q", cmd.String())
	header = http.Header{}
	for _, h := range regexp.MustCompile(`-H '([^']*)'`).FindAllStringSubmatch(cmd.String(), -1) {
		k, v, ok := strings.Cut(h[1], ":")
		require.True(t, ok, h[1])
		header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	d := regexp.MustCompile(`-d '([^']*)'`).FindStringSubmatch(cmd.String())
	require.NotNil(t, d, "curl body in %q", cmd.String())
	return m[1], header, d[1]
}

// TestMount runs the example on a loopback port, sends it the documented
// curl request and a request to the application's own route, stops it,
// and checks that nothing is left running: the proxy's handler (its rate
// limiters) and the proxy are closed.
func TestMount(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	tr := &http.Transport{}
	c := &http.Client{Transport: tr}
	path, header, body := documentedCurl(t)
	assert.Equal(t, "application/json", header.Get("Content-Type"), "the documented curl sends JSON as JSON")
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header = header
	resp, err := c.Do(req)
	require.NoError(t, err)
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "the documented curl: %s", answer)
	assert.Contains(t, string(answer), "Mock response to: hi")

	resp, err = c.Get(base + "/hello")
	require.NoError(t, err)
	own, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, "the application's own route\n", string(own))
	tr.CloseIdleConnections()

	cancel()
	require.NoError(t, <-done)
	goleak.VerifyNone(t)
}
