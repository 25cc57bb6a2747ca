package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

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
