package server

import (
	"net/http"
	"strings"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/front/responses"
	"github.com/llmproxy/llmproxy/sse"
)

// The OpenAI Responses front: POST /v1/responses, GET and DELETE
// /v1/responses/{id}. The front package does the work; this file mounts it.

// droppedToolsHeader names the tools a translated request offered that
// its provider could not run (see responses.Answer.DroppedTools).
const droppedToolsHeader = "X-LLMProxy-Dropped-Tools"

// responsesFormat writes errors in OpenAI's envelope and ends a failed
// stream with an error event (a stream the front opened replaces it with
// its response.failed: see createResponse).
var responsesFormat = errorFormat{
	body: openAIFormat.body,
	frame: func(e *llmproxy.Error) []byte {
		name, data := responses.FailedEvent(e)
		return sse.AppendEvent(nil, name, data)
	},
}

// createResponse answers POST /v1/responses.
func (s *server) createResponse(front *responses.Front) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.createResponseWith(w, r, front) }
}

func (s *server) createResponseWith(w http.ResponseWriter, r *http.Request, front *responses.Front) {
	body, ok := s.readJSONBody(w, r)
	if !ok {
		return
	}
	req, err := responses.ReadRequest(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	info(r.Context()).model = req.Model
	if req.Stream {
		st, err := front.CreateStream(r.Context(), req)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		defer st.Close()
		if sw, ok := w.(*statusWriter); ok {
			// A cut stream ends with response.failed, numbered after the
			// last event sent.
			sw.format.frame = func(e *llmproxy.Error) []byte {
				name, data := st.FailedEvent(e)
				return sse.AppendEvent(nil, name, data)
			}
		}
		setDroppedTools(w.Header(), st.DroppedTools())
		writeEvents(w, st.Stream)
		s.streamed(r, st.ProxyInfo(), st.Usage(), st.Err())
		return
	}
	ans, err := front.Create(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.done(r, ans.ProxyInfo, ans.Usage)
	setDroppedTools(w.Header(), ans.DroppedTools)
	writeAnswer(w, ans.Body, nil, ans.ProxyInfo)
}

func setDroppedTools(h http.Header, tools []string) {
	if len(tools) > 0 {
		h.Set(droppedToolsHeader, strings.Join(tools, ", "))
	}
}

// responseByID answers GET /v1/responses/{id} (the stored response) and
// DELETE.
func (s *server) responseByID(front *responses.Front) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.responseByIDWith(w, r, front) }
}

func (s *server) responseByIDWith(w http.ResponseWriter, r *http.Request, front *responses.Front) {
	id := r.PathValue("id")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		b, err := front.Get(r.Context(), id)
		if err != nil {
			writeError(w, err)
			return
		}
		writeAnswer(w, b, nil, nil)
	case http.MethodDelete:
		if err := front.Delete(r.Context(), id); err != nil {
			writeError(w, err)
			return
		}
		writeAnswer(w, nil, map[string]any{"id": id, "object": "response", "deleted": true}, nil)
	default:
		w.Header().Set("Allow", "GET, DELETE")
		writeError(w, &llmproxy.Error{
			Kind: llmproxy.KindInvalidRequest, Status: http.StatusMethodNotAllowed,
			Code: "method_not_allowed", Message: r.Method + " is not allowed on " + r.URL.Path + "; use GET or DELETE",
		})
	}
}
