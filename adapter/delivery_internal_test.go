package adapter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The fakes of the delivery tests: a deliver function whose deliveries the
// test starts and finishes through channels, and an in-memory Spool whose
// calls the test can fail or hold.

// testTimeout only ends a test that would otherwise hang; nothing is
// asserted by waiting.
const testTimeout = 10 * time.Second

// msgUpdate is a message update in a private chat (scope "chat:<chat>").
func msgUpdate(id, chat int64) Update {
	return Update{ID: id, Raw: []byte(fmt.Sprintf(
		`{"update_id":%d,"message":{"message_id":%d,"date":1,"chat":{"id":%d,"type":"private"},"text":"x"}}`, id, id, chat))}
}

func chatScope(chat int64) string { return fmt.Sprintf("chat:%d", chat) }

// started is a delivery in progress: closing finish makes it succeed.
type started struct {
	ev     Event
	finish chan struct{}
}

// fakeDeliver is a deliver function. Every delivery announces itself on
// starts (unbuffered) and succeeds when the test closes its finish, or
// returns false when its context ends first. It records what overlapped.
type fakeDeliver struct {
	starts chan started
	// auto finishes every delivery at once, without announcing it.
	auto bool

	mu       sync.Mutex
	calls    int                // deliveries begun
	inflight map[string]int     // by scope key
	all      int                // in flight across scopes
	peak     int                // the most in flight across scopes
	overlap  []string           // scope keys that had two deliveries at once
	done     map[string][]int64 // update ids finished, by scope key, in order
	finished []int64            // update ids finished, in order
}

func newFakeDeliver() *fakeDeliver {
	return &fakeDeliver{starts: make(chan started), inflight: map[string]int{}, done: map[string][]int64{}}
}

func (f *fakeDeliver) deliver(ctx context.Context, ev Event) bool {
	k := ev.Scope.Key
	f.mu.Lock()
	f.calls++
	f.inflight[k]++
	if f.inflight[k] > 1 {
		f.overlap = append(f.overlap, k)
	}
	f.all++
	f.peak = max(f.peak, f.all)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight[k]--
		f.all--
		f.mu.Unlock()
	}()
	if !f.auto {
		s := started{ev: ev, finish: make(chan struct{})}
		select {
		case f.starts <- s:
		case <-ctx.Done():
			return false
		}
		select {
		case <-s.finish:
		case <-ctx.Done():
			return false
		}
	}
	f.mu.Lock()
	f.done[k] = append(f.done[k], ev.UpdateID)
	f.finished = append(f.finished, ev.UpdateID)
	f.mu.Unlock()
	return true
}

// next waits for the next delivery to start.
func (f *fakeDeliver) next(t *testing.T) started {
	t.Helper()
	select {
	case s := <-f.starts:
		return s
	case <-time.After(testTimeout):
		t.Fatal("no delivery started")
		return started{}
	}
}

// nextN waits for n deliveries to start and returns them by update id.
func (f *fakeDeliver) nextN(t *testing.T, n int) map[int64]started {
	t.Helper()
	got := map[int64]started{}
	for range n {
		s := f.next(t)
		got[s.ev.UpdateID] = s
	}
	return got
}

func (f *fakeDeliver) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeDeliver) stats() (calls, peak int, overlap []string, done map[string][]int64, finished []int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := map[string][]int64{}
	for k, v := range f.done {
		d[k] = slices.Clone(v)
	}
	return f.calls, f.peak, slices.Clone(f.overlap), d, slices.Clone(f.finished)
}

func updateIDs(m map[int64]started) []int64 {
	out := make([]int64, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// testDeps returns deps around f with the given concurrency bound.
func testDeps(f *fakeDeliver, maxConcurrency int) (deliveryDeps, *atomic.Int64, *[]string) {
	var pending atomic.Int64
	var mu sync.Mutex
	received := &[]string{}
	return deliveryDeps{
		deliver: f.deliver,
		mapper:  Mapper{BotUser: []byte(`{"id":1,"is_bot":true,"first_name":"b"}`), BotID: 1},
		received: func(typ string) {
			mu.Lock()
			*received = append(*received, typ)
			mu.Unlock()
		},
		pending:        &pending,
		log:            slog.New(slog.DiscardHandler),
		maxConcurrency: maxConcurrency,
	}, &pending, received
}

// waitClosed waits for ch to close (or receive), failing after testTimeout.
func waitClosed[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting: %s", what)
		var zero T
		return zero
	}
}

// fakeSpool is an in-memory Spool with the interface's promises (sequence
// order, idempotency per epoch and update_id, a saved position) whose
// Append the test can hold or fail, and whose Get and Requeue it can fail.
type fakeSpool struct {
	*MemoryDeadLetters

	mu      sync.Mutex
	pos     Position
	seq     uint64
	items   map[uint64]Update
	removed []uint64
	// appendGate, when set, is received from at the start of every
	// Append: a non-nil error fails it, storing nothing.
	appendGate chan error
	getErr     error
	requeueErr error
	appends    int
}

func newFakeSpool() *fakeSpool {
	return &fakeSpool{MemoryDeadLetters: NewMemoryDeadLetters(100), items: map[uint64]Update{}}
}

func (s *fakeSpool) Position() (Position, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos, nil
}

func (s *fakeSpool) Append(ups []Update, next Position) ([]uint64, error) {
	if s.appendGate != nil {
		if err := <-s.appendGate; err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appends++
	type key struct {
		epoch uint32
		id    int64
	}
	stored := map[key]bool{}
	for _, u := range s.items {
		stored[key{u.Epoch, u.ID}] = true
	}
	seqs := make([]uint64, len(ups))
	for i, u := range ups {
		if k := (key{u.Epoch, u.ID}); !stored[k] {
			stored[k] = true
			s.seq++
			s.items[s.seq] = u
			seqs[i] = s.seq
		}
	}
	if next.Offset > 0 {
		s.pos = next
	}
	return seqs, nil
}

func (s *fakeSpool) Requeue(u Update) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.requeueErr != nil {
		return 0, s.requeueErr
	}
	s.seq++
	s.items[s.seq] = u
	return s.seq, nil
}

func (s *fakeSpool) Get(seq uint64) (Update, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.getErr != nil {
		return Update{}, s.getErr
	}
	u, ok := s.items[seq]
	if !ok {
		return Update{}, errors.New("not stored")
	}
	return u, nil
}

func (s *fakeSpool) Scan(fn func(uint64, Update) error) error {
	s.mu.Lock()
	seqs := make([]uint64, 0, len(s.items))
	for seq := range s.items {
		seqs = append(seqs, seq)
	}
	s.mu.Unlock()
	slices.Sort(seqs)
	for _, seq := range seqs {
		s.mu.Lock()
		u := s.items[seq]
		s.mu.Unlock()
		if err := fn(seq, u); err != nil {
			return err
		}
	}
	return nil
}

// Check: an in-memory spool can always store.
func (s *fakeSpool) Check() error { return nil }

func (s *fakeSpool) Remove(seqs []uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, seq := range seqs {
		delete(s.items, seq)
		s.removed = append(s.removed, seq)
	}
	return nil
}

// set changes the fake's settings under its lock.
func (s *fakeSpool) set(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn()
}

// stored returns the update ids still stored, in sequence order.
func (s *fakeSpool) stored() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	seqs := make([]uint64, 0, len(s.items))
	for seq := range s.items {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	out := make([]int64, len(seqs))
	for i, seq := range seqs {
		out[i] = s.items[seq].ID
	}
	return out
}

// Len returns the number of updates stored.
func (s *fakeSpool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

func (s *fakeSpool) removedSeqs() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.removed)
}
