package responses

import (
	"crypto/rand"
	"encoding/hex"
)

// newID returns a new random identifier with the prefix, such as
// "resp_…" or "msg_…": 24 random bytes in hex, as unguessable as the
// identifiers OpenAI gives, since a response's id is all it takes to read
// a stored response.
func newID(prefix string) string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}
