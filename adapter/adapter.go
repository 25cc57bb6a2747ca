// Package adapter is asgigram's core: it long-polls Telegram, keeps one scope
// per chat or user, delivers every update as an event to the application
// (one at a time per scope, scopes in parallel), and carries out the outbound
// events the application answers with or sends later through /send.
//
// It owns the small interfaces it needs (Telegram, App, Sink); the telegram
// and httpapp packages implement them and cmd/asgigram wires them.
package adapter

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asgigram/asgigram/telegram"
)

// Log attribute keys used throughout the adapter.
const (
	logUpdateID = "update_id"
	logScope    = "scope"
	logEvent    = "event"
	logErr      = "error"
)

// Telegram is what the adapter needs of the Bot API. *telegram.Client
// implements it.
type Telegram interface {
	Caller
	GetMe(ctx context.Context) (telegram.User, json.RawMessage, error)
	GetUpdates(ctx context.Context, offset int64, limit int, timeout time.Duration, allowed []string) ([]json.RawMessage, error)
}

// App delivers one event to the application, retrying as PROTOCOL §2 says,
// and returns its final 2xx answer, or an error once delivery failed finally.
type App interface {
	Deliver(ctx context.Context, req AppRequest) (AppResponse, error)
}

// AppRequest is one event delivery.
type AppRequest struct {
	UpdateID int64
	// EventType is "telegram.<field>" (the X-Asgigram-Event header).
	EventType string
	// WebhookID is the Standard Webhooks id, "tg-<bot id>-<update_id>":
	// the same for every delivery of one update.
	WebhookID string
	// Body is the JSON document to POST.
	Body []byte
}

// AppResponse is the application's 2xx answer.
type AppResponse struct {
	Status      int
	ContentType string
	Body        []byte
}

// Sink takes fetched updates. Put returns once they may be confirmed to
// Telegram: the in-memory dispatcher returns when each has been delivered
// (successfully or with a final failure); a durable spool may return once
// they are stored. A non-nil error means: do not confirm them.
type Sink interface {
	Put(ctx context.Context, ups []Update) error
}

// Options configure an Adapter.
type Options struct {
	Telegram Telegram
	App      App
	// SendURL is the public URL of /send, put into every event.
	SendURL string
	// SendToken is the application-level /send credential ("" = none).
	SendToken string
	// PollTimeout is getUpdates' long-poll timeout.
	PollTimeout time.Duration
	// AllowedUpdates is sent with every getUpdates (nil: not sent).
	AllowedUpdates []string
	// MaxConcurrency bounds deliveries in flight across scopes.
	MaxConcurrency int
	// ScopeIdleTimeout drops a scope idle longer than this.
	ScopeIdleTimeout time.Duration
	// MaxScopes bounds the number of live scopes.
	MaxScopes int
	// SendTimeout bounds one /send request's calls.
	SendTimeout time.Duration
	// ShutdownGrace is how long deliveries in flight may finish after stop.
	ShutdownGrace time.Duration
	// Logger receives the adapter's logs; nil discards them.
	Logger *slog.Logger
	// OnDelivery, when set, is called after every finished delivery (the
	// dev mode's trace, metrics). It must not block.
	OnDelivery func(Trace)
	// OnReceived, when set, is called for every update fetched, with its
	// event type ("telegram.message"). It must not block.
	OnReceived func(eventType string)
}

// Trace describes one finished delivery.
type Trace struct {
	UpdateID int64
	// Type is the event type, e.g. "telegram.message".
	Type string
	// Scope is the scope key, e.g. "chat:-1001234567890".
	Scope string
	// Status is the application's last HTTP status (0: no answer).
	Status int
	// Latency is the time from the first POST to the final answer.
	Latency time.Duration
	// Err is the delivery's or the reply's failure, nil when all went well.
	Err error
	// Calls are the outbound calls of the reply, in order; a failed one is
	// last.
	Calls []TraceCall
}

// TraceCall is one outbound call of a reply.
type TraceCall struct {
	Method string
	Err    error
}

// ErrShuttingDown is returned by Send once the adapter has stopped.
var ErrShuttingDown = errors.New("shutting down")

// Adapter is the running core.
type Adapter struct {
	opt      Options
	log      *slog.Logger
	reg      *Registry
	exec     *Executor
	mapper   Mapper
	sink     Sink
	closed   atomic.Bool
	offset   atomic.Int64
	pending  atomic.Int64 // updates fetched and not yet finished
	started  atomic.Bool  // getMe succeeded
	failing  atomic.Bool  // the last getUpdates failed
	conflict atomic.Bool  // the last getUpdates failed with 409
}

// Health says whether the adapter is ready, and if not, why.
type Health struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons,omitempty"`
}

// Health reports readiness: getMe succeeded, the last getUpdates succeeded,
// no 409 conflict, not stopped.
func (a *Adapter) Health() Health {
	var why []string
	if !a.started.Load() {
		why = append(why, "not connected to Telegram yet (getMe has not succeeded)")
	}
	if a.conflict.Load() {
		why = append(why, "polling conflict (409): another getUpdates consumer or a webhook is active")
	} else if a.failing.Load() {
		why = append(why, "getUpdates is failing")
	}
	if a.closed.Load() {
		why = append(why, "stopped")
	}
	return Health{Ready: len(why) == 0, Reasons: why}
}

// Pending returns the number of updates fetched and not yet finished.
func (a *Adapter) Pending() int { return int(a.pending.Load()) }

// New returns an Adapter; Run starts it.
func New(opt Options) *Adapter {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.MaxConcurrency < 1 {
		opt.MaxConcurrency = 64
	}
	if opt.MaxScopes < 1 {
		opt.MaxScopes = 100000
	}
	if opt.ScopeIdleTimeout <= 0 {
		opt.ScopeIdleTimeout = 15 * time.Minute
	}
	if opt.SendTimeout <= 0 {
		opt.SendTimeout = 30 * time.Second
	}
	a := &Adapter{
		opt:  opt,
		log:  opt.Logger,
		reg:  NewRegistry(opt.MaxScopes, opt.ScopeIdleTimeout),
		exec: NewExecutor(opt.Telegram),
	}
	return a
}

// Registry returns the adapter's scopes (for health and metrics).
func (a *Adapter) Registry() *Registry { return a.reg }

// Offset returns the next getUpdates offset: every update below it was
// delivered.
func (a *Adapter) Offset() int64 { return a.offset.Load() }

// Run starts the adapter: getMe, then polling until ctx ends, then a
// graceful stop (deliveries in flight get ShutdownGrace, the delivered batch
// is confirmed). It returns nil after a clean stop, and an error wrapping
// telegram.ErrUnauthorized when Telegram rejects the token.
func (a *Adapter) Run(ctx context.Context) error {
	defer a.closed.Store(true)
	me, meRaw, err := a.getMe(ctx)
	if err != nil {
		return err
	}
	a.started.Store(true)
	a.log.Info("connected to telegram", "bot_id", me.ID, "bot_username", me.Username)
	a.mapper = Mapper{BotUser: meRaw, BotID: me.ID}
	a.sink = newDispatcher(a)

	done := make(chan struct{})
	defer close(done)
	go a.sweep(done)

	// Deliveries continue after ctx ends, for the grace minus a budget kept
	// for the final confirming getUpdates (Telegram may hold a repeated
	// offset for up to 3 s).
	grace := a.opt.ShutdownGrace
	confirmBudget := min(5*time.Second, grace/3)
	deliverCtx, cancelDeliver := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDeliver()
	stopTimer := context.AfterFunc(ctx, func() {
		time.AfterFunc(grace-confirmBudget, cancelDeliver)
	})
	defer stopTimer()

	unconfirmed, err := a.poll(ctx, deliverCtx)
	if err != nil {
		return err
	}
	if unconfirmed {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), confirmBudget)
		defer cancel()
		off := a.offset.Load()
		if _, err := a.opt.Telegram.GetUpdates(cctx, off, 1, 0, nil); err != nil {
			a.log.Warn("final confirmation failed: the last batch will be delivered again after a restart", "offset", off, logErr, err)
		} else {
			a.log.Info("confirmed delivered updates", "offset", off)
		}
	}
	a.log.Info("stopped")
	return nil
}

func (a *Adapter) getMe(ctx context.Context) (telegram.User, json.RawMessage, error) {
	b := newBackoff(time.Second, 30*time.Second)
	for {
		me, raw, err := a.opt.Telegram.GetMe(ctx)
		if err == nil {
			return me, raw, nil
		}
		if errors.Is(err, telegram.ErrUnauthorized) {
			return me, nil, fmt.Errorf("getMe: %w", telegram.ErrUnauthorized)
		}
		if ctx.Err() != nil {
			return me, nil, ctx.Err()
		}
		wait := b.next()
		a.log.Warn("getMe failed, trying again", logErr, err, "retry_in", wait.Round(time.Millisecond))
		if !sleep(ctx, wait) {
			return me, nil, ctx.Err()
		}
	}
}

// poll runs the getUpdates loop until ctx ends. It reports whether delivered
// updates still wait for confirmation.
func (a *Adapter) poll(ctx, deliverCtx context.Context) (unconfirmed bool, err error) {
	b := newBackoff(time.Second, 30*time.Second)
	conflict := false
	for ctx.Err() == nil {
		off := a.offset.Load()
		raws, err := a.opt.Telegram.GetUpdates(ctx, off, 100, a.opt.PollTimeout, a.opt.AllowedUpdates)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			if errors.Is(err, telegram.ErrUnauthorized) {
				return unconfirmed, fmt.Errorf("getUpdates: %w", telegram.ErrUnauthorized)
			}
			a.failing.Store(true)
			var te *telegram.Error
			if errors.As(err, &te) && te.Code == 409 {
				a.conflict.Store(true)
				if !conflict {
					a.log.Error("polling conflict: another getUpdates consumer or a webhook is active", logErr, err)
				}
				conflict = true
			} else {
				a.log.Warn("getUpdates failed", logErr, err)
			}
			sleep(ctx, b.next())
			continue
		}
		if conflict {
			a.log.Info("polling conflict over")
			conflict = false
		}
		b.reset()
		a.failing.Store(false)
		a.conflict.Store(false)
		unconfirmed = false // this call confirmed everything below off
		if len(raws) == 0 {
			continue
		}
		ups, bad := ParseUpdates(raws)
		for _, raw := range bad {
			a.log.Error("ignoring an element of getUpdates that is not an update", "bytes", len(raw))
		}
		maxID := off - 1
		for _, u := range ups {
			maxID = max(maxID, u.ID)
		}
		if err := a.sink.Put(deliverCtx, ups); err != nil {
			a.log.Warn("shutdown grace ran out before the batch was delivered: it will be delivered again after a restart",
				"updates", len(ups), logErr, err)
			return false, nil
		}
		if maxID >= off {
			a.offset.Store(maxID + 1)
			unconfirmed = true
		}
	}
	return unconfirmed, nil
}

func (a *Adapter) sweep(done <-chan struct{}) {
	every := min(max(a.opt.ScopeIdleTimeout/10, time.Second), time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if n := a.reg.Sweep(); n > 0 {
				a.log.Debug("dropped idle scopes", "count", n)
			}
		}
	}
}

// Principal is who a /send acts for: a live scope, or (zero value) the
// holder of the send_token.
type Principal struct{ scope *Scope }

// Authorize resolves a /send token: a live scope's token, or the send_token.
// Errors: ErrUnknownToken, ErrExpiredToken. A scope token counts as activity.
func (a *Adapter) Authorize(token string) (Principal, error) {
	if st := a.opt.SendToken; st != "" && subtle.ConstantTimeCompare([]byte(st), []byte(token)) == 1 {
		return Principal{}, nil
	}
	s, err := a.reg.Lookup(token)
	if err != nil {
		return Principal{}, err
	}
	return Principal{scope: s}, nil
}

// Send carries out events for p at once, without waiting behind the scope's
// delivery in flight, within SendTimeout. Errors: ErrShuttingDown,
// *InvalidEventError, *CallError (with the results so far).
func (a *Adapter) Send(ctx context.Context, p Principal, events []json.RawMessage) ([]json.RawMessage, error) {
	if a.closed.Load() {
		return nil, ErrShuttingDown
	}
	ctx, cancel := context.WithTimeout(ctx, a.opt.SendTimeout)
	defer cancel()
	return a.exec.Execute(ctx, p.scope, events)
}

func (a *Adapter) trace(t Trace) {
	if a.opt.OnDelivery != nil {
		a.opt.OnDelivery(t)
	}
}

// webhookID is the Standard Webhooks id of an update: stable across retries
// and redeliveries, so the application can deduplicate.
func (a *Adapter) webhookID(updateID int64) string {
	return "tg-" + strconv.FormatInt(a.mapper.BotID, 10) + "-" + strconv.FormatInt(updateID, 10)
}

// backoff is a capped exponential delay with jitter.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(min, max time.Duration) *backoff { return &backoff{min: min, max: max} }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	return b.cur/2 + rand.N(b.cur/2+1)
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
