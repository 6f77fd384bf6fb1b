package readmetest

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// linkPattern finds Markdown links; the target is group 1.
var linkPattern = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestLinks checks that each relative link of the documentation (outside
// code blocks) names a file or directory of the repository, and that each
// anchor names a heading of its Markdown file.
func TestLinks(t *testing.T) {
	root := repoRoot(t)
	all := docs(t)
	anchors := map[string]map[string]bool{}
	for _, d := range all {
		anchors[d.path] = headingSlugs(d)
	}
	checked := 0
	for _, d := range all {
		inBlock := false
		for i, l := range d.lines {
			if strings.HasPrefix(strings.TrimSpace(l), "```") {
				inBlock = !inBlock
				continue
			}
			if inBlock {
				continue
			}
			for _, m := range linkPattern.FindAllStringSubmatch(l, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				checked++
				where := d.path + ":" + strconv.Itoa(i+1)
				file, anchor, _ := strings.Cut(target, "#")
				dest := d.path
				if file != "" {
					dest = path.Clean(path.Join(path.Dir(d.path), file))
					if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(dest))); err != nil {
						t.Errorf("%s: link to %s: no such file", where, target)
						continue
					}
				}
				if anchor == "" {
					continue
				}
				slugs, ok := anchors[dest]
				if !ok {
					t.Errorf("%s: link to %s: anchors are checked only in the documentation's Markdown files", where, target)
					continue
				}
				if !slugs[anchor] {
					t.Errorf("%s: link to %s: %s has no heading with that anchor", where, target, dest)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative links found")
	}
}

// headingSlugs returns the anchors of a file's headings (outside code
// blocks).
func headingSlugs(d doc) map[string]bool {
	out := map[string]bool{}
	inBlock := false
	for _, l := range d.lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			inBlock = !inBlock
			continue
		}
		if inBlock || !strings.HasPrefix(l, "#") {
			continue
		}
		out[githubSlug(strings.TrimLeft(l, "# "))] = true
	}
	return out
}
