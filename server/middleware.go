package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/front/messages"
)

// requestInfo collects what the access log reports about a request. The
// middleware creates it; handlers fill in what they learn.
type requestInfo struct {
	id    string
	keyID string
	// key is the client key's name (keys), or its key id (api_keys);
	// ctx is the request's context after auth, which carries it.
	key      string
	ctx      context.Context
	cost     *float64
	model    string
	provider string
	attempts int
	errKind  string
	usage    *llmproxy.Usage
	// stream is set for a committed stream; ttft is then its time to the
	// first content (its commit point), in seconds.
	stream bool
	ttft   float64
}

type infoKey struct{}

func info(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(infoKey{}).(*requestInfo)
	if ri == nil {
		ri = &requestInfo{}
	}
	return ri
}

// maxRequestIDLen bounds a client-supplied X-Request-ID.
const maxRequestIDLen = 128

// requestID returns r's X-Request-ID when it is sane, or a new id.
func requestID(r *http.Request) string {
	if id := r.Header.Get(headerRequestID); validRequestID(id) {
		return id
	}
	return llmproxy.NewRequestID()
}

// observe tags every request with an id and writes its access log line
// once it is served. The id is a sane X-Request-ID from the client or a new
// one; it goes into the context for the proxy and into the response's
// X-Request-ID header. The request's requestInfo is in the context for the
// handlers to fill in.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r)
		ri := &requestInfo{id: id}
		ctx := context.WithValue(llmproxy.WithRequestID(r.Context(), id), infoKey{}, ri)
		ctx, span := s.startSpan(ctx, r) // nil unless tracing (tracing.go)
		w.Header().Set(headerRequestID, id)
		sw := &statusWriter{ResponseWriter: w, ri: ri}
		next.ServeHTTP(sw, r.WithContext(ctx))
		s.countRefused(r, ri, sw)
		if e := sw.err; e != nil {
			if ri.errKind == "" {
				ri.errKind = e.Kind.String() // an error written by writeError, not fail
			}
			if e.Provider != "" && ri.attempts == 0 {
				ri.provider, ri.attempts = e.Provider, e.Attempts
			}
		}
		endSpan(span, r, ri, sw.status)
		s.accessLog(ctx, r, ri, sw.status, start)
	})
}

// countRefused counts in llmproxy_requests_total a request to an inference
// endpoint that was refused before the proxy routed it (the proxy counts
// those it routes): answered with an error before its body was parsed,
// which is when the handlers learn the model (requestInfo.model).
func (s *server) countRefused(r *http.Request, ri *requestInfo, sw *statusWriter) {
	if sw.status < 400 || ri.model != "" || r.Method != http.MethodPost {
		return
	}
	endpoint := ""
	switch r.URL.Path {
	case "/v1/chat/completions":
		endpoint = endpointChat
	case "/v1/completions":
		endpoint = endpointCompletions
	case "/v1/embeddings":
		endpoint = endpointEmbeddings
	case "/v1/responses":
		endpoint = endpointResponses
	case pathMessages:
		endpoint = messages.EndpointMessages
	case pathCountTokens:
		endpoint = messages.EndpointCountTokens
	default:
		return
	}
	e := sw.err
	if e == nil { // not written by writeError
		e = &llmproxy.Error{Kind: llmproxy.KindFromStatus(sw.status), Status: sw.status}
	}
	s.p.RecordRefused(endpoint, e)
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// statusWriter records the status a handler wrote and the error that
// writeError answered, if any.
type statusWriter struct {
	http.ResponseWriter
	status int
	err    *llmproxy.Error
	// format is the route's error format (see withFormat); zero: OpenAI's.
	format errorFormat
	ri     *requestInfo
}

// errorWriter is a ResponseWriter that keeps the error writeError answers
// with (statusWriter), for the metrics.
type errorWriter interface {
	setError(e *llmproxy.Error)
}

func (w *statusWriter) setError(e *llmproxy.Error) {
	if w.err == nil {
		w.err = e
	}
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		if w.ri != nil && w.ri.ctx != nil {
			setKeyLimitHeaders(w.Header(), w.ri.ctx)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (for
// flushing streams).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog writes the access log line of a request served by observe: its
// request id, key id (a hash, never the key), key name (of a key of keys;
// the key id for api_keys), method, path, model, provider, attempts,
// status, latency, a stream's time to first token (ttft_ms), tokens
// (prompt, completion, total) and cost (cost_usd, when priced). Message contents are
// never logged. It does nothing when the logger does not take Info records.
func (s *server) accessLog(ctx context.Context, r *http.Request, ri *requestInfo, status int, start time.Time) {
	if !s.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	now := time.Now() // the line's time and the end of the request
	latency := float64(now.Sub(start).Microseconds()) / 1000
	// The record goes straight to the handler, as Logger.LogAttrs would
	// send it, but with the caller's pc taken once per server rather than
	// by runtime.Callers on every line (BenchmarkAccessLog): handlers that
	// add the source still name accessLog. The five attributes every line
	// has fill the record's inline room; the others are added in one
	// call, one allocation.
	rec := slog.NewRecord(now, slog.LevelInfo, "request", s.accessLogPC())
	rec.AddAttrs(
		slog.String("request_id", ri.id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Float64("latency_ms", latency))
	var more [11]slog.Attr
	attrs := more[:0]
	if ri.keyID != "" {
		attrs = append(attrs, slog.String("key_id", ri.keyID))
	}
	if ri.key != "" {
		attrs = append(attrs, slog.String("key", ri.key))
	}
	if ri.model != "" {
		attrs = append(attrs, slog.String("model", ri.model))
	}
	if ri.provider != "" {
		attrs = append(attrs, slog.String("provider", ri.provider), slog.Int("attempts", ri.attempts))
	}
	if ri.errKind != "" {
		attrs = append(attrs, slog.String("error_kind", ri.errKind))
	}
	if ri.stream {
		attrs = append(attrs, slog.Float64("ttft_ms", math.Round(ri.ttft*1e6)/1e3))
	}
	if u := ri.usage; u != nil {
		total := u.TotalTokens
		if total == 0 {
			total = u.PromptTokens + u.CompletionTokens
		}
		attrs = append(attrs, slog.Int("prompt_tokens", u.PromptTokens),
			slog.Int("completion_tokens", u.CompletionTokens), slog.Int("total_tokens", total))
	}
	if ri.cost != nil {
		attrs = append(attrs, slog.Float64("cost_usd", *ri.cost))
	}
	rec.AddAttrs(attrs...)
	_ = s.log.Handler().Handle(ctx, rec)
}

// accessLogPC returns a program counter in accessLog, the source of its
// log lines (slog.Record.PC), found on the first call.
//
//go:noinline
func (s *server) accessLogPC() uintptr {
	if pc := s.logPC.Load(); pc != 0 {
		return pc
	}
	var pcs [1]uintptr
	runtime.Callers(2, pcs[:]) // skip runtime.Callers and accessLogPC
	s.logPC.Store(pcs[0])
	return pcs[0]
}

// recover turns a panic in a handler into a 500 in the route's error
// envelope (see errorFormat) and a log line with the request id, and keeps
// the server serving. A panic after a stream was committed (its 200 and
// some chunks sent) ends it with the error frame of a failed stream
// instead (no [DONE] or other clean end), so that no client takes the cut
// answer for a whole one.
func (s *server) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			info(r.Context()).errKind = llmproxy.KindInternal.String()
			s.log.Error("panic in handler", "request_id", w.Header().Get(headerRequestID),
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			e := &llmproxy.Error{Kind: llmproxy.KindInternal, Message: "internal error"}
			if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
				// The answer is under way: its status and headers are
				// gone. Only a stream can still say that it failed.
				if strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream") {
					_, _ = w.Write(formatOf(w).frame(e))
					_ = http.NewResponseController(w).Flush()
				}
				return
			}
			writeError(w, e)
		}()
		next.ServeHTTP(w, r)
	})
}

// cors answers preflights and sets the CORS headers for allowed origins,
// taken from the proxy's current configuration.
func (s *server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		cfg := s.p.Config()
		if !setCORS(w.Header(), origin, cfg.CORSOrigins) {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h := w.Header()
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID, "+cfg.APIKeyHeader)
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// setCORS sets the CORS headers of an answer to a request from origin when
// allowed lists it (or "*"), and reports whether it did.
func setCORS(h http.Header, origin string, allowed []string) bool {
	allowAny := slices.Contains(allowed, "*")
	if !allowAny && !slices.Contains(allowed, origin) {
		return false
	}
	h.Add("Vary", "Origin")
	if allowAny {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	h.Set("Access-Control-Expose-Headers", "X-Request-ID, X-LLMProxy-Provider, X-LLMProxy-Attempt, X-LLMProxy-Model, X-LLMProxy-Dropped-Tools, Retry-After, "+
		"X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, "+
		"X-RateLimit-Limit-Tokens, X-RateLimit-Remaining-Tokens, X-RateLimit-Reset-Tokens")
	return true
}

// auth checks the client's key when the configuration lists keys (api_keys
// or keys). The key may come in the configured header or as
// "Authorization: Bearer <key>", and on the Messages front's routes also in
// x-api-key, where Anthropic's clients send it. Every key of api_keys is
// compared, in constant time, so that the time taken says nothing about
// which key nearly matched; the keys of keys are looked up by their
// SHA-256. The key id of an accepted key (for the access log and the rate
// limits) comes from s.keyIDs. The request's context then names the key
// (llmproxy.WithClient): the name of a key of keys, whose policy the proxy
// applies, or the key id of a key of api_keys.
func (s *server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cfg := s.p.Config()
		if !cfg.AuthEnabled() {
			next.ServeHTTP(w, r)
			return
		}
		key := r.Header.Get(s.keyHeader.canonical(cfg.APIKeyHeader))
		if key == "" && strings.HasPrefix(r.URL.Path, pathMessages) {
			key = r.Header.Get("X-Api-Key") // as Anthropic's clients send it
		}
		if key == "" {
			if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
				key = strings.TrimSpace(v)
			}
		}
		if key == "" {
			writeError(w, &llmproxy.Error{
				Kind: llmproxy.KindUnauthorized, Code: "missing_api_key",
				Message: "no API key provided: send it as \"Authorization: Bearer <key>\" or in the " + cfg.APIKeyHeader + " header",
			})
			return
		}
		match := 0
		for _, k := range cfg.APIKeys {
			match |= subtle.ConstantTimeCompare([]byte(k), []byte(key))
		}
		name, named := s.p.AuthenticateKey(key)
		if match != 1 && !named {
			writeError(w, &llmproxy.Error{
				Kind: llmproxy.KindUnauthorized, Code: "invalid_api_key",
				Message: "invalid API key provided",
			})
			return
		}
		ri := info(r.Context())
		ri.keyID = s.keyIDs.get(key, len(cfg.APIKeys)+len(cfg.Keys))
		if !named {
			name = ri.keyID
		}
		ri.key = name
		ri.ctx = llmproxy.WithClient(r.Context(), name)
		next.ServeHTTP(w, r.WithContext(ri.ctx))
	})
}

// keyID is a short, non-reversible name for a client key, for logs.
func keyID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "key_" + hex.EncodeToString(sum[:4])
}

// minKeyIDCache is the number of key ids a keyIDCache holds at least
// before it starts over.
const minKeyIDCache = 1024

// keyIDCache remembers the keyID of the client keys that auth accepted, so
// that a request does not hash its key. Only keys that matched a configured
// key enter it, so that clients sending made-up keys cannot grow it; and it
// starts over when it holds more than max(minKeyIDCache, 2 × the configured
// keys), which bounds the keys of past configurations. It is safe for
// concurrent use; the zero value is ready.
type keyIDCache struct {
	ids sync.Map // key -> keyID
	n   atomic.Int64
}

// get returns keyID(key) for an accepted key; configured is the number of
// configured keys.
func (c *keyIDCache) get(key string, configured int) string {
	if id, ok := c.ids.Load(key); ok {
		return id.(string)
	}
	id := keyID(key)
	if _, loaded := c.ids.LoadOrStore(strings.Clone(key), id); !loaded {
		if c.n.Add(1) > int64(max(minKeyIDCache, 2*configured)) {
			c.ids.Clear()
			c.n.Store(0)
		}
	}
	return id
}

// canonicalName holds a header name and its canonical form (see
// http.CanonicalHeaderKey), converted once rather than by every
// Header.Get: the configured api_key_header ("X-API-Key" by default) is
// not canonical, and converting it costs an allocation per request
// (BenchmarkServerChat). It is safe for concurrent use; the zero value is
// ready.
type canonicalName struct {
	cur atomic.Pointer[[2]string] // name, canonical form
}

// canonical returns the canonical form of name, converting it only when it
// differs from the last one (after a reload).
func (c *canonicalName) canonical(name string) string {
	if p := c.cur.Load(); p != nil && p[0] == name {
		return p[1]
	}
	p := &[2]string{name, http.CanonicalHeaderKey(name)}
	c.cur.Store(p)
	return p[1]
}

// isMaxBytesError reports whether err comes from http.MaxBytesReader.
func isMaxBytesError(err error) bool {
	_, ok := errors.AsType[*http.MaxBytesError](err)
	return ok
}
