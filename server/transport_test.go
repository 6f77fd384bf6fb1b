package server_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy/server"
)

// realStream posts a streamed chat request to the mock proxy at base with
// client, checks that the stream is whole and returns the response (its
// body read).
func realStream(t *testing.T, client *http.Client, base, content string) *http.Response {
	t.Helper()
	body := `{"model":"mock-1","messages":[{"role":"user","content":"` + content + `"}],"stream":true}`
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+clientKey)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	payloads := strmCheckClean(t, strmReply{status: resp.StatusCode, header: resp.Header, body: b}, "mock-a", 1)
	text, finish := strmChatContent(t, payloads)
	assert.Equal(t, "Mock response to: "+content, text)
	assert.Equal(t, "stop", finish)
	return resp
}

// TestH2C serves the handler with server.NewHTTPServer on a plain TCP
// listener and talks cleartext HTTP/2 with prior knowledge (h2c) to it: a
// chat request and a stream both go over HTTP/2. An HTTP/1.1 client is
// served on the same port.
func TestH2C(t *testing.T) {
	_, base := serveReal(t, realHandler(t), nil)

	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	resp := realChat(t, client, base, "over h2c")
	assert.Equal(t, 2, resp.ProtoMajor, "proto %s", resp.Proto)
	resp = realStream(t, client, base, "streamed over h2c")
	assert.Equal(t, 2, resp.ProtoMajor, "proto %s", resp.Proto)

	http1 := &http.Transport{}
	t.Cleanup(http1.CloseIdleConnections)
	resp = realChat(t, &http.Client{Transport: http1}, base, "over HTTP/1.1")
	assert.Equal(t, 1, resp.ProtoMajor, "proto %s", resp.Proto)
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// to dir and returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "llmproxy test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile, pool
}

// TestTLSHTTP2 serves the handler with server.NewHTTPServer and ServeTLS,
// as cmd/llmproxy does with tls_cert_file and tls_key_file: a client that
// offers HTTP/2 gets it (ALPN h2), for a chat request and a stream.
func TestTLSHTTP2(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	srv := server.NewHTTPServer("127.0.0.1:0", realHandler(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, certFile, keyFile) }()
	t.Cleanup(func() {
		_ = srv.Close()
		assert.ErrorIs(t, <-served, http.ErrServerClosed)
	})
	base := "https://" + ln.Addr().String()

	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	tr := &http.Transport{Protocols: &protos, TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	resp := realChat(t, client, base, "over TLS")
	assert.Equal(t, 2, resp.ProtoMajor, "proto %s", resp.Proto)
	require.NotNil(t, resp.TLS)
	assert.Equal(t, "h2", resp.TLS.NegotiatedProtocol)
	resp = realStream(t, client, base, "streamed over TLS")
	assert.Equal(t, 2, resp.ProtoMajor, "proto %s", resp.Proto)
}

// TestMetricsPassPromtool checks the /metrics output with Prometheus's own
// checker, after traffic that creates series of every kind: answers,
// client errors, a failover from a failing upstream, streams, embeddings.
func TestMetricsPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		const msg = "promtool not installed: apt-get install -y prometheus"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	failing := newUpstream(t, "failing", answerError(500, "server_error", "", "", serverErrorMsg))
	backup := newUpstream(t, "backup", answerOK("backup"))
	cfg := mockConfig()
	cfg.Providers = append(cfg.Providers,
		upstreamProvider("failing", failing.URL, 1),
		upstreamProvider("backup", backup.URL, 2))
	ts := startServer(t, cfg, server.Options{})

	require.Equal(t, http.StatusOK, postJSON(t, ts.Server, "/v1/chat/completions", chatBody("mock-1", "hi")).status)
	require.Equal(t, http.StatusOK, postJSON(t, ts.Server, "/v1/chat/completions", chatBody(failoverModel, "hi")).status)
	require.Equal(t, http.StatusOK, postJSON(t, ts.Server, "/v1/chat/completions",
		`{"model":"mock-1","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`).status)
	require.Equal(t, http.StatusOK, postJSON(t, ts.Server, "/v1/embeddings", `{"model":"mock-embed","input":["a","b"]}`).status)
	require.Equal(t, http.StatusNotFound, postJSON(t, ts.Server, "/v1/chat/completions", chatBody("nope", "hi")).status)
	require.Equal(t, http.StatusBadRequest, postJSON(t, ts.Server, "/v1/chat/completions", `{"model":`).status)
	require.Equal(t, http.StatusUnauthorized, postJSON(t, ts.Server, "/v1/chat/completions", chatBody("mock-1", "hi"), "X-API-Key", "wrong").status)
	require.Equal(t, http.StatusOK, get(t, ts.Server, "/v1/models").status)

	r := get(t, ts.Server, "/metrics")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.NotEmpty(t, bytes.TrimSpace(r.body))

	cmd := exec.CommandContext(t.Context(), promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(r.body)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Fatalf("promtool check metrics failed (%v):\n%s\n--- metrics:\n%s", err, out, r.body)
	}
	require.NoError(t, err, "running promtool")
	t.Logf("promtool: %s", bytes.TrimSpace(out))
}
