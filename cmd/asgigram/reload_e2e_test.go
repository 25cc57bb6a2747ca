package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// fourthToken is the token of the bot a reload adds; like testToken, it
// must never show in any output.
const fourthToken = "423456789:AAE-fourth_SECRET-token-do-not-log"

// hup sends SIGHUP to p and waits for the reload's summary line (the
// n-th) or its refusal.
func (p *proc) hup(n int, done string) {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(syscall.SIGHUP))
	eventually(p.t, 20*time.Second, func() bool { return strings.Count(p.out.String(), done) >= n }, "reload %d: %q", n, done)
}

// firstToken is the scope token of the first event app got.
func firstToken(t *testing.T, a *app) string {
	t.Helper()
	evs := a.received()
	require.NotEmpty(t, evs)
	require.NotEmpty(t, evs[0].Token)
	return evs[0].Token
}

// sendStatus is the status and description of a /send with token.
func sendStatus(t *testing.T, base, token string, chatID int64) string {
	t.Helper()
	status, out := postSend(t, base+"/send", token, "application/json",
		fmt.Sprintf(`{"type":"telegram.send_message","chat_id":%d,"text":"sent"}`, chatID))
	return fmt.Sprintf("%d %s", status, out["description"])
}

// TestReloadAddsRemovesAndChangesBots: three bots flowing, the config file
// rewritten (mail added, news removed, blog's app_url changed, shop as it
// was) and SIGHUP: mail delivers, news finishes its delivery in flight and
// confirms it before it stops, then its scope token is unknown; blog's next
// updates go to its new app; shop never pauses (it delivers while news
// drains) and its scope token still works. Then a file that does not
// validate changes nothing, and neither does the same file again.
func TestReloadAddsRemovesAndChangesBots(t *testing.T) {
	tokens := map[string]string{"shop": testToken, "news": moreTokens[0], "blog": moreTokens[1], "mail": fourthToken}
	fake, apiURL := newFakeWith(t, fakeapi.Config{Tokens: []string{moreTokens[0], moreTokens[1], fourthToken}})
	release := make(chan struct{})
	apps := map[string]*app{}
	for _, name := range []string{"shop", "news", "blog", "blog2", "mail"} {
		apps[name] = newApp(t, func(w http.ResponseWriter, ev received) {
			if ev.text() == "slow" {
				<-release // news's delivery in flight when it is removed
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "asgigram.yaml")
	write := func(bots ...string) {
		t.Helper()
		var b strings.Builder
		fmt.Fprintf(&b, "api_url: %s\nlisten: 127.0.0.1:0\npoll_timeout: 1s\nshutdown_grace: 20s\napp_max_attempts: 1\ndata_dir: %s\nbots:\n", apiURL, filepath.Join(dir, "data"))
		for _, e := range bots {
			name, appName, _ := strings.Cut(e, "=")
			if appName == "" {
				appName = name
			}
			fmt.Fprintf(&b, "  - name: %s\n    token: %s\n    app_url: %s\n", name, tokens[name], apps[appName].srv.URL)
		}
		require.NoError(t, os.WriteFile(conf, []byte(b.String()), 0o600))
	}
	write("shop", "news", "blog")
	p := start(t, []string{"--config", conf})
	base := p.baseURL()
	t.Cleanup(func() {
		for _, tok := range []string{moreTokens[0], moreTokens[1], fourthToken} {
			assert.NotContains(t, p.out.String(), tok, "a bot token leaked into the output")
		}
	})
	bot := func(name string) *fakeapi.Bot { return fake.BotFor(tokens[name]) }
	const chat = 6300000001
	for _, name := range []string{"shop", "news", "blog"} {
		bot(name).AddUpdate("message", textMessage(chat, chat, 1, "before"))
	}
	for _, name := range []string{"shop", "news", "blog"} {
		eventually(t, 20*time.Second, func() bool { return apps[name].texts()["before"] == 1 }, "%s delivers", name)
	}
	shopToken, newsToken := firstToken(t, apps["shop"]), firstToken(t, apps["news"])
	unknown := sendStatus(t, base, "no-such-token-0123456789", chat)
	require.True(t, strings.HasPrefix(sendStatus(t, base, newsToken, chat), "200"))

	// news has a delivery in flight when the reload removes it.
	slowID := bot("news").AddUpdate("message", textMessage(chat, chat, 2, "slow"))
	eventually(t, 20*time.Second, func() bool { return apps["news"].texts()["slow"] == 1 }, "news's slow delivery is in flight")
	bot("mail").AddUpdate("message", textMessage(chat, chat, 1, "to mail"))
	write("shop", "blog=blog2", "mail")
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	eventually(t, 20*time.Second, func() bool {
		return strings.Contains(p.out.String(), "bot stopping: it was removed from the configuration") &&
			strings.Contains(p.out.String(), "bot restarting: its configuration changed")
	}, "news stops, blog restarts")
	// While news drains, shop flows.
	bot("shop").AddUpdate("message", textMessage(chat, chat, 2, "during"))
	eventually(t, 20*time.Second, func() bool { return apps["shop"].texts()["during"] == 1 }, "shop delivers while news drains")
	assert.NotContains(t, p.out.String(), "reloaded the configuration", "the reload waits for news's delivery in flight")
	s, body := get(t, base+"/readyz")
	assert.Equal(t, 200, s, "readiness does not wait for the bots a reload stops: %s", body)
	close(release)
	eventually(t, 30*time.Second, func() bool { return strings.Contains(p.out.String(), "reloaded the configuration") }, "the reload's summary")
	assert.Contains(t, p.out.String(), `added=mail removed=news restarted=blog unchanged=shop ignored_global_keys=""`)

	// news confirmed its last update before it stopped: nothing is left
	// for it at Telegram, and its app got every update once.
	assert.Equal(t, slowID+1, bot("news").Offset(), "news confirmed the update it had in flight")
	assert.Equal(t, map[string]int{"before": 1, "slow": 1}, apps["news"].texts())
	assert.Equal(t, unknown, sendStatus(t, base, newsToken, chat), "a removed bot's scope token is an unknown token")

	// mail delivers; blog's next updates go to its new app.
	eventually(t, 20*time.Second, func() bool { return apps["mail"].texts()["to mail"] == 1 }, "the added bot delivers")
	bot("blog").AddUpdate("message", textMessage(chat, chat, 2, "after"))
	eventually(t, 20*time.Second, func() bool { return apps["blog2"].texts()["after"] == 1 }, "blog delivers to its new app_url")
	assert.Equal(t, map[string]int{"before": 1}, apps["blog"].texts(), "blog's old app gets nothing more")
	// shop ran on untouched: its scope token still works.
	assert.True(t, strings.HasPrefix(sendStatus(t, base, shopToken, chat), "200"), "shop's scope token survives the reload")
	s, body = get(t, base+"/readyz")
	assert.Equal(t, 200, s, body)
	assert.NotContains(t, body, `"news"`, "readiness lists the bots running")
	assert.Contains(t, body, `"mail"`)
	// Metrics: mail has its series; news's stay, its gauges at 0.
	_, m := get(t, base+"/metrics")
	assert.Contains(t, m, `asgigram_updates_received_total{bot="mail",kind="message"} 1`)
	assert.Contains(t, m, `asgigram_updates_received_total{bot="news",kind="message"} 2`)
	assert.Contains(t, m, `asgigram_pending_updates{bot="news"} 0`)

	// A file that does not validate: reported, nothing changes.
	require.NoError(t, os.WriteFile(conf, []byte("listen: 127.0.0.1:0\nbots:\n  - name: shop\n    token: "+testToken+"\n    app_url: not-a-url\n"), 0o600))
	p.hup(1, "reload: the configuration was not applied")
	assert.Contains(t, p.out.String(), "app_url")
	bot("shop").AddUpdate("message", textMessage(chat, chat, 3, "after invalid"))
	bot("mail").AddUpdate("message", textMessage(chat, chat, 2, "after invalid"))
	eventually(t, 20*time.Second, func() bool { return apps["shop"].texts()["after invalid"] == 1 }, "shop runs on")
	eventually(t, 20*time.Second, func() bool { return apps["mail"].texts()["after invalid"] == 1 }, "mail runs on")

	// The same file again: nothing changes.
	write("shop", "blog=blog2", "mail")
	p.hup(2, "reloaded the configuration")
	assert.Contains(t, p.out.String(), `added="" removed="" restarted="" unchanged=shop,blog,mail ignored_global_keys=""`)
	assert.True(t, strings.HasPrefix(sendStatus(t, base, shopToken, chat), "200"))
	assert.Equal(t, 1, strings.Count(p.out.String(), "bot restarting"), "only blog ever restarted")
	assert.Equal(t, 0, p.stop(30*time.Second))
}

// TestReloadOneBot: a process of one bot reloads on SIGHUP. The same file
// changes nothing (its scope token lives on); a global key is reported and
// ignored; a changed app_url restarts the bot, whose next updates go to
// the new app.
func TestReloadOneBot(t *testing.T) {
	fake, apiURL := newFake(t)
	a1 := newApp(t, nil)
	a2 := newApp(t, nil)
	dir := t.TempDir()
	conf := filepath.Join(dir, "asgigram.yaml")
	write := func(appURL, extra string) {
		t.Helper()
		require.NoError(t, os.WriteFile(conf, []byte("token: "+testToken+"\napp_url: "+appURL+"\n"+extra), 0o600))
	}
	write(a1.srv.URL, "")
	p := start(t, []string{"--config", conf, "--api-url", apiURL, "--listen", "127.0.0.1:0", "--poll-timeout", "1s", "--data-dir", filepath.Join(dir, "data")})
	base := p.baseURL()
	const chat = 6400000001
	fake.AddUpdate("message", textMessage(chat, chat, 1, "one"))
	eventually(t, 20*time.Second, func() bool { return a1.texts()["one"] == 1 }, "delivered")
	tok := firstToken(t, a1)

	p.hup(1, "reloaded the configuration")
	assert.Contains(t, p.out.String(), `added="" removed="" restarted="" unchanged=bot ignored_global_keys=""`)
	assert.True(t, strings.HasPrefix(sendStatus(t, base, tok, chat), "200"), "the scope token lives on")

	write(a2.srv.URL, "max_connections: 77\n")
	p.hup(2, "reloaded the configuration")
	assert.Contains(t, p.out.String(), `keys=max_connections`, "the global key is reported")
	assert.Contains(t, p.out.String(), `restarted=bot unchanged="" ignored_global_keys=max_connections`)
	fake.AddUpdate("message", textMessage(chat, chat, 2, "two"))
	eventually(t, 20*time.Second, func() bool { return a2.texts()["two"] == 1 }, "delivered to the new app_url")
	assert.Equal(t, map[string]int{"one": 1}, a1.texts())
	s, body := get(t, base+"/readyz")
	assert.Equal(t, 200, s, body)
	assert.Equal(t, 0, p.stop(30*time.Second))
}

// TestReloadRestartsARevokedBotWithItsNewToken: a bot whose token was
// replaced in @BotFather (the old one answers 401) stops, and stays stopped
// (readiness says why) until a reload gives it the new token; it then
// polls again with it, from its own spool and offset (same bot id), and
// the process is ready.
func TestReloadRestartsARevokedBotWithItsNewToken(t *testing.T) {
	const renewed = "223456789:AAE-second_RENEWED-token-do-not-log"
	fake, apiURL := newFakeWith(t, fakeapi.Config{Tokens: []string{moreTokens[0]}})
	shopApp, newsApp := newApp(t, nil), newApp(t, nil)
	dir := t.TempDir()
	conf := filepath.Join(dir, "asgigram.yaml")
	write := func(newsToken string) {
		t.Helper()
		require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf("api_url: %s\nlisten: 127.0.0.1:0\npoll_timeout: 1s\nshutdown_grace: 3s\ndata_dir: %s\nbots:\n"+
			"  - name: shop\n    token: %s\n    app_url: %s\n  - name: news\n    token: %s\n    app_url: %s\n",
			apiURL, filepath.Join(dir, "data"), testToken, shopApp.srv.URL, newsToken, newsApp.srv.URL)), 0o600))
	}
	write(moreTokens[0])
	p := start(t, []string{"--config", conf})
	base := p.baseURL()
	t.Cleanup(func() {
		for _, tok := range []string{moreTokens[0], renewed} {
			assert.NotContains(t, p.out.String(), tok, "a bot token leaked into the output")
		}
	})
	news := fake.BotFor(moreTokens[0])
	const chat = 6500000001
	news.AddUpdate("message", textMessage(chat, chat, 1, "before"))
	eventually(t, 20*time.Second, func() bool { return newsApp.texts()["before"] == 1 }, "news delivers")
	eventually(t, 20*time.Second, func() bool { s, _ := get(t, base+"/readyz"); return s == 200 }, "both bots ready")

	news.NewToken(renewed)
	eventually(t, 20*time.Second, func() bool { return strings.Contains(p.out.String(), "this bot stopped") }, "news stops")
	s, body := get(t, base+"/readyz?bot=news")
	assert.Equal(t, 503, s, body)

	write(renewed)
	p.hup(1, "reloaded the configuration")
	assert.Contains(t, p.out.String(), `restarted=news unchanged=shop`)
	news.AddUpdate("message", textMessage(chat, chat, 2, "back"))
	eventually(t, 20*time.Second, func() bool { return newsApp.texts()["back"] == 1 }, "news delivers with its new token")
	assert.Equal(t, map[string]int{"before": 1, "back": 1}, newsApp.texts(), "each update once")
	eventually(t, 20*time.Second, func() bool { s, _ := get(t, base+"/readyz"); return s == 200 }, "ready again")
	assert.Equal(t, 0, p.stop(30*time.Second))
}
