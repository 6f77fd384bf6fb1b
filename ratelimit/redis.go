package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/sethvargo/go-limiter"
)

// DefaultKeyPrefix starts every Redis key of the limiters and breakers when
// RedisOptions.KeyPrefix is empty.
const DefaultKeyPrefix = "llmproxy:"

// DefaultProbeInterval is how long after a Redis failure the next call tries
// Redis again, when RedisOptions.ProbeInterval is 0.
const DefaultProbeInterval = time.Second

// Timeouts of the Redis client when the URL sets none: a limiter must
// answer fast, so a dead server is noticed in well under a second and the
// request goes on with the local fallback.
const (
	defaultDialTimeout  = 500 * time.Millisecond
	defaultReadTimeout  = 500 * time.Millisecond
	defaultWriteTimeout = 500 * time.Millisecond
)

// RedisOptions configures NewRedis. Only URL is required; the zero value of
// every other field means its default.
type RedisOptions struct {
	// URL is the Redis server: redis://[[user]:password@]host:port[/db],
	// rediss:// for TLS, or unix:///path/to/socket. go-redis's query
	// options (dial_timeout, read_timeout, pool_size, max_retries, ...)
	// apply; without them the client dials and reads with a 500 ms
	// timeout and does not retry, so that a failure falls back quickly.
	// Required.
	URL string
	// KeyPrefix starts every key written: the limits live under
	// <prefix>rl:, the breakers under <prefix>cb:. Empty means
	// DefaultKeyPrefix. Deployments sharing a Redis server keep apart by
	// their prefixes; the replicas of one deployment must use the same.
	KeyPrefix string
	// FailClosed makes the limiters refuse requests (with an error
	// wrapping ErrUnavailable) while Redis does not answer. By default
	// they fail open: each replica falls back to in-memory limits of the
	// same size, so the whole deployment allows up to replicas × limit
	// until Redis is back.
	FailClosed bool
	// Logger gets one warning when Redis stops answering and one info
	// line when it is back; nil discards them.
	Logger *slog.Logger
	// ProbeInterval is how long after a failure the next call tries Redis
	// again; until then the calls use the fallback without waiting for
	// Redis. 0 means DefaultProbeInterval.
	ProbeInterval time.Duration
}

// Redis is a connection to the Redis server that holds the shared limits
// and breaker states of a deployment, with its health: it notices an outage
// on the first failed call, logs it once, serves from the fallback while it
// lasts, lets one call try Redis again each ProbeInterval, and goes back to
// Redis by itself on the first success. No goroutine runs for this.
//
// Build one with NewRedis and share it between the stores and breakers of a
// process; Close it when they are done. The zero value is not usable. It is
// safe for concurrent use.
type Redis struct {
	client     *redis.Client
	prefix     string
	failClosed bool
	health     *health
	closed     atomic.Bool

	breakerOnce sync.Once
	breakers    *BreakerStore
}

// NewRedis returns a connection to the server at opts.URL. It does not dial:
// a server that is down at start is an outage like any other, noticed on
// first use. The error is a URL that cannot be parsed; it never contains
// the URL, which may hold a password.
func NewRedis(opts RedisOptions) (*Redis, error) {
	ro, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, errors.New("ratelimit: redis_url is not a valid Redis URL (redis://host:port/db, rediss://..., unix://...)")
	}
	if ro.DialTimeout == 0 {
		ro.DialTimeout = defaultDialTimeout
	}
	if ro.ReadTimeout == 0 {
		ro.ReadTimeout = defaultReadTimeout
	}
	if ro.WriteTimeout == 0 {
		ro.WriteTimeout = defaultWriteTimeout
	}
	if ro.MaxRetries == 0 {
		ro.MaxRetries = -1 // the fallback is the retry
	}
	if ro.DialerRetries == 0 {
		ro.DialerRetries = 1
	}
	ro.DisableIdentity = true // no CLIENT SETINFO, which servers before 7.2 refuse
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	prefix := opts.KeyPrefix
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	interval := opts.ProbeInterval
	if interval <= 0 {
		interval = DefaultProbeInterval
	}
	return &Redis{
		client:     redis.NewClient(ro),
		prefix:     prefix,
		failClosed: opts.FailClosed,
		health:     &health{log: log, interval: interval, failClosed: opts.FailClosed},
	}, nil
}

// Healthy reports whether Redis is in use: true until a call fails (and
// before the first call), false from then until a probe or Ping succeeds.
// While it is false the limits are per replica (fail-open) or refused
// (fail-closed), and the breakers are per replica.
func (r *Redis) Healthy() bool { return !r.health.down.Load() }

// Outages returns the number of outages seen since NewRedis: each time
// Redis stopped answering after it had answered (or before its first
// answer) counts once, however many calls failed during it.
func (r *Redis) Outages() uint64 { return r.health.outages.Load() }

// FailClosed reports whether the limits refuse requests during an outage.
func (r *Redis) FailClosed() bool { return r.failClosed }

// Ping asks Redis for an answer and records the outcome in the health
// state, as any call does. Use it at start to log early whether Redis is
// reachable; it is not needed for recovery.
func (r *Redis) Ping(ctx context.Context) error {
	if r.closed.Load() {
		return limiter.ErrStopped
	}
	t := r.health.now()
	err := r.client.Ping(ctx).Err()
	r.health.report(ctx, err, t)
	return err
}

// Close closes the connection. Stores and breakers built on it stop
// working: the stores return limiter.ErrStopped. Close is idempotent.
func (r *Redis) Close() error {
	if !r.closed.CompareAndSwap(false, true) {
		return nil
	}
	return r.client.Close()
}

// Store returns a store that enforces tokens per interval for every key in
// Redis (see RedisStore) under the keys <prefix>rl:<name>:<key>, and falls
// back to a memory store (NewMemory) of the same limit while Redis does not
// answer (or refuses with an error wrapping ErrUnavailable when
// FailClosed). name
// keeps apart stores of different limits on one server ("chat",
// "global"); stores of the same name on every replica share their counts,
// so they must have the same limit.
//
// The store is safe for concurrent use. Close it to stop its fallback's
// sweeper goroutine; closing it leaves the connection open.
func (r *Redis) Store(name string, tokens uint64, interval time.Duration) (limiter.Store, error) {
	fallback, err := NewMemory(tokens, interval)
	if err != nil {
		return nil, err
	}
	return &failoverStore{
		primary:    NewRedisStore(r.client, r.prefix+"rl:"+name+":", tokens, interval),
		fallback:   fallback,
		health:     r.health,
		failClosed: r.failClosed,
		tokens:     max(tokens, 1),
	}, nil
}

// failoverStore uses primary while the health state lets it, and fallback
// (or a refusal, failClosed) when it does not or primary fails.
type failoverStore struct {
	primary    limiter.Store
	fallback   limiter.Store
	health     *health
	failClosed bool
	tokens     uint64
}

func (s *failoverStore) Take(ctx context.Context, key string) (tokens, remaining, reset uint64, ok bool, err error) {
	if use, t := s.health.attempt(); use {
		tokens, remaining, reset, ok, err = s.primary.Take(ctx, key)
		if !s.health.report(ctx, err, t) {
			return tokens, remaining, reset, ok, err
		}
	}
	if s.failClosed {
		return s.tokens, 0, uint64(time.Now().Add(s.health.interval).UnixNano()), false, s.health.unavailable()
	}
	return s.fallback.Take(ctx, key)
}

func (s *failoverStore) Get(ctx context.Context, key string) (tokens, remaining uint64, err error) {
	if use, t := s.health.attempt(); use {
		tokens, remaining, err = s.primary.Get(ctx, key)
		if !s.health.report(ctx, err, t) {
			return tokens, remaining, err
		}
	}
	if s.failClosed {
		return s.tokens, 0, s.health.unavailable()
	}
	return s.fallback.Get(ctx, key)
}

// Set sets the limit of key in both Redis and the fallback.
func (s *failoverStore) Set(ctx context.Context, key string, tokens uint64, interval time.Duration) error {
	_ = s.fallback.Set(ctx, key, tokens, interval)
	return s.primary.Set(ctx, key, tokens, interval)
}

// Burst gives tokens back to key in Redis, or in the fallback while Redis
// does not answer (where Take took them, unless the state changed in
// between). During an outage of a fail-closed store nothing was taken and
// nothing is given back.
func (s *failoverStore) Burst(ctx context.Context, key string, tokens uint64) error {
	if use, t := s.health.attempt(); use {
		err := s.primary.Burst(ctx, key, tokens)
		if !s.health.report(ctx, err, t) {
			return err
		}
	}
	if s.failClosed {
		return s.health.unavailable()
	}
	return s.fallback.Burst(ctx, key, tokens)
}

func (s *failoverStore) Close(ctx context.Context) error {
	return errors.Join(s.primary.Close(ctx), s.fallback.Close(ctx))
}

// health is the outage state of one Redis connection, shared by its stores
// and breakers. While up, calls go to Redis without taking a lock. The
// first failure marks it down and logs; while down, one call per interval
// (the probe) tries Redis again, and its success marks it up and logs.
//
// Each change of state starts a new period (gen). A call reports its
// outcome with the ticket it got when it started, so that the late failure
// of a call that started before a recovery (a timeout, a probe overtaken by
// a Ping) does not start a new outage.
type health struct {
	log        *slog.Logger
	interval   time.Duration
	failClosed bool

	down    atomic.Bool
	gen     atomic.Uint64 // changed with down, under mu
	outages atomic.Uint64

	mu        sync.Mutex
	since     time.Time // start of the current outage
	nextProbe time.Time
	probing   bool
	cause     error
}

// ticket is what a call to Redis got from attempt: the period it started
// in, and whether it is the probe of an outage.
type ticket struct {
	gen   uint64
	probe bool
}

// attempt reports whether the caller should use Redis, with the ticket to
// report its outcome with. A probe must be reported, even when its outcome
// does not count, so that another probe can start.
func (h *health) attempt() (use bool, t ticket) {
	g := h.gen.Load()
	if !h.down.Load() {
		return true, ticket{gen: g}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down.Load() {
		return true, ticket{gen: h.gen.Load()}
	}
	if h.probing || time.Now().Before(h.nextProbe) {
		return false, ticket{}
	}
	h.probing = true
	return true, ticket{gen: h.gen.Load(), probe: true}
}

// now returns a ticket for a call that goes to Redis whatever the state
// (Ping): a probe while down.
func (h *health) now() ticket {
	return ticket{gen: h.gen.Load(), probe: h.down.Load()}
}

// report records the outcome err of a Redis call made with ticket t, and
// reports whether it was a Redis failure (the caller then falls back).
// The caller's own cancellation and a closed store are no failures of
// Redis; neither are they successes.
func (h *health) report(ctx context.Context, err error, t ticket) (failed bool) {
	switch {
	case err == nil:
		h.success(t)
		return false
	case errors.Is(err, limiter.ErrStopped) || errors.Is(err, redis.ErrClosed) || ctx.Err() != nil:
		if t.probe {
			h.mu.Lock()
			h.probing = false
			h.mu.Unlock()
		}
		return false
	}
	h.failure(err, t)
	return true
}

func (h *health) success(t ticket) {
	// While down, only a probe's success ends the outage: another call
	// may have been answered just before Redis went away.
	if !h.down.Load() || !t.probe {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.probing = false
	if !h.down.Load() || h.gen.Load() != t.gen {
		return
	}
	h.down.Store(false)
	h.gen.Add(1)
	h.cause = nil
	h.log.Info("redis answers again: rate limits and circuit breakers are shared across replicas again",
		"outage_seconds", time.Since(h.since).Round(time.Millisecond).Seconds())
}

func (h *health) failure(err error, t ticket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t.probe {
		h.probing = false
	}
	if h.gen.Load() != t.gen {
		return // started before the last change of state: stale news
	}
	now := time.Now()
	h.nextProbe = now.Add(h.interval)
	h.cause = err
	if h.down.Load() {
		return
	}
	h.down.Store(true)
	h.gen.Add(1)
	h.since = now
	h.outages.Add(1)
	if h.failClosed {
		h.log.Warn("redis does not answer: rate-limited requests are refused (redis_fail_closed) and circuit breakers are per replica until it answers again",
			"error", err.Error(), "retry_every_seconds", h.interval.Seconds())
	} else {
		h.log.Warn("redis does not answer: rate limits and circuit breakers fall back to this replica's memory until it answers again",
			"error", err.Error(), "retry_every_seconds", h.interval.Seconds())
	}
}

// unavailable is the error of a fail-closed call during an outage.
func (h *health) unavailable() error {
	h.mu.Lock()
	cause := h.cause
	h.mu.Unlock()
	if cause == nil {
		return ErrUnavailable
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, cause)
}

// SetRedisLogger sends go-redis's own messages (one per failed dial, among
// others) to l at debug level instead of standard error, so that the one
// warning per outage of Redis stays the only one at warning level. go-redis
// has one logger per process: this sets it for every client of the
// process, so only a main package should call it. nil l discards them.
func SetRedisLogger(l *slog.Logger) {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	redis.SetLogger(redisLogger{l})
}

// redisLogger adapts a slog.Logger to go-redis's logging interface.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
