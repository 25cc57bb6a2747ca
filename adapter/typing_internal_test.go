package adapter

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram"
)

func TestAddressedToTheBot(t *testing.T) {
	const botID, username = 777, "Echo_bot"
	tests := []struct {
		name string
		msg  string
		want bool
	}{
		{"private chat, plain text", `{"chat":{"id":5,"type":"private"},"text":"hi"}`, true},
		{"private chat, no text", `{"chat":{"id":5,"type":"private"},"photo":[]}`, true},
		{"channel", `{"chat":{"id":-1005,"type":"channel"},"text":"/start","entities":[{"type":"bot_command","offset":0,"length":6}]}`, false},
		{"group, plain text", `{"chat":{"id":-5,"type":"group"},"text":"hello all"}`, false},
		{"group, command", `{"chat":{"id":-5,"type":"group"},"text":"/start","entities":[{"type":"bot_command","offset":0,"length":6}]}`, true},
		{"supergroup, command for the bot", `{"chat":{"id":-1005,"type":"supergroup"},"text":"/start@echo_bot x","entities":[{"type":"bot_command","offset":0,"length":15}]}`, true},
		{"supergroup, command for another bot", `{"chat":{"id":-1005,"type":"supergroup"},"text":"/start@other_bot","entities":[{"type":"bot_command","offset":0,"length":16}]}`, false},
		{"group, mention", `{"chat":{"id":-5,"type":"group"},"text":"hey @echo_bot","entities":[{"type":"mention","offset":4,"length":9}]}`, true},
		{"group, mention after an emoji (UTF-16 offsets)", `{"chat":{"id":-5,"type":"group"},"text":"😀 @Echo_bot","entities":[{"type":"mention","offset":3,"length":9}]}`, true},
		{"group, mention of another", `{"chat":{"id":-5,"type":"group"},"text":"hey @someone","entities":[{"type":"mention","offset":4,"length":8}]}`, false},
		{"group, mention only as text", `{"chat":{"id":-5,"type":"group"},"text":"hey @echo_bot"}`, false},
		{"group, text_mention of the bot", `{"chat":{"id":-5,"type":"group"},"text":"hey Echo","entities":[{"type":"text_mention","offset":4,"length":4,"user":{"id":777}}]}`, true},
		{"group, text_mention of another", `{"chat":{"id":-5,"type":"group"},"text":"hey Bob","entities":[{"type":"text_mention","offset":4,"length":3,"user":{"id":8}}]}`, false},
		{"group, caption mention", `{"chat":{"id":-5,"type":"group"},"caption":"@echo_bot look","caption_entities":[{"type":"mention","offset":0,"length":9}]}`, true},
		{"group, reply to the bot", `{"chat":{"id":-5,"type":"group"},"text":"yes","reply_to_message":{"from":{"id":777}}}`, true},
		{"group, reply to another", `{"chat":{"id":-5,"type":"group"},"text":"yes","reply_to_message":{"from":{"id":8}}}`, false},
		{"group, entity out of range", `{"chat":{"id":-5,"type":"group"},"text":"hi","entities":[{"type":"mention","offset":1,"length":40}]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m addressMessage
			require.NoError(t, json.Unmarshal([]byte(tt.msg), &m))
			assert.Equal(t, tt.want, m.addressedTo(botID, username))
		})
	}
}

// typingCaller records the typing calls (those with a map of params).
type typingCaller struct {
	mu    sync.Mutex
	chats []string
}

func (c *typingCaller) Call(_ context.Context, method string, params any) (json.RawMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := params.(map[string]any)
	if !ok {
		return json.RawMessage("true"), nil // the application's own call
	}
	c.chats = append(c.chats, method+" "+strconv.FormatInt(p["chat_id"].(int64), 10)+" "+p["action"].(string))
	return json.RawMessage("true"), nil
}

func (c *typingCaller) CallMultipart(context.Context, string, map[string]json.RawMessage, []telegram.FilePart) (json.RawMessage, error) {
	return nil, errors.New("unexpected")
}

func (c *typingCaller) calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.chats...)
}

func messageEvent(t *testing.T, msg string) Event {
	t.Helper()
	raw := json.RawMessage(`{"update_id":1,"message":` + msg + `}`)
	var m Mapper
	ev, err := m.Map(Update{ID: 1, Raw: raw})
	require.NoError(t, err)
	return ev
}

func TestTypingLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c typingCaller
		ty := newTyping(time.Second, 0, 10, &c, slog.New(slog.DiscardHandler))
		end := ty.begin(messageEvent(t, `{"chat":{"id":5,"type":"private"},"text":"hi"}`))
		time.Sleep(999 * time.Millisecond)
		synctest.Wait()
		assert.Empty(t, c.calls(), "nothing before typing_after")
		time.Sleep(time.Millisecond)
		synctest.Wait()
		assert.Equal(t, []string{"sendChatAction 5 typing"}, c.calls())
		time.Sleep(TypingEvery)
		synctest.Wait()
		assert.Len(t, c.calls(), 2, "again every 4.5 s")
		end()
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Len(t, c.calls(), 2, "nothing once the delivery finished")

		for _, msg := range []string{
			`{"chat":{"id":-5,"type":"group"},"text":"hi all"}`,
			`{"chat":{"id":-6,"type":"channel"},"text":"news"}`,
		} {
			end := ty.begin(messageEvent(t, msg))
			time.Sleep(time.Minute)
			synctest.Wait()
			end()
		}
		assert.Len(t, c.calls(), 2, "no typing for a message not addressed to the bot")
	})
}

func TestTypingStopsAtTheAppsOwnChatAction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c typingCaller
		ty := newTyping(time.Second, 0, 10, &c, slog.New(slog.DiscardHandler))
		e := NewExecutor(&c)
		e.chatAction = ty.appAction
		end := ty.begin(messageEvent(t, `{"chat":{"id":5,"type":"private"},"text":"hi"}`))
		defer end()
		time.Sleep(time.Second)
		synctest.Wait()
		require.Len(t, c.calls(), 1)
		_, err := e.Execute(t.Context(), nil, []json.RawMessage{json.RawMessage(`{"type":"telegram.send_chat_action","chat_id":5,"action":"record_voice"}`)})
		require.NoError(t, err)
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Len(t, c.calls(), 1, "the app's own chat action ended asgigram's loop")
	})
}

func TestTypingBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c typingCaller
		ty := newTyping(time.Second, 0, 2, &c, slog.New(slog.DiscardHandler))
		var mu sync.Mutex
		dropped := 0
		ty.onCall = func(tc TypingCall) {
			mu.Lock()
			defer mu.Unlock()
			if tc.Dropped {
				dropped++
			}
		}
		for i := range 5 {
			end := ty.begin(messageEvent(t, `{"chat":{"id":`+strconv.Itoa(100+i)+`,"type":"private"},"text":"hi"}`))
			defer end()
		}
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Len(t, c.calls(), 2, "the burst of 2/s")
		mu.Lock()
		assert.Equal(t, 3, dropped, "the others dropped, not queued")
		mu.Unlock()
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Len(t, c.calls(), 2, "a dropped call is not made later")
	})
}
