package server_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUnsupportedMediaTypeSaysHowToFixIt checks that a body sent as a form
// (what curl -d sends without -H) is still refused, with a message that
// says which header to send.
func TestUnsupportedMediaTypeSaysHowToFixIt(t *testing.T) {
	srv := newProxyServer(t, mockConfig())
	for _, ct := range []string{"application/x-www-form-urlencoded", "text/xml", "multipart/form-data; boundary=x"} {
		r := do(t, srv, http.MethodPost, "/v1/chat/completions", chatBody("mock-1", "hi"),
			"Content-Type", ct, "X-API-Key", clientKey)
		require.Equal(t, http.StatusUnsupportedMediaType, r.status, "%s: %s", ct, r.body)
		e := errorEnvelope(t, r)
		assert.Equal(t, "unsupported_media_type", deref(e.Code))
		assert.Contains(t, e.Message, "send Content-Type: application/json", ct)
		assert.Contains(t, e.Message, ct, "the message names what was sent")
	}
	// The fix works.
	r := postJSON(t, srv, "/v1/chat/completions", chatBody("mock-1", "hi"))
	assert.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
}

// TestHealthShowsVersion checks that /health reports a version when the
// configuration sets none (the module's, or "dev").
func TestHealthShowsVersion(t *testing.T) {
	cfg := mockConfig()
	require.Empty(t, cfg.AppVersion)
	srv := newProxyServer(t, cfg)
	r := do(t, srv, http.MethodGet, "/health", "")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	v, _ := r.object(t)["version"].(string)
	assert.NotEmpty(t, v, "body: %s", r.body)
}
