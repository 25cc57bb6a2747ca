package adapter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
)

// feedTelegram is an adapter.Telegram whose getUpdates answers the batches
// the test feeds, one per call, and otherwise waits; the final confirming
// call (limit 1, no timeout) answers at once.
type feedTelegram struct {
	recordingCaller
	noFiles
	batches chan []json.RawMessage
	polls   atomic.Int64
}

func newFeedTelegram() *feedTelegram {
	return &feedTelegram{batches: make(chan []json.RawMessage, 10)}
}

func (f *feedTelegram) GetMe(context.Context) (telegram.User, json.RawMessage, error) {
	return telegram.User{ID: 1, IsBot: true}, json.RawMessage(`{"id":1,"is_bot":true,"first_name":"b"}`), nil
}

func (f *feedTelegram) GetUpdates(ctx context.Context, _ int64, limit int, timeout time.Duration, _ []string) ([]json.RawMessage, error) {
	f.polls.Add(1)
	if limit == 1 && timeout == 0 {
		return nil, nil
	}
	select {
	case b := <-f.batches:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func feedMessage(id, chat int64) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":1,"chat":{"id":%d,"type":"private"},"text":"x"}}`, id, id, chat))
}

// scriptApp answers each delivery with answer and records the requests.
type scriptApp struct {
	answer func(req adapter.AppRequest, attempt int) (adapter.AppResponse, error)
	mu     sync.Mutex
	reqs   []adapter.AppRequest
}

func (a *scriptApp) Deliver(_ context.Context, req adapter.AppRequest) (adapter.AppResponse, error) {
	a.mu.Lock()
	attempt := 1
	for _, r := range a.reqs {
		if r.UpdateID == req.UpdateID {
			attempt++
		}
	}
	a.reqs = append(a.reqs, req)
	a.mu.Unlock()
	return a.answer(req, attempt)
}

func (a *scriptApp) requests(updateID int64) []adapter.AppRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []adapter.AppRequest
	for _, r := range a.reqs {
		if r.UpdateID == updateID {
			out = append(out, r)
		}
	}
	return out
}

type recorder[T any] struct {
	mu  sync.Mutex
	got []T
}

func (r *recorder[T]) add(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, v)
}

func (r *recorder[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func byUpdate(t *testing.T, dls []adapter.DeadLetter, id int64) adapter.DeadLetter {
	t.Helper()
	for _, dl := range dls {
		if dl.UpdateID == id {
			return dl
		}
	}
	t.Fatalf("no dead letter for update %d in %v", id, dls)
	return adapter.DeadLetter{}
}

// TestDeadLettersKeptAndReplayed, with either delivery: a final delivery
// failure, a reply Telegram refuses and a reply that is not JSON become
// dead letters (their error redacted, counted); a body not declared as
// JSON is nothing to send. A replay delivers the update again with the
// same webhook-id and drops the dead letter; one that fails again is a new
// dead letter. /send works for the send_token and for a scope's token
// until the adapter stopped.
func TestDeadLettersKeptAndReplayed(t *testing.T) {
	for _, mode := range []string{"memory", "disk"} {
		t.Run(mode, func(t *testing.T) {
			tg := newFeedTelegram()
			tg.CallF = func(method string, p map[string]json.RawMessage) (json.RawMessage, error) {
				if string(p["chat_id"]) == "6" {
					return nil, &telegram.Error{Method: method, Code: 400, Description: "Bad Request: chat not found"}
				}
				return json.RawMessage(`{"message_id":1}`), nil
			}
			app := &scriptApp{answer: func(req adapter.AppRequest, attempt int) (adapter.AppResponse, error) {
				switch {
				case req.UpdateID == 1 && attempt == 1:
					return adapter.AppResponse{}, &adapter.DeliveryError{Attempts: 3, Status: 502, Err: errors.New("token SECRET")}
				case req.UpdateID == 2:
					return adapter.AppResponse{Status: 200, ContentType: "application/json", Body: []byte(`{"type":"telegram.send_message","text":"hi"}`)}, nil
				case req.UpdateID == 3:
					return adapter.AppResponse{Status: 200, ContentType: "application/json", Body: []byte(`{"type":`)}, nil
				case req.UpdateID == 4:
					return adapter.AppResponse{Status: 200, ContentType: "text/plain", Body: []byte("OK")}, nil
				}
				return adapter.AppResponse{Status: 204}, nil
			}}
			var traces recorder[adapter.Trace]
			var kinds recorder[string]
			var sends recorder[adapter.SendTrace]
			var received atomic.Int64
			opt := adapter.Options{
				Telegram:      tg,
				App:           app,
				SendToken:     "the-send-token",
				PollTimeout:   time.Second,
				ShutdownGrace: 3 * time.Second,
				OnDelivery:    traces.add,
				OnDeadLetter:  kinds.add,
				OnSend:        sends.add,
				OnReceived:    func(string) { received.Add(1) },
				Redact:        func(s string) string { return strings.ReplaceAll(s, "SECRET", "[redacted]") },
			}
			var sp *memSpool
			if mode == "disk" {
				sp = newMemSpool()
				opt.Spool = sp
			}
			a := adapter.New(opt)
			assert.ErrorIs(t, a.ReplayDeadLetter(1), adapter.ErrNotRunning, "before Run")
			assert.False(t, a.Health().Ready)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- a.Run(ctx) }()
			tg.batches <- []json.RawMessage{feedMessage(1, 5), feedMessage(2, 6), feedMessage(3, 7), feedMessage(4, 8)}
			waitFor(t, func() bool { return len(traces.all()) == 4 }, "four deliveries finished")
			waitFor(t, func() bool { return a.Health().Ready }, "ready")
			assert.Equal(t, int64(4), received.Load())

			dls, err := a.DeadLetters()
			require.NoError(t, err)
			require.Len(t, dls, 3)
			assert.ElementsMatch(t, []string{adapter.DeadDelivery, adapter.DeadReply, adapter.DeadReply}, kinds.all())
			d1 := byUpdate(t, dls, 1)
			assert.Equal(t, adapter.DeadDelivery, d1.Kind)
			assert.Equal(t, 502, d1.Status)
			assert.Equal(t, 3, d1.Attempts)
			assert.Equal(t, "application answered 502 after 3 attempt(s): token [redacted]", d1.Error, "the error text is redacted")
			assert.Equal(t, "chat:5", d1.Scope)
			assert.Equal(t, "telegram.message", d1.EventType)
			assert.JSONEq(t, string(feedMessage(1, 5)), string(d1.Update))
			d2 := byUpdate(t, dls, 2)
			assert.Equal(t, adapter.DeadReply, d2.Kind)
			assert.Contains(t, d2.Error, "chat not found")
			assert.Len(t, d2.Reply, 1, "the reply's events are kept")
			d3 := byUpdate(t, dls, 3)
			assert.Equal(t, adapter.DeadReply, d3.Kind)
			assert.Contains(t, d3.Error, "does not parse")
			for _, tr := range traces.all() {
				switch tr.UpdateID {
				case 1:
					assert.Equal(t, adapter.DeadDelivery, tr.Failed)
					assert.Equal(t, 502, tr.Status)
				case 2:
					assert.Equal(t, adapter.DeadReply, tr.Failed)
					require.Len(t, tr.Calls, 1)
					assert.Equal(t, "sendMessage", tr.Calls[0].Method)
				case 4:
					assert.Empty(t, tr.Failed)
					assert.Contains(t, tr.Note, "not application/json")
				}
			}

			// Replay: delivered again with the same webhook-id; dropped.
			require.NoError(t, a.ReplayDeadLetter(d1.ID))
			waitFor(t, func() bool { return len(app.requests(1)) == 2 }, "update 1 delivered again")
			reqs := app.requests(1)
			assert.Equal(t, reqs[0].WebhookID, reqs[1].WebhookID, "a replay keeps the webhook-id")
			_, err = a.DeadLetter(d1.ID)
			assert.ErrorIs(t, err, adapter.ErrNoDeadLetter, "dropped once replayed")

			// A replay that fails again is a new dead letter.
			require.NoError(t, a.ReplayDeadLetter(d2.ID))
			waitFor(t, func() bool {
				dls, _ := a.DeadLetters()
				return len(dls) == 2 && slices.ContainsFunc(dls, func(dl adapter.DeadLetter) bool { return dl.UpdateID == 2 && dl.ID != d2.ID })
			}, "a new dead letter for update 2")

			assert.ErrorIs(t, a.ReplayDeadLetter(9999), adapter.ErrNoDeadLetter)
			require.NoError(t, a.DropDeadLetter(d3.ID))
			assert.ErrorIs(t, a.DropDeadLetter(d3.ID), adapter.ErrNoDeadLetter)
			if sp != nil {
				damaged, _, err := sp.Bury(adapter.DeadLetter{Kind: adapter.DeadSpool, UpdateID: 9, Raw: []byte("\x00")})
				require.NoError(t, err)
				assert.ErrorIs(t, a.ReplayDeadLetter(damaged.ID), adapter.ErrNotReplayable)
				empty, _, err := sp.Bury(adapter.DeadLetter{Kind: adapter.DeadDelivery, UpdateID: 10})
				require.NoError(t, err)
				assert.ErrorContains(t, a.ReplayDeadLetter(empty.ID), "holds no update")
			}

			// /send: the send_token, a scope's token, an unknown token.
			p, err := a.Authorize("the-send-token")
			require.NoError(t, err)
			res, err := a.Send(ctx, p, nil, []json.RawMessage{json.RawMessage(`{"type":"telegram.send_message","chat_id":1,"text":"x"}`)})
			require.NoError(t, err)
			assert.Len(t, res, 1)
			var env struct{ Token string }
			require.NoError(t, json.Unmarshal(app.requests(4)[0].Body, &env))
			p, err = a.Authorize(env.Token)
			require.NoError(t, err)
			_, err = a.Send(ctx, p, nil, []json.RawMessage{json.RawMessage(`{"type":"telegram.send_message","text":"y"}`)})
			require.NoError(t, err)
			_, err = a.Authorize(strings.Repeat("A", len(env.Token)))
			assert.ErrorIs(t, err, adapter.ErrUnknownToken)
			st := sends.all()
			require.Len(t, st, 2)
			assert.Equal(t, "send_token", st[0].Scope)
			assert.Equal(t, "chat:8", st[1].Scope)
			assert.GreaterOrEqual(t, a.Registry().Len(), 4)

			cancel()
			require.NoError(t, <-done)
			assert.Equal(t, int64(5), a.Offset())
			assert.Zero(t, a.Pending())
			assert.Contains(t, a.Health().Reasons, "stopped")
			assert.ErrorIs(t, a.ReplayDeadLetter(d2.ID), adapter.ErrNotRunning, "after Run")
			_, err = a.Send(context.Background(), p, nil, []json.RawMessage{json.RawMessage(`{"type":"telegram.send_message","text":"z"}`)})
			assert.ErrorIs(t, err, adapter.ErrShuttingDown)
		})
	}
}

// unavailableSpool is a memSpool that can be made unable to store new
// updates (a full disk).
type unavailableSpool struct {
	*memSpool
	down atomic.Bool
}

var errDiskFull = fmt.Errorf("%w: no space left on device", adapter.ErrSpoolUnavailable)

func (s *unavailableSpool) Check() error {
	if s.down.Load() {
		return errDiskFull
	}
	return nil
}

func (s *unavailableSpool) Append(ups []adapter.Update, next adapter.Position) ([]uint64, error) {
	if s.down.Load() {
		return nil, errDiskFull
	}
	return s.memSpool.Append(ups, next)
}

// TestSpoolUnavailablePausesPolling: a spool that cannot store new updates
// pauses polling (readiness says why) without stopping the adapter; once
// it can again, polling resumes and the batch Telegram sends again is
// delivered.
func TestSpoolUnavailablePausesPolling(t *testing.T) {
	tg := newFeedTelegram()
	app := &scriptApp{answer: func(adapter.AppRequest, int) (adapter.AppResponse, error) {
		return adapter.AppResponse{Status: 204}, nil
	}}
	sp := &unavailableSpool{memSpool: newMemSpool()}
	a := adapter.New(adapter.Options{Telegram: tg, App: app, Spool: sp, PollTimeout: time.Second, ShutdownGrace: 3 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	tg.batches <- []json.RawMessage{feedMessage(1, 5)}
	waitFor(t, func() bool { return len(app.requests(1)) == 1 }, "delivered")
	sp.down.Store(true)
	tg.batches <- []json.RawMessage{feedMessage(2, 5)} // not stored, so not confirmed
	waitFor(t, func() bool {
		return slices.ContainsFunc(a.Health().Reasons, func(r string) bool { return strings.Contains(r, "polling paused") })
	}, "readiness says polling is paused")
	assert.Equal(t, adapter.Position{Offset: 2}, mustGet(sp.Position()), "the unstored batch is not confirmed")
	tg.batches <- []json.RawMessage{feedMessage(2, 5)} // Telegram sends it again
	sp.down.Store(false)
	waitFor(t, func() bool { return a.Health().Ready }, "ready again")
	waitFor(t, func() bool { return a.Offset() == 3 }, "polling resumed and stored the batch")
	waitFor(t, func() bool { return len(app.requests(2)) >= 1 }, "delivered")
	cancel()
	require.NoError(t, <-done)
	assert.Zero(t, sp.Len(), "delivered and removed")
}

func mustGet[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
