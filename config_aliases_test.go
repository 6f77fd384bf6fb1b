package llmproxy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoadConfigModelMapsKeepTheirNames checks that the names of
// model_aliases and model_map reach the configuration as written: case
// and dots kept, which viper's keys would lose.
func TestLoadConfigModelMapsKeepTheirNames(t *testing.T) {
	registerConfigTestType()
	yaml := `
Model_Aliases:
  Smart-4.1: [gpt-4.1, Meta-Llama-3.1-70B]
providers:
  - name: openai
    type: config-test
    models: [gpt-4.1]
  - name: together
    type: config-test
    models: []
    Model_Map:
      Meta-Llama-3.1-70B: meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo
`
	cfg, err := LoadConfigEnv(writeConfig(t, yaml, ""), nil)
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{"Smart-4.1": {"gpt-4.1", "Meta-Llama-3.1-70B"}}, cfg.ModelAliases)
	assert.Nil(t, cfg.Providers[0].ModelMap)
	assert.Equal(t, map[string]string{"Meta-Llama-3.1-70B": "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo"}, cfg.Providers[1].ModelMap)
}

// TestLoadConfigAPIKeysEnv checks that api_keys_env gives one key per
// variable set, from the environment or .env, named by the variable, and
// key_cooldown its default.
func TestLoadConfigAPIKeysEnv(t *testing.T) {
	registerConfigTestType()
	yaml := `
providers:
  - name: p
    type: config-test
    api_keys_env: [KEY_A, KEY_B, KEY_C]
  - name: q
    type: config-test
    api_keys_env: [KEY_D]
    key_cooldown: 2.5
`
	cfg, err := LoadConfigEnv(writeConfig(t, yaml, "KEY_C=sk-c\n"), envFunc(map[string]string{"KEY_A": "sk-a", "KEY_B": ""}))
	require.NoError(t, err)
	assert.Equal(t, []ProviderKey{{ID: "KEY_A", Key: "sk-a"}, {ID: "KEY_C", Key: "sk-c"}}, cfg.Providers[0].APIKeys)
	assert.Equal(t, DefaultKeyCooldown, cfg.Providers[0].KeyCooldown)
	assert.Empty(t, cfg.Providers[1].APIKeys)
	assert.Equal(t, 2500*time.Millisecond, cfg.Providers[1].KeyCooldown)
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		assert.NotContains(t, fmt.Sprintf(verb, cfg), "sk-", "a key never prints")
	}
}

// TestLoadConfigModelMapErrors checks the errors of a model map of the
// wrong shape, named by their field.
func TestLoadConfigModelMapErrors(t *testing.T) {
	registerConfigTestType()
	yaml := `
model_aliases:
  smart: gpt-4o
providers:
  - name: p
    type: config-test
    model_map: [gpt-4o]
`
	_, err := LoadConfigEnv(writeConfig(t, yaml, ""), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "model_aliases[smart]: must be a list")
	assert.Contains(t, err.Error(), "providers[0].model_map: must be a mapping")
}

// TestValidateAliasesAndKeys checks each configuration mistake of model
// aliases, model maps and several keys: the error names the field and
// says what is wrong.
func TestValidateAliasesAndKeys(t *testing.T) {
	registerConfigTestType()
	provider := func(name string, models ...string) ProviderConfig {
		return ProviderConfig{Name: name, Type: configTestType, Models: models}
	}
	tests := []struct {
		name    string
		cfg     Config
		field   string
		problem string // a part of the problem
	}{
		{
			name: "empty list", field: "model_aliases[smart]", problem: "must list at least one model",
			cfg: Config{ModelAliases: map[string][]string{"smart": {}}, Providers: []ProviderConfig{provider("p")}},
		},
		{
			name: "glob alias", field: "model_aliases[gpt-*]", problem: "not empty or a glob",
			cfg: Config{ModelAliases: map[string][]string{"gpt-*": {"a"}}, Providers: []ProviderConfig{provider("p")}},
		},
		{
			name: "empty target", field: "model_aliases[smart][1]", problem: "not empty or a glob",
			cfg: Config{ModelAliases: map[string][]string{"smart": {"a", ""}}, Providers: []ProviderConfig{provider("p")}},
		},
		{
			name: "target listed twice", field: "model_aliases[smart][2]", problem: `"a" is listed twice`,
			cfg: Config{ModelAliases: map[string][]string{"smart": {"a", "b", "a"}}, Providers: []ProviderConfig{provider("p")}},
		},
		{
			name: "loop", field: "model_aliases[one]", problem: "aliases loop: one → two → three → one",
			cfg: Config{ModelAliases: map[string][]string{"one": {"two"}, "two": {"x", "three"}, "three": {"one"}},
				Providers: []ProviderConfig{provider("p")}},
		},
		{
			name: "unknown target", field: "model_aliases[smart][1]", problem: `no provider serves the model "c"`,
			cfg: Config{ModelAliases: map[string][]string{"smart": {"a", "c"}},
				Providers: []ProviderConfig{provider("p", "a", "b")}},
		},
		{
			name: "alias equal to a concrete name", field: "model_aliases[a]", problem: "is also a model providers[0] (p) serves by that name",
			cfg: Config{ModelAliases: map[string][]string{"a": {"b"}}, Providers: []ProviderConfig{provider("p", "a", "b")}},
		},
		{
			name: "alias equal to a mapped name", field: "model_aliases[gpt-4o]", problem: "is also a model providers[1] (q) serves",
			cfg: Config{ModelAliases: map[string][]string{"gpt-4o": {"b"}}, Providers: []ProviderConfig{provider("p", "b"),
				{Name: "q", Type: configTestType, Models: []string{"x"}, ModelMap: map[string]string{"gpt-4o": "dep"}}}},
		},
		{
			name: "model_map glob", field: "providers[0].model_map[gpt-*]", problem: "exact model name",
			cfg: Config{Providers: []ProviderConfig{{Name: "p", Type: configTestType, ModelMap: map[string]string{"gpt-*": "x"}}}},
		},
		{
			name: "model_map empty id", field: "providers[0].model_map[gpt-4o]", problem: "not empty",
			cfg: Config{Providers: []ProviderConfig{{Name: "p", Type: configTestType, ModelMap: map[string]string{"gpt-4o": ""}}}},
		},
		{
			name: "api_key_env and api_keys_env", field: "providers[0].api_keys_env", problem: "cannot be set together with api_key_env",
			cfg: Config{Providers: []ProviderConfig{{Name: "p", Type: configTestType, APIKeyEnv: EnvNames{"A"}, APIKeysEnv: []string{"B", "C"}}}},
		},
		{
			name: "api_keys_env twice", field: "providers[0].api_keys_env[1]", problem: `"B" is listed twice`,
			cfg: Config{Providers: []ProviderConfig{{Name: "p", Type: configTestType, APIKeysEnv: []string{"B", "B"}}}},
		},
		{
			name: "api_keys_env bad name", field: "providers[0].api_keys_env[0]", problem: "name of an environment variable",
			cfg: Config{Providers: []ProviderConfig{{Name: "p", Type: configTestType, APIKeysEnv: []string{"A=B"}}}},
		},
		{
			name: "api_key and api_keys", field: "providers[0].api_keys", problem: "cannot be set together with api_key",
			cfg: Config{Providers: []ProviderConfig{{Name: "p", Type: configTestType, APIKey: "sk-1",
				APIKeys: []ProviderKey{{ID: "a", Key: "sk-2"}}}}},
		},
		{
			name: "duplicate key id", field: "providers[0].api_keys[1]", problem: `duplicate key id "a"`,
			cfg: Config{Providers: []ProviderConfig{{Name: "p", Type: configTestType,
				APIKeys: []ProviderKey{{ID: "a", Key: "sk-1"}, {ID: "a", Key: "sk-2"}}}}},
		},
		{
			name: "key without a key", field: "providers[0].api_keys[0]", problem: "has no key",
			cfg: Config{Providers: []ProviderConfig{{Name: "p", Type: configTestType, APIKeys: []ProviderKey{{ID: "a"}}}}},
		},
		{
			name: "negative key_cooldown", field: "providers[0].key_cooldown", problem: "must be a positive number",
			cfg: Config{Providers: []ProviderConfig{{Name: "p", Type: configTestType, KeyCooldown: -time.Second}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			require.Error(t, err)
			var found []string
			for _, e := range configLeafErrors(err) {
				var ce *ConfigError
				require.True(t, errors.As(e, &ce))
				found = append(found, ce.Error())
				if ce.Field == tt.field && strings.Contains(ce.Problem, tt.problem) {
					return
				}
			}
			t.Errorf("no error %s: …%s…; got %q", tt.field, tt.problem, found)
		})
	}
}

// TestValidateAliasesAccepts checks the alias configurations that are
// valid: an alias listing its own name (the concrete model first, then a
// fallback), nested aliases, targets served by globs and model maps.
func TestValidateAliasesAccepts(t *testing.T) {
	registerConfigTestType()
	cfg := Config{
		ModelAliases: map[string][]string{
			"gpt-4o": {"gpt-4o", "claude-sonnet"},
			"fast":   {"gpt-4o-mini", "haiku"},
			"auto":   {"gpt-4o", "fast", "haiku"},
		},
		Providers: []ProviderConfig{
			{Name: "openai", Type: configTestType, Models: []string{"gpt-4o", "gpt-4o-*"}},
			{Name: "anthropic", Type: configTestType, Models: []string{"claude-*"},
				ModelMap: map[string]string{"haiku": "claude-3-5-haiku-latest"}},
		},
	}
	require.NoError(t, cfg.Validate())
	// gpt-4o in auto is the alias gpt-4o, expanded; haiku comes once.
	assert.Equal(t, map[string][]string{
		"gpt-4o": {"gpt-4o", "claude-sonnet"},
		"fast":   {"gpt-4o-mini", "haiku"},
		"auto":   {"gpt-4o", "claude-sonnet", "gpt-4o-mini", "haiku"},
	}, resolveAliases(cfg.ModelAliases))
}

// TestServesWithModelMap checks which names a provider with a model_map
// serves: the map's names, and others only as its models say.
func TestServesWithModelMap(t *testing.T) {
	mapOnly := ProviderConfig{ModelMap: map[string]string{"gpt-4o": "my-deployment"}}
	assert.True(t, mapOnly.Serves("gpt-4o"))
	assert.False(t, mapOnly.Serves("my-deployment"), "no models: the map's names only")
	assert.False(t, mapOnly.Serves("gpt-4o-mini"))

	withAll := ProviderConfig{Models: []string{"*"}, ModelMap: mapOnly.ModelMap}
	assert.True(t, withAll.Serves("gpt-4o"))
	assert.True(t, withAll.Serves("anything"))
	assert.Equal(t, "my-deployment", withAll.upstreamModel("gpt-4o"))
	assert.Equal(t, "anything", withAll.upstreamModel("anything"))

	plain := ProviderConfig{}
	assert.True(t, plain.Serves("anything"), "no models and no map: every model")
}
