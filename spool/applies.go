package spool

import (
	"sync/atomic"
	"time"
)

// maxApplyEvery bounds how long a spool's applier waits between applies
// when Applies stretches the interval.
const maxApplyEvery = time.Second

// Applies is shared by the spools of one process (Options.Applies). A bbolt
// commit syncs the file twice, so N spools that each apply every ApplyEvery
// sync N times as often as one spool carrying the same updates. With
// Applies, the appliers of the process take turns (at most the number given
// to NewApplies apply at once) and each waits ApplyEvery times the number of
// spools whose applier is running (those with records to apply), at most
// maxApplyEvery: together they commit about as often as one spool would.
//
// No promise changes: a batch is durable when Append returns (the log is
// synced), whether or not it is applied yet; a full log is still applied by
// the writer that finds it full (Append, Remove), without waiting for a
// turn; Close still applies everything.
type Applies struct {
	turn   chan struct{}
	active atomic.Int64
}

// NewApplies returns an Applies that lets n appliers apply at once (at
// least 1).
func NewApplies(n int) *Applies {
	return &Applies{turn: make(chan struct{}, max(n, 1))}
}

// join and leave count a running applier. A nil Applies does nothing.
func (a *Applies) join() {
	if a != nil {
		a.active.Add(1)
	}
}

func (a *Applies) leave() {
	if a != nil {
		a.active.Add(-1)
	}
}

// wait is how long an applier waits before its next apply.
func (a *Applies) wait(every time.Duration) time.Duration {
	if a == nil {
		return every
	}
	n := time.Duration(max(a.active.Load(), 1))
	return max(min(every*n, maxApplyEvery), every)
}

// take waits for a turn to apply; give hands it back.
func (a *Applies) take() {
	if a != nil {
		a.turn <- struct{}{}
	}
}

func (a *Applies) give() {
	if a != nil {
		<-a.turn
	}
}
