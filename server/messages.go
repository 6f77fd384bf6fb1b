package server

import (
	"net/http"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/front/messages"
)

// The Anthropic Messages front (package front/messages) is mounted at
// POST /v1/messages (Claude Code adds ?beta=true, which changes nothing)
// and POST /v1/messages/count_tokens. Every error on these routes is in
// Anthropic's envelope, an overload answered 529 overloaded_error.

// Paths of the Messages front.
const (
	pathMessages    = "/v1/messages"
	pathCountTokens = "/v1/messages/count_tokens"
)

// endpointMessages is the rate limit of the Messages front's routes.
const endpointMessages = "messages"

// messagesFormat writes errors as Anthropic does.
var messagesFormat = errorFormat{body: messages.ErrorBody, frame: messages.ErrorFrame, status: messages.ErrorStatus}

// messagesRoute wraps a handler of the Messages front with its error
// format, method, authentication and rate limit.
func (s *server) messagesRoute(h http.HandlerFunc) http.Handler {
	return withFormat(messagesFormat, only(http.MethodPost, s.auth(s.rateLimit(endpointMessages, h))))
}

// messages serves POST /v1/messages: the answer passes through from an
// Anthropic provider, or is translated from another's; _proxy_info is a
// top-level member of a whole answer, which Anthropic's clients ignore.
func (s *server) messages(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readJSONBody(w, r)
	if !ok {
		return
	}
	req, err := messages.ReadRequest(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req.Header = messages.ForwardedHeaders(r.Header)
	info(r.Context()).model = req.Model
	if req.Stream {
		st, err := messages.MessagesStream(r.Context(), s.p, req)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		defer st.Close()
		writeEvents(w, st)
		s.streamed(r, st.ProxyInfo(), st.Usage(), st.Err())
		return
	}
	ans, err := messages.Messages(r.Context(), s.p, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.done(r, ans.ProxyInfo, ans.Usage)
	writeAnswer(w, ans.Body, nil, ans.ProxyInfo)
}

// countTokens serves POST /v1/messages/count_tokens: counted by an
// Anthropic provider, estimated by the proxy for the others (see
// messages.CountTokens).
func (s *server) countTokens(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readJSONBody(w, r)
	if !ok {
		return
	}
	req, err := messages.ReadCountTokensRequest(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req.Header = messages.ForwardedHeaders(r.Header)
	info(r.Context()).model = req.Model
	ans, err := messages.CountTokens(r.Context(), s.p, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.done(r, ans.ProxyInfo, nil) // counting spends no tokens
	writeAnswer(w, ans.Body, nil, ans.ProxyInfo)
}

// messagesOverloaded is the answer to a request to the Messages front
// shed by max_inflight: Anthropic's 529 overloaded_error.
var messagesOverloaded = &llmproxy.Error{
	Kind: llmproxy.KindUnavailable, Type: "overloaded_error", RetryAfter: shedRetryAfter,
	Message: errOverloaded.Message,
}

// messagesShedBody is the body of that answer.
var messagesShedBody = messages.ErrorBody(messagesOverloaded)
