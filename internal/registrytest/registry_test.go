package registrytest_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// builtins maps each built-in provider type to the package that registers it.
var builtins = map[string]string{
	"openai":     "github.com/llmproxy/llmproxy/providers/openai",
	"perplexity": "github.com/llmproxy/llmproxy/providers/openai",
	"grok":       "github.com/llmproxy/llmproxy/providers/openai",
	"blackbox":   "github.com/llmproxy/llmproxy/providers/openai",
	"openrouter": "github.com/llmproxy/llmproxy/providers/openai",
	"mock":       "github.com/llmproxy/llmproxy/providers/mock",
	"anthropic":  "github.com/llmproxy/llmproxy/providers/anthropic",
	"cohere":     "github.com/llmproxy/llmproxy/providers/cohere",
	// Gemini (issue 17).
	"gemini": "github.com/llmproxy/llmproxy/providers/gemini",
}

func TestNoAdapterLinked(t *testing.T) {
	// The other tests here rely on it; if an import slipped in, say so
	// rather than fail them with a confusing message.
	require.Empty(t, llmproxy.ProviderTypes(), "this test binary must link no provider adapter")
}

func TestNewBuiltinTypeNotLinked(t *testing.T) {
	for typ, pkg := range builtins {
		t.Run(typ, func(t *testing.T) {
			_, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{{Name: "up", Type: typ}}})
			require.Error(t, err)
			var ce *llmproxy.ConfigError
			require.True(t, errors.As(err, &ce), "want a *ConfigError, got %T: %v", err, err)
			assert.Contains(t, err.Error(), `provider type "`+typ+`" is built in but not linked into this program`)
			assert.Contains(t, err.Error(), `add import _ "`+pkg+`"`)
		})
	}
}

func TestNewUnknownTypeListsBuiltins(t *testing.T) {
	_, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{{Name: "up", Type: "no-such-type"}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown provider type "no-such-type"`)
	assert.NotContains(t, err.Error(), "not linked")
	for typ := range builtins {
		assert.Contains(t, err.Error(), typ, "the known types name every built-in one")
	}
}
