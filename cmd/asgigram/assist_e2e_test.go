package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// metricValue reads one sample of /metrics (0 when absent); series is the
// name with its labels, as the text format writes it.
func metricValue(t *testing.T, p *proc, series string) float64 {
	t.Helper()
	_, out := get(t, p.baseURL()+"/metrics")
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err, line)
			return f
		}
	}
	return 0
}

// typingCalls returns the sendChatAction calls the fake got for chatID.
func typingCalls(fake *fakeapi.Server, chatID int64) []fakeapi.Call {
	var out []fakeapi.Call
	want := strconv.FormatInt(chatID, 10)
	for _, c := range fake.CallsTo("sendChatAction") {
		if string(c.Params["chat_id"]) == want {
			out = append(out, c)
		}
	}
	return out
}

// answered returns the calls of cs that Telegram answered.
func answered(cs []fakeapi.Call) []fakeapi.Call {
	var out []fakeapi.Call
	for _, c := range cs {
		if c.Status != 0 {
			out = append(out, c)
		}
	}
	return out
}

// waitFor polls cond for up to timeout and reports whether it came true.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cond()
}

// groupMessage is a supergroup message with entities.
func groupMessage(chatID int64, messageID int, text string, entities ...map[string]any) map[string]any {
	m := textMessage(chatID, 5100000001, messageID, text)
	if len(entities) > 0 {
		m["entities"] = entities
	}
	return m
}

// TestTypingWhileTheAppWorks: with typing_after, a message to the bot whose
// delivery takes longer gets "typing" in its chat, again every 4.5 s while
// the app works, and no more once it answered; a group message not
// addressed to the bot and a channel post get none.
func TestTypingWhileTheAppWorks(t *testing.T) {
	fake, apiURL := newFake(t)
	const (
		quick     = 7100000001 // answers after its first typing call
		slow      = 7100000002 // answers after its second
		group     = -1007100000003
		addressed = -1007100000004
		channel   = -1007100000005
	)
	quickDone := make(chan struct{})
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		chat := ev.chatID()
		switch chat {
		case quick:
			if !waitFor(5*time.Second, func() bool { return len(answered(typingCalls(fake, quick))) >= 1 }) {
				t.Errorf("no typing call in chat %d", quick)
			}
			reply(w, map[string]any{"type": "telegram.send_message", "text": "quick"})
			close(quickDone)
			return
		case slow:
			<-quickDone
			if !waitFor(8*time.Second, func() bool { return len(answered(typingCalls(fake, slow))) >= 2 }) {
				t.Errorf("typing was not repeated in chat %d", slow)
			}
			reply(w, map[string]any{"type": "telegram.send_message", "text": "slow"})
			return
		case addressed:
			if !waitFor(5*time.Second, func() bool { return len(answered(typingCalls(fake, addressed))) >= 1 }) {
				t.Errorf("no typing call in chat %d", addressed)
			}
		case group, channel:
			// Long enough for typing_after to pass many times over.
			waitFor(8*time.Second, func() bool { return len(sentTexts(fake, slow)) == 1 })
		}
		w.WriteHeader(http.StatusNoContent)
	})
	fake.AddUpdate("message", textMessage(quick, quick, 1, "hi"))
	fake.AddUpdate("message", textMessage(slow, slow, 1, "hi"))
	fake.AddUpdate("message", groupMessage(group, 1, "hello everyone"))
	fake.AddUpdate("message", groupMessage(addressed, 1, "/start@fake_bot", map[string]any{"type": "bot_command", "offset": 0, "length": 15}))
	fake.AddUpdate("channel_post", map[string]any{
		"message_id": 1, "date": 1781340000, "chat": map[string]any{"id": channel, "type": "channel"}, "text": "news",
	})
	p := startBot(t, apiURL, a.srv.URL, "--typing-after", "100ms")
	// Every delivery finished: every typing loop has ended, and no typing
	// call starts after this.
	eventually(t, 15*time.Second, func() bool {
		return metricValue(t, p, `asgigram_deliveries_total{outcome="ok",status_class="2xx"}`) == 5
	}, "every event delivered and answered")
	require.Equal(t, 5, a.count())
	require.Equal(t, []string{"slow"}, sentTexts(fake, slow))

	qc := typingCalls(fake, quick)
	assert.Len(t, qc, 1, "typing stopped in chat %d once the app answered: its next call was due before the slow chat's second", quick)
	for _, c := range qc {
		assert.JSONEq(t, `"typing"`, string(c.Params["action"]))
	}
	assert.Len(t, typingCalls(fake, slow), 2, "typing_after, then once more 4.5 s later")
	assert.Empty(t, typingCalls(fake, group), "a group message not addressed to the bot")
	assert.Empty(t, typingCalls(fake, channel), "never in a channel")
	assert.NotEmpty(t, typingCalls(fake, addressed), "a command to the bot in a group")
	assert.Equal(t, []string{"quick"}, sentTexts(fake, quick))
	// A call is counted once its answer is in (or it was cut short, as
	// failed), which may be just after the delivery it was for finished.
	counted := func() float64 {
		return metricValue(t, p, `asgigram_typing_calls_total{outcome="sent"}`) + metricValue(t, p, `asgigram_typing_calls_total{outcome="failed"}`)
	}
	eventually(t, 5*time.Second, func() bool { return counted() >= float64(len(fake.CallsTo("sendChatAction"))) }, "every typing call counted")
	assert.Equal(t, float64(len(fake.CallsTo("sendChatAction"))), counted(), "every typing call counted once")
}

// TestTypingNeverDelaysAReply: a typing call that hangs at Telegram holds
// back no call of the app to the same chat.
func TestTypingNeverDelaysAReply(t *testing.T) {
	fake, apiURL := newFake(t)
	const chat = 7200000001
	fake.Fail("sendChatAction", fakeapi.Fault{Delay: 6 * time.Second})
	inFlight := func() bool {
		cs := typingCalls(fake, chat)
		return len(cs) >= 1 && cs[0].Status == 0
	}
	// The handler hands what it saw to the test, which asserts on it: the
	// test must not end (and stop asgigram) while the handler's /send is
	// still waiting for its answer.
	type outcome struct {
		typing      bool // a typing call was in flight before the /send
		send        sent
		stillTyping bool // and still was when the /send was answered
	}
	done := make(chan outcome, 1)
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		var o outcome
		o.typing = waitFor(5*time.Second, inFlight)
		o.send.status, o.send.out, o.send.err = trySend(ev.SendURL, ev.Token, "application/json",
			`{"type":"telegram.send_message","text":"while typing"}`)
		o.stillTyping = inFlight()
		w.WriteHeader(http.StatusNoContent)
		select {
		case done <- o:
		default: // a second delivery of the event; the first one counts
		}
	})
	fake.AddUpdate("message", textMessage(chat, chat, 1, "hi"))
	startBot(t, apiURL, a.srv.URL, "--typing-after", "100ms")
	var o outcome
	select {
	case o = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the app's handler did not finish")
	}
	require.True(t, o.typing, "no typing call in flight")
	require.NoError(t, o.send.err)
	assert.Equal(t, 200, o.send.status, "%s", o.send.out)
	assert.True(t, o.stillTyping, "the reply went while the typing call was still waiting at Telegram")
	assert.Equal(t, []string{"while typing"}, sentTexts(fake, chat))
}

// TestTypingRate: 1,000 slow deliveries at once make no more typing calls
// than typing_rate allows; the others are dropped and counted.
func TestTypingRate(t *testing.T) {
	fake, apiURL := newFake(t)
	const chats = 1000
	release := make(chan struct{})
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		<-release
		w.WriteHeader(http.StatusNoContent)
	})
	for i := range chats {
		id := int64(7300000000 + i)
		fake.AddUpdate("message", textMessage(id, id, 1, "hi"))
	}
	p := startBot(t, apiURL, a.srv.URL, "--typing-after", "100ms", "--typing-rate", "10/s", "--max-concurrency", strconv.Itoa(chats))
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	eventually(t, 15*time.Second, func() bool { return a.count() == chats }, "all deliveries in flight")
	attempts := func() float64 {
		return metricValue(t, p, `asgigram_typing_calls_total{outcome="sent"}`) + metricValue(t, p, `asgigram_typing_calls_total{outcome="dropped"}`)
	}
	eventually(t, 10*time.Second, func() bool { return attempts() >= chats }, "every delivery tried to show typing")
	calls := fake.CallsTo("sendChatAction")
	once.Do(func() { close(release) })

	require.NotEmpty(t, calls)
	span := calls[len(calls)-1].At.Sub(calls[0].At).Seconds()
	budget := 10 + 10*span + 1 // the burst, the rate over the calls' span, one for rounding
	assert.LessOrEqual(t, float64(len(calls)), budget, "%d typing calls in %.2fs", len(calls), span)
	assert.GreaterOrEqual(t, len(calls), 10, "the burst goes at once")
	assert.Positive(t, metricValue(t, p, `asgigram_typing_calls_total{outcome="dropped"}`))
}

// answersTo returns the answerCallbackQuery calls the fake got for id.
func answersTo(fake *fakeapi.Server, id string) []fakeapi.Call {
	var out []fakeapi.Call
	for _, c := range fake.CallsTo("answerCallbackQuery") {
		if string(c.Params["callback_query_id"]) == strconv.Quote(id) {
			out = append(out, c)
		}
	}
	return out
}

// TestCallbackAnswerAfter: with callback_answer_after, a callback query the
// app leaves unanswered is answered once, empty; one it answers is never
// answered by asgigram; an answer that comes after asgigram's is skipped and
// reported as such, in a reply body (the reply goes on) and through /send.
func TestCallbackAnswerAfter(t *testing.T) {
	fake, apiURL := newFake(t)
	const chat = 7400000009
	auto := func(id string) bool {
		for _, c := range answersTo(fake, id) {
			if len(c.Params) == 1 && c.Status == 200 {
				return true
			}
		}
		return false
	}
	var (
		mu      sync.Mutex
		tokens  = map[string]string{}
		sendURL string
	)
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		var id string
		_ = json.Unmarshal(ev.Event["id"], &id)
		mu.Lock()
		tokens[id], sendURL = ev.Token, ev.SendURL
		mu.Unlock()
		switch id {
		case "answered":
			reply(w, map[string]any{"type": "telegram.answer_callback_query", "callback_query_id": id, "text": "done"})
			return
		case "late-body":
			if !waitFor(5*time.Second, func() bool { return auto(id) }) {
				t.Errorf("asgigram did not answer %s", id)
			}
			reply(w, []any{
				map[string]any{"type": "telegram.answer_callback_query", "callback_query_id": id, "text": "too late"},
				map[string]any{"type": "telegram.send_message", "chat_id": chat, "text": "the reply goes on"},
			})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	for i, id := range []string{"unanswered", "answered", "late-body", "late-send"} {
		fake.AddUpdate("callback_query", map[string]any{
			"id": id, "chat_instance": "ci", "data": "x",
			"from": map[string]any{"id": 7400000001 + i, "is_bot": false, "first_name": "U"},
		})
	}
	p := startBot(t, apiURL, a.srv.URL, "--callback-answer-after", "1s")

	eventually(t, 10*time.Second, func() bool { return auto("unanswered") && auto("late-send") }, "asgigram answered the unanswered queries")
	mu.Lock()
	tok, url := tokens["late-send"], sendURL
	mu.Unlock()
	status, out := postSend(t, url, tok, "application/json",
		`{"type":"telegram.answer_callback_query","callback_query_id":"late-send","text":"too late"}`)
	require.Equal(t, 200, status, "a skipped answer is no failure")
	assert.JSONEq(t, `[{"ok":true,"skipped":"callback query already answered by asgigram after callback_answer_after"}]`, string(out["results"]))

	eventually(t, 10*time.Second, func() bool { return len(sentTexts(fake, chat)) == 1 }, "the late body reply carried out past its skipped answer")
	assert.Equal(t, []string{"the reply goes on"}, sentTexts(fake, chat))

	for id, want := range map[string]int{"unanswered": 1, "answered": 1, "late-body": 1, "late-send": 1} {
		assert.Len(t, answersTo(fake, id), want, "answers to %s", id)
	}
	ans := answersTo(fake, "answered")
	require.Len(t, ans, 1)
	assert.JSONEq(t, `"done"`, string(ans[0].Params["text"]), "the app's own answer, never asgigram's")
	assert.Equal(t, float64(1), metricValue(t, p, `asgigram_reply_calls_total{result="skipped"}`))
	assert.Equal(t, float64(3), metricValue(t, p, `asgigram_callback_answers_total{outcome="ok"}`))
	assert.Zero(t, metricValue(t, p, `asgigram_dead_letters_total{kind="reply"}`), "a skipped answer is no dead letter")
}
