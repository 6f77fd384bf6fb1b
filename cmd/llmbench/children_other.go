//go:build !linux

package main

import "syscall"

// childProcAttr sets nothing outside Linux, where the harness does not run.
func childProcAttr() *syscall.SysProcAttr { return nil }
