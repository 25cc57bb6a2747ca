package devmode

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asgigram/asgigram/httpapp"
)

// Echo is the built-in echo application of dev mode, an ordinary asgigram
// application served in the same process (at EchoPath):
//
//   - a text message is echoed back: "echo: <text>";
//   - /start and /help answer a greeting with an inline keyboard of two
//     buttons (callback_data "like" and "dislike");
//   - a button press (callback query) is answered with answerCallbackQuery
//     ("You pressed like"), and when the message is the bot's own text
//     message, the message is edited to say which button was pressed;
//   - an inline query is answered with one article result that sends
//     "echo: <query>";
//   - every other event gets 204 No Content (nothing to send).
//
// The zero value works; with Key set, every event must carry a valid
// Standard Webhooks signature (401 otherwise).
type Echo struct {
	// Key is the decoded app_secret; nil accepts unsigned events.
	Key []byte
	// Now is the clock for signature timestamps (default time.Now).
	Now func() time.Time

	presses atomic.Int64
}

// Echo's buttons, as the greeting sends them.
var echoKeyboard = map[string]any{
	"inline_keyboard": [][]map[string]string{{
		{"text": "👍 Like", "callback_data": "like"},
		{"text": "👎 Dislike", "callback_data": "dislike"},
	}},
}

// pressedMarker starts the line that Echo appends to a message whose
// button was pressed.
const pressedMarker = "\n\nYou pressed "

// ServeHTTP handles one event POSTed by the adapter.
func (e *Echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	if e.Key != nil {
		if err := e.verify(r.Header, body); err != nil {
			http.Error(w, "invalid signature: "+err.Error(), http.StatusUnauthorized)
			return
		}
	}
	var env struct {
		Event json.RawMessage `json:"event"`
	}
	var head struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &env) != nil || json.Unmarshal(env.Event, &head) != nil {
		http.Error(w, "the body is not an asgigram event", http.StatusBadRequest)
		return
	}
	var out any
	switch head.Type {
	case "telegram.message":
		out = e.onMessage(env.Event)
	case "telegram.callback_query":
		out = e.onCallback(env.Event)
	case "telegram.inline_query":
		out = e.onInline(env.Event)
	}
	if out == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		http.Error(w, "cannot encode the reply", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (e *Echo) onMessage(event json.RawMessage) any {
	var m struct {
		Text string `json:"text"`
		From *struct {
			FirstName string `json:"first_name"`
		} `json:"from"`
	}
	if json.Unmarshal(event, &m) != nil || m.Text == "" {
		return nil // a photo, a sticker, a service message, ...
	}
	switch command(m.Text) {
	case "/start", "/help":
		name := "there"
		if m.From != nil && m.From.FirstName != "" {
			name = m.From.FirstName
		}
		return map[string]any{
			"type":         "telegram.send_message",
			"text":         "Hello, " + name + "! I am asgigram's built-in echo app: send me any text and I echo it. Press a button below, or try an inline query.",
			"reply_markup": echoKeyboard,
		}
	}
	return map[string]any{"type": "telegram.send_message", "text": "echo: " + m.Text}
}

func (e *Echo) onCallback(event json.RawMessage) any {
	var q struct {
		ID      string `json:"id"`
		Data    string `json:"data"`
		Message *struct {
			MessageID int64  `json:"message_id"`
			Date      int64  `json:"date"`
			Text      string `json:"text"`
			From      *struct {
				IsBot bool `json:"is_bot"`
			} `json:"from"`
			ReplyMarkup json.RawMessage `json:"reply_markup"`
		} `json:"message"`
	}
	if json.Unmarshal(event, &q) != nil || q.ID == "" {
		return nil
	}
	n := e.presses.Add(1)
	out := []any{map[string]any{
		"type":              "telegram.answer_callback_query",
		"callback_query_id": q.ID,
		"text":              "You pressed " + q.Data,
	}}
	// The bot's own, accessible text message: show the press in it. The
	// press number keeps a second press of the same button from being
	// "message is not modified".
	if m := q.Message; m != nil && m.Date != 0 && m.Text != "" && m.From != nil && m.From.IsBot {
		base, _, _ := strings.Cut(m.Text, pressedMarker)
		edit := map[string]any{
			"type":       "telegram.edit_message_text",
			"message_id": m.MessageID,
			"text":       fmt.Sprintf("%s%s%s (press #%d)", base, pressedMarker, q.Data, n),
		}
		if len(m.ReplyMarkup) > 0 {
			edit["reply_markup"] = m.ReplyMarkup
		}
		out = append(out, edit)
	}
	return out
}

func (e *Echo) onInline(event json.RawMessage) any {
	var q struct {
		ID    string `json:"id"`
		Query string `json:"query"`
	}
	if json.Unmarshal(event, &q) != nil || q.ID == "" {
		return nil
	}
	title, text := "Echo: "+q.Query, "echo: "+q.Query
	if strings.TrimSpace(q.Query) == "" {
		title, text = "Type something to echo", "echo"
	}
	return map[string]any{
		"type":            "telegram.answer_inline_query",
		"inline_query_id": q.ID,
		"cache_time":      0,
		"is_personal":     true,
		"results": []any{map[string]any{
			"type":                  "article",
			"id":                    "echo",
			"title":                 title,
			"description":           "Send “" + text + "”",
			"input_message_content": map[string]any{"message_text": text},
		}},
	}
}

// verify checks the Standard Webhooks signature of an event.
func (e *Echo) verify(h http.Header, body []byte) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("webhook-id, webhook-timestamp or webhook-signature missing")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp is not a Unix time")
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	if d := now().Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("webhook-timestamp is more than 5 minutes off")
	}
	want, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(httpapp.Sign(e.Key, id, ts, body), "v1,"))
	for _, s := range strings.Fields(sigs) {
		v, b64, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		if got, err := base64.StdEncoding.DecodeString(b64); err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no signature matches")
}

// command returns the bot command a text starts with, without its
// @botname ("/start@bot x" -> "/start"), or "" when it is not a command.
func command(text string) string {
	f := strings.Fields(text)
	if len(f) == 0 || !strings.HasPrefix(f[0], "/") {
		return ""
	}
	c, _, _ := strings.Cut(f[0], "@")
	return c
}
