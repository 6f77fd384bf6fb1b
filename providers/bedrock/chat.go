package bedrock

import (
	"context"
	"time"

	"github.com/llmproxy/llmproxy"
)

// ChatCompletion translates req into a Converse request (see the package
// documentation), sends it with the SDK and translates the answer back.
// req is never modified. A request Converse cannot express is a
// KindInvalidRequest error and is not sent; Bedrock's errors are
// classified by their AWS error code.
func (p *Provider) ChatCompletion(ctx context.Context, req *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error) {
	cr, terr := translateChat(req, p.maxTokens)
	if terr != nil {
		return nil, p.withProvider(terr)
	}
	out, err := p.client.Converse(ctx, cr.converseInput())
	if err != nil {
		return nil, p.sdkError(ctx, err)
	}
	return chatResponse(out.Output, out.StopReason, out.Usage, req.Model, requestID(out.ResultMetadata), time.Now().Unix()), nil
}
