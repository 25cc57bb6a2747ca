package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDamagedSpoolIsSalvaged: a spool whose bbolt file was emptied after a
// crash stops the daemon with exit 4; `spool check` exits 4 and names the
// damage, changing nothing; `spool salvage` exits 0, keeps the old files
// and recovers the updates from the log; `spool check` then passes and the
// daemon delivers the recovered updates.
func TestDamagedSpoolIsSalvaged(t *testing.T) {
	fake, apiURL := newFake(t)
	const n = 20
	const chat = 6100000042
	hold := make(chan struct{})
	held := newApp(t, func(w http.ResponseWriter, _ received) {
		<-hold // the first delivery never finishes: the rest wait in the spool
		w.WriteHeader(http.StatusNoContent)
	})
	t.Cleanup(func() { close(hold) })
	var ids []int64
	for i := range n {
		ids = append(ids, fake.AddUpdate("message", textMessage(chat, chat, i+1, strconv.Itoa(i+1))))
	}
	dataDir := t.TempDir()
	botDir := filepath.Join(dataDir, strings.Split(testToken, ":")[0])
	p := startBot(t, apiURL, held.srv.URL, "--data-dir", dataDir)
	// Stored once a later getUpdates confirms them.
	eventually(t, 20*time.Second, func() bool {
		for _, c := range fake.CallsTo("getUpdates") {
			var off int64
			_ = json.Unmarshal(c.Params["offset"], &off)
			if off > ids[n-1] {
				return true
			}
		}
		return false
	}, "the batch stored and confirmed")
	eventually(t, 10*time.Second, func() bool { return held.count() > 0 }, "the first delivery under way")
	time.Sleep(200 * time.Millisecond) // the log applied to spool.db (every 50 ms)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	p.wait(10 * time.Second)

	// The damage: spool.db emptied beside a log that holds the batch.
	db, wal := filepath.Join(botDir, "spool.db"), filepath.Join(botDir, "spool.wal")
	require.NoError(t, os.Truncate(db, 0))
	walBytes, err := os.ReadFile(wal)
	require.NoError(t, err)

	rec := &recorder{}
	a := newApp(t, rec.handler)
	p = startBot(t, apiURL, a.srv.URL, "--data-dir", dataDir)
	require.Equal(t, ExitSpoolDamaged, p.wait(20*time.Second), "a damaged spool stops the daemon")
	assert.Contains(t, p.out.String(), "spool damaged")
	assert.Contains(t, p.out.String(), "asgigram spool salvage")

	spoolCmd := func(args ...string) (int, string) {
		c := start(t, append([]string{"spool"}, args...), "ASGIGRAM_TOKEN="+testToken)
		return c.wait(20 * time.Second), c.out.String()
	}
	code, out := spoolCmd("check", "--data-dir", dataDir)
	require.Equal(t, ExitSpoolDamaged, code, out)
	t.Logf("spool check:\n%s", out)
	assert.Contains(t, out, "missing or empty")
	assert.Contains(t, out, "bot id:        (unknown)", "spool.db cannot say")
	assert.Contains(t, out, "waiting:       "+strconv.Itoa(n)+" updates")
	left, err := os.ReadFile(wal)
	require.NoError(t, err)
	assert.Equal(t, walBytes, left, "check changes nothing")
	fi, err := os.Stat(db)
	require.NoError(t, err)
	assert.Zero(t, fi.Size(), "check changes nothing")

	code, out = spoolCmd("salvage", "--data-dir", dataDir)
	require.Equal(t, 0, code, out)
	t.Logf("spool salvage:\n%s", out)
	assert.Contains(t, out, "may be lost:")
	assert.Contains(t, out, "holds "+strconv.Itoa(n)+" updates")
	kept, err := filepath.Glob(filepath.Join(botDir, "spool.wal.damaged-*"))
	require.NoError(t, err)
	require.Len(t, kept, 1, out)
	keptWAL, err := os.ReadFile(kept[0])
	require.NoError(t, err)
	assert.Equal(t, walBytes, keptWAL, "the damaged log is kept byte for byte")

	code, out = spoolCmd("check", "--bot-id", strings.Split(testToken, ":")[0], "--data-dir", dataDir)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "result:        sound")

	p = startBot(t, apiURL, a.srv.URL, "--data-dir", dataDir)
	eventually(t, 30*time.Second, func() bool { return rec.unique() == n }, "every recovered update delivered")
	assert.Equal(t, 0, p.stop(20*time.Second))
	var got []int64
	for _, d := range rec.deliveries() {
		got = append(got, d.updateID)
	}
	assert.Equal(t, ids, got, "in fetch order, once each")
}
