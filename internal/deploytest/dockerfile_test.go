package deploytest

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// repoRoot is the repository's root, from this package's directory.
const repoRoot = "../.."

// containerConfig is where the image keeps its configuration, as
// docs/deployment.md documents it.
const containerConfig = "/etc/llmproxy/config.yaml"

// image is what the test reads out of the Dockerfile.
type image struct {
	buildLine  string   // the go build RUN line
	binary     string   // where the final stage copies the binary
	entrypoint []string // exec form
	health     []string // HEALTHCHECK CMD, exec form
	env        map[string]string
	user       string
	base       string
	copies     map[string]string // final stage: destination -> source (from the context)
}

// parseDockerfile parses and lints the Dockerfile with BuildKit's parser
// and instruction parser; every parser or linter warning fails the test.
func parseDockerfile(t *testing.T) image {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "Dockerfile"))
	require.NoError(t, err)
	defer f.Close()
	res, err := parser.Parse(f)
	require.NoError(t, err)
	for _, w := range res.Warnings {
		t.Errorf("Dockerfile parser warning: %s (%s)", w.Short, w.URL)
	}
	var lint []string
	stages, _, err := instructions.Parse(res.AST, linter.New(&linter.Config{
		ExperimentalAll: true,
		Warn: func(rule, _, _, msg string, loc []parser.Range) {
			lint = append(lint, fmt.Sprintf("%s: %s (line %v)", rule, msg, loc))
		},
	}))
	require.NoError(t, err)
	assert.Empty(t, lint, "BuildKit lint warnings")
	require.GreaterOrEqual(t, len(stages), 2, "a multi-stage build: a build stage and a runtime stage")

	im := image{env: map[string]string{}, copies: map[string]string{}}
	for _, st := range stages[:len(stages)-1] {
		for _, c := range st.Commands {
			if r, ok := c.(*instructions.RunCommand); ok && strings.Contains(strings.Join(r.CmdLine, " "), "go build") {
				require.Empty(t, im.buildLine, "one go build line")
				require.Len(t, r.CmdLine, 1, "the go build line in shell form")
				im.buildLine = r.CmdLine[0]
			}
		}
	}
	final := stages[len(stages)-1]
	im.base = final.BaseName
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			require.Len(t, c.SourcePaths, 1, c.String())
			src := c.SourcePaths[0]
			if c.From != "" {
				src = c.From + ":" + src
			}
			im.copies[c.DestPath] = src
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				im.env[kv.Key] = kv.Value
			}
		case *instructions.UserCommand:
			im.user = c.User
		case *instructions.EntrypointCommand:
			assert.False(t, c.PrependShell, "ENTRYPOINT in exec form, so that SIGTERM reaches llmproxy")
			im.entrypoint = c.CmdLine
		case *instructions.HealthCheckCommand:
			require.NotEmpty(t, c.Health.Test)
			require.Equal(t, "CMD", c.Health.Test[0], "HEALTHCHECK CMD in exec form (distroless has no shell)")
			im.health = c.Health.Test[1:]
		case *instructions.RunCommand:
			t.Errorf("the runtime stage runs nothing (distroless has no shell): %s", c.String())
		}
	}
	return im
}

// TestDockerfile checks the image's shape: multi-stage, a static
// CGO_ENABLED=0 binary on distroless/static (or scratch with CA
// certificates), a non-root user, PROXY_API_HOST=0.0.0.0, the config at
// containerConfig, a HEALTHCHECK that runs the binary's own probe.
func TestDockerfile(t *testing.T) {
	im := parseDockerfile(t)
	assert.Contains(t, im.buildLine, "CGO_ENABLED=0", "a static binary")
	assert.Regexp(t, `-o \S+ \./cmd/llmproxy$`, im.buildLine)

	switch {
	case strings.HasPrefix(im.base, "gcr.io/distroless/static"):
		assert.True(t, strings.HasSuffix(im.base, ":nonroot") || im.user != "", "distroless :nonroot or a USER")
	case im.base == "scratch":
		assert.Contains(t, im.copies, "/etc/ssl/certs/ca-certificates.crt", "scratch needs CA certificates for HTTPS upstreams")
	default:
		t.Errorf("runtime base %q: want distroless/static or scratch", im.base)
	}
	require.NotEmpty(t, im.user, "USER")
	uid, _, _ := strings.Cut(im.user, ":")
	assert.NotContains(t, []string{"root", "0"}, uid, "the image runs as a non-root user")

	assert.Equal(t, "0.0.0.0", im.env["PROXY_API_HOST"], "listen on every interface inside the container")

	require.GreaterOrEqual(t, len(im.entrypoint), 3)
	im.binary = im.entrypoint[0]
	assert.True(t, strings.HasPrefix(im.copies[im.binary], "build:"), "the ENTRYPOINT runs the binary copied from the build stage: %v", im.copies)
	assert.Equal(t, []string{"--config", containerConfig}, im.entrypoint[1:3])
	assert.Equal(t, "config.yaml", im.copies[containerConfig], "a default config at %s", containerConfig)

	require.NotEmpty(t, im.health, "HEALTHCHECK")
	assert.Equal(t, im.binary, im.health[0], "the HEALTHCHECK runs the binary's own probe (no curl in distroless)")
	assert.Contains(t, im.health, "--healthcheck")
	assert.Equal(t, containerConfig, flagValue(im.health, "--config"))
}

// TestDockerignore checks with docker's own matcher that the build
// context leaves out .git and secrets and keeps what the build copies.
func TestDockerignore(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot, ".dockerignore"))
	require.NoError(t, err)
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	require.NoError(t, err)
	pm, err := patternmatcher.New(patterns)
	require.NoError(t, err)
	for _, p := range []string{".git/config", ".env", "server/server.test", "cmd/llmproxy/.env"} {
		ignored, err := pm.MatchesOrParentMatches(p)
		require.NoError(t, err)
		assert.True(t, ignored, "%s must stay out of the build context", p)
	}
	for _, p := range []string{"go.mod", "go.sum", "config.yaml", "cmd/llmproxy/main.go", "server/server.go", "providers/all/all.go", "llmproxy.go"} {
		ignored, err := pm.MatchesOrParentMatches(p)
		require.NoError(t, err)
		assert.False(t, ignored, "%s is needed by the build", p)
	}
}

// flagValue returns the argument after name in args.
func flagValue(args []string, name string) string {
	if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// TestDockerfileBinary builds the binary with the Dockerfile's own go
// build line (flags and environment included), checks that it is static,
// runs --version, and runs the HEALTHCHECK command against a stopped and
// then a serving instance; SIGTERM ends the instance cleanly.
func TestDockerfileBinary(t *testing.T) {
	im := parseDockerfile(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "llmproxy")
	out := strings.Fields(im.buildLine)
	i := slices.Index(out, "-o")
	require.Positive(t, i)
	line := strings.Replace(im.buildLine, "-o "+out[i+1], "-o "+bin, 1)
	abs, err := filepath.Abs(repoRoot)
	require.NoError(t, err)
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = abs
	cmd.Env = append(os.Environ(), "VERSION=v9.8.7-deploytest")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s\n%s", line, b)

	ef, err := elf.Open(bin)
	require.NoError(t, err)
	libs, err := ef.ImportedLibraries()
	require.NoError(t, err)
	assert.Empty(t, libs, "a static binary links no shared library")
	for _, p := range ef.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "a static binary has no dynamic loader")
	}
	_ = ef.Close()

	v, err := exec.Command(bin, "--version").CombinedOutput()
	require.NoError(t, err, "%s", v)
	assert.Contains(t, string(v), "llmproxy v9.8.7-deploytest")

	port := freePort(t)
	cfg := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`port: %d
providers:
  - name: mock
    type: mock
    models: ["mock-1"]
`, port)), 0o600))
	// The image's HEALTHCHECK, with the test's config in place of the
	// image's; 127.0.0.1 in place of 0.0.0.0 keeps the test on loopback.
	health := slices.Clone(im.health)
	health[slices.Index(health, containerConfig)] = cfg
	env := append(os.Environ(), "PROXY_API_HOST=127.0.0.1")
	probe := func() ([]byte, error) {
		c := exec.Command(bin, health[1:]...)
		c.Env = env
		return c.CombinedOutput()
	}
	b, err = probe()
	require.Error(t, err, "the probe must fail while nothing serves: %s", b)

	srv := exec.Command(bin, "--config", cfg)
	srv.Env = env
	var logs bytes.Buffer
	srv.Stdout, srv.Stderr = &logs, &logs
	require.NoError(t, srv.Start())
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		if srv.ProcessState == nil {
			_ = srv.Process.Kill()
			<-exited
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		if b, err = probe(); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the probe never passed: %s\nlogs:\n%s", b, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	assert.Contains(t, string(b), "answered 200")
	require.NoError(t, srv.Process.Signal(syscall.SIGTERM))
	require.NoError(t, <-exited, "SIGTERM ends llmproxy cleanly: %s", logs.String())
	assert.Contains(t, logs.String(), "shutdown: every request finished")
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
