package main

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smallFS mounts a tmpfs of size bytes on a new directory, or skips the
// test (with the reason) where mounting is not allowed.
func smallFS(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a size-limited file system here (needs root and mount rights): %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes a file until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			require.True(t, errors.Is(err, syscall.ENOSPC), "filling: %v", err)
			return
		}
	}
}

// TestDiskFull runs asgigram with data_dir on a small file system that
// fills up while updates wait in the spool: polling pauses with one ERROR
// and /readyz says why, the process stays up (and starts again with the
// disk still full), the stored backlog is still delivered, and once space
// is freed polling resumes by itself and every update is delivered.
func TestDiskFull(t *testing.T) {
	mnt := smallFS(t, "8m")
	fake, apiURL := newFake(t)
	release := make(chan struct{})
	var mu sync.Mutex
	seen := map[string]int{}
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		<-release
		mu.Lock()
		seen[ev.text()]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	t.Cleanup(open)
	dataDir := filepath.Join(mnt, "data")
	p := startBot(t, apiURL, a.srv.URL, "--data-dir", dataDir, "--shutdown-grace", "3s")
	base := p.baseURL()
	eventually(t, 10*time.Second, func() bool { s, _ := get(t, base+"/readyz"); return s == 200 }, "ready")
	fill(t, filepath.Join(mnt, "filler"))

	// 1,500 updates of ~2 KB: more than the space left for the spool.
	const n = 1500
	pad := strings.Repeat("x", 2000)
	for i := range n {
		fake.AddUpdate("message", textMessage(int64(i%50+1), 6100000001, i/50+1, strconv.Itoa(i)+" "+pad))
	}
	eventually(t, 30*time.Second, func() bool {
		s, body := get(t, base+"/readyz")
		return s == http.StatusServiceUnavailable && strings.Contains(body, "full")
	}, "/readyz says the disk is full")
	stalled := fake.Offset()
	require.Less(t, stalled, int64(n+1), "polling paused before every update was fetched")
	time.Sleep(3 * time.Second) // more than a long poll
	assert.Equal(t, stalled, fake.Offset(), "nothing more confirmed while the disk is full")

	// Stopped and started again with the disk still full: it starts, and
	// keeps what it stored.
	assert.Equal(t, 0, p.stop(30*time.Second))
	p = startBot(t, apiURL, a.srv.URL, "--data-dir", dataDir, "--shutdown-grace", "3s")
	base = p.baseURL()
	eventually(t, 30*time.Second, func() bool {
		s, body := get(t, base+"/readyz")
		return s == http.StatusServiceUnavailable && strings.Contains(body, "full")
	}, "/readyz says the disk is full after the restart")
	stalled = fake.Offset()

	open() // the stored backlog is delivered with the disk still full
	eventually(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) >= int(stalled-1)-100 // all stored but maybe the last unstored batch
	}, "the stored backlog delivered while the disk is full")
	select {
	case <-p.done:
		t.Fatalf("asgigram exited (%d)", p.code)
	default:
	}

	require.NoError(t, os.Remove(filepath.Join(mnt, "filler")))
	eventually(t, 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	}, "every update delivered once space returned")
	eventually(t, 10*time.Second, func() bool { s, _ := get(t, base+"/readyz"); return s == 200 }, "ready again")
	assert.Equal(t, 0, p.stop(20*time.Second))
	out := p.out.String()
	assert.Contains(t, out, "disk is full")
	assert.Contains(t, out, "polling resumes")
	assert.Equal(t, 1, strings.Count(out, `msg="polling paused`), "one ERROR for the episode")
	t.Logf("polling paused at offset %d of %d; ERROR lines about the full disk: %d", stalled, n, strings.Count(out, "level=ERROR"))
	if testing.Verbose() {
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") {
				t.Log(l)
			}
		}
	}
}
