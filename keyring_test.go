package llmproxy

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The "keyed-fake" provider type answers as the key it was built with
// says: each key's outcome is scripted by the test, which finds the
// shared script through the X-Keyed-Id custom header.

const keyedFakeType = "keyed-fake"

var (
	keyedOnce sync.Once
	keyeds    sync.Map // id -> *keyedScript
	keyedSeq  atomic.Int64
)

// keyedScript is the shared state of the adapters of one provider.
type keyedScript struct {
	check bool // the adapters have a health check

	mu     sync.Mutex
	errs   map[string]error // the outcome of each key's calls; nil: success
	calls  map[string]int   // calls by key, health checks excluded
	checks map[string]int   // health checks by key
	built  []string         // the key of each adapter built
	closed []string         // the key of each adapter closed
}

func (s *keyedScript) set(key string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs[key] = err
}

func (s *keyedScript) callsOf() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

func registerKeyedFake() {
	keyedOnce.Do(func() {
		RegisterProviderType(keyedFakeType, func(cfg ProviderConfig) (Provider, error) {
			v, _ := keyeds.Load(cfg.CustomHeaders["X-Keyed-Id"])
			s := v.(*keyedScript)
			s.mu.Lock()
			s.built = append(s.built, cfg.APIKey.Reveal())
			s.mu.Unlock()
			k := &keyedFake{s: s, name: cfg.Name, key: cfg.APIKey.Reveal()}
			if s.check {
				return keyedCheckedFake{k}, nil
			}
			return k, nil
		})
	})
}

// newKeyedFake configures a provider with one key per id (its value is
// the id with "sk-" before it) and returns its configuration and script.
func newKeyedFake(t testing.TB, name string, check bool, ids ...string) (ProviderConfig, *keyedScript) {
	t.Helper()
	registerKeyedFake()
	s := &keyedScript{check: check, errs: map[string]error{}, calls: map[string]int{}, checks: map[string]int{}}
	id := strconv.FormatInt(keyedSeq.Add(1), 10)
	keyeds.Store(id, s)
	t.Cleanup(func() { keyeds.Delete(id) })
	pc := ProviderConfig{Name: name, Type: keyedFakeType, CustomHeaders: map[string]string{"X-Keyed-Id": id}}
	for _, k := range ids {
		pc.APIKeys = append(pc.APIKeys, ProviderKey{ID: k, Key: Secret("sk-" + k)})
	}
	return pc, s
}

type keyedFake struct {
	s    *keyedScript
	name string
	key  string
}

func (k *keyedFake) Name() string { return k.name }

func (k *keyedFake) ChatCompletion(ctx context.Context, req *ChatRequest) (*ChatResponse, error) {
	k.s.mu.Lock()
	k.s.calls[k.key]++
	err := k.s.errs[k.key]
	k.s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &ChatResponse{ID: "chatcmpl-keyed", Object: "chat.completion", Model: req.Model,
		Choices: []Choice{{Message: Message{Role: "assistant", Content: Text("from " + k.key)}, FinishReason: "stop"}}}, nil
}

func (k *keyedFake) Close() error {
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	k.s.closed = append(k.s.closed, k.key)
	return nil
}

// keyedCheckedFake has a health check that fails as the key's calls do.
type keyedCheckedFake struct{ *keyedFake }

func (k keyedCheckedFake) HealthCheck(ctx context.Context) error {
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	k.s.checks[k.key]++
	return k.s.errs[k.key]
}

var (
	errBadKey = &Error{Kind: KindAuth, Status: 401, Type: "invalid_request_error", Code: "invalid_api_key",
		Message: "Incorrect API key provided."}
	errNoQuota = &Error{Kind: KindQuotaExceeded, Status: 429, Type: "insufficient_quota", Code: "insufficient_quota",
		Message: "You exceeded your current quota, please check your plan and billing details."}
)

// chatN sends n chat requests for model and fails the test on an error.
func chatN(t *testing.T, p *Proxy, model string, n int) {
	t.Helper()
	for i := range n {
		_, err := p.ChatCompletion(t.Context(), fakeChatReq(model))
		require.NoError(t, err, "request %d", i)
	}
}

// TestKeysTakeTurns checks that each key of a provider gets its share of
// the requests, and that one adapter was built per key.
func TestKeysTakeTurns(t *testing.T) {
	pc, s := newKeyedFake(t, "multi", false, "KEY_A", "KEY_B", "KEY_C")
	p := newFakeProxy(t, 0, pc)

	chatN(t, p, "m", 30)
	assert.Equal(t, map[string]int{"sk-KEY_A": 10, "sk-KEY_B": 10, "sk-KEY_C": 10}, s.callsOf())
	assert.ElementsMatch(t, []string{"sk-KEY_A", "sk-KEY_B", "sk-KEY_C"}, s.built)

	text := promText(p)
	for _, id := range []string{"KEY_A", "KEY_B", "KEY_C"} {
		assert.Contains(t, text, `llmproxy_key_attempts_total{provider="multi",key="`+id+`",outcome="ok"} 10`)
	}
	assert.NotContains(t, text, "sk-KEY", "metrics never show a key")
}

// TestBadKeyCoolsDown checks that a key answered 401 is taken out of the
// rotation while the others serve every request, without the provider's
// breaker or health counting it, and that it comes back after the
// cool-down.
func TestBadKeyCoolsDown(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *Error
	}{{"401", errBadKey}, {"insufficient_quota", errNoQuota}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pc, s := newKeyedFake(t, "multi", false, "KEY_A", "KEY_B", "KEY_C")
				pc.KeyCooldown = time.Minute
				p, err := New(Config{CircuitBreakerThreshold: 2, Providers: []ProviderConfig{pc}})
				require.NoError(t, err)
				defer p.Close()
				s.set("sk-KEY_B", tc.err)

				chatN(t, p, "m", 20)
				calls := s.callsOf()
				assert.Equal(t, 1, calls["sk-KEY_B"], "the bad key is tried once, then cools down")
				assert.Equal(t, 20, calls["sk-KEY_A"]+calls["sk-KEY_C"], "the other keys serve every request")
				assert.InDelta(t, 10, calls["sk-KEY_A"], 1, "and share them")

				h := healthOf(t, p, "multi")
				assert.Equal(t, BreakerClosed, h.Breaker, "a bad key does not open the breaker")
				assert.Equal(t, 0, h.ConsecutiveFailures)
				assert.Equal(t, HealthHealthy, h.Status)
				info := p.Providers()[0]
				assert.Equal(t, 3, info.Keys)
				assert.Equal(t, []string{"KEY_B"}, info.KeysCoolingDown)

				text := promText(p)
				assert.Contains(t, text, `llmproxy_key_cooldowns_total{provider="multi",key="KEY_B"} 1`)
				assert.Contains(t, text, `llmproxy_key_attempts_total{provider="multi",key="KEY_B",outcome="`+tc.err.Kind.String()+`"} 1`)

				// The key is fixed; it stays out until its cool-down ends.
				s.set("sk-KEY_B", nil)
				time.Sleep(time.Minute - time.Second)
				chatN(t, p, "m", 6)
				assert.Equal(t, 1, s.callsOf()["sk-KEY_B"], "still cooling down")
				time.Sleep(time.Second)
				assert.Empty(t, p.Providers()[0].KeysCoolingDown)
				chatN(t, p, "m", 6)
				assert.Equal(t, 3, s.callsOf()["sk-KEY_B"], "back in the rotation: its share of 6")
			})
		})
	}
}

// TestEveryKeyBadCountsAgainstTheProvider checks that when no other key
// can serve, a key's failure is the provider's: it is returned (or
// failed over) and counts in the breaker, once per request.
func TestEveryKeyBadCountsAgainstTheProvider(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pc, s := newKeyedFake(t, "multi", false, "KEY_A", "KEY_B")
		p, err := New(Config{CircuitBreakerThreshold: 2, Providers: []ProviderConfig{pc}})
		require.NoError(t, err)
		defer p.Close()
		s.set("sk-KEY_A", errBadKey)
		s.set("sk-KEY_B", errBadKey)

		_, err = p.ChatCompletion(t.Context(), fakeChatReq("m"))
		e := requireErrKind(t, err, KindAuth)
		assert.Equal(t, 2, e.Attempts, "the first key's failure sent the request to the second")
		assert.Equal(t, map[string]int{"sk-KEY_A": 1, "sk-KEY_B": 1}, s.callsOf())
		h := healthOf(t, p, "multi")
		assert.Equal(t, 1, h.ConsecutiveFailures, "one failure of the provider, the last key's")
		assert.Equal(t, BreakerClosed, h.Breaker)

		// Every key cools down now: they are taken in turn anyway, and
		// the breaker opens as it would with one bad key.
		_, err = p.ChatCompletion(t.Context(), fakeChatReq("m"))
		requireErrKind(t, err, KindAuth)
		assert.Equal(t, BreakerOpen, healthOf(t, p, "multi").Breaker)
		assert.Equal(t, 3, s.callsOf()["sk-KEY_A"]+s.callsOf()["sk-KEY_B"])
	})
}

// TestRateLimitedKeyDoesNotCoolDown checks that a rate-limited key (429 without
// an exhausted quota) does not cool down: waiting cures it, and the
// request fails over as any 429 does.
func TestRateLimitedKeyDoesNotCoolDown(t *testing.T) {
	pc, s := newKeyedFake(t, "multi", false, "KEY_A", "KEY_B")
	other, _ := newFake(t, "other")
	other.Priority = 2
	p := newFakeProxy(t, 0, pc, other)
	s.set("sk-KEY_A", &Error{Kind: KindRateLimited, Status: 429, Code: "rate_limit_exceeded", Message: "Rate limit reached"})

	resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
	require.NoError(t, err)
	assert.Equal(t, "from other", fakeAnswer(t, resp), "a 429 fails over to the next provider")
	assert.Empty(t, p.Providers()[0].KeysCoolingDown)
	chatN(t, p, "m", 1)
	assert.Equal(t, 1, s.callsOf()["sk-KEY_B"], "the rotation goes on")
}

// TestHealthCheckWithKeys checks that the active health check of a
// provider with several keys passes while one key works: a key the check
// finds bad cools down and the next one is checked.
func TestHealthCheckWithKeys(t *testing.T) {
	pc, s := newKeyedFake(t, "multi", true, "KEY_A", "KEY_B")
	p := newFakeProxy(t, 0, pc)
	s.set("sk-KEY_A", errBadKey)

	u := p.state.Load().byName["multi"]
	hc := u.p.(HealthChecker)
	require.NoError(t, u.healthCheck(t.Context(), hc))
	assert.Equal(t, map[string]int{"sk-KEY_A": 1, "sk-KEY_B": 1}, s.checks)
	assert.Equal(t, []string{"KEY_A"}, p.Providers()[0].KeysCoolingDown)

	require.NoError(t, u.healthCheck(t.Context(), hc))
	assert.Equal(t, 2, s.checks["sk-KEY_B"], "the next check uses a key not cooling down")

	s.set("sk-KEY_B", errBadKey)
	assert.Error(t, u.healthCheck(t.Context(), hc), "no key works")
}

// TestReloadKeepsKeys checks that a reload that leaves a provider as it
// is keeps its keys' state, and that one that changes its keys builds new
// adapters and closes the old ones.
func TestReloadKeepsKeys(t *testing.T) {
	pc, s := newKeyedFake(t, "multi", false, "KEY_A", "KEY_B")
	cfg := Config{Providers: []ProviderConfig{pc}}
	p, err := New(cfg)
	require.NoError(t, err)
	defer p.Close()
	s.set("sk-KEY_A", errBadKey)
	chatN(t, p, "m", 2)
	require.Equal(t, []string{"KEY_A"}, p.Providers()[0].KeysCoolingDown)

	cfg.ModelAliases = map[string][]string{"public": {"m"}}
	require.NoError(t, p.Reload(cfg))
	assert.Equal(t, []string{"KEY_A"}, p.Providers()[0].KeysCoolingDown, "the provider is kept, cool-downs included")
	assert.Len(t, s.built, 2)
	resp, err := p.ChatCompletion(t.Context(), fakeChatReq("public"))
	require.NoError(t, err)
	assert.Equal(t, "from sk-KEY_B", fakeAnswer(t, resp))
	assert.Equal(t, "m", resp.ProxyInfo.Model)

	cfg.Providers[0].APIKeys = append(cfg.Providers[0].APIKeys, ProviderKey{ID: "KEY_C", Key: "sk-KEY_C"})
	require.NoError(t, p.Reload(cfg))
	assert.Len(t, s.built, 5, "new adapters for the changed provider")
	assert.ElementsMatch(t, []string{"sk-KEY_A", "sk-KEY_B"}, s.closed, "the old adapters are closed")
	assert.Equal(t, 3, p.Providers()[0].Keys)
	assert.Empty(t, p.Providers()[0].KeysCoolingDown, "a new provider starts afresh")
	s.set("sk-KEY_A", nil)
	chatN(t, p, "m", 3)
	assert.Equal(t, 1, s.callsOf()["sk-KEY_C"])

	require.NoError(t, p.Close())
	assert.Len(t, s.closed, 5, "Close closes every key's adapter")
}
