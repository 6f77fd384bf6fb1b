package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/PID/stat ("getconf CLK_TCK"). It is 100 on every Linux platform Go
// supports.
const clockTicks = 100

// cpuTicks returns the CPU time a process has used so far, user and system
// (utime + stime of /proc/PID/stat), in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after its closing parenthesis start with field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat line")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat line")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return utime + stime, nil
}

// ticksToMicros converts clock ticks to microseconds.
func ticksToMicros(t int64) float64 { return float64(t) * 1e6 / clockTicks }

// statusKB returns a "kB" field of /proc/PID/status (VmHWM, VmRSS) in bytes.
func statusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		v, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", field, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// peakRSS returns the peak resident set size of a process (VmHWM), in
// bytes.
func peakRSS(pid int) (int64, error) { return statusKB(pid, "VmHWM") }

// resetPeakRSS resets a process's VmHWM to its current RSS (writing 5 to
// /proc/PID/clear_refs, Linux 4.0 and later), so that the peak of one
// measurement window is not the peak of an earlier one. It reports whether
// the reset worked; when it did not, the peak is the process's lifetime
// peak, which includes the warm-up.
func resetPeakRSS(pid int) bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
}

// haveProc reports whether /proc has what the harness reads.
func haveProc() bool {
	_, err := cpuTicks(os.Getpid())
	if err != nil {
		return false
	}
	_, err = peakRSS(os.Getpid())
	return err == nil
}
