package llmproxy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadConfigKeys(t *testing.T) {
	sum := sha256.Sum256([]byte("sk-team-b"))
	path := writeConfig(t, `
keys:
  - name: team-a
    key_env: TEAM_A_KEY
    models: ["gpt-4o*", "claude-*"]
    rpm: 600
    tpm: 200000
    budget_usd: 25.5
    budget_period: monthly
  - name: team-b
    key_sha256: `+hex.EncodeToString(sum[:])+`
    budget_usd: 3
    budget_period: 720h
admin_keys: [team-b]
pricing:
  my-model:
    input: 1
    output: 2
    cached_input: 0
providers:
  - name: m
    type: fake
`, "TEAM_A_KEY=sk-team-a\n")
	registerFake()
	cfg, err := LoadConfigEnv(path, nil)
	require.NoError(t, err)
	require.Len(t, cfg.Keys, 2)
	a := cfg.Keys[0]
	assert.Equal(t, "team-a", a.Name)
	assert.True(t, a.Key.Equal("sk-team-a"), "the key comes from .env")
	assert.Equal(t, []string{"gpt-4o*", "claude-*"}, a.Models)
	assert.Equal(t, 600, a.RPM)
	assert.Equal(t, 200000, a.TPM)
	assert.InDelta(t, 25.5, a.BudgetUSD, 1e-12)
	assert.Equal(t, "720h", cfg.Keys[1].BudgetPeriod)
	assert.Equal(t, []string{"team-b"}, cfg.AdminKeys)
	pr := cfg.Pricing["my-model"]
	assert.InDelta(t, 2.0, pr.Output, 1e-12)
	require.NotNil(t, pr.CachedInput, "an explicit 0 is kept apart from absent")
	assert.Zero(t, *pr.CachedInput)
	assert.Nil(t, pr.Reasoning)
	assert.NotContains(t, fmt.Sprintf("%+v", cfg), "sk-team-a", "the key is a Secret")

	pc, _ := newFake(t, "m")
	cfg.Providers = []ProviderConfig{pc}
	p, err := New(cfg)
	require.NoError(t, err)
	defer p.Close()
	for key, want := range map[string]string{"sk-team-a": "team-a", "sk-team-b": "team-b"} {
		name, ok := p.AuthenticateKey(key)
		assert.True(t, ok, want)
		assert.Equal(t, want, name)
	}
	assert.True(t, p.IsAdminKey("team-b"))
	assert.False(t, p.IsAdminKey("team-a"))
}

func TestValidateKeys(t *testing.T) {
	neg := -1.0
	cfg := Config{
		Keys: []KeyConfig{
			{Name: "", Key: "a"},
			{Name: "bad name", Key: "b"},
			{Name: "dup", Key: "c"},
			{Name: "dup", Key: "c"},
			{Name: "nokey"},
			{Name: "both", KeyEnv: EnvNames{"X"}, KeySHA256: strings.Repeat("a", 64)},
			{Name: "hash", KeySHA256: "xyz"},
			{Name: "limits", Key: "d", RPM: -1, TPM: -1, BudgetUSD: -1, BudgetPeriod: "fortnightly", Models: []string{"["}},
			{Name: "short", Key: "e", BudgetPeriod: "30s"},
		},
		AdminKeys: []string{"ghost"},
		Pricing:   map[string]ModelPrice{"m": {Input: -1, Reasoning: &neg}},
	}
	err := cfg.Validate()
	require.Error(t, err)
	for _, want := range []string{
		"keys[0].name: is required",
		`keys[1].name: must be 1 to 64 letters`,
		`keys[3].name: duplicate key name "dup" (also keys[2])`,
		"keys[3].key_sha256: is the same key as keys[2]",
		"keys[4].key_env: is required",
		"keys[5].key_sha256: give key_env or key_sha256, not both",
		"keys[6].key_sha256: must be 64 hex digits",
		"keys[7].rpm: must be >= 0",
		"keys[7].tpm: must be >= 0",
		"keys[7].budget_usd: must be >= 0",
		"keys[7].budget_period: must be daily, weekly, monthly or a duration",
		"keys[7].models[0]: is not a valid model name or glob",
		"keys[8].budget_period: must be at least a minute",
		`admin_keys[0]: must name a key of keys, got "ghost"`,
		"pricing.m.input: must be >= 0",
		"pricing.m.reasoning: must be >= 0",
	} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), `"c"`, "no key value in the errors")
}

func TestLoadConfigKeysUnknownField(t *testing.T) {
	path := writeConfig(t, "keys:\n  - name: a\n    key_env: A\n    budget: 3\npricing:\n  m:\n    inptu: 1\n", "")
	_, err := LoadConfigEnv(path, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `keys[0].budget: unknown key`)
	assert.Contains(t, err.Error(), `pricing.m.inptu: unknown key (did you mean "input"?)`)
}
