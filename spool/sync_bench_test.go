package spool

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/asgigram/asgigram/adapter"
)

// cpuTime is the process's user + system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSyncedWrite is the floor under a durable spool at a trickle: one
// 200-byte write and one fdatasync of a preallocated file, what each
// fetched batch costs before its offset may be confirmed. It reports the
// CPU it takes (cpu-µs/op), apart from the time spent waiting for the disk.
func BenchmarkSyncedWrite(b *testing.B) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "log"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	const size = 4 << 20
	if err := f.Truncate(size); err != nil {
		b.Fatal(err)
	}
	zeros := make([]byte, size)
	if _, err := f.WriteAt(zeros, 0); err != nil {
		b.Fatal(err)
	}
	if err := datasync(f); err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, 200)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := f.WriteAt(rec, int64(i*len(rec))%(size-int64(len(rec)))); err != nil {
			b.Fatal(err)
		}
		if err := datasync(f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkAppendOne is Spool.Append of one update at a time, as a steady
// trickle fetches them: the synced log write plus the spool's own work (the
// applier's bbolt commits run meanwhile and are part of the CPU reported).
func BenchmarkAppendOne(b *testing.B) {
	sp, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	raw := []byte(`{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":42,"type":"private"},"from":{"id":42,"is_bot":false,"first_name":"A"},"text":"hello there, a typical message"}}`)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for i := 1; b.Loop(); i++ {
		u := adapter.Update{ID: int64(i), Raw: raw}
		seqs, err := sp.Append([]adapter.Update{u}, adapter.Position{Offset: int64(i) + 1})
		if err != nil {
			b.Fatal(err)
		}
		if err := sp.Remove(seqs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}
