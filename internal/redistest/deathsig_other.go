//go:build !linux

package redistest

import "os/exec"

// setDeathSignal does nothing outside Linux: Stop and the test's cleanup
// end the server.
func setDeathSignal(*exec.Cmd) {}
