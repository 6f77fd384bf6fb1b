//go:build linux

package lbtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/llmproxy/llmproxy/internal/redistest"
)

// The replicas' shared limits and breaker (see replicaConfig).
const (
	completionsRPM   = 4
	embeddingsRPM    = 6
	breakerThreshold = 3
)

// clientKeys are the keys the replicas accept; each limit check uses its own.
var clientKeys = []string{"sk-lb-load", "sk-lb-a", "sk-lb-b", "sk-lb-c"}

// hangGuard bounds the whole test's requests; it only fires on a hang.
const hangGuard = 3 * time.Minute

// TestReplicasBehindNginx is the deployment test of issue 20: three
// llmproxy processes, one redis-server and nginx on loopback.
func TestReplicasBehindNginx(t *testing.T) {
	nginx := lookTool(t, "nginx", "nginx")
	srv := redistest.Start(t)
	dir := t.TempDir()
	bin := buildLLMProxy(t, dir)

	up := &upstream{}
	us := httptest.NewServer(up)
	defer us.Close()

	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(replicaConfig(srv.URL(), us.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	var replicas []*proc
	var ports []int
	for i := range 3 {
		port := freePort(t)
		p := startProc(t, "llmproxy-"+strconv.Itoa(i), []string{
			"PROXY_API_HOST=127.0.0.1", "PROXY_API_PORT=" + strconv.Itoa(port), "LBTEST_UPSTREAM_KEY=sk-upstream",
		}, bin, "--config", cfg, "--log-format", "text")
		replicas, ports = append(replicas, p), append(ports, port)
	}
	for i, p := range replicas {
		waitHTTP(t, p, replicaURL(ports[i])+"/health")
	}
	lbPort := freePort(t)
	ndir := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(ndir, 0o755); err != nil {
		t.Fatal(err)
	}
	nconf := filepath.Join(ndir, "nginx.conf")
	if err := os.WriteFile(nconf, []byte(nginxConfig(ndir, lbPort, ports)), 0o644); err != nil {
		t.Fatal(err)
	}
	ng := startProc(t, "nginx", nil, nginx, "-e", "stderr", "-p", ndir, "-c", nconf)
	lb := replicaURL(lbPort)
	waitHTTP(t, ng, lb+"/health")

	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	c := &client{hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}

	t.Run("limits", func(t *testing.T) {
		checkLimit(ctx, t, c, lb, 3, "sk-lb-a", "/v1/embeddings", `{"model":"embed-model","input":"hi"}`, embeddingsRPM)
		checkLimit(ctx, t, c, lb, 3, "sk-lb-b", "/v1/embeddings", `{"model":"embed-model","input":"hi"}`, embeddingsRPM)
		checkLimit(ctx, t, c, lb, 3, "sk-lb-a", "/v1/completions", `{"model":"text-model","prompt":"hi"}`, completionsRPM)
	})

	t.Run("breaker", func(t *testing.T) {
		// Failures seen by replica 0 alone open the shared breaker.
		for range breakerThreshold {
			if o := c.chat(ctx, replicaURL(ports[0]), "flaky-model", false); o.kind != okPlain {
				t.Fatalf("flaky request on replica 0: %s", o)
			}
		}
		opened := up.brokenCalls.Load()
		if opened != breakerThreshold {
			t.Fatalf("the broken provider got %d calls, want %d", opened, breakerThreshold)
		}
		const n = 30
		for range n {
			if o := c.chat(ctx, lb, "flaky-model", false); o.kind != okPlain {
				t.Fatalf("flaky request through nginx: %s", o)
			}
		}
		if got := up.brokenCalls.Load(); got != opened {
			t.Errorf("after the breaker opened on replica 0, the replicas sent %d more calls to the broken provider, want 0", got-opened)
		}
		for i := 1; i < 3; i++ {
			if st := breakerOf(t, ports[i], "broken"); st != "open" {
				t.Errorf("replica %d sees the broken provider's breaker %q, want open", i, st)
			}
		}
		t.Logf("breaker: %d failures on replica 0 opened it; %d requests through nginx then reached the broken provider %d times (all %d answered by the fallback)",
			breakerThreshold, n, up.brokenCalls.Load()-opened, n)
	})

	t.Run("sigterm", func(t *testing.T) {
		victim := replicas[2]
		// Two long streams open on the victim itself when SIGTERM comes:
		// they outlast its shutdown_timeout (1 s) whatever the machine's
		// speed, so they must end with the error frame.
		direct := make(chan outcome, 2)
		res := runLoad(ctx, c, lb, 6, 9, mixWithLong, map[int]func(){
			12: func() {
				var open sync.WaitGroup
				for range 2 {
					open.Add(1)
					go func() {
						direct <- c.chatNotify(ctx, replicaURL(ports[2]), "long-model", true, open.Done)
					}()
				}
				open.Wait()
				if err := victim.cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Errorf("SIGTERM: %v", err)
				}
			},
		})
		for range 2 {
			if o := <-direct; o.kind != cutError || !strings.Contains(o.detail, `"code":"server_shutting_down"`) {
				t.Errorf("a long stream open on the stopped replica: %s; want it cut with a server_shutting_down error frame", o)
			}
		}
		select {
		case <-victim.exited:
		case <-ctx.Done():
			t.Fatal("the stopped replica did not exit")
		}
		if victim.err != nil {
			t.Errorf("the stopped replica exited with %v", victim.err)
		}
		res.check(t, true)
		t.Logf("SIGTERM of replica 2 after 12 answers, with 2 long streams open on it (both cut with the error frame): through nginx %s; replica 2's last words: %s", res, lastLine(victim.out.String(), "shutdown"))
	})

	t.Run("redis-restart", func(t *testing.T) {
		res := runLoad(ctx, c, lb, 6, 15, mixShort, map[int]func(){
			25: srv.Stop,
			60: srv.Restart,
		})
		res.check(t, false)
		t.Logf("Redis stopped after 25 answers and restarted after 60: %s", res)
		// The replicas use Redis again by themselves (GET /health's ping
		// is one of the calls that notices it)...
		outages := uint64(0)
		for i := range 2 {
			outages += waitRedisUp(ctx, t, ports[i])
		}
		if outages == 0 {
			t.Error("no replica noticed the Redis outage")
		}
		t.Logf("Redis outages noticed by the 2 replicas: %d", outages)
		// ...and the limits are shared again: not one bucket per replica.
		checkLimit(ctx, t, c, lb, 2, "sk-lb-c", "/v1/embeddings", `{"model":"embed-model","input":"hi"}`, embeddingsRPM)
	})
}

func replicaURL(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }

func lastLine(s, containing string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], containing) {
			return lines[i]
		}
	}
	return "(none)"
}

// checkLimit sends 3×limit requests with key to path through the balancer,
// four at a time, and checks that the replicas together admitted limit of
// them, ±1, plus what the bucket refilled while they ran (one token per
// minute/limit; none in a run shorter than that).
func checkLimit(ctx context.Context, t *testing.T, c *client, lb string, replicas int, key, path, body string, limit int) {
	t.Helper()
	var admitted, refused, other atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	jobs := make(chan struct{}, 3*limit)
	for range 3 * limit {
		jobs <- struct{}{}
	}
	close(jobs)
	for range 4 {
		wg.Go(func() {
			for range jobs {
				status, _, err := c.post(ctx, lb, key, path, body)
				switch {
				case err == nil && status == http.StatusOK:
					admitted.Add(1)
				case err == nil && status == http.StatusTooManyRequests:
					refused.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	refill := int(elapsed / (time.Minute / time.Duration(limit)))
	got := int(admitted.Load())
	if got < limit-1 || got > limit+refill+1 || other.Load() != 0 {
		t.Errorf("%s %s: %d admitted, %d refused, %d other answers; want %d ±1 admitted (+%d refilled in %v)",
			key, path, got, refused.Load(), other.Load(), limit, refill, elapsed.Round(time.Millisecond))
	}
	t.Logf("limit %s %s: %d requests over %d replicas, %d admitted (limit %d), %d refused with 429",
		key, path, 3*limit, replicas, got, limit, refused.Load())
}

// breakerOf reads a provider's breaker state from a replica's GET /health.
func breakerOf(t *testing.T, port int, provider string) string {
	t.Helper()
	var h struct {
		Providers []struct {
			Name    string `json:"name"`
			Breaker string `json:"breaker"`
		} `json:"providers"`
	}
	getJSON(t, replicaURL(port)+"/health", &h)
	for _, p := range h.Providers {
		if p.Name == provider {
			return p.Breaker
		}
	}
	return "(absent)"
}

// waitRedisUp polls a replica's GET /health until its Redis is up, and
// returns the outages it counted.
func waitRedisUp(ctx context.Context, t *testing.T, port int) uint64 {
	t.Helper()
	for {
		var h struct {
			Redis struct {
				Status  string `json:"status"`
				Outages uint64 `json:"outages"`
			} `json:"redis"`
		}
		getJSON(t, replicaURL(port)+"/health", &h)
		if h.Redis.Status == "up" {
			return h.Redis.Outages
		}
		select {
		case <-ctx.Done():
			t.Fatalf("replica on port %d never saw Redis back", port)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// outcome kinds of one request.
type kind int

const (
	okPlain   kind = iota // 200, the whole answer
	okStream              // 200, every chunk, then [DONE]
	cutError              // a stream that ended with an error frame, no [DONE]
	fakeDone              // a stream missing chunks that still ended with [DONE]
	truncated             // a stream that ended with neither
	badStatus             // not 200
	transport             // no answer at all
	wrongBody             // 200 with the wrong content
)

var kindNames = [...]string{"ok", "streamed", "cut with an error frame", "fake [DONE]", "truncated", "failed status", "transport error", "wrong body"}

type outcome struct {
	kind   kind
	detail string
}

func (o outcome) String() string { return kindNames[o.kind] + ": " + o.detail }

type client struct{ hc *http.Client }

func (c *client) post(ctx context.Context, base, key, path, body string) (int, *http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	if path != "/v1/chat/completions" {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp.StatusCode, resp, nil
}

// chat sends one chat request and classifies its answer.
func (c *client) chat(ctx context.Context, base, model string, stream bool) outcome {
	return c.chatNotify(ctx, base, model, stream, nil)
}

// chatNotify is chat calling first, if not nil, once the stream's first
// frame has arrived (or the request has failed).
func (c *client) chatNotify(ctx context.Context, base, model string, stream bool, first func()) outcome {
	if first != nil {
		var once sync.Once
		notify := first
		first = func() { once.Do(notify) }
		defer first()
	}
	body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}],"stream":%t}`, model, stream)
	status, resp, err := c.post(ctx, base, clientKeys[0], "/v1/chat/completions", body)
	if err != nil {
		return outcome{transport, err.Error()}
	}
	defer resp.Body.Close()
	if status != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return outcome{badStatus, fmt.Sprintf("%d %s", status, b)}
	}
	want := words(shortChunks)
	if model == "long-model" {
		want = words(longChunks)
	}
	if !stream {
		var ans struct {
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || len(ans.Choices) == 0 || ans.Choices[0].Message.Content != want {
			return outcome{wrongBody, fmt.Sprintf("%v %+v", err, ans)}
		}
		return outcome{okPlain, model}
	}
	var got strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			if got.String() != want {
				return outcome{fakeDone, fmt.Sprintf("%q of %q", got.String(), want)}
			}
			return outcome{okStream, model}
		}
		var f struct {
			Error   *json.RawMessage `json:"error"`
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &f); err != nil {
			return outcome{wrongBody, data}
		}
		if first != nil {
			first()
		}
		if f.Error != nil {
			return outcome{cutError, fmt.Sprintf("after %q: %s", got.String(), *f.Error)}
		}
		for _, ch := range f.Choices {
			got.WriteString(ch.Delta.Content)
		}
	}
	return outcome{truncated, fmt.Sprintf("after %q (%v)", got.String(), sc.Err())}
}

// A load mix: request i of a worker.
type mix func(i int) (model string, stream bool)

// mixWithLong: plain, short stream, long stream (which outlasts the
// replicas' shutdown_timeout of 1 s).
func mixWithLong(i int) (string, bool) {
	switch i % 3 {
	case 0:
		return "good-model", false
	case 1:
		return "good-model", true
	}
	return "long-model", true
}

// mixShort: plain and short streams.
func mixShort(i int) (string, bool) { return "good-model", i%2 == 1 }

// loadResult counts the outcomes of a run.
type loadResult struct {
	counts  [len(kindNames)]int
	samples []outcome // of the failures
	elapsed time.Duration
}

func (r *loadResult) String() string {
	var b strings.Builder
	total := 0
	for _, n := range r.counts {
		total += n
	}
	fmt.Fprintf(&b, "%d requests in %v:", total, r.elapsed.Round(time.Millisecond))
	for k, n := range r.counts {
		if n > 0 {
			fmt.Fprintf(&b, " %s %d;", kindNames[k], n)
		}
	}
	return b.String()
}

// check fails the test for every lost request: anything but a whole
// answer, or (when cutAllowed) a stream that ended with an error frame.
func (r *loadResult) check(t *testing.T, cutAllowed bool) {
	t.Helper()
	for _, o := range r.samples {
		if o.kind == cutError && cutAllowed {
			continue
		}
		t.Errorf("lost request: %s", o)
	}
}

// runLoad runs workers × perWorker requests through base, each worker one
// at a time, and runs at[n] once n answers have come back (count-based, so
// that the events land mid-load however fast the machine is).
func runLoad(ctx context.Context, c *client, base string, workers, perWorker int, m mix, at map[int]func()) *loadResult {
	res := &loadResult{}
	var mu sync.Mutex
	var done atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				model, stream := m(w + i)
				o := c.chat(ctx, base, model, stream)
				mu.Lock()
				res.counts[o.kind]++
				if o.kind != okPlain && o.kind != okStream {
					res.samples = append(res.samples, o)
				}
				mu.Unlock()
				if f := at[int(done.Add(1))]; f != nil {
					f()
				}
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}
