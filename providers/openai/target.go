package openai

import (
	"errors"

	"github.com/llmproxy/llmproxy"
)

// The endpoints of the OpenAI format, as paths below a base URL.
const (
	epChat        = "/chat/completions"
	epCompletions = "/completions"
	epEmbeddings  = "/embeddings"
	epModels      = "/models"
)

// target returns where a request to endpoint ep for model goes, as a path
// (and query) below the base URL, and the body to send: body as it is, or
// a copy edited for the upstream (a chat body by the flavor's fixBody, any
// body of an Azure v1 provider whose deployments rename model). body is
// never modified. An error is an *llmproxy.Error.
func (p *Provider) target(ep, model string, body []byte) (string, []byte, error) {
	path := ep
	if ep == epChat {
		path = p.flavor.chatPath
	}
	if p.azure != nil {
		path = p.azure.path(ep, model)
	}
	if body == nil {
		return path, nil, nil
	}
	var err error
	if ep == epChat && p.flavor.fixBody != nil {
		if body, err = p.flavor.fixBody(body); err != nil {
			return "", nil, p.bodyFailure(err)
		}
	}
	if p.azure != nil {
		if body, err = p.azure.body(body, model); err != nil {
			return "", nil, p.bodyFailure(err)
		}
	}
	return path, body, nil
}

// bodyFailure is the error of a body fix: an *llmproxy.Error as it is
// (named after the provider), anything else an encoding failure.
func (p *Provider) bodyFailure(err error) *llmproxy.Error {
	if e, ok := errors.AsType[*llmproxy.Error](err); ok {
		cp := *e
		cp.Provider = p.name
		return &cp
	}
	return p.encodeFailure(err)
}

// healthPath is the path of the free health check.
func (p *Provider) healthPath() string {
	if p.azure != nil {
		return p.azure.healthPath()
	}
	return p.flavor.healthPath
}
