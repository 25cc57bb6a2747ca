//go:build linux

package spool_test

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/spool"
)

// TestManyIdleSpoolsHaveNoLog opens 100 spools, as a daemon serving 100
// idle bots does: none has a log. It also logs what they take (disk
// blocks, file descriptors, resident memory; see them with -v), for sizing
// a daemon with many bots; those numbers are not asserted.
func TestManyIdleSpoolsHaveNoLog(t *testing.T) {
	const n = 100
	root := t.TempDir()
	fdsBefore, rssBefore, heapBefore := fdCount(t), rssKiB(t), heapInUse()
	spools := make([]*spool.Spool, 0, n)
	t.Cleanup(func() {
		for _, s := range spools {
			s.Close()
		}
	})
	for i := range n {
		s, err := spool.Open(filepath.Join(root, strconv.Itoa(i)), spool.Options{BotID: int64(1000 + i)})
		require.NoError(t, err)
		spools = append(spools, s)
	}
	fdsAfter, rssAfter, heapAfter := fdCount(t), rssKiB(t), heapInUse()
	var blocks, size int64
	require.NoError(t, filepath.Walk(root, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		assert.NotEqual(t, spool.WALName, fi.Name(), "%s: an idle spool has no log", path)
		size += fi.Size()
		blocks += fi.Sys().(*syscall.Stat_t).Blocks * 512
		return nil
	}))
	t.Logf("%d idle spools: disk %d KiB allocated (%d KiB apparent), %d file descriptors (%.1f each), resident memory +%d KiB (%d KiB each), Go heap in use +%d KiB",
		n, blocks>>10, size>>10, fdsAfter-fdsBefore, float64(fdsAfter-fdsBefore)/n, rssAfter-rssBefore, (rssAfter-rssBefore)/n, (heapAfter-heapBefore)>>10)
}

// fdCount returns the number of the process's open file descriptors.
func fdCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// rssKiB returns the process's resident set size (VmRSS).
func rssKiB(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			require.NoError(t, err)
			return kb
		}
	}
	t.Skip("no VmRSS in /proc/self/status")
	return 0
}

// heapInUse returns the bytes of Go heap in use after a collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}
