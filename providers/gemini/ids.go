package gemini

import (
	"strconv"
	"strings"
)

// A tool call id the adapter hands to clients is Gemini's function call id,
// or "call_<n>" when Gemini sent none, followed by "__thought__" and the
// call's thought signature when Gemini signed it. Clients return ids
// unchanged, so the signature comes back with the call (see the package
// documentation).
const (
	// signatureSep separates a tool call id from its thought signature.
	signatureSep = "__thought__"
	// localIDPrefix starts the ids the adapter makes up; Gemini never
	// sees them.
	localIDPrefix = "call_"
	// skipSignature is Google's documented placeholder for a function
	// call that Gemini did not sign itself.
	skipSignature = "skip_thought_signature_validator"
)

// toolCallID returns the id of a candidate's n-th function call: Gemini's
// id or "call_<n>", with the signature appended when there is one.
func toolCallID(geminiID string, n int, signature string) string {
	id := geminiID
	if id == "" || strings.Contains(id, signatureSep) {
		id = localIDPrefix + strconv.Itoa(n)
	}
	if signature != "" {
		id += signatureSep + signature
	}
	return id
}

// splitToolCallID splits a client's tool call id into the id to send to
// Gemini ("" for an id the adapter made up, or one from another provider)
// and the thought signature ("" when there is none).
func splitToolCallID(id string) (geminiID, signature string) {
	id, signature, _ = strings.Cut(id, signatureSep)
	if isLocalID(id) {
		return "", signature
	}
	return id, signature
}

// isLocalID reports whether id is one the adapter made up ("call_<n>"), or
// one that another provider made (OpenAI's "call_…" ids): Gemini gets no id
// for those, and matches calls and results by name and order.
func isLocalID(id string) bool {
	return strings.HasPrefix(id, localIDPrefix)
}
