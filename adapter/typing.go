package adapter

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"golang.org/x/time/rate"
)

// This file holds typing_after (docs/protocol.md "Typing while the app
// works"): while the delivery of a message addressed to the bot takes
// longer than typing_after, asgigram shows "typing" in its chat.

// TypingEvery is how often the typing action is sent again while the
// application works: Telegram shows it for 5 seconds at most.
const TypingEvery = 4500 * time.Millisecond

// typing runs the typing loops of the deliveries in flight. Its calls go
// around the chats' ordered queues and the pacer, within their own budget:
// a call over the budget is dropped, never queued, so that a reply never
// waits behind one.
type typing struct {
	after, every time.Duration
	budget       *rate.Limiter
	tg           Caller
	log          *slog.Logger
	// onCall, when set, is told of every typing call: sent (with its
	// error) or dropped over the budget.
	onCall func(TypingCall)

	// botID and username name the bot (from getMe), set before the first
	// delivery.
	botID    int64
	username string

	mu sync.Mutex
	// loops holds the loops running, by chat.
	loops map[string]map[*typingLoop]struct{}
}

// TypingCall is one sendChatAction asgigram made (or dropped) for
// Options.TypingAfter.
type TypingCall struct {
	// Scope is the scope key of the delivery it was for.
	Scope string
	// Dropped: the call was over Options.TypingRate and not made.
	Dropped bool
	// Err is the call's failure (logged at debug, nothing else).
	Err error
	// CutShort: the delivery ended while the call was in flight, and the
	// call was given up (Err says so too); its outcome is unknown.
	CutShort bool
}

type typingLoop struct {
	chat string
	stop chan struct{}
	once sync.Once
}

func (l *typingLoop) end() { l.once.Do(func() { close(l.stop) }) }

// newTyping returns the typing loops of a bot, perSecond its budget.
func newTyping(after, every time.Duration, perSecond float64, tg Caller, log *slog.Logger) *typing {
	if every <= 0 {
		every = TypingEvery
	}
	burst := max(1, int(perSecond))
	return &typing{
		after: after, every: every, budget: rate.NewLimiter(rate.Limit(perSecond), burst),
		tg: tg, log: log, loops: make(map[string]map[*typingLoop]struct{}),
	}
}

// begin starts the typing loop of a delivery of ev, when ev is a message
// addressed to the bot. The function returned ends it; it is never nil.
func (t *typing) begin(ev Event) func() {
	if t == nil || ev.Field != "message" {
		return func() {}
	}
	var m addressMessage
	if json.Unmarshal(nested(ev.Raw, "message"), &m) != nil || !m.addressedTo(t.botID, t.username) {
		return func() {}
	}
	params := map[string]any{"chat_id": m.Chat.ID, "action": "typing"}
	if m.MessageThreadID != 0 {
		params["message_thread_id"] = m.MessageThreadID
	}
	if m.BusinessConnectionID != "" {
		params["business_connection_id"] = m.BusinessConnectionID
	}
	l := &typingLoop{chat: strconv.FormatInt(m.Chat.ID, 10), stop: make(chan struct{})}
	t.mu.Lock()
	set := t.loops[l.chat]
	if set == nil {
		set = make(map[*typingLoop]struct{})
		t.loops[l.chat] = set
	}
	set[l] = struct{}{}
	t.mu.Unlock()
	go t.run(l, ev.Scope.Key, params)
	return func() {
		l.end()
		t.mu.Lock()
		defer t.mu.Unlock()
		if set := t.loops[l.chat]; set != nil {
			delete(set, l)
			if len(set) == 0 {
				delete(t.loops, l.chat)
			}
		}
	}
}

// run sends the typing action after t.after, then every t.every, until
// the loop ends.
func (t *typing) run(l *typingLoop, scope string, params map[string]any) {
	wait := time.NewTimer(t.after)
	defer wait.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-wait.C:
		}
		// A timer and the end of the delivery due at once: select picks
		// either, and a call after the end would show "typing" late.
		select {
		case <-l.stop:
			return
		default:
		}
		t.send(l, scope, params)
		wait.Reset(t.every)
	}
}

// send makes one typing call, if the budget allows.
func (t *typing) send(l *typingLoop, scope string, params map[string]any) {
	if !t.budget.Allow() {
		t.log.Debug("typing call dropped: over typing_rate", logScope, scope)
		if t.onCall != nil {
			t.onCall(TypingCall{Scope: scope, Dropped: true})
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), t.every)
	defer cancel()
	// A call still in flight when the delivery ends is given up: it would
	// show "typing" after the reply.
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	_, err := t.tg.Call(ctx, "sendChatAction", params)
	cut := false
	select {
	case <-l.stop:
		cut = err != nil
	default:
	}
	if err != nil && !cut {
		t.log.Debug("typing call failed", logScope, scope, logErr, err)
	}
	if t.onCall != nil {
		t.onCall(TypingCall{Scope: scope, Err: err, CutShort: cut})
	}
}

// appAction ends the loops of chat: the application sent its own chat
// action there.
func (t *typing) appAction(chat string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for l := range t.loops[chat] {
		l.end()
	}
}

// addressMessage is what of a message tells whether it is addressed to the
// bot.
type addressMessage struct {
	Chat struct {
		ID   int64  `json:"id"`
		Type string `json:"type"`
	} `json:"chat"`
	MessageThreadID      int64                               `json:"message_thread_id"`
	BusinessConnectionID string                              `json:"business_connection_id"`
	Text                 string                              `json:"text"`
	Entities             []entity                            `json:"entities"`
	Caption              string                              `json:"caption"`
	CaptionEntities      []entity                            `json:"caption_entities"`
	ReplyToMessage       *struct{ From *struct{ ID int64 } } `json:"reply_to_message"`
}

type entity struct {
	Type   string `json:"type"`
	Offset int    `json:"offset"`
	Length int    `json:"length"`
	User   *struct {
		ID int64 `json:"id"`
	} `json:"user"`
}

// addressedTo reports whether a message is addressed to the bot (botID,
// username without the @): every message of a private chat; in a group or
// supergroup, a command (/x, or /x@username), a mention of @username or of
// the bot's user, or a reply to a message of the bot. Never a channel's.
func (m *addressMessage) addressedTo(botID int64, username string) bool {
	switch m.Chat.Type {
	case "private":
		return true
	case "group", "supergroup":
	default:
		return false
	}
	if r := m.ReplyToMessage; r != nil && r.From != nil && botID != 0 && r.From.ID == botID {
		return true
	}
	return mentions(m.Text, m.Entities, botID, username) || mentions(m.Caption, m.CaptionEntities, botID, username)
}

// mentions reports whether the entities of text hold a command for the bot
// or a mention of it. Offsets and lengths count UTF-16 code units.
func mentions(text string, entities []entity, botID int64, username string) bool {
	if len(entities) == 0 {
		return false
	}
	units := utf16.Encode([]rune(text))
	part := func(e entity) string {
		if e.Offset < 0 || e.Length < 0 || e.Offset+e.Length > len(units) {
			return ""
		}
		return string(utf16.Decode(units[e.Offset : e.Offset+e.Length]))
	}
	for _, e := range entities {
		switch e.Type {
		case "bot_command":
			_, to, named := strings.Cut(part(e), "@")
			if !named || (username != "" && strings.EqualFold(to, username)) {
				return true
			}
		case "mention":
			if username != "" && strings.EqualFold(part(e), "@"+username) {
				return true
			}
		case "text_mention":
			if e.User != nil && botID != 0 && e.User.ID == botID {
				return true
			}
		}
	}
	return false
}
