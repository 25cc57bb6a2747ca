package telegram_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram"
	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// clientToken is the bot token of the tests; its secret part must never
// show up in an error.
const (
	clientToken  = "123456789:AAH-secret_TokenPart-xyz"
	tokenSecret  = "AAH-secret_TokenPart-xyz"
	wrongToken   = "987654321:ZZZ-wrong_SecretPart-abc"
	wrongSecret  = "ZZZ-wrong_SecretPart-abc"
	retryWaitMin = time.Millisecond
	retryWaitMax = 5 * time.Millisecond
)

// fastOptions keep the non-429 backoff in the milliseconds.
func fastOptions() telegram.Options {
	return telegram.Options{
		Timeout:      10 * time.Second,
		PollTimeout:  time.Second,
		RetryMax:     3,
		RetryWaitMin: retryWaitMin,
		RetryWaitMax: retryWaitMax,
	}
}

// counter is a RoundTripper that counts attempts, can fail the first ones
// before anything is written, and reports every response it sees.
type counter struct {
	next      http.RoundTripper
	attempts  atomic.Int32
	failFirst int32 // attempts failing with a dial error, nothing written
	responses chan int
}

func newCounter() *counter {
	t := http.DefaultTransport.(*http.Transport).Clone()
	return &counter{next: t, responses: make(chan int, 64)}
}

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	n := c.attempts.Add(1)
	if n <= c.failFirst {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	resp, err := c.next.RoundTrip(req)
	if err == nil {
		select {
		case c.responses <- resp.StatusCode:
		default:
		}
	}
	return resp, err
}

// env is a fake Bot API behind a real HTTP listener on 127.0.0.1, and a
// client talking to it.
type env struct {
	fake *fakeapi.Server
	srv  *httptest.Server
	rt   *counter
	c    *telegram.Client
}

func newEnv(t *testing.T, opt telegram.Options) *env {
	t.Helper()
	fake := fakeapi.New(fakeapi.Config{Token: clientToken})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	t.Cleanup(fake.Close) // runs first: frees held long polls
	rt := newCounter()
	t.Cleanup(rt.next.(*http.Transport).CloseIdleConnections)
	opt.Transport = rt
	return &env{fake: fake, srv: srv, rt: rt, c: telegram.New(srv.URL, clientToken, opt)}
}

// handlerClient returns a client talking to h (a stand-in for a proxy or a
// misbehaving server), and its attempt counter.
func handlerClient(t *testing.T, h http.Handler, opt telegram.Options) (*telegram.Client, *counter) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	rt := newCounter()
	t.Cleanup(rt.next.(*http.Transport).CloseIdleConnections)
	opt.Transport = rt
	return telegram.New(srv.URL, clientToken, opt), rt
}

// assertNoToken checks that err exists and that no form of it carries a
// token's secret, nor the URL (which holds the token) through errors.As.
func assertNoToken(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%v", err)} {
		for _, secret := range []string{tokenSecret, wrongSecret} {
			assert.NotContains(t, s, secret, "the bot token leaked into an error")
		}
	}
	var ue *url.Error
	assert.False(t, errors.As(err, &ue), "a *url.Error (which holds the URL with the token) is reachable: %v", err)
}

type sentMessage struct {
	MessageID int64 `json:"message_id"`
	Date      int64 `json:"date"`
	Text      string
	Chat      struct {
		ID int64 `json:"id"`
	} `json:"chat"`
	From struct {
		ID    int64 `json:"id"`
		IsBot bool  `json:"is_bot"`
	} `json:"from"`
}

func userMessage(chatID, msgID int64, text string) map[string]any {
	return map[string]any{
		"message_id": msgID, "date": 1700000000, "text": text,
		"chat": map[string]any{"id": chatID, "type": "private", "first_name": "U"},
		"from": map[string]any{"id": chatID, "is_bot": false, "first_name": "U"},
	}
}

func send(chatID int64, text string) map[string]any {
	return map[string]any{"chat_id": chatID, "text": text}
}

func TestCallSendMessageReturnsTheMessage(t *testing.T) {
	e := newEnv(t, fastOptions())
	raw, err := e.c.Call(context.Background(), "sendMessage", send(42, "hello"))
	require.NoError(t, err)

	var m sentMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	assert.Equal(t, int64(1), m.MessageID)
	assert.Equal(t, "hello", m.Text)
	assert.Equal(t, int64(42), m.Chat.ID)
	assert.True(t, m.From.IsBot)
	assert.Equal(t, e.fake.Bot().ID, m.From.ID)
	assert.NotZero(t, m.Date)

	stored := e.fake.Messages(42)
	require.Len(t, stored, 1)
	assert.JSONEq(t, string(stored[0]), string(raw), "the result is the Message the server stored")

	calls := e.fake.CallsTo("sendMessage")
	require.Len(t, calls, 1)
	assert.Equal(t, "42", string(calls[0].Params["chat_id"]))
	assert.Equal(t, `"hello"`, string(calls[0].Params["text"]))
	assert.Equal(t, http.StatusOK, calls[0].Status)
}

func TestCallParamsEncodings(t *testing.T) {
	e := newEnv(t, fastOptions())
	ctx := context.Background()
	_, err := e.c.Call(ctx, "sendMessage", json.RawMessage(`{"chat_id":7,"text":"raw"}`))
	require.NoError(t, err)
	_, err = e.c.Call(ctx, "sendMessage", []byte(`{"chat_id":7,"text":"bytes"}`))
	require.NoError(t, err)
	_, err = e.c.Call(ctx, "getMe", nil)
	require.NoError(t, err)
	_, err = e.c.Call(ctx, "sendMessage", map[string]any{"bad": make(chan int)})
	require.Error(t, err, "unencodable parameters")
	assertNoToken(t, err)

	calls := e.fake.Calls()
	require.Len(t, calls, 3, "nothing sent for unencodable parameters")
	assert.Equal(t, `"raw"`, string(calls[0].Params["text"]))
	assert.Equal(t, `"bytes"`, string(calls[1].Params["text"]))
	assert.Empty(t, calls[2].Params)
}

func TestGetMe(t *testing.T) {
	e := newEnv(t, fastOptions())
	u, raw, err := e.c.GetMe(context.Background())
	require.NoError(t, err)
	bot := e.fake.Bot()
	assert.Equal(t, telegram.User{ID: bot.ID, IsBot: true, FirstName: bot.FirstName, Username: bot.Username}, u)
	var back map[string]any
	require.NoError(t, json.Unmarshal(raw, &back))
	assert.Equal(t, bot.Username, back["username"])
	assert.Len(t, e.fake.CallsTo("getMe"), 1)
}

func updateIDs(t *testing.T, ups []json.RawMessage) []int64 {
	t.Helper()
	ids := make([]int64, len(ups))
	for i, u := range ups {
		var v struct {
			UpdateID int64 `json:"update_id"`
		}
		require.NoError(t, json.Unmarshal(u, &v))
		ids[i] = v.UpdateID
	}
	return ids
}

func TestGetUpdatesReturnsAndConfirms(t *testing.T) {
	e := newEnv(t, fastOptions())
	ctx := context.Background()
	for i := range 3 {
		e.fake.AddUpdate("message", userMessage(42, int64(i+1), fmt.Sprint("m", i)))
	}

	ups, err := e.c.GetUpdates(ctx, 0, 2, 0, nil)
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2}, updateIDs(t, ups), "limit is honoured")
	assert.Zero(t, e.fake.Offset(), "nothing confirmed yet")
	assert.Contains(t, string(ups[0]), `"text":"m0"`)

	ups, err = e.c.GetUpdates(ctx, 3, 100, 0, nil)
	require.NoError(t, err)
	assert.Equal(t, []int64{3}, updateIDs(t, ups))
	assert.Equal(t, int64(3), e.fake.Offset(), "offset 3 confirms updates 1 and 2")
	assert.Equal(t, 1, e.fake.Pending())

	ups, err = e.c.GetUpdates(ctx, 4, 100, 0, nil)
	require.NoError(t, err)
	assert.Empty(t, ups)
	assert.NotNil(t, ups, "an empty list, not nil")
	assert.Equal(t, int64(4), e.fake.Offset())
	assert.Zero(t, e.fake.Pending())

	calls := e.fake.CallsTo("getUpdates")
	require.Len(t, calls, 3)
	_, hasOffset := calls[0].Params["offset"]
	assert.False(t, hasOffset, "offset 0 is left out")
	assert.Equal(t, "2", string(calls[0].Params["limit"]))
	assert.Equal(t, "0", string(calls[0].Params["timeout"]))
	assert.Equal(t, "3", string(calls[1].Params["offset"]))
}

func TestGetUpdatesLongPollTimeoutIsSentInSeconds(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.fake.AddUpdate("message", userMessage(1, 1, "x"))
	ups, err := e.c.GetUpdates(context.Background(), 0, 100, 25*time.Second, nil)
	require.NoError(t, err)
	assert.Len(t, ups, 1, "a pending update ends the poll at once")
	assert.Equal(t, "25", string(e.fake.CallsTo("getUpdates")[0].Params["timeout"]))
}

func TestGetUpdatesAllowedUpdates(t *testing.T) {
	tests := []struct {
		name        string
		allowed     []string
		wantParam   string // "" means absent
		wantAtFake  []string
		presetFirst []string // a list the fake already holds
	}{
		{name: "nil leaves the stored list alone", allowed: nil, wantParam: "", presetFirst: []string{"message"}, wantAtFake: []string{"message"}},
		{name: "empty asks for the default", allowed: []string{}, wantParam: `[]`, presetFirst: []string{"message"}, wantAtFake: nil},
		{name: "list", allowed: []string{"message", "chat_member", "message_reaction"}, wantParam: `["message","chat_member","message_reaction"]`, wantAtFake: []string{"message", "chat_member", "message_reaction"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, fastOptions())
			ctx := context.Background()
			n := 0
			if tt.presetFirst != nil {
				_, err := e.c.GetUpdates(ctx, 0, 100, 0, tt.presetFirst)
				require.NoError(t, err)
				require.Equal(t, tt.presetFirst, e.fake.AllowedUpdates())
				n = 1
			}
			_, err := e.c.GetUpdates(ctx, 0, 100, 0, tt.allowed)
			require.NoError(t, err)
			calls := e.fake.CallsTo("getUpdates")
			require.Len(t, calls, n+1)
			got, ok := calls[n].Params["allowed_updates"]
			if tt.wantParam == "" {
				assert.False(t, ok, "allowed_updates must be left out, got %s", got)
			} else {
				require.True(t, ok, "allowed_updates missing")
				assert.JSONEq(t, tt.wantParam, string(got))
			}
			assert.Equal(t, tt.wantAtFake, e.fake.AllowedUpdates())
		})
	}
}

// bodyOnly429 answers the first call 429 with parameters.retry_after=1 in
// the body and no Retry-After header, then succeeds; it records when each
// call arrived.
type bodyOnly429 struct {
	mu    sync.Mutex
	times []time.Time
	ua    []string
}

func (h *bodyOnly429) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.times = append(h.times, time.Now())
	h.ua = append(h.ua, r.UserAgent())
	n := len(h.times)
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if n == 1 {
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}`))
		return
	}
	_, _ = w.Write([]byte(`{"ok":true,"result":{"message_id":5,"date":1,"chat":{"id":42,"type":"private"},"text":"hi"}}`))
}

func TestTooManyRequestsWaitsRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		method string
		params any
		fake   bool
	}{
		{"sendMessage via fake (body and header)", "sendMessage", send(42, "hi"), true},
		{"getMe via fake (body and header)", "getMe", nil, true},
		{"sendMessage, retry_after only in the body", "sendMessage", send(42, "hi"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs syncBuffer
			opt := fastOptions()
			opt.UserAgent = "asgigram-test/1"
			opt.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			var (
				c     *telegram.Client
				times func() []time.Time
			)
			if tt.fake {
				e := newEnv(t, opt)
				e.fake.Fail(tt.method, fakeapi.Fault{Code: 429, RetryAfter: 1})
				c = e.c
				times = func() []time.Time {
					var ts []time.Time
					for _, call := range e.fake.CallsTo(tt.method) {
						ts = append(ts, call.At)
					}
					if tt.method == "sendMessage" {
						assert.Len(t, e.fake.Messages(42), 1, "sent exactly once")
					}
					return ts
				}
			} else {
				h := &bodyOnly429{}
				c, _ = handlerClient(t, h, opt)
				times = func() []time.Time {
					h.mu.Lock()
					defer h.mu.Unlock()
					assert.Equal(t, []string{"asgigram-test/1", "asgigram-test/1"}, h.ua)
					return append([]time.Time(nil), h.times...)
				}
			}
			_, err := c.Call(context.Background(), tt.method, tt.params)
			require.NoError(t, err)
			ts := times()
			require.Len(t, ts, 2, "one 429, one retry")
			gap := ts[1].Sub(ts[0])
			assert.GreaterOrEqual(t, gap, 900*time.Millisecond, "retry_after=1 was not waited")
			assert.Less(t, gap, 5*time.Second)
			assert.Contains(t, logs.String(), "retrying")
			assert.NotContains(t, logs.String(), tokenSecret, "the token leaked into the log")
		})
	}
}

func TestTooManyRequestsExhaustedIsAnError(t *testing.T) {
	t.Run("429 is retried for sendMessage until RetryMax", func(t *testing.T) {
		e := newEnv(t, fastOptions()) // RetryMax 3
		e.fake.Fail("sendMessage", fakeapi.Fault{Code: 429, Times: 10})
		_, err := e.c.Call(context.Background(), "sendMessage", send(42, "x"))
		assertNoToken(t, err)
		var te *telegram.Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, 429, te.Code)
		assert.False(t, errors.Is(err, telegram.ErrOutcomeUnknown), "a 429 is a refusal")
		assert.Len(t, e.fake.CallsTo("sendMessage"), 4)
		assert.Empty(t, e.fake.Messages(42))
	})
	t.Run("no retries left: *Error carries retry_after", func(t *testing.T) {
		opt := fastOptions()
		opt.RetryMax = -1
		e := newEnv(t, opt)
		e.fake.Fail("sendMessage", fakeapi.Fault{Code: 429, RetryAfter: 7})
		_, err := e.c.Call(context.Background(), "sendMessage", send(42, "x"))
		assertNoToken(t, err)
		var te *telegram.Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, telegram.Error{Method: "sendMessage", Code: 429, Description: "Too Many Requests: retry after 7", RetryAfter: 7}, *te)
		assert.Equal(t, "telegram: sendMessage: 429 Too Many Requests: retry after 7", err.Error())
		assert.Len(t, e.fake.CallsTo("sendMessage"), 1)
	})
}

func TestServerErrorRetriedForSafeMethods(t *testing.T) {
	tests := []struct {
		method string
		code   int
		params func(e *env) any
	}{
		{"getMe", 500, func(*env) any { return nil }},
		{"getMe", 502, func(*env) any { return nil }},
		{"getUpdates", 504, func(*env) any { return map[string]any{"timeout": 0} }},
		{"editMessageText", 502, func(e *env) any {
			_, err := e.c.Call(context.Background(), "sendMessage", send(42, "v1"))
			if err != nil {
				panic(err)
			}
			return map[string]any{"chat_id": 42, "message_id": 1, "text": "v2"}
		}},
		{"answerCallbackQuery", 500, func(e *env) any {
			e.fake.AddUpdate("callback_query", map[string]any{
				"id": "cb1", "from": map[string]any{"id": 42, "is_bot": false, "first_name": "U"},
				"chat_instance": "ci", "data": "a",
			})
			return map[string]any{"callback_query_id": "cb1"}
		}},
		{"sendChatAction", 504, func(*env) any { return map[string]any{"chat_id": 42, "action": "typing"} }},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %d", tt.method, tt.code), func(t *testing.T) {
			e := newEnv(t, fastOptions())
			params := tt.params(e)
			e.fake.Fail(tt.method, fakeapi.Fault{Code: tt.code, Times: 2})
			_, err := e.c.Call(context.Background(), tt.method, params)
			require.NoError(t, err)
			calls := e.fake.CallsTo(tt.method)
			require.Len(t, calls, 3, "two failures, then success")
			assert.Equal(t, []int{tt.code, tt.code, 200}, []int{calls[0].Status, calls[1].Status, calls[2].Status})
		})
	}

	t.Run("getMe, retries exhausted", func(t *testing.T) {
		e := newEnv(t, fastOptions())
		e.fake.Fail("getMe", fakeapi.Fault{Code: 503, Times: 10})
		_, _, err := e.c.GetMe(context.Background())
		assertNoToken(t, err)
		var te *telegram.Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, 503, te.Code)
		assert.Equal(t, "Service Unavailable", te.Description)
		assert.Len(t, e.fake.CallsTo("getMe"), 4, "RetryMax 3")
	})
}

func TestServerErrorNotRetriedForSends(t *testing.T) {
	tests := []struct {
		method          string
		code            int
		afterProcessing bool
	}{
		{"sendMessage", 502, false},
		{"sendMessage", 500, true},
		{"copyMessage", 502, false},
		{"forwardMessage", 502, false},
		{"forwardMessage", 504, true},
		{"sendPhoto", 502, false},
		{"SENDMESSAGE", 502, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %d after=%v", tt.method, tt.code, tt.afterProcessing), func(t *testing.T) {
			e := newEnv(t, fastOptions())
			e.fake.AddUpdate("message", userMessage(5, 1, "source"))
			params := map[string]any{"chat_id": 42, "text": "t", "from_chat_id": 5, "message_id": 1, "photo": "AgAC"}
			e.fake.Fail(tt.method, fakeapi.Fault{Code: tt.code, Times: 5, AfterProcessing: tt.afterProcessing})

			_, err := e.c.Call(context.Background(), tt.method, params)
			assertNoToken(t, err)
			assert.ErrorIs(t, err, telegram.ErrOutcomeUnknown)
			var te *telegram.Error
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tt.code, te.Code)
			assert.Equal(t, tt.method, te.Method)
			assert.Equal(t, http.StatusText(tt.code), te.Description)
			assert.Len(t, e.fake.Calls(), 1, "exactly one call: never repeated")
			assert.Equal(t, int32(1), e.rt.attempts.Load())
			if tt.afterProcessing {
				assert.Len(t, e.fake.Messages(42), 1, "it was carried out, so a retry would have duplicated it")
			} else {
				assert.Empty(t, e.fake.Messages(42))
			}
		})
	}
}

func TestResetAfterProcessing(t *testing.T) {
	tests := []struct {
		method      string
		params      any
		wantUnknown bool
		wantCalls   int
		wantStored  int
	}{
		{"sendMessage", send(42, "once"), true, 1, 1},
		{"copyMessage", map[string]any{"chat_id": 42, "from_chat_id": 5, "message_id": 1}, true, 1, 1},
		{"getMe", nil, false, 2, 0},
		{"editMessageText", map[string]any{"chat_id": 5, "message_id": 1, "text": "x"}, false, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			e := newEnv(t, fastOptions())
			e.fake.AddUpdate("message", userMessage(5, 1, "source"))
			e.fake.Fail(tt.method, fakeapi.Fault{Reset: true, AfterProcessing: true})
			_, err := e.c.Call(context.Background(), tt.method, tt.params)
			calls := e.fake.CallsTo(tt.method)
			if tt.wantUnknown {
				assertNoToken(t, err)
				assert.ErrorIs(t, err, telegram.ErrOutcomeUnknown)
				var te *telegram.Error
				assert.False(t, errors.As(err, &te), "no answer, so no *Error")
			} else if tt.method == "editMessageText" {
				// The message is not the bot's: the retry gets the
				// server's real answer, proving it was retried.
				var te *telegram.Error
				require.ErrorAs(t, err, &te)
				assert.Equal(t, "Bad Request: message can't be edited", te.Description)
				assert.False(t, errors.Is(err, telegram.ErrOutcomeUnknown))
			} else {
				require.NoError(t, err)
			}
			require.Len(t, calls, tt.wantCalls)
			assert.Zero(t, calls[0].Status, "the first call got no answer")
			assert.Len(t, e.fake.Messages(42), tt.wantStored)
		})
	}
}

func TestFailureBeforeWriteIsRetried(t *testing.T) {
	for _, method := range []string{"sendMessage", "copyMessage", "getMe"} {
		t.Run(method, func(t *testing.T) {
			e := newEnv(t, fastOptions())
			e.fake.AddUpdate("message", userMessage(5, 1, "source"))
			e.rt.failFirst = 2
			params := map[string]any{"chat_id": 42, "text": "t", "from_chat_id": 5, "message_id": 1}
			_, err := e.c.Call(context.Background(), method, params)
			require.NoError(t, err)
			assert.Equal(t, int32(3), e.rt.attempts.Load(), "two failed dials, then success")
			assert.Len(t, e.fake.Calls(), 1, "the server saw it once")
			if method != "getMe" {
				assert.Len(t, e.fake.Messages(42), 1)
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens there any more

	for _, method := range []string{"sendMessage", "getMe"} {
		t.Run(method, func(t *testing.T) {
			rt := newCounter()
			opt := fastOptions()
			opt.Transport = rt
			c := telegram.New(addr, clientToken, opt)
			_, err := c.Call(context.Background(), method, send(42, "x"))
			assertNoToken(t, err)
			assert.False(t, errors.Is(err, telegram.ErrOutcomeUnknown), "nothing was sent: %v", err)
			var te *telegram.Error
			assert.False(t, errors.As(err, &te))
			assert.ErrorIs(t, err, syscall.ECONNREFUSED)
			assert.Contains(t, err.Error(), "telegram: "+method)
			assert.Equal(t, int32(4), rt.attempts.Load(), "retried (RetryMax 3), also for %s", method)
		})
	}
}

func TestRefusalsAreNotRetried(t *testing.T) {
	type tc struct {
		name     string
		setup    func(e *env) *telegram.Client
		method   string
		params   any
		code     int
		desc     string
		migrate  int64
		unauth   bool
		recorded int // calls the fake records
	}
	self := func(e *env) *telegram.Client { return e.c }
	tests := []tc{
		{name: "403 blocked", setup: func(e *env) *telegram.Client {
			e.fake.ForbidChat(66, 403, "Forbidden: bot was blocked by the user")
			return e.c
		}, method: "sendMessage", params: send(66, "x"), code: 403, desc: "Forbidden: bot was blocked by the user", recorded: 1},
		{name: "403 on a safe method", setup: func(e *env) *telegram.Client {
			e.fake.ForbidChat(66, 403, "Forbidden: bot was kicked from the group chat")
			return e.c
		}, method: "sendChatAction", params: map[string]any{"chat_id": 66, "action": "typing"}, code: 403, desc: "Forbidden: bot was kicked from the group chat", recorded: 1},
		{name: "400 empty text", setup: self, method: "sendMessage", params: map[string]any{"chat_id": 42}, code: 400, desc: "Bad Request: message text is empty", recorded: 1},
		{name: "400 edit not found", setup: self, method: "editMessageText", params: map[string]any{"chat_id": 42, "message_id": 9, "text": "x"}, code: 400, desc: "Bad Request: message to edit not found", recorded: 1},
		{name: "400 migrated", setup: func(e *env) *telegram.Client {
			e.fake.MigrateChat(-77, -1001234567890)
			return e.c
		}, method: "sendMessage", params: send(-77, "x"), code: 400, desc: "Bad Request: group chat was upgraded to a supergroup chat", migrate: -1001234567890, recorded: 1},
		{name: "401 wrong token", setup: func(e *env) *telegram.Client {
			opt := fastOptions()
			opt.Transport = e.rt
			return telegram.New(e.srv.URL, wrongToken, opt)
		}, method: "getMe", code: 401, desc: "Unauthorized", unauth: true, recorded: 1},
		{name: "401 revoked token", setup: func(e *env) *telegram.Client {
			e.fake.RevokeToken()
			return e.c
		}, method: "sendMessage", params: send(42, "x"), code: 401, desc: "Unauthorized", unauth: true, recorded: 1},
		{name: "404 unknown method", setup: self, method: "noSuchMethod", code: 404, desc: "Not Found: method not found", recorded: 1},
		{name: "404 wrong path", setup: func(e *env) *telegram.Client {
			opt := fastOptions()
			opt.Transport = e.rt
			return telegram.New(e.srv.URL+"/wrong/prefix/", clientToken, opt)
		}, method: "sendMessage", params: send(42, "x"), code: 404, desc: "Not Found", recorded: 0},
		{name: "409 webhook set", setup: func(e *env) *telegram.Client {
			e.fake.SetWebhook("https://example.com/hook")
			return e.c
		}, method: "getUpdates", code: 409, desc: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first", recorded: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, fastOptions())
			c := tt.setup(e)
			_, err := c.Call(context.Background(), tt.method, tt.params)
			assertNoToken(t, err)
			var te *telegram.Error
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tt.code, te.Code)
			assert.Equal(t, tt.desc, te.Description)
			assert.Equal(t, tt.migrate, te.MigrateToChatID)
			assert.Equal(t, tt.method, te.Method)
			assert.Equal(t, fmt.Sprintf("telegram: %s: %d %s", tt.method, tt.code, tt.desc), err.Error())
			assert.Equal(t, tt.unauth, errors.Is(err, telegram.ErrUnauthorized))
			assert.False(t, errors.Is(err, telegram.ErrOutcomeUnknown), "a refusal is a known outcome")
			assert.Equal(t, int32(1), e.rt.attempts.Load(), "not retried")
			assert.Len(t, e.fake.Calls(), tt.recorded)
			assert.Empty(t, e.fake.Messages(42))
		})
	}
}

// echoHandler answers every request with status, content type and body,
// where {path} is replaced by the request's path (with the token in it),
// as careless proxies do.
func echoHandler(status int, contentType, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(strings.ReplaceAll(body, "{path}", r.URL.Path)))
	})
}

func TestUnusualAnswers(t *testing.T) {
	const html = `<html><head><title>502 Bad Gateway</title></head><body>upstream {path} failed</body></html>`
	tests := []struct {
		name        string
		h           http.Handler
		method      string
		code        int
		desc        string // "" means: contains "unexpected response"
		unknown     bool
		wantAttempt int32
		unauth      bool
	}{
		{name: "502 html on sendMessage", h: echoHandler(502, "text/html", html), method: "sendMessage", code: 502, unknown: true, wantAttempt: 1},
		{name: "502 html on getMe", h: echoHandler(502, "text/html", html), method: "getMe", code: 502, wantAttempt: 4},
		{name: "502 empty body on forwardMessage", h: echoHandler(502, "text/plain", ""), method: "forwardMessage", code: 502, unknown: true, wantAttempt: 1},
		{name: "200 garbage on sendMessage", h: echoHandler(200, "text/html", html), method: "sendMessage", code: 502, unknown: true, wantAttempt: 1},
		{name: "200 ok:false without code", h: echoHandler(200, "application/json", `{"ok":false}`), method: "sendMessage", code: 502, unknown: true, wantAttempt: 1},
		{name: "404 html with the path", h: echoHandler(404, "text/html", html), method: "getMe", code: 404, wantAttempt: 1},
		{name: "404 JSON echoing the path", h: echoHandler(404, "application/json", `{"ok":false,"error_code":404,"description":"Not Found: {path}"}`), method: "sendMessage", code: 404, desc: "Not Found: /bot<token>/sendMessage", wantAttempt: 1},
		{name: "401 JSON echoing the path", h: echoHandler(401, "application/json", `{"ok":false,"error_code":401,"description":"Unauthorized: {path}"}`), method: "getMe", code: 401, desc: "Unauthorized: /bot<token>/getMe", wantAttempt: 1, unauth: true},
		{name: "400 JSON echoing the token's part after ':' alone", h: echoHandler(400, "application/json", `{"ok":false,"error_code":400,"description":"Bad Request: secret `+tokenSecret+` is wrong"}`), method: "getMe", code: 400, desc: "Bad Request: secret <token> is wrong", wantAttempt: 1},
		{name: "302 redirect not followed", h: http.RedirectHandler("/elsewhere", http.StatusFound), method: "getMe", code: 302, wantAttempt: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rt := handlerClient(t, tt.h, fastOptions())
			var err error
			assert.NotPanics(t, func() { _, err = c.Call(context.Background(), tt.method, send(42, "x")) })
			assertNoToken(t, err)
			var te *telegram.Error
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tt.code, te.Code)
			if tt.desc == "" {
				assert.Contains(t, te.Description, "unexpected response")
			} else {
				assert.Equal(t, tt.desc, te.Description)
			}
			assert.NotContains(t, te.Description, "<html", "an error page is not copied into the error")
			assert.Equal(t, tt.unknown, errors.Is(err, telegram.ErrOutcomeUnknown))
			assert.Equal(t, tt.unauth, errors.Is(err, telegram.ErrUnauthorized))
			assert.Equal(t, tt.wantAttempt, rt.attempts.Load())
		})
	}
}

func TestContextEndsTooManyRequestsWait(t *testing.T) {
	t.Run("cancel", func(t *testing.T) {
		e := newEnv(t, fastOptions())
		e.fake.Fail("sendMessage", fakeapi.Fault{Code: 429, RetryAfter: 30})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		errc := make(chan error, 1)
		go func() {
			_, err := e.c.Call(ctx, "sendMessage", send(42, "x"))
			errc <- err
		}()
		require.Equal(t, 429, <-e.rt.responses, "the 429 arrived; the client now waits 30 s")
		start := time.Now()
		cancel()
		var err error
		select {
		case err = <-errc:
		case <-time.After(5 * time.Second):
			t.Fatal("cancelling the context did not end the retry_after wait")
		}
		assert.Less(t, time.Since(start), 2*time.Second)
		assertNoToken(t, err)
		assert.ErrorIs(t, err, context.Canceled)
		assert.False(t, errors.Is(err, telegram.ErrOutcomeUnknown), "a 429 refused the call: its outcome is known")
		assert.Len(t, e.fake.CallsTo("sendMessage"), 1)
		assert.Empty(t, e.fake.Messages(42))
	})
	t.Run("deadline", func(t *testing.T) {
		e := newEnv(t, fastOptions())
		e.fake.Fail("sendMessage", fakeapi.Fault{Code: 429, RetryAfter: 30})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.c.Call(ctx, "sendMessage", send(42, "x"))
		assert.Less(t, time.Since(start), 5*time.Second)
		assertNoToken(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.False(t, errors.Is(err, telegram.ErrOutcomeUnknown), "a 429 refused the call: its outcome is known")
		assert.Len(t, e.fake.CallsTo("sendMessage"), 1)
	})
}

func TestContextEndsCallInFlight(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.fake.Fail("sendMessage", fakeapi.Fault{Delay: time.Minute})
	written := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { close(written) },
	})
	errc := make(chan error, 1)
	go func() {
		_, err := e.c.Call(ctx, "sendMessage", send(42, "x"))
		errc <- err
	}()
	<-written
	cancel()
	err := <-errc
	assertNoToken(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, telegram.ErrOutcomeUnknown, "the request was sent: it may have been carried out")
	assert.Equal(t, int32(1), e.rt.attempts.Load())
}

func TestAttemptTimeout(t *testing.T) {
	tests := []struct {
		method      string
		wantUnknown bool
		wantCalls   int
	}{
		{"sendMessage", true, 1},
		{"getMe", false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			opt := fastOptions()
			opt.Timeout = 300 * time.Millisecond
			e := newEnv(t, opt)
			e.fake.Fail(tt.method, fakeapi.Fault{Delay: time.Minute})
			_, err := e.c.Call(context.Background(), tt.method, send(42, "x"))
			if tt.wantUnknown {
				assertNoToken(t, err)
				assert.ErrorIs(t, err, telegram.ErrOutcomeUnknown)
				assert.Empty(t, e.fake.Messages(42))
			} else {
				require.NoError(t, err)
			}
			assert.Len(t, e.fake.CallsTo(tt.method), tt.wantCalls)
		})
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
