package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sethvargo/go-limiter"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/ratelimit"
)

// The endpoints that rateLimit knows. endpointModels has only the global
// limit.
const (
	endpointChat        = "chat"
	endpointCompletions = "completions"
	endpointEmbeddings  = "embeddings"
	endpointModels      = "models"
	// endpointResponses is POST /v1/responses; endpointResponse, GET and
	// DELETE /v1/responses/{id}, has only the global limit.
	endpointResponses = "responses"
	endpointResponse  = "response"
)

// rateLimit wraps next with the client's limits: the endpoint's own
// (rate_limit_<endpoint>_rpm per minute) and the global one (rate_limit_rpm
// per rate_limit_window), both per client. The client is the hashed API key
// that auth found, or, with auth off, the IP address of the connection's
// peer (or, behind a trusted proxy, of X-Forwarded-For). A request over
// either limit is answered 429 in the OpenAI envelope with Retry-After;
// every answer gets X-RateLimit-Limit, -Remaining and -Reset (Unix seconds)
// of the tighter limit. It must wrap a handler after auth and before the
// body is read.
func (s *server) rateLimit(endpoint string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cfg := s.p.Config()
		set := s.limits.current(cfg)
		if !set.limits(endpoint) {
			next.ServeHTTP(w, r)
			return
		}
		client := clientKey(r, s.trusted.prefixes(cfg.TrustedProxies))
		res, scope, err := set.take(r.Context(), endpoint, client)
		if errors.Is(err, limiter.ErrStopped) {
			// A reload replaced the limiters while this request held the
			// old ones: ask the new ones, if any.
			if set = s.limits.current(s.p.Config()); !set.limits(endpoint) {
				next.ServeHTTP(w, r)
				return
			}
			res, scope, err = set.take(r.Context(), endpoint, client)
		}
		switch {
		case err == nil:
		case r.Context().Err() != nil:
			s.fail(w, r, r.Context().Err()) // the client went away
			return
		case errors.Is(err, ratelimit.ErrUnavailable):
			s.fail(w, r, &llmproxy.Error{
				Kind: llmproxy.KindUnavailable, Status: http.StatusServiceUnavailable, Type: "server_error",
				Code:       "rate_limiter_unavailable",
				Message:    "the rate limiter's store (Redis) does not answer and the proxy is configured to refuse requests until it does (redis_fail_closed); retry shortly",
				RetryAfter: time.Second, Err: err,
			})
			return
		default:
			// Fail-open stores answer from memory when Redis fails; any
			// other failure must not take the proxy down either.
			s.log.WarnContext(r.Context(), "rate limiter failed; request allowed", "endpoint", endpoint, "error", err.Error())
			next.ServeHTTP(w, r)
			return
		}
		if res.Limit > 0 {
			setRateLimitHeaders(w.Header(), res)
		}
		if !res.OK {
			s.limits.rejected(endpoint, scope).Inc()
			retry := res.RetryAfter(time.Now())
			s.fail(w, r, &llmproxy.Error{
				Kind: llmproxy.KindRateLimitedClient, Code: "rate_limit_exceeded", RetryAfter: retry,
				Message: fmt.Sprintf("rate limit exceeded: %d requests per %s %s; retry in %d s",
					res.Limit, describeWindow(set.window(scope)), describeScope(scope, r.URL.Path), int(math.Ceil(retry.Seconds()))),
			})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// setRateLimitHeaders sets X-RateLimit-Limit, -Remaining and -Reset (Unix
// seconds) from res.
func setRateLimitHeaders(h http.Header, res ratelimit.Result) {
	h.Set(headerRateLimit, strconv.FormatUint(res.Limit, 10))
	h.Set(headerRateRemaining, strconv.FormatUint(res.Remaining, 10))
	h.Set(headerRateReset, strconv.FormatInt(unixCeil(res.Reset), 10))
}

// Scopes of a limit, for messages and metrics.
const (
	scopeEndpoint = "endpoint"
	scopeGlobal   = "global"
)

func describeScope(scope, path string) string {
	if scope == scopeGlobal {
		return "across all endpoints"
	}
	return "to " + path
}

func describeWindow(d time.Duration) string {
	switch d {
	case time.Minute:
		return "minute"
	case time.Second:
		return "second"
	case time.Hour:
		return "hour"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s"
}

// unixCeil returns t in whole Unix seconds, rounded up.
func unixCeil(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// clientKey names the client of r for the limits: "key_…" (the hash of
// the API key, from auth) when auth is on, "ip_…" (a hash of the client's
// IP address, of its /64 for IPv6, since one host holds a whole /64)
// otherwise; trusted are the trusted proxies (see clientIP). Keys are
// hashed so that Redis holds no addresses.
func clientKey(r *http.Request, trusted []netip.Prefix) string {
	if id := info(r.Context()).keyID; id != "" {
		return id
	}
	ip := clientIP(r, trusted)
	text := ip.String()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		text = p.String()
	}
	sum := sha256.Sum256([]byte(text))
	return "ip_" + hex.EncodeToString(sum[:8])
}

// clientIP is the address of r's peer. When the peer is one of the trusted
// proxies, it is instead the last address of X-Forwarded-For that is not a
// trusted proxy: proxies append the address they received the request
// from, so the entries left of the last untrusted one may be forged by the
// client.
func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.IPv4Unspecified() // not an IP connection (tests, unix sockets): one client
	}
	peer = peer.Unmap()
	if !isTrusted(peer, trusted) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a garbled entry: trust nothing left of it
		}
		client = a.Unmap()
		if !isTrusted(client, trusted) {
			break
		}
	}
	return client
}

// trustedProxies caches the parsed trusted_proxies of the configuration in
// force, so that a request does not parse them. It is safe for concurrent
// use; the zero value is ready.
type trustedProxies struct {
	cur atomic.Pointer[parsedTrusted]
}

// parsedTrusted is a trusted_proxies list and its prefixes.
type parsedTrusted struct {
	list     []string
	prefixes []netip.Prefix
}

// prefixes returns the prefixes of list, parsing it only when it differs
// from the last one (after a reload).
func (t *trustedProxies) prefixes(list []string) []netip.Prefix {
	if p := t.cur.Load(); p != nil && slices.Equal(p.list, list) {
		return p.prefixes
	}
	p := &parsedTrusted{list: list, prefixes: parseTrusted(list)}
	t.cur.Store(p)
	return p.prefixes
}

// parseTrusted parses trusted_proxies (validated by the config).
func parseTrusted(trusted []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(trusted))
	for _, t := range trusted {
		if a, err := netip.ParseAddr(t); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		} else if p, err := netip.ParsePrefix(t); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

func isTrusted(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// limitConfig is the part of the configuration the limiters are built
// from; a reload that changes it rebuilds them.
type limitConfig struct {
	chat, completions, embeddings int
	responses                     int
	messages                      int // the Messages front's routes
	global                        int
	window                        time.Duration
	redisURL                      string
	failClosed                    bool
	keyPrefix                     string
}

func limitConfigOf(cfg llmproxy.Config) limitConfig {
	return limitConfig{
		chat: cfg.RateLimitChatRPM, completions: cfg.RateLimitCompletionsRPM, embeddings: cfg.RateLimitEmbeddingsRPM,
		responses: cfg.RateLimitResponsesRPM,
		messages:  cfg.RateLimitMessagesRPM,
		global:    cfg.RateLimitRPM, window: cfg.RateLimitWindow,
		redisURL: cfg.RedisURL.Reveal(), failClosed: cfg.RedisFailClosed, keyPrefix: cfg.RedisKeyPrefix,
	}
}

// limitSet is one generation of a handler's limiters. It is immutable
// once built; Close stops its stores.
type limitSet struct {
	cfg   limitConfig
	redis *ratelimit.Redis // nil: in memory
	// sharedRedis is set when redis is the proxy's own connection, which
	// the set must not close.
	sharedRedis bool
	endpoint    map[string]limiter.Store // no entry: no endpoint limit
	global      limiter.Store            // nil: no global limit
}

// limits reports whether endpoint has a limit. A nil set has none.
func (ls *limitSet) limits(endpoint string) bool {
	return ls != nil && (ls.endpoint[endpoint] != nil || ls.global != nil)
}

// window returns the interval of the limits of scope.
func (ls *limitSet) window(scope string) time.Duration {
	if scope == scopeGlobal {
		return ls.cfg.window
	}
	return time.Minute
}

// take takes a token from the endpoint's limit, then from the global one,
// and returns the refusal, or when both allow the result with the fewest
// requests left, with the scope of the limit it comes from. A request
// refused (or failed) by one limit spends no token of the other: the token
// taken before the refusal is given back (see ratelimit.TakeAll for why
// this, and not looking first, is right under concurrency).
func (ls *limitSet) take(ctx context.Context, endpoint, client string) (ratelimit.Result, string, error) {
	scopes := [...]string{scopeEndpoint, scopeGlobal}
	stores := [...]limiter.Store{ls.endpoint[endpoint], ls.global}
	res, at, err := ratelimit.TakeAll(ctx, client, stores[:]...)
	if at < 0 {
		return res, "", err // no limit (limits reports false)
	}
	return res, scopes[at], err
}

// build returns the limiters of c. A store that cannot be built leaves its
// limit off, with an error in the log.
func buildLimitSet(c limitConfig, p *llmproxy.Proxy, log *slog.Logger) *limitSet {
	ls := &limitSet{cfg: c, endpoint: map[string]limiter.Store{}}
	if c.chat <= 0 && c.completions <= 0 && c.embeddings <= 0 && c.messages <= 0 && c.global <= 0 {
		return ls
	}
	if r := p.SharedRedis(c.redisURL); c.redisURL != "" && r != nil {
		ls.redis, ls.sharedRedis = r, true
	} else if c.redisURL != "" {
		r, err := ratelimit.NewRedis(ratelimit.RedisOptions{
			URL: c.redisURL, KeyPrefix: c.keyPrefix, FailClosed: c.failClosed, Logger: log,
		})
		if err != nil {
			log.Error("rate limits stay in memory", "error", err.Error())
		} else {
			ls.redis = r
		}
	}
	newStore := func(name string, tokens int, interval time.Duration) limiter.Store {
		if tokens <= 0 {
			return nil
		}
		var (
			st  limiter.Store
			err error
		)
		if ls.redis != nil {
			st, err = ls.redis.Store(name, uint64(tokens), interval)
		} else {
			st, err = ratelimit.NewMemory(uint64(tokens), interval)
		}
		if err != nil {
			log.Error("rate limit off: its store could not be built", "limit", name, "error", err.Error())
			return nil
		}
		return st
	}
	for name, rpm := range map[string]int{endpointChat: c.chat, endpointCompletions: c.completions, endpointEmbeddings: c.embeddings,
		endpointResponses: c.responses, endpointMessages: c.messages} {
		if st := newStore(name, rpm, time.Minute); st != nil {
			ls.endpoint[name] = st
		}
	}
	ls.global = newStore("global", c.global, c.window)
	return ls
}

// close stops the stores and closes the Redis connection.
func (ls *limitSet) close() error {
	var errs []error
	for _, st := range ls.endpoint {
		errs = append(errs, st.Close(context.Background()))
	}
	if ls.global != nil {
		errs = append(errs, ls.global.Close(context.Background()))
	}
	if ls.redis != nil && !ls.sharedRedis {
		errs = append(errs, ls.redis.Close())
	}
	return errors.Join(errs...)
}

// rateLimits holds a handler's limiters. They are built on first use from
// the proxy's configuration and rebuilt when a reload changes the values
// they depend on; the old ones are closed (a request still using them
// retries on the new ones). Safe for concurrent use.
type rateLimits struct {
	p   *llmproxy.Proxy
	log *slog.Logger
	set *metrics.Set

	cur atomic.Pointer[limitSet]

	mu          sync.Mutex // serialises builds and close
	closed      bool
	pastOutages atomic.Uint64 // of the Redis connections of replaced sets
}

func newRateLimits(p *llmproxy.Proxy, log *slog.Logger) *rateLimits {
	l := &rateLimits{p: p, log: log, set: p.Metrics()}
	// Registered once per metrics set: with two handlers on one proxy the
	// gauges follow the first. llmproxy_redis_up is 1 without Redis too:
	// nothing is down.
	l.set.GetOrCreateGauge("llmproxy_redis_up", func() float64 {
		if ls := l.cur.Load(); ls != nil && ls.redis != nil && !ls.redis.Healthy() {
			return 0
		}
		return 1
	})
	l.set.GetOrCreateGauge("llmproxy_redis_outages_total", func() float64 {
		n := l.pastOutages.Load()
		if ls := l.cur.Load(); ls != nil && ls.redis != nil {
			n += ls.redis.Outages()
		}
		return float64(n)
	})
	return l
}

// current returns the limiters for cfg, building them if cfg changed. It
// returns nil after close.
func (l *rateLimits) current(cfg llmproxy.Config) *limitSet {
	key := limitConfigOf(cfg)
	if ls := l.cur.Load(); ls != nil && ls.cfg == key {
		return ls
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	if ls := l.cur.Load(); ls != nil && ls.cfg == key {
		return ls
	}
	ls := buildLimitSet(key, l.p, l.log)
	if old := l.cur.Swap(ls); old != nil {
		if old.redis != nil && !old.sharedRedis {
			l.pastOutages.Add(old.redis.Outages())
		}
		_ = old.close()
	}
	return ls
}

// rejected returns the counter of requests refused by the limit of scope on
// endpoint.
func (l *rateLimits) rejected(endpoint, scope string) *metrics.Counter {
	return l.set.GetOrCreateCounter(`llmproxy_ratelimit_rejected_total{endpoint="` + endpoint + `",scope="` + scope + `"}`)
}

// redisHealth is the "redis" member of GET /health.
type redisHealth struct {
	Status     string `json:"status"` // "up" or "down"
	Outages    uint64 `json:"outages"`
	FailClosed bool   `json:"fail_closed"`
}

// health pings Redis, when the limits use it, and reports its state; nil
// when they do not.
func (l *rateLimits) health(ctx context.Context, cfg llmproxy.Config) *redisHealth {
	ls := l.current(cfg)
	if ls == nil || ls.redis == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_ = ls.redis.Ping(ctx)
	h := &redisHealth{Status: "up", Outages: l.pastOutages.Load() + ls.redis.Outages(), FailClosed: ls.redis.FailClosed()}
	if !ls.redis.Healthy() {
		h.Status = "down"
	}
	return h
}

// close stops the limiters; later requests are not limited.
func (l *rateLimits) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if ls := l.cur.Swap(nil); ls != nil {
		return ls.close()
	}
	return nil
}

// handler is the http.Handler that Handler returns. It implements
// io.Closer: Close releases the rate limiters (sweeper goroutines, the
// Redis connection).
type handler struct {
	http.Handler
	limits   *rateLimits
	inflight *inflightLimiter // nil: no limit
	draining *atomic.Bool     // set by Drain; read by GET /health
}

var _ io.Closer = (*handler)(nil)

// Close releases the handler's rate limiters: call it after the HTTP
// server has shut down. Requests served after Close are not rate limited.
// It also logs the requests shed since the last "requests shed" line.
// Close is idempotent.
func (h *handler) Close() error {
	if h.inflight != nil {
		h.inflight.report()
	}
	return h.limits.close()
}
