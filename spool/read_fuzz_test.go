package spool

import (
	"fmt"
	"testing"
)

// fuzzLog encodes a log of batches (three updates each, ids from 1) and a
// removal after every other batch, LSNs from first.
func fuzzLog(first uint64, batches int) []byte {
	var b []byte
	lsn, seq, id := first, uint64(1), int64(1)
	for i := range batches {
		r := walRecord{lsn: lsn, kind: recBatch, next: id + 3}
		for range 3 {
			r.ups = append(r.ups, walUpdate{seq: seq, id: id, raw: fmt.Appendf(nil, `{"update_id":%d}`, id)})
			seq++
			id++
		}
		b = append(b, r.encode()...)
		lsn++
		if i%2 == 1 {
			rm := walRecord{lsn: lsn, kind: recRemoval, removed: []uint64{seq - 4}}
			b = append(b, rm.encode()...)
			lsn++
		}
	}
	return b
}

// FuzzReadDamagedLog reads arbitrary log bytes as check and salvage do
// (padded to a whole log's size, so that more than the cut is exercised) and
// replays them: it never panics; the records kept rise in LSN above the
// applied one; the updates planned are in sequence order, once each, and
// all come from intact records; and where Open finds no damage, salvage
// would keep what Open replays, less only what a later intact removal
// removed.
func FuzzReadDamagedLog(f *testing.F) {
	// A 4 MiB log per run stalls the fuzzing engine: a log of 64 KiB is
	// taken as whole.
	walCutBelow = 64 << 10
	f.Cleanup(func() { walCutBelow = walPrealloc })
	good := fuzzLog(1, 6)
	f.Add(good, uint64(0))
	f.Add(good, uint64(3))
	for _, at := range []int{0, 5, 25, 60, len(good) / 2, len(good) - 3} {
		b := append([]byte(nil), good...)
		b[at] ^= 0x5a
		f.Add(b, uint64(0))
	}
	f.Add(good[:len(good)/3], uint64(0))
	f.Add(append(fuzzLog(10, 2), fuzzLog(1, 5)...), uint64(9)) // an earlier pass after the live records
	f.Add([]byte{}, uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, applied uint64) {
		if len(data) > walCutBelow {
			data = data[:walCutBelow]
		}
		padded := make([]byte, walCutBelow)
		copy(padded, data)
		c := &contents{dbExists: true, dbOpened: true, format: format, walExists: true, applied: applied,
			dbPath: "spool.db", walPath: "spool.wal", walSize: len(padded)}
		c.readLog(padded)
		for i, r := range c.walLive {
			if r.lsn <= applied || i > 0 && r.lsn <= c.walLive[i-1].lsn {
				t.Fatalf("record %d: LSN %d after %v (applied %d)", i, r.lsn, c.walLive, applied)
			}
		}
		p := c.plan()
		intact := map[uint64]bool{}
		for _, r := range c.walLive {
			for _, u := range r.ups {
				intact[u.seq] = true
			}
		}
		for i, u := range p.updates {
			if i > 0 && u.seq <= p.updates[i-1].seq {
				t.Fatalf("updates out of order or twice: %d after %d", u.seq, p.updates[i-1].seq)
			}
			if !intact[u.seq] {
				t.Fatalf("update #%d comes from no intact record", u.seq)
			}
		}
		sc := scanLog(padded, applied)
		if sc.damage != "" {
			if len(c.damage) == 0 {
				t.Fatalf("Open finds %q, check finds nothing", sc.damage)
			}
			return
		}
		if len(c.damage) != 0 {
			t.Fatalf("check finds %v, Open nothing", c.damage)
		}
		replayed := map[uint64]bool{}
		for _, r := range sc.live {
			for _, u := range r.ups {
				replayed[u.seq] = true
			}
			for _, seq := range r.removed {
				delete(replayed, seq)
			}
		}
		planned := map[uint64]bool{}
		for _, u := range p.updates {
			planned[u.seq] = true
			if !replayed[u.seq] {
				t.Fatalf("update #%d planned, not replayed by Open", u.seq)
			}
		}
		removedLater := map[uint64]bool{}
		for _, r := range c.walLive {
			for _, seq := range r.removed {
				removedLater[seq] = true
			}
		}
		for seq := range replayed {
			if !planned[seq] && !removedLater[seq] {
				t.Fatalf("update #%d replayed by Open, not planned", seq)
			}
		}
	})
}
