package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/viper"
)

// botsKey is the config file's list of bots:
//
//	bots:
//	  - name: shop
//	    token_file: /run/secrets/shop-token
//	    app_url: http://127.0.0.1:9000/telegram
//	    app_timeout: 30s          # an override of a global key
//
// An entry holds name, the bot's own settings (scope perBot: token,
// token_file) and overrides of the settings of scope both. It is file-only:
// no flag or environment variable addresses one entry. One process runs
// one bot, so the list has exactly one entry for now; it then runs that bot
// as the top-level token and app_url would.
const botsKey = "bots"

// maxBots is how many entries bots: may have: one asgigram process runs
// one bot.
const maxBots = 1

// botEntry names the entry of bots: that a Config came from; the zero
// value is the top-level form.
type botEntry struct {
	label string          // bots[0] (name "shop")
	keys  map[string]bool // the keys the entry set
	top   map[string]bool // the keys of scope both set at the top level
}

// fieldErr names the entry in err when err is about a key that the entry
// set, or a bot's own key that nobody set: "bots[0] (name "shop"): app_url".
func (b botEntry) fieldErr(err error) error {
	var fe *FieldError
	if b.label == "" || !errors.As(err, &fe) || strings.HasPrefix(fe.Field, botsKey) {
		return err
	}
	s, ok := lookup(fe.Field)
	if b.keys[fe.Field] || ok && s.scope != global && !b.top[fe.Field] {
		return &FieldError{Field: b.label + ": " + fe.Field, Err: fe.Err}
	}
	return err
}

// applyBots applies the bots: list of v's config file to c, whose
// top-level settings are already decoded: the entry's name becomes
// BotName, its keys override the top level. A bot's own keys (token,
// token_file) given at the top level too are refused, as is a global key
// in an entry, and a list of more than one entry.
func applyBots(v *viper.Viper, c *Config) (botEntry, error) {
	if !v.InConfig(botsKey) {
		return botEntry{}, nil
	}
	list, ok := v.Get(botsKey).([]any)
	if !ok {
		return botEntry{}, fieldErr(botsKey, "expected a list of bots, each with name, token or token_file, and app_url")
	}
	switch {
	case len(list) == 0:
		return botEntry{}, fieldErr(botsKey, "is empty: give one entry, or remove bots: and set token and app_url at the top level")
	case len(list) > maxBots:
		return botEntry{}, fieldErr(botsKey, "has %d entries, but one asgigram process runs one bot: keep one entry here, and run one asgigram (with its own listen address) per bot", len(list))
	}
	for _, s := range settings {
		if s.scope == perBot && v.IsSet(s.key) {
			return botEntry{}, fieldErr(s.key, "cannot be combined with bots: keep %s in the entry of bots:, or remove bots: and keep the top-level %s (flag --%s, %s)", s.key, s.key, s.flagName(), s.envName())
		}
	}
	item, ok := list[0].(map[string]any)
	if !ok {
		return botEntry{}, fieldErr(botsKey+"[0]", "expected a map with name, token or token_file, and app_url")
	}
	b := botEntry{label: botsKey + "[0]", keys: map[string]bool{}, top: map[string]bool{}}
	name, ok := item["name"].(string)
	switch {
	case !ok || name == "":
		return botEntry{}, fieldErr(b.label+": name", "missing: every entry of bots: has a name")
	case strings.ContainsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}):
		return botEntry{}, fieldErr(b.label+": name", "%q: use letters, digits, '-' and '_'", name)
	}
	b.label += fmt.Sprintf(" (name %q)", name)
	for _, s := range settings {
		if s.in(cmdDaemon) && s.scope == both && v.IsSet(s.key) {
			b.top[s.key] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(item)) {
		if k == "name" {
			continue
		}
		s, ok := lookup(k)
		switch {
		case !ok || !s.in(cmdDaemon):
			if sg := suggest(k, func(s setting) string { return s.key }); sg != "" {
				return botEntry{}, fieldErr(b.label+": "+k, "unknown key (did you mean %s?)", sg)
			}
			return botEntry{}, fieldErr(b.label+": "+k, "unknown key")
		case s.scope == global:
			return botEntry{}, fieldErr(b.label+": "+k, "is global, not per bot: give it at the top level of the file")
		}
		sub := viper.New()
		sub.Set(k, item[k])
		if err := decodeKey(sub, s, c); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.Field = b.label + ": " + fe.Field
			}
			return botEntry{}, err
		}
		b.keys[k] = true
	}
	if !b.keys["token"] && !b.keys["token_file"] {
		return botEntry{}, fieldErr(b.label+": token", "missing: give the bot's token or token_file in its entry")
	}
	c.BotName = name
	return b, nil
}
