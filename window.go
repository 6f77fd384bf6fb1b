package llmproxy

import "time"

// slidingWindow counts two kinds of event (a and b) over the last span of
// time, in a ring of buckets: a bucket older than the span no longer
// counts, so the window slides by one bucket at a time. The zero value is
// not usable; build one with newSlidingWindow. It is not safe for
// concurrent use: its owner guards it.
type slidingWindow struct {
	width   time.Duration // of one bucket
	buckets []windowBucket
}

// windowBucket holds the counts of one bucket's stretch of time.
type windowBucket struct {
	start time.Time // start of the stretch; zero when never used
	a, b  int
}

// newSlidingWindow returns a window of the given span cut into n buckets.
func newSlidingWindow(span time.Duration, n int) *slidingWindow {
	n = max(n, 1)
	return &slidingWindow{width: max(span/time.Duration(n), 1), buckets: make([]windowBucket, n)}
}

// span returns the stretch of time the window covers.
func (w *slidingWindow) span() time.Duration { return w.width * time.Duration(len(w.buckets)) }

// add counts da events of the first kind and db of the second at now.
func (w *slidingWindow) add(now time.Time, da, db int) {
	start := now.Truncate(w.width)
	bk := &w.buckets[int(uint64(start.UnixNano()/int64(w.width))%uint64(len(w.buckets)))]
	if !bk.start.Equal(start) {
		*bk = windowBucket{start: start}
	}
	bk.a += da
	bk.b += db
}

// sum returns the counts of the buckets that lie within the span before now.
func (w *slidingWindow) sum(now time.Time) (a, b int) {
	oldest := now.Truncate(w.width).Add(-w.span() + w.width)
	for _, bk := range w.buckets {
		if !bk.start.IsZero() && !bk.start.Before(oldest) && !bk.start.After(now) {
			a += bk.a
			b += bk.b
		}
	}
	return a, b
}
