package adapter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/asgigram/asgigram/internal/backoff"
)

// The lifecycle events (docs/protocol.md "Lifecycle events").
const (
	EventScopeOpened = "asgigram.scope_opened"
	EventScopeClosed = "asgigram.scope_closed"
	EventStartup     = "asgigram.startup"
	EventShutdown    = "asgigram.shutdown"
)

// The reasons of asgigram.scope_closed.
const (
	// CloseIdle: nothing happened in the scope for scope_idle_timeout.
	CloseIdle = "idle"
	// CloseEvicted: a new scope needed its place (max_scopes).
	CloseEvicted = "evicted"
	// CloseShutdown: asgigram stops.
	CloseShutdown = "shutdown"
	// CloseBotBlocked: a my_chat_member update said the bot was removed
	// from the chat or the user blocked it.
	CloseBotBlocked = "bot_blocked"
	// CloseMigrated: the group became a supergroup (new_chat_id).
	CloseMigrated = "migrated"
)

// lifecycle delivers the lifecycle events: once, best effort, never
// spooled; a failure is logged, not kept as a dead letter (scopes live in
// memory only, so there would be nothing consistent to replay it into).
type lifecycle struct {
	// app receives the scope events (app_url), proc startup and shutdown
	// (lifecycle_url); each request is made once.
	app, proc      App
	sendURL        string
	startupTimeout time.Duration
	log            *slog.Logger
	onTrace        func(Trace)
	reg            *Registry
	sem            chan struct{} // bounds the lifecycle POSTs in flight

	// Set by Run before any scope exists.
	ctx   context.Context // ends with the shutdown grace
	botID int64
	bot   json.RawMessage // getMe's User
	start int64           // process start, unix ms: the startup/shutdown webhook-id

	closes sync.WaitGroup // scope_closed deliveries in flight
}

func newLifecycle(opt Options, reg *Registry) *lifecycle {
	l := &lifecycle{
		app: opt.ScopeEventsApp, proc: opt.LifecycleApp,
		sendURL: opt.SendURL, startupTimeout: opt.StartupTimeout,
		log: opt.Logger, onTrace: opt.OnLifecycle, reg: reg,
		sem: make(chan struct{}, opt.MaxConcurrency),
		ctx: context.Background(), start: time.Now().UnixMilli(),
	}
	if l.app == nil {
		l.app = opt.App
	}
	if l.proc == nil {
		l.proc = l.app
	}
	// One count per scope key seen since start (the n of the webhook-ids):
	// a few dozen bytes per chat, for the life of the process.
	reg.opens = make(map[string]int)
	reg.closing = make(map[string]<-chan struct{})
	reg.closed = l.closed
	return l
}

// acquire takes ev's scope for one delivery: in flight in the registry and
// its delivery lock held. With lifecycle events it sends scope_opened
// first when the scope is new, after the previous scope of the key was
// closed. It returns nil when ctx ended meanwhile.
func (a *Adapter) acquire(ctx context.Context, ev Event) *Scope {
	for {
		s := a.reg.Acquire(ev.Scope)
		s.delivering.Lock()
		l := a.life
		if l == nil {
			return s
		}
		if s.gone {
			// Closed while this delivery waited for it: the key's next
			// scope takes the event.
			s.delivering.Unlock()
			a.reg.Release(s)
			continue
		}
		s.lastScope = ev.Scope.JSON
		if s.opened {
			return s
		}
		if s.after != nil {
			select {
			case <-s.after:
			case <-ctx.Done():
				s.delivering.Unlock()
				a.reg.Release(s)
				return nil
			}
			s.after = nil
		}
		s.opened = true
		l.opened(ctx, s, ev.Scope.JSON)
		return s
	}
}

// release ends a delivery acquire began. With lifecycle events, an event
// that ends the scope (closesScope) closes it, once delivered.
func (a *Adapter) release(ctx context.Context, s *Scope, ev Event) {
	if a.life != nil && ctx.Err() == nil {
		if reason, newChat := closesScope(ev); reason != "" {
			s.closeReason, s.newChatID = reason, newChat
			s.gone = true
			a.reg.Close(s, reason)
		}
	}
	s.delivering.Unlock()
	a.reg.Release(s)
}

// closesScope reports whether ev ends its scope: a my_chat_member update
// whose new status is kicked or left (the bot was removed, or the user
// blocked it), or a message saying the group migrated to a supergroup.
func closesScope(ev Event) (reason string, newChatID int64) {
	switch ev.Field {
	case "my_chat_member":
		var u struct {
			M struct {
				New struct {
					Status string `json:"status"`
				} `json:"new_chat_member"`
			} `json:"my_chat_member"`
		}
		if json.Unmarshal(ev.Raw, &u) == nil && (u.M.New.Status == "kicked" || u.M.New.Status == "left") {
			return CloseBotBlocked, 0
		}
	case "message":
		if !bytes.Contains(ev.Raw, []byte(`"migrate_to_chat_id"`)) {
			return "", 0
		}
		var u struct {
			M struct {
				To int64 `json:"migrate_to_chat_id"`
			} `json:"message"`
		}
		if json.Unmarshal(ev.Raw, &u) == nil && u.M.To != 0 {
			return CloseMigrated, u.M.To
		}
	}
	return "", 0
}

// closed is Registry.closed: it delivers s's scope_closed in the scope's
// order, in the background. Called under the registry's lock.
func (l *lifecycle) closed(s *Scope, reason string) <-chan struct{} {
	done := make(chan struct{})
	ctx := l.ctx
	l.closes.Add(1)
	go func() {
		defer l.closes.Done()
		defer close(done)
		defer l.reg.closeDone(s.Key, done)
		s.delivering.Lock()
		defer s.delivering.Unlock()
		s.gone = true
		if s.after != nil {
			// Never opened (its delivery ended first): the key's next
			// scope still waits for the previous close, through this one.
			select {
			case <-s.after:
			case <-ctx.Done():
			}
		}
		if !s.opened {
			return // nothing was opened: nothing to close
		}
		if s.closeReason != "" {
			reason = s.closeReason
		}
		ev := closedEvent{Type: EventScopeClosed, ScopeKey: s.Key, Reason: reason, NewChatID: s.newChatID}
		l.post(ctx, l.app, EventScopeClosed, s.Key, reason, l.webhookID(s.Key, "close", s.opens), envelopeOf(s.lastScope, ev, "", ""))
	}()
	return done
}

// opened delivers s's scope_opened, holding its delivery lock.
func (l *lifecycle) opened(ctx context.Context, s *Scope, scope json.RawMessage) {
	ev := openedEvent{Type: EventScopeOpened, ScopeKey: s.Key, Opens: s.opens}
	l.post(ctx, l.app, EventScopeOpened, s.Key, "", l.webhookID(s.Key, "open", s.opens), envelopeOf(scope, ev, s.Token(), l.sendURL))
}

// webhookID is asg-<bot id>-<scope key>-<open|close>-<n>.
func (l *lifecycle) webhookID(key, what string, n int) string {
	return "asg-" + strconv.FormatInt(l.botID, 10) + "-" + key + "-" + what + "-" + strconv.Itoa(n)
}

type openedEvent struct {
	Type     string `json:"type"`
	ScopeKey string `json:"scope_key"`
	Opens    int    `json:"opens"`
}

type closedEvent struct {
	Type      string `json:"type"`
	ScopeKey  string `json:"scope_key"`
	Reason    string `json:"reason"`
	NewChatID int64  `json:"new_chat_id,omitempty"`
}

type processEvent struct {
	Type string          `json:"type"`
	Bot  json.RawMessage `json:"bot"`
}

// envelopeOf is the POST body of a lifecycle event: scope (when not nil),
// event, and token and send_url (when not empty).
func envelopeOf(scope json.RawMessage, event any, token, sendURL string) []byte {
	type body struct {
		Scope   json.RawMessage `json:"scope,omitempty"`
		Event   any             `json:"event"`
		Token   string          `json:"token,omitempty"`
		SendURL string          `json:"send_url,omitempty"`
	}
	b, _ := json.Marshal(body{Scope: scope, Event: event, Token: token, SendURL: sendURL})
	return b
}

// post makes one lifecycle request of type typ (about scope key, for a
// reason); a failure is logged. It reports whether the application
// answered 2xx.
func (l *lifecycle) post(ctx context.Context, app App, typ, key, reason, id string, body []byte) bool {
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		l.log.Warn("lifecycle event not delivered: stopping", logEvent, typ, logScope, key)
		return false
	}
	start := time.Now()
	resp, err := app.Deliver(ctx, AppRequest{EventType: typ, WebhookID: id, Body: body})
	<-l.sem
	tr := Trace{Type: typ, Scope: key, Status: resp.Status, Latency: time.Since(start), Err: err, Note: reason}
	if err != nil {
		var de *DeliveryError
		if errors.As(err, &de) {
			tr.Status = de.Status
		}
		tr.Failed = DeadDelivery
		l.log.Warn("lifecycle event not delivered (best effort: not kept as a dead letter)",
			logEvent, typ, logScope, key, "webhook_id", id, logErr, err)
	}
	if l.onTrace != nil {
		l.onTrace(tr)
	}
	return err == nil
}

// startup delivers asgigram.startup until the application answers 2xx or
// startupTimeout passed. It returns false when ctx ended first.
func (l *lifecycle) startup(ctx context.Context) bool {
	id := "asg-" + strconv.FormatInt(l.botID, 10) + "-startup-" + strconv.FormatInt(l.start, 10)
	body := envelopeOf(nil, processEvent{Type: EventStartup, Bot: l.bot}, "", l.sendURL)
	deadline := time.Now().Add(l.startupTimeout)
	b := backoff.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		if l.post(ctx, l.proc, EventStartup, "", "", id, body) {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		wait := min(b.Next(), time.Until(deadline))
		if wait <= 0 {
			l.log.Warn("the application did not accept asgigram.startup within startup_timeout: delivery starts anyway",
				"startup_timeout", l.startupTimeout)
			return true
		}
		if !sleep(ctx, wait) {
			return false
		}
	}
}

// shutdown closes every scope (reason shutdown), waits for the
// scope_closed deliveries, and delivers asgigram.shutdown, all within ctx.
func (l *lifecycle) shutdown(ctx context.Context) {
	l.reg.CloseAll(CloseShutdown)
	l.closes.Wait()
	id := "asg-" + strconv.FormatInt(l.botID, 10) + "-shutdown-" + strconv.FormatInt(l.start, 10)
	l.post(ctx, l.proc, EventShutdown, "", "", id, envelopeOf(nil, processEvent{Type: EventShutdown, Bot: l.bot}, "", ""))
}
