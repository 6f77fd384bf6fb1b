package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

func readAll(t *testing.T, in string, max int) ([]Event, error) {
	t.Helper()
	r := NewReader(strings.NewReader(in), max)
	var out []Event
	for {
		ev, err := r.Next()
		if err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		ev.Data = bytes.Clone(ev.Data)
		out = append(out, ev)
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Event
	}{
		{"openai", "data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n",
			[]Event{{Data: []byte(`{"a":1}`)}, {Data: []byte(`{"a":2}`)}, {Data: []byte("[DONE]")}}},
		{"crlf", "data: x\r\n\r\ndata: y\r\n\r\n", []Event{{Data: []byte("x")}, {Data: []byte("y")}}},
		{"named events", "event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: ping\ndata: {}\n\n",
			[]Event{{Name: "message_start", Data: []byte(`{"type":"message_start"}`)}, {Name: "ping", Data: []byte(`{}`)}}},
		{"comments skipped", ": OPENROUTER PROCESSING\n\n: keep-alive\ndata: z\n\n", []Event{{Data: []byte("z")}}},
		{"multi-line data", "data: a\ndata: b\n\n", []Event{{Data: []byte("a\nb")}}},
		{"no space after colon", "data:x\n\n", []Event{{Data: []byte("x")}}},
		{"id and retry", "id: 7\nretry: 100\ndata: q\n\n", []Event{{ID: "7", Data: []byte("q")}}},
		{"last event without blank line", "data: end", []Event{{Data: []byte("end")}}},
		{"ndjson", "{\"a\":1}\n{\"b\":2}\n", []Event{{Data: []byte(`{"a":1}`)}, {Data: []byte(`{"b":2}`)}}},
		{"event without data is dropped", "event: x\n\ndata: y\n\n", []Event{{Data: []byte("y")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(t, tt.in, 0)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestReaderLineTooLong(t *testing.T) {
	in := "data: " + strings.Repeat("x", 10_000) + "\n\n"
	_, err := readAll(t, in, 1024)
	require.True(t, errors.Is(err, ErrLineTooLong), "err = %v", err)

	// Exactly at the limit still passes.
	in = "data: " + strings.Repeat("x", 1024-6) + "\n\n"
	got, err := readAll(t, in, 1024)
	require.NoError(t, err)
	require.Len(t, got, 1)
}

func TestReaderPassesReadErrors(t *testing.T) {
	boom := errors.New("connection reset")
	r := NewReader(io.MultiReader(strings.NewReader("data: a\n\ndata: b"), errReader{boom}), 0)
	ev, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, "a", string(ev.Data))
	_, err = r.Next()
	require.ErrorIs(t, err, boom)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestDoneAndAppend(t *testing.T) {
	require.True(t, Done([]byte("[DONE]")))
	require.True(t, Done([]byte(" [DONE] ")))
	require.False(t, Done([]byte(`{"done":true}`)))
	require.Equal(t, "data: {}\n\n", string(AppendData(nil, []byte("{}"))))
	require.Equal(t, "data: {}\n\n", string(AppendEvent(nil, "", []byte("{}"))))
	frame := AppendEvent([]byte("x"), "message_start", []byte(`{"a":1}`))
	require.Equal(t, "xevent: message_start\ndata: {\"a\":1}\n\n", string(frame))
	ev, err := NewReader(strings.NewReader(string(frame[1:])), 0).Next()
	require.NoError(t, err)
	require.Equal(t, "message_start", string(ev.Name))
	require.Equal(t, `{"a":1}`, string(ev.Data))
}

// FuzzReader checks that no input makes the reader panic, loop or return
// more data than it was given.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"data: {\"a\":1}\n\ndata: [DONE]\n\n",
		"event: ping\ndata: {}\n\n",
		": comment\r\ndata: x\r\n\r\n",
		"{\"ndjson\":true}\n",
		"data:\n\n",
		"data: a\ndata: b\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), 256)
		whole, wholeErr := readEvents(NewReader(bytes.NewReader(in), 256), len(in))
		bytewise, bytewiseErr := readEvents(NewReader(iotest.OneByteReader(bytes.NewReader(in)), 256), len(in))
		if fmt.Sprintf("%q", whole) != fmt.Sprintf("%q", bytewise) || !errors.Is(wholeErr, bytewiseErr) && wholeErr.Error() != bytewiseErr.Error() {
			// The buffered fast path (whole frames in the buffer) and the
			// general parser (one byte per read) must agree.
			t.Fatalf("whole input: %q, %v\none byte per read: %q, %v", whole, wholeErr, bytewise, bytewiseErr)
		}
		total := 0
		for i := 0; i <= len(in)+1; i++ {
			ev, err := r.Next()
			if err != nil {
				return
			}
			total += len(ev.Data)
			if total > 2*len(in) {
				t.Fatalf("returned %d bytes of data from %d bytes of input", total, len(in))
			}
		}
		t.Fatalf("more events than input bytes")
	})
}

// readEvents reads up to limit+1 events, copying their data.
func readEvents(r *Reader, limit int) ([]Event, error) {
	var out []Event
	for range limit + 1 {
		ev, err := r.Next()
		if err != nil {
			return out, err
		}
		ev.Data = bytes.Clone(ev.Data)
		out = append(out, ev)
	}
	return out, nil
}

func TestReaderBufferedFrames(t *testing.T) {
	// Frames that arrive whole are returned from the read buffer; the same
	// stream read one byte at a time (never a whole frame buffered) takes
	// the general parser. Both give the same events.
	in := "data: {\"a\":1}\n\ndata: {\"b\":2}\n\n: ping\n\ndata: x\r\n\r\nevent: e\ndata: y\n\ndata: \n\ndata:z\n\ndata: [DONE]\n\n"
	want := []Event{{Data: []byte(`{"a":1}`)}, {Data: []byte(`{"b":2}`)}, {Data: []byte("x")},
		{Name: "e", Data: []byte("y")}, {Data: []byte{}}, {Data: []byte("z")}, {Data: []byte("[DONE]")}}
	for name, src := range map[string]io.Reader{
		"whole":    strings.NewReader(in),
		"bytewise": iotest.OneByteReader(strings.NewReader(in)),
	} {
		got, err := readEvents(NewReader(src, 0), 100)
		require.ErrorIs(t, err, io.EOF, name)
		require.Equal(t, len(want), len(got), name)
		for i := range want {
			require.Equal(t, want[i].Name, got[i].Name, "%s event %d", name, i)
			require.Equal(t, string(want[i].Data), string(got[i].Data), "%s event %d", name, i)
		}
	}
	// A buffered frame's data is a slice of the read buffer, not a copy.
	r := NewReader(strings.NewReader("data: abc\n\n"), 0)
	ev, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, "abc", string(ev.Data))
	require.Zero(t, cap(r.data), "the buffered frame went through the general parser")
}

func TestReaderRelease(t *testing.T) {
	r := NewReader(strings.NewReader("data: one\n\ndata: two\n\n"), 0)
	ev, err := r.Next()
	if err != nil || string(ev.Data) != "one" {
		t.Fatalf("first event: %q, %v", ev.Data, err)
	}
	r.Release()
	r.Release() // a second call does nothing
	if _, err := r.Next(); err != ErrReleased {
		t.Fatalf("Next after Release: %v, want ErrReleased", err)
	}
	// A reader that gets the recycled buffer reads only its own stream.
	r2 := NewReader(strings.NewReader("data: three\n\n"), 0)
	defer r2.Release()
	ev, err = r2.Next()
	if err != nil || string(ev.Data) != "three" {
		t.Fatalf("recycled reader: %q, %v", ev.Data, err)
	}
	if _, err := r2.Next(); err != io.EOF {
		t.Fatalf("end of recycled reader: %v, want io.EOF", err)
	}
}
