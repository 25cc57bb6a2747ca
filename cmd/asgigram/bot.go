package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/config"
	"github.com/asgigram/asgigram/httpapp"
	"github.com/asgigram/asgigram/internal/redact"
	"github.com/asgigram/asgigram/metrics"
	"github.com/asgigram/asgigram/pacing"
	"github.com/asgigram/asgigram/spool"
	"github.com/asgigram/asgigram/telegram"
)

// bot is one running bot of the process: its spool, Telegram client,
// adapter (poller, scopes, delivery budget), application client, pacer and
// metrics. Each bot of the bots: list has its own; the local server is the
// process's.
type bot struct {
	name string // its entry in bots:, "" for the top-level bot
	cfg  config.Config
	log  *slog.Logger
	sp   *spool.Spool // nil with spool: memory
	ad   *adapter.Adapter
	mx   *metrics.Metrics
	// revoked: Telegram rejected the token (401) and the bot stopped.
	revoked atomic.Bool
	// stop ends the bot's run (as SIGTERM would); done is closed once it
	// has ended.
	stop context.CancelFunc
	done chan struct{}
	// leaving: a reload removed or replaced the bot and it is stopping;
	// readiness no longer waits for it.
	leaving atomic.Bool
}

// spoolApplies is shared by the spools of the process: their appliers take
// turns and apply less often the more bots have updates to apply, so that
// many bots' spools sync bbolt about as often as one bot's (spool.Applies).
var spoolApplies = spool.NewApplies(1)

// openBot opens the spool of the bot of cfg (one per bot:
// <data_dir>/<bot id>). A spool left at the top of data_dir by an earlier
// asgigram is moved into the bot's directory only in a process of one bot
// (move): with several, it is not known whose it is.
func openBot(cfg config.Config, move bool, log *slog.Logger) (*bot, error) {
	b := &bot{name: cfg.BotName, cfg: cfg, log: log}
	if b.name != "" {
		b.log = log.With("bot", b.name)
	}
	if cfg.Spool != "disk" {
		return b, nil
	}
	dir := filepath.Join(cfg.DataDir, strconv.FormatInt(cfg.BotID(), 10))
	if move {
		d, moved, err := spool.BotDir(cfg.DataDir, cfg.BotID())
		if err != nil {
			return nil, err
		}
		if moved {
			b.log.Info("moved the spool of an earlier asgigram into this bot's directory", "from", cfg.DataDir, "to", d, "bot_id", cfg.BotID())
		}
		dir = d
	}
	s, err := spool.Open(dir, spool.Options{DeadLetterMax: cfg.DeadletterMax, BotID: cfg.BotID(), APIURL: cfg.APIURL,
		Applies: spoolApplies, Logger: b.log.With("system", "spool")})
	if err != nil {
		return nil, err
	}
	b.log.Info("spool open", "path", s.Path(), "undelivered", s.Len())
	b.sp = s
	return b, nil
}

// botWiring is what the bots of a process share.
type botWiring struct {
	registry  *metrics.Registry
	publicURL string
	userAgent string
	redact    func(string) string
	ro        runOptions
}

// wire builds the bot's Telegram client, application client, pacer and
// adapter, counting in b.mx (see botFleet.wire).
func (b *bot) wire(w botWiring) {
	if w.ro.forBot != nil {
		w.ro = w.ro.forBot(b.name)
	}
	cfg := b.cfg
	tg := telegram.New(cfg.APIURL, cfg.Token, telegram.Options{
		PollTimeout: cfg.PollTimeout,
		UserAgent:   w.userAgent,
		Logger:      b.log.With("system", "telegram"),
		Observe:     b.mx.Called,
	})
	app := httpapp.NewClient(httpapp.ClientOptions{
		URL:         cfg.AppURL,
		SecretKey:   cfg.AppSecretKey,
		Timeout:     cfg.AppTimeout,
		MaxAttempts: cfg.AppMaxAttempts,
		MaxElapsed:  cfg.AppMaxElapsed,
		MaxBody:     cfg.SendBodyLimit,
		UserAgent:   w.userAgent,
	})
	// The lifecycle events are made once each (best effort): clients of
	// their own, without retries.
	var scopeEvents, lifecycleApp adapter.App
	if cfg.LifecycleEvents {
		once := func(url string) adapter.App {
			return httpapp.NewClient(httpapp.ClientOptions{
				URL:         url,
				SecretKey:   cfg.AppSecretKey,
				Timeout:     cfg.AppTimeout,
				MaxAttempts: 1,
				MaxBody:     cfg.SendBodyLimit,
				UserAgent:   w.userAgent,
			})
		}
		scopeEvents = once(cfg.AppURL)
		lifecycleApp = scopeEvents
		if cfg.LifecycleURL != "" {
			lifecycleApp = once(cfg.LifecycleURL)
		}
	}
	var pacer adapter.Pacer
	if cfg.Pacing {
		pacer = pacing.New(pacing.Config{
			ChatRate:   cfg.PacingChatRate,
			ChatBurst:  cfg.PacingChatBurst,
			GroupRate:  cfg.PacingGroupRate,
			GlobalRate: cfg.PacingGlobalRate,
		})
	}
	onDelivery := b.mx.Delivered
	if w.ro.onDelivery != nil {
		onDelivery = func(t adapter.Trace) {
			b.mx.Delivered(t)
			w.ro.onDelivery(t)
		}
	}
	onCallbackAnswer := func(id string, err error) {
		b.mx.CallbackAnswered(id, err)
		if w.ro.onCallbackAnswer != nil {
			w.ro.onCallbackAnswer(id, err)
		}
	}
	var sp adapter.Spool
	if b.sp != nil {
		sp = b.sp
	}
	ad := adapter.New(adapter.Options{
		Telegram:             tg,
		App:                  app,
		SendURL:              w.publicURL + "/send",
		SendToken:            cfg.SendToken,
		PollTimeout:          cfg.PollTimeout,
		AllowedUpdates:       cfg.AllowedUpdates,
		MaxConcurrency:       cfg.MaxConcurrency,
		ScopeIdleTimeout:     cfg.ScopeIdleTimeout,
		MaxScopes:            cfg.MaxScopes,
		SendTimeout:          cfg.SendTimeout,
		ShutdownGrace:        cfg.ShutdownGrace,
		Spool:                sp,
		BotID:                cfg.BotID(),
		SpoolMax:             cfg.SpoolMax,
		SpoolMemory:          spoolMemory(cfg.SpoolMemory),
		DeadLetterMax:        cfg.DeadletterMax,
		Pacer:                pacer,
		ChatQueue:            cfg.PacingQueue,
		TypingAfter:          cfg.TypingAfter,
		TypingRate:           cfg.TypingRate.PerSecond(),
		OnTyping:             both(b.mx.Typing, w.ro.onTyping),
		CallbackAnswerAfter:  cfg.CallbackAnswerAfter,
		OnCallbackAnswer:     onCallbackAnswer,
		ReplyResults:         cfg.ReplyResults,
		LifecycleEvents:      cfg.LifecycleEvents,
		ScopeEventsApp:       scopeEvents,
		LifecycleApp:         lifecycleApp,
		StartupTimeout:       cfg.StartupTimeout,
		OnLifecycle:          both(b.mx.Lifecycle, w.ro.onLifecycle),
		DeleteWebhookOnStart: cfg.DeleteWebhookOnStart,
		DropPendingUpdates:   cfg.DropPendingUpdates,
		Logger:               b.log.With("system", "adapter"),
		OnDelivery:           onDelivery,
		OnSend:               w.ro.onSend,
		OnReceived:           b.mx.Received,
		OnDeadLetter:         b.mx.DeadLetter,
		OnUpdateIDReset:      b.mx.UpdateIDReset,
		Redact:               w.redact,
	})
	b.ad = ad
}

// close closes the bot's spool.
func (b *bot) close() {
	if b.sp != nil {
		_ = b.sp.Close()
	}
}

// startAttrs are the attributes of the bot's start line.
func (b *bot) startAttrs() []any {
	return []any{"bot", b.name, "bot_id", b.cfg.BotID(), "app_url", redact.URL(b.cfg.AppURL), "spool", b.cfg.Spool}
}

// health is the bot's readiness: its adapter's, and why it stopped if its
// token was rejected.
func (b *bot) health() adapter.Health {
	h := b.ad.Health()
	if b.revoked.Load() {
		h.Ready = false
		h.Reasons = append([]string{"the bot token was rejected by Telegram (401 Unauthorized): this bot stopped"}, h.Reasons...)
	}
	return h
}

// errEveryTokenRejected stops a process of several bots once Telegram has
// rejected the token of every one.
var errEveryTokenRejected = fmt.Errorf("every bot's token was rejected: %w", telegram.ErrUnauthorized)

// bots are the bots of a process of several, behind its one local server:
// a token is resolved to the bot that knows it, and acts only as that bot.
// A reload replaces the set at once (set): a bot removed is unknown from
// then on, by its tokens and its name.
type bots struct {
	cur atomic.Pointer[botSet]
}

// botSet is one set of bots of bots.
type botSet struct {
	list   []*bot
	byName map[string]*bot
}

func newBots(list []*bot) *bots {
	bs := &bots{}
	bs.set(list)
	return bs
}

// set makes list the bots.
func (bs *bots) set(list []*bot) {
	s := &botSet{list: list, byName: make(map[string]*bot, len(list))}
	for _, b := range list {
		s.byName[b.name] = b
	}
	bs.cur.Store(s)
}

var (
	_ httpapp.Sender     = (*bots)(nil)
	_ httpapp.FileOpener = (*bots)(nil)
)

// Authorize resolves a /send or /file token: a scope token or the
// send_token of one of the bots. A token no bot knows is
// adapter.ErrUnknownToken, or adapter.ErrExpiredToken when a bot knew it.
func (bs *bots) Authorize(token string) (adapter.Principal, error) {
	err := adapter.ErrUnknownToken
	for _, b := range bs.cur.Load().list {
		p, e := b.ad.Authorize(token)
		if e == nil {
			return p, nil
		}
		if errors.Is(e, adapter.ErrExpiredToken) {
			err = e
		}
	}
	return adapter.Principal{}, err
}

// of returns the adapter of the bot whose Authorize resolved p, while
// that bot is one of bs.
func (bs *bots) of(p adapter.Principal) (*adapter.Adapter, error) {
	if ad := p.Adapter(); ad != nil && slices.ContainsFunc(bs.cur.Load().list, func(b *bot) bool { return b.ad == ad }) {
		return ad, nil
	}
	return nil, adapter.ErrUnknownToken
}

// Arrive takes no place: the arrival order is each bot's, and which bot a
// request is for is known from its principal only. The handler calls Send
// or SendFiles right after Arrive, with the nil Arrival, so the request
// takes its place in its bot's order there, as it arrives.
func (bs *bots) Arrive() *adapter.Arrival { return nil }

// Send carries out a /send of p's bot.
func (bs *bots) Send(ctx context.Context, p adapter.Principal, arr *adapter.Arrival, events []json.RawMessage) ([]json.RawMessage, error) {
	ad, err := bs.of(p)
	if err != nil {
		arr.Done()
		return nil, err
	}
	return ad.Send(ctx, p, arr, events)
}

// SendFiles carries out an upload of p's bot.
func (bs *bots) SendFiles(ctx context.Context, p adapter.Principal, arr *adapter.Arrival, event json.RawMessage, files []telegram.FilePart) (json.RawMessage, error) {
	ad, err := bs.of(p)
	if err != nil {
		arr.Done()
		return nil, err
	}
	return ad.SendFiles(ctx, p, arr, event, files)
}

func (bs *bots) OpenFile(ctx context.Context, p adapter.Principal, fileID string) (telegram.File, *telegram.Download, error) {
	ad, err := bs.of(p)
	if err != nil {
		return telegram.File{}, nil, err
	}
	return ad.OpenFile(ctx, p, fileID)
}

// Health is ready while every bot is; it lists each bot's health, and
// each reason prefixed with its bot's name. A bot that a reload is
// stopping is left out.
func (bs *bots) Health() adapter.Health {
	list := bs.cur.Load().list
	h := adapter.Health{Ready: true, Bots: make(map[string]adapter.Health, len(list))}
	for _, b := range list {
		if b.leaving.Load() {
			continue // stopping for a reload: its tokens still work meanwhile
		}
		bh := b.health()
		h.Bots[b.name] = bh
		h.Ready = h.Ready && bh.Ready
		for _, r := range bh.Reasons {
			h.Reasons = append(h.Reasons, b.name+": "+r)
		}
	}
	return h
}

// BotHealth is the health of the bot named name.
func (bs *bots) BotHealth(name string) (adapter.Health, bool) {
	b, ok := bs.cur.Load().byName[name]
	if !ok {
		return adapter.Health{}, false
	}
	return b.health(), true
}

// Admin is the admin of the bot named name.
func (bs *bots) Admin(name string) (httpapp.Admin, bool) {
	b, ok := bs.cur.Load().byName[name]
	if !ok {
		return nil, false
	}
	return b.ad, true
}
