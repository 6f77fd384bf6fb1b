package main

import "syscall"

// childProcAttr puts a child in its own process group, so that a Ctrl-C
// in the terminal reaches the harness only (which then stops the children
// by PID), and has the kernel kill it should the harness die first.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
