package metrics_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

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
