package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/devmode"
)

// devBase waits for the dev mode banner and returns the local server's URL.
func devBase(t *testing.T, p *proc) string {
	t.Helper()
	re := regexp.MustCompile(`listening on\s+(http://\S+)`)
	var base string
	eventually(t, 10*time.Second, func() bool {
		if m := re.FindStringSubmatch(p.out.String()); m != nil {
			base = m[1]
			return true
		}
		return false
	}, "no banner with the listen address")
	return base
}

// devCall sends a request to a dev endpoint and returns the status and the
// compacted JSON answer.
func devCall(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"), "%s %s: %s", method, url, raw)
	var b bytes.Buffer
	require.NoError(t, json.Compact(&b, raw), "%s", raw)
	return resp.StatusCode, b.Bytes()
}

// devChat is GET /dev/chats/{id}.
type devChat struct {
	Messages []struct {
		MessageID int64  `json:"message_id"`
		Text      string `json:"text"`
	} `json:"messages"`
	CallbackAnswers []json.RawMessage `json:"callback_answers"`
	Calls           []struct {
		Method string `json:"method"`
		Status int    `json:"status"`
	} `json:"calls"`
}

func (c devChat) texts() []string {
	var out []string
	for _, m := range c.Messages {
		out = append(out, m.Text)
	}
	return out
}

func getChat(t *testing.T, base, chatID string) (devChat, []byte) {
	t.Helper()
	code, raw := devCall(t, http.MethodGet, base+"/dev/chats/"+chatID, "")
	require.Equal(t, http.StatusOK, code, "%s", raw)
	var c devChat
	require.NoError(t, json.Unmarshal(raw, &c))
	return c, raw
}

// waitTrace waits for a trace line matching re in the output.
func waitTrace(t *testing.T, p *proc, re string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	eventually(t, 10*time.Second, func() bool { return rx.MatchString(p.out.String()) }, "no trace line matching %s", re)
}

// TestDevModeBuiltInEcho runs "asgigram dev" alone: the built-in echo app
// answers messages, button presses and inline queries, /send works on the
// same server, and SIGTERM ends it with status 0.
func TestDevModeBuiltInEcho(t *testing.T) {
	const sendToken = "dev-send-token-never-printed"
	state := t.TempDir() // where a disk spool would go by default
	p := start(t, []string{"dev", "--listen", "127.0.0.1:0", "--send-token", sendToken}, "XDG_STATE_HOME="+state)
	base := devBase(t, p)
	assert.Contains(t, p.out.String(), "app_url       "+base+devmode.EchoPath)
	assert.Contains(t, p.out.String(), "curl -s "+base+"/dev/chats/42/messages -d ")

	// Fire and forget, then poll the chat until the echo is there.
	code, raw := devCall(t, http.MethodPost, base+"/dev/chats/42/messages?wait=0", `{"text":"hello"}`)
	require.Equal(t, http.StatusAccepted, code, "%s", raw)
	eventually(t, 10*time.Second, func() bool {
		c, _ := getChat(t, base, "42")
		return len(c.Messages) == 1 && c.Messages[0].Text == "echo: hello"
	}, "the echo did not arrive in chat 42")
	waitTrace(t, p, `(?m)^update 1 telegram\.message chat:42 -> app 200 in \S+ -> sendMessage ok$`)

	// /start, waiting for the delivery: the answer carries the reply.
	code, raw = devCall(t, http.MethodPost, base+"/dev/chats/42/messages", `{"text":"/start"}`)
	require.Equal(t, http.StatusOK, code, "%s", raw)
	var sent struct {
		UpdateID int64 `json:"update_id"`
		Message  struct {
			Entities []map[string]any `json:"entities"`
		} `json:"message"`
		Delivery struct {
			Status int    `json:"status"`
			Trace  string `json:"trace"`
		} `json:"delivery"`
		Replies []struct {
			MessageID   int64           `json:"message_id"`
			Text        string          `json:"text"`
			ReplyMarkup json.RawMessage `json:"reply_markup"`
		} `json:"replies"`
	}
	require.NoError(t, json.Unmarshal(raw, &sent))
	assert.Equal(t, int64(2), sent.UpdateID)
	assert.Equal(t, []map[string]any{{"type": "bot_command", "offset": 0.0, "length": 6.0}}, sent.Message.Entities)
	assert.Equal(t, 200, sent.Delivery.Status)
	require.Len(t, sent.Replies, 1)
	assert.Contains(t, sent.Replies[0].Text, "built-in echo app")
	assert.Contains(t, string(sent.Replies[0].ReplyMarkup), `"callback_data":"like"`)

	// A button press is answered, and the message edited.
	code, raw = devCall(t, http.MethodPost, base+"/dev/chats/42/callback", `{"data":"like"}`)
	require.Equal(t, http.StatusOK, code, "%s", raw)
	var pressed struct {
		Message struct {
			MessageID int64  `json:"message_id"`
			Text      string `json:"text"`
		} `json:"message"`
		Answer struct {
			Status int                        `json:"status"`
			Params map[string]json.RawMessage `json:"params"`
		} `json:"answer"`
	}
	require.NoError(t, json.Unmarshal(raw, &pressed))
	assert.Equal(t, sent.Replies[0].MessageID, pressed.Message.MessageID)
	assert.Contains(t, pressed.Message.Text, "You pressed like (press #1)")
	assert.Equal(t, 200, pressed.Answer.Status)
	assert.JSONEq(t, `"You pressed like"`, string(pressed.Answer.Params["text"]))
	waitTrace(t, p, `(?m)^update 3 telegram\.callback_query chat:42 -> app 200 in \S+ -> answerCallbackQuery ok, editMessageText ok$`)
	c, _ := getChat(t, base, "42")
	assert.Len(t, c.CallbackAnswers, 1)
	assert.Equal(t, []string{"echo: hello", pressed.Message.Text}, c.texts(), "edits applied")

	// An inline query is answered with one article.
	code, raw = devCall(t, http.MethodPost, base+"/dev/users/42/inline", `{"query":"cats"}`)
	require.Equal(t, http.StatusOK, code, "%s", raw)
	var inline struct {
		Answer struct {
			Status int `json:"status"`
			Params struct {
				Results []map[string]any `json:"results"`
			} `json:"params"`
		} `json:"answer"`
	}
	require.NoError(t, json.Unmarshal(raw, &inline))
	assert.Equal(t, 200, inline.Answer.Status)
	require.Len(t, inline.Answer.Params.Results, 1)
	assert.Equal(t, "Echo: cats", inline.Answer.Params.Results[0]["title"])
	waitTrace(t, p, `(?m)^update 4 telegram\.inline_query user:42 -> app 200 in \S+ -> answerInlineQuery ok$`)

	// Large ids round-trip: a supergroup and a user id beyond 2^53.
	code, raw = devCall(t, http.MethodPost, base+"/dev/chats/-1001234567890123/messages",
		`{"text":"big","from":{"id":9007199254740993,"first_name":"Big"}}`)
	require.Equal(t, http.StatusOK, code, "%s", raw)
	assert.Contains(t, string(raw), `"id":9007199254740993`)
	c, chatRaw := getChat(t, base, "-1001234567890123")
	assert.Equal(t, []string{"echo: big"}, c.texts())
	assert.Contains(t, string(chatRaw), `"id":-1001234567890123`)
	waitTrace(t, p, `(?m)^update 5 telegram\.message chat:-1001234567890123 -> app 200`)

	// /send is served on the same server.
	req, err := http.NewRequest(http.MethodPost, base+"/send", strings.NewReader(`{"type":"telegram.send_message","chat_id":42,"text":"from a job"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+sendToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	c, _ = getChat(t, base, "42")
	assert.Equal(t, "from a job", c.Messages[len(c.Messages)-1].Text)

	// The calls list and the index answer.
	code, raw = devCall(t, http.MethodGet, base+"/dev/calls?method=sendMessage", "")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, string(raw), `"text":"echo: hello"`)
	code, _ = devCall(t, http.MethodGet, base+"/dev", "")
	require.Equal(t, http.StatusOK, code)

	require.Equal(t, ExitOK, p.stop(10*time.Second))
	entries, err := os.ReadDir(state)
	require.NoError(t, err)
	assert.Empty(t, entries, "dev mode spools in memory: it writes no state")
	out := p.out.String()
	assert.NotContains(t, out, devmode.Token)
	assert.NotContains(t, out, sendToken)
}

// TestDevModeExternalApp runs "asgigram dev APP_URL": events reach the
// application signed, its replies show up in the chat, and failures are
// traced.
func TestDevModeExternalApp(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("dev mode test secret"))
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		switch ev.text() {
		case "refuse":
			http.Error(w, "no", http.StatusBadRequest)
		case "empty":
			reply(w, map[string]any{"type": "telegram.send_message", "text": ""})
		default:
			reply(w, map[string]any{"type": "telegram.send_message", "text": "got: " + ev.text()})
		}
	})
	p := start(t, []string{"dev", a.srv.URL, "--listen", "127.0.0.1:0", "--app-secret", secret})
	base := devBase(t, p)
	assert.Contains(t, p.out.String(), "app_url       "+a.srv.URL+"\n")

	code, raw := devCall(t, http.MethodPost, base+"/dev/chats/7/messages", `{"text":"hi"}`)
	require.Equal(t, http.StatusOK, code, "%s", raw)
	c, _ := getChat(t, base, "7")
	assert.Equal(t, []string{"got: hi"}, c.texts())
	require.Equal(t, 1, a.count())
	ev := a.received()[0]
	assert.Equal(t, "telegram.message", ev.eventType())
	assert.Equal(t, int64(7), ev.chatID())
	assert.Equal(t, base+"/send", ev.SendURL)
	assert.NotEmpty(t, ev.Token)
	assert.Equal(t, "tg-1000000001-1", ev.Header.Get("webhook-id"))
	assert.True(t, strings.HasPrefix(ev.Header.Get("webhook-signature"), "v1,"))
	waitTrace(t, p, `(?m)^update 1 telegram\.message chat:7 -> app 200 in \S+ -> sendMessage ok$`)

	// The app's scope token works on /send.
	req, err := http.NewRequest(http.MethodPost, ev.SendURL, strings.NewReader(`{"type":"telegram.send_message","text":"later"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+ev.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	c, _ = getChat(t, base, "7")
	assert.Equal(t, []string{"got: hi", "later"}, c.texts())

	// Failures, traced.
	_, raw = devCall(t, http.MethodPost, base+"/dev/chats/7/messages", `{"text":"refuse"}`)
	assert.Contains(t, string(raw), `"status":400`)
	waitTrace(t, p, `(?m)^update 2 telegram\.message chat:7 -> app 400 in \S+, gave up after 1 attempt: HTTP 400 Bad Request`)
	_, raw = devCall(t, http.MethodPost, base+"/dev/chats/7/messages", `{"text":"empty"}`)
	assert.Contains(t, string(raw), `"error":"400 Bad Request: message text is empty"`)
	waitTrace(t, p, `(?m)^update 3 telegram\.message chat:7 -> app 200 in \S+ -> sendMessage failed: 400 Bad Request: message text is empty$`)
	c, raw = getChat(t, base, "7")
	assert.Equal(t, []string{"got: hi", "later"}, c.texts())
	require.NotEmpty(t, c.Calls)
	assert.Equal(t, 400, c.Calls[len(c.Calls)-1].Status, "failed calls are listed: %s", raw)

	require.Equal(t, ExitOK, p.stop(10*time.Second))
	assert.NotContains(t, p.out.String(), secret)
	assert.NotContains(t, p.out.String(), ev.Token)
}

// TestDevModeAppUnreachable: a delivery that cannot reach the app is traced
// once its retries are spent, and SIGINT ends dev mode with status 0.
func TestDevModeAppUnreachable(t *testing.T) {
	p := start(t, []string{"dev", "http://127.0.0.1:1/app", "--listen", "127.0.0.1:0", "--app-max-attempts", "2"})
	base := devBase(t, p)
	code, raw := devCall(t, http.MethodPost, base+"/dev/chats/5/messages", `{"text":"anyone?"}`)
	require.Equal(t, http.StatusOK, code, "%s", raw)
	assert.Contains(t, string(raw), `"status":0`)
	waitTrace(t, p, `(?m)^update 1 telegram\.message chat:5 -> app unreachable: .*connection refused \(2 attempts in \S+\)$`)
	require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
	require.Equal(t, ExitOK, p.wait(10*time.Second))
}

// TestDevModeUsage runs Main in process: help and usage errors need no
// server.
func TestDevModeUsage(t *testing.T) {
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := (&Main{Stdout: &stdout, Stderr: &stderr}).Run(context.Background(), args)
		return code, stdout.String(), stderr.String()
	}
	code, help, _ := run("dev", "--help")
	require.Equal(t, ExitOK, code)
	assert.Contains(t, help, "Usage: asgigram dev [APP_URL] [flags]")
	for _, ep := range devmode.Endpoints {
		assert.Contains(t, help, ep.Method+" "+ep.Path)
		assert.Contains(t, help, ep.Curl("http://127.0.0.1:8080"))
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"dev", "http://a/", "http://b/"}, "too many arguments"},
		{[]string{"dev", "http://a/", "--app-url", "http://b/"}, "given twice"},
		{[]string{"dev", "--no-such-flag"}, "unknown flag"},
		{[]string{"dev", "--app-secret", "not-a-secret"}, "app_secret"},
		{[]string{"dev", "ftp://app/"}, "app_url"},
		{[]string{"dev", "--listen", "nowhere"}, "listen"},
		{[]string{"dev", "--app-max-attempts", "0"}, "app_max_attempts"},
	} {
		code, stdout, stderr := run(c.args...)
		assert.Equal(t, ExitConfig, code, "%v", c.args)
		assert.Empty(t, stdout, "%v", c.args)
		assert.Contains(t, stderr, c.want, "%v", c.args)
	}
}

// TestDevModeExplainsNonJSONReply: an app that answers an event as
// text/html is told why nothing was sent.
func TestDevModeExplainsNonJSONReply(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `{"type":"telegram.send_message","text":"hi"}`)
	}))
	defer app.Close()
	p := start(t, []string{"dev", app.URL, "--listen", "127.0.0.1:0"})
	base := devBase(t, p)
	code, raw := devCall(t, http.MethodPost, base+"/dev/chats/5/messages", `{"text":"hello"}`)
	require.Equal(t, http.StatusOK, code, "%s", raw)
	waitTrace(t, p, `(?m)^update 1 telegram\.message chat:5 -> app 200 in \S+ -> nothing to send \(the 44-byte body is text/html; charset=utf-8, not application/json: ignored\)$`)
	require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
	require.Equal(t, ExitOK, p.wait(10*time.Second))
}

// TestDevModeTracesTypingAndCallbackAnswers: with --typing-after and
// --callback-answer-after, dev mode prints a trace line for each typing
// call and for each callback query asgigram answered itself, and shows the
// app's later answer as skipped.
func TestDevModeTracesTypingAndCallbackAnswers(t *testing.T) {
	var started atomic.Pointer[proc] // read by the app's goroutines
	out := func() string { return started.Load().out.String() }
	typed := regexp.MustCompile(`(?m)^typing chat:7 -> sendChatAction ok$`)
	answered := regexp.MustCompile(`(?m)^callback_query \S+ -> no answer from the app after callback_answer_after: answerCallbackQuery ok$`)
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		if ev.eventType() == "telegram.callback_query" {
			var id string
			_ = json.Unmarshal(ev.Event["id"], &id)
			if !waitFor(5*time.Second, func() bool { return answered.MatchString(out()) }) {
				t.Error("no trace line for asgigram's answer")
			}
			reply(w, map[string]any{"type": "telegram.answer_callback_query", "callback_query_id": id, "text": "late"})
			return
		}
		if !waitFor(5*time.Second, func() bool { return typed.MatchString(out()) }) {
			t.Error("no typing trace line")
		}
		reply(w, map[string]any{"type": "telegram.send_message", "text": "done", "reply_markup": map[string]any{
			"inline_keyboard": [][]map[string]any{{{"text": "press", "callback_data": "x"}}},
		}})
	})
	p := start(t, []string{"dev", a.srv.URL, "--listen", "127.0.0.1:0", "--typing-after", "100ms", "--callback-answer-after", "200ms"})
	started.Store(p)
	base := devBase(t, p)

	code, raw := devCall(t, http.MethodPost, base+"/dev/chats/7/messages", `{"text":"think hard"}`)
	require.Equal(t, http.StatusOK, code, "%s", raw)
	waitTrace(t, p, `(?m)^update 1 telegram\.message chat:7 -> app 200 in \S+ -> sendMessage ok$`)

	code, raw = devCall(t, http.MethodPost, base+"/dev/chats/7/callback", `{"data":"x"}`)
	require.Equal(t, http.StatusOK, code, "%s", raw)
	waitTrace(t, p, `(?m)^update 2 telegram\.callback_query chat:7 -> app 200 in \S+ -> answerCallbackQuery skipped \(asgigram had answered the query after callback_answer_after\)$`)
	require.Equal(t, ExitOK, p.stop(10*time.Second))
}

// TestDevModeSeveralBots runs "asgigram dev --bots 3": a message injected
// for bot2 is echoed by bot2 alone, its trace line and delivery say so, and
// bot1 and bot3 did nothing in the chat.
func TestDevModeSeveralBots(t *testing.T) {
	p := start(t, []string{"dev", "--listen", "127.0.0.1:0", "--bots", "3"})
	base := devBase(t, p)
	assert.Contains(t, p.out.String(), "bots          3, bot1 ")

	code, raw := devCall(t, http.MethodPost, base+"/dev/chats/42/messages?bot=bot2", `{"text":"hello"}`)
	require.Equal(t, http.StatusOK, code, "%s", raw)
	var sent struct {
		UpdateID int64 `json:"update_id"`
		Delivery struct {
			Bot   string `json:"bot"`
			Trace string `json:"trace"`
		} `json:"delivery"`
	}
	require.NoError(t, json.Unmarshal(raw, &sent))
	assert.Equal(t, "bot2", sent.Delivery.Bot)
	assert.Regexp(t, `^bot2: update \d+ telegram\.message chat:42 -> app 200 in \S+ -> sendMessage ok$`, sent.Delivery.Trace)
	waitTrace(t, p, `(?m)^bot2: update \d+ telegram\.message chat:42 -> app 200 in \S+ -> sendMessage ok$`)

	code, raw = devCall(t, http.MethodGet, base+"/dev/chats/42?bot=bot2", "")
	require.Equal(t, http.StatusOK, code, "%s", raw)
	var c devChat
	require.NoError(t, json.Unmarshal(raw, &c))
	assert.Equal(t, []string{"echo: hello"}, c.texts(), "bot2's chat 42")
	for _, other := range []string{"bot1", "bot3"} {
		code, raw = devCall(t, http.MethodGet, base+"/dev/chats/42?bot="+other, "")
		require.Equal(t, http.StatusOK, code, "%s", raw)
		var oc devChat
		require.NoError(t, json.Unmarshal(raw, &oc))
		assert.Empty(t, oc.Messages, "%s's chat 42", other)
		assert.Empty(t, oc.Calls, "%s's calls in chat 42", other)
	}
	// Without ?bot= the endpoints are bot1's.
	chat1, _ := getChat(t, base, "42")
	assert.Empty(t, chat1.Messages)

	code, raw = devCall(t, http.MethodGet, base+"/dev/deliveries", "")
	require.Equal(t, http.StatusOK, code, "%s", raw)
	var dvs []struct {
		Bot string `json:"bot"`
	}
	require.NoError(t, json.Unmarshal(raw, &dvs))
	require.Len(t, dvs, 1)
	assert.Equal(t, "bot2", dvs[0].Bot)

	code, raw = devCall(t, http.MethodPost, base+"/dev/chats/42/messages?bot=bot4", `{"text":"hello"}`)
	assert.Equal(t, http.StatusNotFound, code, "%s", raw)
	assert.Contains(t, string(raw), "bot1 to bot3")

	require.Equal(t, ExitOK, p.stop(10*time.Second))
	assert.NotContains(t, p.out.String(), ":DEV-bot-", "a fake bot's token was printed")
}

// TestDevModeSeveralBotsRefusesASharedSendToken: a send_token says which
// bot a /send is for, so --bots 2 with --send-token exits 2.
func TestDevModeSeveralBotsRefusesASharedSendToken(t *testing.T) {
	p := start(t, []string{"dev", "--listen", "127.0.0.1:0", "--bots", "2", "--send-token", "shared-send-token-of-two-bots"})
	require.Equal(t, ExitConfig, p.wait(10*time.Second))
	assert.Contains(t, p.out.String(), "--send-token with --bots 2")
	assert.NotContains(t, p.out.String(), "shared-send-token-of-two-bots")
}
