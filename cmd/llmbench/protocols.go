package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// The upstream counts the requests it serves by HTTP version, so that the
// harness can show, and with -tls require, that each proxy reached it over
// the protocol the figures claim: HTTP/2 over TLS, as with real providers.
// The targets are driven one at a time, so the counts' growth while one is
// driven is that target's.

// protocolsPath is where the upstream reports its counts (GET).
const protocolsPath = "/llmbench/protocols"

// protoCounts are requests counted by HTTP version.
type protoCounts struct {
	HTTP1 int64 `json:"http1"`
	HTTP2 int64 `json:"http2"`
}

func (p protoCounts) add(q protoCounts) protoCounts {
	return protoCounts{HTTP1: p.HTTP1 + q.HTTP1, HTTP2: p.HTTP2 + q.HTTP2}
}

func (p protoCounts) sub(q protoCounts) protoCounts {
	return protoCounts{HTTP1: p.HTTP1 - q.HTTP1, HTTP2: p.HTTP2 - q.HTTP2}
}

// protoCounter counts requests by HTTP version; it is safe for concurrent
// use.
type protoCounter struct {
	http1, http2 atomic.Int64
}

// count counts r.
func (c *protoCounter) count(r *http.Request) {
	if r.ProtoMajor == 2 {
		c.http2.Add(1)
	} else {
		c.http1.Add(1)
	}
}

// serve writes the counts as JSON.
func (c *protoCounter) serve(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(protoCounts{HTTP1: c.http1.Load(), HTTP2: c.http2.Load()})
}

// protoProbe reads the upstream's counts.
type protoProbe struct {
	url    string
	client *http.Client
}

// newProtoProbe returns a probe of the upstream at base (its base URL),
// trusting tlsConf's roots for an HTTPS upstream.
func newProtoProbe(base string, tlsConf *tls.Config) *protoProbe {
	return &protoProbe{url: base + protocolsPath,
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf, Proxy: nil}, Timeout: 5 * time.Second}}
}

// read returns the upstream's counts.
func (p *protoProbe) read(ctx context.Context) (protoCounts, error) {
	var c protoCounts
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return c, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return c, fmt.Errorf("upstream's protocol counts: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("upstream's protocol counts: HTTP %d", resp.StatusCode)
	}
	err = json.NewDecoder(resp.Body).Decode(&c)
	return c, err
}

// during runs f and adds to into the requests the upstream served
// meanwhile.
func (p *protoProbe) during(ctx context.Context, into *protoCounts, f func() error) error {
	before, err := p.read(ctx)
	if err != nil {
		return err
	}
	if err := f(); err != nil {
		return err
	}
	after, err := p.read(ctx)
	if err != nil {
		return err
	}
	*into = into.add(after.sub(before))
	return nil
}

// close closes the probe's idle connections.
func (p *protoProbe) close() { p.client.CloseIdleConnections() }

// protoSource is what the upstream served while one target was driven.
type protoSource struct {
	name   string
	counts protoCounts
}

// protocolsLine words what the upstream served to each source, e.g.
// "Upstream (HTTPS): requests from bare: 1200 over HTTP/2, 0 over
// HTTP/1.1; from llmproxy: …".
func protocolsLine(tlsOn bool, sources []protoSource) string {
	scheme := "HTTP"
	if tlsOn {
		scheme = "HTTPS"
	}
	parts := make([]string, len(sources))
	for i, s := range sources {
		parts[i] = fmt.Sprintf("from %s: %d over HTTP/2, %d over HTTP/1.1", s.name, s.counts.HTTP2, s.counts.HTTP1)
	}
	return "Upstream (" + scheme + ") requests " + strings.Join(parts, "; ") + "."
}

// errNotHTTP2 is returned with -tls when a proxy reached the upstream other
// than over HTTP/2 only: the figures would not be those of an HTTPS
// provider's hop.
var errNotHTTP2 = errors.New("a proxy did not reach the HTTPS upstream over HTTP/2 only")

// requireHTTP2 fails unless the upstream served every source some
// requests, all over HTTP/2.
func requireHTTP2(sources []protoSource) error {
	var bad []string
	for _, s := range sources {
		if s.counts.HTTP1 != 0 || s.counts.HTTP2 == 0 {
			bad = append(bad, fmt.Sprintf("%s: %d over HTTP/2, %d over HTTP/1.1", s.name, s.counts.HTTP2, s.counts.HTTP1))
		}
	}
	if bad != nil {
		return fmt.Errorf("%w (%s)", errNotHTTP2, strings.Join(bad, "; "))
	}
	return nil
}
