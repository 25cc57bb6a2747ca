package adapter

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// diskTest is a diskDelivery on a fakeSpool with a fakeDeliver.
type diskTest struct {
	t       *testing.T
	f       *fakeDeliver
	sp      *fakeSpool
	q       *diskDelivery
	pending interface{ Load() int64 }
	stop    context.CancelFunc // ends polling
	grace   context.CancelFunc // ends the deliveries

	mu   sync.Mutex
	kept []DeadLetter
}

type diskSetup struct {
	maxConcurrency, max, memory int
	sp                          *fakeSpool // nil: a new one
}

func newDiskTest(t *testing.T, s diskSetup) *diskTest {
	t.Helper()
	d := &diskTest{t: t, f: newFakeDeliver(), sp: s.sp}
	if d.sp == nil {
		d.sp = newFakeSpool()
	}
	if s.max == 0 {
		s.max = 1000
	}
	if s.memory == 0 {
		s.memory = 16 << 20
	}
	deps, pending, _ := testDeps(d.f, s.maxConcurrency)
	d.pending = pending
	stop, cancelStop := context.WithCancel(context.Background())
	ctx, cancelGrace := context.WithCancel(context.Background())
	d.stop, d.grace = cancelStop, cancelGrace
	q, err := newDiskDelivery(stop, ctx, deps, diskConfig{spool: d.sp, max: s.max, memory: s.memory,
		keep: func(dl DeadLetter, _ *slog.Logger) {
			d.mu.Lock()
			d.kept = append(d.kept, dl)
			d.mu.Unlock()
		}})
	require.NoError(t, err)
	d.q = q
	t.Cleanup(func() {
		cancelStop()
		cancelGrace()
	})
	return d
}

func (d *diskTest) put(ups ...Update) error {
	return d.q.put(ups, Position{Offset: ups[len(ups)-1].ID + 1})
}

// goPut runs put in the background.
func (d *diskTest) goPut(ups ...Update) chan error {
	done := make(chan error, 1)
	go func() { done <- d.put(ups...) }()
	return done
}

// drain drains and waits for it.
func (d *diskTest) drain() {
	d.t.Helper()
	done := make(chan struct{})
	go func() { d.q.drain(); close(done) }()
	waitClosed(d.t, done, "drain")
}

// startDrain begins a drain and returns once it waits (in a synctest
// bubble); the channel closes when drain returns.
func (d *diskTest) startDrain() chan struct{} {
	drained := make(chan struct{})
	go func() { d.q.drain(); close(drained) }()
	synctest.Wait()
	return drained
}

func (d *diskTest) deadLetters() []DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]DeadLetter(nil), d.kept...)
}

// TestDiskDeliveryOrderPerScope: each scope's stored updates are delivered
// one at a time in spool order, the scopes in parallel; put returns once
// the batch is stored, before it is delivered; finished updates are removed
// from the spool.
func TestDiskDeliveryOrderPerScope(t *testing.T) {
	for _, memory := range []int{16 << 20, -1} {
		name := "kept in memory"
		if memory < 0 {
			name = "read back from the spool"
		}
		t.Run(name, func(t *testing.T) {
			d := newDiskTest(t, diskSetup{maxConcurrency: 8, memory: memory})
			require.NoError(t, d.put(msgUpdate(1, 10), msgUpdate(2, 20), msgUpdate(3, 10), msgUpdate(4, 20), msgUpdate(5, 10), msgUpdate(6, 30)))
			assert.Equal(t, Position{Offset: 7}, d.sp.pos, "the position is saved with the batch")

			first := d.f.nextN(t, 3)
			assert.Equal(t, []int64{1, 2, 6}, updateIDs(first), "the first update of each scope, in parallel")
			for _, id := range []int64{6, 2, 1} {
				close(first[id].finish)
			}
			second := d.f.nextN(t, 2)
			assert.Equal(t, []int64{3, 4}, updateIDs(second))
			close(second[4].finish)
			close(second[3].finish)
			close(d.f.next(t).finish) // 5
			d.drain()

			calls, _, overlap, done, _ := d.f.stats()
			assert.Equal(t, 6, calls)
			assert.Empty(t, overlap, "never two updates of one scope at once")
			assert.Equal(t, map[string][]int64{chatScope(10): {1, 3, 5}, chatScope(20): {2, 4}, chatScope(30): {6}}, done, "spool order within each scope")
			assert.Empty(t, d.sp.stored(), "every finished update removed")
			assert.Zero(t, d.pending.Load())
		})
	}
}

// TestDiskDeliveryBoundedByMaxConcurrency: MaxConcurrency workers: never
// more deliveries at once, across scopes.
func TestDiskDeliveryBoundedByMaxConcurrency(t *testing.T) {
	synctest.Test(t, testDiskDeliveryBoundedByMaxConcurrency)
}

func testDiskDeliveryBoundedByMaxConcurrency(t *testing.T) {
	d := newDiskTest(t, diskSetup{maxConcurrency: 2})
	require.NoError(t, d.put(msgUpdate(1, 1), msgUpdate(2, 2), msgUpdate(3, 3), msgUpdate(4, 4), msgUpdate(5, 5)))
	synctest.Wait()
	assert.Equal(t, 2, d.f.callCount(), "MaxConcurrency deliveries started, no more")
	held := d.f.nextN(t, 2)
	for i := range 3 {
		for id, s := range held {
			close(s.finish)
			delete(held, id)
			break
		}
		synctest.Wait()
		assert.Equal(t, 3+i, d.f.callCount(), "one more started")
		s := d.f.next(t)
		held[s.ev.UpdateID] = s
	}
	for _, s := range held {
		close(s.finish)
	}
	d.drain()
	calls, peak, _, _, _ := d.f.stats()
	assert.Equal(t, 5, calls)
	assert.Equal(t, 2, peak, "at most MaxConcurrency deliveries at once")
	assert.Empty(t, d.sp.stored())
}

// TestDiskDeliveryLeftoversFirst: updates left in the spool by the last run
// are delivered before the new ones of their scope.
func TestDiskDeliveryLeftoversFirst(t *testing.T) { synctest.Test(t, testDiskDeliveryLeftoversFirst) }

func testDiskDeliveryLeftoversFirst(t *testing.T) {
	sp := newFakeSpool()
	_, err := sp.Append([]Update{msgUpdate(1, 1), msgUpdate(2, 1)}, Position{Offset: 3})
	require.NoError(t, err)
	d := newDiskTest(t, diskSetup{maxConcurrency: 4, sp: sp})
	assert.Equal(t, int64(2), d.pending.Load(), "the leftovers are pending")
	s1 := d.f.next(t)
	require.NoError(t, d.put(msgUpdate(3, 1)))
	close(s1.finish)
	close(d.f.next(t).finish)
	close(d.f.next(t).finish)
	d.drain()
	_, _, _, _, finished := d.f.stats()
	assert.Equal(t, []int64{1, 2, 3}, finished)
	assert.Empty(t, sp.stored())
}

// TestDiskDeliverySpoolMaxPausesPut: put returns only once fewer than
// SpoolMax updates wait (polling pauses meanwhile), or when polling stops.
func TestDiskDeliverySpoolMaxPausesPut(t *testing.T) {
	synctest.Test(t, testDiskDeliverySpoolMaxPausesPut)
}

func testDiskDeliverySpoolMaxPausesPut(t *testing.T) {
	d := newDiskTest(t, diskSetup{maxConcurrency: 1, max: 2})
	var doneAtReturn int
	putDone := make(chan error, 1)
	go func() {
		err := d.put(msgUpdate(1, 1), msgUpdate(2, 1), msgUpdate(3, 1))
		_, _, _, _, finished := d.f.stats()
		doneAtReturn = len(finished)
		putDone <- err
	}()
	close(d.f.next(t).finish)
	synctest.Wait()
	select {
	case <-putDone:
		t.Fatal("put returned while SpoolMax updates waited")
	default:
	}
	close(d.f.next(t).finish)
	require.NoError(t, waitClosed(t, putDone, "put"))
	assert.Equal(t, 2, doneAtReturn, "put waited until one update waited, below SpoolMax")

	// Full again: stopping polling ends the wait.
	s3 := d.f.next(t)
	putDone = d.goPut(msgUpdate(4, 1), msgUpdate(5, 1))
	d.stop()
	require.NoError(t, waitClosed(t, putDone, "put after polling stopped"))
	drained := d.startDrain()
	close(s3.finish)
	waitClosed(t, drained, "drain")
	assert.Equal(t, []int64{4, 5}, d.sp.stored(), "the batch is stored all the same")
}

// TestDiskDeliveryDrain: drain lets the deliveries in flight finish and
// starts no more; the rest stay in the spool for the next start.
func TestDiskDeliveryDrain(t *testing.T) { synctest.Test(t, testDiskDeliveryDrain) }

func testDiskDeliveryDrain(t *testing.T) {
	d := newDiskTest(t, diskSetup{maxConcurrency: 2})
	require.NoError(t, d.put(msgUpdate(1, 1), msgUpdate(2, 1), msgUpdate(3, 2), msgUpdate(4, 2), msgUpdate(5, 3)))
	synctest.Wait()
	assert.Equal(t, 2, d.f.callCount())
	held := d.f.nextN(t, 2)
	assert.Equal(t, []int64{1, 3}, updateIDs(held))
	drained := d.startDrain()
	select {
	case <-drained:
		t.Fatal("drain returned while deliveries were in flight")
	default:
	}
	close(held[1].finish)
	close(held[3].finish)
	waitClosed(t, drained, "drain")

	calls, _, _, _, finished := d.f.stats()
	assert.Equal(t, 2, calls, "nothing new started once drain began")
	assert.ElementsMatch(t, []int64{1, 3}, finished, "the deliveries in flight finished")
	assert.Equal(t, []int64{2, 4, 5}, d.sp.stored(), "the finished updates removed, the rest kept")
}

// TestDiskDeliveryGraceRunsOut: a delivery cut short by the end of the
// grace stays in the spool.
func TestDiskDeliveryGraceRunsOut(t *testing.T) { synctest.Test(t, testDiskDeliveryGraceRunsOut) }

func testDiskDeliveryGraceRunsOut(t *testing.T) {
	d := newDiskTest(t, diskSetup{maxConcurrency: 1})
	require.NoError(t, d.put(msgUpdate(1, 1), msgUpdate(2, 2)))
	d.f.next(t)
	d.grace()
	d.drain()
	calls, _, _, _, finished := d.f.stats()
	assert.Equal(t, 1, calls)
	assert.Empty(t, finished)
	assert.Equal(t, []int64{1, 2}, d.sp.stored(), "not finished: kept for the next start")
	assert.Empty(t, d.sp.removedSeqs())
}

// TestDiskDeliveryAppendFails: a batch the spool did not store is not
// confirmed (put fails) and nothing of it is removed; its updates not yet
// delivered are not delivered (Telegram sends the batch again).
func TestDiskDeliveryAppendFails(t *testing.T) {
	t.Run("kept in memory, delivered before the commit", func(t *testing.T) {
		sp := newFakeSpool()
		sp.appendGate = make(chan error)
		d := newDiskTest(t, diskSetup{maxConcurrency: 1, sp: sp})
		putDone := d.goPut(msgUpdate(1, 1), msgUpdate(2, 1))
		s1 := d.f.next(t) // handed to the workers before Append returned
		errDisk := errors.New("disk on fire")
		sp.appendGate <- errDisk
		assert.ErrorIs(t, waitClosed(t, putDone, "put"), errDisk)
		close(s1.finish)
		d.drain()
		calls, _, _, _, _ := d.f.stats()
		assert.Equal(t, 1, calls, "the update not yet started is abandoned")
		assert.Empty(t, d.sp.removedSeqs(), "nothing to remove")
	})
	t.Run("read back from the spool", func(t *testing.T) {
		sp := newFakeSpool()
		sp.appendGate = make(chan error, 1)
		errDisk := errors.New("disk on fire")
		sp.appendGate <- errDisk
		d := newDiskTest(t, diskSetup{maxConcurrency: 1, sp: sp, memory: -1})
		assert.ErrorIs(t, d.put(msgUpdate(1, 1)), errDisk)
		d.drain()
		calls, _, _, _, _ := d.f.stats()
		assert.Zero(t, calls, "nothing stored, nothing delivered")
		assert.Zero(t, d.pending.Load())
	})
	t.Run("spool unavailable", func(t *testing.T) {
		sp := newFakeSpool()
		sp.appendGate = make(chan error, 1)
		sp.appendGate <- ErrSpoolUnavailable
		d := newDiskTest(t, diskSetup{maxConcurrency: 1, sp: sp, memory: -1})
		err := d.put(msgUpdate(1, 1))
		assert.True(t, spoolUnavailable(err), "a pause, not a failure: %v", err)
		d.drain()
	})
}

// TestDiskDeliveryDuplicateBatch: a batch Telegram sends again while its
// updates are still stored stores nothing new. Read back from the spool,
// it is not queued again; kept in memory, the copy handed to the workers
// before the commit is delivered again (the same webhook-id) and has
// nothing of its own to remove.
func TestDiskDeliveryDuplicateBatch(t *testing.T) {
	t.Run("read back from the spool", func(t *testing.T) {
		d := newDiskTest(t, diskSetup{maxConcurrency: 1, memory: -1})
		require.NoError(t, d.put(msgUpdate(1, 1)))
		s1 := d.f.next(t)
		require.NoError(t, d.put(msgUpdate(1, 1)))
		close(s1.finish)
		d.drain()
		calls, _, _, _, _ := d.f.stats()
		assert.Equal(t, 1, calls, "not queued twice")
		assert.Equal(t, []uint64{1}, d.sp.removedSeqs())
	})
	t.Run("kept in memory", func(t *testing.T) {
		d := newDiskTest(t, diskSetup{maxConcurrency: 1})
		require.NoError(t, d.put(msgUpdate(1, 1)))
		s1 := d.f.next(t)
		require.NoError(t, d.put(msgUpdate(1, 1)))
		close(s1.finish)
		close(d.f.next(t).finish)
		d.drain()
		assert.Equal(t, []uint64{1}, d.sp.removedSeqs(), "the stored update removed once")
		assert.Empty(t, d.sp.stored())
	})
}

// TestDiskDeliveryReplay: a replay is stored again and delivered behind
// its scope's backlog, then removed; a spool that cannot store it fails the
// replay.
func TestDiskDeliveryReplay(t *testing.T) { synctest.Test(t, testDiskDeliveryReplay) }

func testDiskDeliveryReplay(t *testing.T) {
	d := newDiskTest(t, diskSetup{maxConcurrency: 2})
	require.NoError(t, d.put(msgUpdate(1, 1), msgUpdate(2, 1)))
	s1 := d.f.next(t)
	require.NoError(t, d.q.replay(msgUpdate(1, 1)))
	assert.Equal(t, []int64{1, 2, 1}, d.sp.stored(), "stored again, after the backlog")
	close(s1.finish)
	close(d.f.next(t).finish)
	close(d.f.next(t).finish)
	d.drain()
	_, _, _, done, _ := d.f.stats()
	assert.Equal(t, []int64{1, 2, 1}, done[chatScope(1)], "the replay came behind the scope's backlog")
	assert.Empty(t, d.sp.stored(), "the replayed copy removed too")

	errReadOnly := errors.New("read-only")
	d.sp.set(func() { d.sp.requeueErr = errReadOnly })
	assert.ErrorIs(t, d.q.replay(msgUpdate(3, 1)), errReadOnly)

	// After drain, a replay stays stored for the next start.
	d.sp.set(func() { d.sp.requeueErr = nil })
	require.NoError(t, d.q.replay(msgUpdate(4, 1)))
	assert.Equal(t, []int64{4}, d.sp.stored())
}

// TestDiskDeliveryUnreadable: a stored update that cannot be read back, or
// no longer parses as an update, becomes a dead letter of kind spool and
// is removed; the next update of the scope is delivered.
func TestDiskDeliveryUnreadable(t *testing.T) { synctest.Test(t, testDiskDeliveryUnreadable) }

func testDiskDeliveryUnreadable(t *testing.T) {
	sp := newFakeSpool()
	_, err := sp.Append([]Update{{ID: 1, Raw: []byte(`{"update_id":1,"message":`)}, {ID: 2, Raw: []byte(`[2]`)}}, Position{})
	require.NoError(t, err)
	d := newDiskTest(t, diskSetup{maxConcurrency: 1, sp: sp, memory: -1})
	synctest.Wait()
	dls := d.deadLetters()
	require.Len(t, dls, 2)
	for _, dl := range dls {
		assert.Equal(t, DeadSpool, dl.Kind)
		assert.Equal(t, "unmappable", dl.Scope)
	}
	assert.Equal(t, []byte(`{"update_id":1,"message":`), dls[0].Raw, "bytes that are not JSON are kept as raw")
	assert.Nil(t, dls[0].Update)
	assert.Equal(t, `[2]`, string(dls[1].Update), "valid JSON is kept as the update")

	sp.set(func() { sp.getErr = errors.New("page checksum mismatch") })
	require.NoError(t, d.put(msgUpdate(3, 1)))
	synctest.Wait()
	require.Len(t, d.deadLetters(), 3, "a dead letter for the update that cannot be read")
	dl := d.deadLetters()[2]
	assert.Equal(t, int64(3), dl.UpdateID)
	assert.Contains(t, dl.Error, "page checksum mismatch")
	d.drain()
	calls, _, _, _, _ := d.f.stats()
	assert.Zero(t, calls)
	assert.Empty(t, sp.stored(), "removed once kept as dead letters")
}

// workers returns how many workers run, and whether a flusher runs.
func (d *diskTest) workers() (int, bool) {
	d.q.mu.Lock()
	defer d.q.mu.Unlock()
	return d.q.running, d.q.flushing
}

// assertNoGoroutines asserts that every worker and flusher goroutine the
// delivery started has returned (in a synctest bubble).
func (d *diskTest) assertNoGoroutines(msg string) {
	d.t.Helper()
	ended := make(chan struct{})
	go func() {
		d.q.workers.Wait()
		d.q.flushers.Wait()
		close(ended)
	}()
	// The bubble's clock moves on only while every goroutine waits: past
	// the flusher's pause between removals, never past a worker that
	// waits for a delivery.
	select {
	case <-ended:
	case <-time.After(time.Hour):
		d.t.Errorf("%s: a worker or the flusher still runs", msg)
	}
	running, flushing := d.workers()
	assert.Zero(d.t, running, msg)
	assert.False(d.t, flushing, msg)
}

// TestDiskDeliveryWorkersOnDemand: an idle delivery runs no goroutine; a
// worker starts when a scope gets work and every worker is busy, up to
// MaxConcurrency; a scope's backlog takes one worker; the workers and the
// flusher end once nothing is ready, and start again with the next batch.
func TestDiskDeliveryWorkersOnDemand(t *testing.T) { synctest.Test(t, testDiskDeliveryWorkersOnDemand) }

func testDiskDeliveryWorkersOnDemand(t *testing.T) {
	d := newDiskTest(t, diskSetup{maxConcurrency: 3})
	d.assertNoGoroutines("idle after start")

	require.NoError(t, d.put(msgUpdate(1, 1), msgUpdate(2, 1), msgUpdate(3, 1)))
	s1 := d.f.next(t)
	synctest.Wait()
	running, _ := d.workers()
	assert.Equal(t, 1, running, "one scope's backlog takes one worker")

	require.NoError(t, d.put(msgUpdate(4, 2)))
	s4 := d.f.next(t)
	synctest.Wait()
	running, _ = d.workers()
	assert.Equal(t, 2, running, "a second scope with work: a second worker")

	require.NoError(t, d.put(msgUpdate(5, 3), msgUpdate(6, 4), msgUpdate(7, 5)))
	s5 := d.f.next(t)
	synctest.Wait()
	running, _ = d.workers()
	assert.Equal(t, 3, running, "no more than MaxConcurrency")
	assert.Equal(t, 3, d.f.callCount())

	// Finishing frees a worker, which takes the next ready scope (6, 7 in
	// turn; then chat 1's second update, which waited behind them).
	close(s4.finish)
	s6 := d.f.next(t)
	assert.Equal(t, int64(6), s6.ev.UpdateID)
	close(s5.finish)
	s7 := d.f.next(t)
	assert.Equal(t, int64(7), s7.ev.UpdateID)
	close(s1.finish)
	s2 := d.f.next(t)
	assert.Equal(t, int64(2), s2.ev.UpdateID)
	close(s6.finish)
	close(s7.finish)
	synctest.Wait()
	running, _ = d.workers()
	assert.Equal(t, 1, running, "the workers with nothing ready ended")
	close(s2.finish)
	close(d.f.next(t).finish) // 3
	d.assertNoGoroutines("idle after the backlog")
	assert.Empty(t, d.sp.stored(), "every finished update removed")

	require.NoError(t, d.put(msgUpdate(8, 1)))
	close(d.f.next(t).finish)
	d.assertNoGoroutines("idle again")
	d.drain()
	_, _, overlap, done, _ := d.f.stats()
	assert.Empty(t, overlap)
	assert.Equal(t, []int64{1, 2, 3, 8}, done[chatScope(1)])
	assert.Empty(t, d.sp.stored())
	assert.Zero(t, d.pending.Load())
}

// TestDiskDeliveryLeftoversStartWorkers: the updates left in the spool
// start workers once scanned, one per scope up to MaxConcurrency.
func TestDiskDeliveryLeftoversStartWorkers(t *testing.T) {
	synctest.Test(t, testDiskDeliveryLeftoversStartWorkers)
}

func testDiskDeliveryLeftoversStartWorkers(t *testing.T) {
	sp := newFakeSpool()
	_, err := sp.Append([]Update{msgUpdate(1, 1), msgUpdate(2, 1), msgUpdate(3, 2), msgUpdate(4, 3)}, Position{Offset: 5})
	require.NoError(t, err)
	d := newDiskTest(t, diskSetup{maxConcurrency: 2, sp: sp})
	held := d.f.nextN(t, 2)
	synctest.Wait()
	assert.Equal(t, []int64{1, 3}, updateIDs(held))
	running, _ := d.workers()
	assert.Equal(t, 2, running)
	for _, s := range held {
		close(s.finish)
	}
	close(d.f.next(t).finish)
	close(d.f.next(t).finish)
	d.assertNoGoroutines("idle once the leftovers are delivered")
	_, _, _, done, _ := d.f.stats()
	assert.Equal(t, map[string][]int64{chatScope(1): {1, 2}, chatScope(2): {3}, chatScope(3): {4}}, done)
	assert.Empty(t, d.sp.stored())
}

// One busy spool hands removals over every removeEvery; several stretch
// their wait with their number, so that many busy spools write removals
// about a thousand times a second in all.
func TestRemoveWaitStretchesWithBusyFlushers(t *testing.T) {
	for _, tc := range []struct {
		busy int64
		want time.Duration
	}{
		{0, removeEvery},
		{1, removeEvery},
		{2, 2 * busyRemoveEvery},
		{50, 50 * busyRemoveEvery},
		{100, maxRemoveEvery},
		{1000, maxRemoveEvery},
	} {
		if got := removeWait(tc.busy); got != tc.want {
			t.Errorf("removeWait(%d) = %s, want %s", tc.busy, got, tc.want)
		}
	}
}
