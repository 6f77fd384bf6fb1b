package llmproxy

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"time"
)

// Load-balancing strategies among providers of equal priority (see
// Config.LoadBalancing).
const (
	// LoadBalancingWeighted orders providers of equal priority at random,
	// each request anew, in proportion to their weight: a provider of
	// weight 3 goes first three times as often as one of weight 1.
	LoadBalancingWeighted = "weighted"
	// LoadBalancingLeastLatency orders providers of equal priority by
	// their latency EWMA, fastest first. A provider never measured, or
	// not for a minute, goes first once to be measured again.
	LoadBalancingLeastLatency = "least_latency"
)

// candidate is a provider in the order a request tries them.
type candidate struct {
	u *upstream
	// model is the model id the provider is sent (see targets).
	model string
	// lastResort marks a provider that was unavailable (breaker open, or
	// unhealthy) when the request planned its order: it comes after every
	// available one, and its breaker is bypassed.
	lastResort bool
}

// plan orders the candidates of the targets for one request: the
// targets in turn, and within each the providers by priority. Within each
// priority the healthy providers come first, then the degraded ones, each
// group ordered by the load-balancing strategy. The unavailable providers
// (breaker open, unhealthy) follow all the others, of every target, in
// target and priority order, as a last resort: they are tried only when
// every available candidate failed, so that the proxy never refuses a
// request outright while some provider might answer it. It appends the
// candidates to dst and returns the extended slice, so that the caller
// may plan into a buffer of its own (route's, on its stack: an allocation
// per request less in BenchmarkServerChat).
func (st *state) plan(dst []candidate, targets []target, now time.Time) []candidate {
	if len(targets) == 1 && len(targets[0].ups) == 1 {
		// Nothing to order: the one candidate, a last resort if it is
		// unavailable.
		t, u := targets[0], targets[0].ups[0]
		return append(dst, candidate{u: u, model: u.cfg.upstreamModel(t.model), lastResort: u.rankAt(now) == rankUnavailable})
	}
	out, rest := dst, []candidate(nil)
	for _, t := range targets {
		cands := t.ups
		for i := 0; i < len(cands); {
			j := i + 1
			for j < len(cands) && cands[j].cfg.Priority == cands[i].cfg.Priority {
				j++
			}
			var tiers [rankUnavailable][]*upstream
			for _, u := range cands[i:j] {
				if r := u.rankAt(now); r == rankUnavailable {
					rest = append(rest, candidate{u: u, model: u.cfg.upstreamModel(t.model), lastResort: true})
				} else {
					tiers[r] = append(tiers[r], u)
				}
			}
			for _, tier := range tiers {
				for _, u := range st.balance(tier, now) {
					out = append(out, candidate{u: u, model: u.cfg.upstreamModel(t.model)})
				}
			}
			i = j
		}
	}
	return append(out, rest...)
}

// balance orders providers of equal priority and health by the configured
// strategy.
func (st *state) balance(us []*upstream, now time.Time) []*upstream {
	if len(us) < 2 {
		return us
	}
	if st.cfg.LoadBalancing == LoadBalancingLeastLatency {
		return latencyOrder(us, now)
	}
	return weightedOrder(us)
}

// weightedOrder returns us in a random order in which each place goes to
// one of the remaining providers with a chance proportional to its weight.
func weightedOrder(us []*upstream) []*upstream {
	rest := slices.Clone(us)
	total := 0
	for _, u := range rest {
		total += u.weight()
	}
	out := make([]*upstream, 0, len(us))
	for len(rest) > 0 {
		n := rand.IntN(total)
		for i, u := range rest {
			if n -= u.weight(); n < 0 {
				out = append(out, u)
				total -= u.weight()
				rest = slices.Delete(rest, i, i+1)
				break
			}
		}
	}
	return out
}

// latencyOrder returns us fastest first by latency EWMA, ties in
// configuration order. Providers to be measured go before all: those never
// measured, then those not measured for healthWindow, oldest first. The
// first of them claims the probe, so that one request re-measures a stale
// provider rather than every request until the answer comes.
func latencyOrder(us []*upstream, now time.Time) []*upstream {
	type keyed struct {
		u        *upstream
		latency  time.Duration
		at       time.Time
		measured bool
		stale    bool
	}
	ks := make([]keyed, len(us))
	for i, u := range us {
		l, at, measured := u.health.latencyKey()
		ks[i] = keyed{u: u, latency: l, at: at, measured: measured, stale: measured && now.Sub(at) >= healthWindow}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		switch {
		case a.measured != b.measured:
			if !a.measured {
				return -1
			}
			return 1
		case a.stale != b.stale:
			if a.stale {
				return -1
			}
			return 1
		case a.stale:
			return a.at.Compare(b.at)
		}
		return cmp.Compare(a.latency, b.latency)
	})
	if ks[0].stale {
		ks[0].u.health.claimProbe(now)
	}
	out := make([]*upstream, len(ks))
	for i, k := range ks {
		out[i] = k.u
	}
	return out
}

// weight returns the provider's load-balancing weight, at least 1.
func (u *upstream) weight() int { return max(u.cfg.Weight, 1) }
