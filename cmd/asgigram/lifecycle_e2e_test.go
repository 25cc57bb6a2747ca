package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lifecycleSecret signs the events, so that each carries its webhook-id.
var lifecycleSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("lifecycle-events-test-key-32byte"))

// startLifecycle runs the binary with lifecycle_events on and short timings.
func startLifecycle(t *testing.T, apiURL, appURL string, flags ...string) *proc {
	t.Helper()
	return startBot(t, apiURL, appURL, append([]string{"--lifecycle-events", "--app-secret", lifecycleSecret,
		"--shutdown-grace", "5s"}, flags...)...)
}

// str decodes a string field of an event.
func (r received) str(key string) string {
	var s string
	_ = json.Unmarshal(r.Event[key], &s)
	return s
}

// ofChat returns the events of chatID's scope in arrival order.
func ofChat(evs []received, chatID int64) []received {
	var out []received
	for _, ev := range evs {
		if ev.chatID() == chatID {
			out = append(out, ev)
		}
	}
	return out
}

// types lists the event types of evs, a scope_closed with its reason.
func types(evs []received) []string {
	var out []string
	for _, ev := range evs {
		typ := ev.eventType()
		if typ == "asgigram.scope_closed" {
			typ += " " + ev.str("reason")
		}
		out = append(out, typ)
	}
	return out
}

func countType(evs []received, typ string) int {
	n := 0
	for _, ev := range evs {
		if ev.eventType() == typ {
			n++
		}
	}
	return n
}

// TestLifecycleOpenedFirstClosedOnShutdown: startup comes first, each
// scope's scope_opened comes once, before its first event and with its
// token; on SIGTERM each scope is closed after its last event (reason
// shutdown, no token), and asgigram.shutdown comes last.
func TestLifecycleOpenedFirstClosedOnShutdown(t *testing.T) {
	for _, mode := range []string{"disk", "memory"} {
		t.Run(mode, func(t *testing.T) { testLifecycleOpenedFirstClosedOnShutdown(t, mode) })
	}
}

func testLifecycleOpenedFirstClosedOnShutdown(t *testing.T, mode string) {
	fake, apiURL := newFake(t)
	a := newApp(t, nil)
	const chatA, chatB = 7100000001, 7100000002
	for i := range 3 {
		fake.AddUpdate("message", textMessage(chatA, chatA, i+1, fmt.Sprint("a", i)))
		fake.AddUpdate("message", textMessage(chatB, chatB, i+1, fmt.Sprint("b", i)))
	}
	p := startLifecycle(t, apiURL, a.srv.URL, "--lifecycle-url", a.srv.URL+"/lifespan", "--spool", mode)
	eventually(t, 10*time.Second, func() bool { return countType(a.received(), "telegram.message") == 6 }, "6 messages delivered")
	require.Equal(t, 0, p.stop(20*time.Second))

	evs := a.received()
	require.NotEmpty(t, evs)
	assert.Equal(t, "asgigram.startup", evs[0].eventType(), "startup comes before any other event")
	assert.Equal(t, fmt.Sprintf("asg-%d-startup-", fake.Bot().ID), evs[0].Header.Get("webhook-id")[:len(fmt.Sprintf("asg-%d-startup-", fake.Bot().ID))])
	var bot struct {
		ID int64 `json:"id"`
	}
	require.NoError(t, json.Unmarshal(evs[0].Event["bot"], &bot))
	assert.Equal(t, fake.Bot().ID, bot.ID, "startup names the bot")
	assert.Equal(t, "/lifespan", evs[0].Path, "startup goes to lifecycle_url")
	assert.Equal(t, "asgigram.shutdown", evs[len(evs)-1].eventType(), "shutdown comes last")
	assert.Equal(t, "/lifespan", evs[len(evs)-1].Path, "shutdown goes to lifecycle_url")
	assert.Equal(t, 1, countType(evs, "asgigram.startup"))
	assert.Equal(t, 1, countType(evs, "asgigram.shutdown"))

	for _, chat := range []int64{chatA, chatB} {
		got := ofChat(evs, chat)
		require.Equal(t, []string{"asgigram.scope_opened", "telegram.message", "telegram.message", "telegram.message",
			"asgigram.scope_closed shutdown"}, types(got), "chat %d", chat)
		opened, closed := got[0], got[4]
		key := fmt.Sprintf("chat:%d", chat)
		assert.Equal(t, got[1].Token, opened.Token, "scope_opened carries the scope's token")
		assert.NotEmpty(t, opened.Token)
		assert.NotEmpty(t, opened.SendURL)
		assert.Equal(t, key, opened.str("scope_key"))
		assert.Equal(t, fmt.Sprintf("asg-%d-%s-open-1", fake.Bot().ID, key), opened.Header.Get("webhook-id"))
		assert.NotEmpty(t, opened.Header.Get("webhook-signature"), "signed like every event")
		assert.Equal(t, "asgigram.scope_opened", opened.Header.Get("X-Asgigram-Event"))
		assert.Empty(t, closed.Token, "scope_closed carries no token")
		assert.Equal(t, fmt.Sprintf("asg-%d-%s-close-1", fake.Bot().ID, key), closed.Header.Get("webhook-id"))
	}
}

// TestLifecycleIdleClosesAndReopens: a scope idle past scope_idle_timeout
// is closed (idle); the next event of its chat opens it again, n counting
// up, after the close.
func TestLifecycleIdleClosesAndReopens(t *testing.T) {
	fake, apiURL := newFake(t)
	a := newApp(t, nil)
	const chat = 7200000001
	fake.AddUpdate("message", textMessage(chat, chat, 1, "first"))
	startLifecycle(t, apiURL, a.srv.URL, "--scope-idle-timeout", "300ms")
	eventually(t, 10*time.Second, func() bool { return countType(a.received(), "asgigram.scope_closed") == 1 }, "closed when idle")
	fake.AddUpdate("message", textMessage(chat, chat, 2, "second"))
	eventually(t, 10*time.Second, func() bool { return countType(a.received(), "telegram.message") == 2 }, "second delivered")

	got := ofChat(a.received(), chat)
	require.Equal(t, []string{"asgigram.scope_opened", "telegram.message", "asgigram.scope_closed idle",
		"asgigram.scope_opened", "telegram.message"}, types(got))
	key := fmt.Sprintf("chat:%d", chat)
	assert.Equal(t, fmt.Sprintf("asg-%d-%s-close-1", fake.Bot().ID, key), got[2].Header.Get("webhook-id"))
	assert.Equal(t, fmt.Sprintf("asg-%d-%s-open-2", fake.Bot().ID, key), got[3].Header.Get("webhook-id"))
	assert.NotEqual(t, got[1].Token, got[4].Token, "a reopened scope has a new token")
	assert.Equal(t, got[4].Token, got[3].Token)
}

// TestLifecycleEvicted: past max_scopes the least recently active scope is
// closed (evicted) before the new one opens.
func TestLifecycleEvicted(t *testing.T) {
	fake, apiURL := newFake(t)
	a := newApp(t, nil)
	const first, second = 7300000001, 7300000002
	fake.AddUpdate("message", textMessage(first, first, 1, "one"))
	startLifecycle(t, apiURL, a.srv.URL, "--max-scopes", "1")
	eventually(t, 10*time.Second, func() bool { return countType(a.received(), "telegram.message") == 1 }, "first delivered")
	fake.AddUpdate("message", textMessage(second, second, 1, "two"))
	eventually(t, 10*time.Second, func() bool { return countType(a.received(), "asgigram.scope_closed") == 1 }, "first evicted")
	eventually(t, 10*time.Second, func() bool { return countType(a.received(), "telegram.message") == 2 }, "second delivered")

	assert.Equal(t, []string{"asgigram.scope_opened", "telegram.message", "asgigram.scope_closed evicted"}, types(ofChat(a.received(), first)))
	assert.Equal(t, []string{"asgigram.scope_opened", "telegram.message"}, types(ofChat(a.received(), second)))
}

// TestLifecycleBotBlockedAndMigrated: a my_chat_member update saying the
// user blocked the bot closes its scope (bot_blocked), a message saying
// the group became a supergroup closes the group's (migrated, with the new
// chat id), each after that event; the old token is expired at once.
func TestLifecycleBotBlockedAndMigrated(t *testing.T) {
	fake, apiURL := newFake(t)
	const user, group, super = 7400000001, -7400000002, -1007400000003
	var sendURL atomic.Value
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		if ev.SendURL != "" {
			sendURL.Store(ev.SendURL)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	fake.AddUpdate("message", textMessage(user, user, 1, "hi"))
	fake.AddUpdate("my_chat_member", map[string]any{
		"chat":            map[string]any{"id": user, "type": "private"},
		"from":            map[string]any{"id": user, "is_bot": false, "first_name": "User"},
		"date":            1781340001,
		"old_chat_member": map[string]any{"status": "member", "user": map[string]any{"id": fake.Bot().ID, "is_bot": true, "first_name": "Fake Bot"}},
		"new_chat_member": map[string]any{"status": "kicked", "until_date": 0, "user": map[string]any{"id": fake.Bot().ID, "is_bot": true, "first_name": "Fake Bot"}},
	})
	migrate := map[string]any{
		"message_id": 2, "date": 1781340002,
		"chat":               map[string]any{"id": group, "type": "group"},
		"from":               map[string]any{"id": user, "is_bot": false, "first_name": "User"},
		"migrate_to_chat_id": super,
	}
	fake.AddUpdate("message", textMessage(group, user, 1, "in the group"))
	fake.AddUpdate("message", migrate)
	startLifecycle(t, apiURL, a.srv.URL)
	eventually(t, 10*time.Second, func() bool { return countType(a.received(), "asgigram.scope_closed") == 2 }, "both closed")

	evs := a.received()
	got := ofChat(evs, user)
	require.Equal(t, []string{"asgigram.scope_opened", "telegram.message", "telegram.my_chat_member", "asgigram.scope_closed bot_blocked"}, types(got))
	old := got[1].Token
	code, body := postSend(t, sendURL.Load().(string), old, "application/json", `[{"type":"telegram.send_message","text":"still there?"}]`)
	assert.Equal(t, http.StatusGone, code, "the closed scope's token is expired: %v", body)

	g := ofChat(evs, group)
	require.Equal(t, []string{"asgigram.scope_opened", "telegram.message", "telegram.message", "asgigram.scope_closed migrated"}, types(g))
	var newID int64
	require.NoError(t, json.Unmarshal(g[3].Event["new_chat_id"], &newID))
	assert.Equal(t, int64(super), newID)
}

// TestLifecycleStartupBlocksDelivery: delivery starts only once the
// application answered asgigram.startup with a 2xx; it is asked again
// meanwhile, and /metrics counts each attempt.
func TestLifecycleStartupBlocksDelivery(t *testing.T) {
	fake, apiURL := newFake(t)
	var startups atomic.Int32
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		if ev.eventType() == "asgigram.startup" && startups.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	const chat = 7500000001
	fake.AddUpdate("message", textMessage(chat, chat, 1, "waiting"))
	p := startLifecycle(t, apiURL, a.srv.URL, "--startup-timeout", "1m")
	eventually(t, 10*time.Second, func() bool { return countType(a.received(), "telegram.message") == 1 }, "delivered")
	assert.Equal(t, []string{"asgigram.startup", "asgigram.startup", "asgigram.startup", "asgigram.scope_opened", "telegram.message"},
		types(a.received()))
	// Each POST is counted, by event and outcome.
	eventually(t, 10*time.Second, func() bool {
		return metricValue(t, p, `asgigram_lifecycle_events_total{event="scope_opened",outcome="ok"}`) == 1
	}, "scope_opened counted")
	assert.Equal(t, float64(2), metricValue(t, p, `asgigram_lifecycle_events_total{event="startup",outcome="failed"}`))
	assert.Equal(t, float64(1), metricValue(t, p, `asgigram_lifecycle_events_total{event="startup",outcome="ok"}`))
	ids := map[string]bool{}
	for _, ev := range a.received()[:3] {
		ids[ev.Header.Get("webhook-id")] = true
	}
	assert.Len(t, ids, 1, "one webhook-id for the attempts of one startup")
}

// TestLifecycleStartupTimeoutPasses: an application that never takes
// asgigram.startup holds delivery back for startup_timeout only.
func TestLifecycleStartupTimeoutPasses(t *testing.T) {
	fake, apiURL := newFake(t)
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		if ev.eventType() == "asgigram.startup" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	const chat = 7600000001
	fake.AddUpdate("message", textMessage(chat, chat, 1, "anyway"))
	p := startLifecycle(t, apiURL, a.srv.URL, "--startup-timeout", "500ms")
	eventually(t, 10*time.Second, func() bool { return countType(a.received(), "telegram.message") == 1 }, "delivered anyway")
	evs := a.received()
	assert.GreaterOrEqual(t, countType(evs, "asgigram.startup"), 1)
	first := 0
	for i, ev := range evs {
		if ev.eventType() != "asgigram.startup" {
			first = i
			break
		}
	}
	assert.Zero(t, countType(evs[first:], "asgigram.startup"), "no startup after delivery began")
	assert.Contains(t, p.out.String(), "startup_timeout")
}

// TestLifecycleOffChangesNothing: without lifecycle_events the application
// sees only Telegram's events.
func TestLifecycleOffChangesNothing(t *testing.T) {
	fake, apiURL := newFake(t)
	a := newApp(t, nil)
	const chat = 7700000001
	fake.AddUpdate("message", textMessage(chat, chat, 1, "plain"))
	p := startBot(t, apiURL, a.srv.URL, "--scope-idle-timeout", "300ms")
	eventually(t, 10*time.Second, func() bool { return a.count() == 1 }, "delivered")
	require.Equal(t, 0, p.stop(20*time.Second))
	assert.Equal(t, []string{"telegram.message"}, types(a.received()))
}

// TestDevModeTracesLifecycleEvents: dev --lifecycle-events delivers the
// lifecycle events to the app and shows each in the trace.
func TestDevModeTracesLifecycleEvents(t *testing.T) {
	a := newApp(t, nil)
	p := start(t, []string{"dev", a.srv.URL, "--listen", "127.0.0.1:0", "--lifecycle-events"})
	base := devBase(t, p)
	code, raw := devCall(t, http.MethodPost, base+"/dev/chats/7/messages", `{"text":"hi"}`)
	require.Equal(t, http.StatusOK, code, "%s", raw)
	waitTrace(t, p, `(?m)^asgigram\.startup -> 204 in \S+$`)
	waitTrace(t, p, `(?m)^asgigram\.scope_opened chat:7 -> 204 in \S+$`)
	require.Equal(t, 0, p.stop(20*time.Second))
	assert.Regexp(t, `(?m)^asgigram\.scope_closed chat:7 \(shutdown\) -> 204 in \S+$`, p.out.String())
	assert.Regexp(t, `(?m)^asgigram\.shutdown -> 204 in \S+$`, p.out.String())
	assert.Equal(t, []string{"asgigram.startup", "asgigram.scope_opened", "telegram.message", "asgigram.scope_closed shutdown", "asgigram.shutdown"},
		types(a.received()))
}
