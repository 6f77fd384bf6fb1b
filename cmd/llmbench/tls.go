package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// With -tls the upstream serves HTTPS, as real providers do, with a
// certificate the harness makes at start. Both proxies trust it the same
// way, through the SSL_CERT_FILE environment variable of their processes,
// which Go's crypto/x509 reads on Linux in place of the system roots: the
// bare proxy's transport and llmproxy's (llmproxy.NewTransport, system
// roots) need no option for it. Both negotiate HTTP/2 by ALPN.

// certEnv is the environment variable through which the proxies' processes
// trust the upstream's certificate.
const certEnv = "SSL_CERT_FILE"

// upstreamCert is the upstream's self-signed certificate: its PEM files and
// a pool that trusts it, for the harness's own clients.
type upstreamCert struct {
	certFile string
	keyFile  string
	pool     *x509.CertPool
}

// env returns the environment entry through which a child trusts c.
func (c *upstreamCert) env() string { return certEnv + "=" + c.certFile }

// clientTLS returns the TLS configuration of the harness's clients of the
// upstream, which speak HTTP/1.1.
func (c *upstreamCert) clientTLS() *tls.Config {
	return &tls.Config{RootCAs: c.pool, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
}

// certValidity is how long the upstream's certificate is valid, from an
// hour before it is made (for clocks a little apart).
const certValidity = 24 * time.Hour

// newUpstreamCert makes a self-signed ECDSA P-256 certificate for 127.0.0.1,
// ::1 and localhost, valid for a day, and writes it and its key as PEM files
// (cert.pem, key.pem) into dir.
func newUpstreamCert(dir string) (*upstreamCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "llmbench upstream"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	c := &upstreamCert{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	c.pool.AddCert(cert)
	if err := writePEM(c.certFile, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	if err := writePEM(c.keyFile, "PRIVATE KEY", keyDER); err != nil {
		return nil, err
	}
	return c, nil
}

// writePEM writes one PEM block of type typ to a new file at path.
func writePEM(path, typ string, der []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: typ, Bytes: der}); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// serverTLS returns the upstream's TLS configuration for the certificate
// and key in certFile and keyFile: HTTP/2 and HTTP/1.1 offered by ALPN,
// HTTP/2 preferred.
func serverTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("upstream certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}, nil
}
