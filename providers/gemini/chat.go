package gemini

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/llmproxy/llmproxy"
)

// ChatCompletion translates req into a Gemini request (see the package
// documentation), sends it to POST models/{model}:generateContent and
// translates the answer back. req is never modified. A request Gemini
// cannot express is a KindInvalidRequest error and is not sent; Gemini's
// own errors are translated by status (see Errors in the package
// documentation); an answer that is not a usable JSON answer, or is larger
// than 32 MiB, is KindUnavailable.
func (p *Provider) ChatCompletion(ctx context.Context, req *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error) {
	path, body, err := p.chatBody(req)
	if err != nil {
		return nil, err
	}
	var r generateResponse
	if err := p.call(ctx, http.MethodPost, path+":generateContent", body, &r); err != nil {
		return nil, err
	}
	if r.Error != nil {
		return nil, p.streamError(r.Error)
	}
	resp, err := toChatResponse(&r, req.Model, choices(req), time.Now().Unix(), newID())
	if err != nil {
		return nil, p.up.InvalidAnswer(err)
	}
	return resp, nil
}

// chatBody returns the model's path and the encoded Gemini request of req.
func (p *Provider) chatBody(req *llmproxy.ChatRequest) (path string, body []byte, err error) {
	if path, err = modelPath(req.Model); err != nil {
		return "", nil, p.withProvider(err)
	}
	gr, err := toGenerateRequest(req)
	if err != nil {
		return "", nil, p.withProvider(err)
	}
	body, err = p.up.Encode(gr)
	return path, body, err
}

// choices returns the number of choices req asks for.
func choices(req *llmproxy.ChatRequest) int {
	if req.N != nil && *req.N > 1 {
		return min(*req.N, maxCandidates)
	}
	return 1
}

// newID returns a completion id for an answer whose upstream named none.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "chatcmpl-" + hex.EncodeToString(b[:])
}
