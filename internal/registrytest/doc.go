// Package registrytest holds tests of the provider-type registry that need a
// test binary into which no provider adapter is linked: the root package's
// own tests import adapters (its benchmarks use providers/openai), so there
// every built-in type is registered and the "not linked" error cannot occur.
//
// The package has no code of its own; keep its tests free of imports of
// github.com/llmproxy/llmproxy/providers/... .
package registrytest
