package adapter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// This file holds the one place where the order of outbound calls is kept:
// the calls to one chat are made one at a time, in arrival order, whatever
// their method and whether pacing is on or off. The pacer, when there is
// one, only decides when the call at the head of a chat may go.
//
// Every request that makes calls arrives once, and its arrival number
// (Arrival.Seq) orders it against the others: a /send request arrives when
// its body has been read (Adapter.Arrive), so that a slow body holds back
// no one; a reply body arrives when its calls are queued. Once a request's events are
// checked, all its calls that have a chat take their places at once
// (place), each in its chat's queue, by (arrival number, position in the
// request). The head of a chat's queue gets its turn only when no request
// that arrived before it is still unplaced (its body may hold a call to the
// same chat), so a request that arrived later never overtakes, even when its
// goroutine gets here first. A place is taken by the arrival number, not by
// the moment it is taken.
//
// The orders of different chats are independent, except that a request
// makes its calls one after the other: its call to chat B waits for its
// earlier call to chat A. Waits only ever go to a call earlier in the
// total order (arrival number, position) or to a call being made, so they
// cannot form a cycle.

// ErrChatQueueFull is returned for a call when more than the queue limit
// (Options.ChatQueue, pacing_queue) of calls already wait for its chat, the
// one being made not counted.
var ErrChatQueueFull = errors.New("too many calls waiting for this chat (pacing_queue)")

// Arrival is a request's place in arrival order, taken by Adapter.Arrive
// when a /send request's body is in. The request's calls to each chat go after
// those of every request that arrived before it, and before those of every
// request that arrived after it. Until the request's calls are placed (by
// Send or SendFiles) or it gives up its place (Done), the calls of later
// requests wait for it: every Arrival must end in one of them.
type Arrival struct {
	o   *order
	seq uint64
	// placed is set once the calls hold their places or the request gave
	// up; guarded by o.mu.
	placed bool
}

// Seq returns the arrival number: a request that arrived later has a larger
// one.
func (a *Arrival) Seq() uint64 { return a.seq }

// Done gives up the place of a request whose calls were never placed (a
// body that did not arrive or did not parse, a refused event): the requests
// after it no longer wait for it. After Send or SendFiles it does nothing,
// as it does on a nil Arrival or when called again.
func (a *Arrival) Done() {
	if a == nil || a.o == nil {
		return
	}
	a.o.mu.Lock()
	defer a.o.mu.Unlock()
	a.o.settleLocked(a)
}

// order is the per-chat FIFO of outbound calls. The zero value is not
// usable: see newOrder.
type order struct {
	// limit bounds the calls waiting per chat (0: no bound).
	limit int

	mu   sync.Mutex
	next uint64 // the next arrival number
	// pending holds the arrivals not yet placed, ascending.
	pending []uint64
	chats   map[string]*chatQueue
	// blocked holds the chats whose head waits for an earlier arrival to
	// be placed.
	blocked map[*chatQueue]struct{}
}

// chatQueue is the calls to one chat that hold a place, head first.
type chatQueue struct {
	key   string
	slots []*slot
	// waiting counts the slots whose request has reached them: their call
	// is waiting for its turn or being made.
	waiting int
}

// slot is one call's place in its chat's queue.
type slot struct {
	q   *chatQueue // nil once the place is given up
	seq uint64     // the request's arrival number
	idx int        // the call's position in its request
	// reached: the request came to this call (see chatQueue.waiting).
	reached bool
	// turn: the slot heads its queue and no earlier arrival is pending.
	turn bool
	// wake is made by a call waiting for its turn and closed when it comes.
	wake chan struct{}
}

func newOrder(limit int) *order {
	return &order{limit: limit, chats: make(map[string]*chatQueue), blocked: make(map[*chatQueue]struct{})}
}

// before reports whether slot s goes before a call (seq, idx).
func (s *slot) before(seq uint64, idx int) bool {
	return s.seq < seq || (s.seq == seq && s.idx < idx)
}

// arrive takes the next arrival number for a request whose calls are not
// known yet.
func (o *order) arrive() *Arrival {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := &Arrival{o: o, seq: o.next}
	o.next++
	o.pending = append(o.pending, a.seq)
	return a
}

// place gives the calls of a request their places, call i in the queue of
// keys[i] ("": a call without a chat, which takes none). The request is a
// (from arrive) or, when a is nil or already placed, arrives now. The slots
// returned (nil for a call without a chat) are given up by release.
func (o *order) place(a *Arrival, keys []string) []*slot {
	o.mu.Lock()
	defer o.mu.Unlock()
	if a == nil || a.o != o || a.placed {
		a = &Arrival{o: o, seq: o.next}
		o.next++
	}
	var slots []*slot
	for i, key := range keys {
		if key == "" {
			continue
		}
		if slots == nil {
			slots = make([]*slot, len(keys))
		}
		slots[i] = o.insertLocked(key, a.seq, i)
	}
	o.settleLocked(a)
	return slots
}

// rejoin gives a call that moved to another chat (a group upgraded to a
// supergroup) a place in that chat's queue, by its arrival number and
// position as before.
func (o *order) rejoin(old *slot, key string) *slot {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.insertLocked(key, old.seq, old.idx)
}

// insertLocked adds the slot of call (seq, idx) to key's queue, in order,
// but never before a head whose call is being made.
func (o *order) insertLocked(key string, seq uint64, idx int) *slot {
	q := o.chats[key]
	if q == nil {
		q = &chatQueue{key: key}
		o.chats[key] = q
	}
	s := &slot{q: q, seq: seq, idx: idx}
	at := len(q.slots)
	for at > 0 && !q.slots[at-1].before(seq, idx) {
		at--
	}
	if at == 0 && len(q.slots) > 0 {
		if h := q.slots[0]; h.turn && h.reached {
			at = 1
		} else {
			// The head's request has not come to it yet (another of its
			// calls is being made, possibly this one's first attempt):
			// it gets its turn again after s.
			h.turn = false
		}
	}
	q.slots = slices.Insert(q.slots, at, s)
	o.grantLocked(q)
	return s
}

// settleLocked marks a as placed and, when it was the earliest pending
// arrival, lets the heads it held back go.
func (o *order) settleLocked(a *Arrival) {
	if a.placed {
		return
	}
	a.placed = true
	i, found := slices.BinarySearch(o.pending, a.seq)
	if !found {
		return
	}
	o.pending = slices.Delete(o.pending, i, i+1)
	if i == 0 {
		for q := range o.blocked {
			o.grantLocked(q)
		}
	}
}

// grantLocked gives q's head its turn when nothing before it is pending.
func (o *order) grantLocked(q *chatQueue) {
	if len(q.slots) == 0 {
		delete(o.blocked, q)
		return
	}
	h := q.slots[0]
	if h.turn {
		return
	}
	if len(o.pending) > 0 && o.pending[0] < h.seq {
		o.blocked[q] = struct{}{}
		return
	}
	delete(o.blocked, q)
	h.turn = true
	if h.wake != nil {
		close(h.wake)
		h.wake = nil
	}
}

// wait is called when the request comes to the call of s: it returns once
// the call may be made, ErrChatQueueFull when too many calls wait for the
// chat already, or an error wrapping ctx.Err() when ctx ends first. After a
// nil error the caller calls done(s).
func (o *order) wait(ctx context.Context, s *slot) error {
	o.mu.Lock()
	q := s.q
	if q == nil {
		o.mu.Unlock()
		return ErrChatQueueFull // cannot happen: the place was given up
	}
	if o.limit > 0 && q.waiting > o.limit {
		o.mu.Unlock()
		return ErrChatQueueFull
	}
	s.reached = true
	q.waiting++
	if s.turn {
		o.mu.Unlock()
		return nil
	}
	wake := make(chan struct{})
	s.wake = wake
	o.mu.Unlock()
	select {
	case <-wake:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the calls before it to chat %s: %w", q.key, ctx.Err())
	}
}

// done gives up the place of s: its call was made, or will not be. The
// next call of the chat may then go. It does nothing on nil or when called
// again.
func (o *order) done(s *slot) {
	if s == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	q := s.q
	if q == nil {
		return
	}
	s.q = nil
	if s.reached {
		q.waiting--
	}
	i := slices.Index(q.slots, s)
	q.slots = slices.Delete(q.slots, i, i+1)
	if len(q.slots) == 0 {
		delete(o.chats, q.key)
		delete(o.blocked, q)
		return
	}
	if i == 0 {
		o.grantLocked(q)
	}
}

// release gives up every place of slots still held.
func (o *order) release(slots []*slot) {
	for _, s := range slots {
		o.done(s)
	}
}
