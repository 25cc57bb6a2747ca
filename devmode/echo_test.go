package devmode

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/httpapp"
)

// post sends one event body to the echo app and returns the answer.
func postEcho(t *testing.T, e *Echo, body string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, EchoPath, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func event(ev string) string {
	return `{"scope":{"type":"telegram","chat":{"id":42,"type":"private"}},"event":` + ev +
		`,"update_id":1,"token":"tok","send_url":"http://127.0.0.1:8080/send"}`
}

func TestEchoReplies(t *testing.T) {
	e := &Echo{}
	cases := []struct {
		name, event, want string
	}{
		{
			"text is echoed",
			`{"type":"telegram.message","message_id":1,"text":"hi there","chat":{"id":42}}`,
			`{"type":"telegram.send_message","text":"echo: hi there"}`,
		},
		{
			"/start greets with buttons",
			`{"type":"telegram.message","message_id":1,"text":"/start@asgigram_dev_bot","from":{"id":42,"first_name":"Ann"}}`,
			`{"type":"telegram.send_message","text":"Hello, Ann! I am asgigram's built-in echo app: send me any text and I echo it. Press a button below, or try an inline query.",
			  "reply_markup":{"inline_keyboard":[[{"text":"👍 Like","callback_data":"like"},{"text":"👎 Dislike","callback_data":"dislike"}]]}}`,
		},
		{
			"a press on the bot's message: answered, and the message edited",
			`{"type":"telegram.callback_query","id":"99","data":"like","message":{"message_id":5,"date":1,"text":"Hello` + `\n\nYou pressed dislike (press #0)","from":{"id":1,"is_bot":true},"reply_markup":{"inline_keyboard":[[{"text":"x","callback_data":"like"}]]}}}`,
			`[{"type":"telegram.answer_callback_query","callback_query_id":"99","text":"You pressed like"},
			  {"type":"telegram.edit_message_text","message_id":5,"text":"Hello\n\nYou pressed like (press #1)","reply_markup":{"inline_keyboard":[[{"text":"x","callback_data":"like"}]]}}]`,
		},
		{
			"a press on an inaccessible message: answered only",
			`{"type":"telegram.callback_query","id":"100","data":"x","message":{"message_id":5,"date":0,"chat":{"id":42}}}`,
			`[{"type":"telegram.answer_callback_query","callback_query_id":"100","text":"You pressed x"}]`,
		},
		{
			"an inline query gets one article",
			`{"type":"telegram.inline_query","id":"77","query":"cats","offset":""}`,
			`{"type":"telegram.answer_inline_query","inline_query_id":"77","cache_time":0,"is_personal":true,
			  "results":[{"type":"article","id":"echo","title":"Echo: cats","description":"Send “echo: cats”","input_message_content":{"message_text":"echo: cats"}}]}`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := postEcho(t, e, event(c.event), nil)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			assert.JSONEq(t, c.want, rec.Body.String())
		})
	}

	for _, ev := range []string{
		`{"type":"telegram.message","message_id":1,"photo":[]}`,
		`{"type":"telegram.edited_message","message_id":1,"text":"x"}`,
		`{"type":"telegram.some_future_kind"}`,
	} {
		rec := postEcho(t, e, event(ev), nil)
		assert.Equal(t, http.StatusNoContent, rec.Code, ev)
	}
	assert.Equal(t, http.StatusBadRequest, postEcho(t, e, "not json", nil).Code)
}

func TestEchoVerifiesSignatures(t *testing.T) {
	key := []byte("a secret key of dev mode")
	now := time.Unix(1781340000, 0)
	e := &Echo{Key: key, Now: func() time.Time { return now }}
	body := event(`{"type":"telegram.message","message_id":1,"text":"hi"}`)
	signed := func(k []byte, ts time.Time, b string) http.Header {
		sec := strconv.FormatInt(ts.Unix(), 10)
		return http.Header{
			"Webhook-Id":        {"tg-1-1"},
			"Webhook-Timestamp": {sec},
			"Webhook-Signature": {"v1,bm9wZQ== " + httpapp.Sign(k, "tg-1-1", sec, []byte(b))},
		}
	}
	assert.Equal(t, http.StatusOK, postEcho(t, e, body, signed(key, now, body)).Code)
	assert.Equal(t, http.StatusUnauthorized, postEcho(t, e, body, nil).Code, "unsigned")
	assert.Equal(t, http.StatusUnauthorized, postEcho(t, e, body, signed([]byte("other"), now, body)).Code, "wrong key")
	assert.Equal(t, http.StatusUnauthorized, postEcho(t, e, body+" ", signed(key, now, body)).Code, "tampered body")
	assert.Equal(t, http.StatusUnauthorized, postEcho(t, e, body, signed(key, now.Add(-10*time.Minute), body)).Code, "stale")
}
