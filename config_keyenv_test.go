package llmproxy

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoadConfigAPIKeyEnvForms checks that api_key_env takes one variable
// name or a list of them, and that the first one set, in the environment
// or in .env, gives the key.
func TestLoadConfigAPIKeyEnvForms(t *testing.T) {
	registerConfigTestType()
	tests := []struct {
		name      string
		keyEnv    string // the value of api_key_env in the file
		env       map[string]string
		dotenv    string
		wantNames EnvNames
		wantKey   string // "" means no key
	}{
		{
			name: "one name", keyEnv: "VENDOR_KEY",
			env:       map[string]string{"VENDOR_KEY": "sk-vendor"},
			wantNames: EnvNames{"VENDOR_KEY"}, wantKey: "sk-vendor",
		},
		{
			name: "list, both set: the first wins", keyEnv: "[VENDOR_KEY, PROXY_API_X_API_KEY]",
			env:       map[string]string{"VENDOR_KEY": "sk-vendor", "PROXY_API_X_API_KEY": "sk-proxy"},
			wantNames: EnvNames{"VENDOR_KEY", "PROXY_API_X_API_KEY"}, wantKey: "sk-vendor",
		},
		{
			name: "list, only the second set", keyEnv: "[VENDOR_KEY, PROXY_API_X_API_KEY]",
			env:       map[string]string{"PROXY_API_X_API_KEY": "sk-proxy"},
			wantNames: EnvNames{"VENDOR_KEY", "PROXY_API_X_API_KEY"}, wantKey: "sk-proxy",
		},
		{
			name: "list, the first empty counts as unset", keyEnv: "[VENDOR_KEY, PROXY_API_X_API_KEY]",
			env:       map[string]string{"VENDOR_KEY": "", "PROXY_API_X_API_KEY": "sk-proxy"},
			wantNames: EnvNames{"VENDOR_KEY", "PROXY_API_X_API_KEY"}, wantKey: "sk-proxy",
		},
		{
			name: "list in block style, the second from .env", keyEnv: "\n      - VENDOR_KEY\n      - PROXY_API_X_API_KEY",
			dotenv:    "PROXY_API_X_API_KEY=sk-dotenv\n",
			wantNames: EnvNames{"VENDOR_KEY", "PROXY_API_X_API_KEY"}, wantKey: "sk-dotenv",
		},
		{
			name: "the order of the list beats the source", keyEnv: "[VENDOR_KEY, PROXY_API_X_API_KEY]",
			env:       map[string]string{"PROXY_API_X_API_KEY": "sk-proxy"},
			dotenv:    "VENDOR_KEY=sk-dotenv\n",
			wantNames: EnvNames{"VENDOR_KEY", "PROXY_API_X_API_KEY"}, wantKey: "sk-dotenv",
		},
		{
			name: "list, none set", keyEnv: "[VENDOR_KEY, PROXY_API_X_API_KEY]",
			wantNames: EnvNames{"VENDOR_KEY", "PROXY_API_X_API_KEY"},
		},
		{
			name: "empty string: no key needed", keyEnv: `""`,
		},
		{
			name: "empty list: no key needed", keyEnv: `[]`, wantNames: EnvNames{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := "providers:\n  - name: p\n    type: config-test\n    api_key_env: " + tt.keyEnv + "\n"
			cfg, err := LoadConfigEnv(writeConfig(t, yaml, tt.dotenv), envFunc(tt.env))
			require.NoError(t, err)
			require.Len(t, cfg.Providers, 1)
			assert.Equal(t, tt.wantNames, cfg.Providers[0].APIKeyEnv)
			assert.Equal(t, tt.wantKey, cfg.Providers[0].APIKey.Reveal())
		})
	}
}

// TestLoadConfigAPIKeyEnvErrors checks that a bad api_key_env is reported
// naming the field, and the element of a list.
func TestLoadConfigAPIKeyEnvErrors(t *testing.T) {
	registerConfigTestType()
	for _, tt := range []struct{ keyEnv, line string }{
		{"5", "providers[0].api_key_env: must be a variable name or a list of them, got 5"},
		{"{a: b}", "providers[0].api_key_env: must be a variable name or a list of them, got a mapping"},
		{"[VENDOR_KEY, 5]", `providers[0].api_key_env[1]: must be a string, got 5 (quote it if it is meant as text)`},
		{`[VENDOR_KEY, ""]`, `providers[0].api_key_env[1]: must be the name of an environment variable (letters, digits and _), got ""`},
		{`"VENDOR KEY"`, `providers[0].api_key_env: must be the name of an environment variable (letters, digits and _), got "VENDOR KEY"`},
		{`[A=B]`, `providers[0].api_key_env: must be the name of an environment variable (letters, digits and _), got "A=B"`},
	} {
		t.Run(tt.keyEnv, func(t *testing.T) {
			yaml := "providers:\n  - name: p\n    type: config-test\n    api_key_env: " + tt.keyEnv + "\n"
			path := writeConfig(t, yaml, "")
			_, err := LoadConfigEnv(path, nil)
			require.Error(t, err)
			assert.Equal(t, path+": "+tt.line, err.Error())
			ces := configErrorsOf(err)
			require.Len(t, ces, 1, "%v", err)
			assert.True(t, strings.HasPrefix(ces[0].Field, "providers[0].api_key_env"), ces[0].Field)
		})
	}
}

// TestNewAPIKeyEnvFromProcess checks a ProviderConfig built in code: New
// reads the key from the first of its variables set in the process
// environment, and disables the provider when none is.
func TestNewAPIKeyEnvFromProcess(t *testing.T) {
	const unset, set = "LLMPROXY_TEST_KEYENV_UNSET", "LLMPROXY_TEST_KEYENV_SET"
	t.Setenv(unset, "")
	require.NoError(t, os.Unsetenv(unset)) // t.Setenv restores it afterwards
	t.Setenv(set, "sk-second")

	second, fSecond := newFake(t, "second")
	second.APIKeyEnv = EnvNames{unset, set}
	none, fNone := newFake(t, "none")
	none.APIKeyEnv = EnvNames{unset}
	none.Priority = 2
	p := newFakeProxy(t, 0, second, none)

	resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
	require.NoError(t, err)
	assert.Equal(t, "second", resp.ProxyInfo.Provider)
	assert.Equal(t, 1, fSecond.Calls())
	assert.Zero(t, fNone.Calls())
	byName := map[string]ProviderInfo{}
	for _, pi := range p.Providers() {
		byName[pi.Name] = pi
	}
	assert.True(t, byName["second"].APIKeySet)
	assert.False(t, byName["none"].Active)
	assert.Equal(t, "disabled: API key not set", byName["none"].Status)
}

// TestEnvNamesLookup checks the order and the empty-means-unset rule.
func TestEnvNamesLookup(t *testing.T) {
	env := envFunc(map[string]string{"A": "", "B": "b", "C": "c"})
	name, v, ok := EnvNames{"A", "B", "C"}.Lookup(env)
	assert.True(t, ok)
	assert.Equal(t, "B", name)
	assert.Equal(t, "b", v)
	_, _, ok = EnvNames{"A", "Z"}.Lookup(env)
	assert.False(t, ok)
	_, _, ok = EnvNames(nil).Lookup(env)
	assert.False(t, ok)
	assert.Equal(t, "A or B", EnvNames{"A", "B"}.String())
}

// TestNewWarnsOnceForProvidersWithoutKey checks that the providers
// disabled for want of a key are listed in one warning at New and at each
// Reload, not one each.
func TestNewWarnsOnceForProvidersWithoutKey(t *testing.T) {
	const unset = "LLMPROXY_TEST_KEYWARN_UNSET"
	t.Setenv(unset, "")
	require.NoError(t, os.Unsetenv(unset)) // t.Setenv restores it afterwards
	var providers []ProviderConfig
	for _, name := range []string{"a", "b", "c"} {
		pc, _ := newFake(t, name)
		pc.APIKeyEnv = EnvNames{unset, unset + "_" + strings.ToUpper(name)}
		providers = append(providers, pc)
	}
	keyless, _ := newFake(t, "keyless")
	providers = append(providers, keyless)

	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	p, err := New(Config{Providers: providers}, WithLogger(logger))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	warnings := func() []map[string]any {
		var out []map[string]any
		for line := range strings.SplitSeq(logs.String(), "\n") {
			var rec map[string]any
			if line == "" || json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != msgProvidersWithoutKey {
				continue
			}
			out = append(out, rec)
		}
		return out
	}
	recs := warnings()
	require.Len(t, recs, 1, "one line at New:\n%s", logs.String())
	assert.Equal(t, "WARN", recs[0]["level"])
	assert.Equal(t, []any{"a", "b", "c"}, recs[0]["providers"])
	assert.Equal(t, []any{
		unset + " or " + unset + "_A", unset + " or " + unset + "_B", unset + " or " + unset + "_C",
	}, recs[0]["api_key_env"])

	require.NoError(t, p.Reload(Config{Providers: providers}))
	assert.Len(t, warnings(), 2, "one more line at Reload")

	for i := range 3 {
		providers[i].APIKey = "sk-set-in-code"
	}
	require.NoError(t, p.Reload(Config{Providers: providers}))
	assert.Len(t, warnings(), 2, "no line when every provider has its key")
	assert.NotContains(t, logs.String(), "sk-set-in-code")
}
