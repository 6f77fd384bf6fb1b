package llmproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy/sse"
)

func TestKindFromStatus(t *testing.T) {
	for status, want := range map[int]ErrorKind{
		400: KindInvalidRequest,
		401: KindAuth,
		402: KindQuotaExceeded,
		403: KindAuth,
		404: KindNotFound,
		405: KindInvalidRequest,
		408: KindUnavailable,
		409: KindUnavailable,
		413: KindInvalidRequest,
		422: KindInvalidRequest,
		429: KindRateLimited,
		500: KindUnavailable,
		502: KindUnavailable,
		503: KindUnavailable,
		504: KindUnavailable,
		529: KindUnavailable,
		200: KindUnavailable, // a success status where an error was expected
		302: KindUnavailable,
	} {
		assert.Equal(t, want, KindFromStatus(status), "status %d", status)
	}
}

func TestKindProperties(t *testing.T) {
	for _, tc := range []struct {
		kind                     ErrorKind
		name                     string
		retry, failover, counted bool
	}{
		{KindInternal, "internal", false, true, false},
		{KindInvalidRequest, "invalid_request", false, false, false},
		{KindAuth, "upstream_auth", false, true, true},
		{KindNotFound, "not_found", false, true, true},
		{KindRateLimited, "rate_limited", true, true, true},
		{KindQuotaExceeded, "quota_exceeded", false, true, true},
		{KindUnavailable, "unavailable", true, true, true},
		{KindTimeout, "timeout", false, true, true},
		{KindCanceled, "canceled", false, false, false},
		{KindUnauthorized, "unauthorized", false, false, false},
		{KindRateLimitedClient, "client_rate_limited", false, false, false},
	} {
		assert.Equal(t, tc.name, tc.kind.String())
		assert.Equal(t, tc.retry, tc.kind.Retryable(), "%s retryable", tc.name)
		assert.Equal(t, tc.failover, tc.kind.Failover(), "%s failover", tc.name)
		assert.Equal(t, tc.counted, tc.kind.CountsAgainstProvider(), "%s counts", tc.name)
	}
	assert.Equal(t, "kind(99)", ErrorKind(99).String())
	assert.Equal(t, "kind(-1)", ErrorKind(-1).String())
}

func TestErrorParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "2"}, 2 * time.Second},
		{"float seconds", map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond},
		{"milliseconds", map[string]string{"retry-after-ms": "250"}, 250 * time.Millisecond},
		{"milliseconds win", map[string]string{"Retry-After-Ms": "250", "Retry-After": "9"}, 250 * time.Millisecond},
		{"bad milliseconds fall back", map[string]string{"Retry-After-Ms": "soon", "Retry-After": "3"}, 3 * time.Second},
		{"zero milliseconds fall back", map[string]string{"Retry-After-Ms": "0", "Retry-After": "3"}, 3 * time.Second},
		{"HTTP date", map[string]string{"Retry-After": now.Add(30 * time.Second).Format(http.TimeFormat)}, 30 * time.Second},
		{"past HTTP date", map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{"garbage", map[string]string{"Retry-After": "tomorrow-ish"}, 0},
		{"negative", map[string]string{"Retry-After": "-5"}, 0},
		{"zero", map[string]string{"Retry-After": "0"}, 0},
		{"negative milliseconds", map[string]string{"Retry-After-Ms": "-100"}, 0},
	} {
		h := http.Header{}
		for k, v := range tc.headers {
			h.Set(k, v)
		}
		assert.Equal(t, tc.want, ParseRetryAfter(h, now), tc.name)
	}
}

func TestErrorHTTPStatus(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want int
	}{
		{Error{Kind: KindInvalidRequest}, 400},
		{Error{Kind: KindInvalidRequest, Status: 422}, 422},
		{Error{Kind: KindUnauthorized}, 401},
		{Error{Kind: KindNotFound}, 404},
		{Error{Kind: KindRateLimited}, 429},
		{Error{Kind: KindQuotaExceeded}, 429},
		{Error{Kind: KindRateLimitedClient}, 429},
		{Error{Kind: KindTimeout}, 504},
		{Error{Kind: KindCanceled}, 499},
		{Error{Kind: KindUnavailable}, 502},
		{Error{Kind: KindUnavailable, Status: 503}, 503},
		{Error{Kind: KindInternal}, 500},
		// An upstream refusing the proxy's key is not the client's fault.
		{Error{Kind: KindAuth}, 502},
		{Error{Kind: KindAuth, Status: 401}, 502},
		{Error{Kind: KindAuth, Status: 403}, 502},
	} {
		assert.Equal(t, tc.want, tc.e.HTTPStatus(), "%s status %d", tc.e.Kind, tc.e.Status)
	}
}

func TestErrorEnvelope(t *testing.T) {
	e := &Error{Kind: KindUnavailable, Provider: "openai", Message: "upstream returned 503"}
	b, err := json.Marshal(e.Envelope())
	require.NoError(t, err)
	assert.JSONEq(t, `{"error":{"message":"provider openai: upstream returned 503","type":"upstream_error","param":null,"code":null}}`, string(b))

	e = &Error{Kind: KindInvalidRequest, Param: "messages", Code: "invalid_json", Message: "bad", Provider: "openai"}
	b, err = json.Marshal(e.Envelope())
	require.NoError(t, err)
	assert.JSONEq(t, `{"error":{"message":"bad","type":"invalid_request_error","param":"messages","code":"invalid_json"}}`, string(b),
		"the client's own mistake is not attributed to the provider")

	e = &Error{Kind: KindAuth, Status: 401, Provider: "grok", Message: "Incorrect API key provided"}
	env := e.Envelope()
	assert.Equal(t, "upstream_error", env.Error.Type)
	assert.Equal(t, "provider grok: Incorrect API key provided", env.Error.Message)
	assert.Equal(t, 502, e.HTTPStatus())

	// The cause is never shown; a default message stands in.
	e = &Error{Kind: KindTimeout, Err: errors.New("dial tcp 10.0.0.7:443: i/o timeout")}
	env = e.Envelope()
	assert.Equal(t, "the upstream did not answer in time", env.Error.Message)
	assert.Equal(t, "timeout_error", env.Error.Type)
	b, _ = json.Marshal(env)
	assert.NotContains(t, string(b), "10.0.0.7")

	e = &Error{Kind: KindRateLimited, Type: "tokens", Code: "rate_limit_exceeded"}
	env = e.Envelope()
	assert.Equal(t, "tokens", env.Error.Type, "an explicit type wins")
	require.NotNil(t, env.Error.Code)
	assert.Equal(t, "rate_limit_exceeded", *env.Error.Code)
	assert.Nil(t, env.Error.Param)

	for kind, typ := range map[ErrorKind]string{
		KindInternal:          "server_error",
		KindNotFound:          "invalid_request_error",
		KindUnauthorized:      "authentication_error",
		KindRateLimitedClient: "rate_limit_error",
		KindQuotaExceeded:     "insufficient_quota",
		KindCanceled:          "server_error",
	} {
		assert.Equal(t, typ, (&Error{Kind: kind}).ErrorType(), kind.String())
	}
}

func TestErrorString(t *testing.T) {
	assert.Equal(t, "llmproxy: provider a: unavailable (503): overloaded",
		(&Error{Kind: KindUnavailable, Status: 503, Provider: "a", Message: "overloaded"}).Error())
	cause := errors.New("boom")
	e := &Error{Kind: KindInternal, Err: cause}
	assert.Equal(t, "llmproxy: internal: boom", e.Error())
	assert.ErrorIs(t, e, cause)
	assert.Equal(t, "llmproxy: timeout: slow", (&Error{Kind: KindTimeout, Message: "slow", Err: cause}).Error())

	wrapped := fmt.Errorf("handler: %w", &Error{Kind: KindNotFound, Message: "x"})
	got, ok := errors.AsType[*Error](wrapped)
	require.True(t, ok)
	assert.Equal(t, KindNotFound, got.Kind)
}

func TestErrorAsError(t *testing.T) {
	e := &Error{Kind: KindAuth}
	assert.Same(t, e, AsError(fmt.Errorf("wrapped: %w", e)))
	assert.Equal(t, KindCanceled, AsError(context.Canceled).Kind)
	assert.Equal(t, KindTimeout, AsError(fmt.Errorf("x: %w", context.DeadlineExceeded)).Kind)
	other := errors.New("other")
	got := AsError(other)
	assert.Equal(t, KindInternal, got.Kind)
	assert.ErrorIs(t, got, other)
}

// closedPort returns a local address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func newTestClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestErrorTransportConnectionRefused(t *testing.T) {
	ctx := t.Context()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+closedPort(t)+"/v1/models", nil)
	require.NoError(t, err)
	resp, err := newTestClient(t).Do(req)
	if resp != nil {
		resp.Body.Close()
	}
	require.Error(t, err)

	assert.True(t, IsConnectError(err))
	e := TransportError(ctx, "local", err)
	assert.Equal(t, KindUnavailable, e.Kind)
	assert.Equal(t, "local", e.Provider)
	assert.Equal(t, "could not connect to the upstream", e.Message)
	assert.True(t, IsConnectError(e), "the cause stays reachable")
	assert.ErrorIs(t, e, syscall.ECONNREFUSED)
	assert.Equal(t, 502, e.HTTPStatus())
}

func TestErrorTransportDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	resp, err := newTestClient(t).Do(req)
	if resp != nil {
		resp.Body.Close()
	}
	require.Error(t, err)

	e := TransportError(ctx, "slow", err)
	assert.Equal(t, KindTimeout, e.Kind)
	assert.Equal(t, "slow", e.Provider)
	assert.False(t, IsConnectError(err))
	assert.Equal(t, 504, e.HTTPStatus())

	// A net.Error that timed out is a timeout too, context or not.
	e = TransportError(context.Background(), "slow", &net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}})
	assert.Equal(t, KindTimeout, e.Kind)
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestErrorTransportCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+closedPort(t)+"/", nil)
	require.NoError(t, err)
	resp, err := newTestClient(t).Do(req)
	if resp != nil {
		resp.Body.Close()
	}
	require.Error(t, err)

	e := TransportError(ctx, "p", err)
	assert.Equal(t, KindCanceled, e.Kind)
	assert.Equal(t, 499, e.HTTPStatus())
	assert.False(t, e.Kind.Failover())
}

func TestErrorTransportOther(t *testing.T) {
	ctx := t.Context()
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	e := TransportError(ctx, "p", reset)
	assert.Equal(t, KindUnavailable, e.Kind)
	assert.False(t, IsConnectError(reset), "a reset may come after the request was sent")
	assert.Equal(t, "the connection to the upstream failed", e.Message)

	assert.True(t, IsConnectError(&net.DNSError{Err: "no such host", Name: "api.invalid", IsNotFound: true}))
	assert.True(t, IsConnectError(fmt.Errorf("post: %w", syscall.ECONNREFUSED)))
	assert.False(t, IsConnectError(errors.New("connection refused"))) // a message is not a kind
	assert.False(t, IsConnectError(nil))

	given := &Error{Kind: KindRateLimited, Provider: "q"}
	assert.Same(t, given, TransportError(ctx, "p", given), "an *Error passes through")
}

func TestStreamReadError(t *testing.T) {
	e := StreamReadError(context.Background(), "up", fmt.Errorf("reading: %w", sse.ErrLineTooLong))
	assert.Equal(t, KindUnavailable, e.Kind)
	assert.Equal(t, "up", e.Provider)
	assert.Contains(t, e.Message, "over the size limit")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e = StreamReadError(ctx, "up", context.Canceled)
	assert.Equal(t, KindCanceled, e.Kind, "other errors are transport errors")
}
