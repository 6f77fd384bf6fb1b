package readmetest

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestGoCommands checks the go run, go test and go vet commands of the
// documentation's shell blocks: their packages exist, the flags given to a
// program run with go run are flags it defines, and a -fuzz pattern
// matches exactly one fuzz target of its package, as go test requires.
func TestGoCommands(t *testing.T) {
	root := repoRoot(t)
	checked := 0
	for _, b := range allBlocks(t, "sh", "bash") {
		for _, c := range commands(b) {
			if len(c.words) < 2 || c.words[0] != "go" {
				continue
			}
			where := b.file + ":" + strconv.Itoa(c.line)
			switch c.words[1] {
			case "run", "test", "vet":
			default:
				t.Errorf("%s: unexpected go command %q", where, c.words[1])
				continue
			}
			checked++
			var pkgs, progFlags []string
			fuzz := ""
			for _, w := range c.words[2:] {
				switch {
				case c.words[1] == "run" && len(pkgs) > 0:
					progFlags = append(progFlags, w)
				case strings.HasPrefix(w, "."):
					pkgs = append(pkgs, w)
				case strings.HasPrefix(w, "-fuzz="):
					fuzz = strings.TrimPrefix(w, "-fuzz=")
				}
			}
			if len(pkgs) == 0 {
				t.Errorf("%s: no package in %q", where, strings.Join(c.words, " "))
				continue
			}
			for _, p := range pkgs {
				if p == "./..." {
					continue
				}
				if !hasGoFiles(filepath.Join(root, filepath.FromSlash(p))) {
					t.Errorf("%s: %s is not a package of the repository", where, p)
				}
			}
			if c.words[1] == "run" {
				checkProgramFlags(t, where, filepath.Join(root, filepath.FromSlash(pkgs[0])), progFlags)
			}
			if fuzz != "" {
				checkFuzzTarget(t, where, filepath.Join(root, filepath.FromSlash(pkgs[0])), fuzz)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no go commands found")
	}
}

// hasGoFiles reports whether dir holds .go files.
func hasGoFiles(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	return len(m) > 0
}

// sources returns the contents of dir's .go files: the test files when
// tests is true, the others otherwise.
func sources(t *testing.T, dir string, tests bool) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") != tests {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(src)
	}
	return b.String()
}

// checkProgramFlags checks that each -flag of args is defined by the
// program in dir (with the flag package's String, Int, Bool, … functions).
func checkProgramFlags(t *testing.T, where, dir string, args []string) {
	t.Helper()
	src := sources(t, dir, false)
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue // a flag's value
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		def := regexp.MustCompile(`\.(?:String|Int|Int64|Uint|Uint64|Bool|Duration|Float64|Func|TextVar)(?:Var)?\([^"\n]*"` + regexp.QuoteMeta(name) + `"`)
		if !def.MatchString(src) {
			t.Errorf("%s: the program in %s defines no flag -%s", where, dir, name)
		}
	}
}

// fuzzFunc finds the fuzz targets of a package's tests.
var fuzzFunc = regexp.MustCompile(`(?m)^func (Fuzz\w*)\(`)

// checkFuzzTarget checks that pattern matches exactly one fuzz target of
// the package in dir.
func checkFuzzTarget(t *testing.T, where, dir, pattern string) {
	t.Helper()
	re, err := regexp.Compile(pattern)
	if err != nil {
		t.Errorf("%s: -fuzz=%s is not a regular expression: %v", where, pattern, err)
		return
	}
	var matched []string
	for _, m := range fuzzFunc.FindAllStringSubmatch(sources(t, dir, true), -1) {
		if re.MatchString(m[1]) {
			matched = append(matched, m[1])
		}
	}
	if len(matched) != 1 {
		t.Errorf("%s: -fuzz=%s matches %d fuzz targets in %s, want 1: %v", where, pattern, len(matched), dir, matched)
	}
}
