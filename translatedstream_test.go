package llmproxy_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// TestTranslatedStream drives the shared reader of translating adapters
// with a translator that makes one chunk of each "delta" event, ends at
// "end" and fails at "fail".
func TestTranslatedStream(t *testing.T) {
	errUpstream := &llmproxy.Error{Kind: llmproxy.KindUnavailable, Provider: "p", Message: "upstream error"}
	translate := func(name string, data []byte) ([]*llmproxy.ChatChunk, bool, error) {
		switch name {
		case "delta":
			return []*llmproxy.ChatChunk{{ID: string(data)}}, false, nil
		case "end":
			return []*llmproxy.ChatChunk{{ID: "last"}}, true, nil
		case "fail":
			return nil, false, errUpstream
		}
		return nil, false, nil
	}
	read := func(body string) ([]string, error) {
		s := llmproxy.NewTranslatedStream(context.Background(), "p", io.NopCloser(strings.NewReader(body)), 1<<10, translate)
		defer func() { require.NoError(t, s.Close()) }()
		var ids []string
		for {
			c, err := s.Next()
			if err != nil {
				_, again := s.Next()
				assert.Equal(t, err, again, "the end is handed out again")
				return ids, err
			}
			ids = append(ids, c.ID)
		}
	}

	ids, err := read("event: delta\ndata: a\n\n: comment\n\nevent: other\ndata: x\n\nevent: delta\ndata: b\n\nevent: end\ndata: z\n\nevent: delta\ndata: unread\n\n")
	assert.ErrorIs(t, err, io.EOF)
	assert.Equal(t, []string{"a", "b", "last"}, ids, "chunks in order, nothing read after the end")

	for name, body := range map[string]string{
		"end of the body": "event: delta\ndata: a\n\n",
		"[DONE]":          "event: delta\ndata: a\n\ndata: [DONE]\n\n",
	} {
		ids, err := read(body)
		assert.Equal(t, []string{"a"}, ids, name)
		var e *llmproxy.Error
		require.True(t, errors.As(err, &e), "%s: %v", name, err)
		assert.Equal(t, llmproxy.KindUnavailable, e.Kind, name)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF, name)
	}

	ids, err = read("event: delta\ndata: a\n\nevent: fail\ndata: x\n\n")
	assert.Equal(t, []string{"a"}, ids)
	assert.Same(t, errUpstream, err, "the translator's error as it is")
}
