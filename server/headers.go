package server

// The names of the headers the server sets on every answer, spelled in
// their canonical form (http.CanonicalHeaderKey), which is how net/http
// stores and writes them whatever the spelling given to Header.Set: a name
// set in another spelling is converted on every call, one string
// allocation per header per answer (BenchmarkServerChat). The comments
// give the spelling of the documentation, which clients may use too
// (header names are case-insensitive).
const (
	headerRequestID = "X-Request-Id" // X-Request-ID

	headerProvider = "X-Llmproxy-Provider" // X-LLMProxy-Provider
	headerAttempt  = "X-Llmproxy-Attempt"  // X-LLMProxy-Attempt
	headerModel    = "X-Llmproxy-Model"    // X-LLMProxy-Model

	headerRateLimit     = "X-Ratelimit-Limit"     // X-RateLimit-Limit
	headerRateRemaining = "X-Ratelimit-Remaining" // X-RateLimit-Remaining
	headerRateReset     = "X-Ratelimit-Reset"     // X-RateLimit-Reset

	headerTokenLimit     = "X-Ratelimit-Limit-Tokens"     // X-RateLimit-Limit-Tokens
	headerTokenRemaining = "X-Ratelimit-Remaining-Tokens" // X-RateLimit-Remaining-Tokens
	headerTokenReset     = "X-Ratelimit-Reset-Tokens"     // X-RateLimit-Reset-Tokens
)
