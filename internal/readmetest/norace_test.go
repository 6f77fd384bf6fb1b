//go:build !race

package readmetest

// buildFlags are the flags of the go build that compiles the
// documentation's programs (see race_test.go).
var buildFlags []string
