package peek_test

import (
	"testing"

	"github.com/llmproxy/llmproxy/internal/peek"
)

// The fuzz targets are differential: whenever a peek says ok, the full
// decoder must accept the same bytes and agree with what was peeked. The
// seeds are real wire bytes (see fixtures_test.go, and the corpus copied
// from the root package and providers/openai in testdata/fuzz) and the
// cases of the table tests; testdata/fuzz also keeps the inputs that found
// bugs.

// maxSeed caps the size of the table cases used as seeds.
const maxSeed = 4096

// addSeeds adds the bodies to f's seed corpus, then those of the table
// cases.
func addSeeds[C any](f *testing.F, bodies []string, body func(C) string, tables ...[]C) {
	for _, b := range bodies {
		f.Add([]byte(b))
	}
	for _, table := range tables {
		for _, c := range table {
			if b := body(c); len(b) <= maxSeed {
				f.Add([]byte(b))
			}
		}
	}
}

func (c requestCase) text() string { return c.body }
func (c answerCase) text() string  { return c.body }
func (c chunkCase) text() string   { return c.body }
func (c badCase) text() string     { return c.body }

func FuzzChatRequest(f *testing.F) {
	addSeeds(f, []string{
		benchRequest, benchStreamRequest, simpleRequest, paramsRequest, toolsRequest, imageRequest,
		extrasRequest, assistantRequest, caseVariantRequest, escapesRequest, prettyRequest,
		withMember(`"stop":["a",null],"n":2,"top_p":0.5,"max_completion_tokens":10,"stream_options":{"include_usage":true}`),
		withToolCall(`{"index":0,"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}`),
		withContent(`[{"type":"image_url","image_url":{"URL":"u","detail":"low"}}]`),
	}, badCase.text, refusedRequests, declinedRequests)
	addSeeds(f, nil, requestCase.text, requestCases)
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := peek.ChatRequest(body)
		if !ok {
			return
		}
		want, err := fullRequest(body)
		if err != nil {
			t.Fatalf("the peek vouched for %q, which the full decoder refuses: %v", body, err)
		}
		if got != want {
			t.Fatalf("for %q the peek read %+v, the full decoder %+v", body, got, want)
		}
	})
}

func FuzzChatAnswer(f *testing.F) {
	addSeeds(f, []string{
		benchAnswer, openAIAnswer, perplexityAnswer, blackboxAnswer, toolAnswer, openRouterError,
		withAnswerMember(`"usage":{"prompt_tokens":1,"completion_tokens":null,"prompt_tokens_details":"None"},"error":null`),
		withAnswerMember(`"_proxy_info":{"provider":"p","attempt_number":1,"response_time":0.5,"request_id":"r"}`),
		withAnswerMessage(`{"role":"assistant","content":[{"type":"text","text":"hi"}],"tool_calls":[{"id":"c","function":{"name":"f"}}]}`),
	}, badCase.text, refusedAnswers, declinedAnswers)
	addSeeds(f, nil, answerCase.text, answerCases)
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := peek.ChatAnswer(body)
		if !ok {
			return
		}
		want, err := fullAnswer(body)
		if err != nil {
			t.Fatalf("the peek vouched for %q, which the full decoder refuses: %v", body, err)
		}
		if got != want {
			t.Fatalf("for %q the peek read %+v, the full decoder %+v", body, got, want)
		}
	})
}

func FuzzChatChunk(f *testing.F) {
	addSeeds(f, []string{
		benchChunk, roleChunk, contentChunk, stopChunk, usageChunk, toolStartChunk, toolArgsChunk,
		toolStopChunk, reasoningChunk, blackboxChunk, perplexityRunningUsage, perplexityDone,
		wholeAnswerChunk, midstreamError,
		withDelta(`{"reasoning_content":"","refusal":"no","tool_calls":[{"index":0}]}`),
		withChunkChoice(`{"index":0,"delta":null,"finish_reason":""},{"index":1,"finish_reason":"stop"}],"usage":{"total_tokens":3},"x":[`),
	}, badCase.text, refusedChunks, declinedChunks)
	addSeeds(f, nil, chunkCase.text, chunkCases)
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := peek.ChatChunk(data)
		if !ok {
			return
		}
		want, err := fullChunk(data)
		if err != nil {
			t.Fatalf("the peek vouched for %q, which the full decoder refuses: %v", data, err)
		}
		if got != want {
			t.Fatalf("for %q the peek read %+v, the full decoder %+v", data, got, want)
		}
	})
}
