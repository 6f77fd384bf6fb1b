package server

import (
	"context"
	"net/http"
	"strconv"

	"github.com/llmproxy/llmproxy"
)

// key answers GET /v1/key: the calling key's name, limits, spend in the
// current budget period and what is left of its budget
// (llmproxy.KeyUsage). A key of api_keys has no policy: only its name (its
// key id) is set. Without authentication there is no key: 404.
func (s *server) key(w http.ResponseWriter, r *http.Request) {
	name := llmproxy.ClientName(r.Context())
	if name == "" {
		writeError(w, &llmproxy.Error{Kind: llmproxy.KindNotFound, Status: http.StatusNotFound, Type: "invalid_request_error",
			Code: "no_key", Message: "this request carries no client key: authentication is off (set api_keys or keys)"})
		return
	}
	u, err := s.p.KeyUsage(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeAnswer(w, nil, keyAnswer{Object: "key", KeyUsage: u}, nil)
}

// keyAnswer is the body of GET /v1/key.
type keyAnswer struct {
	Object string `json:"object"`
	llmproxy.KeyUsage
}

// adminKeys answers GET /admin/keys to the keys named in admin_keys: every
// key's limits and usage, in configuration order.
func (s *server) adminKeys(w http.ResponseWriter, r *http.Request) {
	name := llmproxy.ClientName(r.Context())
	if name == "" || !s.p.IsAdminKey(name) {
		writeError(w, &llmproxy.Error{Kind: llmproxy.KindForbidden, Code: "admin_key_required",
			Message: "GET /admin/keys needs a key named in admin_keys"})
		return
	}
	keys, err := s.p.Usage(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeAnswer(w, nil, map[string]any{"object": "list", "data": keys}, nil)
}

// setKeyLimitHeaders sets the headers of the limits of the request's key
// (see llmproxy.ClientLimits): its requests per minute in
// X-RateLimit-Limit, -Remaining and -Reset (Unix seconds) when no tighter
// limit of the server set them, and its tokens per minute in
// X-RateLimit-Limit-Tokens, -Remaining-Tokens and -Reset-Tokens.
func setKeyLimitHeaders(h http.Header, ctx context.Context) {
	l, ok := llmproxy.ClientLimits(ctx)
	if !ok {
		return
	}
	if rq := l.Requests; rq.Limit > 0 {
		if cur, err := strconv.ParseInt(h.Get(headerRateRemaining), 10, 64); err != nil || rq.Remaining < cur {
			h.Set(headerRateLimit, strconv.FormatInt(rq.Limit, 10))
			h.Set(headerRateRemaining, strconv.FormatInt(rq.Remaining, 10))
			h.Set(headerRateReset, strconv.FormatInt(unixCeil(rq.Reset), 10))
		}
	}
	if tk := l.Tokens; tk.Limit > 0 {
		h.Set(headerTokenLimit, strconv.FormatInt(tk.Limit, 10))
		h.Set(headerTokenRemaining, strconv.FormatInt(tk.Remaining, 10))
		h.Set(headerTokenReset, strconv.FormatInt(unixCeil(tk.Reset), 10))
	}
}
