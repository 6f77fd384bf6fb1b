package llmproxy

import (
	"regexp"
	"sort"
)

// Values of ProviderConfig.AzureAuth.
const (
	AzureAuthAPIKey = "api-key"
	AzureAuthBearer = "bearer"
)

// azureType is the provider type whose fields azureProblems checks.
const azureType = "azure"

var (
	// azureVersion matches an api-version: a date, optionally a preview
	// one, or the v1 API's "v1" and "preview".
	azureVersion = regexp.MustCompile(`^(v1|preview|\d{4}-\d{2}-\d{2}(-preview)?)$`)
	// azureDeployment matches a deployment name: letters, digits, ".", "_"
	// and "-", as the Azure portal allows; nothing a URL path would need
	// escaped.
	azureDeployment = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// azureProblems reports, through bad, the problems of p's Azure fields:
// their values for type azure, and their presence on any other type.
func (p *ProviderConfig) azureProblems(field func(string) string, bad func(field, format string, args ...any)) {
	if p.Type != azureType {
		if len(p.Deployments) > 0 {
			bad(field("deployments"), "is only used by type azure")
		}
		if p.AzureAuth != "" {
			bad(field("azure_auth"), "is only used by type azure")
		}
		return
	}
	if p.APIVersion != "" && !azureVersion.MatchString(p.APIVersion) {
		bad(field("api_version"), `must be a dated version such as "2024-10-21", or "v1", got %q`, p.APIVersion)
	}
	switch p.AzureAuth {
	case "", AzureAuthAPIKey, AzureAuthBearer:
	default:
		bad(field("azure_auth"), "must be %q or %q, got %q", AzureAuthAPIKey, AzureAuthBearer, p.AzureAuth)
	}
	models := make([]string, 0, len(p.Deployments))
	for m := range p.Deployments {
		models = append(models, m)
	}
	sort.Strings(models)
	for _, m := range models {
		d := p.Deployments[m]
		switch {
		case m == "":
			bad(field("deployments"), "has an empty model name")
		case !azureDeployment.MatchString(d):
			bad(field("deployments."+m), "must be a deployment name (letters, digits, '.', '_' and '-'), got %q", d)
		}
	}
}
