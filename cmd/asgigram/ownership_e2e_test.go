package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// otherToken is a second bot's token (bot 222).
const otherToken = "222:BBB-other_SECRET-token-not-logged"

// TestSpoolBelongsToItsBot: two bots started on the same data_dir keep
// separate spools (<data_dir>/<bot id>): the second bot's app never sees
// the first bot's confirmed updates, and the first bot, started again,
// delivers every one of them. A spool moved under another bot's name is
// refused with exit 2 and a message naming the bot it belongs to.
func TestSpoolBelongsToItsBot(t *testing.T) {
	const n = 200
	dataDir := t.TempDir()

	// Bot A stores n updates (confirmed to Telegram) whose deliveries hang.
	fakeA, apiA := newFake(t)
	release := make(chan struct{})
	hanging := newApp(t, func(w http.ResponseWriter, ev received) { <-release })
	t.Cleanup(func() { close(release) })
	for i := range n {
		fakeA.AddUpdate("message", textMessage(int64(i%10+1), 6100000001, i/10+1, "a"+strconv.Itoa(i)))
	}
	pa := startBot(t, apiA, hanging.srv.URL, "--data-dir", dataDir)
	eventually(t, 20*time.Second, func() bool { return fakeA.Offset() == n+1 }, "bot A's updates stored and confirmed")
	require.NoError(t, pa.cmd.Process.Kill())
	pa.wait(10 * time.Second)

	// Bot B on the same data_dir: its own spool, its own updates only.
	fakeB, apiB := newFakeWith(t, fakeapi.Config{Token: otherToken})
	for i := range 5 {
		fakeB.AddUpdate("message", textMessage(7000000001, 7000000001, i+1, "b"+strconv.Itoa(i)))
	}
	appB := newApp(t, func(w http.ResponseWriter, ev received) { w.WriteHeader(http.StatusNoContent) })
	pb := start(t, []string{otherToken, appB.srv.URL, "--api-url", apiB, "--listen", "127.0.0.1:0", "--poll-timeout", "2s", "--data-dir", dataDir})
	eventually(t, 20*time.Second, func() bool { return appB.count() == 5 }, "bot B's updates delivered")
	time.Sleep(500 * time.Millisecond)
	for _, ev := range appB.received() {
		assert.True(t, strings.HasPrefix(ev.text(), "b"), "bot B's app got %q, not its own update", ev.text())
	}
	assert.Equal(t, 5, appB.count())
	assert.Equal(t, 0, pb.stop(20*time.Second))
	assert.NotContains(t, pb.out.String(), otherToken)
	assert.NotContains(t, pb.out.String(), strings.SplitN(otherToken, ":", 2)[1])

	// Bot A again: every stored update delivered.
	appA := newApp(t, nil)
	pa2 := startBot(t, apiA, appA.srv.URL, "--data-dir", dataDir)
	eventually(t, 20*time.Second, func() bool {
		return len(appA.texts()) == n
	}, "bot A's stored updates delivered after bot B ran")
	assert.Equal(t, 0, pa2.stop(20*time.Second))

	// Bot A's spool renamed to bot B's directory: refused, nothing delivered.
	require.NoError(t, os.Rename(filepath.Join(dataDir, "222"), filepath.Join(dataDir, "222.mine")))
	require.NoError(t, os.Rename(filepath.Join(dataDir, "123456789"), filepath.Join(dataDir, "222")))
	pb2 := start(t, []string{otherToken, appB.srv.URL, "--api-url", apiB, "--listen", "127.0.0.1:0", "--data-dir", dataDir})
	assert.Equal(t, ExitConfig, pb2.wait(20*time.Second))
	assert.Contains(t, pb2.out.String(), "123456789", "the message names the bot the spool belongs to")
}

// TestGetMeForAnotherBotIsFatal: a Bot API answering getMe for another bot
// than the token names stops asgigram with exit 2 before anything is
// polled.
func TestGetMeForAnotherBotIsFatal(t *testing.T) {
	fake, apiURL := newFakeWith(t, fakeapi.Config{Bot: fakeapi.User{ID: 999, IsBot: true, FirstName: "Other", Username: "other_bot"}})
	fake.AddUpdate("message", textMessage(1, 1, 1, "x"))
	a := newApp(t, func(w http.ResponseWriter, ev received) { w.WriteHeader(http.StatusNoContent) })
	p := startBot(t, apiURL, a.srv.URL)
	assert.Equal(t, ExitConfig, p.wait(20*time.Second))
	assert.Contains(t, p.out.String(), "999")
	assert.Empty(t, fake.CallsTo("getUpdates"))
	assert.Zero(t, a.count())
}

// TestDataDirRemovedWhileRunning: once data_dir is deleted under a running
// asgigram, nothing more is confirmed to Telegram, /readyz says why, one
// ERROR is logged and the process stays up; a restart on a fresh data_dir
// gets the unconfirmed updates from Telegram again.
func TestDataDirRemovedWhileRunning(t *testing.T) {
	fake, apiURL := newFake(t)
	rec := &recorder{}
	a := newApp(t, rec.handler)
	dataDir := t.TempDir()
	for i := range 10 {
		fake.AddUpdate("message", textMessage(int64(i+1), 6100000001, 1, "1"))
	}
	p := startBot(t, apiURL, a.srv.URL, "--data-dir", dataDir)
	base := p.baseURL()
	eventually(t, 20*time.Second, func() bool { return a.count() == 10 }, "first updates delivered")
	require.NoError(t, os.RemoveAll(dataDir))
	for i := range 10 {
		fake.AddUpdate("message", textMessage(int64(i+1), 6100000001, 2, "2"))
	}
	eventually(t, 20*time.Second, func() bool {
		s, body := get(t, base+"/readyz")
		return s == http.StatusServiceUnavailable && strings.Contains(body, "removed")
	}, "/readyz not ready, with the reason")
	confirmed := fake.Offset()
	assert.LessOrEqual(t, confirmed, int64(11), "nothing fetched after the removal is confirmed")
	time.Sleep(3 * time.Second) // more than a long poll
	assert.Equal(t, confirmed, fake.Offset(), "still nothing confirmed")
	select {
	case <-p.done:
		t.Fatalf("asgigram exited (%d)", p.code)
	default:
	}
	assert.Equal(t, 1, strings.Count(p.out.String(), "polling paused"), "one ERROR for the episode")
	assert.Equal(t, 0, p.stop(20*time.Second))
	assert.Equal(t, confirmed, fake.Offset(), "the stop confirms nothing either")

	// A new data_dir: Telegram sends what was not confirmed again.
	p2 := startBot(t, apiURL, a.srv.URL)
	eventually(t, 20*time.Second, func() bool { return fake.Offset() == 21 }, "the rest fetched and confirmed")
	assert.Equal(t, 0, p2.stop(20*time.Second))
	got := map[int64]bool{}
	for _, d := range rec.deliveries() {
		got[d.updateID] = true
	}
	for id := int64(1); id <= 20; id++ {
		assert.True(t, got[id], "update %d delivered", id)
	}
	t.Logf("deliveries %d for 20 updates", len(rec.deliveries()))
}
