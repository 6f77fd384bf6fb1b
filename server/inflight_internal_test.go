package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockedBuffer is a bytes.Buffer for a logger written from a timer.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// counts returns the count of each "requests shed" line, in order.
func (b *lockedBuffer) counts(t *testing.T) []int64 {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []int64
	dec := json.NewDecoder(bytes.NewReader(b.b.Bytes()))
	for dec.More() {
		var rec struct {
			Msg   string `json:"msg"`
			Count int64  `json:"count"`
		}
		require.NoError(t, dec.Decode(&rec))
		if rec.Msg == "requests shed" {
			out = append(out, rec.Count)
		}
	}
	return out
}

// TestShedSummarySchedule runs the "requests shed" timer in fake time: the
// first refusal after a line arms it, the line comes exactly a second
// later with every refusal since, nothing is written while nothing is
// shed, and report (the handler's Close) writes what is not yet written.
func TestShedSummarySchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := &lockedBuffer{}
		l := newInflightLimiter(1, nil, slog.New(slog.NewJSONHandler(logs, nil)))

		l.refused()
		time.Sleep(500 * time.Millisecond)
		l.refused()
		l.refused()
		time.Sleep(499 * time.Millisecond)
		synctest.Wait()
		assert.Empty(t, logs.counts(t), "no line before a second has passed since the first refusal")
		time.Sleep(time.Millisecond)
		synctest.Wait()
		assert.Equal(t, []int64{3}, logs.counts(t), "one line a second after the first refusal, counting all")

		time.Sleep(10 * time.Second)
		synctest.Wait()
		assert.Equal(t, []int64{3}, logs.counts(t), "nothing shed, nothing written")

		start := time.Now()
		for range 5 {
			l.refused()
			time.Sleep(300 * time.Millisecond) // refusals over 1.5 s
		}
		synctest.Wait()
		assert.Equal(t, []int64{3, 4}, logs.counts(t), "the four refusals of the first second")
		// The fifth refusal, at 1.2 s, armed the next timer.
		time.Sleep(time.Until(start.Add(2200*time.Millisecond)) - time.Millisecond)
		synctest.Wait()
		assert.Equal(t, []int64{3, 4}, logs.counts(t), "the next line waits a second from the refusal that armed it")
		time.Sleep(time.Millisecond)
		synctest.Wait()
		assert.Equal(t, []int64{3, 4, 1}, logs.counts(t))

		l.refused()
		l.report() // Close
		assert.Equal(t, []int64{3, 4, 1, 1}, logs.counts(t), "Close writes the count not yet written")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.Equal(t, []int64{3, 4, 1, 1}, logs.counts(t), "and the armed timer then finds nothing to write")
	})
}
