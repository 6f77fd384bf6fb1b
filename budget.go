package llmproxy

import (
	"sync"
	"time"
)

// retryBudgetBuckets is the number of buckets the retry budget's window is
// cut into.
const retryBudgetBuckets = 10

// RetryBudgetMinRetries is the floor of the retry budget: this many retries
// per retry_budget_window are allowed whatever the traffic, so that a
// quiet proxy still retries.
const RetryBudgetMinRetries = 10

// retryBudget caps the retries of a proxy, across all its providers, at a
// share of its live requests over a sliding window: a retry is allowed
// while the retries of the window stay below RetryBudgetMinRetries plus
// percent % of the window's requests. During an outage every request fails
// and wants its retries; the budget keeps the extra load they put on the
// upstreams to that share instead of multiplying it by max_retries. Only
// retries on the same provider spend the budget; failing over to the next
// candidate does not. The zero value is not usable; build one with
// newRetryBudget. It is safe for concurrent use.
type retryBudget struct {
	percent int

	mu sync.Mutex
	w  *slidingWindow // a: requests, b: retries
}

// newRetryBudget returns a budget of percent % of the requests over window.
func newRetryBudget(percent int, window time.Duration) *retryBudget {
	return &retryBudget{percent: percent, w: newSlidingWindow(window, retryBudgetBuckets)}
}

// request counts one live request at now.
func (b *retryBudget) request(now time.Time) {
	b.mu.Lock()
	b.w.add(now, 1, 0)
	b.mu.Unlock()
}

// allowRetry reports whether one more retry fits the budget at now, and if
// so spends it.
func (b *retryBudget) allowRetry(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	requests, retries := b.w.sum(now)
	if retries*100 >= RetryBudgetMinRetries*100+b.percent*requests {
		return false
	}
	b.w.add(now, 0, 1)
	return true
}
