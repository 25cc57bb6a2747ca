package main

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/asgigram/asgigram/config"
	"github.com/asgigram/asgigram/devmode"
)

// devUsage is the help text of "asgigram dev"; base is the URL used in the
// curl examples.
func devUsage(base string) string {
	return `Usage: asgigram dev [APP_URL] [flags]

Runs asgigram against a fake Telegram inside this process: no bot token and no
Telegram account needed. You act as Telegram users with curl on the endpoints
below, your application gets the same events, signed the same way, as with
real Telegram, and what it answers (in the response body or later through
/send) is carried out against the fake and can be read back as JSON.

Without APP_URL, a built-in echo application answers (served at /dev/echo):
it echoes text ("echo: <text>"), answers /start with two buttons, answers
button presses and inline queries. So "asgigram dev" alone shows the whole
loop. Each finished event prints one line on stdout, e.g.

  update 3 telegram.message chat:42 -> app 200 in 2ms -> sendMessage ok

Everything is served on one local server (--listen): /send for your app as
usual, the dev endpoints under /dev/, and the fake Bot API under /dev/botapi.
Dev mode has settings of its own, the group dev: of the config file
(dev.listen is --listen and ASGIGRAM_DEV_LISTEN), so that the settings of a
real bot never point it elsewhere. Of those, it shares only app_secret and
send_token (ASGIGRAM_APP_SECRET, ASGIGRAM_SEND_TOKEN), so an app and dev mode
can share one export; with app_secret, the echo app verifies the signatures.
It reads a config file only when given --config, and a real bot token is
never used.

Arguments:
  APP_URL   your application's URL, same as --app-url (default: the built-in
            echo app)

Flags:
` + config.DevFlagsUsage() + `
Endpoints (JSON in, JSON out):

` + devmode.EndpointsHelp(base) + `
Stop with Ctrl-C (exit status 0).
`
}

// runDev runs "asgigram dev [APP_URL]": the adapter against the fake Bot API
// in this process, with the dev endpoints, until ctx ends.
func (m *Main) runDev(ctx context.Context, args []string) int {
	cfg, err := config.LoadDev(args, devmode.Token, m.Stderr)
	switch {
	case errors.Is(err, config.ErrHelp):
		fmt.Fprint(m.Stdout, devUsage("http://127.0.0.1:8080"))
		return ExitOK
	case err != nil:
		fmt.Fprintf(m.Stderr, "asgigram dev: %v\n", err)
		return ExitConfig
	}
	builtin := cfg.AppURL == ""
	if cfg.DevBots > 1 && cfg.SendToken != "" {
		fmt.Fprintf(m.Stderr, "asgigram dev: --send-token with --bots %d: a send_token says which bot a /send is for, and every bot would share this one; leave it out (the scope tokens of send_url work for every bot)\n", cfg.DevBots)
		return ExitConfig
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintf(m.Stderr, "asgigram dev: listen: %v\n", err)
		return ExitFailure
	}
	base := config.LocalURL(ln.Addr().String())
	cfg.APIURL = base + devmode.BotAPIPath
	if builtin {
		cfg.AppURL = base + devmode.EchoPath
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = base
	}
	if err := cfg.Validate(); err != nil {
		_ = ln.Close()
		fmt.Fprintf(m.Stderr, "asgigram dev: %v\n", err)
		return ExitConfig
	}
	if cfg.DevBots > 1 {
		// Each fake bot is a bot of this process, as an entry of bots:
		// would be, with dev mode's settings.
		for i := 1; i <= cfg.DevBots; i++ {
			bc := cfg
			bc.Token, bc.BotName = devmode.BotToken(i), devmode.BotName(i)
			cfg.Bots = append(cfg.Bots, bc)
		}
		cfg.Token = ""
	}

	log := newLogger(cfg, m.Stderr)
	redact := secretScrubber(cfg)
	dev := devmode.New(devmode.Options{
		Out:     m.Stdout,
		Redact:  redact,
		EchoKey: cfg.AppSecretKey,
		BaseURL: base,
		AppURL:  cfg.AppURL,
		Bots:    cfg.DevBots,
	})
	stop := context.AfterFunc(ctx, dev.Close) // pending waits answer at once
	defer stop()
	defer dev.Close()

	fmt.Fprint(m.Stdout, redact(dev.Banner(cfg.PublicURL+"/send")))
	hooks := func(name string) runOptions {
		h := dev.For(name)
		return runOptions{onDelivery: h.OnDelivery, onSend: h.OnSend, onTyping: h.OnTyping,
			onCallbackAnswer: h.OnCallbackAnswer, onLifecycle: h.OnLifecycle}
	}
	ro := hooks("")
	ro.ln, ro.routes, ro.forBot = ln, dev.Routes, hooks
	err = run(ctx, cfg, log, ro)
	if err != nil {
		log.Error("asgigram dev stopped", "error", err)
		return ExitFailure
	}
	return ExitOK
}

// secretScrubber returns a function that removes the token and the
// configured secrets from a text. It leaves URLs whole: the dev mode's
// banner and traces show local URLs with queries the user copies.
func secretScrubber(cfg config.Config) func(string) string {
	return secretsOf(cfg).String
}
