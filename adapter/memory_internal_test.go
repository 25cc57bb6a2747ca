package adapter

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMemoryDeliveryOrderPerScope: each scope's events are delivered one at
// a time in fetch order, the scopes in parallel; put returns once all of
// them finished.
func TestMemoryDeliveryOrderPerScope(t *testing.T) { synctest.Test(t, testMemoryDeliveryOrderPerScope) }

func testMemoryDeliveryOrderPerScope(t *testing.T) {
	f := newFakeDeliver()
	deps, pending, received := testDeps(f, 8)
	m := newMemoryDelivery(t.Context(), deps)
	batch := []Update{msgUpdate(1, 10), msgUpdate(2, 20), msgUpdate(3, 10), msgUpdate(4, 20), msgUpdate(5, 10), msgUpdate(6, 30)}
	putDone := make(chan error, 1)
	go func() { putDone <- m.put(batch, Position{Offset: 7}) }()

	// One event per scope in flight, all three scopes at once.
	synctest.Wait()
	assert.Equal(t, 3, f.callCount(), "one delivery per scope, no more")
	first := f.nextN(t, 3)
	assert.Equal(t, []int64{1, 2, 6}, updateIDs(first), "the first event of each scope, in parallel")
	assert.Equal(t, int64(6), pending.Load(), "the whole batch is pending")
	for _, id := range []int64{6, 2, 1} { // finish out of fetch order
		close(first[id].finish)
	}
	second := f.nextN(t, 2)
	assert.Equal(t, []int64{3, 4}, updateIDs(second))
	close(second[4].finish)
	close(second[3].finish)
	close(f.next(t).finish) // 5

	require.NoError(t, waitClosed(t, putDone, "put"))
	calls, _, overlap, done, _ := f.stats()
	assert.Equal(t, 6, calls)
	assert.Empty(t, overlap, "never two events of one scope at once")
	assert.Equal(t, map[string][]int64{chatScope(10): {1, 3, 5}, chatScope(20): {2, 4}, chatScope(30): {6}}, done, "fetch order within each scope")
	assert.Zero(t, pending.Load(), "nothing pending once put returned")
	assert.Len(t, *received, 6, "every update counted as received")
}

// TestMemoryDeliveryBoundedByMaxConcurrency: deliveries in flight across
// scopes never exceed MaxConcurrency; the next starts when one finishes.
func TestMemoryDeliveryBoundedByMaxConcurrency(t *testing.T) {
	synctest.Test(t, testMemoryDeliveryBoundedByMaxConcurrency)
}

func testMemoryDeliveryBoundedByMaxConcurrency(t *testing.T) {
	f := newFakeDeliver()
	deps, _, _ := testDeps(f, 2)
	m := newMemoryDelivery(t.Context(), deps)
	putDone := make(chan error, 1)
	go func() {
		putDone <- m.put([]Update{msgUpdate(1, 1), msgUpdate(2, 2), msgUpdate(3, 3), msgUpdate(4, 4), msgUpdate(5, 5)}, Position{})
	}()
	synctest.Wait() // every scope delivers or waits for a slot
	assert.Equal(t, 2, f.callCount(), "MaxConcurrency deliveries started, no more")
	held := f.nextN(t, 2)
	for i := range 3 {
		// Finish one: exactly one more starts.
		for id, s := range held {
			close(s.finish)
			delete(held, id)
			break
		}
		synctest.Wait()
		assert.Equal(t, 3+i, f.callCount(), "one more started")
		s := f.next(t)
		held[s.ev.UpdateID] = s
	}
	for _, s := range held {
		close(s.finish)
	}
	require.NoError(t, waitClosed(t, putDone, "put"))
	calls, peak, _, _, _ := f.stats()
	assert.Equal(t, 5, calls)
	assert.Equal(t, 2, peak, "at most MaxConcurrency deliveries at once")
}

// TestMemoryDeliveryGraceRunsOut: when the delivery context ends (the
// shutdown grace ran out), the deliveries in flight end unfinished, nothing
// new starts, and put returns the context's error: the batch is not
// confirmed.
func TestMemoryDeliveryGraceRunsOut(t *testing.T) { synctest.Test(t, testMemoryDeliveryGraceRunsOut) }

func testMemoryDeliveryGraceRunsOut(t *testing.T) {
	f := newFakeDeliver()
	deps, pending, _ := testDeps(f, 2)
	ctx, cancel := context.WithCancel(context.Background())
	m := newMemoryDelivery(ctx, deps)
	putDone := make(chan error, 1)
	go func() {
		putDone <- m.put([]Update{msgUpdate(1, 1), msgUpdate(2, 2), msgUpdate(3, 3), msgUpdate(4, 1)}, Position{})
	}()
	held := f.nextN(t, 2)
	assert.NotContains(t, held, int64(4), "the second event of chat 1 waits for the first")
	cancel()
	assert.ErrorIs(t, waitClosed(t, putDone, "put"), context.Canceled)
	calls, _, _, _, finished := f.stats()
	assert.Equal(t, 2, calls, "no delivery starts once the grace ran out")
	assert.Empty(t, finished)
	assert.Zero(t, pending.Load(), "nothing left pending")
}

// TestMemoryDeliveryUnmappable: an update that is not an update object is
// logged and skipped; the rest of the batch is delivered.
func TestMemoryDeliveryUnmappable(t *testing.T) {
	f := newFakeDeliver()
	f.auto = true
	deps, _, _ := testDeps(f, 2)
	m := newMemoryDelivery(t.Context(), deps)
	require.NoError(t, m.put([]Update{{ID: 1, Raw: []byte(`[1]`)}, msgUpdate(2, 1)}, Position{}))
	_, _, _, _, finished := f.stats()
	assert.Equal(t, []int64{2}, finished)
}

// TestMemoryDeliveryReplay: a replay is delivered in the background; drain
// waits for it, and a replay once drain began is refused.
func TestMemoryDeliveryReplay(t *testing.T) { synctest.Test(t, testMemoryDeliveryReplay) }

func testMemoryDeliveryReplay(t *testing.T) {
	f := newFakeDeliver()
	deps, pending, _ := testDeps(f, 2)
	m := newMemoryDelivery(t.Context(), deps)
	require.NoError(t, m.replay(msgUpdate(7, 1)))
	s := f.next(t)
	assert.Equal(t, int64(7), s.ev.UpdateID)
	assert.Equal(t, int64(1), pending.Load())

	drained := make(chan struct{})
	go func() { m.drain(); close(drained) }()
	synctest.Wait()
	select {
	case <-drained:
		t.Fatal("drain returned while a replay was in flight")
	default:
	}
	assert.ErrorIs(t, m.replay(msgUpdate(8, 2)), ErrNotRunning, "no replay once drain began")
	close(s.finish)
	waitClosed(t, drained, "drain")
	calls, _, _, _, finished := f.stats()
	assert.Equal(t, []int64{7}, finished, "the replay in flight finished before drain returned")
	assert.Equal(t, 1, calls, "the refused replay never started")
	assert.Zero(t, pending.Load())
}

// TestMemoryDeliveryReplayBesideBatch: a replay shares the concurrency bound
// with the batch being delivered.
func TestMemoryDeliveryReplayBesideBatch(t *testing.T) {
	synctest.Test(t, testMemoryDeliveryReplayBesideBatch)
}

func testMemoryDeliveryReplayBesideBatch(t *testing.T) {
	f := newFakeDeliver()
	deps, _, _ := testDeps(f, 1)
	m := newMemoryDelivery(t.Context(), deps)
	putDone := make(chan error, 1)
	go func() { putDone <- m.put([]Update{msgUpdate(1, 1)}, Position{}) }()
	s := f.next(t)
	require.NoError(t, m.replay(msgUpdate(2, 2)))
	synctest.Wait()
	assert.Equal(t, 1, f.callCount(), "the replay waits for a slot")
	close(s.finish)
	require.NoError(t, waitClosed(t, putDone, "put"))
	close(f.next(t).finish)
	var wg sync.WaitGroup
	wg.Go(m.drain)
	wg.Wait()
	_, peak, _, _, finished := f.stats()
	assert.Equal(t, []int64{1, 2}, finished)
	assert.Equal(t, 1, peak, "the replay waited for the bound")
}
