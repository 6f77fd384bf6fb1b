package llmproxy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// KeyConfig is a client key that can be handed to a team (Config.Keys):
// its name, how the proxy recognises it, and its policy. The policy
// applies to every endpoint and to library calls made with WithClient.
type KeyConfig struct {
	// Name identifies the key in logs, metrics, errors, GET /v1/key and
	// the spend counters; the key itself is never shown. Letters, digits,
	// ".", "_" and "-", at most 64; unique.
	Name string `mapstructure:"name"`
	// KeyEnv names the environment variables that may hold the key, as a
	// provider's api_key_env does: the first one set wins. A key whose
	// variables are all unset is disabled with a warning.
	KeyEnv EnvNames `mapstructure:"key_env"`
	// KeySHA256 is the hex SHA-256 of the key, so that the configuration
	// holds no secret (echo -n "$KEY" | sha256sum).
	KeySHA256 string `mapstructure:"key_sha256"`
	// Key is the key itself, for code; LoadConfig and New fill it from
	// KeyEnv. It is never printed.
	Key Secret `mapstructure:"-"`
	// Models lists the models the key may use: exact names or globs
	// (path.Match syntax), matched against the model the client asks for
	// (an alias, when the client names one). Empty: every model.
	Models []string `mapstructure:"models"`
	// RPM is the requests the key may make per minute, all endpoints
	// together; 0: no limit.
	RPM int `mapstructure:"rpm"`
	// TPM is the tokens (prompt + completion, as the upstreams report
	// them) the key may use per minute; 0: no limit. Tokens are counted
	// after each answer: a request is admitted while the key is under
	// the limit (see docs/keys.md for the bound).
	TPM int `mapstructure:"tpm"`
	// BudgetUSD is the most the key may spend per BudgetPeriod, in US
	// dollars, priced from the upstreams' usage (see ModelPrice); 0: no
	// budget (spend is still counted).
	BudgetUSD float64 `mapstructure:"budget_usd"`
	// BudgetPeriod is the period of the budget: "daily", "weekly"
	// (starting Monday) or "monthly", calendar periods in UTC, or a
	// duration such as "720h" (periods of that length counted from the
	// Unix epoch). Default "monthly".
	BudgetPeriod string `mapstructure:"budget_period"`
}

// AuthEnabled reports whether clients must present a key: api_keys or
// keys is set.
func (c *Config) AuthEnabled() bool { return len(c.APIKeys) > 0 || len(c.Keys) > 0 }

// The calendar budget periods.
const (
	BudgetDaily   = "daily"
	BudgetWeekly  = "weekly"
	BudgetMonthly = "monthly"
)

// hash returns the SHA-256 the key is recognised by: of Key when set,
// else KeySHA256 decoded; ok is false when there is neither.
func (k *KeyConfig) hash() (sum [32]byte, ok bool) {
	if k.Key.IsSet() {
		return sha256.Sum256([]byte(k.Key.Reveal())), true
	}
	if k.KeySHA256 == "" {
		return sum, false
	}
	b, err := hex.DecodeString(strings.TrimSpace(k.KeySHA256))
	if err != nil || len(b) != len(sum) {
		return sum, false
	}
	copy(sum[:], b)
	return sum, true
}

// withDefaults fills Key from KeyEnv (the process environment) when it is
// unset, and the budget period.
func (k KeyConfig) withDefaults() KeyConfig {
	if !k.Key.IsSet() {
		if _, v, ok := k.KeyEnv.Lookup(os.LookupEnv); ok {
			k.Key = Secret(v)
		}
	}
	if k.BudgetPeriod == "" {
		k.BudgetPeriod = BudgetMonthly
	}
	return k
}

// validKeyName reports whether s can name a key: it goes into metric
// labels and Redis keys.
func validKeyName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// parseBudgetPeriod checks a budget_period: a calendar name, or a
// duration (Go syntax, or a number of seconds) of at least a minute.
func parseBudgetPeriod(s string) (time.Duration, error) {
	switch s {
	case "", BudgetDaily, BudgetWeekly, BudgetMonthly:
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		secs, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return 0, fmt.Errorf("must be daily, weekly, monthly or a duration such as 720h, got %q", s)
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d < time.Minute {
		return 0, fmt.Errorf("must be at least a minute, got %q", s)
	}
	return d, nil
}

// validateKeys checks the keys, admin_keys and pricing of c, reporting
// each problem with bad.
func (c *Config) validateKeys(bad func(field, format string, args ...any)) {
	names := map[string]int{}
	hashes := map[[32]byte]int{}
	for i := range c.Keys {
		k := &c.Keys[i]
		field := func(name string) string { return fmt.Sprintf("keys[%d].%s", i, name) }
		switch {
		case k.Name == "":
			bad(field("name"), "is required")
		case !validKeyName(k.Name):
			bad(field("name"), "must be 1 to 64 letters, digits, '.', '_' or '-', got %q", k.Name)
		default:
			if j, dup := names[k.Name]; dup {
				bad(field("name"), "duplicate key name %q (also keys[%d])", k.Name, j)
			}
			names[k.Name] = i
		}
		sources := 0
		if len(k.KeyEnv) > 0 {
			sources++
		}
		if k.KeySHA256 != "" {
			sources++
			if b, err := hex.DecodeString(strings.TrimSpace(k.KeySHA256)); err != nil || len(b) != sha256.Size {
				bad(field("key_sha256"), "must be 64 hex digits (echo -n \"$KEY\" | sha256sum)")
			}
		}
		if sources == 0 && !k.Key.IsSet() {
			bad(field("key_env"), "is required: name the variable holding the key (key_env), or give its key_sha256")
		} else if sources > 1 {
			bad(field("key_sha256"), "give key_env or key_sha256, not both")
		}
		for j, name := range k.KeyEnv {
			if !validEnvName(name) {
				bad(fmt.Sprintf("keys[%d].key_env[%d]", i, j), "must be the name of an environment variable, got %q", name)
			}
		}
		if sum, ok := k.hash(); ok {
			if j, dup := hashes[sum]; dup {
				bad(field("key_sha256"), "is the same key as keys[%d]", j)
			}
			hashes[sum] = i
		}
		for j, m := range k.Models {
			if _, err := path.Match(m, ""); err != nil || m == "" {
				bad(fmt.Sprintf("keys[%d].models[%d]", i, j), "is not a valid model name or glob: %q", m)
			}
		}
		if k.RPM < 0 {
			bad(field("rpm"), "must be >= 0, got %d", k.RPM)
		}
		if k.TPM < 0 {
			bad(field("tpm"), "must be >= 0, got %d", k.TPM)
		}
		if k.BudgetUSD < 0 || k.BudgetUSD != k.BudgetUSD {
			bad(field("budget_usd"), "must be >= 0, got %v", k.BudgetUSD)
		}
		if _, err := parseBudgetPeriod(k.BudgetPeriod); err != nil {
			bad(field("budget_period"), "%v", err)
		}
	}
	for i, a := range c.AdminKeys {
		if _, ok := names[a]; !ok {
			bad(fmt.Sprintf("admin_keys[%d]", i), "must name a key of keys, got %q", a)
		}
	}
	for pat, pr := range c.Pricing {
		field := "pricing." + pat
		if _, err := path.Match(pat, ""); err != nil || pat == "" {
			bad(field, "is not a valid model name or glob")
		}
		for _, v := range []struct {
			name string
			v    *float64
		}{{"input", &pr.Input}, {"output", &pr.Output}, {"cached_input", pr.CachedInput},
			{"cache_write", pr.CacheWrite}, {"reasoning", pr.Reasoning}} {
			if v.v != nil && (*v.v < 0 || *v.v != *v.v) {
				bad(field+"."+v.name, "must be >= 0 (US dollars per million tokens), got %v", *v.v)
			}
		}
	}
}
