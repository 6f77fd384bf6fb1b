package llmproxy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"path"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/llmproxy/ratelimit"
)

// The policy of client keys (Config.Keys) is applied by the router, where
// every endpoint and every library call passes: a request made with a
// context from WithClient is checked against its key's models, rpm, tpm
// and budget before any provider is tried (admit), and its tokens and
// cost are charged when its answer, or its stream's usage, is known
// (settle). The counters live in a ratelimit.UsageStore: in memory, or in
// Redis with redis_url, shared by the replicas.

// keyPolicy is a KeyConfig compiled for the router.
type keyPolicy struct {
	name      string
	models    []string
	rpm, tpm  int
	budget    float64
	period    string        // a calendar period, or "" for periodLen
	periodLen time.Duration // for a duration period
}

// keyTable holds the compiled keys of a state.
type keyTable struct {
	byHash map[[32]byte]*keyPolicy
	byName map[string]*keyPolicy
	order  []*keyPolicy // configuration order
	admins map[string]bool
}

// newKeyTable compiles the keys of a validated configuration. Keys without
// a value (their variables unset) are listed by name in unset.
func newKeyTable(cfg *Config) (t *keyTable, unset []string) {
	t = &keyTable{byHash: map[[32]byte]*keyPolicy{}, byName: map[string]*keyPolicy{}, admins: map[string]bool{}}
	for i := range cfg.Keys {
		k := &cfg.Keys[i]
		d, _ := parseBudgetPeriod(k.BudgetPeriod)
		pol := &keyPolicy{name: k.Name, models: k.Models, rpm: k.RPM, tpm: k.TPM, budget: k.BudgetUSD, periodLen: d}
		if d == 0 {
			pol.period = k.BudgetPeriod
			if pol.period == "" {
				pol.period = BudgetMonthly
			}
		}
		t.byName[k.Name] = pol
		t.order = append(t.order, pol)
		if sum, ok := k.hash(); ok {
			t.byHash[sum] = pol
		} else {
			unset = append(unset, k.Name)
		}
	}
	for _, a := range cfg.AdminKeys {
		t.admins[a] = true
	}
	return t, unset
}

// allows reports whether the policy lets the key use model.
func (k *keyPolicy) allows(model string) bool {
	if len(k.models) == 0 {
		return true
	}
	for _, m := range k.models {
		if m == model {
			return true
		}
		if ok, _ := path.Match(m, model); ok {
			return true
		}
	}
	return false
}

// periodAt returns the budget period that contains now: a label that names
// it in the counters' keys, its start and its end.
func (k *keyPolicy) periodAt(now time.Time) (label string, start, end time.Time) {
	now = now.UTC()
	y, m, d := now.Date()
	switch k.period {
	case BudgetDaily:
		start = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		return "d" + start.Format("2006-01-02"), start, start.AddDate(0, 0, 1)
	case BudgetWeekly:
		back := (int(now.Weekday()) + 6) % 7 // days since Monday
		start = time.Date(y, m, d-back, 0, 0, 0, 0, time.UTC)
		return "w" + start.Format("2006-01-02"), start, start.AddDate(0, 0, 7)
	case "":
		n := now.UnixNano() / int64(k.periodLen)
		start = time.Unix(0, n*int64(k.periodLen)).UTC()
		return "p" + strconv.FormatInt(int64(k.periodLen/time.Second), 10) + "-" + strconv.FormatInt(start.Unix(), 10),
			start, start.Add(k.periodLen)
	}
	start = time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	return "m" + start.Format("2006-01"), start, start.AddDate(0, 1, 0)
}

// counterKeys returns the keys of the spend and token counters of the key
// at now, with their ends. The key's name is a Redis hash tag, so that
// both live in one slot.
func (k *keyPolicy) counterKeys(now time.Time) (spendKey string, periodEnd time.Time, tokensKey string, minuteEnd time.Time) {
	label, _, end := k.periodAt(now)
	minute := now.Truncate(time.Minute)
	tag := "{" + k.name + "}"
	return tag + ":spend:" + label, end, tag + ":tpm:" + strconv.FormatInt(minute.Unix(), 10), minute.Add(time.Minute)
}

// AuthenticateKey returns the name of the key of Config.Keys whose value
// is key, for a server that authenticates clients; ok is false when no
// key of the configuration in force has that value. The key is compared
// by its SHA-256 (a map lookup), so the time taken says nothing about how
// close a wrong key came. It does not look at Config.APIKeys.
func (p *Proxy) AuthenticateKey(key string) (name string, ok bool) {
	t := p.state.Load().keys
	if len(t.byHash) == 0 || key == "" {
		return "", false
	}
	pol, ok := t.byHash[sha256.Sum256([]byte(key))]
	if !ok {
		return "", false
	}
	return pol.name, true
}

// IsAdminKey reports whether name is one of Config.AdminKeys.
func (p *Proxy) IsAdminKey(name string) bool { return p.state.Load().keys.admins[name] }

type clientCtxKey struct{}

// clientCall is what WithClient puts in a context: the key's name, and the
// state of its limits after the last request made with the context.
type clientCall struct {
	name string

	mu     sync.Mutex
	limits KeyLimits
	set    bool
}

// WithClient returns a context whose requests are made on behalf of the
// client key name: the router applies the policy of the key of that name
// in Config.Keys (models, rpm, tpm, budget), in force when each request is
// routed, counts its spend and tokens, and labels its cost metrics with
// the name. A name that is not in Config.Keys has no policy; its cost is
// still counted in the metrics under its name. Servers call it once per
// request, after authentication; library callers may call it to make
// their requests count for a key.
func WithClient(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, clientCtxKey{}, &clientCall{name: name})
}

// ClientName returns the key name of WithClient carried by ctx, or "".
func ClientName(ctx context.Context) string {
	if c := clientOf(ctx); c != nil {
		return c.name
	}
	return ""
}

func clientOf(ctx context.Context) *clientCall {
	c, _ := ctx.Value(clientCtxKey{}).(*clientCall)
	return c
}

// LimitState is the state of one of a key's limits after a request was
// admitted or refused: the limit per minute, what is left of it, and when
// it frees up (the end of the minute for tokens).
type LimitState struct {
	Limit     int64
	Remaining int64
	Reset     time.Time
}

// KeyLimits is the state of a key's rpm and tpm limits (a zero Limit: the
// key has no such limit) as the last request made with a context saw it.
type KeyLimits struct {
	Requests LimitState
	Tokens   LimitState
}

// ClientLimits returns the state of the limits of the key of WithClient
// after the last request made with ctx was admitted or refused; ok is
// false when ctx has no key or the key has neither rpm nor tpm. A server
// sets the X-RateLimit-* headers of its answer from it.
func ClientLimits(ctx context.Context) (KeyLimits, bool) {
	c := clientOf(ctx)
	if c == nil {
		return KeyLimits{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limits, c.set
}

func (c *clientCall) setLimits(l KeyLimits) {
	if l.Requests.Limit == 0 && l.Tokens.Limit == 0 {
		return
	}
	c.mu.Lock()
	c.limits, c.set = l, true
	c.mu.Unlock()
}

// admission is the outcome of admit for a request that may go ahead: what
// settle needs to charge it.
type admission struct {
	name string     // the key's name; "" without WithClient
	pol  *keyPolicy // nil: no policy
	now  time.Time
}

// admit applies the policy of the request's key (see WithClient) to a
// request for model: the model list, then the budget and the tokens per
// minute (read from the counters), then the requests per minute (taken
// last, so that a request refused by the others spends none). A request
// is admitted while the key is under each limit; what it costs is charged
// by settle once known.
func (p *Proxy) admit(ctx context.Context, st *state, model string) (admission, error) {
	c := clientOf(ctx)
	if c == nil {
		return admission{}, nil
	}
	a := admission{name: c.name, pol: st.keys.byName[c.name]}
	pol := a.pol
	if pol == nil {
		return a, nil
	}
	if !pol.allows(model) {
		return a, &Error{Kind: KindForbidden, Status: 403, Type: "invalid_request_error", Param: "model", Code: "model_not_allowed",
			Message: "the key " + quote(pol.name) + " may not use the model " + quote(model), NoRetry: true}
	}
	now := p.now()
	a.now = now
	var lim KeyLimits
	if pol.budget > 0 || pol.tpm > 0 {
		spendKey, _, tokensKey, minuteEnd := pol.counterKeys(now)
		if pol.budget <= 0 {
			spendKey = ""
		}
		if pol.tpm <= 0 {
			tokensKey = ""
		}
		spend, tokens, err := p.usage.Read(ctx, spendKey, tokensKey)
		switch {
		case errors.Is(err, ratelimit.ErrUnavailable):
			return a, errLimiterUnavailable(err)
		case err != nil:
			// A fail-open store answers from memory when Redis fails;
			// any other failure must not refuse the request.
			p.logger.Warn("key usage could not be read; request admitted", "key", pol.name, "error", err.Error())
		default:
			if pol.budget > 0 && spend >= pol.budget {
				return a, &Error{Kind: KindQuotaExceeded, Status: 429, Type: "insufficient_quota", Code: "budget_exceeded", NoRetry: true,
					Message: fmt.Sprintf("the key %s has spent its budget of $%s for this %s period ($%s spent)",
						quote(pol.name), formatUSD(pol.budget), periodName(pol), formatUSD(spend))}
			}
			if pol.tpm > 0 {
				lim.Tokens = LimitState{Limit: int64(pol.tpm), Remaining: max(int64(pol.tpm)-tokens, 0), Reset: minuteEnd}
				if tokens >= int64(pol.tpm) {
					c.setLimits(lim)
					retry := max(minuteEnd.Sub(now), time.Second)
					return a, &Error{Kind: KindRateLimitedClient, Code: "rate_limit_exceeded", RetryAfter: retry,
						Message: fmt.Sprintf("rate limit exceeded: the key %s used %d of its %d tokens per minute; retry in %d s",
							quote(pol.name), tokens, pol.tpm, int(math.Ceil(retry.Seconds())))}
				}
			}
		}
	}
	if pol.rpm > 0 {
		res, err := p.keyLimits.Take(ctx, pol.name, pol.rpm)
		switch {
		case errors.Is(err, ratelimit.ErrUnavailable):
			return a, errLimiterUnavailable(err)
		case err != nil:
			p.logger.Warn("key rate limit failed; request admitted", "key", pol.name, "error", err.Error())
		default:
			lim.Requests = LimitState{Limit: int64(res.Limit), Remaining: int64(res.Remaining), Reset: res.Reset}
			if !res.OK {
				c.setLimits(lim)
				retry := res.RetryAfter(now)
				return a, &Error{Kind: KindRateLimitedClient, Code: "rate_limit_exceeded", RetryAfter: retry,
					Message: fmt.Sprintf("rate limit exceeded: the key %s may make %d requests per minute; retry in %d s",
						quote(pol.name), pol.rpm, int(math.Ceil(retry.Seconds())))}
			}
		}
	}
	c.setLimits(lim)
	return a, nil
}

// errLimiterUnavailable is the refusal of a request whose key's counters
// are in a Redis that does not answer, under redis_fail_closed.
func errLimiterUnavailable(err error) *Error {
	return &Error{Kind: KindUnavailable, Status: 503, Type: "server_error", Code: "rate_limiter_unavailable",
		Message:    "the store of the keys' limits (Redis) does not answer and the proxy is configured to refuse requests until it does (redis_fail_closed); retry shortly",
		RetryAfter: time.Second, Err: err}
}

func periodName(k *keyPolicy) string {
	if k.period != "" {
		return k.period
	}
	return k.periodLen.String()
}

// formatUSD writes an amount of dollars with up to 6 decimals.
func formatUSD(v float64) string { return strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64) }

// settle prices a request that provider answered (answered is the model
// its answer names, requested the one asked for) from the usage u it
// reported, sets info's CostUSD, records the cost and tokens by key in the
// metrics and charges the key's counters. A nil u (an upstream that
// reported no usage, a stream cut short) costs 0 and counts as unpriced.
func (p *Proxy) settle(ctx context.Context, st *state, a admission, provider, answered, requested string, u *Usage, info *ProxyInfo) {
	typ := ""
	if up := st.byName[provider]; up != nil {
		typ = up.cfg.Type
	}
	usd, priced := p.cost(st, provider, typ, answered, requested, u)
	model := answered
	if model == "" {
		model = requested
	}
	p.keyRec.record(p.rec, provider, model, a.name, u, usd, priced)
	if priced && info != nil {
		cost := usd // on the heap only when there is a cost to report
		info.CostUSD = &cost
	}
	if a.pol == nil || u == nil {
		return
	}
	tokens := int64(max(u.TotalTokens, u.PromptTokens+u.CompletionTokens))
	now := a.now
	if now.IsZero() {
		now = p.now()
	}
	spendKey, periodEnd, tokensKey, minuteEnd := a.pol.counterKeys(now)
	ch := ratelimit.Charge{SpendKey: spendKey, USD: usd, SpendTTL: periodEnd.Sub(now) + time.Hour}
	if a.pol.tpm > 0 && tokens > 0 {
		// Counted in the minute the request was admitted in, which the
		// next requests of that minute read.
		ch.TokensKey, ch.Tokens, ch.TokensTTL = tokensKey, tokens, minuteEnd.Sub(now)+time.Minute
	}
	if _, _, err := p.usage.Charge(context.WithoutCancel(ctx), ch); err != nil {
		p.logger.Warn("key usage could not be charged", "key", a.pol.name, "usd", usd, "tokens", tokens, "error", err.Error())
	}
}

// answerOf returns the model an answer names and its usage.
func answerOf(v any) (model string, u *Usage) {
	switch r := v.(type) {
	case *ChatResponse:
		return r.Model, r.Usage
	case *CompletionResponse:
		return r.Model, r.Usage
	case *EmbeddingResponse:
		return r.Model, r.Usage
	case *RawAnswer:
		return gjson.GetBytes(r.Body, "model").Str, r.Usage
	}
	return "", usageOf(v)
}

// KeyUsage is a key's policy and its usage in the current periods (see
// Proxy.Usage).
type KeyUsage struct {
	// Name is the key's name.
	Name string `json:"name"`
	// Configured is true for a key of Config.Keys, whose spend and tokens
	// are counted; false for a key without a policy (api_keys), of which
	// only Name is set.
	Configured bool `json:"configured"`
	// Models the key may use; empty: every model.
	Models []string `json:"models"`
	// RPM, TPM and BudgetUSD are the key's limits; 0: none.
	RPM       int     `json:"rpm"`
	TPM       int     `json:"tpm"`
	BudgetUSD float64 `json:"budget_usd"`
	// BudgetPeriod is the period of the budget and of SpendUSD;
	// PeriodStart and PeriodEnd bound the current one.
	BudgetPeriod string    `json:"budget_period,omitempty"`
	PeriodStart  time.Time `json:"period_start"`
	PeriodEnd    time.Time `json:"period_end"`
	// SpendUSD is what the key spent in the current period.
	SpendUSD float64 `json:"spend_usd"`
	// RemainingUSD is what is left of the budget (0 once it is spent);
	// nil without a budget.
	RemainingUSD *float64 `json:"remaining_usd"`
	// TokensThisMinute counts the tokens of the current minute (only for
	// a key with a TPM).
	TokensThisMinute int64 `json:"tokens_this_minute"`
}

// KeyUsage returns the policy and usage of the key name (see Usage). A
// name that is not in Config.Keys gets a KeyUsage with only its Name.
func (p *Proxy) KeyUsage(ctx context.Context, name string) (KeyUsage, error) {
	pol := p.state.Load().keys.byName[name]
	if pol == nil {
		return KeyUsage{Name: name, Models: []string{}}, nil
	}
	return p.keyUsage(ctx, pol)
}

// Usage returns the policy and usage of every key of Config.Keys, in
// configuration order: spend in the current budget period (read from the
// shared counters when they are in Redis, so every replica answers the
// same) and the tokens of the current minute. The error is a store that
// does not answer under redis_fail_closed.
func (p *Proxy) Usage(ctx context.Context) ([]KeyUsage, error) {
	t := p.state.Load().keys
	out := make([]KeyUsage, 0, len(t.order))
	for _, pol := range t.order {
		u, err := p.keyUsage(ctx, pol)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

func (p *Proxy) keyUsage(ctx context.Context, pol *keyPolicy) (KeyUsage, error) {
	now := p.now()
	_, start, end := pol.periodAt(now)
	spendKey, _, tokensKey, _ := pol.counterKeys(now)
	if pol.tpm <= 0 {
		tokensKey = ""
	}
	spend, tokens, err := p.usage.Read(ctx, spendKey, tokensKey)
	if err != nil {
		return KeyUsage{}, errLimiterUnavailable(err)
	}
	models := pol.models
	if models == nil {
		models = []string{}
	}
	u := KeyUsage{Name: pol.name, Configured: true, Models: models, RPM: pol.rpm, TPM: pol.tpm, BudgetUSD: pol.budget,
		BudgetPeriod: periodName(pol), PeriodStart: start, PeriodEnd: end, SpendUSD: spend, TokensThisMinute: tokens}
	if pol.budget > 0 {
		left := max(pol.budget-spend, 0)
		u.RemainingUSD = &left
	}
	return u, nil
}

// maxKeyLabels bounds the distinct key label values of the metrics (names
// come from the configuration, or from library callers of WithClient);
// keys beyond it are counted as "other".
const maxKeyLabels = 1000

// keyRecorder records the metrics of the keys: cost and tokens by key, and
// the requests no price was found for. Its series are looked up by name in
// the recorder's set, as every other series is.
type keyRecorder struct {
	names sync.Map // name -> struct{}
	n     atomic.Int32
}

func (k *keyRecorder) label(name string) string {
	if name == "" {
		return "none"
	}
	if _, ok := k.names.Load(name); ok {
		return name
	}
	if k.n.Add(1) > maxKeyLabels {
		k.n.Add(-1)
		return "other"
	}
	if _, loaded := k.names.LoadOrStore(name, struct{}{}); loaded {
		k.n.Add(-1)
	}
	return name
}

// record counts a priced request's cost in llmproxy_cost_usd_total and
// its tokens in llmproxy_key_tokens_total, or an unpriced one in
// llmproxy_unpriced_requests_total.
func (k *keyRecorder) record(r *recorder, provider, model, key string, u *Usage, usd float64, priced bool) {
	model, key = r.model(model), k.label(key)
	if u != nil {
		r.counter("llmproxy_key_tokens_total", "key", key, "kind", "prompt").Add(u.PromptTokens)
		r.counter("llmproxy_key_tokens_total", "key", key, "kind", "completion").Add(u.CompletionTokens)
	}
	if !priced {
		r.counter("llmproxy_unpriced_requests_total", "provider", provider, "model", model).Inc()
		return
	}
	r.set.GetOrCreateFloatCounter(metricName("llmproxy_cost_usd_total", "provider", provider, "model", model, "key", key)).Add(usd)
}
