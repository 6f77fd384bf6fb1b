package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestChaosShort is the short chaos run: 300 requests over 3 s while the
// upstreams go through every mode of the schedule once (phases of 500 ms
// at least: a change of phase waits for the requests begun before the
// current phase, so that a provider that can serve exists for the whole of
// every request, however busy the machine).
//
// The run dispatches request i at i×10 ms and counts as not sent those it
// could not hand to a worker by 6 s. With as many workers as requests, a
// request never waits for a worker, so a busy machine that slows the
// requests down does not make the dispatch fall behind (34 requests "not
// sent in time" at a load average of 9 with 16 workers); the requests in
// flight at once are still only those the machine has not finished.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos run takes a few seconds")
	}
	o := options{
		Requests:       300,
		Concurrency:    300,
		Duration:       3 * time.Second,
		Phase:          500 * time.Millisecond,
		AttemptTimeout: 150 * time.Millisecond,
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	rep, err := run(ctx, o)
	require.NoError(t, err)
	var table bytes.Buffer
	printReport(&table, rep)
	t.Log("\n" + table.String())

	assert.Zero(t, rep.NotSent, "requests not sent")
	assert.Equal(t, 300, rep.Requests, "every request sent")
	assert.Equal(t, 150, rep.Streamed)
	assert.Zero(t, rep.Hung, "hung requests")
	assert.Zero(t, rep.Lost, "lost requests")
	assert.Zero(t, rep.Goroutines, "goroutines left after shutdown")
	assert.Equal(t, rep.Cut, rep.Failed, "every request that was not cut after its first token succeeded")
	assert.Equal(t, rep.Requests, rep.Succeeded+rep.Failed)
	// The schedule assumes requests shorter than a phase; that is a
	// premise of the run, not an outcome to assert (no wall-clock
	// assertions: the machine is shared), so it is only logged.
	t.Logf("longest request %v (phase %v)", rep.Longest, o.Phase)
	assert.GreaterOrEqual(t, rep.MeanTries, 1.0)
	assert.Greater(t, rep.MaxTries, 1, "faults made the proxy retry or fail over")
	assert.True(t, rep.ok())
}

func TestChaosCLIRejectsBadFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	_, err := cli([]string{"-requests", "0", "-duration", "1s"}, &out, &errOut)
	require.Error(t, err)
	_, err = cli([]string{"-nosuchflag"}, &out, &errOut)
	require.Error(t, err)
}

// TestScheduleAlwaysServes checks the schedule's promise: some upstream
// serves in every phase, and one serves on both sides of every change of
// phase.
func TestScheduleAlwaysServes(t *testing.T) {
	seen := map[mode]bool{}
	for k, phase := range schedule {
		next := schedule[(k+1)%len(schedule)]
		across := false
		for i, m := range phase {
			seen[m] = true
			if m.serves() && next[i].serves() {
				across = true
			}
		}
		assert.True(t, across, "phase %d → %d keeps an upstream serving", k, (k+1)%len(schedule))
	}
	assert.Len(t, seen, len(modeNames), "every mode is used")
}
