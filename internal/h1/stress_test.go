package h1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// stressBody is the n-byte body the stress server sends for request id.
func stressBody(id string, n int) string {
	return strings.Repeat(id+";", n/(len(id)+1)+1)[:n]
}

func TestStress(t *testing.T) {
	const limit, workers, perWorker = 4, 8, 200
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		id := q.Get("id")
		n, _ := strconv.Atoi(q.Get("n"))
		if d, _ := strconv.Atoi(q.Get("delay_us")); d > 0 {
			time.Sleep(time.Duration(d) * time.Microsecond)
		}
		body := stressBody(id, n)
		switch q.Get("kind") {
		case "cl":
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			io.WriteString(w, body)
		case "chunked":
			for len(body) > 0 {
				k := min(len(body), 97)
				io.WriteString(w, body[:k])
				w.(http.Flusher).Flush()
				body = body[k:]
			}
		case "close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, body)
		}
	}))
	var cc connCounter
	tr := newTestTransport(t, &http.Transport{MaxConnsPerHost: limit, DialContext: cc.DialContext})

	deadline := time.Now().Add(60 * time.Second)
	kinds := []string{"cl", "chunked", "close"}
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for i := range perWorker {
				if time.Now().After(deadline) {
					errs <- errors.New("stress test ran out of time")
					return
				}
				id := fmt.Sprintf("w%di%d", w, i)
				n := 1 + rng.IntN(8)*100
				kind := kinds[rng.IntN(len(kinds))]
				if rng.IntN(10) != 0 {
					kind = kinds[rng.IntN(2)] // mostly keep-alive answers
				}
				url := fmt.Sprintf("%s/?id=%s&n=%d&kind=%s&delay_us=%d", srv.URL, id, n, kind, rng.IntN(3)*500)
				if err := stressOne(tr, rng, url, stressBody(id, n)); err != nil {
					errs <- fmt.Errorf("%s: %w", url, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	dials, _, maxOpen := cc.stats()
	assert.LessOrEqual(t, maxOpen, limit)
	t.Logf("%d requests over %d connections", workers*perWorker, dials)
	idle, total := idleConns(tr, hostOf(srv.URL))
	assert.Equal(t, idle, total, "every slot is accounted for")
	assert.Zero(t, waiters(tr, hostOf(srv.URL)))
	tr.CloseIdleConnections()
	_, open, _ := cc.stats()
	assert.Zero(t, open)
}

// stressOne sends one request and does one of: read the body in full,
// read it exactly by Content-Length, close it early, or cancel the request
// at a random moment. It checks what it can of the outcome.
func stressOne(tr *Transport, rng *rand.Rand, url, want string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	action := rng.IntN(10)
	cancelling := action >= 8
	if cancelling {
		time.AfterFunc(time.Duration(rng.IntN(1500))*time.Microsecond, cancel)
	}
	var body io.Reader
	method := http.MethodGet
	if rng.IntN(2) == 0 {
		method = http.MethodPost
		body = strings.NewReader(`{"model":"m","prompt":"` + want[:min(len(want), 150)] + `"}`)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		if cancelling && errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	defer resp.Body.Close()
	if resp.Request != req {
		return errors.New("resp.Request is not req")
	}
	switch {
	case cancelling:
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		if string(got) != want {
			return fmt.Errorf("body %q, want %q", got, want)
		}
	case action == 7: // early close
		buf := make([]byte, rng.IntN(len(want)))
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			return err
		}
		if string(buf) != want[:len(buf)] {
			return fmt.Errorf("body prefix %q, want %q", buf, want[:len(buf)])
		}
	case action == 6 && resp.ContentLength >= 0: // exactly Content-Length
		buf := make([]byte, resp.ContentLength)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			return err
		}
		if string(buf) != want {
			return fmt.Errorf("body %q, want %q", buf, want)
		}
	default:
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if string(got) != want {
			return fmt.Errorf("body %q, want %q", got, want)
		}
	}
	return resp.Body.Close()
}
