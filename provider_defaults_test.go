package llmproxy

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Provider types with defaults, registered for these tests only.
const (
	keyedTestType = "defaults-test-keyed"
	localTestType = "defaults-test-local"
)

var registerDefaultsTestTypes = sync.OnceFunc(func() {
	for _, typ := range []string{keyedTestType, localTestType} {
		RegisterProviderType(typ, func(cfg ProviderConfig) (Provider, error) {
			return nil, errors.New("defaults-test providers are not meant to be built")
		})
	}
	RegisterProviderTypeDefaults(keyedTestType, ProviderTypeDefaults{APIKeyEnv: EnvNames{"VENDOR_KEY", "PROXY_API_VENDOR_KEY"}})
	RegisterProviderTypeDefaults(localTestType, ProviderTypeDefaults{RequiresBaseURL: true})
})

func TestProviderTypeDefaults(t *testing.T) {
	registerDefaultsTestTypes()

	t.Run("the type's key variables when the file names none", func(t *testing.T) {
		cfg, err := LoadConfigEnv(writeConfig(t, "providers:\n  - name: v\n    type: "+keyedTestType+"\n", ""),
			envFunc(map[string]string{"PROXY_API_VENDOR_KEY": "sk-second-name"}))
		require.NoError(t, err)
		assert.Equal(t, EnvNames{"VENDOR_KEY", "PROXY_API_VENDOR_KEY"}, cfg.Providers[0].APIKeyEnv)
		assert.Equal(t, "sk-second-name", cfg.Providers[0].APIKey.Reveal())
	})

	t.Run("the file's api_key_env wins", func(t *testing.T) {
		cfg, err := LoadConfigEnv(writeConfig(t, "providers:\n  - name: v\n    type: "+keyedTestType+"\n    api_key_env: MY_KEY\n", ""),
			envFunc(map[string]string{"VENDOR_KEY": "sk-vendor", "MY_KEY": "sk-mine"}))
		require.NoError(t, err)
		assert.Equal(t, EnvNames{"MY_KEY"}, cfg.Providers[0].APIKeyEnv)
		assert.Equal(t, "sk-mine", cfg.Providers[0].APIKey.Reveal())
	})

	t.Run("in code: withDefaults reads the process environment", func(t *testing.T) {
		t.Setenv("VENDOR_KEY", "sk-from-process")
		pc := ProviderConfig{Name: "v", Type: keyedTestType}.withDefaults()
		assert.Equal(t, "sk-from-process", pc.APIKey.Reveal())
	})

	t.Run("a type without a key default needs no key", func(t *testing.T) {
		cfg, err := LoadConfigEnv(writeConfig(t, "providers:\n  - name: l\n    type: "+localTestType+"\n    base_url: http://127.0.0.1:1234/v1\n", ""), nil)
		require.NoError(t, err)
		assert.Empty(t, cfg.Providers[0].APIKeyEnv)
	})

	t.Run("required base_url", func(t *testing.T) {
		_, err := LoadConfigEnv(writeConfig(t, "providers:\n  - name: l\n    type: "+localTestType+"\n", ""), nil)
		var ce *ConfigError
		require.True(t, errors.As(err, &ce), "%v", err)
		assert.Equal(t, "providers[0].base_url", ce.Field)
		assert.Contains(t, ce.Problem, "is required for type")

		c := Config{Providers: []ProviderConfig{{Name: "l", Type: localTestType}}}
		assert.ErrorContains(t, c.Validate(), "providers[0].base_url: is required")
	})
}
