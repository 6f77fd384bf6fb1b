package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// TestShippedConfigLoads checks that the command links every provider type
// the repository's config.yaml uses (through providers/all).
func TestShippedConfigLoads(t *testing.T) {
	_, err := llmproxy.LoadConfigEnv("../../config.yaml", nil)
	require.NoError(t, err)
}
