package spool

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/asgigram/asgigram/adapter"
)

// TestPagesReadDirectlyAreCurrent: reading spool.db's pages without bbolt
// finds the updates stored now and never those removed (their old pages
// are free), whichever page is damaged; with a branch page damaged it
// finds every update bbolt can no longer reach.
func TestPagesReadDirectlyAreCurrent(t *testing.T) {
	src := t.TempDir()
	s, err := Open(src, Options{ApplyEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for b := range 100 {
		ups := make([]adapter.Update, 10)
		for i := range ups {
			id := int64(b*10 + i + 1)
			ups[i] = adapter.Update{ID: id, Raw: fmt.Appendf(nil, `{"update_id":%d,"message":{"text":"%0100d"}}`, id, id)}
		}
		got, err := s.Append(ups, adapter.Position{Offset: int64(b*10 + 11)})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, got...)
	}
	if err := s.Close(); err != nil { // one commit
		t.Fatal(err)
	}
	if s, err = Open(src, Options{ApplyEvery: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(seqs[:500]); err != nil { // ids 1..500 delivered
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(src, FileName))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rawMeta(filepath.Join(src, FileName))
	if err != nil {
		t.Fatal(err)
	}
	intact, err := scanPages(filepath.Join(src, FileName), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(intact.updates) != 500 || intact.unknown != 0 {
		t.Fatalf("an intact file: %d updates, %d damaged pages; want 500, 0", len(intact.updates), intact.unknown)
	}
	branches := 0
	for id := uint64(2); id < m.hwm; id++ {
		if id == m.freelist {
			continue
		}
		b := append([]byte(nil), db...)
		p := b[id*uint64(m.pageSize) : (id+1)*uint64(m.pageSize)]
		isBranch := binary.LittleEndian.Uint16(p[8:]) == pageBranch
		for i := range p {
			p[i] = byte(i*7 + int(id))
		}
		path := filepath.Join(t.TempDir(), FileName)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		ps, err := scanPages(path, true)
		if err != nil {
			t.Fatalf("page %d: %v", id, err)
		}
		seen := map[int64]bool{}
		for _, u := range ps.updates {
			if u.id <= 500 || seen[u.id] {
				t.Fatalf("page %d damaged: update %d comes back (removed, or twice)", id, u.id)
			}
			seen[u.id] = true
		}
		if isBranch {
			branches++
			if len(ps.updates) != 500 {
				t.Errorf("branch page %d damaged: %d of 500 updates found", id, len(ps.updates))
			}
		}
	}
	if branches == 0 {
		t.Fatal("no branch page: the test needs a bucket larger than one page")
	}
}
