package peek_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/llmproxy/llmproxy/internal/peek"
)

// The scanner reads strings and member names 8 bytes at a time, and
// checks UTF-8 as it reads strings rather than in a pass of its own. The
// tests below put escapes, control characters, non-ASCII bytes and
// invalid UTF-8 at every position of those words, and at every distance
// from the end of the text, and check each peek against its full decoder
// both ways: what the full decoder takes (but for the shapes the peeks
// decline on purpose) the peek takes, and what it refuses the peek
// refuses.

// stringPieces are valid in a JSON string, and valid UTF-8.
var stringPieces = []string{`\n`, `\"`, `\\`, `\/`, `\u00e9`, `\ud83d\ude00`, "é", "€", "😀", "\u2028", "\x7f", " "}

// badPieces make a string invalid JSON, or invalid UTF-8.
var badPieces = []string{"\x00", "\x01", "\x1f", `\x`, `\u12`, `\'`, "\xff", "\x80", "\xc3", "\xe2\x82", "\xf0\x9f\x98",
	"\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80"}

// placed returns s with piece placed after the first before bytes.
func placed(piece string, before, after int) string {
	return strings.Repeat("a", before) + piece + strings.Repeat("b", after)
}

func TestChunkStringsEverywhere(t *testing.T) {
	for _, piece := range append(stringPieces, badPieces...) {
		for before := range 18 {
			for after := range 3 {
				content := placed(piece, before, after)
				bodies := []string{
					withDelta(`{"content":"` + content + `"}`),
					`{"object":"chat.completion.chunk","choices":[{"delta":{"content":"` + content + `"}}]}`,
					`{"object":"chat.completion.chunk","id":"` + content + `"}`,
					`{"object":"chat.completion.chunk","x":"` + content + `"}`,
					`{"object":"chat.completion.chunk","x":["` + content + `"]}`,
				}
				for _, body := range bodies {
					checkBothWays(t, body, false, peek.ChatChunk, fullChunk)
				}
			}
		}
	}
}

func TestAnswerStringsEverywhere(t *testing.T) {
	for _, piece := range append(stringPieces, badPieces...) {
		for before := range 18 {
			content := placed(piece, before, 1)
			checkBothWays(t, withAnswerMessage(`{"role":"assistant","content":"`+content+`"}`), false, peek.ChatAnswer, fullAnswer)
			checkBothWays(t, withAnswerMember(`"system_fingerprint":"`+content+`"`), false, peek.ChatAnswer, fullAnswer)
		}
	}
}

// TestRequestStringsEverywhere: a request's strings need not be valid
// UTF-8 (encoding/json replaces the bad bytes), but must be valid JSON.
func TestRequestStringsEverywhere(t *testing.T) {
	for _, piece := range append(stringPieces, badPieces...) {
		for before := range 18 {
			content := placed(piece, before, 1)
			checkBothWays(t, withContent(`"`+content+`"`), false, peek.ChatRequest, fullRequest)
			checkBothWays(t, withMember(`"user":"`+content+`"`), false, peek.ChatRequest, fullRequest)
			checkBothWays(t, `{"model":"`+content+`","messages":[{"role":"user"}]}`, false, peek.ChatRequest, fullRequest)
		}
	}
}

// TestNamesEverywhere puts the pieces in member names, modelled or not:
// names with escapes or non-ASCII bytes are declined, others are read.
func TestNamesEverywhere(t *testing.T) {
	for _, piece := range append(append(stringPieces, badPieces...), "a", "_") {
		// The peeks decline names with escapes or non-ASCII bytes.
		decline := strings.Contains(piece, `\`) || !isASCII(piece)
		for before := range 18 {
			name := placed(piece, before, 1)
			checkBothWays(t, withChunkMember(`"`+name+`":1`), decline, peek.ChatChunk, fullChunk)
			checkBothWays(t, withDelta(`{"`+name+`":1}`), decline, peek.ChatChunk, fullChunk)
			checkBothWays(t, withMember(`"`+name+`":1`), decline, peek.ChatRequest, fullRequest)
			checkBothWays(t, withToolCall(`{"`+name+`":1}`), decline, peek.ChatRequest, fullRequest)
		}
	}
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// TestInvalidUTF8OutsideStrings: JSON is ASCII outside its strings, so the
// scanner need not check UTF-8 there; the syntax refuses such bytes.
func TestInvalidUTF8OutsideStrings(t *testing.T) {
	for _, bad := range []string{"\xff", "\xc3", "\xc3\xa9", "\xef\xbb\xbf", "\xc2\xa0", "\xe2\x80\xa8"} {
		for _, body := range []string{
			bad + benchChunk,
			benchChunk + bad,
			strings.Replace(benchChunk, `,"created"`, bad+`,"created"`, 1),
			strings.Replace(benchChunk, `,"created"`, `,`+bad+`"created"`, 1),
			strings.Replace(benchChunk, `1700000000`, `17`+bad+`00000000`, 1),
			strings.Replace(benchChunk, `"logprobs":null`, `"logprobs":nu`+bad+`ll`, 1),
			strings.Replace(benchChunk, `"logprobs":null`, `"logprobs":[`+bad+`]`, 1),
		} {
			if _, ok := peek.ChatChunk([]byte(body)); ok {
				t.Errorf("ChatChunk took %q", body)
			}
			if _, ok := peek.ChatAnswer([]byte(strings.Replace(body, ".chunk", "", 1))); ok {
				t.Errorf("ChatAnswer took %q", body)
			}
		}
	}
}

// checkBothWays checks that peekFn takes body when full does (unless it
// may decline it) and only then, agreeing on what it reads.
func checkBothWays[T comparable](t *testing.T, body string, mayDecline bool, peekFn func([]byte) (T, bool), full func([]byte) (T, error)) {
	t.Helper()
	got, ok := peekFn([]byte(body))
	want, err := full([]byte(body))
	switch {
	case ok && err != nil:
		t.Errorf("the peek took %q, which the full decoder refuses: %v", body, err)
	case ok && got != want:
		t.Errorf("for %q the peek read %+v, the full decoder %+v", body, got, want)
	case !ok && err == nil && !mayDecline:
		t.Errorf("the peek declined %q, which the full decoder takes", body)
	}
}
