// Package config loads and validates asgigram's configuration.
//
// Every setting has one flat snake_case name. It is the key in the optional
// config file (YAML, JSON or TOML), the flag is the key with '-' for '_'
// (app_timeout is --app-timeout) and the environment variable is ASGIGRAM_
// followed by the upper-case key (ASGIGRAM_APP_TIMEOUT). A flag wins over the
// environment, the environment over the file, and the file over the default.
//
// Booleans are true or false (1 or 0 in the environment, YAML booleans in
// the file); a boolean flag alone means true (--pacing), and false must be
// joined to it (--pacing=false). Rates are N/s, N/m, N/h or N/<duration>.
//
// The bot token, the app_secret, the send_token and the admin_token are never
// part of an error message, of Usage or of Redacted.
//
// One table (settings.go) holds the keys of every command: the daemon
// (Load), asgigram dev (LoadDev, its keys the group dev.*), asgigram
// deadletters (LoadDeadLetters) and asgigram spool (SpoolLocation). Each
// command reads its own keys and knows all of them. A key of a group is a
// map in the file (dev: {listen: ...}); each key of the daemon says
// whether it is global, a bot's own, or both, that is whether it may be
// given in the entry of the file's bots: list (bots.go).
//
// The files follow the steps: config.go holds the Config type, its defaults
// and its redacted forms; settings.go the settings table (every key, its
// commands, scope, flag, environment variable and help); load.go reading
// flags, environment and file, per command; bots.go the bots: list;
// decode.go turning their strings into typed values; usage.go the help
// texts; validate.go the checks. The Rate type is pacing.Rate.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/asgigram/asgigram/internal/redact"
	"github.com/asgigram/asgigram/pacing"
	"github.com/asgigram/asgigram/telegram"
)

// Config is asgigram's whole configuration.
//
// Load builds it from flags, environment, file and defaults; a Config built
// in code must go through Validate before use.
type Config struct {
	// Token is the bot token from @BotFather. It is never printed.
	Token string
	// TokenFile names a file whose trimmed content is the token. It cannot be
	// combined with Token.
	TokenFile string
	// BotName is the name of the bot's entry in the config file's bots:
	// list, empty when the bot is given at the top level (token, app_url).
	BotName string
	// Bots are the bots of a config file whose bots: list has more than
	// one entry, each a whole validated Config (the global settings, the
	// top-level values of the others, the entry's overrides), in the order
	// of the file. The process runs them all; Token, TokenFile and BotName
	// of the Config that holds them are empty, and its other settings of
	// scope both are those of the first bot. Nil otherwise: the Config is
	// the one bot's.
	Bots []Config
	// AppURL is the application's URL: every update is POSTed to it.
	AppURL string
	// APIURL is the Bot API base URL, without a trailing slash. It may carry
	// a path prefix (a proxy, a local Bot API server).
	APIURL string
	// Listen is the host:port of the HTTP server that serves /send.
	Listen string
	// PublicURL is the base URL under which the application reaches
	// asgigram (send_url is PublicURL + "/send"), without a trailing slash.
	// Empty means "http://" + Listen, with an unspecified host ("", 0.0.0.0,
	// ::) replaced by 127.0.0.1; Validate fills it in.
	PublicURL string
	// AppSecret is the Standard Webhooks secret "whsec_<base64>" used to
	// sign every event. Empty means events are not signed.
	AppSecret string
	// AppSecretKey is the HMAC key decoded from AppSecret by Validate (nil
	// when AppSecret is empty). It is not a setting of its own.
	AppSecretKey []byte
	// SendToken is an application-level bearer token for /send, for jobs
	// that outlive every scope. Empty disables it.
	SendToken string
	// AdminToken is the bearer token of the admin endpoints (dead letters).
	// Empty switches the admin endpoints off. It is never printed.
	AdminToken string
	// AdminURL is the local server of the running asgigram that `asgigram
	// deadletters` talks to. Empty means LocalURL(Listen). Only that command
	// reads it.
	AdminURL string
	// DevBots is how many fake bots asgigram dev runs (dev.bots, at least
	// 1). Only that command reads it.
	DevBots int
	// PollTimeout is the getUpdates long-poll timeout, from 0 to 50s.
	PollTimeout time.Duration
	// AllowedUpdates lists the update kinds asked from Telegram. An empty,
	// non-nil slice means "let Telegram choose" (its default leaves out
	// chat_member, message_reaction and message_reaction_count).
	AllowedUpdates []string
	// DeleteWebhookOnStart makes asgigram call deleteWebhook at every start,
	// before polling, so a bot that had a webhook can be polled.
	DeleteWebhookOnStart bool
	// DropPendingUpdates passes drop_pending_updates=true to that
	// deleteWebhook call, at every start. It requires DeleteWebhookOnStart.
	DropPendingUpdates bool
	// MaxConcurrency bounds the deliveries in flight (at most one per scope).
	MaxConcurrency int
	// ScopeIdleTimeout is how long a scope without activity is kept.
	ScopeIdleTimeout time.Duration
	// MaxScopes bounds the scopes kept in memory.
	MaxScopes int
	// AppTimeout bounds one delivery attempt to the application.
	AppTimeout time.Duration
	// AppMaxAttempts is the number of delivery attempts per event, the first
	// one included.
	AppMaxAttempts int
	// AppMaxElapsed bounds the time spent retrying one delivery.
	AppMaxElapsed time.Duration
	// Spool is where fetched updates wait until delivered: "disk" (durable,
	// a bbolt file under DataDir) or "memory" (no file: a batch is confirmed
	// to Telegram only once delivered, so one slow scope holds back polling).
	Spool string
	// DataDir is the directory of the durable spool. Default() derives it:
	// $XDG_STATE_HOME/asgigram when XDG_STATE_HOME is an absolute path,
	// else $HOME/.local/state/asgigram when HOME is set, else
	// ./asgigram-data. Validate expands a leading "~/" with $HOME.
	DataDir string
	// SpoolMax bounds the updates held in the spool; polling pauses while
	// it is full (at least 100).
	SpoolMax int
	// SpoolMemory bounds the bytes of waiting updates also kept in memory
	// with spool: disk, so that they are not read back from the file (0:
	// none).
	SpoolMemory int64
	// DeadletterMax bounds the dead letters kept (at least 1).
	DeadletterMax int
	// SendTimeout bounds one Bot API call made for the application.
	SendTimeout time.Duration
	// SendBodyLimit is the largest /send request body, in bytes.
	SendBodyLimit int64
	// UploadLimit is the largest multipart/form-data /send body (an event
	// with files), in bytes.
	UploadLimit int64
	// SendMaxEvents bounds the events of one /send request.
	SendMaxEvents int
	// SendBodyTimeout bounds the time a client of the local server takes to
	// send a request's headers and a JSON body, and to read the answer.
	SendBodyTimeout time.Duration
	// UploadMinRate is the least rate, in bytes per second, at which a
	// multipart /send body must arrive (and a /file download be read),
	// beyond a first SendBodyTimeout.
	UploadMinRate int64
	// IdleTimeout closes a keep-alive connection of the local server after
	// this long without a request.
	IdleTimeout time.Duration
	// MaxConnections caps the local server's open connections. 0 derives
	// it from the open-file limit (see ResolveMaxConnections).
	MaxConnections int
	// Pacing keeps outbound calls inside Telegram's rate limits. Off is for
	// a local Bot API server or benchmarks.
	Pacing bool
	// PacingChatRate limits message sends per chat.
	PacingChatRate pacing.Rate
	// PacingChatBurst is how many sends a chat may make at once before
	// PacingChatRate applies.
	PacingChatBurst int
	// PacingGroupRate limits message sends per group, supergroup or
	// channel, on top of PacingChatRate.
	PacingGroupRate pacing.Rate
	// PacingGlobalRate limits all message sends together.
	PacingGlobalRate pacing.Rate
	// PacingQueue bounds the calls waiting per chat.
	PacingQueue int
	// TypingAfter shows "typing" in the chat of a message addressed to the
	// bot while its delivery takes longer than this (0: off).
	TypingAfter time.Duration
	// TypingRate is the budget of those typing calls; past it they are
	// dropped.
	TypingRate pacing.Rate
	// CallbackAnswerAfter answers a callback query the application left
	// unanswered this long after it was fetched (0: off).
	CallbackAnswerAfter time.Duration
	// ReplyResults delivers the results of a reply body's calls as an
	// asgigram.reply_result event after the update answered.
	ReplyResults bool
	// LifecycleEvents delivers the scope and process lifecycle events
	// (docs/protocol.md "Lifecycle events").
	LifecycleEvents bool
	// LifecycleURL receives asgigram.startup and asgigram.shutdown (""
	// until validated: then app_url).
	LifecycleURL string
	// StartupTimeout bounds how long delivery waits for the application's
	// 2xx answer to asgigram.startup.
	StartupTimeout time.Duration
	// ShutdownGrace is the time given to work in flight on shutdown.
	ShutdownGrace time.Duration
	// LogLevel is one of debug, info, warn, error.
	LogLevel string
	// LogFormat is text or json.
	LogFormat string
	// Version is true when --version was given. Load then returns the
	// defaults at once, without reading the environment or a file and
	// without validating.
	Version bool
}

// ErrHelp is returned by Load when -h or --help was given. The usage text
// has then already been written to Load's stderr.
var ErrHelp = pflag.ErrHelp

// FieldError is a configuration error about one setting, named by its
// file key (poll_timeout), or "config" for the config file itself.
type FieldError struct {
	Field string
	Err   error
}

// Error returns "config: <field>: <err>".
func (e *FieldError) Error() string {
	return "config: " + e.Field + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

const (
	envPrefix = "ASGIGRAM_"
	redacted  = "[redacted]"

	// maxPollTimeout is the largest long-poll timeout Telegram honours.
	maxPollTimeout = 50 * time.Second

	defaultAPIURL = "https://api.telegram.org"
	defaultListen = "127.0.0.1:8080"
)

// Default returns the default configuration. Token and AppURL, which have
// no default, are empty; PublicURL is empty (derived from Listen by
// Validate). DataDir depends on the environment (see DefaultDataDir).
//
// It is the one home of the daemon's defaults: adapter.New holds none of
// its own (see adapter.Options). The pacing limits are Telegram's published
// numbers and come from pacing.DefaultConfig.
func Default() Config {
	limits := pacing.DefaultConfig()
	return Config{
		APIURL:           defaultAPIURL,
		Listen:           defaultListen,
		PollTimeout:      30 * time.Second,
		AllowedUpdates:   telegram.UpdateKindNames(), // naming them all gets chat_member and reactions, which Telegram leaves out by default
		MaxConcurrency:   64,
		ScopeIdleTimeout: 15 * time.Minute,
		MaxScopes:        100000,
		AppTimeout:       10 * time.Second,
		AppMaxAttempts:   5,
		AppMaxElapsed:    2 * time.Minute,
		Spool:            "disk",
		DataDir:          DefaultDataDir(),
		SpoolMax:         100000,
		SpoolMemory:      16 << 20,
		DeadletterMax:    10000,
		SendTimeout:      30 * time.Second,
		SendBodyLimit:    1 << 20,
		UploadLimit:      50 << 20,
		SendMaxEvents:    100,
		SendBodyTimeout:  10 * time.Second,
		UploadMinRate:    64 << 10,
		IdleTimeout:      60 * time.Second,
		Pacing:           true,
		PacingChatRate:   limits.ChatRate,
		PacingChatBurst:  limits.ChatBurst,
		PacingGroupRate:  limits.GroupRate,
		PacingGlobalRate: limits.GlobalRate,
		PacingQueue:      100,
		TypingRate:       pacing.Rate{N: 10, Per: time.Second},
		StartupTimeout:   30 * time.Second,
		ShutdownGrace:    15 * time.Second,
		LogLevel:         "info",
		LogFormat:        "text",
	}
}

// DefaultDataDir returns the default data_dir: $XDG_STATE_HOME/asgigram
// when XDG_STATE_HOME is an absolute path (the XDG spec ignores a relative
// one), else $HOME/.local/state/asgigram when HOME is set, else
// ./asgigram-data.
func DefaultDataDir() string {
	if x := os.Getenv("XDG_STATE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "asgigram")
	}
	if h := os.Getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "state", "asgigram")
	}
	return "./asgigram-data"
}

// Secrets returns the values of the secret settings (the bot token,
// app_secret, send_token, admin_token) that are set, those of every bot of
// Bots included: what no log line, error or stored text may show.
func (c Config) Secrets() []string {
	var out []string
	for _, s := range settings {
		if v, ok := s.field(&c).(*string); ok && s.secret && *v != "" {
			out = append(out, *v)
		}
	}
	for _, b := range c.Bots {
		out = append(out, b.Secrets()...)
	}
	return out
}

// Redacted returns every setting of the daemon by its file key, for a
// config dump. The
// token, app_secret, send_token and admin_token show as "[redacted]" when
// set. Durations and rates are strings ("30s", "20/m"), booleans are bools,
// send_body_limit and upload_limit are in bytes.
func (c Config) Redacted() map[string]any {
	m := make(map[string]any, len(settings))
	for _, s := range settings {
		if !s.in(cmdDaemon) {
			continue
		}
		v := display(&c, s)
		if s.secret && v != "" {
			v = redacted
		}
		if u, ok := v.(string); ok && u != "" && (s.key == "app_url" || s.key == "api_url" || s.key == "public_url") {
			v = redact.URL(u) // keys in userinfo or the query never show
		}
		m[s.key] = v
	}
	return m
}

// String returns the redacted settings as key=value pairs, so that printing
// a Config never shows a secret.
func (c Config) String() string {
	m := c.Redacted()
	parts := make([]string, 0, len(settings))
	for _, s := range settings {
		if !s.in(cmdDaemon) {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%v", s.key, m[s.key]))
	}
	return strings.Join(parts, " ")
}

// GoString is String, for %#v.
func (c Config) GoString() string { return "config.Config{" + c.String() + "}" }

// LogValue logs the redacted settings as a group.
func (c Config) LogValue() slog.Value {
	m := c.Redacted()
	attrs := make([]slog.Attr, 0, len(settings))
	for _, s := range settings {
		if !s.in(cmdDaemon) {
			continue
		}
		attrs = append(attrs, slog.Any(s.key, m[s.key]))
	}
	return slog.GroupValue(attrs...)
}

// LocalURL returns the URL at which a local client reaches a server
// listening on addr (host:port): "http://" + addr, an unspecified host
// ("", 0.0.0.0, ::) becoming 127.0.0.1, so :8080 gives
// http://127.0.0.1:8080. An addr that is not host:port is used as it is.
// It is the default of public_url and of admin_url, and the URL dev mode
// shows for its listener.
func LocalURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// BotID returns the bot's user id, the digits before ':' in the token, or 0
// if the token is malformed.
func (c Config) BotID() int64 {
	id, err := parseToken(strings.TrimSpace(c.Token))
	if err != nil {
		return 0
	}
	return id
}
