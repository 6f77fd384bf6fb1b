package ratelimit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy/internal/redistest"
)

func TestMemoryUsage(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryUsage()
	now := time.Unix(1_000_000, 0)
	m.nowFunc = func() time.Time { return now }
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			_, _, err := m.Charge(ctx, Charge{SpendKey: "a:spend", USD: 0.25, SpendTTL: time.Hour, TokensKey: "a:tpm", Tokens: 10, TokensTTL: time.Minute})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	spend, tokens, err := m.Read(ctx, "a:spend", "a:tpm")
	require.NoError(t, err)
	assert.InDelta(t, 25, spend, 1e-9, "no charge lost under concurrency")
	assert.EqualValues(t, 1000, tokens)

	now = now.Add(2 * time.Minute)
	spend, tokens, _ = m.Read(ctx, "a:spend", "a:tpm")
	assert.InDelta(t, 25, spend, 1e-9)
	assert.Zero(t, tokens, "the token counter expired with its minute")
	now = now.Add(time.Hour)
	spend, _, _ = m.Read(ctx, "a:spend", "")
	assert.Zero(t, spend, "the spend expired with its period")
}

func TestRedisUsage(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	r, _ := newTestRedis(t, srv, RedisOptions{URL: srv.PatientURL()})
	u := r.Usage()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, _, err := u.Charge(ctx, Charge{SpendKey: "{k}:spend", USD: 0.001, SpendTTL: time.Hour, TokensKey: "{k}:tpm", Tokens: 3, TokensTTL: 2 * time.Minute})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	spend, tokens, err := u.Read(ctx, "{k}:spend", "{k}:tpm")
	require.NoError(t, err)
	assert.InDelta(t, 0.05, spend, 1e-9, "INCRBYFLOAT loses no charge")
	assert.EqualValues(t, 150, tokens)
	ttl := r.client.PTTL(ctx, DefaultKeyPrefix+"usage:{k}:spend").Val()
	assert.Greater(t, ttl, 59*time.Minute, "the spend counter expires with its period")
	assert.LessOrEqual(t, ttl, time.Hour)
	ttl = r.client.PTTL(ctx, DefaultKeyPrefix+"usage:{k}:tpm").Val()
	assert.Greater(t, ttl, time.Minute)

	// Redis down, fail-open: the replica goes on from the values it saw.
	srv.Stop()
	spend, _, err = u.Read(ctx, "{k}:spend", "")
	require.NoError(t, err)
	assert.InDelta(t, 0.05, spend, 1e-9, "the fallback starts from the last value read")
	spend, _, err = u.Charge(ctx, Charge{SpendKey: "{k}:spend", USD: 0.01, SpendTTL: time.Hour})
	require.NoError(t, err)
	assert.InDelta(t, 0.06, spend, 1e-9)
}

func TestRedisUsageFailClosed(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	r, _ := newTestRedis(t, srv, RedisOptions{URL: srv.URL(), FailClosed: true})
	u := r.Usage()
	_, _, err := u.Charge(ctx, Charge{SpendKey: "{k}:spend", USD: 1, SpendTTL: time.Hour})
	require.NoError(t, err)
	srv.Stop()
	_, _, err = u.Read(ctx, "{k}:spend", "")
	assert.True(t, errors.Is(err, ErrUnavailable), "refused while Redis does not answer: %v", err)
}
