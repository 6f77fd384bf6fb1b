package openai

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

func TestMergeForAlternation(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    string // the messages sent; "" means the request is unchanged
		changed bool
	}{
		{
			name: "already alternating",
			in:   `[{"role":"system","content":"s"},{"role":"user","content":"u1"},{"role":"assistant","content":"a1"},{"role":"user","content":"u2"}]`,
		},
		{
			name: "several leading system messages are fine",
			in:   `[{"role":"system","content":"s1"},{"role":"system","content":"s2"},{"role":"user","content":"u"}]`,
			want: `[{"role":"system","content":"s1\n\ns2"},{"role":"user","content":"u"}]`,
		},
		{
			name: "late system message moves to the front",
			in:   `[{"role":"user","content":"u1"},{"role":"system","content":"s"},{"role":"assistant","content":"a"}]`,
			want: `[{"role":"system","content":"s"},{"role":"user","content":"u1"},{"role":"assistant","content":"a"}]`,
		},
		{
			name: "system between users joins them",
			in:   `[{"role":"user","content":"u1"},{"role":"system","content":"s"},{"role":"user","content":"u2"}]`,
			want: `[{"role":"system","content":"s"},{"role":"user","content":"u1\n\nu2"}]`,
		},
		{
			name: "parts and text",
			in:   `[{"role":"user","content":"look"},{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]`,
			want: `[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]`,
		},
		{
			name: "empty content",
			in:   `[{"role":"user","content":""},{"role":"user","content":"u"}]`,
			want: `[{"role":"user","content":"u"}]`,
		},
		{
			name: "tool traffic is left alone",
			in:   `[{"role":"user","content":"u"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"assistant","content":"a"},{"role":"tool","tool_call_id":"c1","content":"r1"},{"role":"tool","tool_call_id":"c2","content":"r2"}]`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := `{"model":"sonar","messages":` + c.in + `,"search_mode":"academic"}`
			req := chatRequest(t, body)
			before, err := json.Marshal(req)
			require.NoError(t, err)

			got := mergeForAlternation(req)

			after, err := json.Marshal(req)
			require.NoError(t, err)
			assert.JSONEq(t, string(before), string(after), "the input request is not modified")
			if c.want == "" {
				assert.Same(t, req, got)
				return
			}
			assert.NotSame(t, req, got)
			enc, err := json.Marshal(got)
			require.NoError(t, err)
			assert.JSONEq(t, `{"model":"sonar","messages":`+c.want+`,"search_mode":"academic"}`, string(enc))
		})
	}
}

func TestMergeKeepsMessageExtras(t *testing.T) {
	a := llmproxy.Message{Role: "user", Content: llmproxy.Text("a"), Extra: llmproxy.Extra{"x": json.RawMessage(`1`)}}
	b := llmproxy.Message{Role: "user", Content: llmproxy.Text("b"), Extra: llmproxy.Extra{"x": json.RawMessage(`2`), "y": json.RawMessage(`3`)}}
	m := mergeMessages(&a, &b)
	assert.Equal(t, llmproxy.Extra{"x": json.RawMessage(`1`), "y": json.RawMessage(`3`)}, m.Extra)
	assert.Equal(t, "a\n\nb", m.Content.String())
	assert.Equal(t, "a", a.Content.String())
	assert.Len(t, b.Extra, 2)
}

func TestCompletionBodyDropsStream(t *testing.T) {
	p := &Provider{name: "x", flavor: flavors[0]}
	req := &llmproxy.CompletionRequest{Model: "m", Prompt: json.RawMessage(`"hi"`), Stream: true,
		StreamOptions: &llmproxy.StreamOptions{IncludeUsage: true}, Extra: llmproxy.Extra{"echo": json.RawMessage(`true`)}}
	b, err := p.completionBody(req)
	require.NoError(t, err)
	assert.JSONEq(t, `{"model":"m","prompt":"hi","echo":true}`, string(b))
	assert.True(t, req.Stream)
}
