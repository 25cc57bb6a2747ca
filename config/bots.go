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
//	  - name: news
//	    token_file: /run/secrets/news-token
//	    app_url: http://127.0.0.1:9001/telegram
//
// An entry holds name, the bot's own settings (scope perBot: token,
// token_file) and overrides of the settings of scope both. It is file-only:
// no flag or environment variable addresses one entry. A list of one entry
// runs that bot as the top-level token and app_url would; a longer one
// runs every bot of it in one process (Config.Bots).
const botsKey = "bots"

// maxBotName is the longest name of an entry of bots:.
const maxBotName = 32

// validBotName reports whether name is a bot's name: 1 to maxBotName
// lower-case letters, digits, '-' and '_'.
func validBotName(name string) bool {
	return name != "" && len(name) <= maxBotName && !strings.ContainsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	})
}

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

// applyBots applies the bots: list of v's config file to copies of c,
// whose top-level settings are already decoded: one Config per entry, the
// entry's name as BotName, its keys overriding the top level. It returns
// nil, nil when the file has no bots: list. A bot's own keys (token,
// token_file) given at the top level too are refused, as is a global key
// in an entry, and a name that is missing, malformed or given twice.
func applyBots(v *viper.Viper, c *Config) ([]botEntry, []Config, error) {
	if !v.InConfig(botsKey) {
		return nil, nil, nil
	}
	list, ok := v.Get(botsKey).([]any)
	if !ok {
		return nil, nil, fieldErr(botsKey, "expected a list of bots, each with name, token or token_file, and app_url")
	}
	if len(list) == 0 {
		return nil, nil, fieldErr(botsKey, "is empty: give one entry per bot, or remove bots: and set token and app_url at the top level")
	}
	for _, s := range settings {
		if s.scope == perBot && v.IsSet(s.key) {
			return nil, nil, fieldErr(s.key, "cannot be combined with bots: keep %s in the entry of bots:, or remove bots: and keep the top-level %s (flag --%s, %s)", s.key, s.key, s.flagName(), s.envName())
		}
	}
	top := map[string]bool{}
	for _, s := range settings {
		if s.in(cmdDaemon) && s.scope == both && v.IsSet(s.key) {
			top[s.key] = true
		}
	}
	var (
		entries []botEntry
		bots    []Config
		names   = map[string]int{}
	)
	for i, raw := range list {
		b, bc, err := applyBot(i, raw, top, *c)
		if err != nil {
			return nil, nil, err
		}
		if j, dup := names[bc.BotName]; dup {
			return nil, nil, fieldErr(b.label+": name", "is also the name of bots[%d]: every bot needs a name of its own", j)
		}
		names[bc.BotName] = i
		entries, bots = append(entries, b), append(bots, bc)
	}
	return entries, bots, nil
}

// applyBot applies entry i of bots:, raw, to c.
func applyBot(i int, raw any, top map[string]bool, c Config) (botEntry, Config, error) {
	label := fmt.Sprintf("%s[%d]", botsKey, i)
	item, ok := raw.(map[string]any)
	if !ok {
		return botEntry{}, c, fieldErr(label, "expected a map with name, token or token_file, and app_url")
	}
	b := botEntry{label: label, keys: map[string]bool{}, top: top}
	name, ok := item["name"].(string)
	switch {
	case !ok || name == "":
		return botEntry{}, c, fieldErr(b.label+": name", "missing: every entry of bots: has a name")
	case !validBotName(name):
		return botEntry{}, c, fieldErr(b.label+": name", "%q: use 1 to %d lower-case letters, digits, '-' and '_' (the name is part of log lines, metric labels and admin URLs)", name, maxBotName)
	}
	b.label += fmt.Sprintf(" (name %q)", name)
	for _, k := range slices.Sorted(maps.Keys(item)) {
		if k == "name" {
			continue
		}
		s, ok := lookup(k)
		switch {
		case !ok || !s.in(cmdDaemon):
			if sg := suggest(k, func(s setting) string { return s.key }); sg != "" {
				return botEntry{}, c, fieldErr(b.label+": "+k, "unknown key (did you mean %s?)", sg)
			}
			return botEntry{}, c, fieldErr(b.label+": "+k, "unknown key")
		case s.scope == global:
			return botEntry{}, c, fieldErr(b.label+": "+k, "is global, not per bot: give it at the top level of the file")
		}
		sub := viper.New()
		sub.Set(k, item[k])
		if err := decodeKey(sub, s, &c); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.Field = b.label + ": " + fe.Field
			}
			return botEntry{}, c, err
		}
		b.keys[k] = true
	}
	if !b.keys["token"] && !b.keys["token_file"] {
		return botEntry{}, c, fieldErr(b.label+": token", "missing: give the bot's token or token_file in its entry")
	}
	c.BotName = name
	return b, c, nil
}

// checkBots refuses what two validated bots of one process cannot share:
// a token, a bot (two tokens of one bot would share its spool and its
// updates) and a send_token (it would not say which bot a /send is for).
func checkBots(entries []botEntry, bots []Config) error {
	for i := range bots {
		for j := range i {
			a, b := bots[i], bots[j]
			switch {
			case a.Token == b.Token:
				return entries[i].fieldErr(fieldErr(tokenKey(entries[i]), "is also the token of bots[%d] (name %q): every bot has its own token", j, b.BotName))
			case a.BotID() == b.BotID():
				return entries[i].fieldErr(fieldErr(tokenKey(entries[i]), "names bot %d, as the token of bots[%d] (name %q) does: give each bot once", a.BotID(), j, b.BotName))
			case a.SendToken != "" && a.SendToken == b.SendToken:
				return &FieldError{Field: entries[i].label + ": send_token", Err: fmt.Errorf("is also the send_token of bots[%d] (name %q): a send_token says which bot a /send is for, so each bot needs its own (a top-level send_token is every bot's: give one in each entry instead)", j, b.BotName)}
			}
		}
	}
	return nil
}

// tokenKey is the key that gave the entry its token.
func tokenKey(b botEntry) string {
	if b.keys["token_file"] {
		return "token_file"
	}
	return "token"
}
