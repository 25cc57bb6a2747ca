package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// replyResult is the event of an asgigram.reply_result as the app sees it.
type replyResult struct {
	Type     string `json:"type"`
	UpdateID int64  `json:"update_id"`
	OK       bool   `json:"ok"`
	Results  []struct {
		Method      string          `json:"method"`
		OK          bool            `json:"ok"`
		Result      json.RawMessage `json:"result"`
		ErrorCode   int             `json:"error_code"`
		Description string          `json:"description"`
	} `json:"results"`
}

// TestReplyResults: with reply_results, the results of a reply body's calls
// come back as an asgigram.reply_result event in the same scope, right
// after the update and before the scope's next one, signed <webhook-id>-r:
// the real message_id of a sent message, Telegram's error code and
// description of a failed call. The app's reply to it is carried out and
// makes no further result. Both spools.
func TestReplyResults(t *testing.T) {
	for _, spool := range []string{"disk", "memory"} {
		t.Run(spool, func(t *testing.T) {
			fake, apiURL := newFake(t)
			const chat, gone = 7400000101, 7400000199
			fake.ForbidChat(gone, 400, "Bad Request: chat not found")
			a := newApp(t, func(w http.ResponseWriter, ev received) {
				switch {
				case ev.eventType() == "asgigram.reply_result":
					reply(w, map[string]any{"type": "telegram.send_message", "text": "result seen"})
				case ev.text() == "first":
					reply(w, []any{
						map[string]any{"type": "telegram.send_message", "text": "hello"},
						map[string]any{"type": "telegram.send_message", "chat_id": gone, "text": "lost"},
					})
				default:
					w.WriteHeader(http.StatusNoContent)
				}
			})
			fake.AddUpdate("message", textMessage(chat, chat, 1, "first"))
			fake.AddUpdate("message", textMessage(chat, chat, 2, "second"))
			secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a-secret-key-of-32-bytes-length!"))
			flags := []string{"--reply-results", "--app-secret", secret}
			if spool == "memory" {
				flags = append(flags, "--spool", "memory")
			}
			p := startBot(t, apiURL, a.srv.URL, flags...)

			eventually(t, 10*time.Second, func() bool { return a.count() >= 3 }, "the two updates and one result delivered")
			eventually(t, 10*time.Second, func() bool { return len(sentTexts(fake, chat)) == 2 }, "the result's reply carried out")
			evs := a.received()
			require.Len(t, evs, 3, "no result of the result's reply")
			assert.Equal(t, "first", evs[0].text())
			assert.Equal(t, "asgigram.reply_result", evs[1].eventType(), "the result comes right after its update")
			assert.Equal(t, "second", evs[2].text(), "and before the scope's next update")
			assert.Equal(t, fmt.Sprintf("tg-%d-%d", fake.Bot().ID, evs[0].UpdateID), evs[0].Header.Get("webhook-id"))
			assert.Equal(t, evs[0].Header.Get("webhook-id")+"-r", evs[1].Header.Get("webhook-id"))
			assert.Equal(t, "asgigram.reply_result", evs[1].Header.Get("X-Asgigram-Event"))
			assert.Equal(t, evs[0].Scope, evs[1].Scope, "the same scope")
			assert.Equal(t, evs[0].UpdateID, evs[1].UpdateID)

			var rr replyResult
			raw, err := json.Marshal(evs[1].Event)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(raw, &rr))
			assert.Equal(t, evs[0].UpdateID, rr.UpdateID)
			assert.False(t, rr.OK, "a call failed")
			require.Len(t, rr.Results, 2, "%s", raw)
			assert.Equal(t, "sendMessage", rr.Results[0].Method)
			assert.True(t, rr.Results[0].OK)
			var sent struct {
				MessageID int64 `json:"message_id"`
				Text      string
			}
			require.NoError(t, json.Unmarshal(rr.Results[0].Result, &sent))
			msgs := fake.Messages(chat)
			require.NotEmpty(t, msgs)
			var real struct {
				MessageID int64 `json:"message_id"`
			}
			require.NoError(t, json.Unmarshal(msgs[0], &real))
			assert.Equal(t, real.MessageID, sent.MessageID, "the real message_id of the sent message")
			assert.Equal(t, "hello", sent.Text)
			assert.Equal(t, "sendMessage", rr.Results[1].Method)
			assert.False(t, rr.Results[1].OK)
			assert.Equal(t, 400, rr.Results[1].ErrorCode)
			assert.Equal(t, "Bad Request: chat not found", rr.Results[1].Description)
			assert.Equal(t, []string{"hello", "result seen"}, sentTexts(fake, chat))
			assert.Equal(t, 0, p.stop(10*time.Second))
		})
	}
}

// TestReplyResultSurvivesACrash: killed with SIGKILL after a reply's calls
// and before its result was delivered, asgigram delivers the result after
// the restart, first in its scope, without delivering the update again
// (its calls are not made twice).
func TestReplyResultSurvivesACrash(t *testing.T) {
	fake, apiURL := newFake(t)
	const chat = 7400000102
	held := make(chan struct{}, 1)
	release := make(chan struct{})
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		switch {
		case strings.Contains(ev.Path, "run=0") && ev.eventType() == "asgigram.reply_result":
			held <- struct{}{}
			<-release // killed meanwhile
			w.WriteHeader(http.StatusNoContent)
		case ev.text() == "first":
			reply(w, map[string]any{"type": "telegram.send_message", "text": "hello"})
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	fake.AddUpdate("message", textMessage(chat, chat, 1, "first"))
	fake.AddUpdate("message", textMessage(chat, chat, 2, "second"))
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a-secret-key-of-32-bytes-length!"))
	flags := []string{"--reply-results", "--app-secret", secret, "--data-dir", t.TempDir()}
	p := startBot(t, apiURL, a.srv.URL+"/?run=0", flags...)
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the result was not delivered")
	}
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	p.wait(10 * time.Second)
	close(release)
	require.Equal(t, []string{"hello"}, sentTexts(fake, chat), "the reply's call was made before the crash")
	before := a.count()

	p2 := startBot(t, apiURL, a.srv.URL+"/?run=1", flags...)
	eventually(t, 10*time.Second, func() bool { return a.count() >= before+2 }, "the result and the next update delivered after the restart")
	assert.Equal(t, 0, p2.stop(10*time.Second))
	var run1 []received
	for _, ev := range a.received() {
		if strings.Contains(ev.Path, "run=1") {
			run1 = append(run1, ev)
		}
	}
	require.Len(t, run1, 2, "the answered update is not delivered again")
	assert.Equal(t, "asgigram.reply_result", run1[0].eventType(), "the result first in its scope")
	assert.Equal(t, fmt.Sprintf("tg-%d-%d-r", fake.Bot().ID, run1[0].UpdateID), run1[0].Header.Get("webhook-id"))
	assert.Equal(t, "second", run1[1].text())
	var rr replyResult
	raw, err := json.Marshal(run1[0].Event)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &rr))
	require.Len(t, rr.Results, 1, "%s", raw)
	assert.True(t, rr.Results[0].OK)
	assert.Contains(t, string(rr.Results[0].Result), `"text":"hello"`)
	assert.Equal(t, []string{"hello"}, sentTexts(fake, chat), "the calls are not made again")
}
