package responses

import (
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/llmproxy/llmproxy"
)

// FuzzReadRequest feeds arbitrary bodies to the request decoder and the
// translation to chat: neither may panic, every refusal is an invalid
// request naming its problem, and an accepted request translates to a chat
// request that validates.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","input":"hi"}`,
		`{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"hi"},{"type":"input_image","image_url":"data:image/png;base64,AA"}]}],"instructions":"be brief","stream":true}`,
		`{"model":"m","input":[{"type":"message","role":"developer","content":"x"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"ok"},{"type":"reasoning","id":"rs","summary":[]}]}`,
		`{"model":"m","input":"x","tools":[{"type":"function","name":"f","parameters":{"type":"object"}},{"type":"web_search"},{"type":"namespace"}],"tool_choice":{"type":"function","name":"f"}}`,
		`{"model":"m","input":"x","tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"allowed_tools","mode":"required","tools":[{"type":"function","name":"f"}]}}`,
		`{"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"s","schema":{"type":"object"},"strict":true}},"max_output_tokens":10,"reasoning":{"effort":"low"}}`,
		`{"model":"m","input":"x","store":false,"previous_response_id":"resp_1"}`,
		`{"model":"m","input":"x","model":"n"}`,
		`{"model":5,"input":{}}`,
		`[1,2]`,
		"{\"model\":\"m\",\"input\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ReadRequest(body)
		if err != nil {
			checkInvalid(t, err)
			return
		}
		if req.Model == "" {
			t.Fatal("an accepted request has no model")
		}
		w, err := decodeWire(req.Body)
		if err != nil {
			checkInvalid(t, err)
			return
		}
		tr, err := toChat(w, nil, req.Model)
		if err != nil {
			checkInvalid(t, err)
			return
		}
		if err := tr.chat.Validate(); err != nil {
			t.Fatalf("the translation is not a valid chat request: %v", err)
		}
		if _, err := json.Marshal(tr.chat); err != nil {
			t.Fatalf("the translation does not encode: %v", err)
		}
	})
}

func checkInvalid(t *testing.T, err error) {
	t.Helper()
	var e *llmproxy.Error
	if !errors.As(err, &e) || e.Kind != llmproxy.KindInvalidRequest || e.Message == "" {
		t.Fatalf("a refusal is not an invalid request with a message: %#v", err)
	}
}

// FuzzStreamTranslator feeds arbitrary chat chunks to the stream
// translation: it may not panic, every event is a JSON object whose type
// is its name, sequence numbers go up by one from 0, and the stream ends
// with exactly one terminal event.
func FuzzStreamTranslator(f *testing.F) {
	f.Add([]byte(`{"choices":[{"index":0,"delta":{"content":"Hel"}}]}`), []byte(`{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`))
	f.Add([]byte(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{\"a\""}}]}}]}`), []byte(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"d","function":{"name":"g","arguments":"{}"}},{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]}`))
	f.Add([]byte(`{"choices":[{"index":0,"delta":{"refusal":"no"}}]}`), []byte(`{"choices":[{"index":0,"delta":{"content":"text after"},"finish_reason":"length"}]}`))
	f.Add([]byte(`{"choices":[{"index":0,"delta":{"reasoning_content":"think"}}]}`), []byte(`{"choices":[{"index":0,"delta":{"reasoning_content":"more","content":"answer"},"finish_reason":"stop"}]}`))
	f.Add([]byte(`{"choices":[]}`), []byte(`{"choices":[{"index":0,"delta":{},"finish_reason":"content_filter"}]}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var chunks []*llmproxy.ChatChunk
		for _, data := range [][]byte{a, b} {
			var c llmproxy.ChatChunk
			if json.Unmarshal(data, &c) == nil {
				chunks = append(chunks, &c)
			}
		}
		w := &wireRequest{}
		st := newStreamState(newResponse(w, "resp_f", "m", time.Unix(1, 0)), func() time.Time { return time.Unix(2, 0) })
		r := newTranslatedStream(&sliceChunks{chunks: chunks}, st)
		seq, terminal := 0, 0
		for {
			c, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			var head struct {
				Type string `json:"type"`
				Seq  int    `json:"sequence_number"`
			}
			if err := json.Unmarshal(c.Data, &head); err != nil {
				t.Fatalf("event is not JSON: %s", c.Data)
			}
			if head.Type != c.Event || head.Seq != seq {
				t.Fatalf("event %d: %s", seq, c.Data)
			}
			seq++
			if c.Final {
				terminal++
			}
		}
		if terminal != 1 {
			t.Fatalf("%d terminal events", terminal)
		}
	})
}

// sliceChunks is a chat stream of given chunks.
type sliceChunks struct{ chunks []*llmproxy.ChatChunk }

func (s *sliceChunks) Next() (*llmproxy.ChatChunk, error) {
	if len(s.chunks) == 0 {
		return nil, io.EOF
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return c, nil
}

func (s *sliceChunks) Close() error { return nil }
