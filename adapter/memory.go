package adapter

import (
	"context"
	"sync"
	"sync/atomic"
)

// memoryDelivery is spool: memory. It delivers a batch, one event at a time
// per scope in fetch order, scopes in parallel up to MaxConcurrency, and
// put returns when every event has finished. The poller fetches (and so
// confirms) the next batch only then: at-least-once without a disk, at the
// price that one slow scope holds back the next batch.
type memoryDelivery struct {
	// ctx bounds every delivery: it ends when the shutdown grace runs out.
	ctx context.Context
	d   deliveryDeps
	sem chan struct{} // one token per delivery in flight

	mu       sync.Mutex
	stopping bool           // drain was called: no more replays
	replays  sync.WaitGroup // replays in flight
}

// newMemoryDelivery returns the memory delivery; ctx bounds its deliveries.
func newMemoryDelivery(ctx context.Context, d deliveryDeps) *memoryDelivery {
	return &memoryDelivery{ctx: ctx, d: d, sem: make(chan struct{}, d.maxConcurrency)}
}

// put delivers ups and waits for all of them. It returns the delivery
// context's error when it ended before every update finished.
func (m *memoryDelivery) put(ups []Update, _ Position) error {
	return m.deliverAll(ups)
}

// replay delivers u in the background, with the same concurrency bound;
// the scope's lock (see Scope.delivering) keeps it from overlapping the
// scope's other deliveries. It fails with ErrNotRunning once drain began.
func (m *memoryDelivery) replay(u Update) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopping {
		return ErrNotRunning
	}
	m.replays.Go(func() { _ = m.deliverAll([]Update{u}) })
	return nil
}

// drain refuses further replays and waits for those in flight; put
// returns only once its batch finished, so nothing else is in flight.
func (m *memoryDelivery) drain() {
	m.mu.Lock()
	m.stopping = true
	m.mu.Unlock()
	m.replays.Wait()
}

// deliverAll delivers ups, one goroutine per scope, and waits for them.
func (m *memoryDelivery) deliverAll(ups []Update) error {
	ctx := m.ctx
	var keys []string
	byScope := make(map[string][]Event)
	for _, u := range ups {
		ev, err := m.d.mapper.Map(u)
		if err != nil {
			m.d.log.Error("cannot map update: not delivered", logUpdateID, u.ID, logErr, err)
			continue
		}
		if m.d.received != nil {
			m.d.received(ev.Type)
		}
		if _, ok := byScope[ev.Scope.Key]; !ok {
			keys = append(keys, ev.Scope.Key)
		}
		byScope[ev.Scope.Key] = append(byScope[ev.Scope.Key], ev)
	}
	var n int64
	for _, evs := range byScope {
		n += int64(len(evs))
	}
	m.d.pending.Add(n)
	var finished atomic.Int64
	defer func() { m.d.pending.Add(finished.Load() - n) }()
	var wg sync.WaitGroup
	var unfinished sync.Once
	var ctxErr error
	for _, k := range keys {
		evs := byScope[k]
		wg.Go(func() {
			for _, ev := range evs {
				select {
				case m.sem <- struct{}{}:
				case <-ctx.Done():
					unfinished.Do(func() { ctxErr = ctx.Err() })
					return
				}
				if ctx.Err() != nil {
					// Both were ready: start nothing once the grace ran out.
					<-m.sem
					unfinished.Do(func() { ctxErr = ctx.Err() })
					return
				}
				ok := m.d.deliver(ctx, ev)
				<-m.sem
				if !ok {
					unfinished.Do(func() { ctxErr = ctx.Err() })
					return
				}
				m.d.pending.Add(-1)
				finished.Add(1)
			}
		})
	}
	wg.Wait()
	return ctxErr
}
