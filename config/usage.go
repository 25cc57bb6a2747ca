package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/asgigram/asgigram/internal/textwrap"
	"github.com/asgigram/asgigram/pacing"
)

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
	b.WriteString(usageLine("--config FILE", "read settings from this YAML, JSON or TOML file",
		"env "+envPrefix+"CONFIG, default none"))
	b.WriteString(flagsUsage(cmdDaemon, Default()))
	b.WriteString(usageLine("-v, --verbose", "log at debug level, whatever log_level says"))
	b.WriteString(usageLine("--version", "print the version and exit"))
	b.WriteString(usageLine("-h, --help", "print this help and exit"))
	return b.String()
}

// DevFlagsUsage returns the flags part of the help text of asgigram dev:
// every setting it reads, with its environment variable, file key and
// default.
func DevFlagsUsage() string {
	return usageLine("--config FILE", "read the dev: group, app_secret and send_token from this YAML, JSON or TOML file (only when given: dev mode does not read "+envPrefix+"CONFIG)", "default none") +
		flagsUsage(cmdDev, devDefault("")) +
		usageLine("-v, --verbose", "log at debug level") +
		usageLine("-h, --help", "print this help")
}

// DeadLettersFlagsUsage returns the flags part of the help text of
// asgigram deadletters.
func DeadLettersFlagsUsage() string {
	return usageLine("--config FILE", "read listen, admin_url and admin_token from this YAML, JSON or TOML file",
		"env "+envPrefix+"CONFIG, default none") +
		flagsUsage(cmdDeadLetters, Default()) +
		usageLine("--bot NAME", "the bot of the config file's bots: list whose dead letters to address (required when it has several)",
			"default none: the one bot") +
		usageLine("-h, --help", "print this help")
}

// flagsUsage documents the settings of cmd, def holding their defaults.
// The file key is named where it is not the flag's name with '_' for '-'.
func flagsUsage(cmd command, def Config) string {
	var b strings.Builder
	for _, s := range settings {
		if !s.in(cmd) {
			continue
		}
		d := s.def
		if d == "" {
			d = fmt.Sprint(display(&def, s))
			if size, ok := s.field(&def).(*byteSize); ok {
				d = formatSize(int64(*size))
			}
		}
		flag := "--" + s.flagName() + " " + s.arg
		if s.arg == boolArg {
			flag = "--" + s.flagName() + "[=" + boolArg + "]"
		}
		where := "env " + s.envName()
		if flagName(s.key) != s.flagName() {
			where += ", file " + s.key
		}
		notes := []string{where + ", default " + d}
		if len(notes[0]) > 70 {
			notes = []string{where + ",", "default " + d}
		}
		b.WriteString(usageLine(flag, s.help, notes...))
	}
	return b.String()
}

// usageLine documents one flag: the flag, its help wrapped, then notes.
func usageLine(flag, help string, notes ...string) string {
	var b strings.Builder
	b.WriteString("  " + flag + "\n")
	for _, l := range textwrap.Wrap(help, 70) {
		b.WriteString("        " + l + "\n")
	}
	for _, n := range notes {
		b.WriteString("        " + n + "\n")
	}
	return b.String()
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
	case *pacing.Rate:
		return p.String()
	case *[]string:
		return slices.Clone(*p)
	}
	panic("config: no display for " + s.key)
}
