package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/httpapp"
)

const (
	testSecret = "whsec_ZWNoby1ib3QtdGVzdC1rZXk=" // "echo-bot-test-key"
	testToken  = "scope-token-that-must-never-be-logged"
	chatID     = int64(-1001234567890) // beyond 32 bits, as supergroup ids are
	userID     = int64(7123456789)
)

var testNow = time.Unix(1_750_000_000, 0)

// delivery builds the body asgigram POSTs for one event.
func delivery(t *testing.T, event map[string]any, sendURL string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"scope":     map[string]any{"type": "telegram", "chat": map[string]any{"id": chatID, "type": "supergroup", "title": "t"}},
		"event":     event,
		"update_id": int64(900000001),
		"token":     testToken,
		"send_url":  sendURL,
	})
	require.NoError(t, err)
	return b
}

func textMessage(text string) map[string]any {
	return map[string]any{
		"type":       "telegram.message",
		"message_id": int64(5000000001),
		"date":       1750000000,
		"chat":       map[string]any{"id": chatID, "type": "supergroup", "title": "t"},
		"from":       map[string]any{"id": userID, "is_bot": false, "first_name": "Ada"},
		"text":       text,
	}
}

func sign(t *testing.T, secret, id string, ts int64, body []byte) string {
	t.Helper()
	key, err := ParseSecret(secret)
	require.NoError(t, err)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// post runs one request through the app's handler.
func post(app *App, body []byte, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	app.Handler().ServeHTTP(rec, req)
	return rec
}

func TestRepliesInTheResponseBody(t *testing.T) {
	tests := []struct {
		name  string
		event map[string]any
		want  string
	}{
		{"text is echoed as a reply", textMessage("hello <world> & you"),
			`{"type":"telegram.send_message","text":"echo: hello <world> & you","reply_to_message_id":5000000001}`},
		{"/start greets", textMessage("/start"),
			`{"type":"telegram.send_message","text":"Hello, Ada! I echo every text you send me. Try /later for a reply sent afterwards through /send."}`},
		{"/start@botname with a payload greets", textMessage("/start@echo_bot deep-link"),
			`{"type":"telegram.send_message","text":"Hello, Ada! I echo every text you send me. Try /later for a reply sent afterwards through /send."}`},
		{"another command is echoed", textMessage("/help"),
			`{"type":"telegram.send_message","text":"echo: /help","reply_to_message_id":5000000001}`},
		{"callback query is answered with an array", map[string]any{
			"type":          "telegram.callback_query",
			"id":            "4382bfdwdsb323b2d9",
			"from":          map[string]any{"id": userID, "is_bot": false, "first_name": "Ada"},
			"chat_instance": "-123",
			"data":          "pressed",
		}, `[{"type":"telegram.answer_callback_query","callback_query_id":"4382bfdwdsb323b2d9","text":"got it"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := post(&App{}, delivery(t, tt.event, "http://127.0.0.1:8080/send"), nil)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			assert.JSONEq(t, tt.want, rec.Body.String())

			// The adapter reads the reply as outbound events.
			events, err := adapter.ParseReply(rec.Header().Get("Content-Type"), rec.Body.Bytes())
			require.NoError(t, err)
			assert.Len(t, events, 1)
		})
	}
}

func TestNothingToSendIs204(t *testing.T) {
	photo := textMessage("")
	delete(photo, "text")
	photo["photo"] = []map[string]any{{"file_id": "x", "file_unique_id": "y", "width": 90, "height": 90}}
	edited := textMessage("edited")
	edited["type"] = "telegram.edited_message"
	tests := map[string]map[string]any{
		"non-text message": photo,
		"edited message":   edited,
		"inline query":     {"type": "telegram.inline_query", "id": "1", "from": map[string]any{"id": userID}, "query": "q", "offset": ""},
		"unknown kind":     {"type": "telegram.something_new", "x": 1},
	}
	for name, ev := range tests {
		t.Run(name, func(t *testing.T) {
			rec := post(&App{}, delivery(t, ev, "http://127.0.0.1:8080/send"), nil)
			assert.Equal(t, http.StatusNoContent, rec.Code)
			assert.Empty(t, rec.Body.String())
		})
	}
}

func TestBadRequests(t *testing.T) {
	app := &App{}
	assert.Equal(t, http.StatusBadRequest, post(app, []byte(`not json`), nil).Code)
	assert.Equal(t, http.StatusBadRequest, post(app, []byte(`{"event":"nope"}`), nil).Code)
	assert.Equal(t, http.StatusRequestEntityTooLarge, post(app, bytes.Repeat([]byte(" "), maxEventBody+1), nil).Code)

	rec := httptest.NewRecorder()
	app.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}

func TestSignature(t *testing.T) {
	body := delivery(t, textMessage("hi"), "http://127.0.0.1:8080/send")
	key, err := ParseSecret(testSecret)
	require.NoError(t, err)
	app := &App{Key: key, Now: func() time.Time { return testNow }}
	ts := testNow.Unix()
	headers := func(id string, ts int64, sig string) http.Header {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		h.Set("webhook-signature", sig)
		return h
	}
	good := sign(t, testSecret, "tg-42-900000001", ts, body)

	tests := []struct {
		name   string
		body   []byte
		header http.Header
		want   int
	}{
		{"valid", body, headers("tg-42-900000001", ts, good), http.StatusOK},
		{"valid among several (key rotation)", body, headers("tg-42-900000001", ts, "v1,bm9wZQ== v2,xyz "+good), http.StatusOK},
		{"4 minutes old", body, headers("tg-42-900000001", ts-240, sign(t, testSecret, "tg-42-900000001", ts-240, body)), http.StatusOK},
		{"no headers", body, nil, http.StatusUnauthorized},
		{"wrong key", body, headers("tg-42-900000001", ts, sign(t, "whsec_b3RoZXIta2V5", "tg-42-900000001", ts, body)), http.StatusUnauthorized},
		{"tampered body", bytes.Replace(body, []byte(`"hi"`), []byte(`"ho"`), 1), headers("tg-42-900000001", ts, good), http.StatusUnauthorized},
		{"other id", body, headers("tg-42-900000002", ts, good), http.StatusUnauthorized},
		{"garbage signature", body, headers("tg-42-900000001", ts, "v1,!!!"), http.StatusUnauthorized},
		{"stale timestamp", body, headers("tg-42-900000001", ts-301, sign(t, testSecret, "tg-42-900000001", ts-301, body)), http.StatusUnauthorized},
		{"future timestamp", body, headers("tg-42-900000001", ts+301, sign(t, testSecret, "tg-42-900000001", ts+301, body)), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := post(app, tt.body, tt.header)
			assert.Equal(t, tt.want, rec.Code, rec.Body.String())
		})
	}
}

func TestVerifyWebhook(t *testing.T) {
	// The published Standard Webhooks test vector: any library agrees.
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	require.NoError(t, err)
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	body := []byte(`{"test": 2432232314}`)
	now := time.Unix(1614265330, 0)
	require.NoError(t, VerifyWebhook(key, h, body, now))

	assert.ErrorIs(t, VerifyWebhook(key, h, body, now.Add(5*time.Minute+time.Second)), ErrStaleTimestamp)
	assert.ErrorIs(t, VerifyWebhook(key, h, []byte(`{"test": 2432232315}`), now), ErrNoSignature)
	h.Set("webhook-timestamp", "99999999999999999999")
	assert.ErrorIs(t, VerifyWebhook(key, h, body, now), ErrBadTimestamp)
	h.Del("webhook-id")
	assert.ErrorIs(t, VerifyWebhook(key, h, body, now), ErrMissingHeaders)
}

func TestParseSecret(t *testing.T) {
	key, err := ParseSecret(testSecret)
	require.NoError(t, err)
	assert.Equal(t, []byte("echo-bot-test-key"), key)
	for _, bad := range []string{"ZWNoby1ib3QtdGVzdC1rZXk=", "whsec_", "whsec_not*base64!"} {
		_, err := ParseSecret(bad)
		assert.Error(t, err, bad)
	}
}

// The adapter's own client signs, the example verifies: the two agree.
func TestVerifiesWhatTheAdapterSends(t *testing.T) {
	key, err := ParseSecret(testSecret)
	require.NoError(t, err)
	srv := httptest.NewServer((&App{Key: key}).Handler())
	defer srv.Close()
	body := delivery(t, textMessage("hi"), "http://127.0.0.1:8080/send")
	req := adapter.AppRequest{UpdateID: 900000001, EventType: "telegram.message", WebhookID: "tg-42-900000001", Body: body}

	resp, err := httpapp.NewClient(httpapp.ClientOptions{URL: srv.URL + "/", SecretKey: key}).Deliver(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.Status)
	assert.JSONEq(t, `{"type":"telegram.send_message","text":"echo: hi","reply_to_message_id":5000000001}`, string(resp.Body))

	_, err = httpapp.NewClient(httpapp.ClientOptions{URL: srv.URL + "/", SecretKey: []byte("other-key")}).Deliver(context.Background(), req)
	var de *adapter.DeliveryError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, http.StatusUnauthorized, de.Status)
	assert.Equal(t, 1, de.Attempts, "401 is final, not retried")
}

type sendCall struct {
	method, path, auth, contentType string
	body                            []byte
}

// fakeSend stands in for the adapter's /send: it reports each call on the
// returned channel and answers with status and answer once release is
// closed.
func fakeSend(t *testing.T, status int, answer string, release <-chan struct{}) (*httptest.Server, <-chan sendCall) {
	t.Helper()
	calls := make(chan sendCall, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls <- sendCall{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), b}
		<-release
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, calls
}

func waitCall(t *testing.T, calls <-chan sendCall) sendCall {
	t.Helper()
	select {
	case c := <-calls:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no POST arrived at /send")
		return sendCall{}
	}
}

func TestLaterSendsThroughSend(t *testing.T) {
	release := make(chan struct{})
	send, calls := fakeSend(t, http.StatusOK, `{"ok":true,"results":[{"message_id":5000000002,"chat":{"id":-1001234567890},"text":"this came later via /send"}]}`, release)
	var logs bytes.Buffer
	app := &App{Log: slog.New(slog.NewTextHandler(&logs, nil)), LaterDelay: time.Millisecond}

	// The handler answers while /send cannot have answered yet (release is
	// still open): the reply does not wait for the job.
	rec := post(app, delivery(t, textMessage("/later"), send.URL+"/send"), nil)
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.Empty(t, rec.Body.String())

	c := waitCall(t, calls)
	close(release)
	assert.Equal(t, http.MethodPost, c.method)
	assert.Equal(t, "/send", c.path)
	assert.Equal(t, "Bearer "+testToken, c.auth)
	assert.Equal(t, "application/json", c.contentType)
	assert.JSONEq(t, `{"type":"telegram.send_message","text":"this came later via /send"}`, string(c.body))

	app.Wait()
	out := logs.String()
	assert.Contains(t, out, "/send answered")
	assert.Contains(t, out, "status=200")
	assert.Contains(t, out, "5000000002")
	assert.NotContains(t, out, testToken)
}

func TestLaterLogsARefusal(t *testing.T) {
	release := make(chan struct{})
	close(release)
	send, calls := fakeSend(t, http.StatusGone, `{"ok":false,"description":"scope expired"}`, release)
	var logs bytes.Buffer
	app := &App{Log: slog.New(slog.NewTextHandler(&logs, nil))}

	assert.Equal(t, http.StatusNoContent, post(app, delivery(t, textMessage("/later"), send.URL+"/send"), nil).Code)
	waitCall(t, calls)
	app.Wait()
	out := logs.String()
	assert.Contains(t, out, "level=WARN")
	assert.Contains(t, out, "status=410")
	assert.Contains(t, out, "scope expired")
	assert.NotContains(t, out, testToken)
}

func TestRunRejectsAMalformedSecret(t *testing.T) {
	env := map[string]string{"ECHO_LISTEN": "127.0.0.1:0", "ASGIGRAM_APP_SECRET": "whsec_not*base64!"}
	err := run(context.Background(), func(k string) string { return env[k] }, slog.New(slog.DiscardHandler))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ASGIGRAM_APP_SECRET")
	assert.NotContains(t, err.Error(), "not*base64!")
}

func TestRunServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer // read only after run returned
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(k string) string {
			return map[string]string{"ECHO_LISTEN": "127.0.0.1:0"}[k]
		}, slog.New(slog.NewTextHandler(&logs, nil)))
	}()
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	assert.Contains(t, logs.String(), "requests are not verified")
	assert.Contains(t, logs.String(), "echo bot listening")
}
