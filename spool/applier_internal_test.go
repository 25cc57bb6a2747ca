package spool

import (
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/asgigram/asgigram/adapter"
)

// applierState reports whether the applier runs, and how many records
// wait for it.
func applierState(s *Spool) (on bool, unapplied int) {
	s.applierMu.Lock()
	on = s.applierOn
	s.applierMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return on, len(s.unapplied)
}

// waitApplierEnds waits until no applier runs (testTimeout only ends a
// test that would hang).
func waitApplierEnds(t *testing.T, s *Spool) {
	t.Helper()
	ended := make(chan struct{})
	go func() {
		s.applierWG.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the applier did not end")
	}
}

// TestApplierRunsOnlyWhileThereIsWork: an open, idle spool runs no
// applier; a write starts one, which applies what was logged and ends.
func TestApplierRunsOnlyWhileThereIsWork(t *testing.T) {
	s, err := Open(t.TempDir(), Options{ApplyEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if on, _ := applierState(s); on {
		t.Fatal("an idle spool runs an applier")
	}
	ups := []adapter.Update{{ID: 1, Raw: []byte(`{"update_id":1}`)}, {ID: 2, Raw: []byte(`{"update_id":2}`)}}
	seqs, err := s.Append(ups, adapter.Position{Offset: 3})
	if err != nil {
		t.Fatal(err)
	}
	waitApplierEnds(t, s)
	if on, n := applierState(s); on || n != 0 {
		t.Fatalf("after the applier ended: running %v, %d records unapplied; want none", on, n)
	}
	if err := s.Remove(seqs[:1]); err != nil {
		t.Fatal(err)
	}
	waitApplierEnds(t, s)
	if on, n := applierState(s); on || n != 0 {
		t.Fatalf("after a removal: running %v, %d records unapplied; want none", on, n)
	}
	var stored int
	if err := s.db.View(func(tx *bolt.Tx) error {
		stored = tx.Bucket(bucketUpdates).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if stored != 1 {
		t.Fatalf("bbolt holds %d updates, want 1: the removal was applied", stored)
	}
}
