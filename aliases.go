package llmproxy

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Model aliases and name mapping. A request names a public model. When it
// is an alias (Config.ModelAliases), its concrete models are tried in
// order, like priorities: the providers of the first one (in their own
// priority, health and load-balancing order) before any provider of the
// second, and so on; a provider that is unavailable comes after every
// available candidate of every model, as a last resort. When it is not an
// alias, the public name is the one concrete model. A provider serves a
// concrete model when its Models match it or its ModelMap names it; the
// model it is sent is ModelMap's id for it, or the name itself.
//
// Each attempt carries the model id it sends upstream in its context (see
// UpstreamModel); the request types are rewritten for it by the router's
// call functions, and a front that sends a client's own bytes rewrites
// their "model" member with SetBodyModel. _proxy_info.model names it.

// target is one concrete model of a request's public model, with the
// upstreams that serve it in priority order.
type target struct {
	model string
	ups   []*upstream
}

// targets returns the concrete models of the public model, in the order
// they are tried, each with the upstreams that serve it and pass accept
// (nil accepts all); models no such upstream serves are left out. The
// result is shared: callers must not modify it.
func (st *state) targets(model string, accept func(*upstream) bool) []target {
	if accept != nil {
		return st.findTargets(model, accept)
	}
	if ts, ok := st.targetCache.m.Load(model); ok {
		return ts.([]target)
	}
	ts := st.findTargets(model, nil)
	if len(model) <= maxCachedModelName && st.targetCache.n.Load() < maxTargetCache {
		if _, loaded := st.targetCache.m.LoadOrStore(strings.Clone(model), ts); !loaded {
			st.targetCache.n.Add(1)
		}
	}
	return ts
}

// maxTargetCache bounds the models a targetCache holds. Model names come
// from clients, so that they must not grow it without limit; the targets
// of the other models are found on every request.
const maxTargetCache = 1000

// maxCachedModelName is the longest model name, in bytes, that the
// proxy's caches keep: the targets cache, the price cache and the model
// labels of the metrics. Model names come from clients, and a count bound
// alone would still let a few long names hold much memory; a longer name
// is looked up each time (and counted under the model label "other").
const maxCachedModelName = 256

// targetCache holds the targets (see state.targets) of the models a
// state was asked for, so that a request neither matches its model against
// every provider's models nor builds its targets anew (two allocations
// per request in BenchmarkServerChat). A state's providers and aliases do
// not change, and neither do their targets. The zero value is ready; it
// is safe for concurrent use.
type targetCache struct {
	m sync.Map // model -> []target
	n atomic.Int32
}

// findTargets is targets without the cache.
func (st *state) findTargets(model string, accept func(*upstream) bool) []target {
	names, ok := st.aliases[model]
	if !ok {
		ups := st.serving(model, accept)
		if len(ups) == 0 {
			return nil
		}
		return []target{{model: model, ups: ups}}
	}
	out := make([]target, 0, len(names))
	for _, name := range names {
		if ups := st.serving(name, accept); len(ups) > 0 {
			out = append(out, target{model: name, ups: ups})
		}
	}
	return out
}

// serving returns the upstreams that serve the concrete model and pass
// accept (nil accepts all), in priority order.
func (st *state) serving(model string, accept func(*upstream) bool) []*upstream {
	var out []*upstream
	for _, u := range st.upstreams {
		if u.cfg.Serves(model) && (accept == nil || accept(u)) {
			out = append(out, u)
		}
	}
	return out
}

// upstreamModel returns the model id the provider is sent for the
// concrete model: its ModelMap entry, or the name itself.
func (p *ProviderConfig) upstreamModel(model string) string {
	if id, ok := p.ModelMap[model]; ok {
		return id
	}
	return model
}

// resolveAliases returns aliases with every alias target expanded into
// the concrete models it stands for (nested aliases in place, duplicates
// after the first dropped). aliases must have passed validateAliases.
func resolveAliases(aliases map[string][]string) map[string][]string {
	if len(aliases) == 0 {
		return nil
	}
	out := make(map[string][]string, len(aliases))
	for name := range aliases {
		out[name], _ = expandAlias(aliases, name, nil)
	}
	return out
}

// expandAlias returns the concrete models of the alias name, whose
// expansion is under way inside the aliases of path; loop is the path of
// the first loop found, nil when there is none. A target equal to the
// alias's own name is the concrete model of that name.
func expandAlias(aliases map[string][]string, name string, path []string) (models, loop []string) {
	path = append(path, name)
	for _, t := range aliases[name] {
		if _, isAlias := aliases[t]; !isAlias || t == name {
			if !slices.Contains(models, t) {
				models = append(models, t)
			}
			continue
		}
		if i := slices.Index(path, t); i >= 0 {
			return nil, append(slices.Clone(path[i:]), t)
		}
		sub, l := expandAlias(aliases, t, path)
		if l != nil {
			return nil, l
		}
		for _, m := range sub {
			if !slices.Contains(models, m) {
				models = append(models, m)
			}
		}
	}
	return models, nil
}

// aliasField names an alias, or one of its targets when i >= 0, in a
// *ConfigError.
func aliasField(name string, i int) string {
	f := "model_aliases[" + name + "]"
	if i >= 0 {
		f += fmt.Sprintf("[%d]", i)
	}
	return f
}

// validateAliases reports the problems of c.ModelAliases with bad: names
// and targets that are empty or globs, empty lists, targets listed twice,
// loops between aliases, an alias that is also the name a provider serves
// directly (unless the alias lists itself, which says how the two
// combine), and concrete targets no provider could serve.
func (c *Config) validateAliases(bad func(field, format string, args ...any)) {
	for _, name := range sortedKeys(c.ModelAliases) {
		targets := c.ModelAliases[name]
		if name == "" || isGlob(name) {
			bad(aliasField(name, -1), "an alias must be an exact model name, not empty or a glob")
			continue
		}
		if len(targets) == 0 {
			bad(aliasField(name, -1), "must list at least one model")
			continue
		}
		clean := true
		for i, t := range targets {
			switch {
			case t == "" || isGlob(t):
				bad(aliasField(name, i), "must be an exact model name, not empty or a glob, got %q", t)
				clean = false
			case slices.Index(targets, t) < i:
				bad(aliasField(name, i), "%q is listed twice", t)
				clean = false
			}
		}
		if !clean {
			continue
		}
		if _, loop := expandAlias(c.ModelAliases, name, nil); loop != nil {
			bad(aliasField(name, -1), "aliases loop: %s", strings.Join(loop, " → "))
			continue
		}
		if !slices.Contains(targets, name) {
			if i, ok := c.servesByName(name); ok {
				bad(aliasField(name, -1), "is also a model providers[%d] (%s) serves by that name: list %q among its targets to say where that model comes in, or rename the alias", i, c.Providers[i].Name, name)
			}
		}
		for i, t := range targets {
			if _, isAlias := c.ModelAliases[t]; isAlias && t != name {
				continue
			}
			if !c.anyServes(t) {
				bad(aliasField(name, i), "no provider serves the model %q (see the providers' models and model_map)", t)
			}
		}
	}
}

// servesByName returns the index of the first provider that names model
// exactly in its Models or ModelMap.
func (c *Config) servesByName(model string) (int, bool) {
	for i := range c.Providers {
		p := &c.Providers[i]
		if _, ok := p.ModelMap[model]; ok || slices.Contains(p.Models, model) {
			return i, true
		}
	}
	return 0, false
}

// anyServes reports whether a configured provider, enabled or not, serves
// model.
func (c *Config) anyServes(model string) bool {
	for i := range c.Providers {
		if c.Providers[i].Serves(model) {
			return true
		}
	}
	return false
}

// validateModelMap reports the problems of p.ModelMap with bad: names
// that are empty or globs, ids that are empty. field names a key of p.
func (p *ProviderConfig) validateModelMap(field func(string) string, bad func(field, format string, args ...any)) {
	for _, name := range sortedKeys(p.ModelMap) {
		f := field("model_map") + "[" + name + "]"
		if name == "" || isGlob(name) {
			bad(f, "must map an exact model name, not empty or a glob")
		} else if p.ModelMap[name] == "" {
			bad(f, "must be the model id the provider is sent, not empty")
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
