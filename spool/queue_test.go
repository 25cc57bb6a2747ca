package spool_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/config"
	"github.com/asgigram/asgigram/spool"
	"github.com/asgigram/asgigram/telegram"
	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// recordingApp answers every event with 200 and no body, and records the
// update ids delivered per scope.
type recordingApp struct {
	mu      sync.Mutex
	byScope map[string][]int64
	n       int
	all     chan struct{}
	want    int
}

func (a *recordingApp) delivered() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

func (a *recordingApp) Deliver(_ context.Context, req adapter.AppRequest) (adapter.AppResponse, error) {
	var env struct {
		Scope struct {
			Chat struct {
				ID int64 `json:"id"`
			} `json:"chat"`
		} `json:"scope"`
		UpdateID int64 `json:"update_id"`
	}
	if err := json.Unmarshal(req.Body, &env); err != nil {
		return adapter.AppResponse{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	key := fmt.Sprint(env.Scope.Chat.ID)
	a.byScope[key] = append(a.byScope[key], env.UpdateID)
	if a.n++; a.n == a.want {
		close(a.all)
	}
	return adapter.AppResponse{Status: 200}, nil
}

// defaults are the daemon's settings these tests run the adapter with:
// adapter.New has none of its own.
var defaults = func() struct{ MaxConcurrency, SpoolMemory int } {
	c := config.Default()
	return struct{ MaxConcurrency, SpoolMemory int }{c.MaxConcurrency, int(c.SpoolMemory)}
}()

// withDefaults fills in the settings of defaults that o leaves at zero.
func withDefaults(o adapter.Options) adapter.Options {
	if o.MaxConcurrency == 0 {
		o.MaxConcurrency = defaults.MaxConcurrency
	}
	if o.SpoolMemory == 0 {
		o.SpoolMemory = defaults.SpoolMemory
	}
	return o
}

// countingSpool counts the updates read back from disk.
type countingSpool struct {
	*spool.Spool
	gets atomic.Int64
}

func (c *countingSpool) Get(seq uint64) (adapter.Update, error) {
	c.gets.Add(1)
	return c.Spool.Get(seq)
}

// TestQueueDeliversFromMemoryAndFromDisk runs the adapter on a real spool
// with updates left from an earlier run and new ones fetched, with the
// in-memory copy of waiting updates off, small (some updates are read back
// from disk) and at spool_memory's default: every update is delivered once,
// in order per chat.
func TestQueueDeliversFromMemoryAndFromDisk(t *testing.T) {
	for _, memory := range []int{0, 600, defaults.SpoolMemory} {
		t.Run(fmt.Sprintf("SpoolMemory=%d", memory), func(t *testing.T) {
			const token, chats, stored, fetched = "42:TEST", 5, 40, 60
			sp := &countingSpool{Spool: open(t, t.TempDir())}
			defer sp.Close()
			// Left in the spool by an earlier run: ids 1..stored.
			var left []adapter.Update
			for id := int64(1); id <= stored; id++ {
				chat := id%chats + 1
				left = append(left, adapter.Update{ID: id, Raw: json.RawMessage(fmt.Sprintf(
					`{"update_id":%d,"message":{"message_id":%d,"date":1,"chat":{"id":%d,"type":"private"},"text":"old"}}`, id, id, chat))})
			}
			_, err := sp.Append(left, adapter.Position{Offset: stored + 1})
			require.NoError(t, err)

			fake := fakeapi.New(fakeapi.Config{Token: token})
			fake.SetNextUpdateID(stored + 1)
			for i := range fetched {
				chat := int64(i%chats + 1)
				fake.AddMessage("message", chat, map[string]any{"chat": map[string]any{"id": chat, "type": "private"}, "date": 1, "text": "new"})
			}
			srv := httptest.NewServer(fake)
			defer srv.Close()

			app := &recordingApp{byScope: map[string][]int64{}, all: make(chan struct{}), want: stored + fetched}
			a := adapter.New(adapter.Options{
				Telegram:       telegram.New(srv.URL, token, telegram.Options{}),
				App:            app,
				Spool:          sp,
				SpoolMemory:    memory,
				MaxConcurrency: defaults.MaxConcurrency,
				PollTimeout:    time.Second,
			})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.Run(ctx) }()
			select {
			case <-app.all:
			case <-time.After(20 * time.Second):
				t.Fatalf("delivered %d of %d", app.delivered(), app.want)
			}
			cancel()
			require.NoError(t, <-done)

			app.mu.Lock()
			defer app.mu.Unlock()
			seen := map[int64]bool{}
			for chat, ids := range app.byScope {
				for i, id := range ids {
					assert.False(t, seen[id], "update %d delivered twice", id)
					seen[id] = true
					if i > 0 {
						assert.Less(t, ids[i-1], id, "chat %s out of order: %v", chat, ids)
					}
				}
			}
			assert.Len(t, seen, stored+fetched)
			assert.Eventually(t, func() bool { return sp.Len() == 0 }, 5*time.Second, 10*time.Millisecond, "delivered updates are removed from the spool")
			gets := int(sp.gets.Load())
			switch {
			case memory == 0:
				assert.Equal(t, stored+fetched, gets, "no copies in memory: every update is read back")
			case memory == defaults.SpoolMemory:
				assert.Zero(t, gets, "the default budget holds them all")
			default:
				assert.True(t, gets > 0 && gets < stored+fetched, "%d of %d read back: the budget should hold a few", gets, stored+fetched)
			}
		})
	}
}

// hookedSpool runs a hook before each Append.
type hookedSpool struct {
	*spool.Spool
	beforeAppend func(call int) error
	calls        int
}

func (h *hookedSpool) Append(ups []adapter.Update, next adapter.Position) ([]uint64, error) {
	h.calls++
	if err := h.beforeAppend(h.calls); err != nil {
		return nil, err
	}
	return h.Spool.Append(ups, next)
}

// runQueue runs the adapter on sp against the fake Bot API at apiURL until
// app has seen its deliveries, or Run ends; it returns Run's error.
func runQueue(t *testing.T, sp adapter.Spool, app *recordingApp, apiURL string) error {
	t.Helper()
	a := adapter.New(withDefaults(adapter.Options{
		Telegram:    telegram.New(apiURL, testToken, telegram.Options{}),
		App:         app,
		Spool:       sp,
		PollTimeout: time.Second,
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-app.all:
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Errorf("delivered %d of %d", app.delivered(), app.want)
	}
	cancel()
	return <-done
}

const testToken = "42:TEST"

// fakeWithMessages serves a fake Bot API holding n messages over chats.
func fakeWithMessages(t *testing.T, n, chats int) string {
	fake := fakeapi.New(fakeapi.Config{Token: testToken})
	for i := range n {
		chat := int64(i%chats + 1)
		fake.AddMessage("message", chat, map[string]any{"chat": map[string]any{"id": chat, "type": "private"}, "date": 1, "text": "m"})
	}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestBatchIsDeliveredWhileItIsStored: the synced commit of a fetched batch
// is not in its updates' latency. The spool's first Append waits until the
// application has received an update of that very batch.
func TestBatchIsDeliveredWhileItIsStored(t *testing.T) {
	app := &recordingApp{byScope: map[string][]int64{}, all: make(chan struct{}), want: 1}
	sp := &hookedSpool{Spool: open(t, t.TempDir()), beforeAppend: func(int) error {
		select {
		case <-app.all:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the batch was not delivered while being stored")
		}
	}}
	defer sp.Close()
	require.NoError(t, runQueue(t, sp, app, fakeWithMessages(t, 5, 5)))
	require.Eventually(t, func() bool { return sp.Len() == 0 }, 5*time.Second, 10*time.Millisecond, "removed once stored")
}

// TestFailedAppendLosesNothing: a batch whose Append failed stops the
// adapter and is not confirmed, so Telegram sends it again to the next run.
// What the first run delivered from it may be delivered twice; everything
// arrives, and every update leaves the spool.
func TestFailedAppendLosesNothing(t *testing.T) {
	const n, chats = 30, 3
	api := fakeWithMessages(t, n, chats)
	dir := t.TempDir()
	// The batch is delivered while it is being stored, so the first run's
	// app may see all n before the failed Append stops the adapter; runQueue
	// would then stop it first, cleanly. It waits for Run to end instead.
	first := &recordingApp{byScope: map[string][]int64{}, all: make(chan struct{}), want: n + 1}
	sp := &hookedSpool{Spool: open(t, dir), beforeAppend: func(int) error { return errors.New("disk full") }}
	require.ErrorContains(t, runQueue(t, sp, first, api), "disk full")
	require.NoError(t, sp.Close())

	second := &recordingApp{byScope: map[string][]int64{}, all: make(chan struct{}), want: n}
	sp2 := open(t, dir)
	defer sp2.Close()
	require.NoError(t, runQueue(t, sp2, second, api))
	seen := map[int64]int{}
	second.mu.Lock()
	for _, ids := range second.byScope {
		for _, id := range ids {
			seen[id]++
		}
	}
	second.mu.Unlock()
	assert.Len(t, seen, n, "every update delivered by the second run")
	t.Logf("the failed run delivered %d updates before stopping", first.delivered())
	require.Eventually(t, func() bool { return sp2.Len() == 0 }, 5*time.Second, 10*time.Millisecond)
}

// pausingSpool is a spool that says, on demand, that it cannot store new
// updates: through Check (as when the disk is full or data_dir was removed),
// and through Append failing with the same error.
type pausingSpool struct {
	*spool.Spool
	down        atomic.Bool
	appendFails atomic.Int32
}

func (p *pausingSpool) Check() error {
	if p.down.Load() {
		return fmt.Errorf("%w: the disk is full (test)", adapter.ErrSpoolUnavailable)
	}
	return p.Spool.Check()
}

func (p *pausingSpool) Append(ups []adapter.Update, next adapter.Position) ([]uint64, error) {
	if p.appendFails.Add(-1) >= 0 {
		return nil, fmt.Errorf("spool: the disk is full: %w", adapter.ErrSpoolUnavailable)
	}
	return p.Spool.Append(ups, next)
}

// TestUnavailableSpoolPausesPolling: while the spool cannot store updates,
// nothing is fetched (so nothing is confirmed to Telegram), /readyz says
// why, one ERROR is logged for the episode, and the adapter keeps running;
// once the spool can store again, polling resumes by itself and every
// update is delivered, including a batch whose Append failed.
func TestUnavailableSpoolPausesPolling(t *testing.T) {
	const n, chats = 30, 3
	fake := fakeapi.New(fakeapi.Config{Token: testToken})
	for i := range n {
		chat := int64(i%chats + 1)
		fake.AddMessage("message", chat, map[string]any{"chat": map[string]any{"id": chat, "type": "private"}, "date": 1, "text": "m"})
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	sp := &pausingSpool{Spool: open(t, t.TempDir())}
	defer sp.Close()
	sp.down.Store(true)
	var logs syncBuffer
	app := &recordingApp{byScope: map[string][]int64{}, all: make(chan struct{}), want: n}
	a := adapter.New(withDefaults(adapter.Options{
		Telegram:    telegram.New(srv.URL, testToken, telegram.Options{}),
		App:         app,
		Spool:       sp,
		PollTimeout: time.Second,
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
	}))
	stop := start(t, a)
	defer stop()

	require.Eventually(t, func() bool {
		h := a.Health()
		return !h.Ready && strings.Contains(strings.Join(h.Reasons, ";"), "polling paused: ")
	}, 5*time.Second, 10*time.Millisecond, "readiness names the reason")
	time.Sleep(2500 * time.Millisecond) // two more checks
	assert.Empty(t, fake.CallsTo("getUpdates"), "no getUpdates while the spool cannot store")
	assert.Equal(t, 1, strings.Count(logs.String(), "polling paused"), "one ERROR per episode:\n%s", logs.String())
	assert.Zero(t, app.delivered())

	sp.appendFails.Store(1) // the first batch fetched is not stored
	sp.down.Store(false)
	// Deliveries of the batch that was not stored may be repeated: count
	// distinct updates.
	distinct := func() int {
		app.mu.Lock()
		defer app.mu.Unlock()
		seen := map[int64]bool{}
		for _, ids := range app.byScope {
			for _, id := range ids {
				seen[id] = true
			}
		}
		return len(seen)
	}
	require.Eventually(t, func() bool { return distinct() == n }, 20*time.Second, 10*time.Millisecond, "every update delivered")
	assert.Contains(t, logs.String(), "polling resumes")
	require.Eventually(t, func() bool { return a.Health().Ready }, 5*time.Second, 10*time.Millisecond)
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestUnreadableUpdateBecomesADeadLetter: a stored update that no longer
// parses (its bytes were damaged) is kept as a dead letter of kind spool
// with the bytes read, and leaves the queue; it cannot be replayed.
func TestUnreadableUpdateBecomesADeadLetter(t *testing.T) {
	dir := t.TempDir()
	sp := open(t, dir)
	damaged := []byte(`{"update_id":7,"message":{"chat":{"id":1` + "\x00\xff")
	_, err := sp.Append([]adapter.Update{{ID: 7, Raw: damaged}}, adapter.Position{Offset: 8})
	require.NoError(t, err)
	require.NoError(t, sp.Close())

	sp = open(t, dir)
	defer sp.Close()
	fake := fakeapi.New(fakeapi.Config{Token: testToken})
	fake.SetNextUpdateID(8)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	var kinds []string
	var kmu sync.Mutex
	a := adapter.New(withDefaults(adapter.Options{
		Telegram:     telegram.New(srv.URL, testToken, telegram.Options{}),
		App:          &recordingApp{byScope: map[string][]int64{}, all: make(chan struct{}), want: 1},
		Spool:        sp,
		PollTimeout:  time.Second,
		OnDeadLetter: func(kind string) { kmu.Lock(); kinds = append(kinds, kind); kmu.Unlock() },
	}))
	stop := start(t, a)
	defer stop()
	require.Eventually(t, func() bool { return sp.Len() == 0 }, 10*time.Second, 10*time.Millisecond, "the update left the queue")
	dls, err := a.DeadLetters()
	require.NoError(t, err)
	require.Len(t, dls, 1)
	dl := dls[0]
	assert.Equal(t, adapter.DeadSpool, dl.Kind)
	assert.Equal(t, int64(7), dl.UpdateID)
	assert.Equal(t, damaged, dl.Raw, "the bytes read are kept")
	assert.NotEmpty(t, dl.Error)
	require.ErrorIs(t, a.ReplayDeadLetter(dl.ID), adapter.ErrNotReplayable)
	kmu.Lock()
	assert.Equal(t, []string{adapter.DeadSpool}, kinds)
	kmu.Unlock()
}

// start runs the adapter until the returned stop is called; stop checks
// that Run ended without an error.
func start(t *testing.T, a *adapter.Adapter) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return func() {
		cancel()
		require.NoError(t, <-done)
	}
}
