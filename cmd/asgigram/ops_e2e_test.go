package main

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var listenRe = regexp.MustCompile(`msg="asgigram starting".* listen=(\S+)`)

// baseURL waits for the start log line and returns the local server's URL.
func (p *proc) baseURL() string {
	p.t.Helper()
	var addr string
	eventually(p.t, 10*time.Second, func() bool {
		m := listenRe.FindStringSubmatch(p.out.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	}, "start line")
	return "http://" + addr
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestHealthReadinessAndMetrics: /healthz is always up, /readyz follows
// getMe and polling (a 409 makes it 503 with the reason), /metrics counts
// what happened.
func TestHealthReadinessAndMetrics(t *testing.T) {
	fake, apiURL := newFake(t)
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		reply(w, map[string]any{"type": "telegram.send_message", "text": "pong"})
	})
	p := startBot(t, apiURL, a.srv.URL)
	base := p.baseURL()

	status, body := get(t, base+"/healthz")
	assert.Equal(t, 200, status)
	assert.JSONEq(t, `{"status":"ok"}`, body)

	eventually(t, 10*time.Second, func() bool { s, _ := get(t, base+"/readyz"); return s == 200 }, "ready once polling")

	fake.AddUpdate("message", textMessage(6100000001, 6100000001, 1, "ping"))
	eventually(t, 10*time.Second, func() bool { return len(fake.Messages(6100000001)) == 1 }, "reply sent")

	// A webhook makes getUpdates answer 409: not ready, and why.
	fake.SetWebhook("https://example.invalid/hook")
	var ready struct {
		Ready   bool     `json:"ready"`
		Reasons []string `json:"reasons"`
	}
	eventually(t, 20*time.Second, func() bool {
		s, b := get(t, base+"/readyz")
		require.NoError(t, json.Unmarshal([]byte(b), &ready))
		return s == 503
	}, "not ready during a 409")
	assert.False(t, ready.Ready)
	require.Len(t, ready.Reasons, 1)
	assert.Contains(t, ready.Reasons[0], "409")
	fake.SetWebhook("")
	eventually(t, 60*time.Second, func() bool { s, _ := get(t, base+"/readyz"); return s == 200 }, "ready again")

	status, body = get(t, base+"/metrics")
	assert.Equal(t, 200, status)
	for _, want := range []string{
		`asgigram_updates_received_total{kind="message"} 1`,
		`asgigram_deliveries_total{outcome="ok",status_class="2xx"} 1`,
		`asgigram_botapi_calls_total{method="sendMessage",outcome="ok"} 1`,
		`asgigram_botapi_calls_total{method="getMe",outcome="ok"} 1`,
		`asgigram_botapi_calls_total{method="getUpdates",outcome="refused"}`,
		`asgigram_reply_calls_total{result="ok"} 1`,
		`asgigram_scopes 1`,
		`asgigram_pending_updates 0`,
		`asgigram_app_latency_seconds_count 1`,
	} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, testToken)
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "asgigram_botapi_calls_total{") {
			assert.Regexp(t, `method="(sendMessage|getMe|getUpdates)"`, line, "bounded method label")
		}
	}
	assert.Equal(t, 0, p.stop(20*time.Second))
}
