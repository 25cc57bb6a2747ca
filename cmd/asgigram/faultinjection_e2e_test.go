package main

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// TestTelegramFaultsLoseNothing: 409 from another poller, 502 bursts, resets
// and slow answers from the Bot API — every update is delivered and every
// reply is sent exactly once.
func TestTelegramFaultsLoseNothing(t *testing.T) {
	fake, apiURL := newFake(t)
	fake.Fail("getUpdates", fakeapi.Fault{Code: 409, Times: 3, Description: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"})
	fake.Fail("getUpdates", fakeapi.Fault{Code: 502, Times: 3})
	fake.Fail("getUpdates", fakeapi.Fault{Reset: true})
	fake.Fail("sendMessage", fakeapi.Fault{Delay: 1500 * time.Millisecond, Times: 2})
	fake.Fail("sendMessage", fakeapi.Fault{Code: 429, RetryAfter: 1})
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		reply(w, map[string]any{"type": "telegram.send_message", "text": "re:" + ev.text()})
	})
	const n = 30
	for i := range n {
		id := 6100000000 + int64(i%5)
		fake.AddUpdate("message", textMessage(id, id, i/5+1, fmt.Sprint(i)))
	}
	p := startBot(t, apiURL, a.srv.URL, "--pacing=false")
	eventually(t, 60*time.Second, func() bool { return len(fake.CallsTo("sendMessage")) >= n+1 }, "every reply attempted")
	eventually(t, 10*time.Second, func() bool {
		total := 0
		for i := range 5 {
			total += len(fake.Messages(6100000000 + int64(i)))
		}
		return total == n
	}, "every reply stored once")
	seen := map[int64]int{}
	for _, ev := range a.received() {
		seen[ev.UpdateID]++
	}
	assert.Len(t, seen, n, "every update delivered")
	out := p.out.String()
	assert.Contains(t, out, "another process is polling this bot", "the 409 is explained")
	assert.Equal(t, 1, strings.Count(out, "polling conflict (409)"), "logged once per episode")
	assert.Equal(t, 0, p.stop(20*time.Second))
}

// TestAppFaultsAreRetriedOrDeadLettered: a timeout is retried, an oversized
// reply and an unreachable app end as dead letters, as documented.
func TestAppFaultsAreRetriedOrDeadLettered(t *testing.T) {
	fake, apiURL := newFake(t)
	var slowOnce atomic.Bool
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		switch ev.text() {
		case "slow":
			if slowOnce.CompareAndSwap(false, true) {
				time.Sleep(700 * time.Millisecond) // past app_timeout once
			}
			reply(w, map[string]any{"type": "telegram.send_message", "text": "slow ok"})
		case "huge":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"type":"telegram.send_message","text":"%s"}`, strings.Repeat("x", 2<<20))
		}
	})
	fake.AddUpdate("message", textMessage(6100000001, 6100000001, 1, "slow"))
	fake.AddUpdate("message", textMessage(6100000002, 6100000002, 1, "huge"))
	p := startBot(t, apiURL, a.srv.URL, "--app-timeout", "300ms", "--admin-token", adminToken)
	eventually(t, 20*time.Second, func() bool { return len(fake.Messages(6100000001)) == 1 }, "the timed-out delivery was retried")
	eventually(t, 20*time.Second, func() bool { return strings.Contains(p.out.String(), "reply body larger than") }, "the huge reply is refused")
	assert.Empty(t, fake.Messages(6100000002))
	assert.Equal(t, 0, p.stop(20*time.Second))

	// The app is down: connection refused, retried, then dead letters.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := "http://" + ln.Addr().String() + "/"
	ln.Close()
	fake.AddUpdate("message", textMessage(6100000003, 6100000003, 1, "nobody home"))
	p2 := startBot(t, apiURL, down, "--app-max-attempts", "3", "--admin-token", adminToken)
	base := p2.baseURL()
	eventually(t, 20*time.Second, func() bool {
		req, _ := http.NewRequest(http.MethodGet, base+"/admin/deadletters", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return strings.Contains(b.String(), "nobody home") && strings.Contains(b.String(), "unreachable after 3 attempt(s)")
	}, "unreachable app: a dead letter after 3 attempts")
	assert.Equal(t, 0, p2.stop(20*time.Second))
}
