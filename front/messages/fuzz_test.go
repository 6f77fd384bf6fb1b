package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/llmproxy/llmproxy"
)

// FuzzReadRequest feeds request bodies to the decoder and the translation
// to chat: neither may panic, every refusal is a KindInvalidRequest, and
// what they accept translates to a chat request that encodes. The corpus
// is testdata/fuzz/FuzzReadRequest.
func FuzzReadRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ReadRequest(body)
		if err != nil {
			checkInvalid(t, err)
			return
		}
		if r.Model == "" || !bytes.Equal(r.Body, body) {
			t.Fatalf("accepted without a model or changed the body: %+v", r)
		}
		if EstimateTokens(body) < 0 {
			t.Fatal("negative estimate")
		}
		req, err := ToChat(r, "target")
		if err != nil {
			checkInvalid(t, err)
			return
		}
		if req.Model != "target" || len(req.Messages) == 0 {
			t.Fatalf("translated to %+v", req)
		}
		if _, err := json.Marshal(req); err != nil {
			t.Fatalf("the chat request does not encode: %v", err)
		}
	})
}

func checkInvalid(t *testing.T, err error) {
	t.Helper()
	e, ok := errors.AsType[*llmproxy.Error](err)
	if !ok || e.Kind != llmproxy.KindInvalidRequest || e.Message == "" {
		t.Fatalf("not a KindInvalidRequest error with a message: %v", err)
	}
	if ErrorStatus(e) != 400 || ErrorType(e) != "invalid_request_error" {
		t.Fatalf("answered %d %s", ErrorStatus(e), ErrorType(e))
	}
}

// FuzzStreamTranslator feeds chat streams (a chunk per line; lines that
// are not chunks are skipped) to the stream translator and checks the
// events it writes: JSON on one line each, message_start first and
// message_stop last, content blocks opened once each in index order, and
// no delta or stop of a block that was not opened. The corpus is
// testdata/fuzz/FuzzStreamTranslator.
func FuzzStreamTranslator(f *testing.F) {
	f.Add([]byte(chunk(`{"content":"hi"}`, "") + "\n" + chunk(`{}`, "stop") + "\n" + usageChunk))
	f.Fuzz(func(t *testing.T, stream []byte) {
		var cs []*llmproxy.ChatChunk
		for line := range bytes.SplitSeq(stream, []byte("\n")) {
			var c llmproxy.ChatChunk
			if json.Unmarshal(line, &c) == nil {
				cs = append(cs, &c)
			}
		}
		r := translateStream(&sliceChunks{cs: cs, err: io.EOF}, "asked")
		var names []string
		opened := map[int]bool{}
		next := 0
		for {
			ev, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("a clean chat stream failed: %v", err)
			}
			if !json.Valid(ev.Data) || bytes.ContainsAny(ev.Data, "\r\n") {
				t.Fatalf("event data is not JSON on one line: %q", ev.Data)
			}
			var e struct {
				Type  string `json:"type"`
				Index *int   `json:"index"`
			}
			if err := json.Unmarshal(ev.Data, &e); err != nil || e.Type != ev.Event {
				t.Fatalf("event %q has type %q", ev.Event, e.Type)
			}
			switch ev.Event {
			case "content_block_start":
				if *e.Index != next || opened[*e.Index] {
					t.Fatalf("block %d opened out of order (next %d)", *e.Index, next)
				}
				opened[*e.Index] = true
				next++
			case "content_block_delta", "content_block_stop":
				if !opened[*e.Index] {
					t.Fatalf("%s of block %d, which was not opened", ev.Event, *e.Index)
				}
			}
			names = append(names, ev.Event)
		}
		if len(names) < 3 || names[0] != "message_start" || names[len(names)-1] != "message_stop" || names[len(names)-2] != "message_delta" {
			t.Fatalf("events %v", names)
		}
	})
}
