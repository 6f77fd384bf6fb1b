package llmproxy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHTTPUpstream(t *testing.T) {
	type seen struct {
		method, path, body string
		header             http.Header
		host               string
	}
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, seen{r.Method, r.URL.RequestURI(), string(b), r.Header.Clone(), r.Host})
		switch r.URL.Path {
		case "/v1/fail":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":"slow down"}`)
		default:
			io.WriteString(w, `{"ok":true}`)
		}
	}))
	defer srv.Close()

	type failure struct {
		status int
		after  string
		body   string
	}
	var failures []failure
	u := &HTTPUpstream{
		Name:    "up",
		BaseURL: srv.URL + "/v1",
		Headers: map[string]string{"X-Version": "configured", "Host": "example.test"},
		Client:  srv.Client(),
		Auth: func(req *http.Request) {
			req.Header.Set("X-Key", "k")
			req.Header.Set("X-Version", "own")
		},
		StatusError: func(status int, h http.Header, body []byte) *Error {
			failures = append(failures, failure{status, h.Get("Retry-After"), string(body)})
			return &Error{Kind: KindFromStatus(status), Status: status, Provider: "up", Message: "mapped"}
		},
	}
	ctx := t.Context()

	b, err := u.Call(ctx, http.MethodPost, "/chat?x=1", []byte(`{"a":1}`), 1<<20)
	require.NoError(t, err)
	require.Equal(t, `{"ok":true}`, string(b))
	require.Len(t, got, 1)
	require.Equal(t, "POST /v1/chat?x=1 {\"a\":1}", got[0].method+" "+got[0].path+" "+got[0].body)
	require.Equal(t, "application/json", got[0].header.Get("Content-Type"))
	require.Equal(t, "application/json", got[0].header.Get("Accept"))
	require.Equal(t, "k", got[0].header.Get("X-Key"), "Auth sets the adapter's headers")
	require.Equal(t, "configured", got[0].header.Get("X-Version"), "the configured headers override the adapter's")
	require.Equal(t, "example.test", got[0].host)

	b, err = u.Call(ctx, http.MethodGet, "/models", nil, 1<<20)
	require.NoError(t, err)
	require.Equal(t, `{"ok":true}`, string(b))
	require.Equal(t, "", got[1].header.Get("Content-Type"), "no body, no content type")

	_, err = u.Call(ctx, http.MethodPost, "/fail", []byte(`{}`), 1<<20)
	e, ok := errors.AsType[*Error](err)
	require.True(t, ok)
	require.Equal(t, "mapped", e.Message)
	require.Equal(t, []failure{{http.StatusTooManyRequests, "7", `{"error":"slow down"}`}}, failures)

	_, err = u.Call(ctx, http.MethodPost, "/big", []byte(`{}`), 4)
	e, ok = errors.AsType[*Error](err)
	require.True(t, ok)
	require.Equal(t, KindUnavailable, e.Kind)
	require.ErrorIs(t, err, ErrAnswerTooLarge)
	require.Equal(t, "up", e.Provider)

	_, err = u.NewRequest(ctx, "BAD METHOD", "/x", nil)
	e, ok = errors.AsType[*Error](err)
	require.True(t, ok)
	require.Equal(t, KindInternal, e.Kind)
	require.Equal(t, "up", e.Provider)

	req, err := u.NewRequest(ctx, http.MethodPost, "/stream", []byte(`{}`))
	require.NoError(t, err)
	resp, err := u.Send(ctx, req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, got, 5, "each call sent once")
	require.True(t, strings.HasPrefix(got[4].path, "/v1/stream"))
}

func TestHTTPUpstreamEncodeDecode(t *testing.T) {
	u := &HTTPUpstream{Name: "up"}
	b, err := u.Encode(map[string]int{"a": 1})
	require.NoError(t, err)
	require.Equal(t, `{"a":1}`, string(b))
	_, err = u.Encode(func() {})
	e, ok := errors.AsType[*Error](err)
	require.True(t, ok)
	require.Equal(t, [2]string{"up", "could not encode the upstream request"}, [2]string{e.Provider, e.Message})
	require.Equal(t, KindInternal, e.Kind)

	var v struct{ A int }
	require.NoError(t, u.Decode([]byte(`{"A":2}`), &v))
	require.Equal(t, 2, v.A)
	for _, body := range []string{``, `null`, `<html>`, `[1]`} {
		err := u.Decode([]byte(body), &v)
		e, ok := errors.AsType[*Error](err)
		require.True(t, ok, body)
		require.Equal(t, KindUnavailable, e.Kind, body)
		require.Equal(t, "up", e.Provider, body)
		require.Equal(t, "the upstream sent an invalid answer", e.Message, body)
	}
}
