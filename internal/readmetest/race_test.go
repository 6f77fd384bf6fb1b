//go:build race

package readmetest

// buildFlags are the flags of the go build that compiles the
// documentation's programs: under -race, the same as the test binaries',
// so that the build reuses the packages the test run already compiled.
var buildFlags = []string{"-race"}
