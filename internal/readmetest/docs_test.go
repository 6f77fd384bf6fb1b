package readmetest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// block is a fenced code block of a documentation file.
type block struct {
	file string // path of the file, relative to the repository's root
	line int    // line number of the opening fence
	end  int    // line number of the closing fence
	lang string // the fence's info string: go, sh, json, …
	text string
}

// where names the block for messages: file:line.
func (b block) where() string { return b.file + ":" + strconv.Itoa(b.line) }

// doc is a documentation file: its lines and its fenced blocks.
type doc struct {
	path   string // relative to the repository's root
	lines  []string
	blocks []block
}

// repoRoot is the repository's root, two directories up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the repository's root is not two directories up: %v", err)
	}
	return root
}

// docs reads README.md, CONTRIBUTING.md and docs/*.md.
func docs(t *testing.T) []doc {
	t.Helper()
	root := repoRoot(t)
	paths := []string{"README.md", "CONTRIBUTING.md"}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(more) == 0 {
		t.Fatal("no docs/*.md files")
	}
	for _, m := range more {
		rel, _ := filepath.Rel(root, m)
		paths = append(paths, filepath.ToSlash(rel))
	}
	var out []doc
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		d := doc{path: p, lines: strings.Split(string(b), "\n")}
		d.blocks = fencedBlocks(p, d.lines)
		out = append(out, d)
	}
	return out
}

// allBlocks returns the blocks of every documentation file whose language
// is one of langs.
func allBlocks(t *testing.T, langs ...string) []block {
	t.Helper()
	var out []block
	for _, d := range docs(t) {
		for _, b := range d.blocks {
			for _, l := range langs {
				if b.lang == l {
					out = append(out, b)
				}
			}
		}
	}
	return out
}

// fencedBlocks finds the ``` blocks of a Markdown file.
func fencedBlocks(file string, lines []string) []block {
	var out []block
	var cur *block
	var body []string
	for i, l := range lines {
		trimmed := strings.TrimSpace(l)
		if !strings.HasPrefix(trimmed, "```") {
			if cur != nil {
				body = append(body, l)
			}
			continue
		}
		if cur == nil {
			cur = &block{file: file, line: i + 1, lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))}
			body = body[:0]
			continue
		}
		cur.end = i + 1
		cur.text = strings.Join(body, "\n") + "\n"
		out = append(out, *cur)
		cur = nil
	}
	return out
}

// command is one shell command of a block: continuation lines joined,
// split into words, with its trailing comment apart.
type command struct {
	line    int // line number of the command's first line in its file
	words   []string
	comment string
}

// commands splits a shell block into commands: lines ending in a
// backslash continue on the next, and && separates commands too.
func commands(b block) []command {
	var out []command
	lines := strings.Split(strings.TrimRight(b.text, "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		start := i
		text := lines[i]
		for strings.HasSuffix(text, "\\") && i+1 < len(lines) {
			i++
			text = strings.TrimSuffix(text, "\\") + " " + lines[i]
		}
		words, comment := shellWords(text)
		for len(words) > 0 {
			n := len(words)
			for j, w := range words {
				if w == "&&" {
					n = j
					break
				}
			}
			if n > 0 {
				out = append(out, command{line: b.line + 1 + start, words: words[:n], comment: comment})
			}
			if n == len(words) {
				break
			}
			words = words[n+1:]
		}
	}
	return out
}

// shellWords splits a command line into words as a POSIX shell would for
// the commands the documentation holds: single and double quotes,
// backslash escapes outside quotes, and a # at the start of a word
// beginning a comment. It does no expansion.
func shellWords(s string) (words []string, comment string) {
	var w strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, w.String())
			w.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				j = len(s) - i - 1
			}
			w.WriteString(s[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				w.WriteByte(s[i])
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			inWord = true
		case c == '#' && !inWord:
			flush()
			return words, strings.TrimSpace(s[i+1:])
		case unicode.IsSpace(rune(c)):
			flush()
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return words, ""
}

// githubSlug is the anchor GitHub gives a heading.
func githubSlug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}
