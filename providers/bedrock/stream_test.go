package bedrock

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// readAll reads a stream to its end and returns its chunks and the error
// that ended it (io.EOF at a clean end).
func readAll(t *testing.T, r llmproxy.ChunkReader[*llmproxy.ChatChunk]) ([]*llmproxy.ChatChunk, error) {
	t.Helper()
	defer r.Close()
	var out []*llmproxy.ChatChunk
	for {
		c, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
}

// openStream streams a one-message request against frames.
func openStream(t *testing.T, fr ...[]byte) (llmproxy.ChunkReader[*llmproxy.ChatChunk], *fakeBedrock, error) {
	t.Helper()
	up := newFakeBedrock(t)
	up.on("converse-stream", reply{frames: fr})
	p := newTestProvider(t, up.URL)
	r, err := p.ChatCompletionStream(context.Background(), chatRequest(t, `{"model":"`+testModel+`","stream":true,"messages":[{"role":"user","content":"Hi"}]}`))
	return r, up, err
}

func TestStreamText(t *testing.T) {
	r, up, err := openStream(t, streamTextFrames(t)...)
	require.NoError(t, err)
	chunks, err := readAll(t, r)
	require.ErrorIs(t, err, io.EOF)
	got := up.last(t)
	assert.Equal(t, "/model/"+testModel+"/converse-stream", got.path)
	assert.JSONEq(t, `{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}`, string(got.body))

	require.Len(t, chunks, 6)
	text := ""
	for _, c := range chunks {
		assert.Equal(t, "chatcmpl-"+testReqID, c.ID)
		assert.Equal(t, testModel, c.Model)
		assert.Equal(t, "chat.completion.chunk", c.Object)
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				text += *ch.Delta.Content
			}
		}
	}
	assert.Equal(t, "assistant", chunks[0].Choices[0].Delta.Role)
	assert.False(t, chunks[0].HasContent())
	assert.Equal(t, "Hello from Bedrock", text)
	require.NotNil(t, chunks[4].Choices[0].FinishReason)
	assert.Equal(t, "stop", *chunks[4].Choices[0].FinishReason)
	assert.Empty(t, chunks[5].Choices)
	assert.Equal(t, &llmproxy.Usage{PromptTokens: 25, CompletionTokens: 9, TotalTokens: 34}, chunks[5].Usage)
}

func TestStreamTools(t *testing.T) {
	r, _, err := openStream(t, streamToolFrames(t)...)
	require.NoError(t, err)
	chunks, err := readAll(t, r)
	require.ErrorIs(t, err, io.EOF)
	type call struct{ id, name, args string }
	calls := map[int]*call{}
	for _, c := range chunks {
		for _, ch := range c.Choices {
			for _, tc := range ch.Delta.ToolCalls {
				require.NotNil(t, tc.Index)
				if calls[*tc.Index] == nil {
					calls[*tc.Index] = &call{}
				}
				k := calls[*tc.Index]
				k.id += tc.ID
				k.name += tc.Function.Name
				k.args += tc.Function.Arguments
			}
		}
	}
	assert.Equal(t, map[int]*call{
		0: {"tooluse_Q1w2E3r4T5y6", "get_weather", `{"city":"Paris"}`},
		1: {"tooluse_Z9x8C7v6", "get_time", `{}`},
	}, calls)
	last := chunks[len(chunks)-1]
	assert.Equal(t, "tool_calls", *chunks[len(chunks)-2].Choices[0].FinishReason)
	assert.Equal(t, &llmproxy.Usage{PromptTokens: 1400, CompletionTokens: 60, TotalTokens: 1460,
		PromptTokensDetails: &llmproxy.TokenDetails{CachedTokens: 1000}}, last.Usage)
}

func TestStreamReasoning(t *testing.T) {
	r, _, err := openStream(t, streamReasoningFrames(t)...)
	require.NoError(t, err)
	chunks, err := readAll(t, r)
	require.ErrorIs(t, err, io.EOF)
	require.Len(t, chunks, 5)
	assert.JSONEq(t, `"Thinking"`, string(chunks[1].Choices[0].Delta.Extra["reasoning_content"]))
	assert.True(t, chunks[1].HasContent(), "reasoning commits the stream")
	assert.Equal(t, "Done", *chunks[2].Choices[0].Delta.Content)
	assert.Equal(t, "content_filter", *chunks[3].Choices[0].FinishReason)
}

func TestStreamFailures(t *testing.T) {
	text := streamTextFrames(t)
	whole := frames(text...)
	for name, c := range map[string]struct {
		frames  [][]byte
		kind    llmproxy.ErrorKind
		code    string
		content string // what reached the caller before the error
	}{
		"throttled at start": {[][]byte{exception(t, "throttlingException", "Too many tokens, please wait before trying again.")},
			llmproxy.KindRateLimited, "ThrottlingException", ""},
		"model stream error midway": {append(text[:3:3], frame(t, map[string]string{":exception-type": "modelStreamErrorException",
			":content-type": "application/json", ":message-type": "exception"},
			`{"message":"Model stream failed.","originalStatusCode":500,"originalMessage":"overloaded"}`)),
			llmproxy.KindUnavailable, "ModelStreamErrorException", "Hello from"},
		"internal server error": {append(text[:1:1], exception(t, "internalServerException", "Internal error")),
			llmproxy.KindUnavailable, "InternalServerException", ""},
		"service unavailable": {append(text[:2:2], exception(t, "serviceUnavailableException", "Service unavailable")),
			llmproxy.KindUnavailable, "ServiceUnavailableException", "Hello"},
		"validation": {[][]byte{exception(t, "validationException", "Input is too long for requested model.")},
			llmproxy.KindInvalidRequest, "ValidationException", ""},
		"cut on a frame boundary": {text[:4], llmproxy.KindUnavailable, "", "Hello from Bedrock"},
		"cut inside a frame":      {[][]byte{whole[:len(frames(text[:3]...))+7]}, llmproxy.KindUnavailable, "", "Hello from"},
		"no messageStart":         {text[1:3], llmproxy.KindUnavailable, "", ""},
		"empty body":              {[][]byte{}, llmproxy.KindUnavailable, "", ""},
	} {
		t.Run(name, func(t *testing.T) {
			r, _, err := openStream(t, c.frames...)
			require.NoError(t, err)
			chunks, err := readAll(t, r)
			e := asError(t, err)
			assert.Equal(t, c.kind, e.Kind)
			assert.Equal(t, c.code, e.Code)
			assert.Equal(t, "bedrock", e.Provider)
			if e.Kind == llmproxy.KindInvalidRequest {
				assert.Equal(t, 400, e.HTTPStatus())
			}
			content := ""
			for _, ch := range chunks {
				for _, cc := range ch.Choices {
					assert.Nil(t, cc.FinishReason, "no finish chunk before an error")
					if cc.Delta.Content != nil {
						content += *cc.Delta.Content
					}
				}
			}
			assert.Equal(t, c.content, content)
			if c.code == "ModelStreamErrorException" {
				assert.Equal(t, "Model stream failed. (the model said: overloaded)", e.Message)
			}
			assertNoSecret(t, e)
		})
	}
}

func TestStreamEndsAfterMessageStopWithoutMetadata(t *testing.T) {
	text := streamTextFrames(t)
	r, _, err := openStream(t, text[:6]...)
	require.NoError(t, err)
	chunks, err := readAll(t, r)
	require.ErrorIs(t, err, io.EOF)
	require.Len(t, chunks, 5)
	assert.Equal(t, "stop", *chunks[4].Choices[0].FinishReason)
}

func TestStreamOpenErrors(t *testing.T) {
	up := newFakeBedrock(t)
	up.on("converse-stream", reply{status: 429, errCode: "ThrottlingException", body: "Too many requests, please wait before trying again."})
	p := newTestProvider(t, up.URL)
	_, err := p.ChatCompletionStream(context.Background(), chatRequest(t, `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`))
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindRateLimited, e.Kind)
	assert.Equal(t, 429, e.Status)
	assert.Equal(t, 1, up.count(), "the SDK does not retry")
}

func TestStreamCancel(t *testing.T) {
	up := newFakeBedrock(t)
	up.on("converse-stream", reply{frames: streamTextFrames(t)[:2]})
	p := newTestProvider(t, up.URL)
	ctx, cancel := context.WithCancel(context.Background())
	r, err := p.ChatCompletionStream(ctx, chatRequest(t, `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`))
	require.NoError(t, err)
	_, err = r.Next()
	require.NoError(t, err)
	cancel()
	var e *llmproxy.Error
	for err == nil {
		_, err = r.Next()
	}
	require.True(t, errors.As(err, &e), "%v", err)
	assert.Equal(t, llmproxy.KindCanceled, e.Kind)
	require.NoError(t, r.Close())
}

// TestConcurrentStreams reads several streams of one provider at once:
// each must get its own events (the SDK's shared event-stream decoder
// would mix them, and -race flags it).
func TestConcurrentStreams(t *testing.T) {
	up := newFakeBedrock(t)
	up.on("converse-stream", reply{frames: streamTextFrames(t)})
	p := newTestProvider(t, up.URL)
	const n = 8
	var wg sync.WaitGroup
	texts := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			r, err := p.ChatCompletionStream(context.Background(), chatRequest(t, `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`))
			if err != nil {
				errs[i] = err
				return
			}
			defer r.Close()
			for {
				c, err := r.Next()
				if err != nil {
					if err != io.EOF {
						errs[i] = err
					}
					return
				}
				for _, ch := range c.Choices {
					if ch.Delta.Content != nil {
						texts[i] += *ch.Delta.Content
					}
				}
			}
		})
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, "Hello from Bedrock", texts[i])
	}
}

// TestStreamMetadataOrder takes usage from whichever metadata event has it,
// before or after messageStop, and ignores metrics-only ones.
func TestStreamMetadataOrder(t *testing.T) {
	text := streamTextFrames(t)
	metrics := event(t, "metadata", `{"metrics":{"latencyMs":5},"p":"ab"}`)
	for name, fr := range map[string][][]byte{
		"usage before stop":         {text[0], text[1], text[6], text[5]},
		"metrics only, then usage":  {text[0], text[1], metrics, text[5], text[6]},
		"usage, then metrics only":  {text[0], text[1], text[6], metrics, text[5]},
		"stop, metrics, then usage": {text[0], text[1], text[5], metrics, text[6]},
	} {
		t.Run(name, func(t *testing.T) {
			r, _, err := openStream(t, fr...)
			require.NoError(t, err)
			chunks, err := readAll(t, r)
			require.ErrorIs(t, err, io.EOF)
			last := chunks[len(chunks)-1]
			assert.Empty(t, last.Choices)
			assert.Equal(t, &llmproxy.Usage{PromptTokens: 25, CompletionTokens: 9, TotalTokens: 34}, last.Usage)
			assert.Equal(t, "stop", *chunks[len(chunks)-2].Choices[0].FinishReason)
		})
	}
}
