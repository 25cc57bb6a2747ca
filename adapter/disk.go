package adapter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// diskDelivery is spool: disk. The poller stores each batch in the Spool and
// moves on while fewer than SpoolMax updates wait; up to MaxConcurrency
// workers deliver them, one event at a time per scope in spool order,
// scopes taking turns. Workers start on demand, when a scope gets work and
// every worker is busy, and end when no scope waits for one: an idle bot
// has none (nor a flusher), so that one process can serve many idle bots.
// The updates wait on disk; memory holds their sequence numbers and, up to
// Options.SpoolMemory bytes, a copy of the updates themselves, so that a
// worker does not read back from disk what the poller has just stored.
// Past it, a waiting update is only its sequence number and is read from
// the spool when its turn comes.
type diskDelivery struct {
	d deliveryDeps
	c diskConfig
	// stop ends when polling stops: put no longer waits for room.
	stop context.Context
	// ctx bounds the deliveries (it ends when the shutdown grace runs out).
	ctx context.Context

	mu   sync.Mutex
	cond *sync.Cond // put waits on it for room
	// scopes, by key; ready holds those with work and no worker, in turn
	// order.
	scopes   map[string]*pendingScope
	ready    []string
	total    int // updates indexed and not finished
	hot      int // bytes of updates kept in memory
	stopping bool
	removals []pending
	// started is false while the spool is scanned: no worker starts yet.
	started bool
	// running counts the workers (at most maxConcurrency); starting, those
	// of them that have not taken their first update yet.
	running, starting int
	flushing          bool // a flusher runs

	workers  sync.WaitGroup
	flushers sync.WaitGroup
}

type pendingScope struct {
	items   []pending
	running bool
}

// pending is one stored update waiting for delivery; raw is nil when it is
// to be read back from the spool. An update handed to the workers while its
// batch is being stored has a batch: its sequence number is batch.seqs[pos]
// once batch.stored is closed.
type pending struct {
	seq   uint64
	id    int64
	raw   json.RawMessage
	batch *appendBatch
	pos   int32
	epoch uint32
	// result: a reply_result's record (see Spool), not an update.
	result bool
}

// appendBatch is a fetched batch whose Append may still be in progress.
type appendBatch struct {
	stored chan struct{} // closed when Append returned
	seqs   []uint64      // set before stored is closed; nil: Append failed
}

// seqNow returns the update's sequence number, waiting for its batch to be
// stored; 0 means there is nothing in the spool to remove (Append failed, or
// the update_id was stored before).
func (it pending) seqNow() uint64 {
	if it.batch == nil {
		return it.seq
	}
	<-it.batch.stored
	if it.batch.seqs == nil {
		return 0
	}
	return it.batch.seqs[it.pos]
}

// abandoned reports whether the update's batch failed to be stored: never
// confirmed, the batch is fetched again (after a restart, or when polling
// resumes); an update not yet delivered waits for that.
func (it pending) abandoned() bool {
	if it.batch == nil {
		return false
	}
	select {
	case <-it.batch.stored:
		return it.batch.seqs == nil
	default:
		return false
	}
}

// diskConfig is what a diskDelivery needs besides deliveryDeps.
type diskConfig struct {
	spool Spool
	// max bounds the updates waiting: put waits while as many wait
	// (Options.SpoolMax).
	max int
	// memory bounds the bytes of waiting updates also kept in memory
	// (Options.SpoolMemory; 0: none).
	memory int
	// keep keeps a dead letter (for a stored update that cannot be
	// delivered), logging to log.
	keep func(dl DeadLetter, log *slog.Logger)
}

// newDiskDelivery indexes the spool's undelivered updates (they go first in
// their scopes) and starts workers for them. ctx bounds the deliveries (it
// ends when the shutdown grace runs out); stop ends when polling stops.
func newDiskDelivery(stop, ctx context.Context, d deliveryDeps, c diskConfig) (*diskDelivery, error) {
	q := &diskDelivery{d: d, c: c, stop: stop, ctx: ctx, scopes: make(map[string]*pendingScope)}
	q.cond = sync.NewCond(&q.mu)
	n := 0
	var answered []uint64
	err := c.spool.Scan(func(seq uint64, u Update) error {
		key, typ := q.keyOf(u)
		it := pending{seq: seq, id: u.ID, epoch: u.Epoch, result: typ == ReplyResultType}
		if it.result {
			if old, placed := q.indexResult(it, u.Raw, key); placed {
				if old != 0 {
					answered = append(answered, old)
				} else {
					n++
				}
				return nil
			}
		}
		q.index(it, u.Raw, key)
		n++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(answered) > 0 {
		// Their replies were carried out: only their results are left.
		if err := c.spool.Remove(answered); err != nil {
			d.log.Error("could not remove answered updates from the spool: they will be delivered again after a restart", "updates", len(answered), logErr, err)
		}
	}
	if n > 0 {
		d.log.Info("delivering updates left in the spool first", "updates", n)
	}
	q.mu.Lock()
	q.started = true
	for range len(q.ready) {
		q.startWorkerLocked()
	}
	q.mu.Unlock()
	return q, nil
}

// startWorkerLocked starts a worker when a scope waits for one that no
// starting worker will take, below MaxConcurrency. A worker busy
// delivering takes the next ready scope itself when it finishes. Callers
// hold mu.
func (q *diskDelivery) startWorkerLocked() {
	if !q.started || q.stopping || q.running >= q.d.maxConcurrency || len(q.ready) <= q.starting {
		return
	}
	q.running++
	q.starting++
	q.workers.Go(q.work)
}

// keyOf returns the scope key of an update ("unmappable" for one that is
// not an update object: its worker logs it and moves on) and its event type
// ("" when unmappable).
func (q *diskDelivery) keyOf(u Update) (key, eventType string) {
	if ev, err := q.d.mapper.Peek(u); err == nil {
		return ev.Scope.Key, ev.Type
	}
	return "unmappable", ""
}

// index adds an update to its scope's queue, with a copy of raw while the
// memory budget allows (an update of a batch being stored must fit: it has
// nothing to read back yet). Callers hold no lock.
func (q *diskDelivery) index(it pending, raw json.RawMessage, key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ps := q.scopes[key]
	if ps == nil {
		ps = &pendingScope{}
		q.scopes[key] = ps
	}
	if it.batch != nil || q.hot+len(raw) <= q.c.memory {
		// A copy: raw may share the whole getUpdates answer's buffer.
		it.raw = bytes.Clone(raw)
		q.hot += len(it.raw)
	}
	ps.items = append(ps.items, it)
	q.total++
	q.d.pending.Add(1)
	if !ps.running && len(ps.items) == 1 {
		q.ready = append(q.ready, key)
		q.startWorkerLocked()
	}
}

// indexResult places a stored reply_result found by the start-up scan (see
// Spool): the process stopped after the reply's calls were made and before
// the result was delivered. Its update, when still stored, is not to be
// delivered again: the result takes its place in the scope's queue, and
// indexResult returns the update's sequence number for removal. Else the
// update was finished and the result (delivered or not) goes first in its
// scope, where the update was, and indexResult returns 0. placed is
// false when the scope has nothing queued: the caller indexes the result.
// Callers hold no lock.
func (q *diskDelivery) indexResult(it pending, raw json.RawMessage, key string) (answered uint64, placed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ps := q.scopes[key]
	if ps == nil {
		return 0, false
	}
	for i, old := range ps.items {
		if old.result || old.id != it.id || old.epoch != it.epoch {
			continue
		}
		q.hot -= len(old.raw)
		if q.hot+len(raw) <= q.c.memory {
			it.raw = bytes.Clone(raw)
			q.hot += len(it.raw)
		}
		ps.items[i] = it
		return old.seq, true
	}
	// The update was finished: the result goes before the scope's others.
	ps.items = append([]pending{it}, ps.items...)
	q.total++
	q.d.pending.Add(1)
	if q.hot+len(raw) <= q.c.memory {
		ps.items[0].raw = bytes.Clone(raw)
		q.hot += len(raw)
	}
	return 0, true
}

// put stores a fetched batch and indexes it. While the batch fits in the
// memory budget, its updates go to the workers before Append, so that the
// synced commit is not in every update's latency: the batch is confirmed to
// Telegram only after put returns, so a crash before the commit ends with
// Telegram sending it again (duplicates, nothing lost); a failed Append has
// the same outcome (the adapter stops, or pauses polling when the spool is
// unavailable). A removal waits for its batch's commit (the flusher waits,
// not the worker). put then waits while SpoolMax updates wait, until
// polling stops.
func (q *diskDelivery) put(ups []Update, next Position) error {
	keys := make([]string, len(ups))
	size := 0
	for i, u := range ups {
		var typ string
		keys[i], typ = q.keyOf(u)
		if typ != "" && q.d.received != nil {
			q.d.received(typ)
		}
		size += len(u.Raw)
	}
	q.mu.Lock()
	early := q.hot+size <= q.c.memory
	q.mu.Unlock()
	var batch *appendBatch
	if early {
		batch = &appendBatch{stored: make(chan struct{})}
		for i, u := range ups {
			q.index(pending{id: u.ID, epoch: u.Epoch, batch: batch, pos: int32(i)}, u.Raw, keys[i])
		}
	}
	seqs, err := q.c.spool.Append(ups, next)
	if batch != nil {
		if err == nil {
			// An update_id stored before (sequence 0) is already queued: the
			// copy delivered now is a duplicate, and has nothing to remove.
			batch.seqs = seqs
		}
		close(batch.stored)
	}
	if err != nil {
		return err
	}
	if batch == nil {
		for i, u := range ups {
			if seqs[i] == 0 {
				continue // stored before
			}
			q.index(pending{seq: seqs[i], id: u.ID, epoch: u.Epoch}, u.Raw, keys[i])
		}
	}
	// Backpressure: fetch more only while the spool has room.
	unwatch := context.AfterFunc(q.stop, func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer unwatch()
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.total >= q.c.max && q.stop.Err() == nil && !q.stopping {
		q.cond.Wait()
	}
	return nil
}

// nextLocked takes the first update of the next ready scope. When there is
// none, or drain began, the worker ends: ok is false, and the worker is no
// longer counted. Callers hold mu.
func (q *diskDelivery) nextLocked() (key string, it pending, ok bool) {
	if len(q.ready) == 0 || q.stopping {
		q.running--
		return "", pending{}, false
	}
	key = q.ready[0]
	q.ready[0] = ""
	q.ready = q.ready[1:]
	if len(q.ready) == 0 {
		q.ready = nil // let a long list's array go
	}
	ps := q.scopes[key]
	ps.running = true
	return key, ps.items[0], true
}

// first is a new worker's first take (see nextLocked).
func (q *diskDelivery) first() (string, pending, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.starting--
	return q.nextLocked()
}

// done finishes the scope's first update, gives the scope its next turn,
// and takes the worker's next update (see nextLocked).
func (q *diskDelivery) done(key string) (string, pending, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ps := q.scopes[key]
	it := ps.items[0]
	q.hot -= len(it.raw)
	ps.items[0] = pending{}
	ps.items = ps.items[1:]
	ps.running = false
	q.total--
	q.d.pending.Add(-1)
	it.raw = nil
	q.removals = append(q.removals, it)
	if !q.flushing {
		q.flushing = true
		q.flushers.Go(q.flusher)
	}
	if len(ps.items) > 0 {
		q.ready = append(q.ready, key)
	} else {
		delete(q.scopes, key)
	}
	q.cond.Broadcast()
	return q.nextLocked()
}

// work delivers ready scopes' updates until none is ready.
func (q *diskDelivery) work() {
	key, it, ok := q.first()
	for ok {
		key, it, ok = q.deliverOne(key, it)
	}
}

// deliverOne delivers the scope's first update and takes the next one (see
// done). ok is false when the worker is to end.
func (q *diskDelivery) deliverOne(key string, it pending) (string, pending, bool) {
	if it.abandoned() {
		return q.done(key) // its batch was not stored: it comes again
	}
	u := Update{ID: it.id, Epoch: it.epoch, Raw: it.raw}
	if u.Raw == nil {
		var err error
		if u, err = q.c.spool.Get(it.seq); err != nil {
			q.buryUnreadable(key, Update{ID: it.id, Epoch: it.epoch}, fmt.Errorf("cannot read stored update #%d: %w", it.seq, err))
			return q.done(key)
		}
	}
	ev, err := q.d.mapper.Map(u)
	if err != nil {
		q.buryUnreadable(key, u, err)
		return q.done(key)
	}
	if !q.d.deliver(q.ctx, ev) {
		// The grace ran out: it stays in the spool for the next start.
		q.mu.Lock()
		q.scopes[key].running = false
		q.running--
		q.mu.Unlock()
		return "", pending{}, false
	}
	return q.done(key)
}

// buryUnreadable keeps a stored update that cannot be delivered (it was
// damaged on disk) as a dead letter of kind spool, never removing it in
// silence.
func (q *diskDelivery) buryUnreadable(key string, u Update, cause error) {
	dl := DeadLetter{Kind: DeadSpool, UpdateID: u.ID, Epoch: u.Epoch, Scope: key, Error: cause.Error(), FirstAttempt: time.Now(), FailedAt: time.Now()}
	if json.Valid(u.Raw) {
		dl.Update = u.Raw
	} else {
		dl.Raw = u.Raw
	}
	log := q.d.log.With(logUpdateID, u.ID, logScope, key)
	if u.Epoch > 0 {
		log = log.With(logUpdateEpoch, u.Epoch)
	}
	log.Error("a stored update cannot be delivered (damaged in the spool): kept as a dead letter of kind spool", logErr, cause)
	q.c.keep(dl, log)
}

// removeEvery spaces the hand-overs of finished updates to the spool, which
// records them in its log at once (a write, no sync: it survives the death
// of the process) and in bbolt with its next commit. Finished deliveries
// gather for a few hundred microseconds, so that a busy spool writes one
// record for many; after a kill -9 the deliveries in flight and those
// finished during the last wait are repeated, with the same webhook-id.
//
// The spools of a process share the disk. While n > 1 of them have
// finished deliveries to hand over, each flusher waits n × busyRemoveEvery
// (at most maxRemoveEvery), so that together they write about a thousand
// records a second however many bots are busy: a write costs tens of
// microseconds of CPU (BENCHMARKS.md, "Many bots through the binary"), and
// 100 busy bots that each finish a few deliveries at a time would
// otherwise write one record per delivery.
const (
	removeEvery     = 200 * time.Microsecond
	busyRemoveEvery = time.Millisecond
	maxRemoveEvery  = 100 * time.Millisecond
)

// busyFlushers counts the flushers running in the process (see
// removeEvery).
var busyFlushers atomic.Int64

// removeWait is how long a flusher waits for the next removals to gather
// while busy flushers run.
func removeWait(busy int64) time.Duration {
	if busy <= 1 {
		return removeEvery
	}
	return min(busyRemoveEvery*time.Duration(busy), maxRemoveEvery)
}

// flusher hands finished updates to the spool, waiting removeWait between
// hand-overs, and ends once there is nothing to remove; done starts it
// again.
func (q *diskDelivery) flusher() {
	busyFlushers.Add(1)
	defer busyFlushers.Add(-1)
	for {
		q.mu.Lock()
		batch := q.removals
		q.removals = nil
		if len(batch) == 0 {
			q.flushing = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		q.remove(batch)
		time.Sleep(removeWait(busyFlushers.Load())) // let the next removals gather
	}
}

// drain stops handing out work, waits for the deliveries in flight (the
// deliver context bounds them) and flushes the removals.
func (q *diskDelivery) drain() {
	q.mu.Lock()
	q.stopping = true
	q.cond.Broadcast()
	q.mu.Unlock()
	q.workers.Wait()
	// No worker is left to start a flusher: wait for the one running.
	q.flushers.Wait()
	q.mu.Lock()
	batch := q.removals
	q.removals = nil
	q.mu.Unlock()
	q.remove(batch)
}

// remove deletes finished updates from the spool.
func (q *diskDelivery) remove(batch []pending) {
	seqs := make([]uint64, 0, len(batch))
	for _, it := range batch {
		if seq := it.seqNow(); seq != 0 {
			seqs = append(seqs, seq)
		}
	}
	if len(seqs) == 0 {
		return
	}
	if err := q.c.spool.Remove(seqs); err != nil {
		q.d.log.Error("could not remove delivered updates from the spool: they will be delivered again after a restart", "updates", len(seqs), logErr, err)
	}
}

// replay stores one update again (a dead letter's replay) behind its
// scope's backlog. After drain it stays stored for the next start.
func (q *diskDelivery) replay(u Update) error {
	seq, err := q.c.spool.Requeue(u)
	if err != nil {
		return err
	}
	key, _ := q.keyOf(u)
	q.index(pending{seq: seq, id: u.ID, epoch: u.Epoch}, u.Raw, key)
	return nil
}
