// Command asgigram lets any HTTP endpoint be a Telegram bot: it long-polls
// the Bot API, POSTs every update as a JSON event to the application URL, and
// carries out the events the application answers with or sends to /send.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"
	"golang.org/x/sync/errgroup"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/config"
	"github.com/asgigram/asgigram/httpapp"
	"github.com/asgigram/asgigram/internal/redact"
	"github.com/asgigram/asgigram/metrics"
	"github.com/asgigram/asgigram/spool"
	"github.com/asgigram/asgigram/telegram"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// Exit codes. A supervisor should not restart on ExitConfig or ExitToken:
// the same configuration fails the same way.
const (
	ExitOK      = 0
	ExitFailure = 1 // a runtime failure (e.g. the listen address is taken)
	ExitConfig  = 2 // bad configuration or usage
	ExitToken   = 3 // Telegram rejected the bot token (401)
	// ExitSpoolDamaged: the spool's files are damaged; asgigram refuses to
	// start without what they hold. `asgigram spool check` and `asgigram
	// spool salvage` help.
	ExitSpoolDamaged = 4
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := (&Main{Stdout: os.Stdout, Stderr: os.Stderr}).Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// Main is the program, with its output streams, so tests can run it.
type Main struct {
	Stdout, Stderr io.Writer
}

// Run parses args, runs asgigram until ctx ends, and returns the exit code.
func (m *Main) Run(ctx context.Context, args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "dev":
			return m.runDev(ctx, args[1:])
		case "deadletters":
			return m.runDeadLetters(args[1:])
		case "spool":
			return m.runSpool(args[1:])
		}
	}
	cfg, err := config.Load(args, m.Stderr)
	switch {
	case errors.Is(err, config.ErrHelp):
		return ExitOK
	case err != nil:
		fmt.Fprintf(m.Stderr, "asgigram: %v\n", err)
		return ExitConfig
	case cfg.Version:
		fmt.Fprintf(m.Stdout, "asgigram %s\n", version)
		return ExitOK
	}
	secrets := newSecretSet(cfg)
	log := newLoggerWith(cfg, secrets, m.Stderr)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ro := runOptions{secrets: secrets, hup: hup, reload: func() (config.Config, error) { return config.Load(args, m.Stderr) }}
	if err := run(ctx, cfg, log, ro); err != nil {
		switch {
		case errors.Is(err, errEveryTokenRejected):
			log.Error("the token of every bot was rejected by Telegram (401 Unauthorized): check each bot's token or token_file")
			return ExitToken
		case errors.Is(err, telegram.ErrUnauthorized):
			log.Error("the bot token was rejected by Telegram (401 Unauthorized): check token / ASGIGRAM_TOKEN")
			return ExitToken
		case errors.Is(err, spool.ErrDamaged):
			log.Error("the spool is damaged: asgigram does not start without what it holds (exit 4)", "error", err)
			return ExitSpoolDamaged
		case errors.Is(err, spool.ErrOtherBot), errors.Is(err, adapter.ErrOtherBot):
			log.Error("asgigram stopped", "error", err)
			return ExitConfig
		}
		log.Error("asgigram stopped", "error", err)
		return ExitFailure
	}
	return ExitOK
}

// newLogger builds the slog logger of cfg. As a last line of defence it
// removes the bot token and the other secrets from every string it prints,
// and masks the userinfo and query values of every URL.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	return newLoggerWith(cfg, newSecretSet(cfg), w)
}

// newLoggerWith is newLogger removing the secrets of scrub, which a reload
// may add to.
func newLoggerWith(cfg config.Config, scrub *secretSet, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Value.Kind() {
			case slog.KindString:
				a.Value = slog.StringValue(scrub.Text(a.Value.String()))
			case slog.KindAny:
				if err, ok := a.Value.Any().(error); ok {
					a.Value = slog.StringValue(scrub.Text(err.Error()))
				}
			}
			return a
		},
	}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// secretsOf returns the redaction of cfg's secrets: the bot token (and its
// part after ':'), the app_secret, the send_token and the admin_token.
func secretsOf(cfg config.Config) redact.Secrets {
	return redact.New(cfg.Secrets()...)
}

// secretSet is the redaction of every secret the process has known: those
// of its configuration at start and of every configuration a reload read
// (a removed bot's token stays secret while it drains, and after).
type secretSet struct {
	mu   sync.Mutex
	list []string
	cur  atomic.Pointer[redact.Secrets]
}

func newSecretSet(cfg config.Config) *secretSet {
	s := &secretSet{}
	s.add(cfg)
	return s
}

// add adds the secrets of cfg.
func (s *secretSet) add(cfg config.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, cfg.Secrets()...)
	r := redact.New(s.list...)
	s.cur.Store(&r)
}

// Text removes every secret from text (redact.Secrets.Text).
func (s *secretSet) Text(text string) string { return s.cur.Load().Text(text) }

// runOptions let the dev mode reuse run.
type runOptions struct {
	// ln is the local server's listener; nil listens on cfg.Listen.
	ln net.Listener
	// routes adds routes to the local server.
	routes func(chi.Router)
	// onDelivery is called after every delivery.
	onDelivery func(adapter.Trace)
	// onSend is called after every /send request.
	onSend func(adapter.SendTrace)
	// onTyping is called for every typing call of typing_after, and
	// onCallbackAnswer for every callback query asgigram answered itself.
	onTyping         func(adapter.TypingCall)
	onCallbackAnswer func(id string, err error)
	// onLifecycle is called after every lifecycle event POST.
	onLifecycle func(adapter.Trace)
	// forBot, when set, gives each bot its own hooks (the on... fields),
	// by its name ("" for the top-level bot).
	forBot func(name string) runOptions
	// secrets is the redaction of the logger; nil: cfg's.
	secrets *secretSet
	// hup asks for a reload: reload rereads the configuration (nil: no
	// reload).
	hup    <-chan os.Signal
	reload func() (config.Config, error)
}

// spoolOpeners is how many bots' spools are opened at once at start.
const spoolOpeners = 8

// run wires the parts and runs them until ctx ends or one fails. cfg
// gives one bot, or several in cfg.Bots: each runs on its own, behind one
// local server. A value on ro.hup rereads the configuration (see reload).
func run(ctx context.Context, cfg config.Config, log *slog.Logger, ro runOptions) error {
	loaded := cfg
	cfgs := cfg.Bots
	if cfgs == nil {
		cfgs = []config.Config{cfg}
	}
	multi := len(cfgs) > 1
	if ro.secrets == nil {
		ro.secrets = newSecretSet(cfg)
	}
	f := &botFleet{multi: multi, log: log, loaded: loaded, metrics: map[string]*botMetrics{}}
	// The spools first: a second instance on the same data_dir stops here,
	// before it touches the listen address or Telegram.
	// Several at a time: opening a spool waits for the disk (its file
	// lock, a synced creation), and a process of many bots would start one
	// after the other.
	list := make([]*bot, len(cfgs))
	defer func() {
		for _, b := range list {
			if b != nil {
				b.close()
			}
		}
		f.closeAll()
	}()
	errs := make([]error, len(cfgs))
	var opening errgroup.Group
	opening.SetLimit(spoolOpeners)
	for i, bc := range cfgs {
		opening.Go(func() error {
			list[i], errs[i] = openBot(bc, !multi, log)
			return nil
		})
	}
	_ = opening.Wait()
	for i, err := range errs {
		if err == nil {
			continue
		}
		if multi {
			return fmt.Errorf("bot %s: %w", cfgs[i].BotName, err)
		}
		return err
	}
	ln := ro.ln
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	publicURL := cfg.PublicURL
	if _, port, _ := net.SplitHostPort(cfg.Listen); port == "0" && strings.HasSuffix(publicURL, ":0") {
		publicURL = config.LocalURL(ln.Addr().String())
	}
	registry := metrics.NewRegistry()
	f.wiring = botWiring{registry: registry, publicURL: publicURL, userAgent: "asgigram/" + version, redact: ro.secrets.Text, ro: ro}
	for _, b := range list {
		f.wire(b)
	}
	if warn := cfg.ResolveMaxConnections(config.OpenFileLimit()); warn != "" {
		log.Warn(warn)
	}
	ro2 := httpapp.RouterOptions{
		BodyLimit:   cfg.SendBodyLimit,
		UploadLimit: cfg.UploadLimit,
		MaxEvents:   cfg.SendMaxEvents,
		BodyTimeout: cfg.SendBodyTimeout,
		MinRate:     cfg.UploadMinRate,
		HandlerTime: cfg.SendTimeout,
		Logger:      log.With("system", "http"),
		Routes:      ro.routes,
		Metrics:     registry.Handler(),
		AdminToken:  cfg.AdminToken,
	}
	if multi {
		f.router = newBots(list)
		ro2.Sender, ro2.Files, ro2.Health = f.router, f.router, f.router.Health
		ro2.BotHealth, ro2.AdminBot = f.router.BotHealth, f.router.Admin
	} else {
		f.one = newOne(list[0])
		ro2.Sender, ro2.Files, ro2.Health, ro2.Admin = f.one, f.one, f.one.Health, f.one
		if list[0].name != "" {
			// The one entry of bots: answers by its name too.
			f.router = newBots(list)
			ro2.BotHealth, ro2.AdminBot = f.router.BotHealth, f.router.Admin
		}
	}
	router := httpapp.NewRouter(ro2)
	// Over max_connections, probes are still answered (see LimitListener).
	limited := httpapp.LimitListener(ln, cfg.MaxConnections, router, log.With("system", "http"))
	srv := &http.Server{
		Handler:           router,
		ReadHeaderTimeout: cfg.SendBodyTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ConnState:         limited.ConnState,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if warn := httpapp.ExposureWarning(ln.Addr().String(), cfg.AdminToken != ""); warn != "" {
		log.Warn(warn)
	}
	start := []any{"version", version, "listen", ln.Addr().String(), "send_url", publicURL + "/send"}
	if multi {
		names := make([]string, len(list))
		for i, b := range list {
			names[i] = b.name
		}
		start = append(start, "bots", strings.Join(names, ","), "max_connections", cfg.MaxConnections)
	} else {
		start = append(start, "app_url", redact.URL(cfg.AppURL), "max_connections", cfg.MaxConnections)
		if cfg.BotName != "" {
			start = append(start, "bot", cfg.BotName) // its entry in bots:
		}
	}
	log.Info("asgigram starting", start...)
	if multi {
		for _, b := range list {
			log.Info("bot starting", b.startAttrs()...)
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	f.g, f.ctx = g, gctx
	// Each bot runs until ctx ends (then drains within shutdown_grace), or
	// until it fails, or until a reload stops it. A bot whose token
	// Telegram rejects stops alone; the process stops when every bot has,
	// or when one fails otherwise. The HTTP server follows the last bot
	// (and the reloader) down.
	botsDone := make(chan struct{})
	for _, b := range list {
		f.start(b)
	}
	list = nil // f closes them now
	if ro.hup != nil && ro.reload != nil {
		f.running.Add(1)
		g.Go(func() error {
			defer f.running.Done()
			for {
				select {
				case <-gctx.Done():
					return nil
				case <-ro.hup:
					f.reload(ro.reload, ro.secrets)
				}
			}
		})
	}
	go func() {
		f.running.Wait()
		close(botsDone)
	}()
	g.Go(func() error {
		if err := srv.Serve(limited); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-botsDone
		// Requests in flight get a moment to finish. A connection that was
		// opened but never used (clients dial spares) would hold Shutdown
		// for 5 s: past the moment, close whatever is left.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
		return nil
	})
	return g.Wait()
}

// spoolMemory turns spool_memory into adapter.Options.SpoolMemory (both 0:
// none), capped to what an int holds on every platform.
func spoolMemory(n int64) int {
	return int(min(n, int64(math.MaxInt32)))
}

// both calls f, then g when it is set.
func both[T any](f, g func(T)) func(T) {
	if g == nil {
		return f
	}
	return func(v T) {
		f(v)
		g(v)
	}
}
