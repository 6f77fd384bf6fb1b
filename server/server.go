// Package server mounts an llmproxy.Proxy as a plain net/http handler with
// the OpenAI-compatible endpoints and the proxy's operational endpoints:
//
//	POST /v1/chat/completions   POST /v1/completions   POST /v1/embeddings
//	POST /v1/responses          GET, DELETE /v1/responses/{id}
//	GET  /v1/models             GET  /providers        GET  /metrics
//	GET  /health                GET  /livez
//	GET  /v1/key                GET  /admin/keys
//
// and the Anthropic Messages front (package front/messages):
//
//	POST /v1/messages           POST /v1/messages/count_tokens
//
// The handler authenticates clients (the configured header or
// "Authorization: Bearer"), rate-limits them (per client and endpoint, in
// memory or shared by the replicas through Redis), limits body sizes, answers CORS preflights,
// recovers panics, tags every request with an id (X-Request-ID, honoured or
// generated) and writes one access log line per request. With max_inflight
// it sheds the inference requests over the limit before all of that (see
// Options.MaxInflight). Every error is the OpenAI envelope
// {"error":{"message","type","param","code"}}, except on the Messages
// front's routes, which answer in Anthropic's
// {"type":"error","error":{"type","message"}}.
//
// Mount it in an existing mux at the root of its paths:
//
//	mux.Handle("/", server.Handler(p, server.Options{}))
//
// or under a prefix with http.StripPrefix.
package server

import (
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/front/responses"
)

// DefaultMaxBodyBytes is the default limit of a request body: 10 MiB.
const DefaultMaxBodyBytes = 10 << 20

// Options configures the handler. The zero value is ready to use: auth keys,
// key header and CORS origins come from the proxy's configuration, which
// keeps them current across reloads.
type Options struct {
	// Logger receives the access log and handler errors; nil means the
	// proxy's logger.
	Logger *slog.Logger
	// MaxBodyBytes limits a request body; 0 means DefaultMaxBodyBytes.
	// Larger bodies are answered 413.
	MaxBodyBytes int64
	// MaxInflight bounds the POST /v1/* requests served at once; the
	// others are answered 503 with Retry-After (see Config.MaxInflight).
	// 0 means the proxy's max_inflight, read when the handler is built;
	// a negative value switches the limit off.
	//
	// The limit is checked before anything else, so that a shed request
	// costs as little as possible while the proxy is overloaded: it is
	// neither authenticated nor rate limited (a client without a valid key
	// gets the 503 too), and it writes no access log line. Instead the
	// handler logs one "requests shed" warning with their count at most
	// once a second while it sheds; llmproxy_requests_shed_total counts
	// them too.
	MaxInflight int
}

// Handler returns an http.Handler serving p. It is safe for concurrent use.
//
// The handler rate-limits clients as p's configuration says (rate_limit_*,
// in memory or in Redis with redis_url) and holds the limiters, built on
// first use. The returned value implements io.Closer: close it after the
// HTTP server has shut down to release them (their goroutines and Redis
// connection).
func Handler(p *llmproxy.Proxy, opts Options) http.Handler {
	s := &server{p: p, log: opts.Logger, maxBody: opts.MaxBodyBytes}
	if s.log == nil {
		s.log = p.Logger()
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if opts.MaxInflight == 0 {
		opts.MaxInflight = p.Config().MaxInflight
	}
	s.inflight = newInflightLimiter(opts.MaxInflight, p.Metrics(), s.log)
	s.limits = newRateLimits(p, s.log)
	mux := http.NewServeMux()
	mux.Handle("/v1/chat/completions", only(http.MethodPost, s.auth(s.rateLimit(endpointChat, http.HandlerFunc(s.chat)))))
	mux.Handle("/v1/completions", only(http.MethodPost, s.auth(s.rateLimit(endpointCompletions, http.HandlerFunc(s.completions)))))
	mux.Handle("/v1/embeddings", only(http.MethodPost, s.auth(s.rateLimit(endpointEmbeddings, http.HandlerFunc(s.embeddings)))))
	// The Responses front (see responses.go).
	front := responses.New(p, responses.Options{Logger: s.log})
	mux.Handle("/v1/responses", withFormat(responsesFormat, only(http.MethodPost, s.auth(s.rateLimit(endpointResponses, s.createResponse(front))))))
	mux.Handle("/v1/responses/{id}", withFormat(responsesFormat, s.auth(s.rateLimit(endpointResponse, s.responseByID(front)))))
	// The Anthropic Messages front (see messages.go).
	mux.Handle("/v1/messages", s.messagesRoute(s.messages))
	mux.Handle("/v1/messages/count_tokens", s.messagesRoute(s.countTokens))
	mux.Handle("/v1/models", only(http.MethodGet, s.auth(s.rateLimit(endpointModels, http.HandlerFunc(s.models)))))
	mux.Handle("/providers", only(http.MethodGet, s.auth(http.HandlerFunc(s.providers))))
	mux.Handle("/metrics", only(http.MethodGet, s.auth(http.HandlerFunc(s.metrics))))
	mux.Handle("/health", only(http.MethodGet, http.HandlerFunc(s.health)))
	// Team keys (keys.go).
	mux.Handle("/v1/key", only(http.MethodGet, s.auth(http.HandlerFunc(s.key))))
	mux.Handle("/admin/keys", only(http.MethodGet, s.auth(http.HandlerFunc(s.adminKeys))))
	// Liveness (deployment): 200 while the process serves HTTP, whatever
	// the providers; no key, no work. /health is the readiness check.
	mux.Handle("/livez", only(http.MethodGet, http.HandlerFunc(live)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &llmproxy.Error{
			Kind: llmproxy.KindNotFound, Status: http.StatusNotFound, Type: "invalid_request_error",
			Code: "unknown_url", Message: "unknown request URL: " + r.Method + " " + r.URL.Path,
		})
	})
	// shed comes first, so that a request over max_inflight costs next to
	// nothing; recover sits inside observe so that a panicked request still
	// gets its access log line (status 500).
	return &handler{Handler: s.shed(s.observe(s.recover(s.cors(mux)))), limits: s.limits, inflight: s.inflight, draining: &s.draining}
}

// server holds what the handlers share.
type server struct {
	p       *llmproxy.Proxy
	log     *slog.Logger
	maxBody int64
	// inflight sheds POST /v1/* requests over max_inflight; nil: no limit.
	inflight *inflightLimiter
	// limits are the clients' rate limits.
	limits *rateLimits
	// keyIDs caches the key ids of accepted client keys.
	keyIDs keyIDCache
	// trusted caches the parsed trusted_proxies.
	trusted trustedProxies
	// keyHeader caches the canonical api_key_header.
	keyHeader canonicalName
	// draining is set by Drain (graceful shutdown): GET /health fails.
	draining atomic.Bool
	// logPC is the source of the access log's lines (accessLogPC).
	logPC atomic.Uintptr
}

// only answers 405 in the OpenAI envelope to methods other than method
// (and lets CORS preflights through to the CORS middleware, which answers
// them before this point).
func only(method string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			writeError(w, &llmproxy.Error{
				Kind: llmproxy.KindInvalidRequest, Status: http.StatusMethodNotAllowed,
				Code: "method_not_allowed", Message: r.Method + " is not allowed on " + r.URL.Path + "; use " + method,
			})
			return
		}
		h.ServeHTTP(w, r)
	})
}
