package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/sse"
)

// requestInfo collects what the access log reports about a request. The
// middleware creates it; handlers fill in what they learn.
type requestInfo struct {
	id       string
	keyID    string
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

// requestID honours a sane X-Request-ID from the client or makes one, puts
// it in the context for the proxy and returns it in the response header.
func (s *server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			id = llmproxy.NewRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		ri := &requestInfo{id: id}
		ctx := context.WithValue(llmproxy.WithRequestID(r.Context(), id), infoKey{}, ri)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
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

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (for
// flushing streams).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog writes one line per request: request id, key id (a hash, never
// the key), method, path, model, provider, attempts, status, latency, a
// stream's time to first token (ttft_ms) and tokens (prompt, completion,
// total). Message contents are never logged.
func (s *server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		ri := info(r.Context())
		attrs := []any{
			"request_id", ri.id, "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "latency_ms", float64(time.Since(start).Microseconds()) / 1000,
		}
		if ri.keyID != "" {
			attrs = append(attrs, "key_id", ri.keyID)
		}
		if ri.model != "" {
			attrs = append(attrs, "model", ri.model)
		}
		if ri.provider != "" {
			attrs = append(attrs, "provider", ri.provider, "attempts", ri.attempts)
		}
		if ri.errKind != "" {
			attrs = append(attrs, "error_kind", ri.errKind)
		}
		if ri.stream {
			attrs = append(attrs, "ttft_ms", math.Round(ri.ttft*1e6)/1e3)
		}
		if u := ri.usage; u != nil {
			total := u.TotalTokens
			if total == 0 {
				total = u.PromptTokens + u.CompletionTokens
			}
			attrs = append(attrs, "prompt_tokens", u.PromptTokens, "completion_tokens", u.CompletionTokens, "total_tokens", total)
		}
		s.log.InfoContext(r.Context(), "request", attrs...)
	})
}

// recover turns a panic in a handler into a 500 in the OpenAI envelope and
// a log line with the request id, and keeps the server serving. A panic
// after a stream was committed (its 200 and some chunks sent) ends it with
// the data: {"error":...} frame of a failed stream instead, without
// [DONE], so that no client takes the cut answer for a whole one.
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
			s.log.Error("panic in handler", "request_id", w.Header().Get("X-Request-ID"),
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			e := &llmproxy.Error{Kind: llmproxy.KindInternal, Message: "internal error"}
			if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
				// The answer is under way: its status and headers are
				// gone. Only a stream can still say that it failed.
				if strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream") {
					env, _ := json.Marshal(e.Envelope())
					_, _ = w.Write(sse.AppendData(nil, env))
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
		allowAny := slices.Contains(cfg.CORSOrigins, "*")
		if !allowAny && !slices.Contains(cfg.CORSOrigins, origin) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		if allowAny {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin)
		}
		h.Set("Access-Control-Expose-Headers", "X-Request-ID, X-LLMProxy-Provider, X-LLMProxy-Attempt, Retry-After, "+
			"X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID, "+cfg.APIKeyHeader)
			h.Set("Access-Control-Max-Age", strconv.Itoa(600))
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// auth checks the client's key when the configuration lists keys. The key
// may come in the configured header or as "Authorization: Bearer <key>".
// Every configured key is compared, in constant time, so that the time taken
// says nothing about which key nearly matched.
func (s *server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cfg := s.p.Config()
		if len(cfg.APIKeys) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		key := r.Header.Get(cfg.APIKeyHeader)
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
		if match != 1 {
			writeError(w, &llmproxy.Error{
				Kind: llmproxy.KindUnauthorized, Code: "invalid_api_key",
				Message: "invalid API key provided",
			})
			return
		}
		info(r.Context()).keyID = keyID(key)
		next.ServeHTTP(w, r)
	})
}

// keyID is a short, non-reversible name for a client key, for logs.
func keyID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "key_" + hex.EncodeToString(sum[:4])
}

// isMaxBytesError reports whether err comes from http.MaxBytesReader.
func isMaxBytesError(err error) bool {
	_, ok := errors.AsType[*http.MaxBytesError](err)
	return ok
}
