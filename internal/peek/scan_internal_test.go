package peek

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// The word-at-a-time scans are checked against byte loops, on strings made
// mostly of the bytes around the special ones, where the borrows of the
// masks could go wrong, with every special byte at every position of an
// 8-byte word and near the end of the text, where the reads change.

// alphabet is the bytes the random strings are made of: those around the
// special ones, and plain ones.
var alphabet = []byte{0x00, 0x01, 0x1f, 0x20, 0x21, '"', '#', '[', '\\', ']', 'a', 0x7f, 0x80, 0xa2, 0xdc, 0xff}

// randomBytes fills b with bytes of alphabet, one in four, and printable
// ASCII.
func randomBytes(rng *rand.Rand, b []byte) {
	for i := range b {
		if rng.IntN(4) == 0 {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		} else {
			b[i] = byte(0x20 + rng.IntN(0x60))
		}
	}
}

func TestPlainRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 40)
	for range 200000 {
		n := rng.IntN(len(b) + 1)
		randomBytes(rng, b[:n])
		from := rng.IntN(n + 1)
		want := from
		for want < n && b[want] != '"' && b[want] != '\\' && b[want] >= 0x20 {
			want++
		}
		if got := plainRun(b[:n], from); got != want {
			t.Fatalf("plainRun(%q, %d) = %d, want %d", b[:n], from, got, want)
		}
	}
}

func TestASCIIRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, 40)
	for range 200000 {
		n := rng.IntN(len(b) + 1)
		randomBytes(rng, b[:n])
		from := rng.IntN(n + 1)
		want := from
		for want < n && b[want] != '"' && b[want] != '\\' && b[want] >= 0x20 && b[want] < 0x80 {
			want++
		}
		if got := asciiRun(b[:n], from); got != want {
			t.Fatalf("asciiRun(%q, %d) = %d, want %d", b[:n], from, got, want)
		}
	}
	// Every byte at every position, in texts short and long.
	for c := range 256 {
		for n := 1; n <= 20; n++ {
			for at := range n {
				b := bytes.Repeat([]byte{'a'}, n)
				b[at] = byte(c)
				want := n
				if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
					want = at
				}
				if got := asciiRun(b, 0); got != want {
					t.Fatalf("asciiRun(%q, 0) = %d, want %d", b, got, want)
				}
			}
		}
	}
}

// refText reads the string that starts at b[i] one byte at a time, as the
// scanner did before it read words, and returns the position after it,
// whether it has an escape, and whether it is valid (a string, without
// control characters nor bad escapes, and with checkUTF8 valid UTF-8).
func refText(b []byte, i int, checkUTF8 bool) (end int, esc, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false, false
	}
	start := i + 1
	for i = start; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			if checkUTF8 && !utf8.Valid(b[start:i]) {
				return 0, false, false
			}
			return i + 1, esc, true
		case c == '\\':
			n := escapeLen(b[i:])
			if n == 0 {
				return 0, false, false
			}
			esc = true
			i += n
		case c < 0x20:
			return 0, false, false
		default:
			i++
		}
	}
	return 0, false, false
}

// checkText checks text against refText on the string at b[i].
func checkText(t *testing.T, b []byte, i int) {
	t.Helper()
	for _, checkUTF8 := range []bool{false, true} {
		s := scanner{b: b, i: i, utf8: checkUTF8}
		raw, esc, _ := s.text(false)
		end, wantEsc, ok := refText(b, i, checkUTF8)
		if s.bad == ok {
			t.Fatalf("text(%q at %d, utf8 %v): ok %v, want %v", b, i, checkUTF8, !s.bad, ok)
		}
		if ok && (s.i != end || esc != wantEsc || !bytes.Equal(raw, b[i+1:end-1])) {
			t.Fatalf("text(%q at %d, utf8 %v) = %q, %v, ending at %d; want %q, %v, %d",
				b, i, checkUTF8, raw, esc, s.i, b[i+1:end-1], wantEsc, end)
		}
	}
}

// textPieces are what the strings of TestText are made of: plain bytes,
// escapes good and bad, control characters, UTF-8 good and bad.
var textPieces = []string{
	"a", "a", "a", "a", " ", "~", "\x7f", `"`, `\`, `\"`, `\\`, `\/`, `\n`, `\u00e9`, `\uD83D`, `\u12`, `\x`, `\'`,
	"\x00", "\x01", "\x1f", "é", "€", "😀", "\xef\xbf\xbd", "\xff", "\x80", "\xc3", "\xe2\x82", "\xf0\x9f\x98",
	"\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80",
}

func TestText(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 200000 {
		var b strings.Builder
		for range rng.IntN(10) {
			b.WriteByte("x\"{ "[rng.IntN(4)])
		}
		i := b.Len()
		b.WriteByte('"')
		for range rng.IntN(12) {
			b.WriteString(textPieces[rng.IntN(len(textPieces))])
		}
		if rng.IntN(4) > 0 {
			b.WriteByte('"')
		}
		for range rng.IntN(10) {
			b.WriteByte(",}: "[rng.IntN(4)])
		}
		checkText(t, []byte(b.String()), i)
	}
}

// TestTextPositions puts each piece at every position of the words the
// string is read in, and at every distance from the end of the text.
func TestTextPositions(t *testing.T) {
	for _, piece := range textPieces {
		for before := range 18 {
			for after := range 10 {
				for tail := range 10 {
					b := `"` + strings.Repeat("a", before) + piece + strings.Repeat("b", after) + `"` + strings.Repeat("}", tail)
					checkText(t, []byte(b), 0)
				}
			}
		}
	}
}

func TestStrOrNull(t *testing.T) {
	for _, tc := range []struct {
		in               string
		raw              string
		esc, null, valid bool
	}{
		{`null`, "", false, true, true},
		{` null,`, "", false, true, true},
		{`nul`, "", false, true, false},
		{`""`, "", false, false, true},
		{" \"a\tb\"", "", false, false, false},
		{` "a"`, "a", false, false, true},
		{`"a\tb"`, `a\tb`, true, false, true},
		{`1`, "", false, false, false},
		{``, "", false, false, false},
	} {
		s := scanner{b: []byte(tc.in)}
		raw, esc, null := s.strOrNull()
		if string(raw) != tc.raw || esc != tc.esc || null != tc.null || s.bad == tc.valid {
			t.Errorf("strOrNull(%q) = %q, %v, %v, ok %v; want %q, %v, %v, ok %v",
				tc.in, raw, esc, null, !s.bad, tc.raw, tc.esc, tc.null, tc.valid)
		}
		s = scanner{b: []byte(tc.in)}
		if s.str(); !s.bad && tc.null {
			t.Errorf("str(%q) took a null", tc.in)
		}
	}
}

// TestMemberNames checks the names member reads: plain ASCII ones of any
// length, anywhere in the text; with an escape, a control character or a
// non-ASCII byte at any position, they fail.
func TestMemberNames(t *testing.T) {
	for n := range 20 {
		for _, sep := range []string{":", " :", "\n\t:"} {
			for tail := range 10 {
				for _, open := range []string{`{"x":1,`, `{`, ` { `} {
					name := strings.Repeat("k", n)
					text := open + `"` + name + `"` + sep + strings.Repeat("1", tail)
					s := scanner{b: []byte(text)}
					var m int
					if strings.HasPrefix(open, `{"x"`) {
						s.member(&m)
						s.skip()
					}
					if !s.member(&m) || string(s.name) != name || s.i != len(text)-tail {
						t.Fatalf("member(%q): name %q, at %d, ok %v", text, s.name, s.i, !s.bad)
					}
				}
			}
			for at := range n {
				for _, bad := range []string{`\`, `\"`, `\u0041`, "\x00", "\x1f", "\x80", "é", "\xff"} {
					name := strings.Repeat("k", at) + bad + strings.Repeat("k", n-at)
					text := `{"` + name + `"` + sep + `1}`
					s := scanner{b: []byte(text)}
					var m int
					if s.member(&m) || !s.bad {
						t.Fatalf("member(%q) took the name %q", text, s.name)
					}
				}
			}
		}
	}
	for _, text := range []string{`{"a"}`, `{"a" 1}`, `{"a"`, `{"a`, `{"a":1,}`, `{"a":1 "b":2}`, `{,"a":1}`, `{:1}`} {
		s := scanner{b: []byte(text)}
		for m := 0; s.member(&m); {
			s.skip()
		}
		if !s.bad {
			t.Errorf("the members of %q read without failure", text)
		}
	}
}

// TestUTF8 checks that the scanner with utf8 set takes exactly the valid
// UTF-8 texts that the scanner without it takes.
func TestUTF8(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	pieces := append([]string{`{"a":`, `}`, `[`, `]`, `,`, `:`, `"`, `null`, `1`, ` `}, textPieces...)
	for range 200000 {
		var b strings.Builder
		b.WriteString(`{"k":"`)
		for range rng.IntN(10) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		text := []byte(b.String())
		plain := scanner{b: text}
		plain.skip()
		checked := scanner{b: text, utf8: true}
		checked.skip()
		if want := plain.end() && utf8.Valid(text); checked.end() != want {
			t.Fatalf("%q: ok %v with utf8, want %v", text, checked.end(), want)
		}
	}
}

func TestEightDigits(t *testing.T) {
	check := func(b []byte) {
		t.Helper()
		x := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		want := true
		for _, c := range b {
			want = want && '0' <= c && c <= '9'
		}
		if got := eightDigits(x); got != want {
			t.Fatalf("eightDigits(%q) = %v", b, got)
		}
		if want {
			v, _ := strconv.ParseUint(string(b), 10, 64)
			if got := eightDigitsValue(x); got != v {
				t.Fatalf("eightDigitsValue(%q) = %d", b, got)
			}
		}
	}
	rng := rand.New(rand.NewPCG(9, 10))
	b := make([]byte, 8)
	for range 100000 {
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		check(b)
		b[rng.IntN(8)] = byte(rng.IntN(256))
		check(b)
	}
	for c := range 256 {
		for at := range 8 {
			copy(b, "12345678")
			b[at] = byte(c)
			check(b)
		}
	}
	check([]byte("00000000"))
	check([]byte("99999999"))
}

// refInt is what intOrNull read before its fast path: number, then
// parseInt.
func refInt(b []byte) (v int64, end int, ok bool) {
	s := scanner{b: b}
	if s.null() {
		return 0, s.i, !s.bad
	}
	v = s.anyInt(64)
	return v, s.i, !s.bad
}

func TestIntOrNull(t *testing.T) {
	var tokens []string
	for n := 1; n <= 20; n++ {
		tokens = append(tokens, strings.Repeat("9", n), "1"+strings.Repeat("0", n-1), "0"+strings.Repeat("7", n-1))
	}
	tokens = append(tokens, "0", "-0", "-1", "1700000000", "9223372036854775807", "9223372036854775808",
		"123456789012345678", "1234567890123456789", "12345678", "1234567", "1.5", "12345678.5",
		"12345678e1", "1E2", "0.0", "00", "01", "-", "", "null", "nul", "x", "1a")
	for _, tok := range tokens {
		for _, after := range []string{"", ",", "}", " ", ".", ".5", "e", "e5", "E+1", "0", "5", "x"} {
			b := []byte(tok + after)
			s := scanner{b: b}
			v, _ := s.intOrNull(64)
			want, end, ok := refInt(b)
			if s.bad == ok || ok && (v != want || s.i != end) {
				t.Errorf("intOrNull(%q) = %d to %d, ok %v; want %d to %d, ok %v", b, v, s.i, !s.bad, want, end, ok)
			}
		}
	}
}

func TestFloatOrNull(t *testing.T) {
	var tokens []string
	for n := 1; n <= 18; n++ {
		tokens = append(tokens, strings.Repeat("9", n), "-"+strings.Repeat("9", n), "9007199254740993"[:min(n, 16)])
	}
	tokens = append(tokens, "0", "-0", "1", "-1", "2", "0.5", "-0.0", "1e0", "9007199254740993", "90071992547409930", "1e400")
	for _, tok := range tokens {
		s := scanner{b: []byte(tok)}
		v, _ := s.floatOrNull()
		want, err := strconv.ParseFloat(tok, 64)
		if s.bad != (err != nil) || err == nil && math.Float64bits(v) != math.Float64bits(want) {
			t.Errorf("floatOrNull(%q) = %v, ok %v; want %v, %v", tok, v, !s.bad, want, err)
		}
	}
}

// TestSkipChunkObject checks the fast path of a chunk's object.
func TestSkipChunkObject(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`"` + chunkObject + `",`, true},
		{`"` + chunkObject + `"`, true},
		{`"` + chunkObject, false},
		{` "` + chunkObject + `"`, false},
		{`"` + chunkObject + `s"`, false},
		{`"chat.completion"`, false},
		{`"chat_completion.chunk"`, false},
		{`"chat.completion.chunK"`, false},
		{``, false},
	} {
		s := scanner{b: []byte(tc.in)}
		at := 0
		if tc.want {
			at = len(chunkObject) + 2
		}
		if got := s.skipChunkObject(); got != tc.want || s.i != at || s.bad {
			t.Errorf("skipChunkObject on %q: %v at %d", tc.in, got, s.i)
		}
	}
}
