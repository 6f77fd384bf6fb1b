package ratelimit

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// UsageStore keeps the counters of the client keys' budgets and token
// limits: a spend in US dollars and a token count, each under a key that
// names its period (the router builds them: "<name>:spend:<period>",
// "<name>:tpm:<minute>"), each expiring after its period. Charges are
// atomic increments, so that concurrent requests, on one replica or on
// many sharing Redis, never lose one.
//
// Build one with NewMemoryUsage or Redis.Usage. It is safe for concurrent
// use.
type UsageStore interface {
	// Read returns the spend counted at spendKey and the tokens counted
	// at tokensKey; an empty key reads as 0.
	Read(ctx context.Context, spendKey, tokensKey string) (spend float64, tokens int64, err error)
	// Charge adds usd to spendKey and tokens to tokensKey (an empty key
	// is skipped), each created with the given time to live when it does
	// not exist, and returns their new values.
	Charge(ctx context.Context, c Charge) (spend float64, tokens int64, err error)
}

// Charge is one request's addition to a key's counters.
type Charge struct {
	SpendKey  string
	USD       float64
	SpendTTL  time.Duration
	TokensKey string
	Tokens    int64
	TokensTTL time.Duration
}

// MemoryUsage is a UsageStore in this process's memory. Expired counters
// are dropped as new ones are written. Build one with NewMemoryUsage.
type MemoryUsage struct {
	mu      sync.Mutex
	vals    map[string]usageVal
	writes  int
	nowFunc func() time.Time
}

type usageVal struct {
	v       float64
	expires time.Time
}

// NewMemoryUsage returns an empty store in memory.
func NewMemoryUsage() *MemoryUsage {
	return &MemoryUsage{vals: map[string]usageVal{}, nowFunc: time.Now}
}

func (m *MemoryUsage) get(key string, now time.Time) float64 {
	if key == "" {
		return 0
	}
	v, ok := m.vals[key]
	if !ok || !now.Before(v.expires) {
		return 0
	}
	return v.v
}

// Read implements UsageStore.
func (m *MemoryUsage) Read(_ context.Context, spendKey, tokensKey string) (float64, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.nowFunc()
	return m.get(spendKey, now), int64(m.get(tokensKey, now)), nil
}

// add adds d to key (created with ttl) and returns the new value.
func (m *MemoryUsage) add(key string, d float64, ttl time.Duration, now time.Time) float64 {
	v, ok := m.vals[key]
	if !ok || !now.Before(v.expires) {
		v = usageVal{expires: now.Add(ttl)}
	}
	v.v += d
	m.vals[key] = v
	return v.v
}

// Charge implements UsageStore.
func (m *MemoryUsage) Charge(_ context.Context, c Charge) (float64, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.nowFunc()
	m.sweep(now)
	var spend float64
	var tokens int64
	if c.SpendKey != "" {
		spend = m.add(c.SpendKey, c.USD, c.SpendTTL, now)
	}
	if c.TokensKey != "" {
		tokens = int64(m.add(c.TokensKey, float64(c.Tokens), c.TokensTTL, now))
	}
	return spend, tokens, nil
}

// set records the values Redis holds, so that the fallback of a Redis
// store starts from them during an outage.
func (m *MemoryUsage) set(key string, v float64, ttl time.Duration) {
	if key == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.nowFunc()
	cur, ok := m.vals[key]
	if !ok || !now.Before(cur.expires) {
		cur.expires = now.Add(ttl)
	}
	cur.v = v
	m.vals[key] = cur
}

// sweep drops the expired counters every 1,000 writes.
func (m *MemoryUsage) sweep(now time.Time) {
	m.writes++
	if m.writes < 1000 {
		return
	}
	m.writes = 0
	for k, v := range m.vals {
		if !now.Before(v.expires) {
			delete(m.vals, k)
		}
	}
}

// chargeScript adds to the spend (INCRBYFLOAT) and token (INCRBY) counters
// in one step, giving each its expiry when it has none (it was just
// created). KEYS: spend, tokens (either may be absent: ARGV[5] says which).
// ARGV: usd, spend ttl (ms), tokens, tokens ttl (ms), mask (1: spend, 2:
// tokens). It returns the two new values as strings.
var chargeScript = redis.NewScript(`
local mask = tonumber(ARGV[5])
local spend, tokens = "0", "0"
local i = 1
if mask % 2 == 1 then
  spend = redis.call("INCRBYFLOAT", KEYS[i], ARGV[1])
  if redis.call("PTTL", KEYS[i]) < 0 then redis.call("PEXPIRE", KEYS[i], ARGV[2]) end
  i = i + 1
end
if mask >= 2 then
  tokens = tostring(redis.call("INCRBY", KEYS[i], ARGV[3]))
  if redis.call("PTTL", KEYS[i]) < 0 then redis.call("PEXPIRE", KEYS[i], ARGV[4]) end
end
return {spend, tokens}`)

// redisUsage is the UsageStore part that talks to Redis, under
// <prefix>usage:.
type redisUsage struct {
	client *redis.Client
	prefix string
}

func (u *redisUsage) Read(ctx context.Context, spendKey, tokensKey string) (float64, int64, error) {
	var keys []string
	if spendKey != "" {
		keys = append(keys, u.prefix+spendKey)
	}
	if tokensKey != "" {
		keys = append(keys, u.prefix+tokensKey)
	}
	if len(keys) == 0 {
		return 0, 0, nil
	}
	vals, err := u.client.MGet(ctx, keys...).Result()
	if err != nil {
		return 0, 0, err
	}
	num := func(v any) float64 {
		s, _ := v.(string)
		f, _ := strconv.ParseFloat(s, 64)
		return f
	}
	var spend float64
	var tokens int64
	i := 0
	if spendKey != "" {
		spend = num(vals[i])
		i++
	}
	if tokensKey != "" {
		tokens = int64(num(vals[i]))
	}
	return spend, tokens, nil
}

func (u *redisUsage) Charge(ctx context.Context, c Charge) (float64, int64, error) {
	var keys []string
	mask := 0
	if c.SpendKey != "" {
		keys = append(keys, u.prefix+c.SpendKey)
		mask |= 1
	}
	if c.TokensKey != "" {
		keys = append(keys, u.prefix+c.TokensKey)
		mask |= 2
	}
	if mask == 0 {
		return 0, 0, nil
	}
	res, err := chargeScript.Run(ctx, u.client, keys,
		strconv.FormatFloat(c.USD, 'f', -1, 64), max(c.SpendTTL.Milliseconds(), 1),
		c.Tokens, max(c.TokensTTL.Milliseconds(), 1), mask).StringSlice()
	if err != nil {
		return 0, 0, err
	}
	spend, _ := strconv.ParseFloat(res[0], 64)
	tokens, _ := strconv.ParseInt(res[1], 10, 64)
	return spend, tokens, nil
}

// Usage returns the UsageStore of r: counters in Redis under
// <prefix>usage:, shared by every replica, with r's health. While Redis
// does not answer it fails open (the default) to a store in this
// process's memory that starts from the last values this replica read or
// wrote in Redis, or, FailClosed, returns errors wrapping ErrUnavailable.
// Charges made during an outage stay in the replica's memory: they are not
// written to Redis when it is back.
func (r *Redis) Usage() UsageStore {
	return &failoverUsage{
		primary:  &redisUsage{client: r.client, prefix: r.prefix + "usage:"},
		fallback: NewMemoryUsage(),
		r:        r,
	}
}

// failoverUsage is the UsageStore of a Redis connection (see Redis.Usage).
type failoverUsage struct {
	primary  *redisUsage
	fallback *MemoryUsage
	r        *Redis
}

// mirrorTTL bounds how long a value read from Redis is kept for an outage.
const mirrorTTL = time.Hour

func (s *failoverUsage) Read(ctx context.Context, spendKey, tokensKey string) (float64, int64, error) {
	if use, t := s.r.health.attempt(); use {
		spend, tokens, err := s.primary.Read(ctx, spendKey, tokensKey)
		if !s.r.health.report(ctx, err, t) {
			if err == nil {
				s.fallback.set(spendKey, spend, mirrorTTL)
				s.fallback.set(tokensKey, float64(tokens), time.Minute)
			}
			return spend, tokens, err
		}
	}
	if s.r.failClosed {
		return 0, 0, s.r.health.unavailable()
	}
	return s.fallback.Read(ctx, spendKey, tokensKey)
}

func (s *failoverUsage) Charge(ctx context.Context, c Charge) (float64, int64, error) {
	if use, t := s.r.health.attempt(); use {
		spend, tokens, err := s.primary.Charge(ctx, c)
		if !s.r.health.report(ctx, err, t) {
			if err == nil {
				s.fallback.set(c.SpendKey, spend, min(c.SpendTTL, mirrorTTL))
				s.fallback.set(c.TokensKey, float64(tokens), c.TokensTTL)
			}
			return spend, tokens, err
		}
	}
	if s.r.failClosed {
		return 0, 0, s.r.health.unavailable()
	}
	return s.fallback.Charge(ctx, c)
}
