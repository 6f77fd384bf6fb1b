//go:build linux

package lbtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lookTool finds a program the test needs: in CI a missing one fails the
// test (.ci/run installs it); elsewhere the test is skipped with the
// command that installs it.
func lookTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/" + name); err == nil {
		return "/usr/sbin/" + name
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not installed: apt-get install -y %s", name, pkg)
	}
	t.Skipf("%s not installed (apt-get install -y %s); CI runs this test", name, pkg)
	return ""
}

// buildLLMProxy builds cmd/llmproxy into dir.
func buildLLMProxy(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "llmproxy")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/llmproxy")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/llmproxy: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a bytes.Buffer safe for a process's output and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// proc is a child process of the test: killed (SIGKILL) at the end of the
// test if still running, and with the test process too (Pdeathsig).
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	err    error // after exited
}

func startProc(t *testing.T, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Wait returns even if a grandchild still holds the output pipes.
	p.cmd.WaitDelay = 10 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", p.name, tail(p.out.String(), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// waitHTTP polls url until it answers 200, the process ends or a minute
// passes (a hang guard, not a timing assertion).
func waitHTTP(t *testing.T, p *proc, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before serving: %v\n%s", p.name, p.err, p.out.String())
		case <-ctx.Done():
			t.Fatalf("%s did not serve %s within a minute\n%s", p.name, url, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// replicaConfig is the config file shared by the replicas (their ports
// come from PROXY_API_PORT).
func replicaConfig(redisURL, upstreamURL string) string {
	return fmt.Sprintf(`api_keys: [%s]
redis_url: %q
rate_limit_chat_rpm: 1000000
rate_limit_completions_rpm: %d
rate_limit_embeddings_rpm: %d
circuit_breaker_threshold: %d
circuit_breaker_timeout: 3600
shutdown_timeout: 1
request_timeout: 60
log_level: info
providers:
  - name: broken
    type: openai
    base_url: %s/broken/v1
    api_key_env: LBTEST_UPSTREAM_KEY
    models: ["flaky-model"]
    priority: 1
    max_retries: 0
  - name: good
    type: openai
    base_url: %s/good/v1
    api_key_env: LBTEST_UPSTREAM_KEY
    models: ["good-model", "long-model", "flaky-model", "embed-model", "text-model"]
    priority: 2
    max_retries: 0
`, strings.Join(clientKeys, ", "), redisURL, completionsRPM, embeddingsRPM, breakerThreshold, upstreamURL, upstreamURL)
}

// nginxConfig balances round-robin over the replicas' ports. A replica
// that refuses connections (stopping) is passed over: proxy_next_upstream
// error with non_idempotent retries a POST on the next replica only when
// the connection failed before a response began, which for llmproxy means
// the request never reached it (a stopping llmproxy answers every request
// it accepted).
func nginxConfig(dir string, listen int, replicas []int) string {
	var servers strings.Builder
	for _, p := range replicas {
		fmt.Fprintf(&servers, "    server 127.0.0.1:%d max_fails=1 fail_timeout=60s;\n", p)
	}
	// One process (no master and workers): killing it leaves nothing.
	return fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream llmproxy {
%[2]s    keepalive 32;
  }
  server {
    listen 127.0.0.1:%[3]d;
    location / {
      proxy_pass http://llmproxy;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffering off;
      proxy_read_timeout 120s;
      proxy_next_upstream error non_idempotent;
      proxy_next_upstream_tries 3;
    }
  }
}
`, dir, servers.String(), listen)
}
