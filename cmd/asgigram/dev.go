package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/asgigram/asgigram/config"
	"github.com/asgigram/asgigram/devmode"
)

// devShutdownGrace is dev mode's shutdown_grace: Ctrl-C should not wait
// long for a stuck application.
const devShutdownGrace = 5 * time.Second

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
Dev mode reads no config file and, of the environment, only
ASGIGRAM_APP_SECRET and ASGIGRAM_SEND_TOKEN (so an app and dev mode can share
one export); a real bot token is never used.

Arguments:
  APP_URL   your application's URL, same as --app-url (default: the built-in
            echo app)

Flags:
  --listen HOST:PORT     address of the local server (default 127.0.0.1:8080;
                         port 0 picks a free port, the banner shows it)
  --app-url URL          the application URL, instead of the argument
  --public-url URL       base URL under which your app reaches asgigram
                         (send_url is <public-url>/send; default
                         http://<listen address>)
  --app-secret SECRET    sign every event, Standard Webhooks whsec_<base64>
                         (env ASGIGRAM_APP_SECRET); the echo app then
                         verifies the signatures
  --send-token TOKEN     application-level /send token (env
                         ASGIGRAM_SEND_TOKEN)
  --app-timeout DURATION timeout of one delivery attempt (default 10s)
  --app-max-attempts N   delivery attempts per event, the first one included
                         (default 5)
  --pacing=false         do not pace the bot's calls (by default they are
                         paced as in production, within Telegram's limits:
                         after a burst, about one message per second per
                         chat)
  --log-level LEVEL      debug, info, warn or error (default warn: the trace
                         lines say what happens)
  --log-format FORMAT    text or json, for the log on stderr (default text)
  -v, --verbose          log at debug level
  -h, --help             print this help

Endpoints (JSON in, JSON out):

` + devmode.EndpointsHelp(base) + `
Stop with Ctrl-C (exit status 0).
`
}

// runDev runs "asgigram dev [APP_URL]": the adapter against the fake Bot API
// in this process, with the dev endpoints, until ctx ends.
func (m *Main) runDev(ctx context.Context, args []string) int {
	fs := pflag.NewFlagSet("asgigram dev", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	def := config.Default()
	listen := fs.String("listen", def.Listen, "")
	appURL := fs.String("app-url", "", "")
	publicURL := fs.String("public-url", "", "")
	appSecret := fs.String("app-secret", os.Getenv("ASGIGRAM_APP_SECRET"), "")
	sendToken := fs.String("send-token", os.Getenv("ASGIGRAM_SEND_TOKEN"), "")
	appTimeout := fs.Duration("app-timeout", def.AppTimeout, "")
	appMaxAttempts := fs.Int("app-max-attempts", def.AppMaxAttempts, "")
	pacingOn := fs.Bool("pacing", def.Pacing, "")
	logLevel := fs.String("log-level", "warn", "")
	logFormat := fs.String("log-format", def.LogFormat, "")
	verbose := fs.CountP("verbose", "v", "")
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(m.Stderr, "asgigram dev: "+format+" (see asgigram dev --help)\n", a...)
		return ExitConfig
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(m.Stdout, devUsage("http://127.0.0.1:8080"))
			return ExitOK
		}
		return usageErr("%v", err)
	}
	switch rest := fs.Args(); {
	case len(rest) > 1:
		return usageErr("too many arguments (%d): expected at most APP_URL", len(rest))
	case len(rest) == 1 && fs.Changed("app-url"):
		return usageErr("the application URL is given twice: as argument and as --app-url")
	case len(rest) == 1:
		*appURL = rest[0]
	}
	builtin := *appURL == ""

	cfg := def
	cfg.Token = devmode.Token
	cfg.AppURL = *appURL
	if builtin {
		cfg.AppURL = "http://127.0.0.1" + devmode.EchoPath // set below, once listening
	}
	cfg.APIURL = "http://127.0.0.1" + devmode.BotAPIPath // set below
	cfg.Listen = *listen
	cfg.PublicURL = *publicURL
	cfg.AppSecret = *appSecret
	cfg.SendToken = *sendToken
	cfg.AppTimeout = *appTimeout
	cfg.AppMaxAttempts = *appMaxAttempts
	cfg.Pacing = *pacingOn
	cfg.LogLevel = *logLevel
	cfg.LogFormat = *logFormat
	if *verbose > 0 {
		cfg.LogLevel = "debug"
	}
	cfg.ShutdownGrace = devShutdownGrace
	// The fake Telegram starts empty on every run: updates kept on disk
	// would be redelivered into a world that no longer has them (and would
	// share a real instance's data_dir). Dev mode spools in memory.
	cfg.Spool = "memory"
	cfg.DataDir = ""
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(m.Stderr, "asgigram dev: %v\n", err)
		return ExitConfig
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintf(m.Stderr, "asgigram dev: listen: %v\n", err)
		return ExitFailure
	}
	base := "http://" + localAddr(ln.Addr())
	cfg.APIURL = base + devmode.BotAPIPath
	if builtin {
		cfg.AppURL = base + devmode.EchoPath
	}
	if !fs.Changed("public-url") {
		cfg.PublicURL = base
	}
	if err := cfg.Validate(); err != nil {
		_ = ln.Close()
		fmt.Fprintf(m.Stderr, "asgigram dev: %v\n", err)
		return ExitConfig
	}

	log := newLogger(cfg, m.Stderr)
	redact := secretScrubber(cfg)
	dev := devmode.New(devmode.Options{
		Out:     m.Stdout,
		Redact:  redact,
		EchoKey: cfg.AppSecretKey,
		BaseURL: base,
		AppURL:  cfg.AppURL,
	})
	stop := context.AfterFunc(ctx, dev.Close) // pending waits answer at once
	defer stop()
	defer dev.Close()

	fmt.Fprint(m.Stdout, redact(dev.Banner(cfg.PublicURL+"/send")))
	err = run(ctx, cfg, log, runOptions{ln: ln, routes: dev.Routes, onDelivery: dev.OnDelivery, onSend: dev.OnSend})
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
