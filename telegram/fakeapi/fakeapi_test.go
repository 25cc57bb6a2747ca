package fakeapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram/fakeapi"
)

const token = "123456:TEST-token"

// env is a fake server behind a real HTTP listener.
type env struct {
	t    *testing.T
	fake *fakeapi.Server
	srv  *httptest.Server
}

func newEnv(t *testing.T, cfg fakeapi.Config) *env {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = token
	}
	fake := fakeapi.New(cfg)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	t.Cleanup(fake.Close) // runs first: frees held long polls
	return &env{t: t, fake: fake, srv: srv}
}

// response is a Bot API answer.
type response struct {
	Status      int
	Header      http.Header
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  *struct {
		RetryAfter      int   `json:"retry_after"`
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

func (e *env) url(method string) string { return e.srv.URL + "/bot" + token + "/" + method }

func (e *env) do(req *http.Request) (response, error) {
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	var r response
	if err := json.Unmarshal(body, &r); err != nil {
		e.t.Fatalf("answer is not JSON: %v: %q", err, body)
	}
	assert.Equal(e.t, "application/json", resp.Header.Get("Content-Type"))
	if r.OK {
		assert.Equal(e.t, http.StatusOK, resp.StatusCode)
	} else {
		assert.Equal(e.t, r.ErrorCode, resp.StatusCode, "HTTP status equals error_code")
	}
	r.Status, r.Header = resp.StatusCode, resp.Header
	return r, nil
}

// callCtx sends params as a JSON body.
func (e *env) callCtx(ctx context.Context, method string, params any) (response, error) {
	body, err := json.Marshal(params)
	require.NoError(e.t, err)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url(method), bytes.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	return e.do(req)
}

func (e *env) call(method string, params any) response {
	e.t.Helper()
	r, err := e.callCtx(context.Background(), method, params)
	require.NoError(e.t, err)
	return r
}

// ok calls method and decodes its result into out.
func (e *env) ok(method string, params any, out any) {
	e.t.Helper()
	r := e.call(method, params)
	require.True(e.t, r.OK, "%s: %d %s", method, r.ErrorCode, r.Description)
	if out != nil {
		require.NoError(e.t, json.Unmarshal(r.Result, out))
	}
}

func (e *env) form(method string, vals url.Values) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url(method), strings.NewReader(vals.Encode()))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r, err := e.do(req)
	require.NoError(e.t, err)
	return r
}

func (e *env) get(method string, vals url.Values) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.url(method)+"?"+vals.Encode(), nil)
	require.NoError(e.t, err)
	r, err := e.do(req)
	require.NoError(e.t, err)
	return r
}

type update struct {
	UpdateID int64           `json:"update_id"`
	Message  json.RawMessage `json:"message"`
}

func (e *env) updates(params map[string]any) []update {
	e.t.Helper()
	var ups []update
	e.ok("getUpdates", params, &ups)
	return ups
}

func ids(ups []update) []int64 {
	out := []int64{}
	for _, u := range ups {
		out = append(out, u.UpdateID)
	}
	return out
}

// eventually waits, with a deadline, until cond holds.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

type message struct {
	MessageID int64 `json:"message_id"`
	Date      int64 `json:"date"`
	EditDate  int64 `json:"edit_date"`
	Text      string
	Caption   string
	From      *fakeapi.User
	Chat      struct {
		ID       int64  `json:"id"`
		Type     string `json:"type"`
		Username string `json:"username"`
	}
	ReplyToMessage *message        `json:"reply_to_message"`
	ReplyMarkup    json.RawMessage `json:"reply_markup"`
	Photo          []struct {
		FileID string `json:"file_id"`
	}
	Document *struct {
		FileID   string `json:"file_id"`
		FileName string `json:"file_name"`
	}
	ForwardOrigin json.RawMessage `json:"forward_origin"`
}

func decodeMessages(t *testing.T, raws []json.RawMessage) []message {
	t.Helper()
	out := []message{}
	for _, r := range raws {
		var m message
		require.NoError(t, json.Unmarshal(r, &m))
		out = append(out, m)
	}
	return out
}

func userMessage(chatID, messageID int64, text string) map[string]any {
	return map[string]any{
		"message_id": messageID,
		"date":       time.Now().Unix(),
		"chat":       map[string]any{"id": chatID, "type": "private", "first_name": "Ada"},
		"from":       map[string]any{"id": chatID, "is_bot": false, "first_name": "Ada"},
		"text":       text,
	}
}

func TestGetMe(t *testing.T) {
	t.Run("default bot", func(t *testing.T) {
		e := newEnv(t, fakeapi.Config{})
		var me fakeapi.User
		e.ok("getMe", nil, &me)
		assert.Equal(t, fakeapi.User{ID: 123456, IsBot: true, FirstName: "Fake Bot", Username: "fake_bot"}, me) // the token's prefix, as on the real server
	})
	t.Run("configured bot", func(t *testing.T) {
		bot := fakeapi.User{ID: 42, IsBot: true, FirstName: "Echo", Username: "echo_bot"}
		e := newEnv(t, fakeapi.Config{Bot: bot})
		var me fakeapi.User
		e.ok("getMe", nil, &me)
		assert.Equal(t, bot, me)
	})
}

func TestRouting(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	tests := []struct {
		name, path string
		method     string
		wantStatus int
		wantDesc   string
	}{
		{"known method", "/bot" + token + "/getMe", http.MethodPost, 200, ""},
		{"GET", "/bot" + token + "/getMe", http.MethodGet, 200, ""},
		{"case-insensitive method", "/bot" + token + "/GETME", http.MethodPost, 200, ""},
		{"wrong token", "/bot123:wrong/getMe", http.MethodPost, 401, "Unauthorized"},
		{"unknown method", "/bot" + token + "/noSuchMethod", http.MethodPost, 404, "Not Found: method not found"},
		{"no bot prefix", "/getMe", http.MethodPost, 404, "Not Found"},
		{"no method", "/bot" + token + "/", http.MethodPost, 404, "Not Found"},
		{"root", "/", http.MethodGet, 404, "Not Found"},
		{"extra segment", "/bot" + token + "/getMe/x", http.MethodGet, 404, "Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, e.srv.URL+tt.path, nil)
			require.NoError(t, err)
			r, err := e.do(req)
			require.NoError(t, err)
			assert.Equal(t, tt.wantStatus, r.Status)
			if tt.wantStatus != 200 {
				assert.False(t, r.OK)
				assert.Equal(t, tt.wantStatus, r.ErrorCode)
				assert.Equal(t, tt.wantDesc, r.Description)
				assert.Nil(t, r.Parameters, "no parameters unless there are some")
			}
		})
	}
	calls := e.fake.CallsTo("getme")
	require.Len(t, calls, 4, "getMe calls, including the one with a wrong token")
	for _, c := range calls {
		assert.Equal(t, "getMe", c.Method, "canonical name")
	}
	assert.Equal(t, 401, calls[3].Status)
	unknown := e.fake.CallsTo("noSuchMethod")
	require.Len(t, unknown, 1)
	assert.Equal(t, "noSuchMethod", unknown[0].Method)
	assert.Equal(t, 404, unknown[0].Status)
}

func TestRevokeToken(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	e.ok("getMe", nil, nil)
	e.fake.RevokeToken()
	for _, m := range []string{"getMe", "getUpdates", "sendMessage"} {
		r := e.call(m, map[string]any{"chat_id": 1, "text": "x"})
		assert.Equal(t, 401, r.ErrorCode, m)
		assert.Equal(t, "Unauthorized", r.Description, m)
	}
}

func TestRevokeTokenEndsLongPoll(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	done := make(chan response, 1)
	go func() {
		r, _ := e.callCtx(context.Background(), "getUpdates", map[string]any{"timeout": 30})
		done <- r
	}()
	eventually(t, e.fake.Polling, "the long poll")
	e.fake.RevokeToken()
	r := <-done
	assert.Equal(t, 401, r.ErrorCode)
}

func TestGetUpdatesOffsetConfirmation(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	for i := range 3 {
		id := e.fake.AddUpdate("message", userMessage(7, int64(i+1), "hi"))
		assert.Equal(t, int64(i+1), id, "ids start at 1 and grow by one")
	}
	assert.Equal(t, []int64{1, 2, 3}, ids(e.updates(nil)))
	assert.Equal(t, []int64{1, 2, 3}, ids(e.updates(nil)), "unconfirmed updates are returned again")
	assert.Equal(t, 3, e.fake.Pending())
	assert.Equal(t, int64(0), e.fake.Offset())

	assert.Equal(t, []int64{2, 3}, ids(e.updates(map[string]any{"offset": 2})))
	assert.Equal(t, int64(2), e.fake.Offset())
	assert.Equal(t, 2, e.fake.Pending())
	assert.Equal(t, []int64{2, 3}, ids(e.updates(nil)), "omitted offset: from the oldest unconfirmed")

	assert.Empty(t, e.updates(map[string]any{"offset": 4}))
	assert.Equal(t, int64(4), e.fake.Offset())
	assert.Equal(t, 0, e.fake.Pending())
	assert.Empty(t, e.updates(map[string]any{"offset": 1}), "confirmed updates never come back")

	e.fake.SetNextUpdateID(1000)
	assert.Equal(t, int64(1000), e.fake.AddUpdate("message", userMessage(7, 4, "later")))
	assert.Equal(t, []int64{1000}, ids(e.updates(map[string]any{"offset": 4})))
	assert.Equal(t, int64(1001), e.fake.AddUpdate("message", userMessage(7, 5, "next")))
}

// TestFutureOffsetAnswersFromTheHead: an offset more than 10 past the
// server's next id confirms nothing and is answered from the head of the
// queue, with ids below the offset, as the real server does after its ids
// started again (a week without updates, another Bot API server).
func TestFutureOffsetAnswersFromTheHead(t *testing.T) {
	e := newEnv(t, fakeapi.Config{FirstUpdateID: 500})
	for i := range 3 {
		assert.Equal(t, int64(500+i), e.fake.AddUpdate("message", userMessage(7, int64(i+1), "hi")), "ids start at FirstUpdateID")
	}
	assert.Equal(t, []int64{500, 501, 502}, ids(e.updates(map[string]any{"offset": 900})), "a future offset: from the head")
	assert.Equal(t, 3, e.fake.Pending(), "a future offset confirms nothing")
	assert.Equal(t, int64(0), e.fake.Offset())
	assert.Equal(t, []int64{500, 501, 502}, ids(e.updates(map[string]any{"offset": 514})), "503+11 is in the future too")
	assert.Equal(t, []int64{502}, ids(e.updates(map[string]any{"offset": 502})), "the answer's last id + 1 is accepted")
	assert.Empty(t, e.updates(map[string]any{"offset": 503}))
	assert.Equal(t, 0, e.fake.Pending())
}

// TestNearFutureOffsetDropsUpdates: an offset 1-10 past the next id is
// accepted, and the updates that then arrive with ids below it count as
// confirmed: no client ever sees them.
func TestNearFutureOffsetDropsUpdates(t *testing.T) {
	e := newEnv(t, fakeapi.Config{FirstUpdateID: 100})
	assert.Empty(t, e.updates(map[string]any{"offset": 110}), "100+10: accepted")
	var added []int64
	for i := range 12 {
		added = append(added, e.fake.AddUpdate("message", userMessage(7, int64(i+1), "hi")))
	}
	assert.Equal(t, int64(111), added[11])
	assert.Equal(t, []int64{110, 111}, ids(e.updates(map[string]any{"offset": 110})), "100..109 were dropped")
	assert.Equal(t, []int64{110, 111}, ids(e.updates(nil)), "and are gone for every client")
}

// TestLongPollOnFutureOffset: a long poll held on a future offset is woken
// by a new update and answered from the head; on an accepted offset, an
// update arriving below it is dropped and does not end the poll.
func TestLongPollOnFutureOffset(t *testing.T) {
	e := newEnv(t, fakeapi.Config{FirstUpdateID: 1, MaxPollTimeout: 200 * time.Millisecond})
	done := make(chan []update, 1)
	poll := func(offset int64) {
		go func() {
			r, err := e.callCtx(context.Background(), "getUpdates", map[string]any{"offset": offset, "timeout": 30})
			var ups []update
			if err == nil {
				_ = json.Unmarshal(r.Result, &ups)
			}
			done <- ups
		}()
		eventually(t, e.fake.Polling, "the long poll")
	}
	poll(1000)
	id := e.fake.AddUpdate("message", userMessage(7, 1, "wake up"))
	assert.Equal(t, []int64{id}, ids(<-done))

	poll(id + 5) // accepted: 1-10 past the next id
	e.fake.AddUpdate("message", userMessage(7, 2, "dropped"))
	assert.Empty(t, <-done, "an update below an accepted offset is never returned")
	assert.Equal(t, 0, e.fake.Pending())
}

// TestResetUpdateIDs: after a simulated quiet week the ids start again at
// the given number, below those used before; a client still sending its
// old offset gets the new updates from the head.
func TestResetUpdateIDs(t *testing.T) {
	e := newEnv(t, fakeapi.Config{FirstUpdateID: 5000})
	e.fake.AddUpdate("message", userMessage(7, 1, "old"))
	e.fake.AddUpdate("message", userMessage(7, 2, "old, never confirmed"))
	assert.Equal(t, []int64{5000}, ids(e.updates(map[string]any{"offset": 5000, "limit": 1})))
	e.fake.ResetUpdateIDs(3)
	assert.Equal(t, 0, e.fake.Pending(), "the old queue is forgotten")
	assert.Equal(t, int64(0), e.fake.Offset())
	assert.Equal(t, int64(3), e.fake.AddUpdate("message", userMessage(7, 3, "new")))
	assert.Equal(t, []int64{3}, ids(e.updates(map[string]any{"offset": 5001})))
	assert.Equal(t, []int64{3}, ids(e.updates(map[string]any{"offset": 3})))
	assert.Empty(t, e.updates(map[string]any{"offset": 4}))
	assert.Equal(t, int64(4), e.fake.Offset())
}

func TestGetUpdatesLimit(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	for i := range 5 {
		e.fake.AddUpdate("message", userMessage(7, int64(i+1), "hi"))
	}
	tests := []struct {
		limit any
		want  []int64
	}{
		{2, []int64{1, 2}},
		{0, []int64{1}},
		{-3, []int64{1}},
		{1000, []int64{1, 2, 3, 4, 5}},
		{"3", []int64{1, 2, 3}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ids(e.updates(map[string]any{"limit": tt.limit})), "limit %v", tt.limit)
	}
}

func TestGetUpdatesNegativeOffset(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	for i := range 5 {
		e.fake.AddUpdate("message", userMessage(7, int64(i+1), "hi"))
	}
	assert.Equal(t, []int64{4, 5}, ids(e.updates(map[string]any{"offset": -2})))
	assert.Equal(t, 2, e.fake.Pending())
	assert.Equal(t, int64(4), e.fake.Offset())
	assert.Equal(t, []int64{4, 5}, ids(e.updates(nil)))
}

func TestLongPollWakesUpOnUpdate(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	done := make(chan []update, 1)
	go func() {
		r, err := e.callCtx(context.Background(), "getUpdates", map[string]any{"timeout": 30})
		var ups []update
		if err == nil {
			_ = json.Unmarshal(r.Result, &ups)
		}
		done <- ups
	}()
	eventually(t, e.fake.Polling, "the long poll")
	id := e.fake.AddUpdate("message", userMessage(7, 1, "wake up"))
	select {
	case ups := <-done:
		assert.Equal(t, []int64{id}, ids(ups))
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll did not wake up")
	}
	assert.False(t, e.fake.Polling())
}

func TestLongPollTimeout(t *testing.T) {
	e := newEnv(t, fakeapi.Config{MaxPollTimeout: 50 * time.Millisecond})
	start := time.Now()
	ups := e.updates(map[string]any{"timeout": 30})
	assert.Empty(t, ups)
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond, "held until the (capped) timeout")
	assert.Less(t, time.Since(start), 5*time.Second, "timeout capped by MaxPollTimeout")
	assert.False(t, e.fake.Polling())

}

func TestShortPoll(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	start := time.Now()
	assert.Empty(t, e.updates(map[string]any{"timeout": 0}))
	assert.Empty(t, e.updates(nil))
	assert.Less(t, time.Since(start), 5*time.Second, "no timeout means a short poll")
}

func TestLongPollDisallowedUpdateDoesNotWake(t *testing.T) {
	e := newEnv(t, fakeapi.Config{MaxPollTimeout: 100 * time.Millisecond})
	done := make(chan []update, 1)
	go func() {
		r, _ := e.callCtx(context.Background(), "getUpdates", map[string]any{"timeout": 30})
		var ups []update
		_ = json.Unmarshal(r.Result, &ups)
		done <- ups
	}()
	eventually(t, e.fake.Polling, "the long poll")
	e.fake.AddUpdate("chat_member", map[string]any{"chat": map[string]any{"id": -5}})
	assert.Empty(t, <-done, "chat_member is not delivered by default")
}

func TestTwoPollersConflict(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	older := make(chan response, 1)
	go func() {
		r, _ := e.callCtx(context.Background(), "getUpdates", map[string]any{"timeout": 30})
		older <- r
	}()
	eventually(t, e.fake.Polling, "the first long poll")
	newer := e.call("getUpdates", map[string]any{"timeout": 0})
	assert.True(t, newer.OK, "the newer request wins")
	r := <-older
	assert.Equal(t, 409, r.ErrorCode)
	assert.Equal(t, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running", r.Description)
	calls := e.fake.CallsTo("getUpdates")
	require.Len(t, calls, 2)
	assert.Equal(t, 409, calls[0].Status)
	assert.Equal(t, 200, calls[1].Status)
}

func TestWebhookConflict(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	const conflict = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"

	t.Run("SetWebhook ends a held poll", func(t *testing.T) {
		held := make(chan response, 1)
		go func() {
			r, _ := e.callCtx(context.Background(), "getUpdates", map[string]any{"timeout": 30})
			held <- r
		}()
		eventually(t, e.fake.Polling, "the long poll")
		e.fake.SetWebhook("https://example.com/hook")
		r := <-held
		assert.Equal(t, 409, r.ErrorCode)
		assert.Equal(t, "Conflict: terminated by setWebhook request", r.Description)
	})
	t.Run("getUpdates while a webhook is set", func(t *testing.T) {
		r := e.call("getUpdates", nil)
		assert.Equal(t, 409, r.ErrorCode)
		assert.Equal(t, conflict, r.Description)
		var info struct {
			URL     string `json:"url"`
			Pending int    `json:"pending_update_count"`
		}
		e.ok("getWebhookInfo", nil, &info)
		assert.Equal(t, "https://example.com/hook", info.URL)
	})
	t.Run("deleteWebhook", func(t *testing.T) {
		e.fake.AddUpdate("message", userMessage(7, 1, "a"))
		e.fake.AddUpdate("message", userMessage(7, 2, "b"))
		r := e.call("deleteWebhook", map[string]any{"drop_pending_updates": true})
		assert.True(t, r.OK)
		assert.Equal(t, "true", string(r.Result))
		assert.Equal(t, "Webhook was deleted", r.Description)
		assert.Equal(t, "", e.fake.Webhook())
		assert.Equal(t, 0, e.fake.Pending(), "drop_pending_updates")
		assert.Equal(t, int64(3), e.fake.Offset())
		assert.Empty(t, e.updates(nil))

		r = e.call("deleteWebhook", nil)
		assert.True(t, r.OK, "true even without a webhook")
		assert.Equal(t, "Webhook is already deleted", r.Description)
	})
	t.Run("setWebhook method", func(t *testing.T) {
		e.ok("setWebhook", map[string]any{"url": "https://example.com/h2", "allowed_updates": []string{"message"}}, nil)
		assert.Equal(t, "https://example.com/h2", e.fake.Webhook())
		assert.Equal(t, []string{"message"}, e.fake.AllowedUpdates())
		assert.Equal(t, 409, e.call("getUpdates", nil).ErrorCode)
		e.ok("setWebhook", map[string]any{"url": ""}, nil)
		assert.True(t, e.call("getUpdates", nil).OK)
	})
}

func TestAllowedUpdates(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	kinds := func(ups []json.RawMessage) []string {
		out := []string{}
		for _, u := range ups {
			var m map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(u, &m))
			for k := range m {
				if k != "update_id" {
					out = append(out, k)
				}
			}
		}
		return out
	}
	poll := func(params map[string]any) []string {
		var ups []json.RawMessage
		e.ok("getUpdates", params, &ups)
		return kinds(ups)
	}
	add := func(ks ...string) {
		for _, k := range ks {
			e.fake.AddUpdate(k, map[string]any{"id": "x"})
		}
	}

	add("message", "chat_member", "message_reaction", "message_reaction_count", "poll", "future_kind")
	assert.Equal(t, []string{"message", "poll", "future_kind"}, poll(nil), "default excludes chat_member and reactions")
	assert.Nil(t, e.fake.AllowedUpdates())

	add("message", "chat_member", "callback_query")
	assert.Equal(t, []string{"chat_member"}, poll(map[string]any{"allowed_updates": []string{"chat_member"}}))
	assert.Equal(t, []string{"chat_member"}, e.fake.AllowedUpdates())

	add("chat_member", "message")
	assert.Equal(t, []string{"chat_member", "chat_member"}, poll(nil), "allowed_updates persists when omitted")

	add("message", "chat_member")
	r := e.form("getUpdates", url.Values{"allowed_updates": {`["message"]`}})
	require.True(t, r.OK)
	var ups []json.RawMessage
	require.NoError(t, json.Unmarshal(r.Result, &ups))
	assert.Equal(t, []string{"message"}, kinds(ups), "form-encoded JSON list")

	add("chat_member", "message_reaction", "edited_message")
	assert.Equal(t, []string{"message", "edited_message"}, poll(map[string]any{"allowed_updates": []string{}}), "[] restores the default")
	assert.Nil(t, e.fake.AllowedUpdates())
}

func TestAddRawUpdate(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	id := e.fake.AddRawUpdate(json.RawMessage(`{"message": {"message_id": 1, "date": 1, "chat": {"id": 7, "type": "private"}, "text": "a"}}`))
	assert.Equal(t, int64(1), id)
	id = e.fake.AddRawUpdate(json.RawMessage(`{"update_id": 500, "callback_query": {"id": "q1", "from": {"id": 7, "is_bot": false, "first_name": "A"}, "chat_instance": "c"}}`))
	assert.Equal(t, int64(500), id)
	assert.Equal(t, int64(501), e.fake.AddRawUpdate(json.RawMessage(`{}`)))

	var ups []map[string]json.RawMessage
	e.ok("getUpdates", nil, &ups)
	require.Len(t, ups, 3)
	assert.JSONEq(t, `1`, string(ups[0]["update_id"]))
	assert.JSONEq(t, `"a"`, string(mustField(t, ups[0]["message"], "text")))
	assert.JSONEq(t, `500`, string(ups[1]["update_id"]))
	assert.JSONEq(t, `{"update_id":501}`, string(mustJSON(t, ups[2])))

	assert.Panics(t, func() { e.fake.AddRawUpdate(json.RawMessage(`[1]`)) })
	assert.Panics(t, func() { e.fake.AddRawUpdate(json.RawMessage(`{`)) })
}

func mustField(t *testing.T, obj json.RawMessage, key string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(obj, &m))
	return m[key]
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestFaults(t *testing.T) {
	t.Run("429 with retry_after", func(t *testing.T) {
		e := newEnv(t, fakeapi.Config{})
		e.fake.Fail("sendMessage", fakeapi.Fault{Code: 429, RetryAfter: 3})
		r := e.call("sendMessage", map[string]any{"chat_id": 1, "text": "x"})
		assert.Equal(t, 429, r.ErrorCode)
		assert.Equal(t, "Too Many Requests: retry after 3", r.Description)
		require.NotNil(t, r.Parameters)
		assert.Equal(t, 3, r.Parameters.RetryAfter)
		assert.Equal(t, "3", r.Header.Get("Retry-After"))
		assert.Empty(t, e.fake.Messages(1), "nothing was sent")
		assert.True(t, e.call("sendMessage", map[string]any{"chat_id": 1, "text": "x"}).OK, "the fault applied once")
	})
	t.Run("Times and method matching", func(t *testing.T) {
		e := newEnv(t, fakeapi.Config{})
		e.fake.Fail("GETME", fakeapi.Fault{Code: 502, Times: 2})
		assert.True(t, e.call("getUpdates", nil).OK, "another method is not affected")
		for range 2 {
			r := e.call("getMe", nil)
			assert.Equal(t, 502, r.ErrorCode)
			assert.Equal(t, "Bad Gateway", r.Description)
			assert.Empty(t, r.Header.Get("Retry-After"))
		}
		assert.True(t, e.call("getMe", nil).OK)
	})
	t.Run("any method", func(t *testing.T) {
		e := newEnv(t, fakeapi.Config{})
		e.fake.Fail("*", fakeapi.Fault{Code: 500, Description: "Internal Server Error: restart", Times: 2})
		assert.Equal(t, "Internal Server Error: restart", e.call("getMe", nil).Description)
		assert.Equal(t, 500, e.call("getUpdates", nil).ErrorCode)
		assert.True(t, e.call("getMe", nil).OK)
	})
	t.Run("migrate_to_chat_id", func(t *testing.T) {
		e := newEnv(t, fakeapi.Config{})
		e.fake.Fail("sendMessage", fakeapi.Fault{Code: 400, Description: "Bad Request: group chat was upgraded to a supergroup chat", MigrateToChatID: -1001234})
		r := e.call("sendMessage", map[string]any{"chat_id": -5, "text": "x"})
		require.NotNil(t, r.Parameters)
		assert.Equal(t, int64(-1001234), r.Parameters.MigrateToChatID)
		assert.Zero(t, r.Parameters.RetryAfter)
	})
	t.Run("Delay", func(t *testing.T) {
		e := newEnv(t, fakeapi.Config{})
		e.fake.Fail("getMe", fakeapi.Fault{Delay: 50 * time.Millisecond})
		start := time.Now()
		assert.True(t, e.call("getMe", nil).OK, "a delay alone does not fail the call")
		assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	})
	t.Run("Delay honours the client going away", func(t *testing.T) {
		e := newEnv(t, fakeapi.Config{})
		e.fake.Fail("sendMessage", fakeapi.Fault{Delay: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := e.callCtx(ctx, "sendMessage", map[string]any{"chat_id": 1, "text": "x"})
		require.Error(t, err)
		eventually(t, func() bool {
			return len(e.fake.CallsTo("sendMessage")) == 1 && e.fake.CallsTo("sendMessage")[0].Status == 0
		}, "the abandoned call")
		assert.Empty(t, e.fake.Messages(1))
	})
	t.Run("Reset", func(t *testing.T) {
		e := newEnv(t, fakeapi.Config{})
		e.fake.Fail("sendMessage", fakeapi.Fault{Reset: true})
		_, err := e.callCtx(context.Background(), "sendMessage", map[string]any{"chat_id": 1, "text": "x"})
		require.Error(t, err)
		calls := e.fake.CallsTo("sendMessage")
		require.Len(t, calls, 1)
		assert.Equal(t, 0, calls[0].Status)
		assert.Empty(t, e.fake.Messages(1), "not carried out")
	})
	t.Run("AfterProcessing 500", func(t *testing.T) {
		e := newEnv(t, fakeapi.Config{})
		e.fake.Fail("sendMessage", fakeapi.Fault{Code: 500, AfterProcessing: true})
		r := e.call("sendMessage", map[string]any{"chat_id": 1, "text": "x"})
		assert.Equal(t, 500, r.ErrorCode)
		assert.Equal(t, "Internal Server Error", r.Description)
		assert.Len(t, e.fake.Messages(1), 1, "the message went out anyway")
	})
	t.Run("AfterProcessing Reset", func(t *testing.T) {
		e := newEnv(t, fakeapi.Config{})
		e.fake.AddUpdate("message", userMessage(7, 1, "a"))
		e.fake.AddUpdate("message", userMessage(7, 2, "b"))
		e.fake.Fail("getUpdates", fakeapi.Fault{Reset: true, AfterProcessing: true})
		_, err := e.callCtx(context.Background(), "getUpdates", map[string]any{"offset": 2})
		require.Error(t, err)
		assert.Equal(t, int64(2), e.fake.Offset(), "the offset was confirmed")
		assert.Equal(t, 1, e.fake.Pending())
		assert.Equal(t, 0, e.fake.CallsTo("getUpdates")[0].Status)
	})
	t.Run("queued in order", func(t *testing.T) {
		e := newEnv(t, fakeapi.Config{})
		e.fake.Fail("getMe", fakeapi.Fault{Code: 500})
		e.fake.Fail("*", fakeapi.Fault{Code: 502})
		assert.Equal(t, 500, e.call("getMe", nil).ErrorCode)
		assert.Equal(t, 502, e.call("getMe", nil).ErrorCode)
		assert.True(t, e.call("getMe", nil).OK)
	})
}

func TestSendMessageValidation(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	e.fake.ForbidChat(66, 403, "Forbidden: bot was blocked by the user")
	e.fake.MigrateChat(-77, -1007700)
	e.fake.AddUpdate("message", userMessage(5, 10, "hello"))
	tests := []struct {
		name     string
		params   map[string]any
		wantCode int
		wantDesc string
	}{
		{"no chat_id", map[string]any{"text": "x"}, 400, "Bad Request: chat_id is empty"},
		{"empty chat_id", map[string]any{"chat_id": "", "text": "x"}, 400, "Bad Request: chat_id is empty"},
		{"no text", map[string]any{"chat_id": 1}, 400, "Bad Request: message text is empty"},
		{"blank text", map[string]any{"chat_id": 1, "text": " \n "}, 400, "Bad Request: message text is empty"},
		{"too long", map[string]any{"chat_id": 1, "text": strings.Repeat("я", 4097)}, 400, "Bad Request: message is too long"},
		{"bad chat id", map[string]any{"chat_id": "abc", "text": "x"}, 400, "Bad Request: chat not found"},
		{"chat id 0", map[string]any{"chat_id": 0, "text": "x"}, 400, "Bad Request: chat not found"},
		{"bad parse_mode", map[string]any{"chat_id": 1, "text": "x", "parse_mode": "BBCode"}, 400, "Bad Request: unsupported parse_mode"},
		{"bad reply_markup", map[string]any{"chat_id": 1, "text": "x", "reply_markup": "{nope"}, 400, "Bad Request: can't parse reply keyboard markup JSON object"},
		{"blocked", map[string]any{"chat_id": 66, "text": "x"}, 403, "Forbidden: bot was blocked by the user"},
		{"migrated", map[string]any{"chat_id": -77, "text": "x"}, 400, "Bad Request: group chat was upgraded to a supergroup chat"},
		{"reply to unknown", map[string]any{"chat_id": 5, "text": "x", "reply_to_message_id": 99}, 400, "Bad Request: message to be replied not found"},
		{"reply_parameters to unknown", map[string]any{"chat_id": 5, "text": "x", "reply_parameters": map[string]any{"message_id": 99}}, 400, "Bad Request: message to be replied not found"},
		{"exactly 4096", map[string]any{"chat_id": 1, "text": strings.Repeat("я", 4096)}, 0, ""},
		{"reply to known", map[string]any{"chat_id": 5, "text": "x", "reply_to_message_id": 10}, 0, ""},
		{"reply allowed without", map[string]any{"chat_id": 5, "text": "x", "reply_parameters": map[string]any{"message_id": 99, "allow_sending_without_reply": true}}, 0, ""},
		{"username chat", map[string]any{"chat_id": "@SomeChannel", "text": "x"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call("sendMessage", tt.params)
			if tt.wantCode == 0 {
				assert.True(t, r.OK, "%d %s", r.ErrorCode, r.Description)
				return
			}
			assert.Equal(t, tt.wantCode, r.ErrorCode)
			assert.Equal(t, tt.wantDesc, r.Description)
		})
	}
	r := e.call("sendMessage", map[string]any{"chat_id": -77, "text": "x"})
	require.NotNil(t, r.Parameters)
	assert.Equal(t, int64(-1007700), r.Parameters.MigrateToChatID)

	e.fake.ForbidChat(66, 0, "")
	assert.True(t, e.call("sendMessage", map[string]any{"chat_id": 66, "text": "x"}).OK, "ban lifted")
	for _, c := range e.fake.CallsTo("sendMessage") {
		assert.NotZero(t, c.Status, "every call is recorded with its status")
	}
}

func TestSendMessageResult(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	before := time.Now().Unix()
	var m message
	e.ok("sendMessage", map[string]any{"chat_id": 42, "text": "<b>hi</b> & bye"}, &m)
	assert.Equal(t, int64(1), m.MessageID)
	assert.Equal(t, "<b>hi</b> & bye", m.Text)
	assert.Equal(t, int64(42), m.Chat.ID)
	assert.Equal(t, "private", m.Chat.Type)
	require.NotNil(t, m.From)
	assert.Equal(t, e.fake.Bot(), *m.From)
	assert.GreaterOrEqual(t, m.Date, before)

	e.ok("sendMessage", map[string]any{"chat_id": 42, "text": "two"}, &m)
	assert.Equal(t, int64(2), m.MessageID, "ids grow per chat")
	e.ok("sendMessage", map[string]any{"chat_id": -100123, "text": "group"}, &m)
	assert.Equal(t, int64(1), m.MessageID, "each chat has its own ids")
	assert.Equal(t, "supergroup", m.Chat.Type)

	e.fake.AddUpdate("message", userMessage(42, 10, "from the user"))
	var reply message
	e.ok("sendMessage", map[string]any{"chat_id": 42, "text": "answer", "reply_parameters": map[string]any{"message_id": 10}}, &reply)
	assert.Equal(t, int64(11), reply.MessageID, "incoming messages share the chat's id sequence")
	require.NotNil(t, reply.ReplyToMessage)
	assert.Equal(t, int64(10), reply.ReplyToMessage.MessageID)
	assert.Equal(t, "from the user", reply.ReplyToMessage.Text)

	kb := map[string]any{"inline_keyboard": [][]map[string]any{{{"text": "OK", "callback_data": "ok"}}}}
	e.ok("sendMessage", map[string]any{"chat_id": 42, "text": "kb", "reply_markup": kb}, &m)
	assert.JSONEq(t, string(mustJSON(t, kb)), string(m.ReplyMarkup))
	var removed message
	e.ok("sendMessage", map[string]any{"chat_id": 42, "text": "kb", "reply_markup": map[string]any{"remove_keyboard": true}}, &removed)
	assert.Nil(t, removed.ReplyMarkup, "only inline keyboards are part of a Message")

	var ch message
	e.ok("sendMessage", map[string]any{"chat_id": "@news", "text": "post"}, &ch)
	assert.Equal(t, e.fake.ResolveChat("@NEWS"), ch.Chat.ID, "stable id for @username")
	assert.Less(t, ch.Chat.ID, int64(0))
	assert.Equal(t, "news", ch.Chat.Username)
	require.Len(t, e.fake.Messages(ch.Chat.ID), 1)
	assert.NotEqual(t, e.fake.ResolveChat("other"), ch.Chat.ID)

	got := decodeMessages(t, e.fake.Messages(42))
	texts := []string{}
	for _, m := range got {
		texts = append(texts, m.Text)
	}
	assert.Equal(t, []string{"<b>hi</b> & bye", "two", "answer", "kb", "kb"}, texts, "only the bot's messages")
	assert.Nil(t, e.fake.Messages(999))
}

func TestEditAndDelete(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	var m message
	e.ok("sendMessage", map[string]any{"chat_id": 42, "text": "v1"}, &m)
	e.fake.AddUpdate("message", userMessage(42, 2, "user text"))

	tests := []struct {
		name     string
		params   map[string]any
		wantCode int
		wantDesc string
	}{
		{"unknown message", map[string]any{"chat_id": 42, "message_id": 99, "text": "x"}, 400, "Bad Request: message to edit not found"},
		{"no text", map[string]any{"chat_id": 42, "message_id": 1}, 400, "Bad Request: message text is empty"},
		{"no chat", map[string]any{"message_id": 1, "text": "x"}, 400, "Bad Request: chat_id is empty"},
		{"not the bot's", map[string]any{"chat_id": 42, "message_id": 2, "text": "x"}, 400, "Bad Request: message can't be edited"},
		{"not modified", map[string]any{"chat_id": 42, "message_id": 1, "text": "v1"}, 400, "Bad Request: message is not modified: specified new message content and reply markup of the message are exactly the same as a current content and reply markup of the message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call("editMessageText", tt.params)
			assert.Equal(t, tt.wantCode, r.ErrorCode)
			assert.Equal(t, tt.wantDesc, r.Description)
		})
	}

	var edited message
	e.ok("editMessageText", map[string]any{"chat_id": 42, "message_id": 1, "text": "v2"}, &edited)
	assert.Equal(t, "v2", edited.Text)
	assert.NotZero(t, edited.EditDate)
	assert.Equal(t, int64(1), edited.MessageID)

	kb := map[string]any{"inline_keyboard": [][]map[string]any{{{"text": "A", "callback_data": "a"}}}}
	e.ok("editMessageText", map[string]any{"chat_id": 42, "message_id": 1, "text": "v2", "reply_markup": kb}, &edited)
	assert.NotNil(t, edited.ReplyMarkup, "a new keyboard is a modification")
	r := e.call("editMessageReplyMarkup", map[string]any{"chat_id": 42, "message_id": 1, "reply_markup": kb})
	assert.Equal(t, 400, r.ErrorCode, "same keyboard")
	var noKeyboard message
	e.ok("editMessageReplyMarkup", map[string]any{"chat_id": 42, "message_id": 1}, &noKeyboard)
	assert.Nil(t, noKeyboard.ReplyMarkup, "keyboard removed")

	var inline bool
	e.ok("editMessageText", map[string]any{"inline_message_id": "AAA", "text": "x"}, &inline)
	assert.True(t, inline)

	msgs := decodeMessages(t, e.fake.Messages(42))
	require.Len(t, msgs, 1)
	assert.Equal(t, "v2", msgs[0].Text, "Messages shows edits")

	var ok bool
	e.ok("deleteMessage", map[string]any{"chat_id": 42, "message_id": 1}, &ok)
	assert.True(t, ok)
	assert.Empty(t, e.fake.Messages(42))
	r = e.call("deleteMessage", map[string]any{"chat_id": 42, "message_id": 1})
	assert.Equal(t, "Bad Request: message to delete not found", r.Description)
	r = e.call("editMessageText", map[string]any{"chat_id": 42, "message_id": 1, "text": "v3"})
	assert.Equal(t, "Bad Request: message to edit not found", r.Description)
}

func TestCallbackQueries(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	r := e.call("answerCallbackQuery", map[string]any{"callback_query_id": "nope"})
	assert.Equal(t, "Bad Request: query is too old and response timeout expired or query ID is invalid", r.Description)

	var sent message
	e.ok("sendMessage", map[string]any{"chat_id": 42, "text": "pick"}, &sent)
	e.fake.AddUpdate("callback_query", map[string]any{
		"id": "cb1", "from": map[string]any{"id": 42, "is_bot": false, "first_name": "A"},
		"chat_instance": "ci", "data": "a",
		"message": e.fake.Messages(42)[0],
	})
	var ok bool
	e.ok("answerCallbackQuery", map[string]any{"callback_query_id": "cb1", "text": "done"}, &ok)
	assert.True(t, ok)
	e.ok("editMessageText", map[string]any{"chat_id": 42, "message_id": sent.MessageID, "text": "picked"}, nil)

	r = e.call("answerCallbackQuery", map[string]any{"callback_query_id": "cb1"})
	assert.Equal(t, 400, r.ErrorCode, "a callback query is answered once")
	assert.Equal(t, "Bad Request: query is too old and response timeout expired or query ID is invalid", r.Description)
}

func TestCallbackQueryTooOld(t *testing.T) {
	e := newEnv(t, fakeapi.Config{QueryTimeout: time.Nanosecond})
	e.fake.AddUpdate("callback_query", map[string]any{
		"id": "cb1", "from": map[string]any{"id": 42, "is_bot": false, "first_name": "A"}, "chat_instance": "ci", "data": "a",
	})
	time.Sleep(time.Millisecond) // older than QueryTimeout
	r := e.call("answerCallbackQuery", map[string]any{"callback_query_id": "cb1"})
	assert.Equal(t, 400, r.ErrorCode)
	assert.Equal(t, "Bad Request: query is too old and response timeout expired or query ID is invalid", r.Description)
}

func TestOtherMethodsAnswerTrue(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	e.fake.ForbidChat(66, 403, "Forbidden: bot was kicked from the group chat")
	for _, m := range []string{"sendChatAction", "setMessageReaction", "logOut", "close"} {
		var ok bool
		e.ok(m, map[string]any{"chat_id": 1, "action": "typing", "message_id": 1}, &ok)
		assert.True(t, ok, m)
	}
	r := e.call("sendChatAction", map[string]any{"chat_id": 66, "action": "typing"})
	assert.Equal(t, 403, r.ErrorCode)
	assert.Equal(t, "Forbidden: bot was kicked from the group chat", r.Description)
}

func TestCopyAndForward(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	e.fake.AddUpdate("message", userMessage(5, 3, "original"))

	var id struct {
		MessageID int64 `json:"message_id"`
	}
	e.ok("copyMessage", map[string]any{"chat_id": 9, "from_chat_id": 5, "message_id": 3}, &id)
	assert.Equal(t, int64(1), id.MessageID, "copyMessage answers a MessageId")

	var fwd message
	e.ok("forwardMessage", map[string]any{"chat_id": 9, "from_chat_id": 5, "message_id": 3}, &fwd)
	assert.Equal(t, int64(2), fwd.MessageID)
	assert.Equal(t, "original", fwd.Text)
	assert.NotNil(t, fwd.ForwardOrigin)

	msgs := decodeMessages(t, e.fake.Messages(9))
	require.Len(t, msgs, 2)
	assert.Equal(t, "original", msgs[0].Text)
	assert.Nil(t, msgs[0].ForwardOrigin, "a copy has no forward origin")
	assert.Equal(t, int64(9), msgs[0].Chat.ID)

	r := e.call("copyMessage", map[string]any{"chat_id": 9, "from_chat_id": 5, "message_id": 77})
	assert.Equal(t, "Bad Request: message to copy not found", r.Description)
	r = e.call("forwardMessage", map[string]any{"chat_id": 9, "from_chat_id": 5, "message_id": 77})
	assert.Equal(t, "Bad Request: message to forward not found", r.Description)
	r = e.call("copyMessage", map[string]any{"from_chat_id": 5, "message_id": 3})
	assert.Equal(t, "Bad Request: chat_id is empty", r.Description)
}

func TestParamEncodings(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	kb := `{"inline_keyboard":[[{"text":"OK","callback_data":"ok"}]]}`

	t.Run("form", func(t *testing.T) {
		r := e.form("sendMessage", url.Values{
			"chat_id": {"42"}, "text": {"0012"}, "reply_markup": {kb}, "disable_notification": {"true"},
		})
		require.True(t, r.OK, r.Description)
		var m message
		require.NoError(t, json.Unmarshal(r.Result, &m))
		assert.Equal(t, "0012", m.Text, "a non-canonical number stays a string")
		assert.JSONEq(t, kb, string(m.ReplyMarkup))
		c := e.fake.CallsTo("sendMessage")[0]
		assert.Equal(t, "42", string(c.Params["chat_id"]), "integers become numbers")
		assert.Equal(t, `"0012"`, string(c.Params["text"]))
		assert.JSONEq(t, kb, string(c.Params["reply_markup"]), "JSON-looking values stay JSON")
		assert.Equal(t, `"true"`, string(c.Params["disable_notification"]))
	})
	t.Run("query string", func(t *testing.T) {
		r := e.get("sendMessage", url.Values{"chat_id": {"-100500"}, "text": {"hello"}})
		require.True(t, r.OK, r.Description)
		c := e.fake.CallsTo("sendMessage")[1]
		assert.Equal(t, "-100500", string(c.Params["chat_id"]))
		assert.Equal(t, `"hello"`, string(c.Params["text"]))
		assert.Equal(t, 200, c.Status)
	})
	t.Run("JSON", func(t *testing.T) {
		e.ok("sendMessage", map[string]any{"chat_id": 42, "text": "j", "reply_markup": json.RawMessage(kb)}, nil)
		c := e.fake.CallsTo("sendMessage")[2]
		assert.JSONEq(t, kb, string(c.Params["reply_markup"]))
		assert.Equal(t, `"j"`, string(c.Params["text"]))
	})
	t.Run("JSON with reply_markup as a string", func(t *testing.T) {
		var m message
		e.ok("sendMessage", map[string]any{"chat_id": 42, "text": "s", "reply_markup": kb}, &m)
		assert.JSONEq(t, kb, string(m.ReplyMarkup))
	})
	t.Run("multipart upload", func(t *testing.T) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		require.NoError(t, mw.WriteField("chat_id", "42"))
		require.NoError(t, mw.WriteField("caption", "a cat"))
		fw, err := mw.CreateFormFile("document", "cat.txt")
		require.NoError(t, err)
		_, _ = fw.Write([]byte("meow"))
		require.NoError(t, mw.Close())
		req, err := http.NewRequest(http.MethodPost, e.url("sendDocument"), &body)
		require.NoError(t, err)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		r, err := e.do(req)
		require.NoError(t, err)
		require.True(t, r.OK, r.Description)
		var m message
		require.NoError(t, json.Unmarshal(r.Result, &m))
		assert.Equal(t, "a cat", m.Caption)
		require.NotNil(t, m.Document)
		assert.Equal(t, "cat.txt", m.Document.FileName)
		assert.NotEmpty(t, m.Document.FileID)
		c := e.fake.CallsTo("sendDocument")[0]
		assert.Equal(t, "42", string(c.Params["chat_id"]))
		assert.JSONEq(t, `{"file_name":"cat.txt","size":4}`, string(c.Params["document"]))
	})
	t.Run("photo by file_id and missing photo", func(t *testing.T) {
		var m message
		e.ok("sendPhoto", map[string]any{"chat_id": 42, "photo": "AgACfileid"}, &m)
		require.Len(t, m.Photo, 1)
		assert.Equal(t, "AgACfileid", m.Photo[0].FileID)
		r := e.call("sendPhoto", map[string]any{"chat_id": 42})
		assert.Equal(t, "Bad Request: there is no photo in the request", r.Description)
	})
	t.Run("bad JSON body", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, e.url("sendMessage"), strings.NewReader(`{"chat_id":`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		r, err := e.do(req)
		require.NoError(t, err)
		assert.Equal(t, 400, r.ErrorCode)
	})
}

func TestClientGoneDuringLongPoll(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := e.callCtx(ctx, "getUpdates", map[string]any{"timeout": 30})
		errc <- err
	}()
	eventually(t, e.fake.Polling, "the long poll")
	cancel()
	require.Error(t, <-errc)
	eventually(t, func() bool { return !e.fake.Polling() }, "the poll to be released")
	assert.Equal(t, 0, e.fake.CallsTo("getUpdates")[0].Status)
}

func TestCloseEndsLongPoll(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	done := make(chan response, 1)
	go func() {
		r, _ := e.callCtx(context.Background(), "getUpdates", map[string]any{"timeout": 30})
		done <- r
	}()
	eventually(t, e.fake.Polling, "the long poll")
	e.fake.Close()
	r := <-done
	assert.True(t, r.OK)
	assert.JSONEq(t, `[]`, string(r.Result))
	start := time.Now()
	assert.Empty(t, e.updates(map[string]any{"timeout": 30}), "no waiting after Close")
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestCallsAreCopies(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	e.ok("getMe", map[string]any{"x": 1}, nil)
	calls := e.fake.Calls()
	require.Len(t, calls, 1)
	calls[0].Params["x"][0] = '9'
	calls[0].Params["y"] = json.RawMessage(`2`)
	again := e.fake.Calls()
	assert.Equal(t, "1", string(again[0].Params["x"]))
	assert.NotContains(t, again[0].Params, "y")
	assert.False(t, again[0].At.IsZero())
}

// TestChatIDSpellingsNameOneChat: the fake reads a numeric chat_id as the
// Bot API does (telegram.ParseChatID): a number or a string of one,
// padded with spaces or not, names one chat, also in reply_parameters.
func TestChatIDSpellingsNameOneChat(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	var first struct {
		MessageID int64 `json:"message_id"`
	}
	e.ok("sendMessage", map[string]any{"chat_id": 4343, "text": "a"}, &first)
	for _, id := range []any{"4343", " 4343", "4343 ", "\t4343\n"} {
		e.ok("sendMessage", map[string]any{"chat_id": id, "text": "b"}, nil)
	}
	e.ok("sendMessage", map[string]any{"chat_id": 4343, "text": "c",
		"reply_parameters": map[string]any{"message_id": first.MessageID, "chat_id": " 4343 "}}, nil)
	assert.Len(t, e.fake.Messages(4343), 6)
}
