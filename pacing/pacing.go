// Package pacing keeps asgigram's outbound Bot API calls inside Telegram's
// rate limits. Every outbound call passes through one Pacer (Wait) before it
// is made, and every 429 answer is reported back to it (RateLimited).
//
// # The limits
//
// Telegram's bot FAQ gives three numbers for messages, and a Pacer keeps each
// with a token bucket (golang.org/x/time/rate):
//
//   - per chat: about 1 message per second, short bursts tolerated
//     (Config.ChatRate, default 1/s, burst Config.ChatBurst, default 3);
//   - per group: 20 messages per minute (Config.GroupRate, default 20/m), on
//     top of the chat rate, for chats whose key is a negative id (basic
//     groups, supergroups, channels) or an "@username" (only channels and
//     supergroups have one). Its burst is ChatBurst too, so a short
//     multi-message reply in a group is not spread over several seconds;
//     sustained traffic stays at the rate;
//   - overall: about 30 messages per second (Config.GlobalRate, default
//     30/s), with a burst of about 50 ms worth of calls, at least 1.
//
// A call takes one token of each bucket that applies to it, and only when
// all of them have one: a call that gives up (its context ends) has taken
// nothing.
//
// # Which calls are paced
//
// Only message sends are held by these limits: the methods the Bot API
// catalogue marks Paced (telegram/catalogue.go; telegram.Paced gives the
// rule and the reasons for its exceptions). One call counts as one message,
// also for sendMediaGroup, copyMessages and forwardMessages, which post
// several (Telegram does not document how they count).
//
// Every other method — answerCallbackQuery, answerInlineQuery, get*, edit*,
// delete*, set*, and those docs/protocol.md "Retries of outbound calls" does not list (ban*, pin*, create*,
// approve*, stopPoll, postStory, ...) — is not a message send: it is never
// queued behind message pacing, nor held by a chat's 429 pause. Telegram
// gives no numbers for them; their own 429s are honoured by the Bot API
// client, and they count towards the global-pause rule below.
//
// # Order
//
// A Pacer decides when a call may go, never in which order: the caller
// brings the calls of one chat one at a time, in their order (asgigram's
// adapter keeps one FIFO per chat for every call, paced or not: see
// adapter/order.go). Calls of one chat that wait at the same time all keep the
// limits, but leave in no promised order. Calls whose chat has its tokens
// wait for the global bucket in one queue, in the order they became ready,
// so a busy chat cannot starve the others. A paced call without a chat
// (chatKey "") is held by the global bucket only.
//
// # 429 answers
//
// RateLimited(chatKey, retryAfter) pauses the paced calls of that chat for
// retryAfter. When 429s hit at least 3 distinct chats within 5 seconds, the
// limit was the global one: everything pauses for the largest of their
// retryAfter. A global pause holds every call, paced or not (a call without
// a chat included), because Telegram's global limit refuses them all.
// Pauses only ever grow: a shorter retryAfter never shortens one.
//
// # Memory
//
// Per-chat state is created when a chat is first seen and dropped once it
// has been idle for a minute (no call waiting, no pause running, buckets
// refilled), so the number of chats ever seen does not grow memory.
//
// # Off
//
// A nil *Pacer (Off) lets every call through at once: pacing=false, for a
// local Bot API server or benchmarks.
package pacing

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/asgigram/asgigram/telegram"
)

// Config sets a Pacer's limits. A zero or invalid field takes its default
// (see DefaultConfig).
type Config struct {
	// ChatRate limits message sends per chat (default 1 per second).
	ChatRate Rate
	// ChatBurst is how many sends a chat may make at once before ChatRate
	// applies (default 3). It is also the group bucket's burst.
	ChatBurst int
	// GroupRate limits message sends per group, supergroup or channel
	// (chatKey negative or "@name"), on top of ChatRate (default 20 per
	// minute).
	GroupRate Rate
	// GlobalRate limits all message sends together (default 30 per second).
	GlobalRate Rate
}

// DefaultConfig returns Telegram's limits from the bot FAQ.
func DefaultConfig() Config {
	return Config{
		ChatRate:   Rate{1, time.Second},
		ChatBurst:  3,
		GroupRate:  Rate{20, time.Minute},
		GlobalRate: Rate{30, time.Second},
	}
}

// withDefaults replaces zero or invalid fields by their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if !c.ChatRate.valid() {
		c.ChatRate = d.ChatRate
	}
	if c.ChatBurst < 1 {
		c.ChatBurst = d.ChatBurst
	}
	if !c.GroupRate.valid() {
		c.GroupRate = d.GroupRate
	}
	if !c.GlobalRate.valid() {
		c.GlobalRate = d.GlobalRate
	}
	return c
}

// ErrDeadline is returned by Wait when its context ended before the call
// could be placed. The error also wraps the context's error.
var ErrDeadline = errors.New("pacing: the call could not be placed before its deadline")

// Off is the disabled pacer: a nil *Pacer lets every call through.
var Off *Pacer

const (
	// idleAfter is how long a chat's state is kept without use.
	idleAfter = time.Minute
	// globalWindow and globalChats: 429s on this many distinct chats within
	// the window mean the global limit was hit.
	globalWindow = 5 * time.Second
	globalChats  = 3
	// minRetryAfter stands in for a missing or zero retry_after.
	minRetryAfter = time.Second
)

// Pacer holds outbound calls until Telegram's limits allow them. It is safe
// for concurrent use. The zero value is not usable: use New (or Off).
type Pacer struct {
	cfg        Config
	groupBurst int
	idle       time.Duration // idleAfter; shorter in tests

	mu          sync.Mutex
	chats       map[string]*chat
	global      *rate.Limiter
	globalQ     queue     // paced calls ready but for the global bucket
	pauseQ      queue     // non-paced calls waiting out a global pause
	pausedUntil time.Time // global pause
	hits        []hit     // recent 429s, for the global-pause rule
	lastSweep   time.Time
}

// chat is the pacing state of one chat.
type chat struct {
	lim         *rate.Limiter
	group       *rate.Limiter // nil unless a group, supergroup or channel
	waiting     int           // paced calls in Wait for this chat
	pausedUntil time.Time
	lastUsed    time.Time
}

type hit struct {
	key        string
	at         time.Time
	retryAfter time.Duration
}

// New returns a Pacer with cfg's limits (zero fields take their defaults).
func New(cfg Config) *Pacer {
	cfg = cfg.withDefaults()
	perSec := cfg.GlobalRate.PerSecond()
	return &Pacer{
		cfg:        cfg,
		groupBurst: cfg.ChatBurst,
		idle:       idleAfter,
		chats:      make(map[string]*chat),
		// About 50 ms worth of calls, so that timer lateness does not
		// lower a high global rate; at least 1.
		global:    rate.NewLimiter(limit(cfg.GlobalRate), max(1, int(perSec/20))),
		lastSweep: time.Now(),
	}
}

func limit(r Rate) rate.Limit { return rate.Limit(r.PerSecond()) }

// Config returns the limits in use, defaults filled in. A nil Pacer
// returns the zero Config.
func (p *Pacer) Config() Config {
	if p == nil {
		return Config{}
	}
	return p.cfg
}

// Paced reports whether method is a message send, held by message pacing,
// as the Bot API catalogue says (telegram.Paced). Method names are
// case-insensitive, as in the Bot API.
func Paced(method string) bool { return telegram.Paced(method) }

// IsGroup reports whether chatKey names a group, supergroup or channel: a
// negative id or an "@username".
func IsGroup(chatKey string) bool {
	return strings.HasPrefix(chatKey, "-") || strings.HasPrefix(chatKey, "@")
}

// Wait blocks until a call of method to chatKey ("" for none) may be made,
// and takes its tokens. Calls that are not message sends (see Paced) return
// at once, unless a global pause runs. It returns an error wrapping both
// ErrDeadline and ctx.Err() when ctx ends first (or had ended already);
// then nothing was taken. A nil Pacer returns nil at once.
func (p *Pacer) Wait(ctx context.Context, method, chatKey string) error {
	if p == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return deadline(err)
	}
	if !Paced(method) {
		return p.waitPause(ctx)
	}
	if chatKey == "" {
		return p.waitGlobal(ctx, nil)
	}

	p.mu.Lock()
	now := time.Now()
	p.sweep(now)
	c := p.chat(chatKey, now)
	c.waiting++ // keeps the chat's state from the sweep
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		c.waiting--
		c.lastUsed = time.Now()
		p.mu.Unlock()
	}()

	for {
		p.mu.Lock()
		now := time.Now()
		d := max(c.pausedUntil.Sub(now), tokenDelay(c.lim, now), tokenDelay(c.group, now))
		p.mu.Unlock()
		if d > 0 {
			if err := sleep(ctx, d); err != nil {
				return deadline(err)
			}
			continue
		}
		err := p.waitGlobal(ctx, c)
		if errors.Is(err, errChatNotReady) {
			continue
		}
		return err
	}
}

// errChatNotReady sends a call back to waiting for its chat: a 429 paused
// the chat while it waited for the global bucket, or another call of the
// chat took the token.
var errChatNotReady = errors.New("pacing: chat not ready")

// waitGlobal queues for the global bucket and takes its token, together
// with the tokens of c (nil for a call without a chat), which are there.
func (p *Pacer) waitGlobal(ctx context.Context, c *chat) error {
	p.mu.Lock()
	t := p.globalQ.push()
	p.mu.Unlock()
	defer p.leave(&p.globalQ, t)

	if err := t.await(ctx); err != nil {
		return err
	}
	for {
		p.mu.Lock()
		now := time.Now()
		if c != nil && (c.pausedUntil.After(now) || tokenDelay(c.lim, now) > 0 || tokenDelay(c.group, now) > 0) {
			// Not this call's turn at the global bucket: let the next one
			// have it while this one waits for its chat again.
			p.mu.Unlock()
			return errChatNotReady
		}
		d := max(p.pausedUntil.Sub(now), tokenDelay(p.global, now))
		if d <= 0 {
			// Every bucket has a token at now: take them all.
			if c != nil {
				allow(c.lim, now)
				allow(c.group, now)
			}
			allow(p.global, now)
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock()
		if err := sleep(ctx, d); err != nil {
			return deadline(err)
		}
	}
}

// waitPause holds a call that is not paced while a global pause runs, in
// the order such calls arrived.
func (p *Pacer) waitPause(ctx context.Context) error {
	p.mu.Lock()
	if p.pauseQ.len() == 0 && !p.pausedUntil.After(time.Now()) {
		p.mu.Unlock()
		return nil
	}
	t := p.pauseQ.push()
	p.mu.Unlock()
	defer p.leave(&p.pauseQ, t)

	if err := t.await(ctx); err != nil {
		return err
	}
	for {
		p.mu.Lock()
		d := time.Until(p.pausedUntil)
		p.mu.Unlock()
		if d <= 0 {
			return nil
		}
		if err := sleep(ctx, d); err != nil {
			return deadline(err)
		}
	}
}

// RateLimited reports a 429 answer with retry_after retryAfter to a call
// for chatKey: that chat's paced calls pause for retryAfter (1s when it is
// 0 or less: Telegram always sends one).
// When 429s hit 3 or more distinct chats within 5 seconds, every call
// pauses for the largest of their retryAfter. A 429 without a chat
// (chatKey "") pauses nothing by itself but counts as one chat for that
// rule. A nil Pacer does nothing.
func (p *Pacer) RateLimited(chatKey string, retryAfter time.Duration) {
	if p == nil {
		return
	}
	if retryAfter <= 0 {
		retryAfter = minRetryAfter
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.sweep(now)
	if chatKey != "" {
		c := p.chat(chatKey, now)
		c.pausedUntil = later(c.pausedUntil, now.Add(retryAfter))
		c.lastUsed = now
	}

	kept := p.hits[:0]
	for _, h := range p.hits {
		if now.Sub(h.at) < globalWindow {
			kept = append(kept, h)
		}
	}
	p.hits = append(kept, hit{key: chatKey, at: now, retryAfter: retryAfter})
	keys := make(map[string]bool, len(p.hits))
	var longest time.Duration
	for _, h := range p.hits {
		keys[h.key] = true
		longest = max(longest, h.retryAfter)
	}
	if len(keys) >= globalChats {
		p.pausedUntil = later(p.pausedUntil, now.Add(longest))
		p.hits = p.hits[:0] // these 429s are spent on this pause
	}
}

// PausedUntil returns when the global pause ends (zero or past: none runs).
func (p *Pacer) PausedUntil() time.Time {
	if p == nil {
		return time.Time{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pausedUntil
}

// RetryAfter estimates how long a new call of method to chatKey would wait
// now, rounded up to whole seconds and at least 1s: a Retry-After for a
// caller refused with ErrDeadline. It counts the pauses and, for a message
// send, the calls waiting for the chat at the chat's (and group's) rate. A
// nil Pacer returns 1s.
func (p *Pacer) RetryAfter(method, chatKey string) time.Duration {
	if p == nil {
		return time.Second
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	d := p.pausedUntil.Sub(now)
	if c := p.chats[chatKey]; c != nil && chatKey != "" && Paced(method) {
		d = max(d, c.pausedUntil.Sub(now))
		n := float64(c.waiting + 1)
		for _, l := range []*rate.Limiter{c.lim, c.group} {
			if l != nil {
				if short := n - l.TokensAt(now); short > 0 {
					d = max(d, time.Duration(short/float64(l.Limit())*float64(time.Second)))
				}
			}
		}
	}
	return max(time.Second, (d + time.Second - 1).Truncate(time.Second))
}

// chat returns the state of key, created if needed. p.mu is held.
func (p *Pacer) chat(key string, now time.Time) *chat {
	c := p.chats[key]
	if c == nil {
		c = &chat{lim: rate.NewLimiter(limit(p.cfg.ChatRate), p.cfg.ChatBurst), lastUsed: now}
		if IsGroup(key) {
			c.group = rate.NewLimiter(limit(p.cfg.GroupRate), p.groupBurst)
		}
		p.chats[key] = c
	}
	return c
}

// sweep drops the state of chats idle for p.idle, at most every p.idle/2.
// A chat is dropped only when nothing waits for it, no pause runs and its
// buckets are full, so dropping it changes nothing. p.mu is held.
func (p *Pacer) sweep(now time.Time) {
	if now.Sub(p.lastSweep) < p.idle/2 {
		return
	}
	p.lastSweep = now
	for key, c := range p.chats {
		if c.waiting == 0 && now.Sub(c.lastUsed) >= p.idle && !c.pausedUntil.After(now) &&
			full(c.lim, now) && full(c.group, now) {
			delete(p.chats, key)
		}
	}
}

func full(l *rate.Limiter, now time.Time) bool {
	return l == nil || l.TokensAt(now) >= float64(l.Burst())
}

// tokenDelay returns how long until l has a token (0: it has one now). It
// computes as l.AllowN does, so AllowN(now, 1) succeeds when it is 0.
func tokenDelay(l *rate.Limiter, now time.Time) time.Duration {
	if l == nil {
		return 0
	}
	tokens := l.TokensAt(now) - 1
	if tokens >= 0 {
		return 0
	}
	return time.Duration((-tokens / float64(l.Limit())) * float64(time.Second))
}

func allow(l *rate.Limiter, now time.Time) {
	if l != nil {
		l.AllowN(now, 1)
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sleep waits for d or until ctx ends, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func deadline(err error) error { return fmt.Errorf("%w: %w", ErrDeadline, err) }

// queue is a FIFO of waiters; the head's turn channel is closed. Its
// methods are called with Pacer.mu held.
type queue struct{ l list.List }

type ticket struct {
	turn chan struct{}
	e    *list.Element
}

func (q *queue) len() int { return q.l.Len() }

// push appends a waiter; it gets its turn at once when the queue was empty.
func (q *queue) push() *ticket {
	t := &ticket{turn: make(chan struct{})}
	t.e = q.l.PushBack(t)
	if q.l.Len() == 1 {
		close(t.turn)
	}
	return t
}

// remove takes t out of the queue (once; later calls do nothing) and, when
// t was the head, gives the next waiter its turn.
func (q *queue) remove(t *ticket) {
	if t.e == nil {
		return
	}
	head := q.l.Front() == t.e
	q.l.Remove(t.e)
	t.e = nil
	if head {
		if f := q.l.Front(); f != nil {
			close(f.Value.(*ticket).turn)
		}
	}
}

// await waits until t heads its queue. It returns an error wrapping
// ErrDeadline and ctx.Err() when ctx ends first.
func (t *ticket) await(ctx context.Context) error {
	select {
	case <-t.turn:
		return nil
	case <-ctx.Done():
		return deadline(ctx.Err())
	}
}

// leave takes t out of q, locking p.mu.
func (p *Pacer) leave(q *queue, t *ticket) {
	p.mu.Lock()
	q.remove(t)
	p.mu.Unlock()
}
