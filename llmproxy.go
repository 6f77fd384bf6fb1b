package llmproxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmproxy/llmproxy/ratelimit"
)

// Proxy routes OpenAI-shaped requests to the configured providers with
// retries and failover. Build one with New; it is safe for concurrent use by
// any number of goroutines. Close it when done.
type Proxy struct {
	state   atomic.Pointer[state]
	logger  *slog.Logger
	metrics *metrics.Set
	now     func() time.Time

	// newBreaker builds the circuit breaker of a provider;
	// customBreakers is set when WithCircuitBreakers chose it.
	newBreaker     func(gobreaker.Settings) CircuitBreaker
	customBreakers bool

	// rec records the metrics in metrics.
	rec *recorder

	// limits applies the providers' outbound rate limits; redis, when
	// set, holds them and the breakers' state for all replicas.
	limits   *ratelimit.ProviderLimits
	redis    *ratelimit.Redis
	redisURL Secret

	// Client keys (keys.go): the counters of their budgets and tokens,
	// their rpm limits, their metrics, and the pricing hook.
	usage     ratelimit.UsageStore
	keyLimits *ratelimit.ProviderLimits
	keyRec    keyRecorder
	costFunc  CostFunc

	// monitorCtx is the parent of every health monitor's context; Close
	// cancels it (stopMonitors) and waits for monitors.
	monitorCtx   context.Context
	stopMonitors context.CancelFunc
	monitors     sync.WaitGroup

	// tracer traces the upstream attempts (WithTracerProvider); nil: off.
	tracer trace.Tracer

	reloadMu  sync.Mutex // serialises Reload and Close
	closed    bool
	closeOnce sync.Once
}

// state is one immutable generation of configuration and providers. A
// request loads the current state once and uses it to the end.
type state struct {
	cfg       Config
	upstreams []*upstream // enabled providers, ordered by priority then config order
	byName    map[string]*upstream
	// budget is nil when no provider retries: no retry would spend it,
	// so requests are not counted for it either.
	budget *retryBudget
	// aliases maps each model alias to its concrete models, nested
	// aliases expanded (see resolveAliases).
	aliases map[string][]string
	keys    *keyTable
	prices  *priceTable
	// targetCache holds the targets of the models requested (aliases.go).
	targetCache targetCache
}

// Option configures a Proxy beyond its Config.
type Option func(*Proxy)

// WithLogger sets the logger for the proxy's own messages (provider
// failures, disabled providers). The default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(p *Proxy) {
		if l != nil {
			p.logger = l
		}
	}
}

// WithMetrics makes the proxy record its metrics in set instead of a set of
// its own. Use it to put the proxy's metrics on a registry of yours.
func WithMetrics(set *metrics.Set) Option {
	return func(p *Proxy) {
		if set != nil {
			p.metrics = set
		}
	}
}

// New validates cfg, builds its providers and returns a ready Proxy.
// Providers whose key variable is unset are disabled with a warning;
// invalid configuration is an error naming each bad field. New starts a
// health monitor for each provider that has a free health check
// (HealthChecker); Close stops them.
//
// With cfg.RedisURL set, the providers' outbound rate limits and circuit
// breakers live in Redis, shared by every replica (unless WithCircuitBreakers
// says otherwise); Redis is reached lazily, so New does not fail when it is
// down.
func New(cfg Config, opts ...Option) (*Proxy, error) {
	p := &Proxy{
		logger:     slog.New(slog.DiscardHandler),
		metrics:    metrics.NewSet(),
		now:        time.Now,
		newBreaker: inMemoryBreaker,
	}
	for _, o := range opts {
		o(p)
	}
	p.rec = newRecorder(p.metrics)
	if cfg.RedisURL.IsSet() {
		r, err := ratelimit.NewRedis(ratelimit.RedisOptions{
			URL: cfg.RedisURL.Reveal(), KeyPrefix: cfg.RedisKeyPrefix,
			FailClosed: cfg.RedisFailClosed, Logger: p.logger,
		})
		if err != nil {
			return nil, &ConfigError{Field: "redis_url", Problem: err.Error()}
		}
		p.redis, p.redisURL = r, cfg.RedisURL
		if !p.customBreakers {
			p.newBreaker = func(s gobreaker.Settings) CircuitBreaker { return r.NewBreaker(s) }
		}
	}
	p.limits = ratelimit.NewProviderLimits(p.redis)
	p.keyLimits = ratelimit.NewLimits(p.redis, "key")
	if p.redis != nil {
		p.usage = p.redis.Usage()
	} else {
		p.usage = ratelimit.NewMemoryUsage()
	}
	p.monitorCtx, p.stopMonitors = context.WithCancel(context.Background())
	st, err := p.build(cfg, nil)
	if err != nil {
		p.closeShared()
		return nil, err
	}
	p.state.Store(st)
	p.startMonitors(st)
	p.rec.configLoaded(p, st.cfg)
	return p, nil
}

// startMonitors starts the health monitor of each upstream of st that has
// an active check and none running yet.
func (p *Proxy) startMonitors(st *state) {
	for _, u := range st.upstreams {
		if hc, ok := u.p.(HealthChecker); ok && u.stopMonitor == nil {
			ctx, cancel := context.WithCancel(p.monitorCtx)
			u.stopMonitor = cancel
			p.monitors.Go(func() { u.monitor(ctx, hc, st.cfg.HealthCheckInterval) })
		}
	}
}

// Reload validates cfg and, if it is valid, makes it the configuration of
// new requests at once; requests and streams in flight finish on the old
// one. Providers whose configuration did not change keep their circuit
// breaker, health and connection pool; removed ones are closed (their idle
// connections only: in-flight requests are unaffected). An invalid cfg
// changes nothing and is returned as the error. Reload is safe for
// concurrent use. Settings the proxy reads only at New (redis_url) are not
// reloaded.
func (p *Proxy) Reload(cfg Config) error {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	if p.closed {
		return errors.New("llmproxy: Reload after Close")
	}
	old := p.state.Load()
	st, err := p.build(cfg, old)
	if err != nil {
		p.rec.reload(false)
		return err
	}
	p.state.Store(st)
	if st.cfg.HealthCheckInterval != old.cfg.HealthCheckInterval {
		// A monitor keeps the interval it started with: restart those of
		// the providers kept.
		for _, u := range st.upstreams {
			if u.stopMonitor != nil {
				u.stopMonitor()
				u.stopMonitor = nil
			}
		}
	}
	p.startMonitors(st)
	var dropped []*upstream
	for _, u := range old.upstreams {
		if st.byName[u.cfg.Name] != u {
			dropped = append(dropped, u)
			if u.stopMonitor != nil {
				u.stopMonitor()
			}
		}
	}
	_ = closeAll(dropped)
	p.rec.reload(true)
	p.rec.configLoaded(p, st.cfg)
	return nil
}

// ReloadFile loads the configuration file at path (see LoadConfig) and
// reloads the proxy with it (see Reload). A file that does not load or
// validate changes nothing; it is counted as a rejected reload and
// returned as the error.
func (p *Proxy) ReloadFile(path string) error {
	cfg, err := LoadConfig(path)
	if err != nil {
		p.rec.reload(false)
		return err
	}
	return p.Reload(cfg)
}

// build validates cfg and builds the providers of a new state. Upstreams
// of prev (nil for the first state) whose configuration is unchanged are
// carried over as they are.
func (p *Proxy) build(cfg Config, prev *state) (*state, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("llmproxy: invalid configuration: %w", err)
	}
	st := &state{
		cfg:     cfg,
		byName:  make(map[string]*upstream, len(cfg.Providers)),
		aliases: resolveAliases(cfg.ModelAliases),
		prices:  newPriceTable(cfg.Pricing),
	}
	var unsetKeys []string
	st.keys, unsetKeys = newKeyTable(&cfg)
	if len(unsetKeys) > 0 {
		p.logger.Warn("client keys disabled: none of their key_env variables is set", "keys", unsetKeys)
	}
	var noKey, noKeyVars []string
	for i, pc := range cfg.Providers {
		if !pc.IsEnabled() {
			continue
		}
		if len(pc.APIKeyEnv) > 0 && !pc.APIKey.IsSet() {
			noKey = append(noKey, pc.Name)
			noKeyVars = append(noKeyVars, pc.APIKeyEnv.String())
			continue
		}
		if len(pc.APIKeysEnv) > 0 && len(pc.APIKeys) == 0 {
			noKey = append(noKey, pc.Name)
			noKeyVars = append(noKeyVars, EnvNames(pc.APIKeysEnv).String())
			continue
		}
		if u := prev.reusable(pc, cfg); u != nil {
			st.upstreams = append(st.upstreams, u)
			st.byName[pc.Name] = u
			continue
		}
		factory, err := lookupProviderType(pc.Type)
		if err != nil {
			return nil, fmt.Errorf("llmproxy: providers[%d].type: %w", i, err)
		}
		u, err := p.newUpstream(pc, cfg, factory)
		if err != nil {
			closeAll(st.newUpstreams(prev))
			return nil, fmt.Errorf("llmproxy: providers[%d] (%s): %w", i, pc.Name, err)
		}
		st.upstreams = append(st.upstreams, u)
		st.byName[pc.Name] = u
	}
	sortByPriority(st.upstreams)
	if slices.ContainsFunc(st.upstreams, func(u *upstream) bool { return u.cfg.MaxRetries > 0 }) {
		st.budget = newRetryBudget(cfg.RetryBudgetPercent, cfg.RetryBudgetWindow)
	}
	if len(noKey) > 0 {
		// One line for all of them: a config file that lists every
		// provider would otherwise greet each start and reload with a
		// screenful.
		p.logger.Warn(msgProvidersWithoutKey, "providers", noKey, "api_key_env", noKeyVars)
	}
	return st, nil
}

// newUpstream builds the upstream of pc with factory: one adapter, or one
// per key when pc has several keys (see keyring), each given its key as
// APIKey. The keys whose variables are unset are logged, by name.
func (p *Proxy) newUpstream(pc ProviderConfig, gc Config, factory ProviderFactory) (*upstream, error) {
	if len(pc.APIKeys) == 0 {
		prov, err := factory(pc)
		if err != nil {
			return nil, err
		}
		return newUpstream(pc, prov, gc, p.newBreaker, p.now, p.logger), nil
	}
	if len(pc.APIKeysEnv) > len(pc.APIKeys) {
		var unset []string
		for _, name := range pc.APIKeysEnv {
			if !slices.ContainsFunc(pc.APIKeys, func(k ProviderKey) bool { return k.ID == name }) {
				unset = append(unset, name)
			}
		}
		p.logger.Warn("provider keys left out: their variables are not set", "provider", pc.Name, "api_keys_env", unset)
	}
	provs := make([]Provider, 0, len(pc.APIKeys))
	ids := make([]string, 0, len(pc.APIKeys))
	for _, k := range pc.APIKeys {
		kc := pc
		kc.APIKey, kc.APIKeys = k.Key, nil
		prov, err := factory(kc)
		if err != nil {
			_ = closeProviders(provs)
			return nil, fmt.Errorf("key %s: %w", k.ID, err)
		}
		provs = append(provs, prov)
		ids = append(ids, k.ID)
	}
	u := newUpstream(pc, provs[0], gc, p.newBreaker, p.now, p.logger)
	u.withKeys(ids, provs, p.logger, p.rec)
	return u, nil
}

// msgProvidersWithoutKey is the warning that lists the enabled providers
// disabled because none of their api_key_env variables is set.
const msgProvidersWithoutKey = "providers disabled: none of their API key variables is set"

// reusable returns the upstream of st (which may be nil) configured as pc
// under the global settings of gc, or nil when there is none.
func (st *state) reusable(pc ProviderConfig, gc Config) *upstream {
	if st == nil {
		return nil
	}
	u := st.byName[pc.Name]
	if u == nil || !reflect.DeepEqual(u.cfg, pc) ||
		st.cfg.CircuitBreakerThreshold != gc.CircuitBreakerThreshold ||
		st.cfg.CircuitBreakerTimeout != gc.CircuitBreakerTimeout {
		return nil
	}
	return u
}

// newUpstreams returns the upstreams of st that prev does not have.
func (st *state) newUpstreams(prev *state) []*upstream {
	var out []*upstream
	for _, u := range st.upstreams {
		if prev == nil || prev.byName[u.cfg.Name] != u {
			out = append(out, u)
		}
	}
	return out
}

// Close stops the health monitors and releases the providers' resources.
// In-flight requests finish. Close is idempotent.
func (p *Proxy) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.reloadMu.Lock()
		p.closed = true
		p.reloadMu.Unlock()
		p.stopMonitors()
		p.monitors.Wait()
		err = closeAll(p.state.Load().upstreams)
		p.closeShared()
	})
	return err
}

// SharedRedis returns the proxy's connection to the Redis server at url
// (the redis_url given to New), or nil when the proxy has none there. The
// server package uses it for the inbound limits, so that one connection,
// with one outage log and one health state, serves the whole process. The
// proxy owns the connection: callers must not close it.
func (p *Proxy) SharedRedis(url string) *ratelimit.Redis {
	if p.redis == nil || !p.redisURL.Equal(url) {
		return nil
	}
	return p.redis
}

// closeShared releases the outbound limits and the Redis connection.
func (p *Proxy) closeShared() {
	if p.limits != nil {
		_ = p.limits.Close()
	}
	if p.keyLimits != nil {
		_ = p.keyLimits.Close()
	}
	if p.redis != nil {
		_ = p.redis.Close()
	}
}

func closeAll(us []*upstream) error {
	var errs []error
	for _, u := range us {
		errs = append(errs, closeProviders(u.providers()))
	}
	return errors.Join(errs...)
}

// closeProviders closes the adapters that are Closers.
func closeProviders(ps []Provider) error {
	var errs []error
	for _, p := range ps {
		if c, ok := p.(Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// Config returns the configuration in force, with defaults applied.
func (p *Proxy) Config() Config { return p.state.Load().cfg }

// Metrics returns the set the proxy records its metrics in, to be written
// out in Prometheus text format (see metrics.Set.WritePrometheus).
func (p *Proxy) Metrics() *metrics.Set { return p.metrics }

// Logger returns the proxy's logger.
func (p *Proxy) Logger() *slog.Logger { return p.logger }

// ChatCompletion sends a chat completion request to the first provider that
// serves req.Model and answers, retrying and failing over as configured.
// The response's ProxyInfo tells which provider answered.
func (p *Proxy) ChatCompletion(ctx context.Context, req *ChatRequest) (*ChatResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	resp, info, err := routeOnce(ctx, p, endpointChat, req.Model, nil,
		func(ctx context.Context, u *upstream) (*ChatResponse, error) {
			return u.p.ChatCompletion(ctx, chatFor(ctx, req))
		})
	if err != nil {
		return nil, err
	}
	resp.ProxyInfo = info
	return resp, nil
}

// Completion sends a legacy text completion request (see ChatCompletion).
func (p *Proxy) Completion(ctx context.Context, req *CompletionRequest) (*CompletionResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	resp, info, err := routeOnce(ctx, p, endpointCompletions, req.Model,
		func(u *upstream) bool { _, ok := u.p.(Completer); return ok },
		func(ctx context.Context, u *upstream) (*CompletionResponse, error) {
			return u.p.(Completer).Completion(ctx, completionFor(ctx, req))
		})
	if err != nil {
		return nil, err
	}
	resp.ProxyInfo = info
	return resp, nil
}

// Embeddings sends an embeddings request (see ChatCompletion). With
// EncodingFormat "base64" the vectors come back base64-encoded whatever the
// provider returned.
func (p *Proxy) Embeddings(ctx context.Context, req *EmbeddingRequest) (*EmbeddingResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	resp, info, err := routeOnce(ctx, p, endpointEmbeddings, req.Model,
		func(u *upstream) bool { _, ok := u.p.(Embedder); return ok },
		func(ctx context.Context, u *upstream) (*EmbeddingResponse, error) {
			return u.p.(Embedder).Embeddings(ctx, embeddingFor(ctx, req))
		})
	if err != nil {
		return nil, err
	}
	resp.ProxyInfo = info
	if req.EncodingFormat == "base64" {
		for i := range resp.Data {
			if resp.Data[i].Base64 == "" {
				resp.Data[i].EncodeBase64()
				resp.raw = nil
			}
		}
	}
	return resp, nil
}

// Models returns the union of the public names of the models the enabled
// providers serve: each provider's own list (ModelLister) filtered by its
// configured models, or, for providers that cannot list, the configured
// names that are not globs; the names of each provider's model_map; and
// the model aliases that an enabled provider serves (owned by the app
// name). A model served by several providers appears once. For a request made for
// a key with a model list (WithClient, KeyConfig.Models), only the models
// the key may use are listed.
func (p *Proxy) Models(ctx context.Context) (*ModelList, error) {
	st := p.state.Load()
	var pol *keyPolicy
	if c := clientOf(ctx); c != nil {
		pol = st.keys.byName[c.name]
	}
	lists := make([][]Model, len(st.upstreams))
	var wg sync.WaitGroup
	for i, u := range st.upstreams {
		wg.Go(func() { lists[i] = u.models(ctx, p.logger) })
	}
	wg.Wait()
	out := &ModelList{Object: "list", Data: []Model{}}
	seen := map[string]bool{}
	for _, l := range lists {
		for _, m := range l {
			if !seen[m.ID] && (pol == nil || pol.allows(m.ID)) {
				seen[m.ID] = true
				out.Data = append(out.Data, m)
			}
		}
	}
	for _, name := range sortedKeys(st.aliases) {
		if !seen[name] && len(st.targets(name, nil)) > 0 {
			seen[name] = true
			out.Data = append(out.Data, Model{ID: name, Object: "model", OwnedBy: st.cfg.AppName})
		}
	}
	return out, nil
}

// modelListTimeout bounds one provider's model list call.
const modelListTimeout = 10 * time.Second

func (u *upstream) models(ctx context.Context, log *slog.Logger) []Model {
	out := u.listedModels(ctx, log)
	for _, name := range sortedKeys(u.cfg.ModelMap) {
		if !slices.ContainsFunc(out, func(m Model) bool { return m.ID == name }) {
			out = append(out, Model{ID: name, Object: "model", OwnedBy: u.cfg.Name})
		}
	}
	return out
}

// listedModels returns the models of the provider's own list, or its
// configured models that are not globs when it has none.
func (u *upstream) listedModels(ctx context.Context, log *slog.Logger) []Model {
	var out []Model
	if l, ok := u.anyKey().p.(ModelLister); ok {
		ctx, cancel := context.WithTimeout(ctx, modelListTimeout)
		ms, err := l.ListModels(ctx)
		cancel()
		if err == nil {
			for _, m := range ms {
				if u.cfg.Serves(m.ID) {
					out = append(out, m)
				}
			}
			return out
		}
		log.Warn("model list failed; using the configured models", "provider", u.cfg.Name, "error", err)
	}
	for _, m := range u.cfg.Models {
		if !isGlob(m) {
			out = append(out, Model{ID: m, Object: "model", OwnedBy: u.cfg.Name})
		}
	}
	return out
}

// ProviderInfo describes a configured provider for status pages. It never
// holds the key itself.
type ProviderInfo struct {
	Name       string   `json:"name"`
	Type       string   `json:"type"`
	BaseURL    string   `json:"base_url,omitempty"`
	Models     []string `json:"models"`
	Enabled    bool     `json:"enabled"`
	Active     bool     `json:"active"`
	Priority   int      `json:"priority"`
	APIKeySet  bool     `json:"api_key_set"`
	Timeout    float64  `json:"timeout"`
	MaxRetries int      `json:"max_retries"`
	Weight     int      `json:"weight"`
	// ModelMap is the provider's model_map: public name to the id it is
	// sent.
	ModelMap map[string]string `json:"model_map,omitempty"`
	// Keys is the number of keys of a provider configured with several
	// (api_keys_env), and KeysCoolingDown the ids (variable names) of
	// those out of the rotation now; never the keys.
	Keys            int      `json:"keys,omitempty"`
	KeysCoolingDown []string `json:"keys_cooling_down,omitempty"`
	// Status is the health status of an active provider (healthy,
	// degraded, unhealthy), else "disabled" or "disabled: API key not set".
	Status string `json:"status"`
	// HealthCheck is how an active provider is watched: "active" when it
	// has a check that costs no tokens (HealthChecker: openai's, grok's
	// and openrouter's key or model endpoints, anthropic's GET /v1/models,
	// cohere's POST /v1/check-api-key, mock), run every
	// health_check_interval besides live traffic; "passive" when live
	// traffic is all it is judged by. Empty for the inactive providers.
	HealthCheck string `json:"health_check,omitempty"`
	// Health is the active provider's health in detail; nil for the others.
	Health *ProviderHealth `json:"health,omitempty"`
}

// Values of ProviderInfo.HealthCheck.
const (
	HealthCheckActive  = "active"
	HealthCheckPassive = "passive"
)

// Providers describes every configured provider, active or not, in
// configuration order, with the health of the active ones.
func (p *Proxy) Providers() []ProviderInfo {
	st := p.state.Load()
	now := p.now()
	out := make([]ProviderInfo, 0, len(st.cfg.Providers))
	for _, pc := range st.cfg.Providers {
		u, active := st.byName[pc.Name]
		var h *ProviderHealth
		status, check := "", ""
		switch {
		case !pc.IsEnabled():
			status = "disabled"
		case !active:
			status = "disabled: API key not set"
		default:
			ph := u.healthAt(now)
			h, status, check = &ph, string(ph.Status), HealthCheckPassive
			if ph.ActiveChecks {
				check = HealthCheckActive
			}
		}
		models := pc.Models
		if models == nil {
			models = []string{}
		}
		info := ProviderInfo{
			Name: pc.Name, Type: pc.Type, BaseURL: pc.BaseURL, Models: models,
			Enabled: pc.IsEnabled(), Active: active, Priority: pc.Priority,
			APIKeySet: pc.APIKey.IsSet() || len(pc.APIKeys) > 0, Timeout: pc.Timeout.Seconds(),
			MaxRetries: pc.MaxRetries, Weight: pc.Weight, Status: status, HealthCheck: check, Health: h,
			ModelMap: pc.ModelMap,
		}
		if len(pc.APIKeys) > 1 || len(pc.APIKeysEnv) > 0 {
			info.Keys = len(pc.APIKeys)
			if active {
				_, info.KeysCoolingDown = u.keyStatus(now)
			}
		}
		out = append(out, info)
	}
	return out
}

type ctxKey int

const requestIDKey ctxKey = iota

// WithRequestID returns a context that carries a request id. The proxy uses
// it in _proxy_info and logs; without one it generates an id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// NewRequestID returns a fresh random request id: "req_" and 24 hex
// digits (96 bits from crypto/rand). It is safe for concurrent use.
func NewRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (it aborts the process)
	return "req_" + hex.EncodeToString(b[:])
}
