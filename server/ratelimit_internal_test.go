package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sethvargo/go-limiter"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/redistest"
	_ "github.com/llmproxy/llmproxy/providers/mock"
	"github.com/llmproxy/llmproxy/ratelimit"
)

// A configuration change rebuilds the limiters and stops the old ones; an
// unchanged configuration keeps them.
func TestRateLimitsRebuildOnConfigChange(t *testing.T) {
	cfg := llmproxy.Config{Providers: []llmproxy.ProviderConfig{{Name: "m", Type: "mock"}}}
	p, err := llmproxy.New(cfg)
	require.NoError(t, err)
	defer p.Close()
	l := newRateLimits(p, slog.New(slog.DiscardHandler))
	defer l.close()
	ctx := context.Background()

	cfg = p.Config()
	off := l.current(cfg)
	assert.False(t, off.limits(endpointChat), "no limits configured")
	assert.Same(t, off, l.current(cfg))

	cfg.RateLimitChatRPM = 2
	first := l.current(cfg)
	require.True(t, first.limits(endpointChat))
	assert.False(t, first.limits(endpointEmbeddings))
	assert.Same(t, first, l.current(cfg), "same configuration, same limiters")
	res, _, err := first.take(ctx, endpointChat, "c")
	require.NoError(t, err)
	assert.EqualValues(t, 2, res.Limit)

	cfg.RateLimitRPM = 10
	cfg.RateLimitWindow = time.Hour
	second := l.current(cfg)
	require.NotSame(t, first, second)
	_, _, err = first.take(ctx, endpointChat, "c")
	assert.ErrorIs(t, err, limiter.ErrStopped, "the old limiters are stopped; the middleware retries on the new")
	assert.True(t, second.limits(endpointEmbeddings), "the global limit covers every endpoint")
	res, scope, err := second.take(ctx, endpointEmbeddings, "c")
	require.NoError(t, err)
	assert.Equal(t, scopeGlobal, scope)
	assert.EqualValues(t, 10, res.Limit)
	assert.Equal(t, time.Hour, second.window(scopeGlobal))

	require.NoError(t, l.close())
	assert.Nil(t, l.current(cfg), "closed: no limiters")
	assert.False(t, l.current(cfg).limits(endpointChat))
}

func TestClientIP(t *testing.T) {
	for _, tc := range []struct {
		name, remote, xff string
		trusted           []string
		want              string
	}{
		{"peer", "192.0.2.7:5555", "", nil, "192.0.2.7"},
		{"xff ignored without trusted proxies", "192.0.2.7:5555", "203.0.113.9", nil, "192.0.2.7"},
		{"xff ignored from an untrusted peer", "192.0.2.7:5555", "203.0.113.9", []string{"10.0.0.0/8"}, "192.0.2.7"},
		{"trusted peer", "10.1.2.3:5555", "203.0.113.9", []string{"10.0.0.0/8"}, "203.0.113.9"},
		{"last untrusted hop", "10.1.2.3:5555", "198.51.100.1, 203.0.113.9, 10.9.9.9", []string{"10.0.0.0/8"}, "203.0.113.9"},
		{"all trusted", "10.1.2.3:5555", "10.4.4.4", []string{"10.0.0.0/8"}, "10.4.4.4"},
		{"garbled entry", "10.1.2.3:5555", "203.0.113.9, bogus", []string{"10.0.0.0/8"}, "10.1.2.3"},
		{"single address", "10.1.2.3:5555", "203.0.113.9", []string{"10.1.2.3"}, "203.0.113.9"},
		{"ipv4-mapped peer", "[::ffff:10.1.2.3]:5555", "203.0.113.9", []string{"10.0.0.0/8"}, "203.0.113.9"},
		{"ipv6", "[2001:db8::1]:5555", "", nil, "2001:db8::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			assert.Equal(t, tc.want, clientIP(r, parseTrusted(tc.trusted)).String())
		})
	}
}

// trusted_proxies are parsed once per list, and again when a reload
// changes it.
func TestTrustedProxiesParsedOnce(t *testing.T) {
	var tp trustedProxies
	list := []string{"10.0.0.0/8", "192.0.2.1"}
	first := tp.prefixes(list)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")}, first)
	assert.Same(t, &first[0], &tp.prefixes(slices.Clone(list))[0], "an equal list is not parsed again")
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("172.16.0.0/12")}, tp.prefixes([]string{"172.16.0.0/12"}),
		"a changed list is")
	assert.Empty(t, tp.prefixes(nil))
}

// IPv6 clients are limited per /64, the block one host usually holds.
func TestClientKeyIPv6Prefix(t *testing.T) {
	key := func(remote string) string {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		return clientKey(r, nil)
	}
	assert.Equal(t, key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:2:ffff::9]:2"))
	assert.NotEqual(t, key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:3::1]:1"))
	assert.NotEqual(t, key("192.0.2.1:1"), key("192.0.2.2:1"))
	assert.Regexp(t, `^ip_[0-9a-f]{16}$`, key("192.0.2.1:1"), "hashed: no address in Redis")
}

// The client keys stay those of earlier versions (sha256 of the address's
// or the /64's text), so that a shared Redis keeps counting across an
// upgrade.
func TestClientKeyStable(t *testing.T) {
	for remote, text := range map[string]string{
		"192.0.2.1:1":              "192.0.2.1",
		"[::ffff:192.0.2.1]:1":     "192.0.2.1",
		"[2001:db8:1:2::1]:1":      "2001:db8:1:2::/64",
		"[fe80::1%eth0]:1":         "fe80::/64",
		"@":                        "0.0.0.0",
		"[2001:db8:1:2:3:4:5:6]:9": "2001:db8:1:2::/64",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		sum := sha256.Sum256([]byte(text))
		assert.Equal(t, "ip_"+hex.EncodeToString(sum[:8]), clientKey(r, nil), remote)
	}
}

// setRateLimitHeaders writes what Header.Set would.
func TestSetRateLimitHeaders(t *testing.T) {
	reset := time.Unix(1700000000, 1)
	res := ratelimit.Result{Limit: 120, Remaining: 7, Reset: reset}
	h := http.Header{}
	setRateLimitHeaders(h, res)
	want := http.Header{}
	want.Set("X-RateLimit-Limit", "120")
	want.Set("X-RateLimit-Remaining", "7")
	want.Set("X-RateLimit-Reset", "1700000001")
	assert.Equal(t, want, h)
	h.Add("X-RateLimit-Limit", "x") // appends to a copy, not into the shared array
	assert.Equal(t, "7", h.Get("X-RateLimit-Remaining"))
}

// A request refused by the global limit spends no token of the endpoint's
// (issue 15): with 5 requests per window globally and 10 per minute to
// chat, ten requests are 5 allowed and 5 refused, and the chat limit has 5
// requests left for the next global window, in memory and in Redis.
func TestRateLimitRefusalSpendsNoOtherToken(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			c := limitConfig{chat: 10, global: 5, window: time.Hour}
			if backend == "redis" {
				c.redisURL = redistest.Start(t).PatientURL()
			}
			p, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{{Name: "m", Type: "mock"}}})
			require.NoError(t, err)
			defer p.Close()
			ls := buildLimitSet(c, p, slog.New(slog.DiscardHandler))
			defer ls.close()
			ctx := context.Background()

			refused := map[string]int{}
			for range 10 {
				res, scope, err := ls.take(ctx, endpointChat, "client")
				require.NoError(t, err)
				if !res.OK {
					refused[scope]++
				}
			}
			assert.Equal(t, map[string]int{scopeGlobal: 5}, refused, "5 allowed, then 5 refused by the global limit")
			_, left, err := ls.endpoint[endpointChat].Get(ctx, "client")
			require.NoError(t, err)
			if backend == "memory" {
				assert.EqualValues(t, 5, left, "only the 5 allowed requests count against the chat limit")
			} else {
				// GCRA gives a token back every 6 s: on a slow machine
				// there may be more.
				assert.GreaterOrEqual(t, left, uint64(5), "only the 5 allowed requests count against the chat limit")
			}

			res, scope, err := ls.take(ctx, endpointEmbeddings, "client")
			require.NoError(t, err)
			assert.False(t, res.OK)
			assert.Equal(t, scopeGlobal, scope)
		})
	}
}
