package main

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// TestBadRepliesAreLoggedAndNothingStops: every kind of bad answer from the
// app is logged once with update_id and scope, and the following events of
// the same scope are still delivered.
func TestBadRepliesAreLoggedAndNothingStops(t *testing.T) {
	fake, apiURL := newFake(t)
	var n atomic.Int32
	answers := map[string]func(w http.ResponseWriter){
		"malformed": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"type": "telegram.send_message", "text": `)
		},
		"unknown-type": func(w http.ResponseWriter) { reply(w, map[string]any{"type": "telegram.sendMessage", "text": "x"}) },
		"refused":      func(w http.ResponseWriter) { reply(w, map[string]any{"type": "telegram.log_out"}) },
		"plain-ok":     func(w http.ResponseWriter) { io.WriteString(w, "OK") },
		"tg-refuses":   func(w http.ResponseWriter) { reply(w, map[string]any{"type": "telegram.send_message", "text": ""}) },
		"status-400":   func(w http.ResponseWriter) { w.WriteHeader(400) },
		"status-500":   func(w http.ResponseWriter) { n.Add(1); w.WriteHeader(500) },
		"redirect": func(w http.ResponseWriter) {
			w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
			w.WriteHeader(http.StatusTemporaryRedirect)
		},
		"good": func(w http.ResponseWriter) { reply(w, map[string]any{"type": "telegram.send_message", "text": "fine"}) },
	}
	order := []string{"malformed", "unknown-type", "refused", "plain-ok", "tg-refuses", "status-400", "status-500", "redirect", "good"}
	a := newApp(t, func(w http.ResponseWriter, ev received) { answers[ev.text()](w) })
	ids := map[string]int64{}
	for i, name := range order {
		ids[name] = fake.AddUpdate("message", textMessage(-1001234567890, 6100000001, i+1, name))
	}
	p := startBot(t, apiURL, a.srv.URL, "--app-max-attempts", "3")
	eventually(t, 20*time.Second, func() bool { return len(fake.Messages(-1001234567890)) == 1 }, "the good reply went out after all the bad ones")
	assert.Equal(t, []string{"fine"}, sentTexts(fake, -1001234567890))
	assert.Equal(t, int32(3), n.Load(), "5xx retried up to app_max_attempts")
	out := p.out.String()
	expect := map[string]string{
		"malformed":    "bad reply body",
		"unknown-type": "unknown event type",
		"refused":      "refused",
		"tg-refuses":   "message text is empty",
		"status-400":   "delivery failed",
		"status-500":   "delivery failed",
		"redirect":     "not followed",
	}
	for name, want := range expect {
		line := logLine(t, out, ids[name])
		assert.Contains(t, line, want, "log of %s", name)
		assert.Contains(t, line, "scope=chat:-1001234567890", "log of %s names the scope", name)
		errLines := regexp.MustCompile(fmt.Sprintf(`(?m)^.*level=ERROR.* update_id=%d .*$`, ids[name])).FindAllString(out, -1)
		assert.Len(t, errLines, 1, "one error line: %s", name)
		assert.Contains(t, out, fmt.Sprintf("update_id=%d scope=chat:-1001234567890 event=telegram.message dead_letter_id=", ids[name]), "kept as a dead letter: %s", name)
	}
	assert.NotContains(t, out, fmt.Sprintf("update_id=%d ", ids["plain-ok"]), "a non-JSON 2xx is not an error")
	assert.Equal(t, 0, p.stop(20*time.Second))
}

// logLine returns the one log line that names updateID.
func logLine(t *testing.T, out string, updateID int64) string {
	t.Helper()
	re := regexp.MustCompile(fmt.Sprintf(`(?m)^.*level=ERROR.* update_id=%d .*$`, updateID))
	m := re.FindString(out)
	require.NotEmpty(t, m, "no log line for update %d in:\n%s", updateID, out)
	return m
}

// TestTokenNeverLogged runs through faults with debug logging and scans
// all output for the token (every test's output is scanned as well, in
// start's cleanup).
func TestTokenNeverLogged(t *testing.T) {
	fake, apiURL := newFake(t)
	fake.Fail("getUpdates", fakeapi.Fault{Code: 502, Times: 2})
	fake.Fail("getUpdates", fakeapi.Fault{Reset: true})
	fake.Fail("sendMessage", fakeapi.Fault{Code: 429, RetryAfter: 1})
	fake.Fail("sendMessage", fakeapi.Fault{Reset: true, AfterProcessing: true})
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		reply(w, []any{
			map[string]any{"type": "telegram.send_message", "text": "a"},
			map[string]any{"type": "telegram.send_message", "text": "b"},
		})
	})
	for i := range 3 {
		fake.AddUpdate("message", textMessage(6100000001, 6100000001, i+1, "x"))
	}
	p := startBot(t, apiURL, a.srv.URL, "-v", "--log-format", "json")
	eventually(t, 20*time.Second, func() bool { return a.count() >= 3 }, "delivered despite the faults")
	eventually(t, 20*time.Second, func() bool { return len(fake.Messages(6100000001)) >= 4 }, "replies sent")
	assert.Equal(t, 0, p.stop(20*time.Second))
	out := p.out.String()
	assert.Contains(t, out, `"level":"DEBUG"`, "debug logging was on")
	assert.Contains(t, out, "outcome unknown", "the reset after sending was reported")
	assert.NotContains(t, out, testToken)
	assert.NotContains(t, out, strings.SplitN(testToken, ":", 2)[1], "not even the token's secret half")
}

// TestConfigErrorsExit2 checks that bad configuration exits 2 with one
// message naming the field, and never prints the token.
func TestConfigErrorsExit2(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   []string
		field string
	}{
		{"missing token", []string{}, nil, "token"},
		{"missing app_url", []string{testToken}, nil, "app_url"},
		{"bad app_url", []string{testToken, "not a url"}, nil, "app_url"},
		{"duration without unit", []string{testToken, "http://127.0.0.1:1/", "--poll-timeout", "15"}, nil, "poll_timeout"},
		{"bad env duration", []string{testToken, "http://127.0.0.1:1/"}, []string{"ASGIGRAM_APP_TIMEOUT=10"}, "app_timeout"},
		{"bad app_secret", []string{testToken, "http://127.0.0.1:1/", "--app-secret", "nope-" + testToken}, nil, "app_secret"},
		{"bad listen", []string{testToken, "http://127.0.0.1:1/", "--listen", "localhost"}, nil, "listen"},
		{"malformed token", []string{"not-a-token", "http://127.0.0.1:1/"}, nil, "token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, tt.args, tt.env...)
			assert.Equal(t, ExitConfig, p.wait(10*time.Second))
			out := p.out.String()
			assert.Contains(t, out, tt.field)
			assert.NotContains(t, out, testToken)
		})
	}
	t.Run("version", func(t *testing.T) {
		p := start(t, []string{"--version"})
		assert.Equal(t, 0, p.wait(10*time.Second))
		assert.Contains(t, p.out.String(), "asgigram ")
	})
	t.Run("help never shows the token", func(t *testing.T) {
		p := start(t, []string{"--help"}, "ASGIGRAM_TOKEN="+testToken)
		assert.Equal(t, 0, p.wait(10*time.Second))
		assert.Contains(t, p.out.String(), "--app-url")
	})
}
