package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// The end-to-end tests of update ids that go down: Telegram starts a bot's
// ids again at a random number after a week without updates, and another
// Bot API server has an id space of its own. Each runs in both spool modes
// and checks that every update is delivered exactly once, in order per
// chat, with webhook-ids that never name two updates, that getUpdates stays
// at the long-poll rate, and that the reset is logged once.

const idsWarning = "update ids went down"

// idsDelivery is one event as the idsApp saw it.
type idsDelivery struct {
	text      string // "u<n>": unique per update
	chat      int64
	updateID  int64
	epoch     uint32
	webhookID string
}

// idsApp records deliveries; an update is known by its text.
type idsApp struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []idsDelivery
}

func newIDsApp(t *testing.T) *idsApp {
	t.Helper()
	a := &idsApp{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Event struct {
				Text string `json:"text"`
				Chat struct {
					ID int64 `json:"id"`
				} `json:"chat"`
			} `json:"event"`
			UpdateID int64  `json:"update_id"`
			Epoch    uint32 `json:"update_epoch"`
		}
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		a.got = append(a.got, idsDelivery{ev.Event.Text, ev.Event.Chat.ID, ev.UpdateID, ev.Epoch, r.Header.Get("webhook-id")})
		a.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *idsApp) deliveries() []idsDelivery {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]idsDelivery(nil), a.got...)
}

// distinct returns the number of distinct updates delivered.
func (a *idsApp) distinct() int {
	seen := map[string]bool{}
	for _, d := range a.deliveries() {
		seen[d.text] = true
	}
	return len(seen)
}

// idsChats is how many chats the updates are spread over.
const idsChats = 5

// addIDsUpdates adds n messages "u<from>".."u<from+n-1>", spread over
// idsChats chats.
func addIDsUpdates(fake *fakeapi.Server, from, n int) {
	for k := from; k < from+n; k++ {
		chat := int64(6300000000 + k%idsChats)
		fake.AddMessage("message", chat, map[string]any{
			"chat": map[string]any{"id": chat, "type": "private"}, "date": 1781340000,
			"from": map[string]any{"id": chat, "is_bot": false, "first_name": "U"},
			"text": "u" + strconv.Itoa(k),
		})
	}
}

// checkIDs asserts the outcome of an id reset: each of the updates u0 ..
// u<n-1> delivered exactly once, in order within its chat, webhook-ids that
// name one update each, getUpdates at the long-poll rate, and the warning
// logged warnings times over the processes.
func checkIDs(t *testing.T, a *idsApp, n, polls, warnings int, procs ...*proc) {
	t.Helper()
	got := a.deliveries()
	count := map[string]int{}
	last := map[int64]int{}
	byWebhookID := map[string]string{}
	for _, d := range got {
		count[d.text]++
		k, err := strconv.Atoi(strings.TrimPrefix(d.text, "u"))
		require.NoError(t, err, "text %q", d.text)
		if prev, ok := last[d.chat]; ok {
			assert.Greater(t, k, prev, "order within chat %d", d.chat)
		}
		last[d.chat] = k
		require.NotEmpty(t, d.webhookID)
		if other, ok := byWebhookID[d.webhookID]; ok && other != d.text {
			t.Errorf("webhook-id %s names two updates: %s and %s", d.webhookID, other, d.text)
		}
		byWebhookID[d.webhookID] = d.text
		wantID := fmt.Sprintf("tg-%d-%d", testBotID, d.updateID)
		if d.epoch > 0 {
			wantID = fmt.Sprintf("tg-%d-e%d-%d", testBotID, d.epoch, d.updateID)
		}
		assert.Equal(t, wantID, d.webhookID)
	}
	for k := range n {
		assert.Equal(t, 1, count["u"+strconv.Itoa(k)], "u%d delivered exactly once", k)
	}
	assert.Len(t, got, n, "deliveries")
	// At the long-poll rate a getUpdates call fetches a batch or waits
	// for --poll-timeout; a spin makes thousands within a second.
	assert.LessOrEqual(t, polls, n+40, "getUpdates calls")
	out := ""
	for _, p := range procs {
		out += p.out.String()
	}
	assert.Equal(t, warnings, strings.Count(out, idsWarning), "warnings logged")
}

// getUpdatesCalls counts the getUpdates calls the fakes received.
func getUpdatesCalls(fakes ...*fakeapi.Server) int {
	n := 0
	for _, f := range fakes {
		n += len(f.CallsTo("getUpdates"))
	}
	return n
}

func idsFlags(mode, dir string) []string {
	return []string{"--spool", mode, "--data-dir", dir, "--app-secret", secretFlag}
}

// TestIDsResetWhileRunning: a quiet week while asgigram runs; Telegram's
// ids start again far below the offset. A restart afterwards continues in
// the saved epoch (spool: disk).
func TestIDsResetWhileRunning(t *testing.T) {
	for _, mode := range []string{"disk", "memory"} {
		t.Run(mode, func(t *testing.T) {
			fake, apiURL := newFakeWith(t, fakeapi.Config{FirstUpdateID: 5000})
			a := newIDsApp(t)
			dir := t.TempDir()
			addIDsUpdates(fake, 0, 40)
			p := startBot(t, apiURL, a.srv.URL, idsFlags(mode, dir)...)
			eventually(t, 30*time.Second, func() bool { return a.distinct() == 40 && fake.Offset() == 5040 }, "the first id space delivered and confirmed")

			fake.ResetUpdateIDs(1)
			addIDsUpdates(fake, 40, 40)
			eventually(t, 30*time.Second, func() bool { return a.distinct() == 80 }, "the new id space delivered")
			addIDsUpdates(fake, 80, 20)
			eventually(t, 30*time.Second, func() bool { return a.distinct() == 100 && fake.Offset() == 61 }, "and what follows, confirmed")
			_, metricsOut := get(t, p.baseURL()+"/metrics")
			assert.Contains(t, metricsOut, "asgigram_update_id_resets_total 1")
			assert.Equal(t, 0, p.stop(30*time.Second))

			// A restart: spool: disk continues in the saved epoch; spool:
			// memory keeps nothing and starts again in epoch 0.
			p2 := startBot(t, apiURL, a.srv.URL, idsFlags(mode, dir)...)
			addIDsUpdates(fake, 100, 10)
			eventually(t, 30*time.Second, func() bool { return a.distinct() == 110 && fake.Offset() == 71 }, "delivered after a restart")
			assert.Equal(t, 0, p2.stop(30*time.Second))

			checkIDs(t, a, 110, getUpdatesCalls(fake), 1, p, p2)
			got := a.deliveries()
			for _, d := range got[40:100] {
				assert.Equal(t, uint32(1), d.epoch, "the lower ids are epoch 1")
			}
			wantEpoch := uint32(1)
			if mode == "memory" {
				wantEpoch = 0
			}
			for _, d := range got[100:] {
				assert.Equal(t, wantEpoch, d.epoch, "the epoch after a restart")
			}
		})
	}
}

// TestIDsRestartOnStoredOffset: asgigram was stopped with a stored offset
// and, while it was down, the bot's ids started again at 1 (a quiet week).
// With spool: memory nothing is stored: the restart asks from the oldest
// unconfirmed update, so there is no reset to see and no warning.
func TestIDsRestartOnStoredOffset(t *testing.T) {
	for _, mode := range []string{"disk", "memory"} {
		t.Run(mode, func(t *testing.T) {
			fake, apiURL := newFakeWith(t, fakeapi.Config{FirstUpdateID: 5000})
			a := newIDsApp(t)
			dir := t.TempDir()
			addIDsUpdates(fake, 0, 30)
			p := startBot(t, apiURL, a.srv.URL, idsFlags(mode, dir)...)
			eventually(t, 30*time.Second, func() bool { return a.distinct() == 30 }, "delivered before the stop")
			assert.Equal(t, 0, p.stop(30*time.Second))
			require.Equal(t, int64(5030), fake.Offset(), "confirmed on the way out")

			fake.ResetUpdateIDs(1)
			addIDsUpdates(fake, 30, 150) // more than one getUpdates answer
			p2 := startBot(t, apiURL, a.srv.URL, idsFlags(mode, dir)...)
			eventually(t, 30*time.Second, func() bool { return a.distinct() == 180 }, "the new id space delivered")
			addIDsUpdates(fake, 180, 20)
			eventually(t, 30*time.Second, func() bool { return a.distinct() == 200 && fake.Offset() == 171 }, "and what follows, confirmed")
			assert.Equal(t, 0, p2.stop(30*time.Second))

			warnings := 1
			if mode == "memory" {
				warnings = 0
			}
			checkIDs(t, a, 200, getUpdatesCalls(fake), warnings, p, p2)
		})
	}
}

// switchingAPI forwards to one Bot API server, then to another: an api_url
// whose name now leads to another Bot API server.
type switchingAPI struct {
	mu sync.Mutex
	to http.Handler
}

func (s *switchingAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	h := s.to
	s.mu.Unlock()
	h.ServeHTTP(w, r)
}

func (s *switchingAPI) set(h http.Handler) {
	s.mu.Lock()
	s.to = h
	s.mu.Unlock()
}

// TestIDsAPIURLSwitch: asgigram moves to another Bot API server, whose ids
// are another id space lying below the offset. With spool: disk, api_url
// changes across a restart on the same data_dir; with spool: memory (no
// stored offset) the server behind the same api_url changes while running.
func TestIDsAPIURLSwitch(t *testing.T) {
	for _, mode := range []string{"disk", "memory"} {
		t.Run(mode, func(t *testing.T) {
			cloud := fakeapi.New(fakeapi.Config{Token: testToken, FirstUpdateID: 900000})
			local := fakeapi.New(fakeapi.Config{Token: testToken, FirstUpdateID: 300})
			front := &switchingAPI{to: cloud}
			frontSrv := httptest.NewServer(front)
			localSrv := httptest.NewServer(local)
			t.Cleanup(func() {
				cloud.Close()
				local.Close()
				frontSrv.Close()
				localSrv.Close()
			})
			a := newIDsApp(t)
			dir := t.TempDir()
			addIDsUpdates(cloud, 0, 30)
			p := startBot(t, frontSrv.URL, a.srv.URL, idsFlags(mode, dir)...)
			procs := []*proc{p}
			eventually(t, 30*time.Second, func() bool { return a.distinct() == 30 && cloud.Offset() == 900030 }, "delivered from the first server")

			addIDsUpdates(local, 30, 50)
			if mode == "disk" {
				assert.Equal(t, 0, p.stop(30*time.Second))
				p = startBot(t, localSrv.URL, a.srv.URL, idsFlags(mode, dir)...)
				procs = append(procs, p)
			} else {
				front.set(local)
			}
			eventually(t, 30*time.Second, func() bool { return a.distinct() == 80 }, "delivered from the other server")
			addIDsUpdates(local, 80, 20)
			eventually(t, 30*time.Second, func() bool { return a.distinct() == 100 && local.Offset() == 370 }, "and what follows, confirmed")
			assert.Equal(t, 0, p.stop(30*time.Second))

			checkIDs(t, a, 100, getUpdatesCalls(cloud, local), 1, procs...)
		})
	}
}

// TestMeasureIDsReset measures what a server whose ids started again below
// the offset does to a binary: MEASURE_IDS_SECONDS=30 runs it (it is
// skipped otherwise), MEASURE_IDS_BIN=path measures another build (an
// older one, for a before/after). 300 updates wait at ids 1..300; the
// offset is 1011 (spool: disk: stored by an earlier run; spool: memory:
// held by the running process when the ids start again).
func TestMeasureIDsReset(t *testing.T) {
	secs, _ := strconv.Atoi(os.Getenv("MEASURE_IDS_SECONDS"))
	if secs <= 0 {
		t.Skip("set MEASURE_IDS_SECONDS to measure")
	}
	if bin := os.Getenv("MEASURE_IDS_BIN"); bin != "" {
		old := binPath
		binPath = bin
		t.Cleanup(func() { binPath = old })
	}
	const n = 300
	for _, mode := range []string{"disk", "memory"} {
		t.Run(mode, func(t *testing.T) {
			fake, apiURL := newFakeWith(t, fakeapi.Config{FirstUpdateID: 1000})
			a := newIDsApp(t)
			dir := t.TempDir()
			addIDsUpdates(fake, 0, 10)
			p := startBot(t, apiURL, a.srv.URL, idsFlags(mode, dir)...)
			eventually(t, 30*time.Second, func() bool { return a.distinct() == 10 && fake.Offset() == 1010 }, "the first updates")
			addIDsUpdates(fake, 10, 1) // id 1010: the offset becomes 1011
			eventually(t, 30*time.Second, func() bool { return a.distinct() == 11 && fake.Offset() == 1011 }, "the offset at 1011")
			if mode == "disk" {
				assert.Equal(t, 0, p.stop(30*time.Second))
			}
			before, calls := len(a.deliveries()), getUpdatesCalls(fake)
			fake.ResetUpdateIDs(1)
			addIDsUpdates(fake, 11, n)
			if mode == "disk" {
				p = startBot(t, apiURL, a.srv.URL, idsFlags(mode, dir)...)
			}
			time.Sleep(time.Duration(secs) * time.Second)
			got := a.deliveries()[before:]
			distinct := map[string]bool{}
			for _, d := range got {
				distinct[d.text] = true
			}
			polls := getUpdatesCalls(fake) - calls
			p.stop(30 * time.Second)
			t.Logf("MEASURE spool=%s seconds=%d getUpdates=%d deliveries=%d distinct=%d/%d warnings=%d",
				mode, secs, polls, len(got), len(distinct), n, strings.Count(p.out.String(), idsWarning))
		})
	}
}
