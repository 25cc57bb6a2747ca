package devmode

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/adapter"
)

// env is a Dev behind a real HTTP server. The tests play the adapter's part
// themselves: they poll and call the fake Bot API under /dev/botapi and
// report deliveries with OnDelivery.
type env struct {
	t   *testing.T
	dev *Dev
	srv *httptest.Server
	out *lockedBuffer
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

func newEnv(t *testing.T) *env {
	t.Helper()
	out := &lockedBuffer{}
	dev := New(Options{Out: out, Redact: func(s string) string { return strings.ReplaceAll(s, "s3cret", "[redacted]") }})
	r := chi.NewRouter()
	dev.Routes(r)
	srv := httptest.NewServer(r)
	dev.opt.BaseURL = srv.URL
	t.Cleanup(srv.Close)
	t.Cleanup(dev.Close)
	return &env{t: t, dev: dev, srv: srv, out: out}
}

// do sends a request and decodes the JSON answer into v (when not nil).
func (e *env) do(method, path, body string, v any) int {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	require.NoError(e.t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	require.Equal(e.t, "application/json", resp.Header.Get("Content-Type"), "%s %s: %s", method, path, raw)
	if v != nil {
		// Compact, so that the raw parts of the answer compare as text.
		var compact bytes.Buffer
		require.NoError(e.t, json.Compact(&compact, raw), "%s", raw)
		dec := json.NewDecoder(&compact)
		dec.UseNumber()
		require.NoError(e.t, dec.Decode(v), "%s", raw)
	}
	return resp.StatusCode
}

// bot calls the fake Bot API as the bot does and returns the result.
func (e *env) bot(method string, params any) json.RawMessage {
	e.t.Helper()
	b, err := json.Marshal(params)
	require.NoError(e.t, err)
	resp, err := http.Post(e.srv.URL+BotAPIPath+"/bot"+Token+"/"+method, "application/json", bytes.NewReader(b))
	require.NoError(e.t, err)
	defer resp.Body.Close()
	var env struct {
		OK          bool            `json:"ok"`
		Result      json.RawMessage `json:"result"`
		Description string          `json:"description"`
	}
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&env))
	require.True(e.t, env.OK, "%s: %s", method, env.Description)
	return env.Result
}

// updates fetches the pending updates without confirming them.
func (e *env) updates() []map[string]json.RawMessage {
	e.t.Helper()
	var ups []map[string]json.RawMessage
	require.NoError(e.t, json.Unmarshal(e.bot("getUpdates", map[string]any{"timeout": 0}), &ups))
	return ups
}

type answer struct {
	OK              bool            `json:"ok"`
	Description     string          `json:"description"`
	UpdateID        int64           `json:"update_id"`
	MessageID       int64           `json:"message_id"`
	CallbackQueryID string          `json:"callback_query_id"`
	InlineQueryID   string          `json:"inline_query_id"`
	Message         json.RawMessage `json:"message"`
	Pending         bool            `json:"pending"`
	Delivery        *Delivery       `json:"delivery"`
	Replies         []struct {
		MessageID int64  `json:"message_id"`
		Text      string `json:"text"`
	} `json:"replies"`
	Answer *Call `json:"answer"`
}

func TestMessageRoundTripsLargeIDs(t *testing.T) {
	e := newEnv(t)
	const chat = "-1009876543210987"
	var a answer
	code := e.do("POST", "/dev/chats/"+chat+"/messages?wait=0",
		`{"text":"/start@asgigram_dev_bot go","from":{"id":9007199254740993,"first_name":"Ann","username":"ann"}}`, &a)
	require.Equal(t, http.StatusAccepted, code)
	assert.True(t, a.OK)
	assert.True(t, a.Pending)
	assert.Nil(t, a.Delivery)
	assert.Equal(t, int64(1), a.UpdateID)
	assert.Equal(t, int64(1), a.MessageID)

	ups := e.updates()
	require.Len(t, ups, 1)
	msg := string(ups[0]["message"])
	assert.Contains(t, msg, `"id":-1009876543210987`)
	assert.Contains(t, msg, `"id":9007199254740993`)
	var m struct {
		MessageID int64 `json:"message_id"`
		Chat      struct {
			ID   int64  `json:"id"`
			Type string `json:"type"`
		} `json:"chat"`
		From struct {
			ID       int64  `json:"id"`
			Username string `json:"username"`
		} `json:"from"`
		Text     string   `json:"text"`
		Entities []Entity `json:"entities"`
	}
	require.NoError(t, json.Unmarshal(ups[0]["message"], &m))
	assert.Equal(t, int64(-1009876543210987), m.Chat.ID)
	assert.Equal(t, "supergroup", m.Chat.Type)
	assert.Equal(t, int64(9007199254740993), m.From.ID)
	assert.Equal(t, "ann", m.From.Username)
	assert.Equal(t, []Entity{{"bot_command", 0, 23}}, m.Entities)
	assert.JSONEq(t, string(ups[0]["message"]), string(a.Message), "the answer shows the message as delivered")

	// The bot replies; the chat view shows it with the exact ids.
	e.bot("sendMessage", map[string]any{"chat_id": json.Number(chat), "text": "hello Ann"})
	e.bot("sendChatAction", map[string]any{"chat_id": chat, "action": "typing"})
	var view struct {
		Chat     json.RawMessage   `json:"chat"`
		Messages []json.RawMessage `json:"messages"`
		Calls    []Call            `json:"calls"`
	}
	require.Equal(t, http.StatusOK, e.do("GET", "/dev/chats/"+chat, "", &view))
	assert.Contains(t, string(view.Chat), `"id":-1009876543210987`)
	require.Len(t, view.Messages, 1)
	assert.Contains(t, string(view.Messages[0]), `"text":"hello Ann"`)
	assert.Contains(t, string(view.Messages[0]), `"message_id":2`, "ids are shared with the user's messages")
	require.Len(t, view.Calls, 2)
	assert.Equal(t, "sendMessage", view.Calls[0].Method)
	assert.Equal(t, "sendChatAction", view.Calls[1].Method)
	assert.Equal(t, http.StatusOK, view.Calls[0].Status)
	assert.Equal(t, chat, string(view.Calls[0].Params["chat_id"]))
}

func TestMessageWaitsForTheDelivery(t *testing.T) {
	e := newEnv(t)
	type result struct {
		code int
		a    answer
	}
	done := make(chan result, 1)
	go func() {
		var a answer
		code := e.do("POST", "/dev/chats/42/messages?wait=5s", `{"text":"hi"}`, &a)
		done <- result{code, a}
	}()
	// Play the adapter: fetch the update, reply, report the delivery.
	var updateID int64
	require.Eventually(t, func() bool {
		ups := e.updates()
		if len(ups) == 0 {
			return false
		}
		require.NoError(t, json.Unmarshal(ups[0]["update_id"], &updateID))
		return true
	}, 5*time.Second, 5*time.Millisecond)
	e.bot("sendMessage", map[string]any{"chat_id": 42, "text": "echo: hi"})
	e.dev.OnDelivery(adapter.Trace{UpdateID: updateID, Type: "telegram.message", Scope: "chat:42", Status: 200,
		Latency: 3 * time.Millisecond, Calls: []adapter.TraceCall{{Method: "sendMessage"}}})

	r := <-done
	require.Equal(t, http.StatusOK, r.code)
	assert.False(t, r.a.Pending)
	require.NotNil(t, r.a.Delivery)
	assert.Equal(t, updateID, r.a.Delivery.UpdateID)
	assert.Equal(t, 200, r.a.Delivery.Status)
	assert.Equal(t, []DeliveryCall{{Method: "sendMessage", OK: true}}, r.a.Delivery.Calls)
	assert.Equal(t, "update 1 telegram.message chat:42 -> app 200 in 3ms -> sendMessage ok", r.a.Delivery.Trace)
	require.Len(t, r.a.Replies, 1)
	assert.Equal(t, "echo: hi", r.a.Replies[0].Text)
	assert.Equal(t, "update 1 telegram.message chat:42 -> app 200 in 3ms -> sendMessage ok\n", e.out.String())

	var ds []Delivery
	require.Equal(t, http.StatusOK, e.do("GET", "/dev/deliveries", "", &ds))
	require.Len(t, ds, 1)
	assert.Equal(t, updateID, ds[0].UpdateID)

	// A delivery already finished is found at once.
	dv, ok := e.dev.Delivered(updateID)
	assert.True(t, ok)
	assert.Equal(t, "chat:42", dv.Scope)
}

func TestWaitRunsOutAndCloseEndsWaits(t *testing.T) {
	e := newEnv(t)
	var a answer
	start := time.Now()
	require.Equal(t, http.StatusAccepted, e.do("POST", "/dev/chats/42/messages?wait=50ms", `{"text":"hi"}`, &a))
	assert.True(t, a.Pending)
	assert.Less(t, time.Since(start), 3*time.Second)

	done := make(chan int, 1)
	go func() {
		var a answer
		done <- e.do("POST", "/dev/chats/42/messages?wait=1m", `{"text":"hi again"}`, &a)
	}()
	require.Eventually(t, func() bool { return e.dev.Fake().Pending() == 2 }, 5*time.Second, 5*time.Millisecond)
	e.dev.Close()
	select {
	case code := <-done:
		assert.Equal(t, http.StatusAccepted, code)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the wait")
	}
}

func TestCallbackPress(t *testing.T) {
	e := newEnv(t)
	var a answer
	require.Equal(t, http.StatusNotFound, e.do("POST", "/dev/chats/42/callback", `{"data":"like"}`, &a))
	assert.Contains(t, a.Description, "no message with an inline keyboard")

	kb := map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "Like", "callback_data": "like"}}}}
	e.bot("sendMessage", map[string]any{"chat_id": 42, "text": "with buttons", "reply_markup": kb})
	e.bot("sendMessage", map[string]any{"chat_id": 42, "text": "without"})

	a = answer{}
	require.Equal(t, http.StatusAccepted, e.do("POST", "/dev/chats/42/callback?wait=0", `{"data":"like"}`, &a))
	assert.NotEmpty(t, a.CallbackQueryID)
	assert.Contains(t, string(a.Message), `"text":"with buttons"`, "the latest message with a keyboard")
	assert.Nil(t, a.Answer)

	ups := e.updates()
	require.Len(t, ups, 1)
	var q struct {
		ID      string             `json:"id"`
		Data    string             `json:"data"`
		From    struct{ ID int64 } `json:"from"`
		Message struct {
			MessageID int64 `json:"message_id"`
		} `json:"message"`
		ChatInstance string `json:"chat_instance"`
	}
	require.NoError(t, json.Unmarshal(ups[0]["callback_query"], &q))
	assert.Equal(t, a.CallbackQueryID, q.ID)
	assert.Equal(t, "like", q.Data)
	assert.Equal(t, int64(42), q.From.ID)
	assert.Equal(t, int64(1), q.Message.MessageID)
	assert.NotEmpty(t, q.ChatInstance)

	// The bot answers (the fake accepts it: the query is known) and edits.
	e.bot("answerCallbackQuery", map[string]any{"callback_query_id": q.ID, "text": "liked"})
	e.bot("editMessageText", map[string]any{"chat_id": 42, "message_id": 1, "text": "liked!"})

	var view struct {
		Messages        []json.RawMessage `json:"messages"`
		CallbackAnswers []Call            `json:"callback_answers"`
	}
	require.Equal(t, http.StatusOK, e.do("GET", "/dev/chats/42", "", &view))
	require.Len(t, view.Messages, 2)
	assert.Contains(t, string(view.Messages[0]), `"text":"liked!"`, "edits applied")
	assert.Contains(t, string(view.Messages[0]), `"edit_date"`)
	require.Len(t, view.CallbackAnswers, 1)
	assert.Equal(t, `"liked"`, string(view.CallbackAnswers[0].Params["text"]))

	// An explicit message id; an unknown one is a 404.
	a = answer{}
	require.Equal(t, http.StatusAccepted, e.do("POST", "/dev/chats/42/callback?wait=0", `{"data":"x","message_id":2}`, &a))
	assert.Contains(t, string(a.Message), `"text":"without"`)
	require.Equal(t, http.StatusNotFound, e.do("POST", "/dev/chats/42/callback", `{"data":"x","message_id":99}`, &a))
	require.Equal(t, http.StatusBadRequest, e.do("POST", "/dev/chats/42/callback", `{"message_id":1}`, &a))
	assert.Contains(t, a.Description, `"data" is required`)

	var user struct {
		CallbackAnswers []Call `json:"callback_answers"`
	}
	require.Equal(t, http.StatusOK, e.do("GET", "/dev/users/42", "", &user))
	assert.Len(t, user.CallbackAnswers, 1)
}

func TestInlineQuery(t *testing.T) {
	e := newEnv(t)
	var a answer
	require.Equal(t, http.StatusAccepted, e.do("POST", "/dev/users/9007199254740993/inline?wait=0", `{"query":"cats","chat_type":"private"}`, &a))
	require.NotEmpty(t, a.InlineQueryID)
	ups := e.updates()
	require.Len(t, ups, 1)
	assert.Contains(t, string(ups[0]["inline_query"]), `"id":9007199254740993`)
	assert.Contains(t, string(ups[0]["inline_query"]), `"query":"cats"`)
	assert.Contains(t, string(ups[0]["inline_query"]), `"chat_type":"private"`)

	e.bot("answerInlineQuery", map[string]any{"inline_query_id": a.InlineQueryID, "results": []any{}})
	var user struct {
		UserID        json.Number `json:"user_id"`
		InlineAnswers []Call      `json:"inline_answers"`
	}
	require.Equal(t, http.StatusOK, e.do("GET", "/dev/users/9007199254740993", "", &user))
	assert.Equal(t, "9007199254740993", user.UserID.String())
	require.Len(t, user.InlineAnswers, 1)
	assert.Equal(t, strconv.Quote(a.InlineQueryID), string(user.InlineAnswers[0].Params["inline_query_id"]))

	// The answer shows up in the inline endpoint's own answer too.
	require.Equal(t, http.StatusAccepted, e.do("POST", "/dev/users/5/inline?wait=0", `{}`, &a))
	e.bot("answerInlineQuery", map[string]any{"inline_query_id": a.InlineQueryID, "results": []any{}})
	assert.NotNil(t, e.dev.answerOf(e.dev.bots[0], "answerInlineQuery", "inline_query_id", a.InlineQueryID))
}

func TestRawUpdatesAndCalls(t *testing.T) {
	e := newEnv(t)
	var a answer
	require.Equal(t, http.StatusAccepted, e.do("POST", "/dev/updates?wait=0",
		`{"edited_message":{"message_id":1,"date":1,"edit_date":2,"chat":{"id":42,"type":"private"},"text":"x"}}`, &a))
	assert.Equal(t, int64(1), a.UpdateID)
	ups := e.updates()
	require.Len(t, ups, 1)
	assert.Contains(t, ups[0], "edited_message")

	for _, bad := range []string{`{"update_id":5,"message":{}}`, `{}`, `{"a":{},"b":{}}`, `[]`, `nope`} {
		assert.Equal(t, http.StatusBadRequest, e.do("POST", "/dev/updates", bad, &a), bad)
	}

	var calls []Call
	require.Equal(t, http.StatusOK, e.do("GET", "/dev/calls", "", &calls))
	assert.Empty(t, calls, "getUpdates is left out by default")
	require.Equal(t, http.StatusOK, e.do("GET", "/dev/calls?all=true", "", &calls))
	assert.NotEmpty(t, calls)
	require.Equal(t, http.StatusOK, e.do("GET", "/dev/calls?method=getupdates", "", &calls))
	assert.NotEmpty(t, calls)
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	var a answer
	cases := []struct {
		method, path, body string
		code               int
		desc               string
	}{
		{"POST", "/dev/chats/42/messages", `{"txt":"hi"}`, 400, `unknown field "txt"`},
		{"POST", "/dev/chats/42/messages", ``, 400, `"text" is required`},
		{"POST", "/dev/chats/42/messages", `{"text":"a"} {}`, 400, "one JSON object"},
		{"POST", "/dev/chats/abc/messages", `{"text":"hi"}`, 400, "chat_id must be a non-zero integer"},
		{"POST", "/dev/chats/0/messages", `{"text":"hi"}`, 400, "chat_id must be a non-zero integer"},
		{"POST", "/dev/chats/42/messages?wait=soon", `{"text":"hi"}`, 400, "wait must be"},
		{"POST", "/dev/chats/42/messages", `{"text":"hi","from":{"id":"x"}}`, 400, "from.id"},
		{"POST", "/dev/chats/42/messages", `{"text":"hi","reply_to_message_id":7}`, 404, "has no message 7"},
		{"POST", "/dev/chats/42/messages", `{"text":"hi","extra":{"message_id":3}}`, 400, "set by dev mode"},
		{"GET", "/dev/nothing", ``, 404, "GET /dev lists them"},
		{"DELETE", "/dev/chats/42", ``, 405, "not allowed"},
	}
	for _, c := range cases {
		a = answer{}
		assert.Equal(t, c.code, e.do(c.method, c.path, c.body, &a), "%s %s %s", c.method, c.path, c.body)
		assert.False(t, a.OK)
		assert.Contains(t, a.Description, c.desc, "%s %s %s", c.method, c.path, c.body)
	}
}

func TestMessageExtrasAndReplies(t *testing.T) {
	e := newEnv(t)
	var a answer
	require.Equal(t, http.StatusAccepted, e.do("POST", "/dev/chats/42/messages?wait=0", `{"text":"first"}`, &a))
	require.Equal(t, http.StatusAccepted, e.do("POST", "/dev/chats/42/messages?wait=0",
		`{"text":"second","reply_to_message_id":1,"entities":[{"type":"bold","offset":0,"length":6}],"extra":{"photo":[{"file_id":"p","file_unique_id":"u","width":1,"height":1}]}}`, &a))
	assert.Equal(t, int64(2), a.MessageID)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(a.Message, &m))
	assert.Contains(t, string(m["reply_to_message"]), `"text":"first"`)
	assert.JSONEq(t, `[{"type":"bold","offset":0,"length":6}]`, string(m["entities"]))
	assert.Contains(t, string(m["photo"]), `"file_id":"p"`)

	// A message of "extra" fields only.
	require.Equal(t, http.StatusAccepted, e.do("POST", "/dev/chats/-5/messages?wait=0", `{"extra":{"sticker":{"file_id":"s"}}}`, &a))
	require.NoError(t, json.Unmarshal(a.Message, &m))
	assert.Contains(t, string(m["from"]), `"id":1`, "groups are written in by user 1")
	assert.Contains(t, string(m["chat"]), `"type":"group"`)
}

func TestIndexAndRedaction(t *testing.T) {
	e := newEnv(t)
	var idx struct {
		OK        bool       `json:"ok"`
		Endpoints []Endpoint `json:"endpoints"`
	}
	require.Equal(t, http.StatusOK, e.do("GET", "/dev", "", &idx))
	require.Len(t, idx.Endpoints, len(Endpoints))
	assert.Equal(t, "curl -s "+e.srv.URL+`/dev/chats/42/messages -d '{"text":"hello"}'`, idx.Endpoints[0].CurlExample)

	e.dev.OnDelivery(adapter.Trace{UpdateID: 9, Type: "telegram.message", Scope: "chat:1", Status: 200,
		Calls: []adapter.TraceCall{{Method: "sendMessage", Err: errTest("token s3cret leaked")}}})
	assert.NotContains(t, e.out.String(), "s3cret")
	dv, ok := e.dev.Delivered(9)
	require.True(t, ok)
	assert.NotContains(t, dv.Trace+dv.Calls[0].Error, "s3cret")

	help := EndpointsHelp("http://127.0.0.1:8080")
	for _, ep := range Endpoints {
		assert.Contains(t, help, ep.Method+" "+ep.Path)
		assert.Contains(t, help, ep.Curl("http://127.0.0.1:8080"))
	}
	banner := e.dev.Banner("http://x/send")
	assert.NotContains(t, banner, Token)
	assert.Contains(t, banner, "listening on  "+e.srv.URL)
}

type errTest string

func (e errTest) Error() string { return string(e) }

func TestDeliveriesAreBounded(t *testing.T) {
	e := newEnv(t)
	for i := range keepDeliveries + 10 {
		e.dev.OnDelivery(adapter.Trace{UpdateID: int64(i + 1), Type: "telegram.message", Scope: "chat:1"})
	}
	_, ok := e.dev.Delivered(1)
	assert.False(t, ok)
	_, ok = e.dev.Delivered(keepDeliveries + 10)
	assert.True(t, ok)
	var ds []Delivery
	e.do("GET", "/dev/deliveries", "", &ds)
	assert.Len(t, ds, keepDeliveries)
}

// TestSeveralBots: with Bots: 2, ?bot= picks the bot an update is injected
// for, update ids are each bot's own, and a delivery is matched to its
// bot's injection only.
func TestSeveralBots(t *testing.T) {
	out := &lockedBuffer{}
	dev := New(Options{Out: out, Bots: 2})
	r := chi.NewRouter()
	dev.Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	t.Cleanup(dev.Close)
	e := &env{t: t, dev: dev, srv: srv, out: out}

	bots := dev.Bots()
	require.Len(t, bots, 2)
	assert.Equal(t, BotInfo{Name: "bot2", Token: BotToken(2), User: BotUser(2)}, bots[1])
	assert.Same(t, dev.Fake().BotFor(BotToken(2)), dev.bots[1].fake)

	var a struct {
		UpdateID int64 `json:"update_id"`
		Pending  bool  `json:"pending"`
	}
	require.Equal(t, http.StatusAccepted, e.do("POST", "/dev/chats/42/messages?bot=bot2&wait=0", `{"text":"hi"}`, &a))
	assert.Equal(t, 1, dev.bots[1].fake.Pending())
	assert.Equal(t, 0, dev.bots[0].fake.Pending())

	// bot1's delivery of the same update id does not answer bot2's wait.
	var waited struct {
		UpdateID int64     `json:"update_id"`
		Delivery *Delivery `json:"delivery"`
	}
	done := make(chan int)
	go func() { done <- e.do("POST", "/dev/chats/42/messages?bot=bot2&wait=30s", `{"text":"again"}`, &waited) }()
	require.Eventually(t, func() bool { return dev.bots[1].fake.Pending() == 2 }, 5*time.Second, 5*time.Millisecond)
	dev.For("bot1").OnDelivery(adapter.Trace{UpdateID: 2, Type: "telegram.message", Scope: "chat:42", Status: 200})
	dev.For("bot2").OnDelivery(adapter.Trace{UpdateID: 2, Type: "telegram.message", Scope: "chat:42", Status: 204})
	require.Equal(t, http.StatusOK, <-done)
	require.Equal(t, int64(2), waited.UpdateID)
	require.NotNil(t, waited.Delivery)
	assert.Equal(t, 204, waited.Delivery.Status, "bot2's wait answered by bot1's delivery")

	var dvs []Delivery
	require.Equal(t, http.StatusOK, e.do("GET", "/dev/deliveries?bot=bot2", "", &dvs))
	require.Len(t, dvs, 1)
	assert.Equal(t, "bot2", dvs[0].Bot)
	assert.Equal(t, 204, dvs[0].Status)
	assert.Contains(t, out.String(), "bot1: update 2 telegram.message chat:42 -> app 200")
	assert.Contains(t, out.String(), "bot2: update 2 telegram.message chat:42 -> app 204")

	require.Equal(t, http.StatusNotFound, e.do("GET", "/dev/calls?bot=bot3", "", nil))
}
