package spool

import (
	"testing"
	"time"

	"github.com/asgigram/asgigram/adapter"
)

// TestAppliesStretchesTheInterval proves the interval grows with the
// appliers running, within ApplyEvery..maxApplyEvery, and that a spool
// without Applies keeps ApplyEvery.
func TestAppliesStretchesTheInterval(t *testing.T) {
	const every = 50 * time.Millisecond
	var none *Applies
	if got := none.wait(every); got != every {
		t.Fatalf("without Applies: wait %v, want %v", got, every)
	}
	a := NewApplies(1)
	if got := a.wait(every); got != every {
		t.Fatalf("no applier running: wait %v, want %v", got, every)
	}
	for range 4 {
		a.join()
	}
	if got := a.wait(every); got != 4*every {
		t.Fatalf("4 appliers: wait %v, want %v", got, 4*every)
	}
	for range 100 {
		a.join()
	}
	if got := a.wait(every); got != maxApplyEvery {
		t.Fatalf("104 appliers: wait %v, want %v", got, maxApplyEvery)
	}
	for range 104 {
		a.leave()
	}
	if got := a.wait(every); got != every {
		t.Fatalf("all left: wait %v, want %v", got, every)
	}
}

// TestAppliesTakeTurns proves that at most n applies hold a turn at once.
func TestAppliesTakeTurns(t *testing.T) {
	a := NewApplies(1)
	a.take()
	second := make(chan struct{})
	go func() {
		a.take()
		close(second)
		a.give()
	}()
	select {
	case <-second:
		t.Fatal("a second apply took a turn while the first held it")
	default:
	}
	a.give()
	<-second
}

// TestAppliesSharedSpoolsApply proves that spools sharing an Applies apply
// their logs in the background (the applier empties the log) and keep what
// was appended across a reopen.
func TestAppliesSharedSpoolsApply(t *testing.T) {
	a := NewApplies(1)
	dirs := []string{t.TempDir(), t.TempDir()}
	var spools []*Spool
	for _, d := range dirs {
		s, err := Open(d, Options{ApplyEvery: time.Millisecond, Applies: a})
		if err != nil {
			t.Fatal(err)
		}
		spools = append(spools, s)
	}
	for i, s := range spools {
		if _, err := s.Append([]adapter.Update{{ID: int64(i + 1), Raw: []byte(`{}`)}}, adapter.Position{Offset: int64(i + 2)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range spools {
		s.applierWG.Wait() // the applier stops once everything is applied
		s.mu.Lock()
		n := len(s.unapplied)
		s.mu.Unlock()
		if n != 0 {
			t.Fatalf("%d records left unapplied after the applier stopped", n)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range dirs {
		s, err := Open(d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Len() != 1 {
			t.Fatalf("reopened: %d updates stored, want 1", s.Len())
		}
		s.Close()
	}
}
