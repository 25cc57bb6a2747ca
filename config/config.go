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
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"

	"github.com/asgigram/asgigram/telegram"
	"github.com/spf13/viper"

	"github.com/asgigram/asgigram/internal/redact"
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
	PacingChatRate Rate
	// PacingChatBurst is how many sends a chat may make at once before
	// PacingChatRate applies.
	PacingChatBurst int
	// PacingGroupRate limits message sends per group, supergroup or
	// channel, on top of PacingChatRate.
	PacingGroupRate Rate
	// PacingGlobalRate limits all message sends together.
	PacingGlobalRate Rate
	// PacingQueue bounds the calls waiting per chat.
	PacingQueue int
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

// Rate is N events per Per. It is written "N/s", "N/m", "N/h" or
// "N/<duration>" ("20/m" is Rate{20, time.Minute}, as is "20/1m").
type Rate struct {
	N   float64
	Per time.Duration
}

// String writes r as ParseRate reads it: "1/s", "20/m", "5/1m30s".
func (r Rate) String() string {
	n := strconv.FormatFloat(r.N, 'f', -1, 64)
	switch r.Per {
	case time.Second:
		return n + "/s"
	case time.Minute:
		return n + "/m"
	case time.Hour:
		return n + "/h"
	}
	return n + "/" + formatDuration(r.Per)
}

// ParseRate reads "N/s", "N/m", "N/h" or "N/<duration>" ("20/1m",
// "1/500ms"), N a positive number. Spaces around either part are ignored.
func ParseRate(s string) (Rate, error) {
	bad := fmt.Errorf("invalid rate %q: use N/s, N/m, N/h or N/<duration>, e.g. 1/s, 20/m or 20/1m", s)
	num, per, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, bad
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
		return Rate{}, bad
	}
	var d time.Duration
	switch per = strings.TrimSpace(per); per {
	case "s":
		d = time.Second
	case "m":
		d = time.Minute
	case "h":
		d = time.Hour
	default:
		if _, err := strconv.ParseFloat(per, 64); err == nil {
			return Rate{}, fmt.Errorf("invalid rate %q: the period needs a unit, e.g. %s/%ss", s, strings.TrimSpace(num), per)
		}
		if d, err = time.ParseDuration(per); err != nil {
			return Rate{}, bad
		}
	}
	r := Rate{N: n, Per: d}
	if err := r.check(); err != nil {
		return Rate{}, fmt.Errorf("invalid rate %q: %w", s, err)
	}
	return r, nil
}

// check reports a rate that is not positive.
func (r Rate) check() error {
	if !(r.N > 0) || math.IsInf(r.N, 0) {
		return fmt.Errorf("the number of calls must be more than 0, got %v", r.N)
	}
	if r.Per <= 0 {
		return fmt.Errorf("the period must be more than 0s, got %s", r.Per)
	}
	return nil
}

// AllUpdateKinds lists the 25 update kinds of Bot API 10.1, the default of
// AllowedUpdates. Naming them all is what gets chat_member and reactions,
// which Telegram leaves out by default.
var AllUpdateKinds = []string{
	"message", "edited_message", "channel_post", "edited_channel_post",
	"business_connection", "business_message", "edited_business_message",
	"deleted_business_messages", "guest_message", "message_reaction",
	"message_reaction_count", "inline_query", "chosen_inline_result",
	"callback_query", "shipping_query", "pre_checkout_query",
	"purchased_paid_media", "poll", "poll_answer", "my_chat_member",
	"chat_member", "chat_join_request", "chat_boost", "removed_chat_boost",
	"managed_bot",
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
func Default() Config {
	return Config{
		APIURL:           defaultAPIURL,
		Listen:           defaultListen,
		PollTimeout:      30 * time.Second,
		AllowedUpdates:   slices.Clone(AllUpdateKinds),
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
		PacingChatRate:   Rate{1, time.Second},
		PacingChatBurst:  3,
		PacingGroupRate:  Rate{20, time.Minute},
		PacingGlobalRate: Rate{30, time.Second},
		PacingQueue:      100,
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

// byteSize is the decode target of send_body_limit, upload_limit and
// spool_memory, so
// that the decode hook can tell it from a plain integer.
type byteSize int64

// setting describes one configuration key.
type setting struct {
	key  string
	arg  string // placeholder in Usage
	help string
	// def is the default as Usage shows it; empty means "derive it from
	// Default()".
	def    string
	secret bool
	// field returns a pointer to the Config field the key decodes into.
	field func(c *Config) any
}

// settings lists every key, in the order of Usage and Redacted.
var settings = []setting{
	{key: "token", arg: "TOKEN", secret: true, def: "none",
		help:  "bot token from @BotFather (flags are visible in ps: prefer the env var or token_file)",
		field: func(c *Config) any { return &c.Token }},
	{key: "token_file", arg: "FILE", def: "none",
		help:  "read the bot token from this file (surrounding whitespace is trimmed)",
		field: func(c *Config) any { return &c.TokenFile }},
	{key: "app_url", arg: "URL", def: "none, required",
		help:  "application URL: every update is POSTed here",
		field: func(c *Config) any { return &c.AppURL }},
	{key: "api_url", arg: "URL",
		help:  "Bot API base URL, may have a path prefix (local Bot API server, proxy)",
		field: func(c *Config) any { return &c.APIURL }},
	{key: "listen", arg: "HOST:PORT",
		help:  "address of the HTTP server that serves /send",
		field: func(c *Config) any { return &c.Listen }},
	{key: "public_url", arg: "URL", def: "http://<listen>",
		help:  "base URL under which the application reaches asgigram (send_url is <public_url>/send); in the default, an unspecified listen host (:8080, 0.0.0.0, ::) becomes 127.0.0.1",
		field: func(c *Config) any { return &c.PublicURL }},
	{key: "app_secret", arg: "SECRET", secret: true, def: "none, events are not signed",
		help:  "Standard Webhooks secret whsec_<base64> used to sign every event",
		field: func(c *Config) any { return &c.AppSecret }},
	{key: "send_token", arg: "TOKEN", secret: true, def: "none, disabled",
		help:  "application-level bearer token for /send (jobs that outlive a scope)",
		field: func(c *Config) any { return &c.SendToken }},
	{key: "admin_token", arg: "TOKEN", secret: true, def: "none, admin endpoints off",
		help:  "bearer token of the admin endpoints (dead letters: list, show, replay, drop)",
		field: func(c *Config) any { return &c.AdminToken }},
	{key: "poll_timeout", arg: "DURATION",
		help:  "getUpdates long-poll timeout, 0s to 50s",
		field: func(c *Config) any { return &c.PollTimeout }},
	{key: "allowed_updates", arg: "KINDS", def: "all 25 kinds of Bot API 10.1",
		help:  "comma-separated update kinds to receive; empty: Telegram's default (no chat_member, no reactions)",
		field: func(c *Config) any { return &c.AllowedUpdates }},
	{key: "delete_webhook_on_start", arg: boolArg,
		help:  "call deleteWebhook at every start, before polling (a bot that had a webhook)",
		field: func(c *Config) any { return &c.DeleteWebhookOnStart }},
	{key: "drop_pending_updates", arg: boolArg,
		help:  "with delete_webhook_on_start: also drop the updates Telegram holds for the bot",
		field: func(c *Config) any { return &c.DropPendingUpdates }},
	{key: "max_concurrency", arg: "N",
		help:  "deliveries to the application in flight at once (one per scope)",
		field: func(c *Config) any { return &c.MaxConcurrency }},
	{key: "scope_idle_timeout", arg: "DURATION",
		help:  "forget a scope (and its token) after this long without activity",
		field: func(c *Config) any { return &c.ScopeIdleTimeout }},
	{key: "max_scopes", arg: "N",
		help:  "scopes kept in memory at most",
		field: func(c *Config) any { return &c.MaxScopes }},
	{key: "app_timeout", arg: "DURATION",
		help:  "timeout of one delivery attempt to the application",
		field: func(c *Config) any { return &c.AppTimeout }},
	{key: "app_max_attempts", arg: "N",
		help:  "delivery attempts per event, the first one included",
		field: func(c *Config) any { return &c.AppMaxAttempts }},
	{key: "app_max_elapsed", arg: "DURATION",
		help:  "stop retrying a delivery after this long",
		field: func(c *Config) any { return &c.AppMaxElapsed }},
	{key: "spool", arg: "KIND",
		help:  "where fetched updates wait until delivered: disk (durable, under data_dir) or memory (no file; a batch is confirmed only once delivered, so a slow scope holds back polling)",
		field: func(c *Config) any { return &c.Spool }},
	{key: "data_dir", arg: "DIR", def: "<state dir>/asgigram",
		help:  "directory of the durable spools, one per bot in <data_dir>/<bot id>; <state dir> is $XDG_STATE_HOME, else $HOME/.local/state; without HOME, ./asgigram-data",
		field: func(c *Config) any { return &c.DataDir }},
	{key: "spool_max", arg: "N",
		help:  "updates held in the spool at most; polling pauses while it is full (at least 100)",
		field: func(c *Config) any { return &c.SpoolMax }},
	{key: "spool_memory", arg: "SIZE",
		help:  "waiting updates also kept in memory with spool: disk, so that delivering them does not read the file (0: none)",
		field: func(c *Config) any { return (*byteSize)(&c.SpoolMemory) }},
	{key: "deadletter_max", arg: "N",
		help:  "dead letters kept at most (at least 1)",
		field: func(c *Config) any { return &c.DeadletterMax }},
	{key: "send_timeout", arg: "DURATION",
		help:  "the most one /send request waits for its Bot API calls",
		field: func(c *Config) any { return &c.SendTimeout }},
	{key: "send_body_limit", arg: "SIZE",
		help:  "largest /send body and application reply body: bytes, or 512KiB, 1MiB, 2MB",
		field: func(c *Config) any { return (*byteSize)(&c.SendBodyLimit) }},
	{key: "upload_limit", arg: "SIZE",
		help:  "largest multipart/form-data /send body (an event with files to upload): bytes, or 10MiB, 50MiB",
		field: func(c *Config) any { return (*byteSize)(&c.UploadLimit) }},
	{key: "send_max_events", arg: "N",
		help:  "events one /send request may carry at most; past it 400",
		field: func(c *Config) any { return &c.SendMaxEvents }},
	{key: "send_body_timeout", arg: "DURATION",
		help:  "the most a client of the local server takes to send a request's headers and JSON body, and to read the answer",
		field: func(c *Config) any { return &c.SendBodyTimeout }},
	{key: "upload_min_rate", arg: "SIZE",
		help:  "bytes per second a multipart /send body must arrive at (and a /file download be read at), after a first send_body_timeout",
		field: func(c *Config) any { return (*byteSize)(&c.UploadMinRate) }},
	{key: "idle_timeout", arg: "DURATION",
		help:  "close a keep-alive connection of the local server after this long without a request",
		field: func(c *Config) any { return &c.IdleTimeout }},
	{key: "max_connections", arg: "N", def: "derived from the open-file limit",
		help:  "open connections of the local server at most; past it the longest-idle keep-alive connection is closed, else the new one gets one request served apart (/healthz and /readyz answered, anything else 503)",
		field: func(c *Config) any { return &c.MaxConnections }},
	{key: "pacing", arg: boolArg,
		help:  "keep outbound calls inside Telegram's rate limits; --pacing=false for a local Bot API server or benchmarks",
		field: func(c *Config) any { return &c.Pacing }},
	{key: "pacing_chat_rate", arg: "RATE",
		help:  "message sends per chat: N/s, N/m, N/h or N/<duration> (20/1m)",
		field: func(c *Config) any { return &c.PacingChatRate }},
	{key: "pacing_chat_burst", arg: "N",
		help:  "message sends a chat may make at once before pacing_chat_rate applies",
		field: func(c *Config) any { return &c.PacingChatBurst }},
	{key: "pacing_group_rate", arg: "RATE",
		help:  "message sends per group, supergroup or channel, on top of pacing_chat_rate",
		field: func(c *Config) any { return &c.PacingGroupRate }},
	{key: "pacing_global_rate", arg: "RATE",
		help:  "message sends of the whole bot",
		field: func(c *Config) any { return &c.PacingGlobalRate }},
	{key: "pacing_queue", arg: "N",
		help:  "calls waiting per chat at most; one more is refused at once",
		field: func(c *Config) any { return &c.PacingQueue }},
	{key: "shutdown_grace", arg: "DURATION",
		help:  "time given to work in flight on shutdown",
		field: func(c *Config) any { return &c.ShutdownGrace }},
	{key: "log_level", arg: "LEVEL",
		help:  "one of " + strings.Join(logLevels, ", "),
		field: func(c *Config) any { return &c.LogLevel }},
	{key: "log_format", arg: "FORMAT",
		help:  "one of " + strings.Join(logFormats, ", "),
		field: func(c *Config) any { return &c.LogFormat }},
}

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
	spoolKinds = []string{"disk", "memory"}
)

// boolArg marks a boolean setting: its flag may stand alone (true).
const boolArg = "BOOL"

func flagName(key string) string { return strings.ReplaceAll(key, "_", "-") }
func envName(key string) string  { return envPrefix + strings.ToUpper(key) }

func isKey(key string) bool {
	return slices.ContainsFunc(settings, func(s setting) bool { return s.key == key })
}

// Usage returns the help text: the command line and every flag with its
// environment variable and default.
func Usage() string {
	var b strings.Builder
	b.WriteString(`Usage: asgigram [flags] [TOKEN [APP_URL]]

asgigram long-polls the Telegram Bot API and POSTs every update to APP_URL.

Arguments:
  TOKEN     the bot token, same as --token
  APP_URL   the application URL, same as --app-url

Every setting can be given as a flag, as an environment variable or as a key
of the config file, in that order of precedence. The file key is the flag
name with '_' for '-' (--app-timeout is app_timeout). Durations need a unit
(500ms, 15s, 2m, 1h). Rates are N/s, N/m, N/h or N/<duration> (20/1m).
Booleans are true or false (1 or 0); a boolean flag alone means true, and
false must be joined to it: --pacing=false, not --pacing false.

Flags:
`)
	line := func(flag, help string, notes ...string) {
		b.WriteString("  " + flag + "\n")
		for _, l := range wrap(help, 70) {
			b.WriteString("        " + l + "\n")
		}
		for _, n := range notes {
			b.WriteString("        " + n + "\n")
		}
	}
	line("--config FILE", "read settings from this YAML, JSON or TOML file",
		"env "+envPrefix+"CONFIG, default none")
	def := Default()
	for _, s := range settings {
		d := s.def
		if d == "" {
			d = fmt.Sprint(display(&def, s))
			if size, ok := s.field(&def).(*byteSize); ok {
				d = formatSize(int64(*size))
			}
		}
		flag := "--" + flagName(s.key) + " " + s.arg
		if s.arg == boolArg {
			flag = "--" + flagName(s.key) + "[=" + boolArg + "]"
		}
		line(flag, s.help, "env "+envName(s.key)+", default "+d)
	}
	line("-v, --verbose", "log at debug level, whatever log_level says")
	line("--version", "print the version and exit")
	line("-h, --help", "print this help and exit")
	return b.String()
}

// wrap splits text into lines of at most width bytes, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	cur := ""
	for _, w := range strings.Fields(text) {
		if cur != "" && len(cur)+1+len(w) > width {
			lines = append(lines, cur)
			cur = ""
		}
		if cur != "" {
			cur += " "
		}
		cur += w
	}
	return append(lines, cur)
}

// formatDuration is d.String() without zero trailing units ("15m", not
// "15m0s").
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// display returns the value of a setting as Redacted and Usage show it.
func display(c *Config, s setting) any {
	switch p := s.field(c).(type) {
	case *string:
		return *p
	case *int:
		return *p
	case *time.Duration:
		return formatDuration(*p)
	case *byteSize:
		return int64(*p)
	case *bool:
		return *p
	case *Rate:
		return p.String()
	case *[]string:
		return slices.Clone(*p)
	}
	panic("config: no display for " + s.key)
}

// Secrets returns the values of the secret settings (the bot token,
// app_secret, send_token, admin_token) that are set: what no log line,
// error or stored text may show.
func (c Config) Secrets() []string {
	var out []string
	for _, s := range settings {
		if v, ok := s.field(&c).(*string); ok && s.secret && *v != "" {
			out = append(out, *v)
		}
	}
	return out
}

// Redacted returns every setting by its file key, for a config dump. The
// token, app_secret, send_token and admin_token show as "[redacted]" when
// set. Durations and rates are strings ("30s", "20/m"), booleans are bools,
// send_body_limit and upload_limit are in bytes.
func (c Config) Redacted() map[string]any {
	m := make(map[string]any, len(settings))
	for _, s := range settings {
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
		attrs = append(attrs, slog.Any(s.key, m[s.key]))
	}
	return slog.GroupValue(attrs...)
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

// Load builds the configuration from args (os.Args[1:]), the ASGIGRAM_*
// environment, the config file named by --config or ASGIGRAM_CONFIG, and
// the defaults, then validates it. Usage and warnings (unknown ASGIGRAM_*
// variables) go to stderr. With -h or --help it returns ErrHelp; with
// --version it returns Default() with Version set and nothing else checked.
// Errors about a setting are *FieldError.
func Load(args []string, stderr io.Writer) (Config, error) {
	if stderr == nil {
		stderr = io.Discard
	}
	fs := pflag.NewFlagSet("asgigram", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { _, _ = io.WriteString(stderr, Usage()) }
	// Every setting is a string flag, so that a value given as a flag is
	// decoded and checked like the same value from the environment.
	for _, s := range settings {
		fs.String(flagName(s.key), "", s.help)
		if s.arg == boolArg {
			// --pacing alone means true, as for a pflag bool.
			fs.Lookup(flagName(s.key)).NoOptDefVal = "true"
		}
	}
	configFile := fs.String("config", "", "config file")
	verbose := fs.CountP("verbose", "v", "log at debug level")
	version := fs.Bool("version", false, "print the version and exit")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return Config{}, ErrHelp
		}
		return Config{}, fmt.Errorf("config: %w (see asgigram --help)", err)
	}
	if *version {
		c := Default()
		c.Version = true
		return c, nil
	}
	if err := setPositional(fs); err != nil {
		return Config{}, err
	}

	v := viper.New()
	for _, s := range settings {
		if err := v.BindEnv(s.key, envName(s.key)); err != nil {
			return Config{}, err
		}
		// Only flags the user set: a flag's own default must not hide the
		// environment or the file.
		if f := fs.Lookup(flagName(s.key)); f.Changed {
			if err := v.BindPFlag(s.key, f); err != nil {
				return Config{}, err
			}
		}
	}
	warnUnknownEnv(stderr)

	path := *configFile
	if !fs.Changed("config") {
		path = os.Getenv(envPrefix + "CONFIG")
	}
	if path != "" {
		if err := readFile(v, path); err != nil {
			return Config{}, err
		}
	}

	c := Default()
	for _, s := range settings {
		if !v.IsSet(s.key) {
			continue
		}
		if err := decodeKey(v, s, &c); err != nil {
			return Config{}, err
		}
	}
	if c.Token != "" && c.TokenFile != "" {
		return Config{}, fieldErr("token_file", "cannot be combined with token: give only one of them")
	}
	if *verbose > 0 {
		c.LogLevel = "debug"
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// setPositional turns TOKEN and APP_URL into the values of their flags.
func setPositional(fs *pflag.FlagSet) error {
	args := fs.Args()
	if len(args) > 2 {
		// The arguments are not repeated: the first one may be the token.
		return fmt.Errorf("config: too many arguments (%d): expected at most TOKEN and APP_URL, see asgigram --help", len(args))
	}
	for i, key := range []string{"token", "app_url"}[:len(args)] {
		name := flagName(key)
		if fs.Changed(name) {
			return fieldErr(key, "given twice: as argument %d and as --%s", i+1, name)
		}
		if err := fs.Set(name, args[i]); err != nil {
			return &FieldError{Field: key, Err: err}
		}
	}
	return nil
}

// warnUnknownEnv reports ASGIGRAM_* variables that name no setting (a typo
// would otherwise go unnoticed). Only names are printed, never values.
func warnUnknownEnv(w io.Writer) {
	var unknown []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || name == envPrefix+"CONFIG" {
			continue
		}
		key := strings.ToLower(strings.TrimPrefix(name, envPrefix))
		if !isKey(key) || name != envName(key) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		msg := "asgigram: warning: ignoring unknown environment variable " + name
		if s := suggest(strings.ToLower(strings.TrimPrefix(name, envPrefix))); s != "" {
			msg += " (did you mean " + envName(s) + "?)"
		}
		_, _ = fmt.Fprintln(w, msg)
	}
}

// readFile reads the config file into v and rejects keys that name no
// setting.
func readFile(v *viper.Viper, path string) error {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	switch ext {
	case "":
		ext = "yaml"
	case "yaml", "yml", "json", "toml":
	default:
		return fieldErr("config", "%s: unsupported file type %q: use .yaml, .yml, .json or .toml", path, "."+ext)
	}
	v.SetConfigFile(path)
	v.SetConfigType(ext)
	if err := v.ReadInConfig(); err != nil {
		var pe viper.ConfigParseError
		if errors.As(err, &pe) {
			return fieldErr("config", "%s: cannot parse: %w", path, pe.Unwrap())
		}
		return &FieldError{Field: "config", Err: err}
	}
	keys := v.AllKeys()
	slices.Sort(keys)
	for _, k := range keys {
		// Nested maps are flattened to "a.b". Under a known key they are a
		// type error, reported by decodeKey.
		top, _, _ := strings.Cut(k, ".")
		if isKey(top) {
			continue
		}
		if s := suggest(top); s != "" {
			return fieldErr(top, "unknown key (did you mean %s?)", s)
		}
		return fieldErr(top, "unknown key")
	}
	return nil
}

// suggest returns the key closest to an unknown one, if it is close.
func suggest(unknown string) string {
	best, bestDist := "", 3
	for _, s := range settings {
		if d := editDistance(unknown, s.key); d < bestDist {
			best, bestDist = s.key, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// decodeKey decodes the value viper holds for s into its field of c. It
// decodes into a fresh value, so that a list replaces the default list
// instead of overwriting its first entries.
func decodeKey(v *viper.Viper, s setting, c *Config) error {
	dst := reflect.ValueOf(s.field(c)).Elem()
	tmp := reflect.New(dst.Type())
	err := v.UnmarshalKey(s.key, tmp.Interface(), func(dc *mapstructure.DecoderConfig) {
		dc.DecodeHook = mapstructure.DecodeHookFuncType(decodeHook)
		dc.WeaklyTypedInput = false
		dc.ErrorUnused = true
	})
	if err != nil {
		return &FieldError{Field: s.key, Err: cleanDecodeError(err)}
	}
	dst.Set(tmp.Elem())
	return nil
}

// cleanDecodeError strips mapstructure's wrapping (which names the field
// with an empty name at the top level) and keeps the index of a bad list entry.
func cleanDecodeError(err error) error {
	prefix := ""
	for {
		var de *mapstructure.DecodeError
		if !errors.As(err, &de) {
			break
		}
		if name := de.Name(); name != "" {
			prefix = "entry " + strings.Trim(name, "[]") + ": "
		}
		err = de.Unwrap()
	}
	if prefix == "" {
		return err
	}
	return fmt.Errorf("%s%w", prefix, err)
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	rateType     = reflect.TypeFor[Rate]()
	byteSizeType = reflect.TypeFor[byteSize]()
	stringsType  = reflect.TypeFor[[]string]()
)

// decodeHook converts what the file, the environment or a flag gave into
// the type of a Config field, and rejects what does not fit. Its errors
// never repeat a string value that could be a secret.
func decodeHook(from, to reflect.Type, data any) (any, error) {
	switch {
	case to == durationType:
		return parseDuration(data)
	case to == byteSizeType:
		n, err := parseSize(data)
		return byteSize(n), err
	case to == rateType:
		if r, ok := data.(Rate); ok {
			return r, nil
		}
		s, ok := data.(string)
		if !ok {
			return nil, fmt.Errorf("expected a rate such as 1/s or 20/m, got a %s", kindName(from))
		}
		return ParseRate(s)
	case to.Kind() == reflect.Bool:
		return parseBool(from, data)
	case to == stringsType:
		switch from.Kind() {
		case reflect.String:
			return splitList(data.(string)), nil
		case reflect.Slice, reflect.Array:
			return data, nil
		}
		return nil, fmt.Errorf("expected a list of strings, got a %s", kindName(from))
	case to.Kind() == reflect.String:
		if from.Kind() != reflect.String {
			return nil, fmt.Errorf("expected a string, got a %s", kindName(from))
		}
		return data, nil
	case to.Kind() == reflect.Int:
		return parseInt(from, data)
	}
	return data, nil
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "list"
	case reflect.Map:
		return "map"
	case reflect.String:
		return "string"
	}
	return t.String()
}

// splitList splits a comma-separated list, dropping blanks. The result is
// never nil: "" is an explicit empty list.
func splitList(s string) []string {
	out := []string{}
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// number returns a numeric value as a float64, and whether it is one.
func number(data any) (float64, bool) {
	v := reflect.ValueOf(data)
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(v.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(v.Uint()), true
	case reflect.Float32, reflect.Float64:
		return v.Float(), true
	}
	return 0, false
}

func parseInt(from reflect.Type, data any) (int, error) {
	if s, ok := data.(string); ok {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return 0, fmt.Errorf("expected an integer, got %q", s)
		}
		return n, nil
	}
	f, ok := number(data)
	if !ok {
		return 0, fmt.Errorf("expected an integer, got a %s", kindName(from))
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("expected an integer, got %v", data)
	}
	return int(f), nil
}

// parseBool accepts a boolean, or true, false, 1 or 0 (any case) as a
// string or number.
func parseBool(from reflect.Type, data any) (bool, error) {
	switch v := data.(type) {
	case bool:
		return v, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return false, fmt.Errorf("expected true or false (or 1 or 0), got %q", v)
	}
	if f, ok := number(data); ok {
		if f == 0 || f == 1 {
			return f == 1, nil
		}
		return false, fmt.Errorf("expected true or false (or 1 or 0), got %v", f)
	}
	return false, fmt.Errorf("expected true or false, got a %s", kindName(from))
}

func errNeedsUnit(n string) error {
	return fmt.Errorf("duration needs a unit, e.g. %ss", n)
}

// parseDuration accepts Go durations ("15s", "1m30s"). A bare number is an
// error (15 would otherwise mean 15ns), except 0.
func parseDuration(data any) (time.Duration, error) {
	if d, ok := data.(time.Duration); ok {
		return d, nil
	}
	if s, ok := data.(string); ok {
		s = strings.TrimSpace(s)
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			if f == 0 {
				return 0, nil
			}
			return 0, errNeedsUnit(s)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: use a number with a unit, e.g. 500ms, 15s, 2m or 1h30m", s)
		}
		return d, nil
	}
	if f, ok := number(data); ok {
		if f == 0 {
			return 0, nil
		}
		return 0, errNeedsUnit(strconv.FormatFloat(f, 'f', -1, 64))
	}
	return 0, fmt.Errorf("expected a duration such as 15s, got a %s", kindName(reflect.TypeOf(data)))
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1000, "mb": 1000 * 1000, "gb": 1000 * 1000 * 1000,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}

// formatSize writes n with the largest 1024-based unit that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// parseSize accepts a number of bytes, or a size string: "512KiB", "1MiB"
// (1024-based), "2MB" (1000-based), "100B". Units are case-insensitive.
func parseSize(data any) (int64, error) {
	s, ok := data.(string)
	if !ok {
		f, ok := number(data)
		if !ok {
			return 0, fmt.Errorf("expected a size such as 1MiB, got a %s", kindName(reflect.TypeOf(data)))
		}
		if f != math.Trunc(f) || math.Abs(f) > 1<<62 {
			return 0, fmt.Errorf("expected a whole number of bytes, got %v", data)
		}
		return int64(f), nil
	}
	bad := fmt.Errorf("invalid size %q: use a number of bytes or a size such as 512KiB, 1MiB or 2MB", s)
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || i == 0 && (t[i] == '-' || t[i] == '+')) {
		i++
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, bad
	}
	mult, ok := sizeUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if !ok {
		return 0, bad
	}
	if n > math.MaxInt64/mult || n < math.MinInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}

// Validate checks every setting and completes the derived ones: it reads
// TokenFile when Token is empty, trims the token, strips trailing slashes
// from APIURL and PublicURL, derives PublicURL from Listen when it is
// empty, lower-cases Spool, LogLevel and LogFormat, expands a leading "~/"
// in DataDir, and decodes AppSecretKey. It
// returns the first problem as a *FieldError. Calling it twice is fine.
func (c *Config) Validate() error {
	if err := c.validateToken(); err != nil {
		return err
	}
	if c.AppURL == "" {
		return fieldErr("app_url", "missing: give it as the second argument, --app-url, %s or app_url in the config file", envName("app_url"))
	}
	if _, err := checkURL("app_url", c.AppURL, true); err != nil {
		return err
	}
	u, err := checkURL("api_url", c.APIURL, false)
	if err != nil {
		return err
	}
	c.APIURL = u
	host, port, err := checkListen(c.Listen)
	if err != nil {
		return err
	}
	if c.PublicURL == "" {
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		c.PublicURL = "http://" + net.JoinHostPort(host, port)
	} else {
		u, err := checkURL("public_url", c.PublicURL, false)
		if err != nil {
			return err
		}
		c.PublicURL = u
	}
	if err := c.validateAppSecret(); err != nil {
		return err
	}
	for _, tok := range []struct{ key, value string }{{"send_token", c.SendToken}, {"admin_token", c.AdminToken}} {
		if strings.ContainsFunc(tok.value, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fieldErr(tok.key, "must not contain spaces or control characters (it is sent as a Bearer token)")
		}
		if tok.value != "" && len(tok.value) < redact.MinSecret {
			return fieldErr(tok.key, "must be at least %d characters, got %d: use a long random string (openssl rand -hex 32)", redact.MinSecret, len(tok.value))
		}
	}
	if c.AdminToken != "" && c.AdminToken == c.SendToken {
		return fieldErr("admin_token", "must differ from send_token: the send_token must not unlock the admin endpoints")
	}
	if c.PollTimeout < 0 || c.PollTimeout > maxPollTimeout {
		return fieldErr("poll_timeout", "must be between 0s and %s (Telegram's limit), got %s", maxPollTimeout, c.PollTimeout)
	}
	for i, k := range c.AllowedUpdates {
		if !isUpdateKind(k) {
			return fieldErr("allowed_updates", "entry %d: %q is not an update kind: use snake_case names such as message or callback_query", i, k)
		}
	}
	if c.DropPendingUpdates && !c.DeleteWebhookOnStart {
		return fieldErr("drop_pending_updates", "only takes effect with delete_webhook_on_start: set delete_webhook_on_start: true too, or leave drop_pending_updates false")
	}
	for _, check := range []struct {
		key string
		bad bool
		msg string
	}{
		{"max_concurrency", c.MaxConcurrency < 1, "must be at least 1, got %d"},
		{"scope_idle_timeout", c.ScopeIdleTimeout <= 0, "must be more than 0s, got %s"},
		{"max_scopes", c.MaxScopes < 1, "must be at least 1, got %d"},
		{"app_timeout", c.AppTimeout <= 0, "must be more than 0s, got %s"},
		{"app_max_attempts", c.AppMaxAttempts < 1, "must be at least 1, got %d"},
		{"app_max_elapsed", c.AppMaxElapsed <= 0, "must be more than 0s, got %s"},
		{"send_timeout", c.SendTimeout <= 0, "must be more than 0s, got %s"},
		{"send_body_limit", c.SendBodyLimit <= 0, "must be more than 0 bytes, got %d"},
		{"upload_limit", c.UploadLimit <= 0, "must be more than 0 bytes, got %d"},
		{"send_max_events", c.SendMaxEvents < 1, "must be at least 1, got %d"},
		{"send_body_timeout", c.SendBodyTimeout <= 0, "must be more than 0s, got %s"},
		{"upload_min_rate", c.UploadMinRate <= 0, "must be more than 0 bytes per second, got %d"},
		{"idle_timeout", c.IdleTimeout <= 0, "must be more than 0s, got %s"},
		{"max_connections", c.MaxConnections < 0, "must be 0 (derived from the open-file limit) or more, got %d"},
		{"spool_max", c.SpoolMax < 100, "must be at least 100, got %d"},
		{"spool_memory", c.SpoolMemory < 0, "must be 0 or more bytes, got %d"},
		{"deadletter_max", c.DeadletterMax < 1, "must be at least 1, got %d"},
		{"pacing_chat_burst", c.PacingChatBurst < 1, "must be at least 1, got %d"},
		{"pacing_queue", c.PacingQueue < 1, "must be at least 1, got %d"},
		{"shutdown_grace", c.ShutdownGrace < 0, "must not be negative, got %s"},
	} {
		if check.bad {
			s := settings[slices.IndexFunc(settings, func(s setting) bool { return s.key == check.key })]
			return fieldErr(check.key, check.msg, display(c, s))
		}
	}
	for _, r := range []struct {
		key  string
		rate Rate
	}{{"pacing_chat_rate", c.PacingChatRate}, {"pacing_group_rate", c.PacingGroupRate}, {"pacing_global_rate", c.PacingGlobalRate}} {
		if err := r.rate.check(); err != nil {
			return &FieldError{Field: r.key, Err: err}
		}
	}
	if err := c.validateSpool(); err != nil {
		return err
	}
	c.LogLevel = strings.ToLower(c.LogLevel)
	if !slices.Contains(logLevels, c.LogLevel) {
		return fieldErr("log_level", "must be one of %s, got %q", strings.Join(logLevels, ", "), c.LogLevel)
	}
	c.LogFormat = strings.ToLower(c.LogFormat)
	if !slices.Contains(logFormats, c.LogFormat) {
		return fieldErr("log_format", "must be one of %s, got %q", strings.Join(logFormats, ", "), c.LogFormat)
	}
	return nil
}

// validateSpool checks spool and data_dir, and expands a leading "~/" in
// data_dir with $HOME.
func (c *Config) validateSpool() error {
	c.Spool = strings.ToLower(c.Spool)
	if !slices.Contains(spoolKinds, c.Spool) {
		return fieldErr("spool", "must be one of %s, got %q", strings.Join(spoolKinds, ", "), c.Spool)
	}
	if c.DataDir == "~" || strings.HasPrefix(c.DataDir, "~/") {
		home := os.Getenv("HOME")
		if home == "" {
			return fieldErr("data_dir", "%q starts with ~ but HOME is not set", c.DataDir)
		}
		c.DataDir = filepath.Join(home, strings.TrimPrefix(c.DataDir, "~"))
	}
	if c.Spool == "disk" && strings.TrimSpace(c.DataDir) == "" {
		return fieldErr("data_dir", "must not be empty with spool: disk (give a directory, or spool: memory)")
	}
	return nil
}

func (c *Config) validateToken() error {
	if c.Token == "" && c.TokenFile != "" {
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return &FieldError{Field: "token_file", Err: err}
		}
		c.Token = strings.TrimSpace(string(b))
		if c.Token == "" {
			return fieldErr("token_file", "%s is empty", c.TokenFile)
		}
		if _, err := parseToken(c.Token); err != nil {
			return fieldErr("token_file", "%s: %w", c.TokenFile, err)
		}
	}
	c.Token = strings.TrimSpace(c.Token)
	if c.Token == "" {
		return fieldErr("token", "missing: give it as the first argument, --token, %s, token or token_file in the config file", envName("token"))
	}
	if _, err := parseToken(c.Token); err != nil {
		return &FieldError{Field: "token", Err: err}
	}
	return nil
}

// parseToken checks the form <bot id>:<secret> and returns the bot id. Its
// errors never contain the token.
func parseToken(tok string) (int64, error) { return telegram.ParseToken(tok) }

func (c *Config) validateAppSecret() error {
	c.AppSecretKey = nil
	if c.AppSecret == "" {
		return nil
	}
	const prefix = "whsec_"
	b64, ok := strings.CutPrefix(c.AppSecret, prefix)
	if !ok {
		return fieldErr("app_secret", "must have the Standard Webhooks form whsec_<base64>")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			return fieldErr("app_secret", "the part after whsec_ is not valid standard base64 (bad input at byte %d)", int64(ce))
		}
		return fieldErr("app_secret", "the part after whsec_ is not valid standard base64")
	}
	if len(key) == 0 {
		return fieldErr("app_secret", "the key after whsec_ is empty")
	}
	c.AppSecretKey = key
	return nil
}

func isUpdateKind(k string) bool {
	return k != "" && !strings.ContainsFunc(k, func(r rune) bool { return (r < 'a' || r > 'z') && r != '_' })
}

// checkURL checks that raw is an absolute http or https URL with a host.
// For a base URL (not the app URL) it also refuses a query or fragment and
// returns raw without trailing slashes.
func checkURL(key, raw string, isApp bool) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fieldErr(key, "not a valid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fieldErr(key, "must be an absolute http:// or https:// URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fieldErr(key, "must have a host, as in https://example.com/path")
	}
	if !isApp {
		if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			return "", fieldErr(key, "must not have a query or fragment: it is a base URL")
		}
		raw = strings.TrimRight(raw, "/")
	}
	return raw, nil
}

// checkListen checks a host:port address and returns its parts.
func checkListen(addr string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(addr)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		return "", "", fieldErr("listen", "must be host:port with a numeric port 0-65535, e.g. 127.0.0.1:8080 or :8080, got %q", addr)
	}
	return host, port, nil
}
