package adapter

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/asgigram/asgigram/internal/jsonscan"
)

// This file holds callback_answer_after (docs/protocol.md "Spinners that
// stop"): a callback query the application has not answered that long after
// it was fetched is answered by asgigram with an empty answer, so that the
// button stops spinning; an answer of the application that comes later is
// skipped.

// SkippedCallbackAnswer is the result of an answerCallbackQuery call that
// was not made because asgigram had answered the query already (see
// Options.CallbackAnswerAfter).
var SkippedCallbackAnswer = json.RawMessage(`{"ok":true,"skipped":"` + SkippedAnswered + `"}`)

// callbackKeep is how long an answered query id is remembered: Telegram
// refuses an answer to an older query anyway.
const callbackKeep = 5 * time.Minute

// callbacks remembers who answered which callback query.
type callbacks struct {
	after time.Duration
	keep  time.Duration
	// answer makes asgigram's empty answer.
	answer func(ctx context.Context, id string) error
	log    *slog.Logger
	// onAnswered, when set, is called after every answer asgigram made.
	onAnswered func(id string, err error)

	mu sync.Mutex
	// claimed holds the queries answered (or being answered), by whom,
	// and when the entry expires.
	claimed map[string]claim
	// timers holds the queries waiting for callback_answer_after.
	timers    map[string]*time.Timer
	nextSweep time.Time
	stopped   bool
}

type claim struct {
	auto    bool // asgigram answered; else the application
	expires time.Time
}

func newCallbacks(after time.Duration, answer func(context.Context, string) error, log *slog.Logger) *callbacks {
	return &callbacks{
		after: after, keep: max(callbackKeep, 2*after), answer: answer, log: log,
		claimed: make(map[string]claim), timers: make(map[string]*time.Timer),
	}
}

// fetched starts the timer of every callback query among ups, fetched now.
func (c *callbacks) fetched(ups []Update) {
	for _, u := range ups {
		var buf [8]jsonscan.Member
		top, ok := jsonscan.AppendMembers(buf[:0], u.Raw)
		if !ok {
			continue
		}
		q := jsonscan.Last(top, "callback_query")
		if q == nil {
			continue
		}
		id, ok := stringValue(nested(q, "id"))
		if !ok || id == "" {
			continue
		}
		c.schedule(id)
	}
}

// schedule answers query id after c.after unless someone answered it.
func (c *callbacks) schedule(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || c.timers[id] != nil {
		return
	}
	if _, done := c.claimed[id]; done {
		return
	}
	c.timers[id] = time.AfterFunc(c.after, func() { c.fire(id) })
}

// fire answers query id, unless the application did.
func (c *callbacks) fire(id string) {
	c.mu.Lock()
	delete(c.timers, id)
	if _, done := c.claimed[id]; done || c.stopped {
		c.mu.Unlock()
		return
	}
	c.claimLocked(id, true)
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.answer(ctx, id)
	if err != nil {
		c.log.Debug("answering a callback query after callback_answer_after failed", "callback_query_id", id, logErr, err)
	} else {
		c.log.Debug("answered a callback query the application left unanswered (callback_answer_after)", "callback_query_id", id)
	}
	if c.onAnswered != nil {
		c.onAnswered(id, err)
	}
}

// byApp is called before the application's answer to query id is made: it
// reports false when asgigram answered the query already (the call is then
// skipped); else the query counts as answered by the application, and
// asgigram will not answer it.
func (c *callbacks) byApp(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.claimed[id]; ok && cl.auto {
		return false
	}
	c.claimLocked(id, false)
	return true
}

// appFailed is called when the application's answer to query id failed:
// the query is not answered, so asgigram still answers it when its timer
// fires later.
func (c *callbacks) appFailed(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.claimed[id]; ok && !cl.auto {
		delete(c.claimed, id)
	}
}

// claimLocked records an answer to id, and drops the expired entries now
// and then.
func (c *callbacks) claimLocked(id string, auto bool) {
	now := time.Now()
	if now.After(c.nextSweep) {
		for k, cl := range c.claimed {
			if now.After(cl.expires) {
				delete(c.claimed, k)
			}
		}
		c.nextSweep = now.Add(c.keep / 4)
	}
	c.claimed[id] = claim{auto: auto, expires: now.Add(c.keep)}
}

// stop stops every timer: nothing is answered after the adapter stopped.
func (c *callbacks) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	for id, t := range c.timers {
		t.Stop()
		delete(c.timers, id)
	}
}
