package responses

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/llmproxy/llmproxy"
)

// Endpoint is the name of the front's endpoint in the proxy's metrics and
// logs.
const Endpoint = "responses"

// Native is a provider that speaks the Responses API itself (OpenAI), to
// which the front passes requests through as their bytes. The front finds
// it by type assertion on the provider's adapter; SpeaksResponses says
// whether this provider's upstream has the API (an adapter may speak the
// wire format of servers with and without it).
type Native interface {
	// SpeaksResponses reports whether the upstream serves POST /responses.
	SpeaksResponses() bool
	// ResponsesRaw sends req.Body (its model set to req.Model) and returns
	// the upstream's response object as it came, with its usage.
	ResponsesRaw(ctx context.Context, req *llmproxy.NativeRequest) (*llmproxy.RawAnswer, error)
	// ResponsesStreamRaw sends req.Body as a streamed request and returns
	// the upstream's events as they came: each RawChunk has the event's
	// name, its data, Content set from the first event that shows
	// something (output text, a function call, a refusal, …), Final and
	// Usage on response.completed and response.incomplete. A
	// response.failed or error event is the stream's error.
	ResponsesStreamRaw(ctx context.Context, req *llmproxy.NativeRequest) (llmproxy.ChunkReader[*llmproxy.RawChunk], error)
}

// Options configures a Front. The zero value is ready to use.
type Options struct {
	// Store keeps the responses served; nil means the proxy's Redis server
	// when its configuration has a redis_url (shared by the replicas),
	// else memory bounded by responses_store_size, both for
	// responses_store_ttl.
	Store Store
	// Logger gets the front's notes (tools dropped in translation, store
	// failures); nil means the proxy's logger.
	Logger *slog.Logger
}

// Front serves the OpenAI Responses API through a Proxy: it routes each
// request like a chat request (priority, health, retries, failover,
// breakers, limits, metrics under the endpoint "responses"), passes it
// through as bytes to providers that speak the API (Native), and
// translates it to chat for every other provider. It stores the responses
// it serves (unless the request says "store": false) so that a later
// request can continue one with previous_response_id, on any provider and
// any replica sharing the store.
//
// previous_response_id is resolved by the front: the stored conversation
// (the earlier items, inputs and outputs) is put before the new input, and
// the upstream gets the whole conversation, except when the response was
// produced by the very provider now chosen, through the Responses API,
// with storing on: then the id passes through unchanged and the upstream
// uses its own state (reasoning included). A Front is safe for concurrent
// use.
type Front struct {
	p    *llmproxy.Proxy
	opts Options
	log  *slog.Logger
	now  func() time.Time

	memOnce sync.Once
	mem     *MemoryStore
	redisMu sync.Mutex
	redis   *RedisStore
	redisOf any // the connection redis was made for
}

// New returns a Front serving p.
func New(p *llmproxy.Proxy, opts Options) *Front {
	log := opts.Logger
	if log == nil {
		log = p.Logger()
	}
	return &Front{p: p, opts: opts, log: log, now: time.Now}
}

// Store returns the store the front uses now (see Options.Store).
func (f *Front) Store() Store {
	if f.opts.Store != nil {
		return f.opts.Store
	}
	cfg := f.p.Config()
	if url := cfg.RedisURL.Reveal(); url != "" {
		if r := f.p.SharedRedis(url); r != nil {
			f.redisMu.Lock()
			defer f.redisMu.Unlock()
			if f.redisOf != any(r) {
				f.redis, f.redisOf = NewRedisStore(r.Client(), r.KeyPrefix(), storeTTL(cfg)), r
			}
			return f.redis
		}
	}
	f.memOnce.Do(func() { f.mem = NewMemoryStore(storeSize(cfg), storeTTL(cfg)) })
	return f.mem
}

func storeTTL(cfg llmproxy.Config) time.Duration {
	if cfg.ResponsesStoreTTL > 0 {
		return cfg.ResponsesStoreTTL
	}
	return llmproxy.DefaultResponsesStoreTTL
}

func storeSize(cfg llmproxy.Config) int {
	if cfg.ResponsesStoreSize > 0 {
		return cfg.ResponsesStoreSize
	}
	return llmproxy.DefaultResponsesStoreSize
}

// Answer is a whole response.
type Answer struct {
	// RawAnswer holds the response object (Body), its usage and the
	// provider that answered (ProxyInfo).
	*llmproxy.RawAnswer
	// DroppedTools names the tools of the request that the provider could
	// not run and the translation left out; nil when the request passed
	// through or dropped nothing.
	DroppedTools []string
}

// call is what one request's attempts share.
type call struct {
	f     *Front
	req   *Request
	prior []json.RawMessage // the stored conversation of previous_response_id
	prev  *Record
	items []json.RawMessage // this request's input items
	id    string            // the id of a translated response
	start time.Time

	wire    *wireRequest // decoded on the first translation
	wireErr error

	// Set by the attempt that answered (attempts are sequential).
	native  bool
	dropped []string
}

// newCall reads what the attempts of req need: the stored conversation of
// its previous_response_id (a 404 error when the store has none) and its
// input items.
func (f *Front) newCall(ctx context.Context, req *Request) (*call, error) {
	c := &call{f: f, req: req, id: newID("resp"), start: f.now()}
	var err error
	if c.items, err = inputItems(json.RawMessage(gjson.GetBytes(req.Body, "input").Raw)); err != nil {
		return nil, err
	}
	if req.PreviousResponseID == "" {
		return c, nil
	}
	rec, err := f.Store().Get(ctx, req.PreviousResponseID)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, &llmproxy.Error{Kind: llmproxy.KindNotFound, Status: http.StatusNotFound, Type: "invalid_request_error",
			Param: "previous_response_id", Code: "previous_response_not_found",
			Message: "Previous response with id '" + req.PreviousResponseID + "' not found."}
	case err != nil:
		return nil, &llmproxy.Error{Kind: llmproxy.KindUnavailable, Status: http.StatusServiceUnavailable,
			Message: "the store of responses is not available; previous_response_id cannot be read", Err: err}
	}
	c.prev, c.prior = rec, rec.Items
	return c, nil
}

// nativeOf returns the provider of t as a Native that speaks the
// Responses API, or nil.
func nativeOf(t llmproxy.Target) Native {
	if n, ok := t.Provider.(Native); ok && n.SpeaksResponses() {
		return n
	}
	return nil
}

// nativeRequest is the request for a Native target: the client's bytes,
// unless previous_response_id must be resolved here (see Front).
func (c *call) nativeRequest(t llmproxy.Target) (*llmproxy.NativeRequest, error) {
	body := c.req.Body
	if c.prev != nil && !(c.prev.Upstream && c.prev.Provider == t.Name) {
		var items []json.RawMessage
		for _, it := range c.prior {
			// A reasoning item without its encrypted content is only
			// an id, which this upstream does not know.
			if gjson.GetBytes(it, "type").Str == "reasoning" && gjson.GetBytes(it, "encrypted_content").Str == "" {
				continue
			}
			items = append(items, it)
		}
		all, err := json.Marshal(append(items, c.items...))
		if err == nil {
			body, err = sjson.SetRawBytes(body, "input", all)
		}
		if err == nil {
			body, err = sjson.DeleteBytes(body, "previous_response_id")
		}
		if err != nil {
			return nil, &llmproxy.Error{Kind: llmproxy.KindInternal, Message: "could not add the previous response's items to the request", Err: err}
		}
	}
	return &llmproxy.NativeRequest{Model: t.Model, Stream: c.req.Stream, Body: body}, nil
}

// translate returns the chat request for t, noting the dropped tools.
func (c *call) translate(t llmproxy.Target) (*translation, error) {
	if c.wire == nil && c.wireErr == nil {
		c.wire, c.wireErr = decodeWire(c.req.Body)
	}
	if c.wireErr != nil {
		return nil, c.wireErr
	}
	tr, err := toChat(c.wire, c.prior, t.Model)
	if err != nil {
		return nil, err
	}
	c.native, c.dropped = false, tr.dropped
	if len(tr.dropped) > 0 {
		c.f.log.Info("responses: tools dropped in translation: the provider does not speak the Responses API",
			"provider", t.Name, "model", t.Model, "tools", tr.dropped)
	}
	return tr, nil
}

// Create answers a request that is not streamed (see Front).
func (f *Front) Create(ctx context.Context, req *Request) (*Answer, error) {
	c, err := f.newCall(ctx, req)
	if err != nil {
		return nil, err
	}
	ans, err := f.p.RouteRaw(ctx, Endpoint, req.Model, func(ctx context.Context, t llmproxy.Target) (*llmproxy.RawAnswer, error) {
		if n := nativeOf(t); n != nil {
			nr, err := c.nativeRequest(t)
			if err != nil {
				return nil, err
			}
			c.native, c.dropped = true, nil
			return n.ResponsesRaw(ctx, nr)
		}
		tr, err := c.translate(t)
		if err != nil {
			return nil, err
		}
		resp, err := t.Provider.ChatCompletion(ctx, tr.chat)
		if err != nil {
			return nil, err
		}
		model := resp.Model
		if model == "" {
			model = t.Model
		}
		r := newResponse(c.wire, c.id, model, c.start)
		fromChat(r, resp, f.now())
		b, err := json.Marshal(r)
		if err != nil {
			return nil, &llmproxy.Error{Kind: llmproxy.KindInternal, Message: "could not encode the response", Err: err}
		}
		return &llmproxy.RawAnswer{Body: b, Usage: resp.Usage}, nil
	})
	if err != nil {
		return nil, err
	}
	c.keep(ctx, ans.Body, ans.ProxyInfo)
	return &Answer{RawAnswer: ans, DroppedTools: c.dropped}, nil
}

// keep stores the response body (a response object) unless the request
// said "store": false. A store that fails is logged: the answer stands.
func (c *call) keep(ctx context.Context, body []byte, pi *llmproxy.ProxyInfo) {
	if !c.req.Store {
		return
	}
	id := gjson.GetBytes(body, "id").Str
	if id == "" {
		return
	}
	items := append(append([]json.RawMessage(nil), c.prior...), c.items...)
	gjson.GetBytes(body, "output").ForEach(func(_, v gjson.Result) bool {
		items = append(items, json.RawMessage(v.Raw))
		return true
	})
	rec := &Record{Response: body, Items: items, Upstream: c.native}
	if pi != nil {
		rec.Provider = pi.Provider
	}
	if err := c.f.Store().Put(context.WithoutCancel(ctx), id, rec); err != nil {
		c.f.log.Warn("responses: could not store a response; previous_response_id will not find it", "id", id, "error", err.Error())
	}
}

// Get returns the stored response object of id, or an error of kind
// KindNotFound.
func (f *Front) Get(ctx context.Context, id string) ([]byte, error) {
	rec, err := f.Store().Get(ctx, id)
	if err != nil {
		return nil, storeError(id, err)
	}
	return rec.Response, nil
}

// Delete forgets the stored response of id, or returns an error of kind
// KindNotFound.
func (f *Front) Delete(ctx context.Context, id string) error {
	if err := f.Store().Delete(ctx, id); err != nil {
		return storeError(id, err)
	}
	return nil
}

func storeError(id string, err error) *llmproxy.Error {
	if errors.Is(err, ErrNotFound) {
		return &llmproxy.Error{Kind: llmproxy.KindNotFound, Status: http.StatusNotFound, Type: "invalid_request_error",
			Code: "not_found", Message: "No response found with id '" + id + "'."}
	}
	return &llmproxy.Error{Kind: llmproxy.KindUnavailable, Status: http.StatusServiceUnavailable,
		Message: "the store of responses is not available", Err: err}
}
