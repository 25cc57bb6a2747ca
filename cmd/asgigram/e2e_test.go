package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// TestEndToEndOrderAndParallelism runs the binary against the fake Bot API
// and a real HTTP app: many chats and users, replies in the body and through
// /send from inside the handler, strict order inside each scope and
// concurrency across scopes.
func TestEndToEndOrderAndParallelism(t *testing.T) {
	fake, apiURL := newFake(t)
	const chats, perChat, users = 30, 8, 5

	var (
		mu          sync.Mutex
		inflight    = map[string]int{} // per scope
		maxInflight int                // across scopes
		total       int
		otherScope  = make(chan struct{}, 1)
		firstScope  string
	)
	a := newApp(t, nil)
	a.handle = func(w http.ResponseWriter, ev received) {
		key := string(ev.Scope["chat"]) + string(ev.Scope["user"])
		mu.Lock()
		inflight[key]++
		total++
		maxInflight = max(maxInflight, total)
		if inflight[key] > 1 {
			t.Errorf("two events of one scope in flight at once: %s", key)
		}
		first := firstScope == ""
		if first {
			firstScope = key
		} else if key != firstScope {
			select {
			case otherScope <- struct{}{}:
			default:
			}
		}
		mu.Unlock()
		defer func() {
			mu.Lock()
			inflight[key]--
			total--
			mu.Unlock()
		}()
		if first {
			// Hold the very first event until another scope's event has
			// arrived: only concurrency across scopes lets that happen.
			select {
			case <-otherScope:
			case <-time.After(10 * time.Second):
				t.Errorf("no other scope was delivered while one scope's event was in flight")
			}
		}
		switch ev.eventType() {
		case "telegram.message":
			n, _ := strconv.Atoi(ev.text()[strings.LastIndex(ev.text(), "-")+1:])
			if n%2 == 0 {
				reply(w, map[string]any{"type": "telegram.send_message", "text": "re:" + ev.text()})
				return
			}
			// Answer through /send from inside the handler: /send must not
			// wait behind this very delivery.
			body := fmt.Sprintf(`{"type":"telegram.send_message","text":"re:%s"}`, ev.text())
			// trySend, not postSend: this is the app server's goroutine.
			if status, out, err := trySend(ev.SendURL, ev.Token, "application/json", body); err != nil {
				t.Errorf("/send: %v", err)
			} else if status != 200 {
				t.Errorf("/send answered %d: %v", status, out)
			}
			w.WriteHeader(http.StatusNoContent)
		case "telegram.inline_query":
			var id string
			_ = json.Unmarshal(ev.Event["id"], &id)
			reply(w, []any{map[string]any{"type": "telegram.answer_inline_query", "inline_query_id": id, "results": []any{}}})
		default:
			t.Errorf("unexpected event %s", ev.eventType())
		}
	}

	chatID := func(i int) int64 {
		if i%2 == 0 {
			return 6100000000 + int64(i)
		}
		return -1001000000000 - int64(i)
	}
	// Interleave the chats, as a busy bot sees them.
	for m := range perChat {
		for c := range chats {
			fake.AddUpdate("message", textMessage(chatID(c), 6100000000+int64(c), m+1, fmt.Sprintf("chat%d-%d", c, m)))
		}
	}
	for u := range users {
		fake.AddUpdate("inline_query", map[string]any{
			"id": fmt.Sprintf("iq%d", u), "from": map[string]any{"id": 6200000000 + int64(u), "is_bot": false, "first_name": "U"},
			"query": "cats", "offset": "",
		})
	}

	p := startBot(t, apiURL, a.srv.URL, "--max-concurrency", "8")
	want := chats*perChat + users
	eventually(t, 30*time.Second, func() bool { return a.count() >= want }, "all events delivered")
	eventually(t, 10*time.Second, func() bool { return len(fake.CallsTo("answerInlineQuery")) == users }, "inline answers")
	for c := range chats {
		c := c
		eventually(t, 10*time.Second, func() bool { return len(fake.Messages(chatID(c))) == perChat }, "replies in chat %d", c)
	}

	evs := a.received()
	require.Len(t, evs, want, "each update exactly once")
	seen := map[int64]bool{}
	byChat := map[int64][]string{}
	tokens := map[int64]string{}
	for _, ev := range evs {
		assert.False(t, seen[ev.UpdateID], "update %d delivered twice", ev.UpdateID)
		seen[ev.UpdateID] = true
		assert.Equal(t, ev.eventType(), ev.Header.Get("X-Asgigram-Event"))
		assert.True(t, strings.HasPrefix(ev.Header.Get("User-Agent"), "asgigram/"))
		assert.Equal(t, "application/json", ev.Header.Get("Content-Type"))
		assert.True(t, strings.HasSuffix(ev.SendURL, "/send"), ev.SendURL)
		assert.JSONEq(t, `"telegram"`, string(ev.Scope["type"]))
		assert.Len(t, ev.Token, 32)
		if ev.eventType() != "telegram.message" {
			assert.Contains(t, ev.Scope, "user")
			continue
		}
		id := ev.chatID()
		byChat[id] = append(byChat[id], ev.text())
		if tok, ok := tokens[id]; ok {
			assert.Equal(t, tok, ev.Token, "one scope, one token")
		}
		tokens[id] = ev.Token
	}
	distinct := map[string]bool{}
	for _, tok := range tokens {
		distinct[tok] = true
	}
	assert.Len(t, distinct, chats, "every chat has its own token")
	for c := range chats {
		var wantIn, wantOut []string
		for m := range perChat {
			wantIn = append(wantIn, fmt.Sprintf("chat%d-%d", c, m))
			wantOut = append(wantOut, fmt.Sprintf("re:chat%d-%d", c, m))
		}
		assert.Equal(t, wantIn, byChat[chatID(c)], "fetch order inside chat %d", c)
		assert.Equal(t, wantOut, sentTexts(fake, chatID(c)), "reply order inside chat %d", c)
	}
	mu.Lock()
	assert.Greater(t, maxInflight, 1, "scopes are delivered concurrently")
	assert.LessOrEqual(t, maxInflight, 8, "max_concurrency bounds deliveries in flight")
	mu.Unlock()

	assert.Equal(t, 0, p.stop(20*time.Second))
	assert.Equal(t, int64(want)+1, fake.Offset(), "every delivered update is confirmed on stop")
}

// TestGracefulShutdownConfirmsAndRestartRepeatsNothing stops the binary
// (spool: memory) mid-batch with SIGTERM: the batch in flight is finished
// within the grace and confirmed, so a restart neither repeats nor skips an
// update. (With the disk spool: TestCleanStopWithSpoolNoDuplicatesNoGaps.)
func TestGracefulShutdownConfirmsAndRestartRepeatsNothing(t *testing.T) {
	fake, apiURL := newFake(t)
	started := make(chan struct{}, 100)
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		started <- struct{}{}
		time.Sleep(50 * time.Millisecond) // a slow application
		w.WriteHeader(http.StatusNoContent)
	})
	for i := range 5 {
		fake.AddUpdate("message", textMessage(6100000001, 6100000001, i+1, fmt.Sprintf("m%d", i)))
	}
	p := startBot(t, apiURL, a.srv.URL, "--spool", "memory")
	<-started
	assert.Equal(t, 0, p.stop(20*time.Second), "a clean stop exits 0")
	assert.Equal(t, 5, a.count(), "the batch in flight was finished within the grace")
	assert.Equal(t, int64(6), fake.Offset(), "and confirmed by the final getUpdates")
	assert.Contains(t, p.out.String(), "confirmed delivered updates")

	// Restart: the next event the app sees is the new one.
	fake.AddUpdate("message", textMessage(6100000001, 6100000001, 6, "after restart"))
	p2 := startBot(t, apiURL, a.srv.URL, "--spool", "memory")
	eventually(t, 10*time.Second, func() bool { return a.count() == 6 }, "the new update arrives")
	evs := a.received()
	assert.Equal(t, "after restart", evs[5].text())
	assert.Equal(t, int64(6), evs[5].UpdateID)
	assert.Equal(t, 0, p2.stop(20*time.Second))
}

// TestGraceRunsOutRedeliversWithSameWebhookID: a delivery that outlasts the
// grace is delivered again after a restart with the same webhook-id — from
// Telegram (spool: memory, the batch was not confirmed) or from the spool.
func TestGraceRunsOutRedeliversWithSameWebhookID(t *testing.T) {
	for _, mode := range []string{"memory", "disk"} {
		t.Run(mode, func(t *testing.T) {
			fake, apiURL := newFake(t)
			key := []byte("a-secret-key-of-32-bytes-length!")
			secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
			hang := make(chan struct{})
			var once sync.Once
			a := newApp(t, func(w http.ResponseWriter, ev received) {
				hung := false
				once.Do(func() { hung = true })
				if hung {
					<-hang
				}
				w.WriteHeader(http.StatusNoContent)
			})
			t.Cleanup(func() { close(hang) })
			fake.AddUpdate("message", textMessage(6100000001, 6100000001, 1, "slow"))

			flags := []string{"--spool", mode, "--data-dir", t.TempDir(), "--app-secret", secret}
			p := startBot(t, apiURL, a.srv.URL, append(flags, "--shutdown-grace", "1s", "--app-timeout", "1m")...)
			eventually(t, 10*time.Second, func() bool { return a.count() == 1 }, "delivered once")
			assert.Equal(t, 0, p.stop(20*time.Second))
			if mode == "memory" {
				assert.Equal(t, int64(0), fake.Offset(), "an unfinished batch is not confirmed")
				assert.Contains(t, p.out.String(), "delivered again")
			} else {
				assert.Equal(t, int64(2), fake.Offset(), "stored in the spool, so confirmed")
			}

			p2 := startBot(t, apiURL, a.srv.URL, flags...)
			eventually(t, 10*time.Second, func() bool { return a.count() == 2 }, "delivered again after restart")
			evs := a.received()
			first, second := evs[0].Header, evs[1].Header
			assert.Equal(t, fmt.Sprintf("tg-%d-%d", fake.Bot().ID, evs[0].UpdateID), first.Get("webhook-id"))
			assert.Equal(t, first.Get("webhook-id"), second.Get("webhook-id"), "a redelivery carries the same webhook-id")
			for _, ev := range evs {
				m := hmac.New(sha256.New, key)
				m.Write([]byte(ev.Header.Get("webhook-id") + "." + ev.Header.Get("webhook-timestamp") + "."))
				m.Write(ev.Raw)
				assert.Equal(t, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)), ev.Header.Get("webhook-signature"))
			}
			assert.Equal(t, 0, p2.stop(20*time.Second))
			assert.Equal(t, int64(2), fake.Offset())
		})
	}
}

// TestTokenRejectedAtStart: a 401 from getMe stops at once with a clear
// message and its own exit code.
func TestTokenRejectedAtStart(t *testing.T) {
	fake, apiURL := newFake(t)
	fake.RevokeToken()
	a := newApp(t, nil)
	p := startBot(t, apiURL, a.srv.URL)
	assert.Equal(t, ExitToken, p.wait(10*time.Second))
	assert.Contains(t, p.out.String(), "the bot token was rejected by Telegram")
}

// TestTooManyRequestsIsHonoured: a 429 on a reply's sendMessage waits
// retry_after, then the message goes out once.
func TestTooManyRequestsIsHonoured(t *testing.T) {
	fake, apiURL := newFake(t)
	fake.Fail("sendMessage", fakeapi.Fault{Code: 429, RetryAfter: 1})
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		reply(w, map[string]any{"type": "telegram.send_message", "text": "pong"})
	})
	fake.AddUpdate("message", textMessage(6100000001, 6100000001, 1, "ping"))
	p := startBot(t, apiURL, a.srv.URL)
	eventually(t, 10*time.Second, func() bool { return len(fake.Messages(6100000001)) == 1 }, "sent after the wait")
	calls := fake.CallsTo("sendMessage")
	require.Len(t, calls, 2)
	assert.Equal(t, 429, calls[0].Status)
	assert.Equal(t, 200, calls[1].Status)
	assert.GreaterOrEqual(t, calls[1].At.Sub(calls[0].At), 950*time.Millisecond, "retry_after was honoured")
	assert.Equal(t, 0, p.stop(20*time.Second))
}

// TestBackpressureWithSlowApp (spool: memory): with the app stuck, at most
// max_concurrency deliveries are in flight and the next batch is not
// fetched. (With the disk spool: TestSpoolBackpressure.)
func TestBackpressureWithSlowApp(t *testing.T) {
	fake, apiURL := newFake(t)
	release := make(chan struct{})
	var mu sync.Mutex
	inflight, maxInflight := 0, 0
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		mu.Lock()
		inflight++
		maxInflight = max(maxInflight, inflight)
		mu.Unlock()
		<-release
		mu.Lock()
		inflight--
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	for i := range 150 {
		fake.AddUpdate("message", textMessage(6100000000+int64(i), 6100000000+int64(i), 1, "x"))
	}
	p := startBot(t, apiURL, a.srv.URL, "--max-concurrency", "2", "--spool", "memory")
	eventually(t, 10*time.Second, func() bool { return a.count() == 2 }, "two deliveries in flight")
	// While the app is stuck, nothing more is fetched or delivered.
	polls := len(fake.CallsTo("getUpdates"))
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, 2, a.count(), "no delivery beyond max_concurrency")
	assert.Equal(t, polls, len(fake.CallsTo("getUpdates")), "polling waits while the batch is in flight")
	assert.Equal(t, 150, fake.Pending(), "nothing confirmed yet")
	close(release)
	eventually(t, 30*time.Second, func() bool { return a.count() == 150 }, "everything delivered once released")
	mu.Lock()
	assert.Equal(t, 2, maxInflight)
	mu.Unlock()
	assert.Equal(t, 0, p.stop(20*time.Second))
	assert.Equal(t, 0, fake.Pending())
}
