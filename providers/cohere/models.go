package cohere

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/llmproxy/llmproxy"
)

const (
	// modelsPath lists Cohere's models (a v1 path; there is no v2 one).
	modelsPath = "/v1/models"
	// checkKeyPath checks the key without spending tokens.
	checkKeyPath = "/v1/check-api-key"
	// modelsPageSize is the page size asked for (Cohere's maximum).
	modelsPageSize = "1000"
	// maxModelPages bounds the pages of one model list.
	maxModelPages = 5
)

// listModelsResponse is Cohere's ListModelsResponse.
type listModelsResponse struct {
	Models []struct {
		Name      string   `json:"name"`
		Endpoints []string `json:"endpoints"`
	} `json:"models"`
	NextPageToken string `json:"next_page_token"`
}

// ListModels returns Cohere's models that serve chat or embeddings (models
// whose endpoints are not listed are kept too), from GET /v1/models,
// following next_page_token for at most five pages. Each model's
// id is its Cohere name; created is 0 (Cohere does not say) and owned_by
// "cohere".
func (p *Provider) ListModels(ctx context.Context) ([]llmproxy.Model, error) {
	var models []llmproxy.Model
	seen := map[string]bool{}
	token := ""
	for page := 0; page < maxModelPages; page++ {
		q := url.Values{"page_size": {modelsPageSize}}
		if token != "" {
			q.Set("page_token", token)
		}
		var r listModelsResponse
		if err := p.call(ctx, http.MethodGet, modelsPath+"?"+q.Encode(), nil, &r); err != nil {
			return nil, err
		}
		for _, m := range r.Models {
			if m.Name == "" || seen[m.Name] || !servable(m.Endpoints) {
				continue
			}
			seen[m.Name] = true
			models = append(models, llmproxy.Model{ID: m.Name, Object: "model", OwnedBy: "cohere"})
		}
		if r.NextPageToken == "" || r.NextPageToken == token {
			break
		}
		token = r.NextPageToken
	}
	return models, nil
}

// servable reports whether a model with these endpoints can answer a
// request the proxy sends (chat or embed); an empty list is not known to
// be unservable.
func servable(endpoints []string) bool {
	return len(endpoints) == 0 || slices.Contains(endpoints, "chat") || slices.Contains(endpoints, "embed")
}

// HealthCheck asks POST /v1/check-api-key, which costs no tokens. A key
// Cohere reports as not valid ({"valid":false}) is KindAuth; any non-2xx
// answer is Cohere's error (so a revoked key is KindAuth too).
func (p *Provider) HealthCheck(ctx context.Context) error {
	var r struct {
		Valid *bool `json:"valid"`
	}
	if err := p.call(ctx, http.MethodPost, checkKeyPath, nil, &r); err != nil {
		return err
	}
	switch {
	case r.Valid == nil:
		return p.up.InvalidAnswer(errors.New("the check-api-key answer has no valid member"))
	case !*r.Valid:
		return &llmproxy.Error{Kind: llmproxy.KindAuth, Provider: p.up.Name, Message: "Cohere reports the API key as not valid"}
	}
	return nil
}
