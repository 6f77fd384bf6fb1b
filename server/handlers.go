package server

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/llmproxy/llmproxy"
)

// readJSONBody reads a request body of at most s.maxBody bytes that must
// be JSON. It writes the error answer itself and returns ok false on failure.
func (s *server) readJSONBody(w http.ResponseWriter, r *http.Request) (body []byte, ok bool) {
	// The usual value needs no parsing (which allocates its parameters).
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "text/plain") {
			writeError(w, &llmproxy.Error{
				Kind: llmproxy.KindInvalidRequest, Status: http.StatusUnsupportedMediaType,
				Code: "unsupported_media_type", Message: "the request body must be JSON: send Content-Type: application/json (with curl: -H 'Content-Type: application/json'); got Content-Type: " + ct,
			})
			return nil, false
		}
	}
	body, err := readBody(w, r, s.maxBody)
	if err != nil {
		if isMaxBytesError(err) {
			writeError(w, &llmproxy.Error{
				Kind: llmproxy.KindInvalidRequest, Status: http.StatusRequestEntityTooLarge,
				Code: "request_too_large", Message: "the request body is larger than the limit of " + humanBytes(s.maxBody),
			})
		} else {
			writeError(w, &llmproxy.Error{Kind: llmproxy.KindCanceled, Message: "could not read the request body", Err: err})
		}
		return nil, false
	}
	if len(body) == 0 {
		writeError(w, &llmproxy.Error{Kind: llmproxy.KindInvalidRequest, Code: "invalid_json", Message: "the request body is empty; send a JSON object"})
		return nil, false
	}
	return body, true
}

// readBody reads a request body of at most limit bytes. A body of known
// length is read into one buffer of that size; a body over the limit is an
// *http.MaxBytesError, found before reading when its length is known.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	n := r.ContentLength
	if n > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	if n < 0 {
		return io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.Body, b); err != nil {
		return nil, err
	}
	return b, nil
}

func (s *server) chat(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readJSONBody(w, r)
	if !ok {
		return
	}
	// The request and the answer pass through as bytes: ReadChatRequest
	// and the raw methods read only what the proxy needs of them.
	req, err := llmproxy.ReadChatRequest(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ri := info(r.Context())
	ri.model = req.Model
	if req.Stream {
		st, err := s.p.ChatCompletionStreamRaw(r.Context(), req)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		defer st.Close()
		writeStream(w, st, emptyRawChatChunk)
		s.streamed(r, st.ProxyInfo(), st.Usage(), st.Err())
		return
	}
	ans, err := s.p.ChatCompletionRaw(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.done(r, ans.ProxyInfo, ans.Usage)
	writeAnswer(w, ans.Body, nil, ans.ProxyInfo)
}

func (s *server) completions(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readJSONBody(w, r)
	if !ok {
		return
	}
	req, err := llmproxy.ParseCompletionRequest(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	info(r.Context()).model = req.Model
	if req.Stream {
		st, err := s.p.CompletionStream(r.Context(), req)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		defer st.Close()
		writeStream(w, st, emptyCompletionChunk)
		s.streamed(r, st.ProxyInfo(), st.Usage(), st.Err())
		return
	}
	resp, err := s.p.Completion(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.done(r, resp.ProxyInfo, resp.Usage)
	writeAnswer(w, resp.Raw(), resp, resp.ProxyInfo)
}

func (s *server) embeddings(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readJSONBody(w, r)
	if !ok {
		return
	}
	req, err := llmproxy.ParseEmbeddingRequest(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	info(r.Context()).model = req.Model
	resp, err := s.p.Embeddings(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.done(r, resp.ProxyInfo, resp.Usage)
	writeAnswer(w, resp.Raw(), resp, resp.ProxyInfo)
}

func (s *server) models(w http.ResponseWriter, r *http.Request) {
	list, err := s.p.Models(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeAnswer(w, nil, list, nil)
}

func (s *server) providers(w http.ResponseWriter, r *http.Request) {
	writeAnswer(w, nil, map[string]any{"providers": s.p.Providers()}, nil)
}

// metrics answers the Prometheus text format by default, and the JSON
// performance summary (see metricsSummary) for ?format=json or a client
// that prefers application/json in its Accept header.
func (s *server) metrics(w http.ResponseWriter, r *http.Request) {
	asJSON, err := wantsJSONMetrics(r)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Add("Vary", "Accept")
	if asJSON {
		writeAnswer(w, nil, s.summary(), nil)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	writePrometheusText(w, s.p.Metrics())
}

// healthAnswer is the body of GET /health.
type healthAnswer struct {
	// Status is "healthy" when every active provider is, "degraded" when
	// some provider can serve but not every one is healthy, and
	// "unhealthy" (answered 503) when none can serve; "shutting_down"
	// (answered 503) once the instance is stopping (see Drain).
	Status  string `json:"status"`
	App     string `json:"app"`
	Version string `json:"version,omitempty"`
	// Active counts the providers that are enabled and have their key;
	// Available those of them that can serve (not unhealthy).
	Active    int `json:"providers_active"`
	Available int `json:"providers_available"`
	// Providers is the status of each active provider.
	Providers []providerStatus `json:"providers"`
	// Redis is the state of the Redis server of the shared rate limits,
	// when redis_url is set. An outage does not make the proxy unhealthy:
	// it goes on with per-replica limits (or, fail-closed, refuses the
	// rate-limited endpoints) and recovers by itself.
	Redis *redisHealth `json:"redis,omitempty"`
}

// providerStatus is one provider's line of GET /health: the status only,
// since the endpoint needs no key (GET /providers has the details).
type providerStatus struct {
	Name    string                `json:"name"`
	Status  llmproxy.HealthStatus `json:"status"`
	Reason  string                `json:"reason,omitempty"`
	Since   time.Time             `json:"since"`
	Breaker llmproxy.BreakerState `json:"breaker"`
}

// health answers 200 while at least one provider can serve and 503 when
// none can: no provider is active, or every one is unhealthy (its breaker
// open or its health check failing), and 503 with status "shutting_down"
// once Drain was called. It needs no key.
func (s *server) health(w http.ResponseWriter, r *http.Request) {
	cfg := s.p.Config()
	if s.draining.Load() {
		// Shutting down (see Drain): out of rotation, whatever the providers.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(healthAnswer{Status: "shutting_down", App: cfg.AppName,
			Version: cfg.AppVersion, Providers: []providerStatus{}})
		return
	}
	hs := s.p.Health()
	ans := healthAnswer{Status: "healthy", App: cfg.AppName, Version: cfg.AppVersion,
		Active: len(hs), Providers: make([]providerStatus, 0, len(hs)),
		Redis: s.limits.health(r.Context(), cfg)}
	for _, h := range hs {
		if h.CanServe() {
			ans.Available++
		}
		if h.Status != llmproxy.HealthHealthy {
			ans.Status = "degraded"
		}
		ans.Providers = append(ans.Providers, providerStatus{
			Name: h.Name, Status: h.Status, Reason: h.Reason, Since: h.Since, Breaker: h.Breaker,
		})
	}
	w.Header().Set("Content-Type", "application/json")
	if ans.Available == 0 {
		ans.Status = "unhealthy"
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(ans)
}

// fail records err for the access log and answers it.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := llmproxy.AsError(err)
	ri := info(r.Context())
	ri.errKind = e.Kind.String()
	if e.Provider != "" {
		ri.provider = e.Provider
	}
	writeError(w, e)
}

// done records a successful answer for the access log.
func (s *server) done(r *http.Request, pi *llmproxy.ProxyInfo, u *llmproxy.Usage) {
	ri := info(r.Context())
	if pi != nil {
		ri.provider, ri.attempts, ri.cost = pi.Provider, pi.AttemptNumber, pi.CostUSD
	}
	ri.usage = u
}

// streamed records a finished stream for the access log, with its time to
// first token: the ResponseTime of a stream's ProxyInfo, taken at its
// commit point.
func (s *server) streamed(r *http.Request, pi *llmproxy.ProxyInfo, u *llmproxy.Usage, err error) {
	s.done(r, pi, u)
	ri := info(r.Context())
	if pi != nil {
		ri.stream, ri.ttft = true, pi.ResponseTime
	}
	if err != nil {
		ri.errKind = llmproxy.AsError(err).Kind.String()
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
