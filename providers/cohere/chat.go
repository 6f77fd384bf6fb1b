package cohere

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/llmproxy/llmproxy"
)

// chatPath is Cohere's chat endpoint.
const chatPath = "/v2/chat"

// ChatCompletion translates req into a Cohere chat request (see the
// package documentation), sends it to POST /v2/chat and translates the
// answer back. req is never modified. A request Cohere cannot express is a
// KindInvalidRequest error and is not sent; Cohere's own errors are
// translated by status (see the package documentation); an answer that is
// not a usable JSON chat answer, or is larger than 32 MiB, is
// KindUnavailable.
func (p *Provider) ChatCompletion(ctx context.Context, req *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error) {
	cr, err := toChatRequest(req, false)
	if err != nil {
		return nil, p.withProvider(err)
	}
	body, err := p.up.Encode(cr)
	if err != nil {
		return nil, err
	}
	var r chatResponse
	if err := p.call(ctx, http.MethodPost, chatPath, body, &r); err != nil {
		return nil, err
	}
	resp, err := toChatResponse(&r, req.Model, time.Now().Unix())
	if err != nil {
		if _, ok := errors.AsType[*llmproxy.Error](err); ok {
			return nil, p.withProvider(err)
		}
		return nil, p.up.InvalidAnswer(err)
	}
	return resp, nil
}
