package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/asgigram/asgigram/telegram"
)

// byteSize is the decode target of send_body_limit, upload_limit and
// spool_memory, so
// that the decode hook can tell it from a plain integer.
type byteSize int64

// setting describes one configuration key.
type setting struct {
	// key is the key in the config file. A key of a group is written
	// group.name: in the file it is the name inside a map under the group
	// (dev: {listen: ...}), its flag and variable join the two
	// (--dev-listen, ASGIGRAM_DEV_LISTEN) unless flag or env say otherwise.
	key string
	// flag is the flag's name when it is not derived from the key.
	flag string
	arg  string // placeholder in Usage
	help string
	// def is the default as Usage shows it; empty means "derive it from
	// the command's defaults".
	def    string
	secret bool
	// cmds are the commands that read the setting; 0 means the daemon only.
	cmds command
	// scope says where a setting of the daemon may be given: at the top
	// level only, or also in an entry of the bots: list.
	scope scope
	// field returns a pointer to the Config field the key decodes into.
	field func(c *Config) any
}

// command is a set of asgigram's commands.
type command uint8

const (
	cmdDaemon      command = 1 << iota // asgigram [flags] [TOKEN [APP_URL]]
	cmdDev                             // asgigram dev
	cmdDeadLetters                     // asgigram deadletters
	cmdSpool                           // asgigram spool check|salvage
)

// scope is where a setting of the daemon may be given.
type scope uint8

const (
	// global: at the top level only; it concerns the whole process (the
	// local server, the spool's directory, logging).
	global scope = iota
	// perBot: a bot's own setting (its token). At the top level when the
	// file has no bots: list (the one-bot form), else in the bot's entry,
	// never in both.
	perBot
	// both: the top-level value is every bot's; an entry of bots: may
	// override it for its bot.
	both
)

func (sc scope) String() string {
	return [...]string{"global", "per bot", "both"}[sc]
}

// in reports whether the setting belongs to the commands of cmd.
func (s setting) in(cmd command) bool {
	if s.cmds == 0 {
		return cmd == cmdDaemon
	}
	return s.cmds&cmd != 0
}

// flagName is the name of the setting's flag.
func (s setting) flagName() string {
	if s.flag != "" {
		return s.flag
	}
	return strings.NewReplacer("_", "-", ".", "-").Replace(s.key)
}

// envName is the name of the setting's environment variable.
func (s setting) envName() string { return envName(s.key) }

// settings lists every key of every command, in the order of Usage and
// Redacted. A command reads only its own keys, but knows all of them: a
// config file or an ASGIGRAM_* variable meant for another command is not
// an unknown key.
var settings = []setting{
	{key: "token", cmds: cmdDaemon | cmdSpool, scope: perBot, arg: "TOKEN", secret: true, def: "none",
		help:  "bot token from @BotFather (flags are visible in ps: prefer the env var or token_file)",
		field: func(c *Config) any { return &c.Token }},
	{key: "token_file", cmds: cmdDaemon | cmdSpool, scope: perBot, arg: "FILE", def: "none",
		help:  "read the bot token from this file (surrounding whitespace is trimmed)",
		field: func(c *Config) any { return &c.TokenFile }},
	{key: "app_url", scope: both, arg: "URL", def: "none, required",
		help:  "application URL: every update is POSTed here",
		field: func(c *Config) any { return &c.AppURL }},
	{key: "api_url", scope: both, arg: "URL",
		help:  "Bot API base URL, may have a path prefix (local Bot API server, proxy)",
		field: func(c *Config) any { return &c.APIURL }},
	{key: "listen", cmds: cmdDaemon | cmdDeadLetters, arg: "HOST:PORT",
		help:  "address of the HTTP server that serves /send",
		field: func(c *Config) any { return &c.Listen }},
	{key: "public_url", arg: "URL", def: "http://<listen>",
		help:  "base URL under which the application reaches asgigram (send_url is <public_url>/send); in the default, an unspecified listen host (:8080, 0.0.0.0, ::) becomes 127.0.0.1",
		field: func(c *Config) any { return &c.PublicURL }},
	{key: "app_secret", cmds: cmdDaemon | cmdDev, scope: both, arg: "SECRET", secret: true, def: "none, events are not signed",
		help:  "Standard Webhooks secret whsec_<base64> used to sign every event",
		field: func(c *Config) any { return &c.AppSecret }},
	{key: "send_token", cmds: cmdDaemon | cmdDev, scope: both, arg: "TOKEN", secret: true, def: "none, disabled",
		help:  "application-level bearer token for /send (jobs that outlive a scope)",
		field: func(c *Config) any { return &c.SendToken }},
	{key: "admin_token", cmds: cmdDaemon | cmdDeadLetters, arg: "TOKEN", secret: true, def: "none, admin endpoints off",
		help:  "bearer token of the admin endpoints (dead letters: list, show, replay, drop)",
		field: func(c *Config) any { return &c.AdminToken }},
	{key: "poll_timeout", scope: both, arg: "DURATION",
		help:  "getUpdates long-poll timeout, 0s to 50s",
		field: func(c *Config) any { return &c.PollTimeout }},
	{key: "allowed_updates", scope: both, arg: "KINDS", def: fmt.Sprintf("all %d kinds of Bot API %s", len(telegram.UpdateKindNames()), telegram.BotAPIVersion),
		help:  "comma-separated update kinds to receive; empty: Telegram's default (no chat_member, no reactions)",
		field: func(c *Config) any { return &c.AllowedUpdates }},
	{key: "delete_webhook_on_start", scope: both, arg: boolArg,
		help:  "call deleteWebhook at every start, before polling (a bot that had a webhook)",
		field: func(c *Config) any { return &c.DeleteWebhookOnStart }},
	{key: "drop_pending_updates", scope: both, arg: boolArg,
		help:  "with delete_webhook_on_start: also drop the updates Telegram holds for the bot",
		field: func(c *Config) any { return &c.DropPendingUpdates }},
	{key: "max_concurrency", scope: both, arg: "N",
		help:  "deliveries to the application in flight at once (one per scope)",
		field: func(c *Config) any { return &c.MaxConcurrency }},
	{key: "scope_idle_timeout", scope: both, arg: "DURATION",
		help:  "forget a scope (and its token) after this long without activity",
		field: func(c *Config) any { return &c.ScopeIdleTimeout }},
	{key: "max_scopes", scope: both, arg: "N",
		help:  "scopes kept in memory at most",
		field: func(c *Config) any { return &c.MaxScopes }},
	{key: "app_timeout", scope: both, arg: "DURATION",
		help:  "timeout of one delivery attempt to the application",
		field: func(c *Config) any { return &c.AppTimeout }},
	{key: "app_max_attempts", scope: both, arg: "N",
		help:  "delivery attempts per event, the first one included",
		field: func(c *Config) any { return &c.AppMaxAttempts }},
	{key: "app_max_elapsed", scope: both, arg: "DURATION",
		help:  "stop retrying a delivery after this long",
		field: func(c *Config) any { return &c.AppMaxElapsed }},
	{key: "spool", scope: both, arg: "KIND",
		help:  "where fetched updates wait until delivered: disk (durable, under data_dir) or memory (no file; a batch is confirmed only once delivered, so a slow scope holds back polling)",
		field: func(c *Config) any { return &c.Spool }},
	{key: "data_dir", cmds: cmdDaemon | cmdSpool, arg: "DIR", def: "<state dir>/asgigram",
		help:  "directory of the durable spools, one per bot in <data_dir>/<bot id>; <state dir> is $XDG_STATE_HOME, else $HOME/.local/state; without HOME, ./asgigram-data",
		field: func(c *Config) any { return &c.DataDir }},
	{key: "spool_max", scope: both, arg: "N",
		help:  "updates held in the spool at most; polling pauses while it is full (at least 100)",
		field: func(c *Config) any { return &c.SpoolMax }},
	{key: "spool_memory", scope: both, arg: "SIZE",
		help:  "waiting updates also kept in memory with spool: disk, so that delivering them does not read the file (0: none)",
		field: func(c *Config) any { return (*byteSize)(&c.SpoolMemory) }},
	{key: "deadletter_max", scope: both, arg: "N",
		help:  "dead letters kept at most (at least 1)",
		field: func(c *Config) any { return &c.DeadletterMax }},
	{key: "send_timeout", scope: both, arg: "DURATION",
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
	{key: "pacing", scope: both, arg: boolArg,
		help:  "keep outbound calls inside Telegram's rate limits; --pacing=false for a local Bot API server or benchmarks",
		field: func(c *Config) any { return &c.Pacing }},
	{key: "pacing_chat_rate", scope: both, arg: "RATE",
		help:  "message sends per chat: N/s, N/m, N/h or N/<duration> (20/1m)",
		field: func(c *Config) any { return &c.PacingChatRate }},
	{key: "pacing_chat_burst", scope: both, arg: "N",
		help:  "message sends a chat may make at once before pacing_chat_rate applies",
		field: func(c *Config) any { return &c.PacingChatBurst }},
	{key: "pacing_group_rate", scope: both, arg: "RATE",
		help:  "message sends per group, supergroup or channel, on top of pacing_chat_rate",
		field: func(c *Config) any { return &c.PacingGroupRate }},
	{key: "pacing_global_rate", scope: both, arg: "RATE",
		help:  "message sends of the whole bot",
		field: func(c *Config) any { return &c.PacingGlobalRate }},
	{key: "pacing_queue", scope: both, arg: "N",
		help:  "calls waiting per chat at most; one more is refused at once",
		field: func(c *Config) any { return &c.PacingQueue }},
	{key: "typing_after", scope: both, arg: "DURATION", def: "0s, off",
		help:  "show \"typing\" in the chat of a message to the bot while the application has not answered it after this long, again every 4.5s (1s is a good value)",
		field: func(c *Config) any { return &c.TypingAfter }},
	{key: "typing_rate", scope: both, arg: "RATE",
		help:  "typing calls of typing_after at most; past it one is dropped, never queued",
		field: func(c *Config) any { return &c.TypingRate }},
	{key: "callback_answer_after", scope: both, arg: "DURATION", def: "0s, off",
		help:  "answer a callback query the application has not answered this long after it was fetched, so the button stops spinning (10s is a good value)",
		field: func(c *Config) any { return &c.CallbackAnswerAfter }},
	{key: "reply_results", scope: both, arg: boolArg,
		help:  "deliver the results of a reply body's calls (message ids, Telegram's errors) as an asgigram.reply_result event right after the update",
		field: func(c *Config) any { return &c.ReplyResults }},
	{key: "lifecycle_events", scope: both, arg: boolArg,
		help:  "deliver asgigram.scope_opened and asgigram.scope_closed in each scope's order, and asgigram.startup and asgigram.shutdown to lifecycle_url; best effort, never spooled",
		field: func(c *Config) any { return &c.LifecycleEvents }},
	{key: "lifecycle_url", scope: both, arg: "URL", def: "app_url",
		help:  "where asgigram.startup and asgigram.shutdown are POSTed, with lifecycle_events",
		field: func(c *Config) any { return &c.LifecycleURL }},
	{key: "startup_timeout", scope: both, arg: "DURATION",
		help:  "with lifecycle_events, delivery waits this long at most for a 2xx answer to asgigram.startup (retried meanwhile), then starts anyway",
		field: func(c *Config) any { return &c.StartupTimeout }},
	{key: "shutdown_grace", arg: "DURATION",
		help:  "time given to work in flight on shutdown",
		field: func(c *Config) any { return &c.ShutdownGrace }},
	{key: "log_level", arg: "LEVEL",
		help:  "one of " + strings.Join(logLevels, ", "),
		field: func(c *Config) any { return &c.LogLevel }},
	{key: "log_format", arg: "FORMAT",
		help:  "one of " + strings.Join(logFormats, ", "),
		field: func(c *Config) any { return &c.LogFormat }},

	// asgigram deadletters, a client of a running asgigram's admin
	// endpoints, also reads listen and admin_token.
	{key: "admin_url", cmds: cmdDeadLetters, arg: "URL", def: "http://<listen>",
		help:  "the running asgigram's local server; in the default, an unspecified listen host (:8080, 0.0.0.0, ::) becomes 127.0.0.1",
		field: func(c *Config) any { return &c.AdminURL }},

	// The group dev holds the settings of asgigram dev. They are apart from
	// the daemon's, so that the settings of a real bot (its app_url, its
	// listen address) never point dev mode elsewhere; the flags keep their
	// short names. Dev mode shares only app_secret and send_token with the
	// daemon, so that an application and dev mode can use one export.
	{key: "dev.listen", flag: "listen", cmds: cmdDev, arg: "HOST:PORT",
		help:  "address of the local server (port 0 picks a free port, the banner shows it)",
		field: func(c *Config) any { return &c.Listen }},
	{key: "dev.app_url", flag: "app-url", cmds: cmdDev, arg: "URL", def: "the built-in echo app",
		help:  "your application's URL, instead of the argument",
		field: func(c *Config) any { return &c.AppURL }},
	{key: "dev.public_url", flag: "public-url", cmds: cmdDev, arg: "URL", def: "http://<listen address>",
		help:  "base URL under which your app reaches asgigram (send_url is <public-url>/send)",
		field: func(c *Config) any { return &c.PublicURL }},
	{key: "dev.bots", flag: "bots", cmds: cmdDev, arg: "N",
		help:  "run N fake bots, bot1 to botN, each its own bot of this process with its own token; the endpoints that act as a user take ?bot=NAME (default bot1)",
		field: func(c *Config) any { return &c.DevBots }},
	{key: "dev.app_timeout", flag: "app-timeout", cmds: cmdDev, arg: "DURATION",
		help:  "timeout of one delivery attempt",
		field: func(c *Config) any { return &c.AppTimeout }},
	{key: "dev.app_max_attempts", flag: "app-max-attempts", cmds: cmdDev, arg: "N",
		help:  "delivery attempts per event, the first one included",
		field: func(c *Config) any { return &c.AppMaxAttempts }},
	{key: "dev.pacing", flag: "pacing", cmds: cmdDev, arg: boolArg,
		help:  "pace the bot's calls as in production, within Telegram's limits (after a burst, about one message per second per chat); --pacing=false does not",
		field: func(c *Config) any { return &c.Pacing }},
	{key: "dev.typing_after", flag: "typing-after", cmds: cmdDev, arg: "DURATION", def: "0s, off",
		help:  "show \"typing\" in the chat of a message to the bot while your app has not answered it after this long, as typing_after does (the trace shows each call)",
		field: func(c *Config) any { return &c.TypingAfter }},
	{key: "dev.callback_answer_after", flag: "callback-answer-after", cmds: cmdDev, arg: "DURATION", def: "0s, off",
		help:  "answer a callback query your app has not answered after this long, as callback_answer_after does (the trace shows each answer)",
		field: func(c *Config) any { return &c.CallbackAnswerAfter }},
	{key: "dev.reply_results", flag: "reply-results", cmds: cmdDev, arg: boolArg,
		help:  "deliver the results of your app's reply bodies as asgigram.reply_result events, as reply_results does (the trace shows each)",
		field: func(c *Config) any { return &c.ReplyResults }},
	{key: "dev.lifecycle_events", flag: "lifecycle-events", cmds: cmdDev, arg: boolArg,
		help:  "deliver the lifecycle events to your app, as lifecycle_events does (the trace shows each)",
		field: func(c *Config) any { return &c.LifecycleEvents }},
	{key: "dev.log_level", flag: "log-level", cmds: cmdDev, arg: "LEVEL",
		help:  "one of " + strings.Join(logLevels, ", ") + " (by default warn: the trace lines say what happens)",
		field: func(c *Config) any { return &c.LogLevel }},
	{key: "dev.log_format", flag: "log-format", cmds: cmdDev, arg: "FORMAT",
		help:  "one of " + strings.Join(logFormats, ", ") + ", for the log on stderr",
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
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// lookup returns the setting of key.
func lookup(key string) (setting, bool) {
	i := slices.IndexFunc(settings, func(s setting) bool { return s.key == key })
	if i < 0 {
		return setting{}, false
	}
	return settings[i], true
}

func isKey(key string) bool {
	_, ok := lookup(key)
	return ok
}

// isGroup reports whether name is a group of keys (dev for dev.listen).
func isGroup(name string) bool {
	return slices.ContainsFunc(settings, func(s setting) bool { return strings.HasPrefix(s.key, name+".") })
}
