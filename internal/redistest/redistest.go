// Package redistest runs a real redis-server for tests: a private process on
// a free local port with a temporary directory and no persistence, which a
// test can stop (as a crash would) and start again on the same port.
//
// When redis-server is not installed, Start fails the test if the CI
// environment variable is set (CI must run these tests; .ci/run installs the
// server) and skips it otherwise.
package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a redis-server process owned by a test. Its methods are safe
// for concurrent use.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int

	mu   sync.Mutex
	proc *process // nil while stopped
}

// process is one run of redis-server; done closes when it has exited.
type process struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{}
}

// Start starts a redis-server for t on a free port of 127.0.0.1 with a
// directory of t.TempDir() and persistence off, waits until it answers, and
// stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not installed: apt-get install -y redis-server")
		}
		t.Skip("redis-server not installed (apt-get install -y redis-server); CI runs this test")
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	var lastErr error
	// A free port can be taken between the check and the start: try a few.
	for range 5 {
		if s.port, err = freePort(); err != nil {
			t.Fatalf("redistest: no free port: %v", err)
		}
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("redistest: %v", lastErr)
	return nil
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL returns the server's redis:// URL, database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// PatientURL is URL with timeouts of 5 s, for tests that count exactly
// under load: a client slowed down by a busy test machine must not take
// its own slowness for an outage. A stopped server is still noticed at
// once (connections are refused or reset).
func (s *Server) PatientURL() string {
	return s.URL() + "?dial_timeout=5s&read_timeout=5s&write_timeout=5s"
}

// Stop kills the server (SIGKILL, as a crash) and waits for it to exit.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.cmd.Process.Kill()
	<-s.proc.done
	s.proc = nil
}

// Pause stops the server's process (SIGSTOP) without closing its
// connections, as a hung server would: clients time out instead of being
// refused. Resume continues it.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		_ = s.proc.cmd.Process.Signal(sig)
	}
}

// Restart starts the server again on the same port, empty, and waits until
// it answers. It fails the test if the server does not come up.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	for range 20 { // the port may take a moment to be free again
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart: %v", err)
}

// start runs the server and waits for it to answer PING.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &process{done: make(chan struct{})}
	p.cmd = exec.Command(s.bin,
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no", "--loglevel", "warning", "--logfile", "")
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	setDeathSignal(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return err
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("redis-server on port %d exited: %s", s.port, strings.TrimSpace(p.out.String()))
		default:
		}
		if err := ping(s.Addr()); err == nil {
			s.proc = p
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("redis-server on port %d did not answer: %s", s.port, strings.TrimSpace(p.out.String()))
}

// ping sends PING over a fresh connection and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
