package llmproxy

import (
	"slices"
	"sync"
)

// ProviderTypeDefaults is what a provider type supplies for the fields of
// a provider's configuration that are left empty, so that a preset such as
// mistral needs nothing but its key in the environment.
type ProviderTypeDefaults struct {
	// APIKeyEnv is the api_key_env of a provider of the type that names
	// none, in order of preference (e.g. MISTRAL_API_KEY). Empty means
	// the type needs no key (a local server).
	APIKeyEnv EnvNames
	// RequiresBaseURL makes a provider of the type without base_url a
	// configuration error: the type has no endpoint of its own (a local
	// server whose address only the user knows, an Azure resource).
	RequiresBaseURL bool
}

// typeDefaults maps provider type names to their defaults. Like the
// registry of factories it is filled at init time and only grows.
var typeDefaults = struct {
	sync.RWMutex
	m map[string]ProviderTypeDefaults
}{m: map[string]ProviderTypeDefaults{}}

// RegisterProviderTypeDefaults sets the defaults of the provider type typ
// (see ProviderTypeDefaults). Call it from the init function that
// registers the type; a later call for the same type replaces the
// defaults. It is safe for concurrent use.
func RegisterProviderTypeDefaults(typ string, d ProviderTypeDefaults) {
	d.APIKeyEnv = slices.Clone(d.APIKeyEnv)
	typeDefaults.Lock()
	defer typeDefaults.Unlock()
	typeDefaults.m[typ] = d
}

// providerTypeDefaults returns the defaults registered for typ (the zero
// value when none are).
func providerTypeDefaults(typ string) ProviderTypeDefaults {
	typeDefaults.RLock()
	defer typeDefaults.RUnlock()
	return typeDefaults.m[typ]
}

// applyTypeDefaults gives an empty APIKeyEnv the default of p's type,
// unless p has several keys (APIKeysEnv, APIKeys).
func (p *ProviderConfig) applyTypeDefaults() {
	if len(p.APIKeyEnv) > 0 || len(p.APIKeysEnv) > 0 || len(p.APIKeys) > 0 {
		return
	}
	if d := providerTypeDefaults(p.Type).APIKeyEnv; len(d) > 0 {
		p.APIKeyEnv = slices.Clone(d)
	}
}

// typeDefaultProblems reports, through bad, the fields of p its type's
// defaults make required and that are missing.
func (p *ProviderConfig) typeDefaultProblems(field func(string) string, bad func(field, format string, args ...any)) {
	if providerTypeDefaults(p.Type).RequiresBaseURL && p.BaseURL == "" {
		bad(field("base_url"), "is required for type %q, which has no endpoint of its own", p.Type)
	}
}
