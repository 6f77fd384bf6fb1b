package ratelimit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkMemoryTake measures one Take of the in-memory store under
// parallel load: every goroutine on one client's key (the contended case of
// a single busy client), and goroutines spread over 1,000 keys (many
// clients). The limit is large enough that every take is allowed.
func BenchmarkMemoryTake(b *testing.B) {
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "key_" + strconv.Itoa(i)
	}
	for _, bc := range []struct {
		name string
		keys []string
	}{{"one-key", keys[:1]}, {"1000-keys", keys}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			store, err := NewMemory(1<<40, time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close(ctx)
			var next atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(1))
				for pb.Next() {
					_, _, _, ok, err := store.Take(ctx, bc.keys[i%len(bc.keys)])
					if err != nil || !ok {
						b.Fatal("refused", err)
					}
					i++
				}
			})
		})
	}
}
