package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram/fakeapi"
)

const adminToken = "admin-token-for-tests-0123456789"

// TestDeadLettersThroughTheCLI: a delivery the app refuses becomes a dead
// letter; the CLI lists, shows, replays and drops it through the admin API.
func TestDeadLettersThroughTheCLI(t *testing.T) {
	fake, apiURL := newFake(t)
	var broken atomic.Bool
	broken.Store(true)
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		if broken.Load() && ev.text() == "poison" {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return
		}
		reply(w, map[string]any{"type": "telegram.send_message", "text": "ok:" + ev.text()})
	})
	fake.AddUpdate("message", textMessage(6100000001, 6100000001, 1, "poison"))
	fake.AddUpdate("message", textMessage(6100000001, 6100000001, 2, "fine"))
	p := startBot(t, apiURL, a.srv.URL, "--admin-token", adminToken)
	eventually(t, 10*time.Second, func() bool { return len(fake.Messages(6100000001)) == 1 }, "the next event is not held back")
	base := p.baseURL()
	env := []string{"ASGIGRAM_ADMIN_TOKEN=" + adminToken}
	cli := func(args ...string) (int, string) {
		c := start(t, append([]string{"deadletters"}, append(args, "--admin-url", base)...), env...)
		return c.wait(10 * time.Second), c.out.String()
	}

	_, metricsOut := get(t, base+"/metrics")
	assert.Contains(t, metricsOut, `asgigram_dead_letters_total{kind="delivery"} 1`)
	assert.Contains(t, metricsOut, `asgigram_deliveries_total{outcome="failed",status_class="4xx"} 1`)

	code, out := cli("list")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "delivery")
	assert.Contains(t, out, "chat:6100000001")
	assert.Contains(t, out, "422")

	code, out = cli("show", "1")
	require.Equal(t, 0, code, out)
	var shown struct {
		DeadLetter struct {
			Kind     string          `json:"kind"`
			UpdateID int64           `json:"update_id"`
			Status   int             `json:"status"`
			Update   json.RawMessage `json:"update"`
		} `json:"dead_letter"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &shown), out)
	assert.Equal(t, "delivery", shown.DeadLetter.Kind)
	assert.Equal(t, int64(1), shown.DeadLetter.UpdateID)
	assert.Equal(t, 422, shown.DeadLetter.Status)
	assert.Contains(t, string(shown.DeadLetter.Update), "poison")

	broken.Store(false) // the app is fixed: replay
	code, out = cli("replay", "1")
	require.Equal(t, 0, code, out)
	eventually(t, 10*time.Second, func() bool { return len(fake.Messages(6100000001)) == 2 }, "the replay reached the app and its reply went out")
	assert.Equal(t, []string{"ok:fine", "ok:poison"}, sentTexts(fake, 6100000001))
	code, out = cli("show", "1")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, out, "no such dead letter")

	// Another one to drop.
	broken.Store(true)
	fake.AddUpdate("message", textMessage(6100000001, 6100000001, 3, "poison"))
	eventually(t, 10*time.Second, func() bool { c, o := cli("list"); return c == 0 && strings.Contains(o, "\n2 ") }, "second dead letter")
	code, out = cli("drop", "2")
	require.Equal(t, 0, code, out)
	_, out = cli("list")
	assert.NotContains(t, out, "\n2 ")

	// Wrong or missing admin token.
	c := start(t, []string{"deadletters", "list", "--admin-url", base}, "ASGIGRAM_ADMIN_TOKEN=wrong")
	assert.Equal(t, ExitFailure, c.wait(10*time.Second))
	assert.Contains(t, c.out.String(), "admin_token")
	assert.NotContains(t, c.out.String(), adminToken)
	assert.Equal(t, 0, p.stop(20*time.Second))
	assert.NotContains(t, p.out.String(), adminToken)
}

// TestAdminOffWithoutToken: without admin_token the admin endpoints do not
// exist.
func TestAdminOffWithoutToken(t *testing.T) {
	_, apiURL := newFake(t)
	a := newApp(t, nil)
	p := startBot(t, apiURL, a.srv.URL)
	status, _ := get(t, p.baseURL()+"/admin/deadletters")
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, 0, p.stop(20*time.Second))
}

// TestSecondInstanceOnSameDataDir exits with a clear message.
func TestSecondInstanceOnSameDataDir(t *testing.T) {
	_, apiURL := newFake(t)
	a := newApp(t, nil)
	dir := t.TempDir()
	p := startBot(t, apiURL, a.srv.URL, "--data-dir", dir)
	p.baseURL()
	p2 := startBot(t, apiURL, a.srv.URL, "--data-dir", dir)
	assert.Equal(t, ExitFailure, p2.wait(20*time.Second))
	assert.Contains(t, p2.out.String(), "in use by another asgigram process")
	assert.Equal(t, 0, p.stop(20*time.Second))
}

// TestTokenRevokedAtRuntime: a 401 while polling stops with exit 3, and the
// updates in the spool are delivered after the restart.
func TestTokenRevokedAtRuntime(t *testing.T) {
	fake, apiURL := newFake(t)
	hold := make(chan struct{})
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		if ev.text() == "held" {
			<-hold
		}
		w.WriteHeader(http.StatusNoContent)
	})
	fake.AddUpdate("message", textMessage(6100000001, 6100000001, 1, "held"))
	fake.AddUpdate("message", textMessage(6100000001, 6100000001, 2, "waits in the spool"))
	dir := t.TempDir()
	p := startBot(t, apiURL, a.srv.URL, "--data-dir", dir, "--shutdown-grace", "1s")
	eventually(t, 10*time.Second, func() bool { return a.count() == 1 }, "first delivered")
	eventually(t, 10*time.Second, func() bool { return fake.Offset() == 3 }, "both stored and confirmed")
	fake.RevokeToken()
	assert.Equal(t, ExitToken, p.wait(30*time.Second))
	assert.Contains(t, p.out.String(), "rejected by Telegram")
	close(hold)

	// The token is valid again: a new fake server stands in for Telegram.
	_, api2 := newFake(t)
	p2 := startBot(t, api2, a.srv.URL, "--data-dir", dir)
	eventually(t, 10*time.Second, func() bool {
		for _, ev := range a.received() {
			if ev.text() == "waits in the spool" {
				return true
			}
		}
		return false
	}, "the spooled update is delivered after the restart")
	assert.Equal(t, 0, p2.stop(20*time.Second))
}

// TestWebhookConflict: 409 webhook active is reported clearly; with
// delete_webhook_on_start the webhook is removed and polling works.
func TestWebhookConflict(t *testing.T) {
	fake, apiURL := newFake(t)
	fake.SetWebhook("https://example.invalid/hook")
	a := newApp(t, nil)
	p := startBot(t, apiURL, a.srv.URL)
	eventually(t, 10*time.Second, func() bool { return strings.Contains(p.out.String(), "delete_webhook_on_start") }, "a clear 409 message")
	assert.Equal(t, 0, p.stop(20*time.Second))

	fake.AddUpdate("message", textMessage(6100000001, 6100000001, 1, "hi"))
	p2 := startBot(t, apiURL, a.srv.URL, "--delete-webhook-on-start")
	eventually(t, 10*time.Second, func() bool { return a.count() == 1 }, "polling works after deleteWebhook")
	calls := fake.CallsTo("deleteWebhook")
	require.Len(t, calls, 1)
	assert.NotEqual(t, "true", string(calls[0].Params["drop_pending_updates"]), "pending updates are kept unless asked")
	assert.Equal(t, 0, p2.stop(20*time.Second))
}

// TestGroupMigrationFollowsTheNewChat: a reply to a group that became a
// supergroup is sent again to migrate_to_chat_id.
func TestGroupMigrationFollowsTheNewChat(t *testing.T) {
	fake, apiURL := newFake(t)
	const group, super = -123456789, -1001123456789
	fake.MigrateChat(group, super)
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		reply(w, map[string]any{"type": "telegram.send_message", "text": "hello"})
	})
	fake.AddUpdate("message", textMessage(group, 6100000001, 1, "hi"))
	p := startBot(t, apiURL, a.srv.URL)
	eventually(t, 10*time.Second, func() bool { return len(fake.Messages(super)) == 1 }, "sent to the supergroup")
	assert.Contains(t, p.out.String(), "upgraded to a supergroup")
	assert.Equal(t, 0, p.stop(20*time.Second))
}

// TestPacingKeepsRates: replies to one chat and across chats respect the
// configured rates (raised so the test is short), judged from the fake's
// recorded call times with tolerance.
func TestPacingKeepsRates(t *testing.T) {
	fake, apiURL := newFake(t)
	var mu sync.Mutex
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		mu.Lock()
		defer mu.Unlock()
		reply(w, map[string]any{"type": "telegram.send_message", "text": "r"})
	})
	const one = 6100000001
	for i := range 60 {
		fake.AddUpdate("message", textMessage(one, one, i+1, "x"))
	}
	for i := range 150 {
		id := 6100001000 + int64(i)
		fake.AddUpdate("message", textMessage(id, id, 1, "x"))
	}
	p := startBot(t, apiURL, a.srv.URL, "--pacing-chat-rate", "40/s", "--pacing-chat-burst", "1", "--pacing-global-rate", "150/s")
	eventually(t, 30*time.Second, func() bool { return len(fake.CallsTo("sendMessage")) == 210 }, "all replies sent")
	assert.Equal(t, 0, p.stop(20*time.Second))

	var oneChat, all []time.Time
	for _, c := range fake.CallsTo("sendMessage") {
		all = append(all, c.At)
		if string(c.Params["chat_id"]) == fmt.Sprint(one) {
			oneChat = append(oneChat, c.At)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Before(all[j]) })
	rate := func(ts []time.Time) float64 {
		return float64(len(ts)-1) / ts[len(ts)-1].Sub(ts[0]).Seconds()
	}
	require.Len(t, oneChat, 60)
	assert.LessOrEqual(t, rate(oneChat), 40*1.15, "one chat stays near 40/s")
	assert.LessOrEqual(t, rate(all), 150*1.15, "all chats together stay near 150/s")
	t.Logf("measured: one chat %.1f/s (limit 40), all %.1f/s (limit 150)", rate(oneChat), rate(all))
}

// TestStopDuringStartIsClean: SIGTERM while getMe is still being retried
// exits 0.
func TestStopDuringStartIsClean(t *testing.T) {
	fake, apiURL := newFake(t)
	fake.Fail("getMe", fakeapi.Fault{Code: 502, Times: 1000})
	a := newApp(t, nil)
	p := startBot(t, apiURL, a.srv.URL)
	eventually(t, 10*time.Second, func() bool { return len(fake.CallsTo("getMe")) >= 1 }, "trying to connect")
	assert.Equal(t, 0, p.stop(20*time.Second))
	assert.Contains(t, p.out.String(), "stopped before connecting")
}
