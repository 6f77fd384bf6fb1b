package openai

import (
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/llmproxy/llmproxy"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Azure OpenAI speaks the OpenAI format: request and answer bytes pass
// through as for any flavor, and only where a request goes and how it is
// authenticated differ. Two APIs exist on every resource
// (https://<resource>.openai.azure.com, the provider's base_url):
//
//	dated  POST /openai/deployments/{deployment}/chat/completions?api-version=2024-10-21
//	       (also /completions, /embeddings): the deployment in the path
//	       chooses the model, the body's "model" is ignored
//	v1     POST /openai/v1/chat/completions (also /completions,
//	       /embeddings): the body's "model" names the deployment
//
// Without deployments the provider uses the v1 API and the client's model
// name is the deployment's; with deployments ({gpt-4o: my-gpt4o}) it uses
// the dated API at api_version (default defaultAzureVersion), a model the
// map does not name being its own deployment. An explicit api_version
// chooses: "v1" (or "preview") the v1 API, where deployments rename the
// body's model, a date the dated API.
//
// The key goes in the api-key header, or as "Authorization: Bearer" with
// azure_auth: bearer (a Microsoft Entra ID token; the v1 API also takes a
// key that way). Azure's content filter answers 400 with code
// "content_filter" (see fixAzureError); a filtered answer's finish_reason
// "content_filter", the prompt_filter_results chunk that opens its streams
// and the content_filter_results of its choices pass through.

// defaultAzureVersion is the api-version of the dated API when
// api_version is not set: the latest generally available version of the
// inference API (stable/2024-10-21 in Azure/azure-rest-api-specs), the
// first GA one with stream_options, so that streams report their usage.
const defaultAzureVersion = "2024-10-21"

// azureUsageSince is the first dated api-version that accepts
// stream_options (2024-09-01-preview); older ones answer 400 to it.
const azureUsageSince = "2024-09-01"

// azureFlavor is Azure OpenAI. It has no base URL of its own: base_url is
// the resource's endpoint.
var azureFlavor = &flavor{
	name:         "azure",
	chatPath:     epChat,
	caps:         capsAll,
	fixError:     fixAzureError,
	keyEnv:       []string{"AZURE_OPENAI_API_KEY", "PROXY_API_AZURE_API_KEY"},
	needsBaseURL: true,
}

// azureRoutes is how an Azure provider reaches its resource.
type azureRoutes struct {
	// version is the api-version; "v1" and "preview" select the v1 API.
	version string
	v1      bool
	// bearer sends the key as a bearer token instead of api-key.
	bearer bool
	// deployments maps public model names to deployment names; lower
	// holds the same by lower-cased name, since a config file's map keys
	// arrive lower-cased.
	deployments, lower map[string]string
	// listed are the models ListModels reports.
	listed []string
}

// newAzureRoutes reads an Azure provider's configuration, validated by
// llmproxy.Config.Validate.
func newAzureRoutes(cfg llmproxy.ProviderConfig) *azureRoutes {
	a := &azureRoutes{
		version:     cfg.APIVersion,
		bearer:      cfg.AzureAuth == llmproxy.AzureAuthBearer,
		deployments: map[string]string{},
		lower:       map[string]string{},
	}
	for m, d := range cfg.Deployments {
		a.deployments[m] = d
		a.lower[strings.ToLower(m)] = d
	}
	if a.version == "" {
		a.version = "v1"
		if len(a.deployments) > 0 {
			a.version = defaultAzureVersion
		}
	}
	a.v1 = a.version == "v1" || a.version == "preview"
	for m := range a.deployments {
		a.listed = append(a.listed, m)
	}
	if len(a.listed) == 0 {
		for _, m := range cfg.Models {
			if !strings.ContainsAny(m, `*?[\`) {
				a.listed = append(a.listed, m)
			}
		}
	}
	sort.Strings(a.listed)
	a.listed = slices.Compact(a.listed)
	return a
}

// deployment returns the deployment that serves model, and whether the
// map names it.
func (a *azureRoutes) deployment(model string) (string, bool) {
	if d, ok := a.deployments[model]; ok {
		return d, true
	}
	if d, ok := a.lower[strings.ToLower(model)]; ok {
		return d, true
	}
	return model, false
}

// path returns the path and query of endpoint ep (epChat, …) for model.
func (a *azureRoutes) path(ep, model string) string {
	if a.v1 {
		if a.version == "preview" {
			return "/openai/v1" + ep + "?api-version=preview"
		}
		return "/openai/v1" + ep
	}
	d, _ := a.deployment(model)
	return "/openai/deployments/" + url.PathEscape(d) + ep + "?api-version=" + url.QueryEscape(a.version)
}

// healthPath is the free health check: the resource's model list, which
// needs a valid key and costs no tokens.
func (a *azureRoutes) healthPath() string {
	if a.v1 {
		return a.path(epModels, "")
	}
	return "/openai/models?api-version=" + url.QueryEscape(a.version)
}

// body returns the request body for model: on the v1 API, with "model"
// set to its deployment when the map renames it; otherwise body itself.
func (a *azureRoutes) body(body []byte, model string) ([]byte, error) {
	if !a.v1 {
		return body, nil
	}
	d, ok := a.deployment(model)
	if !ok || d == model || gjson.GetBytes(body, "model").Str == d {
		return body, nil
	}
	return sjson.SetBytes(body, "model", d)
}

// streamUsage reports whether the API version takes stream_options.
func (a *azureRoutes) streamUsage() bool {
	return a.v1 || a.version >= azureUsageSince
}

// models returns the models the provider serves, without I/O: the public
// names of its deployments, or its configured models that are not globs.
// (Azure's own model list names the models a resource may deploy, not its
// deployments.)
func (a *azureRoutes) models(owner string) []llmproxy.Model {
	out := make([]llmproxy.Model, len(a.listed))
	for i, m := range a.listed {
		out[i] = llmproxy.Model{ID: m, Object: "model", OwnedBy: owner}
	}
	return out
}

// azureContentFilter is Azure's code for a request its content filter
// blocked, and the inner error code that comes with it.
const (
	azureContentFilter   = "content_filter"
	azureResponsibleAIPV = "ResponsibleAIPolicyViolation"
)

// fixAzureError makes a content-filter refusal, which Azure answers
//
//	400 {"error":{"message":"The response was filtered due to the prompt
//	     triggering Azure OpenAI's content management policy. …",
//	     "type":null,"param":"prompt","code":"content_filter","status":400,
//	     "innererror":{"code":"ResponsibleAIPolicyViolation",
//	     "content_filter_result":{"hate":{"filtered":true,"severity":"high"},…}}}}
//
// an invalid request with code content_filter whose message names the
// categories that were filtered; retrying or failing over would only ask
// again for what the filter refused. Other errors keep the status's kind.
func fixAzureError(e *llmproxy.Error, body []byte) {
	inner := gjson.GetBytes(body, "error.innererror")
	if e.Code != azureContentFilter && inner.Get("code").Str != azureResponsibleAIPV {
		return
	}
	e.Kind = llmproxy.KindInvalidRequest
	if e.Status < 400 || e.Status > 499 {
		e.Status = 400
	}
	e.Code = azureContentFilter
	if e.Type == "" {
		e.Type = "invalid_request_error"
	}
	var hits []string
	inner.Get("content_filter_result").ForEach(func(k, v gjson.Result) bool {
		if v.Get("filtered").Bool() {
			h := k.Str
			if s := v.Get("severity").Str; s != "" {
				h += " (severity " + s + ")"
			}
			hits = append(hits, h)
		}
		return true
	})
	msg := "Azure OpenAI's content filter blocked the request"
	if len(hits) > 0 {
		msg += " (filtered: " + strings.Join(hits, ", ") + ")"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	e.Message = msg
}
