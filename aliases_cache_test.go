package llmproxy

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTargetCache checks that a state answers the targets of a model from
// its cache as it finds them, and that clients cannot grow the cache past
// its bounds: maxTargetCache models, names of at most maxCachedModelName
// bytes.
func TestTargetCache(t *testing.T) {
	all, _ := newFake(t, "all")
	gpt, _ := newFake(t, "gpt")
	gpt.Models = []string{"gpt-*"}
	all.Priority = 2
	p := newFakeProxy(t, time.Minute, all, gpt)
	st := p.state.Load()

	for _, model := range []string{"gpt-4o", "other"} {
		want := st.findTargets(model, nil)
		assert.Equal(t, want, st.targets(model, nil), "found")
		assert.Equal(t, want, st.targets(model, nil), "cached")
		cached, ok := st.targetCache.m.Load(model)
		require.True(t, ok, model)
		assert.Equal(t, want, cached)
	}
	require.Len(t, st.targets("gpt-4o", nil), 1)
	ups := st.targets("gpt-4o", nil)[0].ups
	require.Len(t, ups, 2)
	assert.Equal(t, "gpt", ups[0].cfg.Name, "priority order")

	long := strings.Repeat("x", maxCachedModelName+1)
	assert.Len(t, st.targets(long, nil), 1)
	_, ok := st.targetCache.m.Load(long)
	assert.False(t, ok, "a long name is not kept")

	for i := range maxTargetCache + 10 {
		assert.Len(t, st.targets("m-"+strconv.Itoa(i), nil), 1)
	}
	assert.EqualValues(t, maxTargetCache, st.targetCache.n.Load())
	n := 0
	st.targetCache.m.Range(func(_, _ any) bool { n++; return true })
	assert.Equal(t, maxTargetCache, n, "the cache holds no more than its bound")
}
