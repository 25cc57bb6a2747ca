package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/config"
	"github.com/asgigram/asgigram/httpapp"
	"github.com/asgigram/asgigram/metrics"
	"github.com/asgigram/asgigram/telegram"
)

// botFleet is the running bots of a process, which a reload (SIGHUP) changes:
// bots added start, bots removed stop as on SIGTERM (their deliveries in
// flight finish and are confirmed), bots whose keys changed stop and start
// again with their new Config, and the others run on untouched.
type botFleet struct {
	multi  bool
	log    *slog.Logger
	loaded config.Config // the configuration at start, as loaded
	wiring botWiring
	// router resolves the tokens of several bots (and the name of the one
	// entry of bots:); one is the one bot of a process of one.
	router *bots
	one    *one

	g   *errgroup.Group
	ctx context.Context
	// running counts the bots' goroutines and the reloader's: the local
	// server stops when it is zero.
	running sync.WaitGroup

	mu   sync.Mutex
	live []*bot // in the order of the configuration
	// metrics keeps each name's collectors: a bot restarted, or removed
	// and added again, counts on in the same series.
	metrics map[string]*botMetrics
	// reloading serializes reloads.
	reloading sync.Mutex
}

// botMetrics are the collectors of one bot name; their gauges read the
// adapter of the bot running under that name (none: 0).
type botMetrics struct {
	mx *metrics.Metrics
	ad atomic.Pointer[adapter.Adapter]
}

// wire wires b, with the collectors of its name.
func (f *botFleet) wire(b *bot) {
	f.mu.Lock()
	bm := f.metrics[b.name]
	if bm == nil {
		bm = &botMetrics{}
		bm.mx = f.wiring.registry.Bot(b.name, metrics.Gauges{
			Scopes: func() int {
				if ad := bm.ad.Load(); ad != nil {
					return ad.Registry().Len()
				}
				return 0
			},
			Pending: func() int {
				if ad := bm.ad.Load(); ad != nil {
					return ad.Pending()
				}
				return 0
			},
		})
		f.metrics[b.name] = bm
	}
	f.mu.Unlock()
	b.mx = bm.mx
	b.wire(f.wiring)
	bm.ad.Store(b.ad)
}

// start runs b until the process stops or a reload stops it.
func (f *botFleet) start(b *bot) {
	bctx, cancel := context.WithCancel(f.ctx)
	b.stop, b.done = cancel, make(chan struct{})
	f.mu.Lock()
	f.live = append(f.live, b)
	f.mu.Unlock()
	f.running.Add(1)
	f.g.Go(func() error {
		defer f.running.Done()
		defer close(b.done)
		err := b.ad.Run(bctx)
		if !errors.Is(err, telegram.ErrUnauthorized) {
			if err != nil && f.multi {
				return fmt.Errorf("bot %s: %w", b.name, err)
			}
			return err
		}
		b.revoked.Store(true)
		if !f.multi {
			return err
		}
		f.mu.Lock()
		left := 0
		for _, o := range f.live {
			if !o.revoked.Load() {
				left++
			}
		}
		f.mu.Unlock()
		b.log.Error("the bot token was rejected by Telegram (401 Unauthorized): this bot stopped; check its token or token_file", "bots_running", left, "error", err)
		if left == 0 {
			return errEveryTokenRejected
		}
		return nil
	})
}

// closeAll closes the spools of the bots still open when the process stops.
func (f *botFleet) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.live {
		b.close()
	}
	f.live = nil
}

// route gives the token router the bots of live.
func (f *botFleet) route() {
	f.mu.Lock()
	list := slices.Clone(f.live)
	f.mu.Unlock()
	if f.router != nil {
		f.router.set(list)
	}
	if f.one != nil && len(list) == 1 {
		f.one.set(list[0])
	}
}

// reload rereads the configuration with load and applies it: see botFleet.
// A configuration that does not load, or that turns one bot into several
// or back, changes nothing. The global keys that changed are reported and
// ignored: they take a restart.
func (f *botFleet) reload(load func() (config.Config, error), secrets *secretSet) {
	f.reloading.Lock()
	defer f.reloading.Unlock()
	f.log.Info("reloading the configuration (SIGHUP)")
	cfg, err := load()
	if err != nil {
		f.log.Error("reload: the configuration was not applied, every bot runs on unchanged", "error", err)
		return
	}
	secrets.add(cfg)
	cfgs := cfg.Bots
	if cfgs == nil {
		cfgs = []config.Config{cfg}
	}
	if (len(cfgs) > 1) != f.multi {
		f.log.Error("reload: the configuration was not applied, every bot runs on unchanged: going from one bot to several, or from several to one, takes a restart of asgigram")
		return
	}
	ignored := config.GlobalChanges(f.loaded, cfg)
	if len(ignored) > 0 {
		f.log.Warn("reload: global keys changed; they are ignored until asgigram restarts", "keys", strings.Join(ignored, ","))
	}
	key := func(name string) string {
		if f.multi {
			return name
		}
		return "" // the one bot, whatever its name
	}
	f.mu.Lock()
	old := make(map[string]*bot, len(f.live))
	for _, b := range f.live {
		old[key(b.name)] = b
	}
	f.mu.Unlock()
	var (
		added, removed, restarted, unchanged []string
		stop                                 []*bot
		want                                 []config.Config
		seen                                 = map[string]bool{}
	)
	for _, bc := range cfgs {
		bc.KeepGlobal(f.loaded)
		k := key(bc.BotName)
		seen[k] = true
		b, ok := old[k]
		switch {
		case !ok:
			added = append(added, bc.BotName)
			want = append(want, bc)
		case len(config.BotChanges(b.cfg, bc)) > 0:
			b.log.Info("bot restarting: its configuration changed", "keys", strings.Join(config.BotChanges(b.cfg, bc), ","))
			restarted = append(restarted, nameOf(b.name))
			stop = append(stop, b)
			want = append(want, bc)
		default:
			unchanged = append(unchanged, nameOf(b.name))
		}
	}
	for k, b := range old {
		if !seen[k] {
			b.log.Info("bot stopping: it was removed from the configuration")
			removed = append(removed, b.name)
			stop = append(stop, b)
		}
	}
	// The bots stopping drain as on SIGTERM, still reachable by their
	// tokens (their deliveries in flight may /send); once stopped they are
	// gone from the router, and the bots starting take their place.
	for _, b := range stop {
		b.leaving.Store(f.multi)
		b.stop()
	}
	for _, b := range stop {
		<-b.done
		f.mu.Lock()
		f.live = slices.DeleteFunc(f.live, func(o *bot) bool { return o == b })
		bm := f.metrics[b.name]
		f.mu.Unlock()
		b.close()
		if bm != nil {
			bm.ad.CompareAndSwap(b.ad, nil) // its gauges read 0 until it starts again
		}
		b.log.Info("bot stopped")
	}
	if len(stop) > 0 && f.multi {
		f.route()
	}
	var failed []string
	for _, bc := range want {
		if f.ctx.Err() != nil {
			return // the process is stopping
		}
		b, err := openBot(bc, !f.multi, f.log)
		if err != nil {
			f.log.Error("reload: the bot could not start", "bot", nameOf(bc.BotName), "error", err)
			failed = append(failed, nameOf(bc.BotName))
			continue
		}
		f.wire(b)
		if f.multi {
			f.log.Info("bot starting", b.startAttrs()...)
		}
		f.start(b)
	}
	f.route()
	f.order(cfgs)
	sum := []any{"added", strings.Join(added, ","), "removed", strings.Join(removed, ","),
		"restarted", strings.Join(restarted, ","), "unchanged", strings.Join(unchanged, ","),
		"ignored_global_keys", strings.Join(ignored, ",")}
	if len(failed) > 0 {
		sum = append(sum, "failed", strings.Join(failed, ","))
	}
	f.log.Info("reloaded the configuration", sum...)
}

// order puts live in the order of cfgs (readiness lists the bots so).
func (f *botFleet) order(cfgs []config.Config) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pos := map[string]int{}
	for i, c := range cfgs {
		pos[c.BotName] = i
	}
	slices.SortStableFunc(f.live, func(a, b *bot) int { return pos[a.name] - pos[b.name] })
}

// nameOf is name in a log line: the top-level bot has none.
func nameOf(name string) string {
	if name == "" {
		return "bot"
	}
	return name
}

// one is the bot of a process of one bot, behind its local server: a
// reload that changes the bot's keys replaces it.
type one struct {
	cur atomic.Pointer[bot]
}

func newOne(b *bot) *one {
	o := &one{}
	o.cur.Store(b)
	return o
}

func (o *one) set(b *bot) { o.cur.Store(b) }

var (
	_ httpapp.Sender     = (*one)(nil)
	_ httpapp.FileOpener = (*one)(nil)
	_ httpapp.Admin      = (*one)(nil)
)

func (o *one) Authorize(token string) (adapter.Principal, error) {
	return o.cur.Load().ad.Authorize(token)
}

func (o *one) Arrive() *adapter.Arrival { return o.cur.Load().ad.Arrive() }

// of returns the adapter of p, which must be the running bot's: a token
// of the bot a reload replaced is unknown to the bot that replaced it.
func (o *one) of(p adapter.Principal) (*adapter.Adapter, error) {
	ad := o.cur.Load().ad
	if p.Adapter() != nil && p.Adapter() != ad {
		return nil, adapter.ErrUnknownToken
	}
	return ad, nil
}

func (o *one) Send(ctx context.Context, p adapter.Principal, arr *adapter.Arrival, events []json.RawMessage) ([]json.RawMessage, error) {
	ad, err := o.of(p)
	if err != nil {
		arr.Done()
		return nil, err
	}
	return ad.Send(ctx, p, arr, events)
}

func (o *one) SendFiles(ctx context.Context, p adapter.Principal, arr *adapter.Arrival, event json.RawMessage, files []telegram.FilePart) (json.RawMessage, error) {
	ad, err := o.of(p)
	if err != nil {
		arr.Done()
		return nil, err
	}
	return ad.SendFiles(ctx, p, arr, event, files)
}

func (o *one) OpenFile(ctx context.Context, p adapter.Principal, fileID string) (telegram.File, *telegram.Download, error) {
	ad, err := o.of(p)
	if err != nil {
		return telegram.File{}, nil, err
	}
	return ad.OpenFile(ctx, p, fileID)
}

func (o *one) Health() adapter.Health { return o.cur.Load().health() }

func (o *one) DeadLetters() ([]adapter.DeadLetter, error) { return o.cur.Load().ad.DeadLetters() }

func (o *one) DeadLetter(id uint64) (adapter.DeadLetter, error) {
	return o.cur.Load().ad.DeadLetter(id)
}

func (o *one) DropDeadLetter(id uint64) error { return o.cur.Load().ad.DropDeadLetter(id) }

func (o *one) ReplayDeadLetter(id uint64) error { return o.cur.Load().ad.ReplayDeadLetter(id) }
