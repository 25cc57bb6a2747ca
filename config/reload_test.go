package config_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/asgigram/asgigram/config"
)

// TestReloadChanges: a reread configuration is split into the global keys
// that changed (a restart of the process applies them) and each bot's
// keys that changed (a restart of that bot applies them).
func TestReloadChanges(t *testing.T) {
	old := config.Default()
	old.Token, old.AppURL = testToken, testAppURL

	same := old
	same.AllowedUpdates = append([]string(nil), old.AllowedUpdates...)
	if g, b := config.GlobalChanges(old, same), config.BotChanges(old, same); g != nil || b != nil {
		t.Fatalf("an equal configuration changed global %v, bot %v", g, b)
	}

	n := old
	n.Listen, n.LogLevel = "127.0.0.1:9999", "debug"
	n.AppURL, n.AppTimeout, n.AllowedUpdates, n.BotName = "http://127.0.0.1:1/other", 3*time.Second, []string{"message"}, "shop"
	if got, want := config.GlobalChanges(old, n), []string{"listen", "log_level"}; !reflect.DeepEqual(got, want) {
		t.Errorf("GlobalChanges = %v, want %v", got, want)
	}
	if got, want := config.BotChanges(old, n), []string{"name", "app_url", "allowed_updates", "app_timeout"}; !reflect.DeepEqual(got, want) {
		t.Errorf("BotChanges = %v, want %v", got, want)
	}

	// A restarted bot keeps the global keys it ran with.
	n.KeepGlobal(old)
	if n.Listen != old.Listen || n.LogLevel != old.LogLevel || n.AppURL != "http://127.0.0.1:1/other" {
		t.Errorf("KeepGlobal: listen %q log_level %q app_url %q", n.Listen, n.LogLevel, n.AppURL)
	}
	if g := config.GlobalChanges(old, n); g != nil {
		t.Errorf("after KeepGlobal, global keys still differ: %v", g)
	}
}
