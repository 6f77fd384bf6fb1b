// Package readmetest holds no code: its tests check the snippets of the
// repository's documentation (README.md, CONTRIBUTING.md and docs/*.md), so
// that every command and program a reader copies works as written.
//
// The tests check that
//   - each ```go block is a whole, gofmt-formatted program that go build
//     compiles against the repository's code (through an overlay, so
//     nothing is written into the repository), and one that needs no
//     server runs to a clean exit beside a copy of the shipped config.yaml,
//     with no provider keys;
//   - each ```yaml block loads as a configuration (LoadConfigEnv);
//   - each curl command, run against the handler built from the shipped
//     config.yaml with no provider keys, gets a 2xx answer, or the status
//     of a trailing "# NNN" comment; a POST sends
//     Content-Type: application/json and a JSON body; a documented output
//     that follows it (a ```json block, or data: lines) matches the answer
//     but for ids and timings;
//   - each go run or go test command names packages, flags and fuzz
//     targets that exist;
//   - each relative link names a file that exists, and each anchor a
//     heading of it.
package readmetest
