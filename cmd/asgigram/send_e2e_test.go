package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// scopesFor starts the binary, delivers one private-chat message and one
// inline query, and returns the chat scope's token, the user scope's token
// and the /send URL.
func scopesFor(t *testing.T, fake *fakeapi.Server, apiURL string, flags ...string) (chatTok, userTok, sendURL string, p *proc) {
	t.Helper()
	a := newApp(t, nil)
	fake.AddUpdate("message", textMessage(6100000001, 6100000001, 1, "hi"))
	fake.AddUpdate("inline_query", map[string]any{
		"id": "iq1", "from": map[string]any{"id": 6200000001, "is_bot": false, "first_name": "U"}, "query": "", "offset": "",
	})
	p = startBot(t, apiURL, a.srv.URL, flags...)
	eventually(t, 10*time.Second, func() bool { return a.count() == 2 }, "both events delivered")
	for _, ev := range a.received() {
		if ev.eventType() == "telegram.message" {
			chatTok = ev.Token
		} else {
			userTok = ev.Token
		}
		sendURL = ev.SendURL
	}
	return chatTok, userTok, sendURL, p
}

// TestSendStatuses pins the status table of docs/protocol.md "/send: replying later" through the binary.
func TestSendStatuses(t *testing.T) {
	fake, apiURL := newFake(t)
	const sendToken = "app-level-send-token-0123456789"
	chatTok, userTok, sendURL, p := scopesFor(t, fake, apiURL, "--send-token", sendToken, "--send-body-limit", "1KiB")
	const blocked = 6100000099
	fake.ForbidChat(blocked, 403, "Forbidden: bot was blocked by the user")
	const js = "application/json"
	msg := `{"type":"telegram.send_message","text":"hello"}`

	tests := []struct {
		name        string
		token       string
		contentType string
		body        string
		status      int
		description string // substring of the description
		check       func(t *testing.T, out map[string]json.RawMessage)
	}{
		{name: "one event, chat_id from the scope", token: chatTok, contentType: js, body: msg, status: 200,
			check: func(t *testing.T, out map[string]json.RawMessage) {
				var res []struct {
					MessageID int64 `json:"message_id"`
					Chat      struct {
						ID int64 `json:"id"`
					} `json:"chat"`
				}
				require.NoError(t, json.Unmarshal(out["results"], &res))
				require.Len(t, res, 1)
				assert.Equal(t, int64(6100000001), res[0].Chat.ID)
				assert.NotZero(t, res[0].MessageID, "the app learns the message_id")
			}},
		{name: "an array, charset ignored", token: chatTok, contentType: "application/json; charset=utf-8",
			body: `[` + msg + `,{"type":"telegram.send_chat_action","action":"typing"}]`, status: 200,
			check: func(t *testing.T, out map[string]json.RawMessage) {
				var res []json.RawMessage
				require.NoError(t, json.Unmarshal(out["results"], &res))
				require.Len(t, res, 2)
				assert.JSONEq(t, "true", string(res[1]))
			}},
		{name: "user scope with chat_id", token: userTok, contentType: js, body: `{"type":"telegram.send_message","chat_id":6200000001,"text":"x"}`, status: 200},
		{name: "send_token with chat_id", token: sendToken, contentType: js, body: `{"type":"telegram.send_message","chat_id":6100000001,"text":"x"}`, status: 200},
		{name: "malformed JSON", token: chatTok, contentType: js, body: `{"type":`, status: 400, description: "malformed JSON"},
		{name: "unknown type", token: chatTok, contentType: js, body: `{"type":"send_message","text":"x"}`, status: 400, description: "unknown event type"},
		{name: "refused method", token: chatTok, contentType: js, body: `{"type":"telegram.log_out"}`, status: 400, description: "refused"},
		{name: "refused getUpdates", token: chatTok, contentType: js, body: `{"type":"telegram.get_updates"}`, status: 400, description: "refused"},
		{name: "refused setWebhook", token: chatTok, contentType: js, body: `{"type":"telegram.set_webhook","url":"https://x"}`, status: 400, description: "refused"},
		{name: "refused deleteWebhook", token: chatTok, contentType: js, body: `{"type":"telegram.delete_webhook"}`, status: 400, description: "refused"},
		{name: "refused close", token: chatTok, contentType: js, body: `{"type":"telegram.close"}`, status: 400, description: "refused"},
		{name: "user scope without chat_id", token: userTok, contentType: js, body: msg, status: 400, description: "user scope"},
		{name: "send_token without chat_id", token: sendToken, contentType: js, body: msg, status: 400, description: "send_token"},
		{name: "no token", token: "", contentType: js, body: msg, status: 401, description: "missing token"},
		{name: "unknown token", token: strings.Repeat("A", 32), contentType: js, body: msg, status: 401, description: "unknown token"},
		{name: "malformed token", token: "nope", contentType: js, body: msg, status: 401, description: "unknown token"},
		{name: "body over the limit", token: chatTok, contentType: js,
			body: `{"type":"telegram.send_message","text":"` + strings.Repeat("x", 2000) + `"}`, status: 413, description: "limit"},
		{name: "text/plain", token: chatTok, contentType: "text/plain", body: msg, status: 415, description: "Content-Type"},
		{name: "multipart without an event part", token: chatTok, contentType: "multipart/form-data; boundary=x", body: "--x--", status: 400, description: `no part named "event"`},
		{name: "telegram refuses", token: chatTok, contentType: js,
			body: fmt.Sprintf(`{"type":"telegram.send_message","chat_id":%d,"text":"x"}`, blocked), status: 502, description: "Forbidden: bot was blocked by the user",
			check: func(t *testing.T, out map[string]json.RawMessage) {
				assert.JSONEq(t, "403", string(out["error_code"]))
			}},
		{name: "array stops at the first failure", token: chatTok, contentType: js,
			body:   fmt.Sprintf(`[%s,{"type":"telegram.send_message","chat_id":%d,"text":"x"},%s]`, msg, blocked, msg),
			status: 502, description: "blocked",
			check: func(t *testing.T, out map[string]json.RawMessage) {
				assert.JSONEq(t, "1", string(out["failed_index"]))
				var res []json.RawMessage
				require.NoError(t, json.Unmarshal(out["results"], &res))
				assert.Len(t, res, 1, "the results so far")
			}},
		{name: "unknown Bot API method comes back from telegram", token: chatTok, contentType: js, body: `{"type":"telegram.frobnicate"}`, status: 502, description: "Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := postSend(t, sendURL, tt.token, tt.contentType, tt.body)
			assert.Equal(t, tt.status, status, "answer %v", out)
			if tt.status == 200 {
				assert.JSONEq(t, "true", string(out["ok"]))
			} else {
				assert.JSONEq(t, "false", string(out["ok"]))
				var d string
				require.NoError(t, json.Unmarshal(out["description"], &d))
				assert.Contains(t, d, tt.description)
			}
			if tt.check != nil {
				tt.check(t, out)
			}
		})
	}
	// The array that failed at index 1 sent its first message and not its third.
	assert.Equal(t, 0, p.stop(20*time.Second))
}

// TestSendOutcomeUnknownIs504: a 5xx after sendMessage was sent is not
// retried (a user must not get a message twice) and answers 504.
func TestSendOutcomeUnknownIs504(t *testing.T) {
	fake, apiURL := newFake(t)
	chatTok, _, sendURL, p := scopesFor(t, fake, apiURL)
	before := len(fake.CallsTo("sendMessage"))
	fake.Fail("sendMessage", fakeapi.Fault{Code: 502, AfterProcessing: true})
	status, out := postSend(t, sendURL, chatTok, "application/json", `{"type":"telegram.send_message","text":"once"}`)
	assert.Equal(t, http.StatusGatewayTimeout, status, "%v", out)
	assert.Len(t, fake.CallsTo("sendMessage"), before+1, "not retried")
	assert.Equal(t, []string{"once"}, sentTexts(fake, 6100000001), "sent exactly once")
	assert.Equal(t, 0, p.stop(20*time.Second))
}

// TestSendExpiredTokenIs410: once its scope is dropped for idleness, a
// token answers 410 while the adapter remembers it.
func TestSendExpiredTokenIs410(t *testing.T) {
	fake, apiURL := newFake(t)
	chatTok, _, sendURL, p := scopesFor(t, fake, apiURL, "--scope-idle-timeout", "1s", "-v")
	// A /send would count as activity: wait for the sweep's log line instead.
	eventually(t, 10*time.Second, func() bool { return strings.Contains(p.out.String(), "dropped idle scopes") }, "the scopes expire")
	status, out := postSend(t, sendURL, chatTok, "application/json", `{"type":"telegram.send_message","text":"x"}`)
	assert.Equal(t, http.StatusGone, status, "%v", out)
	assert.Equal(t, 0, p.stop(20*time.Second))
}
