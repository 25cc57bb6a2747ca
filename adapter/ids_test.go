package adapter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/telegram"
	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// memSpool is the in-memory Spool of the delivery tests (fakeSpool in
// delivery_internal_test.go), with the interface's promises (idempotency
// per epoch and update_id, a saved position), so that the disk delivery is
// tested here without a disk.
type memSpool = adapter.FakeSpool

func newMemSpool() *memSpool { return adapter.NewFakeSpool() }

// idKey is an update's identity: its epoch and update_id.
type idKey struct {
	epoch uint32
	id    int64
}

// epochApp records every delivery's update_id, update_epoch and webhook-id.
type epochApp struct {
	mu  sync.Mutex
	got []epochDelivery
}

type epochDelivery struct {
	id        int64
	epoch     uint32
	webhookID string
}

func (a *epochApp) Deliver(_ context.Context, req adapter.AppRequest) (adapter.AppResponse, error) {
	var env struct {
		UpdateID int64  `json:"update_id"`
		Epoch    uint32 `json:"update_epoch"`
	}
	if err := json.Unmarshal(req.Body, &env); err != nil {
		return adapter.AppResponse{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, epochDelivery{env.UpdateID, env.Epoch, req.WebhookID})
	return adapter.AppResponse{Status: 204}, nil
}

func (a *epochApp) deliveries() []epochDelivery {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// run starts an adapter against fake until stop is called.
func runAdapter(t *testing.T, fake *fakeapi.Server, sp adapter.Spool, app adapter.App, resets *atomic.Int64, logs *lockedBuffer) (stop func()) {
	t.Helper()
	srv := httptest.NewServer(fake)
	opt := adapter.Options{
		Telegram:        telegram.New(srv.URL, "42:TEST", telegram.Options{}),
		App:             app,
		PollTimeout:     time.Second,
		ShutdownGrace:   3 * time.Second,
		Logger:          slog.New(slog.NewTextHandler(logs, nil)),
		OnUpdateIDReset: func() { resets.Add(1) },
	}
	if sp != nil {
		opt.Spool = sp
	}
	a := adapter.New(opt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Fatal("the adapter did not stop")
		}
		fake.Close()
		srv.Close()
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	require.Eventually(t, cond, 20*time.Second, 5*time.Millisecond, what)
}

func addMessages(fake *fakeapi.Server, n int) {
	for i := range n {
		chat := int64(i%3 + 1)
		fake.AddMessage("message", chat, map[string]any{"chat": map[string]any{"id": chat, "type": "private"}, "date": 1, "text": "hi"})
	}
}

// TestIDsGoingDownAreNewUpdates: Telegram's ids start again far below the
// offset (a quiet week) while the adapter runs. The updates of the lower id
// space are delivered once each, in a new epoch with webhook-ids of their
// own; polling continues after them instead of fetching them again, and
// the reset is logged once and counted once. With a spool, the epoch is
// saved with the offset and a restart continues in it.
func TestIDsGoingDownAreNewUpdates(t *testing.T) {
	for _, mode := range []string{"memory", "spool"} {
		t.Run(mode, func(t *testing.T) {
			var sp *memSpool
			var spool adapter.Spool
			if mode == "spool" {
				sp = newMemSpool()
				spool = sp
			}
			fake := fakeapi.New(fakeapi.Config{Token: "42:TEST", FirstUpdateID: 5000})
			app := &epochApp{}
			var resets atomic.Int64
			logs := &lockedBuffer{}
			stop := runAdapter(t, fake, spool, app, &resets, logs)

			addMessages(fake, 5)
			waitFor(t, func() bool { return len(app.deliveries()) == 5 }, "the first id space delivered")
			waitFor(t, func() bool { return fake.Offset() == 5005 }, "confirmed")
			fake.ResetUpdateIDs(1)
			addMessages(fake, 5)
			waitFor(t, func() bool { return len(app.deliveries()) == 10 }, "the updates of the new id space delivered")
			addMessages(fake, 5)
			waitFor(t, func() bool { return len(app.deliveries()) == 15 }, "and those after them")
			waitFor(t, func() bool { return fake.Offset() == 11 }, "confirmed in the new id space")
			polls := len(fake.CallsTo("getUpdates"))
			stop()

			got := app.deliveries()
			require.Len(t, got, 15, "each update delivered once")
			seen := map[string]bool{}
			var ids []idKey
			for _, d := range got {
				assert.False(t, seen[d.webhookID], "webhook-id %s given twice", d.webhookID)
				seen[d.webhookID] = true
				ids = append(ids, idKey{d.epoch, d.id})
				if d.epoch > 0 {
					assert.True(t, strings.HasPrefix(d.webhookID, fmt.Sprintf("tg-%d-e1-", fake.Bot().ID)), d.webhookID)
				}
			}
			var want []idKey
			for id := range int64(5) {
				want = append(want, idKey{0, 5000 + id})
			}
			for id := range int64(10) {
				want = append(want, idKey{1, 1 + id})
			}
			assert.ElementsMatch(t, want, ids, "every update once, the lower ids in epoch 1")
			assert.Equal(t, int64(1), resets.Load(), "counted once")
			assert.Equal(t, 1, strings.Count(logs.String(), "update ids went down"), "logged once")
			assert.Contains(t, logs.String(), "old_offset=5005")
			assert.LessOrEqual(t, polls, 30, "getUpdates at the long-poll rate, not a spin")
			if sp == nil {
				return
			}

			pos, _ := sp.Position()
			assert.Equal(t, adapter.Position{Offset: 11, Epoch: 1}, pos, "the epoch is saved with the offset")
			fake2 := fakeapi.New(fakeapi.Config{Token: "42:TEST", FirstUpdateID: 11})
			app2 := &epochApp{}
			stop = runAdapter(t, fake2, sp, app2, &resets, logs)
			addMessages(fake2, 2)
			waitFor(t, func() bool { return len(app2.deliveries()) == 2 }, "delivered after a restart")
			stop()
			for _, d := range app2.deliveries() {
				assert.Equal(t, uint32(1), d.epoch, "a restart continues in the saved epoch")
				assert.False(t, seen[d.webhookID], "webhook-id %s given twice", d.webhookID)
			}
			assert.Equal(t, int64(1), resets.Load(), "no reset after the restart")
		})
	}
}

// stuckTelegram answers every getUpdates with the same two updates, whatever
// the offset: a server that never takes the offset its own answer gave.
type stuckTelegram struct {
	recordingCaller
	noFiles
	mu      sync.Mutex
	offsets []int64
	enough  chan struct{}
}

func (s *stuckTelegram) GetMe(context.Context) (telegram.User, json.RawMessage, error) {
	return telegram.User{ID: 1, IsBot: true}, json.RawMessage(`{"id":1,"is_bot":true}`), nil
}

func (s *stuckTelegram) GetUpdates(ctx context.Context, offset int64, _ int, _ time.Duration, _ []string) ([]json.RawMessage, error) {
	s.mu.Lock()
	s.offsets = append(s.offsets, offset)
	if len(s.offsets) == 4 {
		close(s.enough)
	}
	n := len(s.offsets)
	s.mu.Unlock()
	if n > 4 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return []json.RawMessage{
		json.RawMessage(`{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":5,"type":"private"},"text":"a"}}`),
		json.RawMessage(`{"update_id":2,"message":{"message_id":2,"date":1,"chat":{"id":5,"type":"private"},"text":"b"}}`),
	}, nil
}

// TestIDResetEpisodeLoggedOnce: a server that keeps answering below the
// offset its previous answer gave is one episode: one WARN, every reset
// counted, and the offset it should have taken is kept.
func TestIDResetEpisodeLoggedOnce(t *testing.T) {
	tg := &stuckTelegram{enough: make(chan struct{})}
	app := &epochApp{}
	var resets atomic.Int64
	logs := &lockedBuffer{}
	a := adapter.New(adapter.Options{
		Telegram:        tg,
		App:             app,
		PollTimeout:     time.Second,
		ShutdownGrace:   3 * time.Second,
		Logger:          slog.New(slog.NewTextHandler(logs, nil)),
		OnUpdateIDReset: func() { resets.Add(1) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-tg.enough:
	case <-time.After(30 * time.Second):
		t.Fatal("the adapter stopped polling")
	}
	waitFor(t, func() bool { return len(app.deliveries()) == 8 }, "the four answers delivered")
	cancel()
	require.NoError(t, <-done)

	tg.mu.Lock()
	assert.Equal(t, []int64{0, 3, 3, 3}, tg.offsets[:4], "the first answer is taken as it is; the rest go below its offset")
	tg.mu.Unlock()
	assert.Equal(t, int64(3), resets.Load(), "each answer below the offset counted")
	assert.Equal(t, 1, strings.Count(logs.String(), "update ids went down:"), "one WARN for the episode")
}

// TestAnswerOfNonUpdatesDoesNotSpin: an answer whose only element is not an
// update (no integer update_id; a real Bot API never sends one) cannot move
// the offset, so the same answer comes back at once: polling backs off
// instead of spinning.
func TestAnswerOfNonUpdatesDoesNotSpin(t *testing.T) {
	fake := fakeapi.New(fakeapi.Config{Token: "42:TEST"})
	var polls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/getUpdates") {
			polls.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ok":true,"result":[{"update_id":"seven"}]}`))
			return
		}
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	a := adapter.New(adapter.Options{
		Telegram:    telegram.New(srv.URL, "42:TEST", telegram.Options{}),
		App:         &epochApp{},
		PollTimeout: time.Second,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.NoError(t, a.Run(ctx))
	// Backing off from 1 s doubling: a handful of calls in 2 s, where a
	// spinning loop makes hundreds of thousands.
	assert.LessOrEqual(t, polls.Load(), int64(5), "getUpdates calls in 2 s")
}
