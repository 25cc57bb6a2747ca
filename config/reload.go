package config

import "reflect"

// Reload is what a reread configuration changes of the running one: the
// global keys whose values differ (they concern the whole process and
// cannot change while it runs) and, per bot, the keys of the bot's own.
//
// GlobalChanges returns the keys of scope global whose values differ
// between the running configuration old and the reread one, new, in the
// order of the settings table.
func GlobalChanges(old, new Config) []string {
	return changed(old, new, func(s setting) bool { return s.scope == global })
}

// BotChanges returns the keys of one bot's settings (its own, and those
// that an entry of bots: may override) whose values differ between the
// Config of a running bot, old, and its reread one, new, in the order of
// the settings table; "name" first when its name in bots: changed.
func BotChanges(old, new Config) []string {
	keys := changed(old, new, func(s setting) bool { return s.scope != global })
	if old.BotName != new.BotName {
		keys = append([]string{"name"}, keys...)
	}
	return keys
}

// KeepGlobal sets the keys of scope global of c to their values in from:
// a bot restarted by a reload keeps the process's global settings, which
// change only with a restart of the process.
func (c *Config) KeepGlobal(from Config) {
	for _, s := range settings {
		if s.in(cmdDaemon) && s.scope == global {
			reflect.ValueOf(s.field(c)).Elem().Set(reflect.ValueOf(s.field(&from)).Elem())
		}
	}
}

// changed returns the daemon's keys that pick and whose values differ
// between a and b.
func changed(a, b Config, pick func(setting) bool) []string {
	var keys []string
	for _, s := range settings {
		if !s.in(cmdDaemon) || !pick(s) || s.field == nil {
			continue
		}
		if !reflect.DeepEqual(reflect.ValueOf(s.field(&a)).Elem().Interface(), reflect.ValueOf(s.field(&b)).Elem().Interface()) {
			keys = append(keys, s.key)
		}
	}
	return keys
}
