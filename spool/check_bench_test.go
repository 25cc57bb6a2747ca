package spool_test

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/spool"
)

// BenchmarkOpen100k measures opening a spool holding 100,000 waiting
// updates of about 300 bytes (a text message), with and without the
// consistency check run at start (reading every stored page and bbolt's
// own check). The spool is built once, closed cleanly; each iteration opens
// and closes it. Results are in docs/operations.md.
//
//	go test ./spool -run XXX -bench Open100k -benchtime 5x
//	SPOOL_BENCH_COLD=1 go test ./spool -run XXX -bench Open100k -benchtime 5x
func BenchmarkOpen100k(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	s, err := spool.Open(dir, spool.Options{})
	if err != nil {
		b.Fatal(err)
	}
	text := fmt.Sprintf(`{"message_id":%%d,"from":{"id":6100000001,"is_bot":false,"first_name":"Ada","username":"ada"},"chat":{"id":6100000001,"first_name":"Ada","username":"ada","type":"private"},"date":1764800000,"text":"%0150d"}`, 0)
	for i := int64(1); i <= n; i += 100 {
		ups := make([]adapter.Update, 0, 100)
		for id := i; id < i+100; id++ {
			ups = append(ups, adapter.Update{ID: id, Raw: []byte(fmt.Sprintf(`{"update_id":%d,"message":`, id) + fmt.Sprintf(text, id) + "}")})
		}
		if _, err := s.Append(ups, adapter.Position{Offset: i + 100}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, spool.FileName)); err == nil {
		b.Logf("spool.db: %d MiB for %d updates", st.Size()>>20, n)
	}
	// SPOOL_BENCH_COLD=1 drops the page cache before each open (needs
	// root), as after a reboot.
	cold := os.Getenv("SPOOL_BENCH_COLD") != ""
	for _, skip := range []bool{false, true} {
		name := "check"
		if skip {
			name = "nocheck"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if cold {
					b.StopTimer()
					dropCaches(b)
					b.StartTimer()
				}
				s, err := spool.Open(dir, spool.Options{SkipCheck: skip})
				if err != nil {
					b.Fatal(err)
				}
				if s.Len() != n {
					b.Fatalf("%d updates waiting, want %d", s.Len(), n)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func dropCaches(b *testing.B) {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
		b.Skipf("cannot drop the page cache: %v", err)
	}
}
