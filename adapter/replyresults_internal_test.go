package adapter

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram"
)

// resultsTelegram sends every message as message 100, 101, ..., except to
// chat 999, which Telegram does not know.
type resultsTelegram struct {
	mu    sync.Mutex
	next  int
	calls []string
}

func (f *resultsTelegram) Call(_ context.Context, method string, params any) (json.RawMessage, error) {
	var p struct {
		ChatID int64  `json:"chat_id"`
		Text   string `json:"text"`
	}
	_ = json.Unmarshal(params.(json.RawMessage), &p)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, p.Text)
	if p.ChatID == 999 {
		return nil, &telegram.Error{Method: method, Code: 400, Description: "Bad Request: chat not found"}
	}
	f.next++
	m, _ := json.Marshal(map[string]any{"message_id": 99 + f.next, "chat": map[string]any{"id": p.ChatID}, "text": p.Text})
	return m, nil
}

func (f *resultsTelegram) CallMultipart(context.Context, string, map[string]json.RawMessage, []telegram.FilePart) (json.RawMessage, error) {
	panic("not used")
}

func (f *resultsTelegram) GetMe(context.Context) (telegram.User, json.RawMessage, error) {
	panic("not used")
}

func (f *resultsTelegram) GetUpdates(context.Context, int64, int, time.Duration, []string) ([]json.RawMessage, error) {
	panic("not used")
}

func (f *resultsTelegram) GetFile(context.Context, string) (telegram.File, error) { panic("not used") }

func (f *resultsTelegram) Download(context.Context, string) (*telegram.Download, error) {
	panic("not used")
}

func (f *resultsTelegram) texts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// resultsApp answers each event type with its reply and records the
// requests.
type resultsApp struct {
	mu      sync.Mutex
	replies map[string]string
	reqs    []AppRequest
}

func (f *resultsApp) Deliver(_ context.Context, req AppRequest) (AppResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	return AppResponse{Status: 200, ContentType: "application/json", Body: []byte(f.replies[req.EventType])}, nil
}

func (f *resultsApp) requests() []AppRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]AppRequest(nil), f.reqs...)
}

func TestReplyResultFollowsTheUpdate(t *testing.T) {
	tg := &resultsTelegram{}
	app := &resultsApp{replies: map[string]string{
		"telegram.message": `[{"type":"telegram.send_message","text":"one"},{"type":"telegram.send_message","chat_id":999,"text":"two"},{"type":"telegram.send_message","text":"three"}]`,
		ReplyResultType:    `{"type":"telegram.send_message","text":"seen"}`,
	}}
	a := New(Options{Telegram: tg, App: app, ReplyResults: true})
	a.mapper.BotID = 7
	ev, err := a.mapper.Map(msgUpdate(41, 5))
	require.NoError(t, err)
	require.True(t, a.deliver(context.Background(), ev))

	reqs := app.requests()
	require.Len(t, reqs, 2, "the update, then its result; the result's reply has no result")
	assert.Equal(t, "telegram.message", reqs[0].EventType)
	assert.Equal(t, ReplyResultType, reqs[1].EventType)
	assert.Equal(t, reqs[0].WebhookID+"-r", reqs[1].WebhookID)
	assert.Equal(t, "tg-7-41-r", reqs[1].WebhookID)
	assert.Equal(t, int64(41), reqs[1].UpdateID)
	assert.Equal(t, []string{"one", "two", "seen"}, tg.texts(), "the call after the failed one is not made; the result's reply is")

	var body struct {
		Scope    json.RawMessage `json:"scope"`
		UpdateID int64           `json:"update_id"`
		Event    struct {
			Type     string `json:"type"`
			UpdateID int64  `json:"update_id"`
			OK       bool   `json:"ok"`
			Error    string `json:"error"`
			Results  []struct {
				Method string `json:"method"`
				OK     bool   `json:"ok"`
				Result struct {
					MessageID int64 `json:"message_id"`
				} `json:"result"`
				ErrorCode   int    `json:"error_code"`
				Description string `json:"description"`
			} `json:"results"`
		} `json:"event"`
	}
	require.NoError(t, json.Unmarshal(reqs[1].Body, &body), "%s", reqs[1].Body)
	assert.Equal(t, ev.Scope.JSON, body.Scope, "the same scope")
	assert.Equal(t, int64(41), body.UpdateID)
	assert.Equal(t, ReplyResultType, body.Event.Type)
	assert.Equal(t, int64(41), body.Event.UpdateID)
	assert.False(t, body.Event.OK)
	assert.Contains(t, body.Event.Error, "chat not found")
	require.Len(t, body.Event.Results, 2)
	assert.Equal(t, "sendMessage", body.Event.Results[0].Method)
	assert.True(t, body.Event.Results[0].OK)
	assert.Equal(t, int64(100), body.Event.Results[0].Result.MessageID, "the sent message's id")
	assert.False(t, body.Event.Results[1].OK)
	assert.Equal(t, 400, body.Event.Results[1].ErrorCode)
	assert.Equal(t, "Bad Request: chat not found", body.Event.Results[1].Description)
}

func TestReplyResultOnlyWhenAskedAndWhenCallsWereMade(t *testing.T) {
	for _, tc := range []struct {
		name  string
		on    bool
		reply string
	}{
		{"off", false, `{"type":"telegram.send_message","text":"one"}`},
		{"no calls", true, `[]`},
		{"not JSON", true, ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := &resultsApp{replies: map[string]string{"telegram.message": tc.reply}}
			a := New(Options{Telegram: &resultsTelegram{}, App: app, ReplyResults: tc.on})
			ev, err := a.mapper.Map(msgUpdate(1, 5))
			require.NoError(t, err)
			require.True(t, a.deliver(context.Background(), ev))
			require.Len(t, app.requests(), 1)
		})
	}
}

func TestReplyResultOfASkippedAnswer(t *testing.T) {
	ev := Event{UpdateID: 3, Epoch: 2, Type: "telegram.callback_query"}
	r := replyResultEvent(ev, []json.RawMessage{SkippedCallbackAnswer}, []TraceCall{{Method: "answerCallbackQuery", Skipped: SkippedAnswered}}, nil, func(s string) string { return s })
	assert.JSONEq(t, `{"type":"asgigram.reply_result","update_id":3,"update_epoch":2,"answered_type":"telegram.callback_query","ok":true,
		"results":[{"method":"answerCallbackQuery","ok":true,"skipped":"`+SkippedAnswered+`"}]}`, string(r.JSON))
	assert.Equal(t, ReplyResultType, r.Type)
}

// TestDiskDeliveryResultsLeftInTheSpool: a reply_result stored and not
// delivered when the process stopped takes its update's place in the
// scope (the update, whose calls were made, is not delivered again but
// removed), or goes first in its scope when the update was finished.
func TestDiskDeliveryResultsLeftInTheSpool(t *testing.T) {
	var m Mapper
	record := func(u Update) Update {
		ev, err := m.Map(u)
		require.NoError(t, err)
		r := replyResultEvent(ev, nil, nil, nil, func(s string) string { return s })
		return Update{ID: u.ID, Raw: r.Raw}
	}
	sp := newFakeSpool()
	seqs, err := sp.Append([]Update{msgUpdate(1, 1), msgUpdate(2, 1), msgUpdate(5, 2)}, Position{Offset: 6})
	require.NoError(t, err)
	_, err = sp.Requeue(record(msgUpdate(1, 1))) // its update still stored
	require.NoError(t, err)
	_, err = sp.Requeue(record(msgUpdate(4, 2))) // its update finished
	require.NoError(t, err)

	d := newDiskTest(t, diskSetup{maxConcurrency: 1, sp: sp})
	assert.Equal(t, int64(4), d.pending.Load(), "two results and two updates wait")
	got := map[string][]string{}
	for range 4 {
		s := d.f.next(t)
		got[s.ev.Scope.Key] = append(got[s.ev.Scope.Key], fmt.Sprintf("%s %d", s.ev.Type, s.ev.UpdateID))
		close(s.finish)
	}
	d.drain()
	assert.Equal(t, map[string][]string{
		chatScope(1): {"asgigram.reply_result 1", "telegram.message 2"},
		chatScope(2): {"asgigram.reply_result 4", "telegram.message 5"},
	}, got)
	assert.Empty(t, sp.stored())
	assert.Contains(t, sp.removedSeqs(), seqs[0], "the answered update is removed, not delivered")
}

// spoolCheckingApp records what the spool holds when the result arrives.
type spoolCheckingApp struct {
	resultsApp
	sp           *fakeSpool
	storedAtPost []int64
}

func (f *spoolCheckingApp) Deliver(ctx context.Context, req AppRequest) (AppResponse, error) {
	if req.EventType == ReplyResultType {
		f.storedAtPost = f.sp.stored()
	}
	return f.resultsApp.Deliver(ctx, req)
}

// TestReplyResultIsSpooled: with a spool, the result is stored before it
// is delivered, and removed once delivered.
func TestReplyResultIsSpooled(t *testing.T) {
	sp := newFakeSpool()
	app := &spoolCheckingApp{sp: sp, resultsApp: resultsApp{replies: map[string]string{
		"telegram.message": `{"type":"telegram.send_message","text":"one"}`,
	}}}
	a := New(Options{Telegram: &resultsTelegram{}, App: app, ReplyResults: true, Spool: sp})
	ev, err := a.mapper.Map(msgUpdate(41, 5))
	require.NoError(t, err)
	require.True(t, a.deliver(context.Background(), ev))
	require.Len(t, app.requests(), 2)
	assert.Equal(t, []int64{41}, app.storedAtPost, "the result's record is stored while it is delivered")
	assert.Empty(t, sp.stored(), "and removed once delivered")
}

// failingResultApp answers an update with a call and fails every result.
type failingResultApp struct{ resultsApp }

func (f *failingResultApp) Deliver(ctx context.Context, req AppRequest) (AppResponse, error) {
	resp, _ := f.resultsApp.Deliver(ctx, req)
	if req.EventType == ReplyResultType {
		return AppResponse{Status: 500}, &DeliveryError{Status: 500, Attempts: 3}
	}
	return resp, nil
}

// TestReplyResultDeadLetter: a result the app does not take is kept as a
// dead letter whose update is the result's record, which maps back to the
// same reply_result in the same scope (what a replay delivers).
func TestReplyResultDeadLetter(t *testing.T) {
	app := &failingResultApp{resultsApp{replies: map[string]string{
		"telegram.message": `{"type":"telegram.send_message","text":"one"}`,
	}}}
	a := New(Options{Telegram: &resultsTelegram{}, App: app, ReplyResults: true})
	ev, err := a.mapper.Map(msgUpdate(41, 5))
	require.NoError(t, err)
	require.True(t, a.deliver(context.Background(), ev))
	reqs := app.requests()
	require.Len(t, reqs, 2)

	dls, err := a.DeadLetters()
	require.NoError(t, err)
	require.Len(t, dls, 1, "the result, not the update")
	dl := dls[0]
	assert.Equal(t, DeadDelivery, dl.Kind)
	assert.Equal(t, ReplyResultType, dl.EventType)
	assert.Equal(t, int64(41), dl.UpdateID)
	again, err := a.mapper.Map(Update{ID: dl.UpdateID, Epoch: dl.Epoch, Raw: dl.Update})
	require.NoError(t, err)
	assert.Equal(t, ReplyResultType, again.Type)
	assert.Equal(t, ev.Scope.Key, again.Scope.Key)
	assert.JSONEq(t, string(ev.Scope.JSON), string(again.Scope.JSON))
	var body struct {
		Event json.RawMessage `json:"event"`
	}
	require.NoError(t, json.Unmarshal(reqs[1].Body, &body))
	assert.JSONEq(t, string(body.Event), string(again.JSON), "the same event")
}
