package gemini

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/llmproxy/llmproxy"
)

const (
	// modelsPageSize is the page size asked for (Gemini's maximum).
	modelsPageSize = "1000"
	// maxModelPages bounds the pages of one model list.
	maxModelPages = 5
)

// listModelsResponse is the answer of GET models.
type listModelsResponse struct {
	Models []struct {
		Name                       string   `json:"name"`
		SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
	} `json:"models"`
	NextPageToken string `json:"nextPageToken"`
}

// ListModels returns Gemini's models that serve generateContent or
// embedContent (models whose methods are not listed are kept too), from GET
// models, following nextPageToken for at most five pages. Each model's id
// is its name without "models/"; created is 0 (Gemini does not say) and
// owned_by "google".
func (p *Provider) ListModels(ctx context.Context) ([]llmproxy.Model, error) {
	var models []llmproxy.Model
	seen := map[string]bool{}
	token := ""
	for range maxModelPages {
		q := url.Values{"pageSize": {modelsPageSize}}
		if token != "" {
			q.Set("pageToken", token)
		}
		var r listModelsResponse
		if err := p.call(ctx, http.MethodGet, "/models?"+q.Encode(), nil, &r); err != nil {
			return nil, err
		}
		for _, m := range r.Models {
			id := strings.TrimPrefix(m.Name, "models/")
			if id == "" || seen[id] || !servable(m.SupportedGenerationMethods) {
				continue
			}
			seen[id] = true
			models = append(models, llmproxy.Model{ID: id, Object: "model", OwnedBy: "google"})
		}
		if r.NextPageToken == "" || r.NextPageToken == token {
			break
		}
		token = r.NextPageToken
	}
	return models, nil
}

// servable reports whether a model with these methods can answer a request
// the proxy sends; an empty list is not known to be unservable.
func servable(methods []string) bool {
	return len(methods) == 0 || slices.Contains(methods, "generateContent") ||
		slices.Contains(methods, "embedContent") || slices.Contains(methods, "batchEmbedContents")
}

// HealthCheck asks GET models?pageSize=1, which costs no tokens and fails
// with Gemini's error when the key is not valid (KindAuth).
func (p *Provider) HealthCheck(ctx context.Context) error {
	var r listModelsResponse
	return p.call(ctx, http.MethodGet, "/models?pageSize=1", nil, &r)
}
