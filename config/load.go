package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Load builds the daemon's configuration from args (os.Args[1:]), the
// ASGIGRAM_* environment, the config file named by --config or
// ASGIGRAM_CONFIG, and the defaults, then validates it. Usage and warnings
// (unknown ASGIGRAM_* variables) go to stderr. With -h or --help it returns
// ErrHelp; with --version it returns Default() with Version set and nothing
// else checked. Errors about a setting are *FieldError.
//
// A config file may give the bot in a bots: list of one entry instead of
// the top-level token and app_url, or several bots in a longer list: each
// is then a Config of Bots (see applyBots).
func Load(args []string, stderr io.Writer) (Config, error) {
	spec := commandSpec{
		name: "asgigram", cmd: cmdDaemon, positional: []string{"token", "app_url"},
		tooMany: "expected at most TOKEN and APP_URL", configEnv: true, verbose: true, version: true,
		usage: Usage,
	}
	l, err := loadSettings(spec, Default(), args, stderr)
	if err != nil || l.c.Version {
		return l.c, err
	}
	c := l.c
	if l.verbose > 0 {
		c.LogLevel = "debug"
	}
	entries, bots, err := applyBots(l.v, &c)
	if err != nil {
		return Config{}, err
	}
	if bots == nil {
		if err := validateBot(botEntry{}, &c); err != nil {
			return Config{}, err
		}
		return c, nil
	}
	for i := range bots {
		if err := validateBot(entries[i], &bots[i]); err != nil {
			return Config{}, err
		}
	}
	if err := checkBots(entries, bots); err != nil {
		return Config{}, err
	}
	if len(bots) == 1 {
		return bots[0], nil
	}
	c = bots[0]
	c.Token, c.TokenFile, c.BotName, c.Bots = "", "", "", bots
	return c, nil
}

// validateBot validates the Config of one bot, the entry b of bots: or
// the top level (zero b).
func validateBot(b botEntry, c *Config) error {
	if c.Token != "" && c.TokenFile != "" {
		return b.fieldErr(fieldErr("token_file", "cannot be combined with token: give only one of them"))
	}
	return b.fieldErr(c.Validate())
}

// LoadDev builds the configuration of asgigram dev from args (after
// "dev"), the environment and, with --config, the dev: group of a config
// file. Of the daemon's settings it reads only app_secret and send_token;
// its own are the dev.* keys, whose flags keep short names (--listen for
// dev.listen). The token is dev mode's fake bot's; Spool is memory and
// ShutdownGrace short. APP_URL, the only argument, is dev.app_url.
//
// AppURL stays empty when no application was given (the built-in echo
// app), and PublicURL when dev.public_url was not given: both depend on
// the address dev mode ends up listening on, so the caller fills them in
// and validates again. With -h or --help it returns ErrHelp and writes
// nothing. Errors about a setting are *FieldError naming its file key.
func LoadDev(args []string, token string, stderr io.Writer) (Config, error) {
	spec := commandSpec{
		name: "asgigram dev", cmd: cmdDev, positional: []string{"dev.app_url"},
		tooMany: "expected at most APP_URL", verbose: true,
	}
	l, err := loadSettings(spec, devDefault(token), args, stderr)
	if err != nil {
		return Config{}, err
	}
	c := l.c
	if l.verbose > 0 {
		c.LogLevel = "debug"
	}
	if c.DevBots < 1 || c.DevBots > MaxDevBots {
		return Config{}, fieldErr("dev.bots", "%d: run 1 to %d bots", c.DevBots, MaxDevBots)
	}
	given := c
	if c.AppURL == "" {
		c.AppURL = "http://127.0.0.1/" // the built-in app, on a port not known yet
	}
	if err := c.Validate(); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) && isKey("dev."+fe.Field) {
			fe.Field = "dev." + fe.Field
		}
		return Config{}, err
	}
	c.AppURL = given.AppURL
	if given.PublicURL == "" {
		c.PublicURL = ""
	}
	return c, nil
}

// devDefault returns the defaults of asgigram dev: Default() with token as
// the bot token, log_level warn (its trace lines say what happens), a
// memory spool (the fake Telegram starts empty on every run: updates kept
// on disk would be redelivered into a world that no longer has them, and
// would share a real instance's data_dir) and a short shutdown_grace
// (Ctrl-C should not wait long for a stuck application).
func devDefault(token string) Config {
	c := Default()
	c.Token = token
	c.LogLevel = "warn"
	c.Spool = "memory"
	c.DataDir = ""
	c.ShutdownGrace = 5 * time.Second
	c.DevBots = 1
	return c
}

// MaxDevBots bounds dev.bots.
const MaxDevBots = 1000

// LoadDeadLetters builds the configuration of asgigram deadletters from
// args (after "deadletters"), the environment and the config file named by
// --config or ASGIGRAM_CONFIG: listen, admin_url (derived from listen when
// not given) and admin_token, which it requires, and --bot NAME as
// BotName: the entry of bots: whose dead letters it addresses (required
// when the file's bots: list has more than one entry). It returns the
// arguments that are not flags (the command and its ID) even with an
// error, so that the caller can answer a bare "asgigram deadletters" with
// its usage. With -h or --help it returns ErrHelp and writes nothing.
func LoadDeadLetters(args []string, stderr io.Writer) (Config, []string, error) {
	spec := commandSpec{name: "asgigram deadletters", cmd: cmdDeadLetters, configEnv: true, bot: true}
	l, err := loadSettings(spec, Default(), args, stderr)
	if err != nil {
		return Config{}, l.rest, err
	}
	c := l.c
	if _, _, err := checkListen(c.Listen); err != nil {
		return Config{}, l.rest, err
	}
	if c.AdminURL == "" {
		c.AdminURL = LocalURL(c.Listen)
	} else if c.AdminURL, err = checkURL("admin_url", c.AdminURL, false); err != nil {
		return Config{}, l.rest, err
	}
	if c.BotName, err = deadLettersBot(l); err != nil {
		return Config{}, l.rest, err
	}
	if c.AdminToken == "" {
		return Config{}, l.rest, fieldErr("admin_token", "missing: set %s (or --admin-token, or admin_token in the config file) to the running asgigram's admin_token", envName("admin_token"))
	}
	return c, l.rest, nil
}

// deadLettersBot returns the bot asgigram deadletters addresses: --bot,
// checked against the names of the config file's bots: list when it has
// one. Without --bot, a list of several bots is an error.
func deadLettersBot(l loaded) (string, error) {
	var names []string
	if l.v != nil && l.v.InConfig(botsKey) {
		list, _ := l.v.Get(botsKey).([]any)
		for _, raw := range list {
			if item, ok := raw.(map[string]any); ok {
				if n, ok := item["name"].(string); ok {
					names = append(names, n)
				}
			}
		}
	}
	switch {
	case l.bot == "" && len(names) > 1:
		return "", fieldErr("bot", "missing: the config file runs %d bots (%s): name one with --bot", len(names), strings.Join(names, ", "))
	case l.bot == "":
		return "", nil
	case !validBotName(l.bot):
		return "", fieldErr("bot", "%q is not the name of a bot: names are 1 to %d lower-case letters, digits, '-' and '_'", l.bot, maxBotName)
	case names != nil && !slices.Contains(names, l.bot):
		return "", fieldErr("bot", "%q is not a bot of the config file: its bots are %s", l.bot, strings.Join(names, ", "))
	}
	return l.bot, nil
}

// commandSpec says how a command takes its settings.
type commandSpec struct {
	name string // as in its messages: "asgigram dev"
	cmd  command
	// positional are the keys of the arguments, in order; nil leaves the
	// arguments to the caller (loaded.rest).
	positional []string
	tooMany    string // the "too many arguments" hint
	// configEnv: ASGIGRAM_CONFIG names the config file when --config does
	// not.
	configEnv bool
	verbose   bool // -v, --verbose
	version   bool // --version
	bot       bool // --bot NAME, an entry of bots: (loaded.bot)
	// usage is written to stderr on -h; nil writes nothing.
	usage func() string
}

// loaded is what loadSettings read, before any check across settings.
type loaded struct {
	c       Config
	v       *viper.Viper
	rest    []string
	verbose int
	bot     string // --bot
}

// loadSettings reads the settings of spec's command from args, the
// environment and the config file into def: flags over environment over
// file over def. Every value is decoded and type-checked; nothing else is
// checked.
func loadSettings(spec commandSpec, def Config, args []string, stderr io.Writer) (loaded, error) {
	if stderr == nil {
		stderr = io.Discard
	}
	fs := pflag.NewFlagSet(spec.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if spec.usage != nil {
		fs.SetOutput(stderr)
		fs.Usage = func() { _, _ = io.WriteString(stderr, spec.usage()) }
	}
	// Every setting is a string flag, so that a value given as a flag is
	// decoded and checked like the same value from the environment.
	for _, s := range settings {
		if !s.in(spec.cmd) {
			continue
		}
		fs.String(s.flagName(), "", s.help)
		if s.arg == boolArg {
			// --pacing alone means true, as for a pflag bool.
			fs.Lookup(s.flagName()).NoOptDefVal = "true"
		}
	}
	configFile := fs.String("config", "", "config file")
	verbose := new(int)
	if spec.verbose {
		verbose = fs.CountP("verbose", "v", "log at debug level")
	}
	bot := new(string)
	if spec.bot {
		bot = fs.String("bot", "", "the bot of the config file's bots: list to address")
	}
	version := new(bool)
	if spec.version {
		version = fs.Bool("version", false, "print the version and exit")
	}

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return loaded{}, ErrHelp
		}
		return loaded{}, fmt.Errorf("config: %w (see %s --help)", err, spec.name)
	}
	l := loaded{rest: fs.Args(), verbose: *verbose, bot: *bot}
	if *version {
		l.c = def
		l.c.Version = true
		return l, nil
	}
	if spec.positional != nil {
		if err := setPositional(spec, fs); err != nil {
			return l, err
		}
		l.rest = nil
	}

	v := viper.New()
	for _, s := range settings {
		if !s.in(spec.cmd) {
			continue
		}
		if err := v.BindEnv(s.key, s.envName()); err != nil {
			return l, err
		}
		// Only flags the user set: a flag's own default must not hide the
		// environment or the file.
		if f := fs.Lookup(s.flagName()); f.Changed {
			if err := v.BindPFlag(s.key, f); err != nil {
				return l, err
			}
		}
	}
	warnUnknownEnv(stderr)

	path := *configFile
	if !fs.Changed("config") && spec.configEnv {
		path = os.Getenv(envPrefix + "CONFIG")
	}
	if path != "" {
		if err := readFile(v, path); err != nil {
			return l, err
		}
	}

	l.c, l.v = def, v
	for _, s := range settings {
		if !s.in(spec.cmd) || !v.IsSet(s.key) {
			continue
		}
		if err := decodeKey(v, s, &l.c); err != nil {
			return l, err
		}
	}
	return l, nil
}

// setPositional turns the arguments into the values of the flags of
// spec.positional.
func setPositional(spec commandSpec, fs *pflag.FlagSet) error {
	args := fs.Args()
	if len(args) > len(spec.positional) {
		// The arguments are not repeated: the first one may be the token.
		return fmt.Errorf("config: too many arguments (%d): %s, see %s --help", len(args), spec.tooMany, spec.name)
	}
	for i, key := range spec.positional[:len(args)] {
		s, _ := lookup(key)
		name := s.flagName()
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
		if !slices.ContainsFunc(settings, func(s setting) bool { return s.envName() == name }) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		msg := "asgigram: warning: ignoring unknown environment variable " + name
		if s := suggest(strings.ToLower(strings.TrimPrefix(name, envPrefix)), func(s setting) string {
			return strings.ToLower(strings.TrimPrefix(s.envName(), envPrefix))
		}); s != "" {
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
		// type error, reported by decodeKey; under a group, the whole key
		// must be known. The bots: list is not flattened.
		top, _, _ := strings.Cut(k, ".")
		if isKey(top) || top == botsKey {
			continue
		}
		if isGroup(top) {
			if group, name, _ := strings.Cut(k, "."); isKey(group + "." + strings.SplitN(name, ".", 2)[0]) {
				continue
			}
			top = k
		}
		if s := suggest(top, func(s setting) string { return s.key }); s != "" {
			return fieldErr(top, "unknown key (did you mean %s?)", s)
		}
		return fieldErr(top, "unknown key")
	}
	return nil
}

// suggest returns the key of the setting whose name (by name) is closest
// to an unknown one, if it is close.
func suggest(unknown string, name func(setting) string) string {
	best, bestDist := "", 3
	for _, s := range settings {
		if d := editDistance(unknown, name(s)); d < bestDist {
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
