package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/llmproxy/llmproxy"
)

// version is the release the binary was built as, set by the linker
// (-ldflags "-X main.version=v1.2.3", as the Dockerfile does); empty means
// the module version in the build information.
var version string

// healthcheckTimeout bounds the whole -healthcheck probe.
const healthcheckTimeout = 5 * time.Second

// binaryVersion returns version, or the module version the binary was
// built from.
func binaryVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// printVersion writes "llmproxy <version> <go version> <os>/<arch>".
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "llmproxy %s %s %s/%s\n", binaryVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// healthcheck asks the instance that the config at path describes (its
// host and port, PROXY_API_HOST and PROXY_API_PORT and TLS included; a
// wildcard host such as 0.0.0.0 is probed on loopback) for GET /health
// and returns nil when it answers 200. It is the container's
// HEALTHCHECK: distroless images have no curl or wget. Over TLS it does
// not verify the certificate, which names the public host, not 127.0.0.1:
// the probe checks that the instance serves, not who it is.
func healthcheck(ctx context.Context, path string, out io.Writer) error {
	cfg, err := llmproxy.LoadConfig(path)
	if err != nil {
		return err
	}
	host := cfg.Host // a specific address or name: probe it
	switch ip := net.ParseIP(cfg.Host); {
	case cfg.Host == "" || (ip != nil && ip.IsUnspecified() && ip.To4() != nil):
		host = "127.0.0.1" // 0.0.0.0: every IPv4 address, loopback too
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	scheme, tr := "http", &http.Transport{DisableKeepAlives: true}
	if cfg.TLSCertFile != "" {
		scheme = "https"
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // loopback liveness probe, see above
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	url := scheme + "://" + net.JoinHostPort(host, strconv.Itoa(cfg.Port)) + "/health"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d: %s", url, resp.StatusCode, body)
	}
	fmt.Fprintf(out, "healthy: %s answered %d\n", url, resp.StatusCode)
	return nil
}
