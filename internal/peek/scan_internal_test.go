package peek

import (
	"math/rand/v2"
	"testing"
)

// TestPlainRun checks the word-at-a-time scan of strings against a byte
// loop, on strings made mostly of the bytes around the special ones, where
// the borrows of specials could go wrong.
func TestPlainRun(t *testing.T) {
	alphabet := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, '"', '#', '[', '\\', ']', 'a', 0x7f, 0x80, 0xa2, 0xdc, 0xff}
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 40)
	for range 200000 {
		n := rng.IntN(len(b) + 1)
		for i := range n {
			if rng.IntN(4) == 0 {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				b[i] = byte(0x20 + rng.IntN(0x60))
			}
		}
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

// TestPlainASCIIRun checks the scan of member names against a byte loop.
func TestPlainASCIIRun(t *testing.T) {
	for c := range 256 {
		b := []byte{'a', byte(c), 'b'}
		want := 1
		if c >= 0x20 && c < 0x80 && c != '"' && c != '\\' {
			want = 3
		}
		if got := plainASCIIRun(b, 0); got != want {
			t.Fatalf("plainASCIIRun(%q, 0) = %d, want %d", b, got, want)
		}
	}
}
