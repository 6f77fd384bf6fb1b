package all_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/all"
)

// shippedConfig is the repository's config.yaml.
const shippedConfig = "../../config.yaml"

// TestShippedConfigTypesRegistered checks that with this package imported
// the shipped config.yaml loads and builds a proxy: every type it uses is
// registered. The adapter list in its comments, which names every built-in
// type, is registered too.
func TestShippedConfigTypesRegistered(t *testing.T) {
	cfg, err := llmproxy.LoadConfigEnv(shippedConfig, nil)
	require.NoError(t, err)
	registered := llmproxy.ProviderTypes()
	require.NotEmpty(t, cfg.Providers)
	for _, p := range cfg.Providers {
		assert.Contains(t, registered, p.Type, "providers %q", p.Name)
	}

	text, err := os.ReadFile(shippedConfig)
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^\s+type:\s*\w+\s*#\s*adapter:\s*(.+)$`).FindSubmatch(text)
	require.NotNil(t, m, "the adapter list in the comment of the first type")
	var listed []string
	for typ := range strings.SplitSeq(string(m[1]), ",") {
		listed = append(listed, strings.TrimSpace(typ))
	}
	assert.Subset(t, registered, listed)
	assert.Subset(t, listed, []string{"openai", "anthropic", "cohere", "bedrock", "perplexity", "grok", "openrouter", "blackbox", "mock"})

	// The proxy builds: every provider's factory is there. Without keys
	// only the mock is active.
	p, err := llmproxy.New(cfg)
	require.NoError(t, err)
	defer p.Close()
	assert.Len(t, p.Providers(), len(cfg.Providers))
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
