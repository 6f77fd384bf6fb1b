package llmproxy

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// Several keys per provider. A provider configured with several keys
// (ProviderConfig.APIKeys) is one upstream, with one breaker and one
// health, whose adapter is built once per key: the factory gets each key
// as cfg.APIKey, so adapters know nothing of keys. The upstream holds
// them in a keyring; each attempt takes the next key in turn
// (round-robin) among those not cooling down. A key answered 401, 403 or
// with an exhausted quota (KindAuth, KindQuotaExceeded) cools down for
// KeyCooldown: while another key can serve, that attempt counts neither
// against the provider's breaker nor its health, and the request goes at
// once to the next key (not a retry: no backoff, no retry budget). When
// every key is cooling down, the keys are taken in turn anyway and their
// failures count against the provider as any failure does, so that the
// breaker opens as it would with one bad key.

// keyring holds the keys of an upstream that has several. It is safe for
// concurrent use.
type keyring struct {
	provider string
	cooldown time.Duration
	slots    []*keySlot
	next     atomic.Uint64
	log      *slog.Logger
	rec      *recorder
}

// keySlot is one key of a keyring: the upstream as that key's adapter
// sees it, and when its cool-down ends.
type keySlot struct {
	id string
	// u is the keyring's upstream with p the adapter built with this
	// key: a copy sharing the configuration, breaker and health, given
	// to the attempts that use the key.
	u *upstream
	// until is when the key's cool-down ends, in Unix nanoseconds; 0
	// when it never cooled down.
	until atomic.Int64
}

// cooling reports whether the key is out of the rotation at now.
func (s *keySlot) cooling(now time.Time) bool { return s.until.Load() > now.UnixNano() }

// withKeys gives u one key slot per adapter of provs (built with the keys
// of ids, in order); u.p becomes the first one. Nothing changes with
// fewer than two.
func (u *upstream) withKeys(ids []string, provs []Provider, log *slog.Logger, rec *recorder) {
	if len(provs) < 2 {
		return
	}
	u.p = provs[0]
	r := &keyring{provider: u.cfg.Name, cooldown: u.cfg.KeyCooldown, log: log, rec: rec,
		slots: make([]*keySlot, len(provs))}
	for i, prov := range provs {
		m := *u // shares cfg, breaker and health; no monitor runs yet
		m.p, m.keys = prov, nil
		s := &keySlot{id: ids[i], u: &m}
		m.key = s
		r.slots[i] = s
	}
	u.keys = r
}

// pick returns the upstream the next attempt on u uses: u itself when it
// has one key, else the next key's in turn among those not cooling down
// (or among all when every one is).
func (u *upstream) pick() *upstream {
	r := u.keys
	if r == nil {
		return u
	}
	now := u.now()
	n := uint64(len(r.slots))
	for range n {
		if s := r.slots[(r.next.Add(1)-1)%n]; !s.cooling(now) {
			return s.u
		}
	}
	return r.slots[(r.next.Add(1)-1)%n].u
}

// anyKey returns the upstream for a call outside the router (health
// check, model list): u with one key, else the first key not cooling
// down, or the first key when every one is.
func (u *upstream) anyKey() *upstream {
	r := u.keys
	if r == nil {
		return u
	}
	now := u.now()
	for _, s := range r.slots {
		if !s.cooling(now) {
			return s.u
		}
	}
	return r.slots[0].u
}

// keyFault handles the failure e of an attempt made with k (from pick):
// a failure that says the key is bad (auth, quota) cools the key down. It
// reports whether another key can take the request now, in which case the
// failure is the key's, not the provider's.
func (u *upstream) keyFault(k *upstream, e *Error) bool {
	r, s := u.keys, k.key
	if r == nil || s == nil || (e.Kind != KindAuth && e.Kind != KindQuotaExceeded) {
		return false
	}
	now := u.now()
	s.until.Store(now.Add(r.cooldown).UnixNano())
	r.rec.keyCooldown(r.provider, s.id)
	other := false
	for _, o := range r.slots {
		if o != s && !o.cooling(now) {
			other = true
			break
		}
	}
	r.log.Warn("provider key cooling down", "provider", r.provider, "key", s.id,
		"kind", e.Kind.String(), "status", e.Status, "cooldown", r.cooldown.String(), "other_keys_available", other)
	return other
}

// healthCheck runs the provider's active check: with hc when it has one
// key; with several, on a key not cooling down (see anyKey), and again on
// the next one each time the check finds a key bad (auth, quota) and
// cools it down, so that one working key keeps the provider healthy.
func (u *upstream) healthCheck(ctx context.Context, hc HealthChecker) error {
	if u.keys == nil {
		return safeHealthCheck(ctx, hc)
	}
	for i := 0; ; i++ {
		k := u.anyKey()
		kc, ok := k.p.(HealthChecker)
		if !ok {
			return safeHealthCheck(ctx, hc)
		}
		err := safeHealthCheck(ctx, kc)
		if err == nil || i >= len(u.keys.slots) || ctx.Err() != nil || !u.keyFault(k, AsError(err)) {
			return err
		}
	}
}

// keyStatus returns the number of u's keys (1 without a keyring) and the
// ids of those cooling down at now.
func (u *upstream) keyStatus(now time.Time) (n int, cooling []string) {
	if u.keys == nil {
		return 1, nil
	}
	for _, s := range u.keys.slots {
		if s.cooling(now) {
			cooling = append(cooling, s.id)
		}
	}
	return len(u.keys.slots), cooling
}

// providers returns the adapters of u: one per key.
func (u *upstream) providers() []Provider {
	if u.keys == nil {
		return []Provider{u.p}
	}
	out := make([]Provider, len(u.keys.slots))
	for i, s := range u.keys.slots {
		out[i] = s.u.p
	}
	return out
}

// keyAttempt counts an attempt made with a key of a provider that has
// several in llmproxy_key_attempts_total, by provider, key id and
// outcome.
func (r *recorder) keyAttempt(k *upstream, err error) {
	if k.key == nil {
		return
	}
	r.counter("llmproxy_key_attempts_total", "provider", k.cfg.Name, "key", k.key.id, "outcome", outcomeLabel(err)).Inc()
}

// keyCooldown counts a key taken out of the rotation in
// llmproxy_key_cooldowns_total.
func (r *recorder) keyCooldown(provider, id string) {
	r.counter("llmproxy_key_cooldowns_total", "provider", provider, "key", id).Inc()
}

// lookupKeys returns a key for each variable of names that lookup finds
// set to a non-empty value, its ID the variable's name.
func lookupKeys(names []string, lookup func(string) (string, bool)) []ProviderKey {
	var out []ProviderKey
	for _, name := range names {
		if v, ok := lookup(name); ok && v != "" {
			out = append(out, ProviderKey{ID: name, Key: Secret(v)})
		}
	}
	return out
}

// keyIDs returns a copy of keys in which an empty ID is "key" and the
// key's index.
func keyIDs(keys []ProviderKey) []ProviderKey {
	out := make([]ProviderKey, len(keys))
	for i, k := range keys {
		if k.ID == "" {
			k.ID = "key" + strconv.Itoa(i)
		}
		out[i] = k
	}
	return out
}

// validateKeys reports the problems of p's several keys with bad. field
// names a key of p.
func (p *ProviderConfig) validateKeys(field func(string) string, bad func(field, format string, args ...any)) {
	if len(p.APIKeysEnv) > 0 && len(p.APIKeyEnv) > 0 {
		bad(field("api_keys_env"), "cannot be set together with api_key_env: api_key_env names the variables of one key (the first one set wins), api_keys_env one variable per key; keep one of them")
	}
	if len(p.APIKeys) > 0 && p.APIKey.IsSet() {
		bad(field("api_keys"), "cannot be set together with api_key (one key, or several)")
	}
	for j, name := range p.APIKeysEnv {
		f := fmt.Sprintf("%s[%d]", field("api_keys_env"), j)
		switch {
		case !validEnvName(name):
			bad(f, "must be the name of an environment variable (letters, digits and _), got %q", name)
		case slices.Index(p.APIKeysEnv, name) < j:
			bad(f, "%q is listed twice", name)
		}
	}
	seen := map[string]int{}
	for j, k := range p.APIKeys {
		f := fmt.Sprintf("%s[%d]", field("api_keys"), j)
		if !k.Key.IsSet() {
			bad(f, "has no key")
		}
		if k.ID == "" {
			continue
		}
		if i, dup := seen[k.ID]; dup {
			bad(f, "duplicate key id %q (also api_keys[%d])", k.ID, i)
		} else {
			seen[k.ID] = j
		}
	}
	if p.KeyCooldown < 0 {
		bad(field("key_cooldown"), "must be a positive number of seconds, got %v", p.KeyCooldown.Seconds())
	}
}
