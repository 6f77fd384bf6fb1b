package readmetest

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/all"
	"github.com/llmproxy/llmproxy/server"
)

// TestCurlCommands runs every curl command of the documentation's shell
// blocks. A command for port 8000 goes to the handler built from the
// shipped config.yaml (copied away from any .env, and loaded with no
// environment: only the mock provider is active); one for port 8080 goes
// to the layout of examples/mount (the mock under /llm/). Each must get a
// 2xx answer, or the status its trailing comment names ("# 415"). A POST
// must send Content-Type: application/json (unless it documents the 415)
// and a JSON body. When the block is followed by its output (a ```json
// block, or a block of data: lines), the answer must match it but for ids
// and timings.
func TestCurlCommands(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("curl is needed to run the documentation's curl commands: %v", err)
	}
	root := repoRoot(t)
	routes := serverRoutes(t, root)
	targets := map[string]struct {
		srv    *httptest.Server
		prefix string
	}{
		"8000": {shippedServer(t, root), ""},
		"8080": {mountServer(t), "/llm"},
	}
	ran := 0
	for _, d := range docs(t) {
		for bi, b := range d.blocks {
			if b.lang != "sh" && b.lang != "bash" {
				continue
			}
			var curls []command
			for _, c := range commands(b) {
				if c.words[0] == "curl" {
					curls = append(curls, c)
				}
			}
			for _, c := range curls {
				where := b.file + ":" + strconv.Itoa(c.line)
				req := parseCurl(t, where, c)
				if req == nil {
					continue
				}
				target, ok := targets[req.port]
				if !ok {
					t.Errorf("%s: curl to port %s; the documentation uses 8000 (the shipped config) or 8080 (examples/mount)", where, req.port)
					continue
				}
				path, ok := strings.CutPrefix(req.path, target.prefix)
				if !ok || !routes[path] {
					t.Errorf("%s: %s is not an endpoint of the server", where, req.path)
					continue
				}
				want := 0
				if m := statusComment.FindStringSubmatch(c.comment); m != nil {
					want, _ = strconv.Atoi(m[1])
				}
				if req.method == http.MethodPost {
					if !req.jsonType && want != http.StatusUnsupportedMediaType {
						t.Errorf("%s: a POST must send -H 'Content-Type: application/json'", where)
					}
					if !json.Valid([]byte(req.body)) {
						t.Errorf("%s: the body is not valid JSON: %s", where, req.body)
					}
				}
				status, body := runCurl(t, curl, c.words[1:], req.urlIndex, target.srv.URL+req.path+req.query)
				ran++
				switch {
				case want != 0 && status != want:
					t.Errorf("%s: got status %d, the comment says %d; answer:\n%s", where, status, want, body)
				case want == 0 && (status < 200 || status > 299):
					t.Errorf("%s: got status %d; answer:\n%s", where, status, body)
				}
				if len(curls) == 1 && bi+1 < len(d.blocks) {
					checkOutput(t, where, d.blocks[bi+1], b, body)
				}
			}
		}
	}
	if ran == 0 {
		t.Fatal("no curl commands found")
	}
}

// statusComment is a trailing comment naming the expected status.
var statusComment = regexp.MustCompile(`^([1-5][0-9][0-9])\b`)

// curlRequest is what the test reads of a curl command.
type curlRequest struct {
	urlIndex    int // index of the URL among the command's arguments
	port        string
	path, query string
	method      string
	body        string
	jsonType    bool
}

// parseCurl reads the URL, method, body and Content-Type of a curl
// command; it reports a command it cannot read as an error and returns nil.
func parseCurl(t *testing.T, where string, c command) *curlRequest {
	t.Helper()
	r := &curlRequest{method: http.MethodGet, urlIndex: -1}
	args := c.words[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "-d", "--data", "--data-raw", "--json":
			if i+1 >= len(args) {
				t.Errorf("%s: %s without a value", where, a)
				return nil
			}
			i++
			r.body, r.method = args[i], http.MethodPost
			if a == "--json" {
				r.jsonType = true
			}
		case "-H", "--header":
			if i+1 >= len(args) {
				t.Errorf("%s: %s without a value", where, a)
				return nil
			}
			i++
			name, value, _ := strings.Cut(args[i], ":")
			if strings.EqualFold(strings.TrimSpace(name), "Content-Type") &&
				strings.HasPrefix(strings.TrimSpace(value), "application/json") {
				r.jsonType = true
			}
		case "-X", "--request":
			if i+1 >= len(args) {
				t.Errorf("%s: %s without a value", where, a)
				return nil
			}
			i++
			r.method = args[i]
		default:
			if strings.HasPrefix(a, "-") {
				continue // -s, -N, -i: no value
			}
			if r.urlIndex >= 0 {
				t.Errorf("%s: more than one URL in a curl command", where)
				return nil
			}
			r.urlIndex = i
		}
	}
	if r.urlIndex < 0 {
		t.Errorf("%s: no URL in a curl command", where)
		return nil
	}
	u := strings.TrimPrefix(args[r.urlIndex], "http://")
	hostPort, rest, _ := strings.Cut(u, "/")
	host, port, ok := strings.Cut(hostPort, ":")
	if !ok || (host != "127.0.0.1" && host != "localhost") {
		t.Errorf("%s: the URL %q is not on 127.0.0.1 or localhost with a port", where, args[r.urlIndex])
		return nil
	}
	r.port = port
	r.path, r.query, _ = strings.Cut("/"+rest, "?")
	if r.query != "" {
		r.query = "?" + r.query
	}
	return r
}

// runCurl runs curl with args, the URL (at urlIndex) replaced by url, and
// returns the status and the body.
func runCurl(t *testing.T, curl string, args []string, urlIndex int, url string) (int, string) {
	t.Helper()
	args = append([]string(nil), args...)
	args[urlIndex] = url
	args = append(args, "--max-time", "20", "-w", "\n%{http_code}")
	out, err := exec.CommandContext(t.Context(), curl, args...).Output()
	if err != nil {
		t.Fatalf("curl %q: %v", args, err)
	}
	s := strings.TrimRight(string(out), "\n")
	i := strings.LastIndexByte(s, '\n')
	status, err := strconv.Atoi(s[i+1:])
	if err != nil || i < 0 {
		t.Fatalf("curl %q: no status in its output:\n%s", args, out)
	}
	return status, s[:i]
}

// checkOutput compares the answer of a block's curl command with the
// documented output in the block after it, if that follows at once: a
// ```json block must be the same JSON, and each data: line of an SSE
// transcript must be among the answer's events, ids and timings aside.
func checkOutput(t *testing.T, where string, next, cmd block, body string) {
	t.Helper()
	if next.line > cmd.end+2 {
		return // prose between: not this command's output
	}
	switch {
	case next.lang == "json":
		var want, got any
		if err := json.Unmarshal([]byte(next.text), &want); err != nil {
			t.Errorf("%s: the documented output is not JSON: %v", next.where(), err)
			return
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Errorf("%s: the answer is not JSON: %v\n%s", where, err, body)
			return
		}
		if !reflect.DeepEqual(normalize(want), normalize(got)) {
			t.Errorf("%s: the documented output differs from the answer\ndocumented: %s\nanswer:     %s", next.where(), next.text, body)
		}
	case next.lang == "" && strings.HasPrefix(next.text, "data: "):
		got := map[string]bool{}
		for l := range strings.SplitSeq(body, "\n") {
			if ev, ok := strings.CutPrefix(l, "data: "); ok {
				got[normalizeEvent(ev)] = true
			}
		}
		for l := range strings.SplitSeq(next.text, "\n") {
			if ev, ok := strings.CutPrefix(l, "data: "); ok && !got[normalizeEvent(ev)] {
				t.Errorf("%s: the documented event is not in the answer: %s\nanswer:\n%s", next.where(), l, body)
			}
		}
	}
}

// volatile are the members whose values change from run to run.
var volatile = map[string]bool{"id": true, "request_id": true, "response_time": true}

// normalize replaces the values of volatile members with a placeholder.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if volatile[k] {
				x[k] = "…"
			} else {
				x[k] = normalize(e)
			}
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	}
	return v
}

// normalizeEvent normalizes the data of an SSE event that is JSON.
func normalizeEvent(data string) string {
	var v any
	if json.Unmarshal([]byte(data), &v) != nil {
		return data
	}
	b, _ := json.Marshal(normalize(v))
	return string(b)
}

// routePattern finds the paths server.Handler serves.
var routePattern = regexp.MustCompile(`mux\.Handle\("(/[^"]+)"`)

// serverRoutes reads the endpoints from server/server.go, so that a curl
// for a path the server does not serve fails here by name.
func serverRoutes(t *testing.T, root string) map[string]bool {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, "server", "server.go"))
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]bool{}
	for _, m := range routePattern.FindAllSubmatch(src, -1) {
		routes[string(m[1])] = true
	}
	if !routes["/v1/chat/completions"] {
		t.Fatalf("no routes found in server/server.go (found %v)", routes)
	}
	return routes
}

// shippedServer serves the handler built from the shipped config.yaml,
// loaded from a copy with no .env beside it and no environment.
func shippedServer(t *testing.T, root string) *httptest.Server {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := llmproxy.LoadConfigEnv(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, cfg, "")
}

// mountServer serves the layout of examples/mount: the mock under /llm/.
func mountServer(t *testing.T) *httptest.Server {
	t.Helper()
	return serve(t, llmproxy.Config{
		Providers: []llmproxy.ProviderConfig{{Name: "mock", Type: "mock"}},
	}, "/llm")
}

// serve starts a proxy for cfg and serves its handler under prefix on a
// loopback port until the test ends.
func serve(t *testing.T, cfg llmproxy.Config, prefix string) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := llmproxy.New(cfg, llmproxy.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	h := server.Handler(p, server.Options{Logger: logger})
	var handler http.Handler = h
	if prefix != "" {
		mux := http.NewServeMux()
		mux.Handle(prefix+"/", http.StripPrefix(prefix, h))
		handler = mux
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(func() {
		srv.Close()
		if c, ok := h.(io.Closer); ok {
			_ = c.Close()
		}
		_ = p.Close()
	})
	return srv
}
