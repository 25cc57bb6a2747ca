package metrics_test

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/metrics"
	"github.com/asgigram/asgigram/telegram"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, err := io.ReadAll(rec.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLabelsComeFromTheCatalogue: every update kind of the telegram
// catalogue has its own series from the start; kinds and methods the
// catalogue does not list are counted as "other", methods under the Bot
// API's spelling.
func TestLabelsComeFromTheCatalogue(t *testing.T) {
	m := metrics.New(metrics.Gauges{})
	text := scrape(t, m)
	for _, k := range telegram.UpdateKindNames() {
		if want := `asgigram_updates_received_total{kind="` + k + `"} 0`; !strings.Contains(text, want) {
			t.Errorf("no zero series for %s: want %q", k, want)
		}
	}

	m.Received("telegram.callback_query")
	m.Received("telegram.gift_sent")
	m.Called(telegram.CallStats{Method: "sendmessage", Outcome: "ok"})
	m.Called(telegram.CallStats{Method: "sendSomethingNew", Outcome: "ok"})
	text = scrape(t, m)
	for _, want := range []string{
		`asgigram_updates_received_total{kind="callback_query"} 1`,
		`asgigram_updates_received_total{kind="other"} 1`,
		`asgigram_botapi_calls_total{method="sendMessage",outcome="ok"} 1`,
		`asgigram_botapi_calls_total{method="other",outcome="ok"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(text, `kind="gift_sent"`) || strings.Contains(text, `method="sendSomethingNew"`) {
		t.Error("a kind or method outside the catalogue got its own label")
	}
}

// TestBotLabel: the bots of one registry each count on their own series,
// labelled bot="<name>"; the process's collectors have no bot label.
func TestBotLabel(t *testing.T) {
	r := metrics.NewRegistry()
	shop := r.Bot("shop", metrics.Gauges{Scopes: func() int { return 2 }})
	news := r.Bot("news", metrics.Gauges{Scopes: func() int { return 5 }})
	shop.Received("telegram.message")
	news.Received("telegram.message")
	news.Received("telegram.message")
	news.Called(telegram.CallStats{Method: "sendMessage", Outcome: "ok"})
	text := scrape(t, shop)
	for _, want := range []string{
		`asgigram_updates_received_total{bot="shop",kind="message"} 1`,
		`asgigram_updates_received_total{bot="news",kind="message"} 2`,
		`asgigram_botapi_calls_total{bot="news",method="sendMessage",outcome="ok"} 1`,
		`asgigram_scopes{bot="shop"} 2`,
		`asgigram_scopes{bot="news"} 5`,
		`asgigram_dead_letters_total{bot="shop",kind="delivery"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(text, `asgigram_botapi_calls_total{bot="shop"`) {
		t.Error("a call of news counted for shop")
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "asgigram_") && !strings.Contains(line, `bot="`) {
			t.Errorf("a series of a bot without its bot label: %s", line)
		}
		if strings.HasPrefix(line, "go_") && strings.Contains(line, `bot="`) {
			t.Errorf("a process series with a bot label: %s", line)
		}
	}
	if strings.Contains(scrape(t, metrics.New(metrics.Gauges{})), `bot="`) {
		t.Error("a process of one unnamed bot has a bot label")
	}
}

// TestLifecycleEvents: lifecycle POSTs are counted by event (without the
// "asgigram." prefix) and outcome; an event type asgigram does not send
// is "other".
func TestLifecycleEvents(t *testing.T) {
	m := metrics.New(metrics.Gauges{})
	m.Lifecycle(adapter.Trace{Type: adapter.EventStartup, Err: errors.New("503")})
	m.Lifecycle(adapter.Trace{Type: adapter.EventStartup, Status: 204})
	m.Lifecycle(adapter.Trace{Type: adapter.EventScopeClosed, Status: 200})
	m.Lifecycle(adapter.Trace{Type: "asgigram.something_new", Status: 200})
	text := scrape(t, m)
	for _, want := range []string{
		`asgigram_lifecycle_events_total{event="startup",outcome="failed"} 1`,
		`asgigram_lifecycle_events_total{event="startup",outcome="ok"} 1`,
		`asgigram_lifecycle_events_total{event="scope_closed",outcome="ok"} 1`,
		`asgigram_lifecycle_events_total{event="other",outcome="ok"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}
