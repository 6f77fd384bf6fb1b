package readmetest

import (
	"bytes"
	"context"
	"encoding/json"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llmproxy/llmproxy"
)

// TestGoPrograms checks that each ```go block is a whole program, formatted
// as gofmt formats it, that go build compiles against the repository's
// code (go vet would chdir into the package's directory, which the
// overlay cannot provide), and runs those that need no server.
// The programs are put into the module through an overlay
// (internal/readmetest/program<N>/main.go, which exists only there), so
// that they import the repository's packages and its dependencies as a
// user's program would, and nothing is written into the repository.
func TestGoPrograms(t *testing.T) {
	root := repoRoot(t)
	blocks := allBlocks(t, "go")
	if len(blocks) == 0 {
		t.Fatal("no go blocks found")
	}
	tmp := t.TempDir()
	overlay := map[string]string{}
	var pkgs []string
	starts := map[string]block{} // program directory → its block
	for i, b := range blocks {
		src := []byte(b.text)
		if !strings.HasPrefix(b.text, "package main\n") {
			t.Errorf("%s: a go block must be a whole program starting with \"package main\"", b.where())
			continue
		}
		if formatted, err := format.Source(src); err != nil {
			t.Errorf("%s: does not parse: %v", b.where(), err)
			continue
		} else if !bytes.Equal(formatted, src) {
			t.Errorf("%s: not gofmt-formatted; gofmt gives:\n%s", b.where(), formatted)
		}
		dir := "program" + strconv.Itoa(i)
		file := filepath.Join(tmp, dir+".go")
		if err := os.WriteFile(file, src, 0o644); err != nil {
			t.Fatal(err)
		}
		overlay[filepath.Join(root, "internal", "readmetest", dir, "main.go")] = file
		pkgs = append(pkgs, "./internal/readmetest/"+dir)
		starts[dir] = b
	}
	if len(pkgs) == 0 {
		return
	}
	ov, err := json.Marshal(map[string]any{"Replace": overlay})
	if err != nil {
		t.Fatal(err)
	}
	ovFile := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ovFile, ov, 0o644); err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the documentation's programs: %v", err)
	}
	bin := filepath.Join(tmp, "bin")
	args := append([]string{"build", "-overlay", ovFile, "-o", bin + string(filepath.Separator)}, buildFlags...)
	cmd := exec.CommandContext(t.Context(), goBin, append(args, pkgs...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		// Name the programs by their place in the documentation.
		msg := programLine.ReplaceAllStringFunc(string(out), func(m string) string {
			sub := programLine.FindStringSubmatch(m)
			line, _ := strconv.Atoi(sub[2])
			b := starts[sub[1]]
			return b.file + ":" + strconv.Itoa(b.line+line)
		})
		for dir, b := range starts {
			msg = strings.ReplaceAll(msg, "internal/readmetest/"+dir, "("+b.where()+")")
		}
		t.Errorf("go build of the documentation's programs failed (%v):\n%s", err, msg)
		return
	}
	runPrograms(t, root, bin, starts)
}

// runPrograms runs the built programs that need no server (those that
// name no http:// URL) in a directory holding a copy of the shipped
// config.yaml, with no provider keys in their environment, so that only
// the mock answers. Each must exit with status 0.
func runPrograms(t *testing.T, root, bin string, programs map[string]block) {
	t.Helper()
	cfg, err := os.ReadFile(filepath.Join(root, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for name, b := range programs {
		if strings.Contains(b.text, "http://") {
			continue // a client of a running proxy
		}
		ran++
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		cmd := exec.CommandContext(ctx, filepath.Join(bin, name))
		cmd.Dir = dir
		cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("%s: the program failed (%v):\n%s", b.where(), err, out)
		}
	}
	if ran == 0 {
		t.Error("no program without a server to run")
	}
}

// programLine finds a position in a program's file in the compiler's
// messages: the program's directory and the line.
var programLine = regexp.MustCompile(`\S*/(program\d+)\.go:(\d+)`)

// TestYAMLConfigs checks that each ```yaml block loads as a configuration
// file, with no environment.
func TestYAMLConfigs(t *testing.T) {
	blocks := allBlocks(t, "yaml")
	if len(blocks) == 0 {
		t.Fatal("no yaml blocks found")
	}
	for _, b := range blocks {
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, []byte(b.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := llmproxy.LoadConfigEnv(path, nil); err != nil {
			t.Errorf("%s: does not load: %v", b.where(), err)
		}
	}
}
