// Package adapter is asgigram's core: it long-polls Telegram, keeps one scope
// per chat or user, delivers every update as an event to the application
// (one at a time per scope, scopes in parallel), and carries out the outbound
// events the application answers with or sends later through /send.
//
// It owns the small interfaces it needs (Telegram, App, Spool); the
// telegram, httpapp and spool packages implement them and cmd/asgigram wires
// them.
package adapter

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asgigram/asgigram/internal/backoff"
	"github.com/asgigram/asgigram/internal/redact"
	"github.com/asgigram/asgigram/telegram"
)

// Log attribute keys used throughout the adapter.
const (
	logUpdateID = "update_id"
	// logUpdateEpoch is added beside update_id from epoch 1 on.
	logUpdateEpoch = "update_epoch"
	logScope       = "scope"
	logEvent       = "event"
	logErr         = "error"
)

// Telegram is what the adapter needs of the Bot API. *telegram.Client
// implements it.
type Telegram interface {
	Caller
	GetMe(ctx context.Context) (telegram.User, json.RawMessage, error)
	GetUpdates(ctx context.Context, offset int64, limit int, timeout time.Duration, allowed []string) ([]json.RawMessage, error)
	// GetFile and Download find and fetch the files of updates (GET
	// /file/{file_id}, see OpenFile).
	GetFile(ctx context.Context, fileID string) (telegram.File, error)
	Download(ctx context.Context, filePath string) (*telegram.Download, error)
}

// App delivers one event to the application, retrying as docs/protocol.md "Retries" says,
// and returns its final 2xx answer, or an error once delivery failed finally.
type App interface {
	Deliver(ctx context.Context, req AppRequest) (AppResponse, error)
}

// AppRequest is one event delivery.
type AppRequest struct {
	UpdateID int64
	// EventType is "telegram.<field>" (the X-Asgigram-Event header).
	EventType string
	// WebhookID is the Standard Webhooks id, "tg-<bot id>-<update_id>"
	// ("tg-<bot id>-e<epoch>-<update_id>" from epoch 1 on): the same for
	// every delivery of one update, never the same for two.
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

// DeliveryError is a delivery that failed finally: what App.Deliver returns
// once it gives up. Its status and attempts go into the trace and the dead
// letter.
type DeliveryError struct {
	// Attempts is how many requests were made.
	Attempts int
	// Status is the last HTTP status (0 when there was no response).
	Status int
	// Err says why the last attempt failed.
	Err error
}

func (e *DeliveryError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("application answered %d after %d attempt(s): %v", e.Status, e.Attempts, e.Err)
	}
	return fmt.Sprintf("application unreachable after %d attempt(s): %v", e.Attempts, e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Options configure an Adapter.
//
// The adapter holds no defaults of its own: the daemon's are in
// config.Default, and cmd/asgigram passes every setting. A zero (or
// negative) field means what the setting means in the configuration when
// it may be 0 there (SpoolMemory 0: keep none, as spool_memory: 0;
// PollTimeout 0: short polling; ShutdownGrace 0: stop at once); for a bound
// the configuration requires, it means no bound (MaxScopes, SpoolMax,
// DeadLetterMax, ChatQueue, SendTimeout, ScopeIdleTimeout), except for
// MaxConcurrency, where it means 1.
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
	// MaxConcurrency bounds deliveries in flight across scopes (0: 1).
	MaxConcurrency int
	// ScopeIdleTimeout drops a scope idle longer than this (0: scopes are
	// dropped only to stay within MaxScopes).
	ScopeIdleTimeout time.Duration
	// MaxScopes bounds the number of live scopes (0: no bound).
	MaxScopes int
	// SendTimeout bounds one /send request's calls (0: only the request's
	// own context does).
	SendTimeout time.Duration
	// ShutdownGrace is how long deliveries in flight may finish after stop.
	ShutdownGrace time.Duration
	// Spool is the durable store (spool: disk); nil keeps updates in memory
	// and confirms a batch only once it was delivered (spool: memory).
	Spool Spool
	// BotID is the bot the token names (0: not checked); getMe must agree,
	// or Run fails with ErrOtherBot (the spool is this bot's).
	BotID int64
	// SpoolMax bounds the updates waiting in the spool: polling pauses at it
	// (0: no bound).
	SpoolMax int
	// SpoolMemory bounds the bytes of waiting updates that are also kept in
	// memory, so that they need not be read back from the spool (0: none,
	// as spool_memory: 0).
	SpoolMemory int
	// DeadLetterMax bounds the dead letters kept in memory, without Spool
	// (0: no bound).
	DeadLetterMax int
	// Pacer paces outbound calls; nil sends them at once.
	Pacer Pacer
	// ChatQueue bounds the calls waiting per chat, the one being made not
	// counted (0: no bound); one more fails with ErrChatQueueFull. The calls
	// to one chat are made one at a time in arrival order, whether Pacer is
	// set or not (see Arrive).
	ChatQueue int
	// DeleteWebhookOnStart calls deleteWebhook after getMe, so that polling
	// works for a bot that had a webhook; DropPendingUpdates passes
	// drop_pending_updates=true with it.
	DeleteWebhookOnStart, DropPendingUpdates bool
	// TypingAfter, when positive, shows "typing" in the chat of a message
	// addressed to the bot while its delivery takes longer than this (see
	// docs/protocol.md "Typing while the app works"); 0 is off.
	TypingAfter time.Duration
	// TypingEvery is how often the typing action is repeated (0:
	// TypingEvery, 4.5 s).
	TypingEvery time.Duration
	// TypingRate is the typing calls' own budget, per second (a token
	// bucket with a burst of one second's worth); a call over it is
	// dropped. 0 or less: 10 per second.
	TypingRate float64
	// OnTyping, when set, is called for every typing call made or dropped.
	// It must not block.
	OnTyping func(TypingCall)
	// CallbackAnswerAfter, when positive, answers a callback query the
	// application has not answered this long after it was fetched (see
	// docs/protocol.md "Spinners that stop"); 0 is off.
	CallbackAnswerAfter time.Duration
	// OnCallbackAnswer, when set, is called after every callback query
	// asgigram answered itself, with the call's error. It must not block.
	OnCallbackAnswer func(callbackQueryID string, err error)
	// ReplyResults, when set, delivers the results of a reply body's calls
	// as an asgigram.reply_result event to the same scope, right after the
	// update answered (see docs/protocol.md "Results of body replies").
	ReplyResults bool
	// LifecycleEvents delivers asgigram.scope_opened and
	// asgigram.scope_closed in each scope's order (to ScopeEventsApp) and
	// asgigram.startup and asgigram.shutdown (to LifecycleApp): see
	// docs/protocol.md "Lifecycle events". Off, none of this happens.
	LifecycleEvents bool
	// ScopeEventsApp receives the scope events (nil: App), LifecycleApp
	// startup and shutdown (nil: ScopeEventsApp). Each lifecycle request is
	// made once: they should not retry.
	ScopeEventsApp, LifecycleApp App
	// StartupTimeout bounds how long delivery waits for a 2xx answer to
	// asgigram.startup (0: one attempt).
	StartupTimeout time.Duration
	// OnLifecycle, when set, is called after every lifecycle event POST
	// (the dev mode's trace). It must not block.
	OnLifecycle func(Trace)
	// Logger receives the adapter's logs; nil discards them.
	Logger *slog.Logger
	// OnDelivery, when set, is called after every finished delivery (the
	// dev mode's trace, metrics). It must not block.
	OnDelivery func(Trace)
	// OnReceived, when set, is called for every update fetched, with its
	// event type ("telegram.message"). It must not block.
	OnReceived func(eventType string)
	// OnSend, when set, is called after every /send request (the dev
	// mode's trace). It must not block.
	OnSend func(SendTrace)
	// OnDeadLetter, when set, is called for every dead letter kept, with
	// its kind. It must not block.
	OnDeadLetter func(kind string)
	// OnUpdateIDReset, when set, is called every time Telegram's update ids
	// went down and a new epoch started (see Position). It must not block.
	OnUpdateIDReset func()
	// Redact is applied to the error text of every dead letter before it
	// is stored: it removes the secrets (the bot token, quoted back by the
	// application or a proxy) and masks URLs. The update and the reply
	// events are the users' data and are stored as they are. Nil masks
	// URLs only.
	Redact func(string) string
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
	// Failed says what failed: "" (nothing), DeadDelivery or DeadReply.
	Failed string
	// Note explains an empty outcome, e.g. a 2xx body that was not
	// declared as JSON and so meant "nothing to send".
	Note string
	// Calls are the outbound calls of the reply, in order; a failed one is
	// last.
	Calls []TraceCall
}

// TraceCall is one outbound call of a reply.
type TraceCall struct {
	Method string
	Err    error
	// Skipped, when not empty, says why the call was not made (and did
	// not fail): SkippedAnswered.
	Skipped string
}

// SkippedAnswered is the TraceCall.Skipped of an answerCallbackQuery that
// asgigram did not make, because it had answered the query itself after
// Options.CallbackAnswerAfter.
const SkippedAnswered = "callback query already answered by asgigram after callback_answer_after"

// ErrOtherBot is returned by Run when getMe names another bot than the
// token's numeric prefix (Options.BotID).
var ErrOtherBot = errors.New("getMe answered for another bot")

// ErrShuttingDown is returned by Send once the adapter has stopped.
var ErrShuttingDown = errors.New("shutting down")

// ErrTokenRejected is returned by Send, SendFiles and OpenFile instead of
// ErrShuttingDown once Run stopped because Telegram rejected the bot token
// (401): the bot does not come back by itself.
var ErrTokenRejected = errors.New("the bot token was rejected by Telegram (401 Unauthorized) and this bot stopped")

// closedErr is the error of a call made after Run returned.
func (a *Adapter) closedErr() error {
	if a.rejected.Load() {
		return ErrTokenRejected
	}
	return ErrShuttingDown
}

// Adapter is the running core.
type Adapter struct {
	opt      Options
	log      *slog.Logger
	reg      *Registry
	exec     *Executor
	typing   *typing    // nil: typing_after is off
	life     *lifecycle // nil: lifecycle_events is off
	mapper   Mapper
	delivery delivery // memoryDelivery or diskDelivery (spool)
	dead     DeadLetters
	closed   atomic.Bool
	rejected atomic.Bool // Run stopped on telegram.ErrUnauthorized
	running  atomic.Bool // delivery is set
	offset   atomic.Int64
	epoch    atomic.Uint32 // the id space of offset (see Position)
	pending  atomic.Int64  // updates fetched and not yet finished
	started  atomic.Bool   // getMe succeeded
	failing  atomic.Bool   // the last getUpdates failed
	conflict atomic.Bool   // the last getUpdates failed with 409
	// spoolDown holds why the spool cannot store new updates (nil: it can);
	// polling is paused meanwhile.
	spoolDown atomic.Pointer[string]
}

// Health says whether the adapter is ready, and if not, why.
type Health struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons,omitempty"`
	// Bots holds the health of each bot of a process of several, by name;
	// Ready is then true while every bot is.
	Bots map[string]Health `json:"bots,omitempty"`
}

// Health reports readiness: getMe succeeded, the last getUpdates succeeded,
// no 409 conflict, the spool can store updates, not stopped.
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
	if p := a.spoolDown.Load(); p != nil {
		why = append(why, "polling paused: "+*p)
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
	if opt.Redact == nil {
		opt.Redact = redact.URLsIn
	}
	// No defaults here (see Options): zero is the least, none, or no bound.
	opt.MaxConcurrency = max(opt.MaxConcurrency, 1)
	opt.SpoolMemory = max(opt.SpoolMemory, 0)
	noBound := func(n *int) {
		if *n <= 0 {
			*n = math.MaxInt
		}
	}
	noBound(&opt.MaxScopes)
	noBound(&opt.SpoolMax)
	noBound(&opt.DeadLetterMax)
	if opt.ScopeIdleTimeout <= 0 {
		opt.ScopeIdleTimeout = math.MaxInt64 // never idle
	}
	a := &Adapter{
		opt:  opt,
		log:  opt.Logger,
		reg:  NewRegistry(opt.MaxScopes, opt.ScopeIdleTimeout),
		exec: NewExecutor(opt.Telegram),
	}
	a.exec.log = opt.Logger
	a.exec.pacer = opt.Pacer
	a.exec.order = newOrder(opt.ChatQueue)
	if opt.CallbackAnswerAfter > 0 {
		a.exec.callbacks = newCallbacks(opt.CallbackAnswerAfter, a.answerCallback, opt.Logger)
		a.exec.callbacks.onAnswered = opt.OnCallbackAnswer
	}
	if opt.TypingAfter > 0 {
		perSecond := opt.TypingRate
		if perSecond <= 0 {
			perSecond = 10
		}
		a.typing = newTyping(opt.TypingAfter, opt.TypingEvery, perSecond, opt.Telegram, opt.Logger)
		a.typing.onCall = opt.OnTyping
		a.exec.chatAction = a.typing.appAction
	}
	if opt.LifecycleEvents {
		a.life = newLifecycle(opt, a.reg)
	}
	if opt.Spool != nil {
		a.dead = opt.Spool
	} else {
		a.dead = NewMemoryDeadLetters(opt.DeadLetterMax)
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
func (a *Adapter) Run(ctx context.Context) (err error) {
	defer func() {
		a.rejected.Store(errors.Is(err, telegram.ErrUnauthorized))
		a.closed.Store(true)
	}()
	me, meRaw, err := a.getMe(ctx)
	if err != nil {
		if ctx.Err() != nil {
			a.log.Info("stopped before connecting to Telegram")
			return nil // a stop during start-up is a clean stop
		}
		return err
	}
	if a.opt.BotID != 0 && me.ID != a.opt.BotID {
		return fmt.Errorf("getMe: %w: the token names bot %d, Telegram answered for bot %d", ErrOtherBot, a.opt.BotID, me.ID)
	}
	a.log.Info("connected to telegram", "bot_id", me.ID, "bot_username", me.Username)
	if a.opt.DeleteWebhookOnStart {
		if _, err := a.opt.Telegram.Call(ctx, "deleteWebhook", map[string]any{"drop_pending_updates": a.opt.DropPendingUpdates}); err != nil {
			if errors.Is(err, telegram.ErrUnauthorized) {
				return fmt.Errorf("deleteWebhook: %w", err)
			}
			a.log.Error("deleteWebhook failed; polling will conflict while the webhook is set", logErr, err)
		} else {
			a.log.Info("deleted the webhook (delete_webhook_on_start)", "drop_pending_updates", a.opt.DropPendingUpdates)
		}
	}
	a.started.Store(true)
	a.mapper = Mapper{BotUser: meRaw, BotID: me.ID}
	if a.typing != nil {
		a.typing.botID, a.typing.username = me.ID, me.Username
	}
	if cb := a.exec.callbacks; cb != nil {
		defer cb.stop()
	}

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

	if l := a.life; l != nil {
		l.ctx, l.botID, l.bot = deliverCtx, me.ID, meRaw
		// Delivery starts once the application took asgigram.startup.
		if !l.startup(ctx) {
			a.log.Info("stopped before the application took asgigram.startup")
			return nil
		}
	}
	defer a.startSweeping()()

	deps := deliveryDeps{
		deliver:        a.deliver,
		mapper:         a.mapper,
		received:       a.opt.OnReceived,
		pending:        &a.pending,
		log:            a.log,
		maxConcurrency: a.opt.MaxConcurrency,
	}
	if sp := a.opt.Spool; sp != nil {
		pos, err := sp.Position()
		if err != nil {
			return fmt.Errorf("reading the spool: %w", err)
		}
		a.offset.Store(pos.Offset)
		a.epoch.Store(pos.Epoch)
		d, err := newDiskDelivery(ctx, deliverCtx, deps, diskConfig{
			spool: sp, max: a.opt.SpoolMax, memory: a.opt.SpoolMemory, keep: a.keep,
		})
		if err != nil {
			return fmt.Errorf("reading the spool: %w", err)
		}
		a.delivery = d
	} else {
		a.delivery = newMemoryDelivery(deliverCtx, deps)
	}
	a.running.Store(true)

	unconfirmed, err := a.poll(ctx, deliverCtx)
	if err != nil {
		// Stopping on an error (token revoked, spool failing): deliveries
		// in flight get the same grace as on a signal.
		t := time.AfterFunc(grace, cancelDeliver)
		defer t.Stop()
	}
	a.delivery.drain()
	if a.life != nil {
		a.life.shutdown(deliverCtx)
	}
	if err != nil {
		return err
	}
	if unconfirmed && !a.spoolKeeps() {
		unconfirmed = false
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
	b := backoff.Backoff{Min: time.Second, Max: 30 * time.Second}
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
		wait := b.Next()
		a.log.Warn("getMe failed, trying again", logErr, err, "retry_in", wait.Round(time.Millisecond))
		if !sleep(ctx, wait) {
			return me, nil, ctx.Err()
		}
	}
}

// poll runs the getUpdates loop until ctx ends, handing each batch to the
// delivery. deliverCtx tells a batch cut short by the end of the shutdown
// grace from a failing spool. It reports whether delivered updates still
// wait for confirmation.
func (a *Adapter) poll(ctx, deliverCtx context.Context) (unconfirmed bool, err error) {
	b := backoff.Backoff{Min: time.Second, Max: 30 * time.Second}
	conflict := false
	resets := 0 // answers below the offset in a row (see idsWentDown)
	for ctx.Err() == nil {
		if !a.spoolReady(ctx) {
			continue
		}
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
					hint := "another process is polling this bot: run one instance per bot"
					if strings.Contains(strings.ToLower(te.Description), "webhook") {
						hint = "the bot has a webhook: set delete_webhook_on_start: true (or call deleteWebhook) to poll instead"
					}
					a.log.Error("polling conflict (409): "+hint, logErr, err)
				}
				conflict = true
			} else {
				a.log.Warn("getUpdates failed", logErr, err)
			}
			sleep(ctx, b.Next())
			continue
		}
		if conflict {
			a.log.Info("polling conflict over")
			conflict = false
		}
		if resets == 0 {
			// A server that keeps answering below the offset it was
			// given backs off further each time (see idsWentDown).
			b.Reset()
		}
		a.failing.Store(false)
		a.conflict.Store(false)
		unconfirmed = false // this call confirmed everything below off
		if len(raws) == 0 {
			resets = 0 // the offset was taken
			if a.opt.PollTimeout <= 0 {
				sleep(ctx, time.Second) // short polling: do not spin
			}
			continue
		}
		ups, bad := ParseUpdates(raws)
		for _, raw := range bad {
			a.log.Error("ignoring an element of getUpdates that is not an update", "bytes", len(raw))
		}
		if cb := a.exec.callbacks; cb != nil {
			cb.fetched(ups) // callback_answer_after counts from now
		}
		if len(ups) == 0 {
			// Nothing to confirm it by: the same answer comes back at once.
			// Back off instead of spinning (a real Bot API never sends it).
			a.failing.Store(true)
			sleep(ctx, b.Next())
			continue
		}
		next, reset := a.place(off, ups)
		if reset && a.idsWentDown(off, ups, next, &resets) {
			// The server did not take the offset its own answer gave
			// (the real one always does): do not spin on it.
			sleep(ctx, b.Next())
		}
		if err := a.delivery.put(ups, next); err != nil {
			if spoolUnavailable(err) && deliverCtx.Err() == nil {
				// Not stored, so not confirmed: Telegram sends it again
				// once polling resumes.
				a.pauseForSpool(err)
				sleep(ctx, spoolRecheck)
				continue
			}
			if deliverCtx.Err() == nil {
				return false, fmt.Errorf("storing fetched updates: %w", err)
			}
			a.log.Warn("shutdown grace ran out before the batch was delivered: it will be delivered again after a restart",
				"updates", len(ups), logErr, err)
			return false, nil
		}
		if !reset {
			resets = 0
		}
		if next != (Position{Offset: off, Epoch: a.epoch.Load()}) {
			a.offset.Store(next.Offset)
			a.epoch.Store(next.Epoch)
			unconfirmed = true
		}
	}
	return unconfirmed, nil
}

// place gives the fetched updates their id space (epoch) and returns the
// position after them. Telegram answers an offset it accepts with ids at
// or above it; an answer holding an id below off means it did not take the
// offset (td's TQueue: one "in the future", more than 10 past its next id):
// its ids started again, after a week without updates or on another Bot
// API server. That answer is the truth: its updates are new, they start
// the next epoch, and polling continues from the answer's own highest id
// + 1. An upward jump is an ordinary answer.
func (a *Adapter) place(off int64, ups []Update) (next Position, reset bool) {
	epoch := a.epoch.Load()
	if len(ups) == 0 {
		return Position{Offset: off, Epoch: epoch}, false
	}
	lo, hi := ups[0].ID, ups[0].ID
	for _, u := range ups[1:] {
		lo, hi = min(lo, u.ID), max(hi, u.ID)
	}
	if off > 0 && lo < off {
		reset = true
		epoch++
	} else {
		hi = max(hi, off-1)
	}
	for i := range ups {
		ups[i].Epoch = epoch
	}
	return Position{Offset: hi + 1, Epoch: epoch}, reset
}

func byID(x, y Update) int { return cmp.Compare(x.ID, y.ID) }

// idsWentDown reports a reset (see place): counted every time, logged once
// per episode, an episode being answers below the offset in a row. It
// reports whether the answer continues an episode, that is, the server
// answered below the offset its previous answer gave.
func (a *Adapter) idsWentDown(off int64, ups []Update, next Position, inARow *int) bool {
	*inARow++
	if a.opt.OnUpdateIDReset != nil {
		a.opt.OnUpdateIDReset()
	}
	if *inARow > 1 {
		a.log.Debug("update ids went down again", "old_offset", off, "offset", next.Offset, "epoch", next.Epoch)
		return true
	}
	a.log.Warn("update ids went down: Telegram did not take the offset and answered with lower ids, "+
		"which are new updates of a new id space; they are delivered and polling continues after them. "+
		"Likely causes: the bot had no updates for a week (Telegram then starts its ids at a random number), "+
		"or api_url now points at another Bot API server. Nothing to do",
		"old_offset", off, "first_id", slices.MinFunc(ups, byID).ID, "last_id", next.Offset-1, "updates", len(ups), "epoch", next.Epoch)
	return false
}

// startSweeping drops idle scopes every tenth of ScopeIdleTimeout (between
// a second and a minute) until the returned stop is called. A timer, not a
// goroutine: an idle bot keeps no goroutine parked for it.
func (a *Adapter) startSweeping() (stop func()) {
	every := min(max(a.opt.ScopeIdleTimeout/10, time.Second), time.Minute)
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(every, func() {
		if n := a.reg.Sweep(); n > 0 {
			a.log.Debug("dropped idle scopes", "count", n)
		}
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			t.Reset(every)
		}
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}

// DeadLetters returns the dead letters, oldest first.
func (a *Adapter) DeadLetters() ([]DeadLetter, error) { return a.dead.DeadLetters() }

// DeadLetter returns one dead letter, or ErrNoDeadLetter.
func (a *Adapter) DeadLetter(id uint64) (DeadLetter, error) { return a.dead.DeadLetter(id) }

// DropDeadLetter deletes one dead letter, or returns ErrNoDeadLetter.
func (a *Adapter) DropDeadLetter(id uint64) error { return a.dead.DropDeadLetter(id) }

// ErrNotReplayable is returned by ReplayDeadLetter for a dead letter of
// kind spool.
var ErrNotReplayable = errors.New("the dead letter cannot be replayed")

// ErrNotRunning is returned by ReplayDeadLetter before the adapter started
// or after it stopped.
var ErrNotRunning = errors.New("the adapter is not running")

// ReplayDeadLetter delivers a dead letter's update again, behind its scope's
// backlog (for a reply dead letter: the application is asked again), and
// drops the dead letter. A replay that fails again becomes a new dead letter.
func (a *Adapter) ReplayDeadLetter(id uint64) error {
	if !a.running.Load() || a.closed.Load() {
		return ErrNotRunning
	}
	dl, err := a.dead.DeadLetter(id)
	if err != nil {
		return err
	}
	if dl.Kind == DeadSpool {
		return fmt.Errorf("dead letter %d: %w: it is a damaged stored update (kind spool), there is no update to deliver again; show it, then drop it", id, ErrNotReplayable)
	}
	u := Update{ID: dl.UpdateID, Epoch: dl.Epoch, Raw: dl.Update}
	if len(u.Raw) == 0 {
		return fmt.Errorf("dead letter %d holds no update to replay", id)
	}
	if err := a.delivery.replay(u); err != nil {
		return err
	}
	a.log.Info("replaying dead letter", "dead_letter_id", id, logUpdateID, dl.UpdateID, logScope, dl.Scope)
	return a.dead.DropDeadLetter(id)
}

// Principal is who a /send acts for: a live scope, or (no scope) the
// holder of the send_token, of the Adapter whose Authorize resolved it.
type Principal struct {
	scope *Scope
	by    *Adapter
}

// Adapter returns the Adapter whose Authorize resolved p: the bot p may
// act as (nil for the zero Principal). A server of several bots routes p's
// requests to it.
func (p Principal) Adapter() *Adapter { return p.by }

// owns refuses a Principal that another Adapter resolved, so that a token
// of one bot never acts as another: ErrUnknownToken.
func (a *Adapter) owns(p Principal) error {
	if p.by != nil && p.by != a {
		return ErrUnknownToken
	}
	return nil
}

// Authorize resolves a /send token: a live scope's token, or the send_token.
// Errors: ErrUnknownToken, ErrExpiredToken. A scope token counts as activity.
func (a *Adapter) Authorize(token string) (Principal, error) {
	if st := a.opt.SendToken; st != "" && subtle.ConstantTimeCompare([]byte(st), []byte(token)) == 1 {
		return Principal{by: a}, nil
	}
	s, err := a.reg.Lookup(token)
	if err != nil {
		return Principal{}, err
	}
	return Principal{scope: s, by: a}, nil
}

// Arrive takes the next place in arrival order for a /send request, when
// its handler starts and before its body is read. The request's calls to
// each chat are made after those of every request (and reply body) that
// arrived before it, and before those of every one that arrived after it.
// The Arrival must be passed to Send or SendFiles, or given up with Done:
// until then, the calls that arrived after it wait.
func (a *Adapter) Arrive() *Arrival { return a.exec.order.arrive() }

// Send carries out events for p at once, without waiting behind the scope's
// delivery in flight, within SendTimeout. Its calls to each chat take their
// place in that chat's order as the request that arrived as arr (nil:
// arriving now). Errors: ErrShuttingDown (ErrTokenRejected after a 401),
// ErrUnknownToken (p is another Adapter's), *InvalidEventError, *CallError
// (with the results so far).
func (a *Adapter) Send(ctx context.Context, p Principal, arr *Arrival, events []json.RawMessage) ([]json.RawMessage, error) {
	if err := a.owns(p); err != nil {
		arr.Done()
		return nil, err
	}
	if a.closed.Load() {
		arr.Done()
		return nil, a.closedErr()
	}
	ctx, cancel := a.sendContext(ctx)
	defer cancel()
	start := time.Now()
	results, calls, err := a.exec.executeArrived(ctx, arr, p.scope, events)
	if a.opt.OnSend != nil {
		st := SendTrace{Scope: "send_token", Calls: calls, Err: err, Latency: time.Since(start)}
		if p.scope != nil {
			st.Scope = p.scope.Key
		}
		a.opt.OnSend(st)
	}
	return results, err
}

// sendContext bounds ctx by SendTimeout, when there is one.
func (a *Adapter) sendContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if a.opt.SendTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, a.opt.SendTimeout)
}

// SendTrace describes one finished /send request.
type SendTrace struct {
	// Scope is the token's scope key, or "send_token".
	Scope   string
	Calls   []TraceCall
	Err     error
	Latency time.Duration
}

// answerCallback answers a callback query with an empty answer
// (callback_answer_after), through the pacer like any call without a chat.
func (a *Adapter) answerCallback(ctx context.Context, id string) error {
	params := map[string]json.RawMessage{"callback_query_id": jsonString(id)}
	_, err := a.exec.send(ctx, nil, "answerCallbackQuery", "", params, nil)
	return err
}

func (a *Adapter) trace(t Trace) {
	if a.opt.OnDelivery != nil {
		a.opt.OnDelivery(t)
	}
}

// webhookID is the Standard Webhooks id of an update: stable across retries
// and redeliveries, so the application can deduplicate, and never the same
// for two updates: "tg-<bot id>-<update_id>" in epoch 0 (as before epochs
// existed), "tg-<bot id>-e<epoch>-<update_id>" from epoch 1 on.
func (a *Adapter) webhookID(updateID int64, epoch uint32) string {
	id := "tg-" + strconv.FormatInt(a.mapper.BotID, 10) + "-"
	if epoch > 0 {
		id += "e" + strconv.FormatUint(uint64(epoch), 10) + "-"
	}
	return id + strconv.FormatInt(updateID, 10)
}

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
