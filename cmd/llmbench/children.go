package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process the harness started: the upstream, the bare proxy or
// llmproxy.
type child struct {
	name   string
	cmd    *exec.Cmd
	addr   string // host:port it listens on
	scheme string // of its URL: "http" unless set to "https"
	stdin  io.WriteCloser
	stderr *tailBuffer
	exited chan struct{} // closed when the process has exited
}

// pid returns the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// url returns the child's base URL.
func (c *child) url() string {
	if c.scheme == "" {
		return "http://" + c.addr
	}
	return c.scheme + "://" + c.addr
}

// fleet tracks the children so that every one is stopped, by its PID, when
// the harness ends, however it ends.
type fleet struct {
	mu       sync.Mutex
	children []*child
}

// start runs path with args and env as a child named name. With readAddr
// the child must print its listen address as its first line of output;
// otherwise addr is the address it will listen on.
func (f *fleet) start(ctx context.Context, name, path string, args, env []string, readAddr bool, addr string) (*child, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.SysProcAttr = childProcAttr()
	c := &child{name: name, cmd: cmd, addr: addr, stderr: &tailBuffer{max: 8 << 10}, exited: make(chan struct{})}
	cmd.Stderr = c.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	c.stdin = stdin
	var stdout io.ReadCloser
	if readAddr {
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	f.mu.Lock()
	f.children = append(f.children, c)
	f.mu.Unlock()
	go func() { _ = cmd.Wait(); close(c.exited) }()

	if readAddr {
		line := make(chan string, 1)
		go func() {
			br := bufio.NewReader(stdout)
			s, _ := br.ReadString('\n')
			line <- strings.TrimSpace(s)
			_, _ = io.Copy(io.Discard, br)
		}()
		select {
		case c.addr = <-line:
		case <-time.After(15 * time.Second):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if c.addr == "" {
			f.stop(c)
			return nil, fmt.Errorf("%s did not print its address: %s", name, c.stderr)
		}
	}
	return c, nil
}

// waitHealthy polls url until it answers 200, the child exits or the time
// runs out.
func (c *child) waitHealthy(ctx context.Context, url string, timeout time.Duration) error {
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.exited:
			return fmt.Errorf("%s exited: %s", c.name, c.stderr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not become healthy at %s within %v: %s", c.name, url, timeout, c.stderr)
		}
	}
}

// stop ends a child: SIGTERM, then SIGKILL if it has not exited within
// 3 s. It signals the child's own PID only.
func (f *fleet) stop(c *child) {
	_ = c.stdin.Close()
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(3 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// stopAll stops every child still running.
func (f *fleet) stopAll() {
	f.mu.Lock()
	cs := f.children
	f.children = nil
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() { f.stop(c) })
	}
	wg.Wait()
}

// tailBuffer keeps the last max bytes written to it; it is safe for
// concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

// String returns what was kept, trimmed, or "(no output)".
func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := string(bytes.TrimSpace(b.buf))
	if s == "" {
		return "(no output)"
	}
	return s
}

// childEnv is the harness's environment for a child, without the
// variables that would reconfigure llmproxy behind the harness's back, plus
// extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PROXY_API_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// errNoProc is returned on systems without the Linux /proc files the
// harness reads.
var errNoProc = errors.New("llmbench needs Linux: it reads CPU time and peak RSS from /proc/PID/stat and /proc/PID/status")
