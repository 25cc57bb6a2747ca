package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// The tokens of the further bots of the tests of several bots; like
// testToken, they must never show in any output.
var moreTokens = []string{
	"223456789:AAE-second_SECRET-token-do-not-log",
	"323456789:AAE-third_SECRET-token-do-not-log",
}

// fleetBot is one bot of a test of several: its name in bots:, its
// handle on the fake Bot API and its application.
type fleetBot struct {
	name      string
	fake      *fakeapi.Bot
	app       *app
	sendToken string
}

// fleet is a running asgigram of several bots against one fake Bot API.
type fleet struct {
	p    *proc
	bots []*fleetBot
	conf string // the config file
	dir  string // its data_dir
	base string // its local server
}

// startFleet runs one asgigram with the bots shop, news and blog (tokens
// testToken and moreTokens) in a bots: list, each with its own app
// answered by handle, against one fake Bot API serving the three tokens.
func startFleet(t *testing.T, handle func(bot string, w http.ResponseWriter, ev received)) *fleet {
	t.Helper()
	fake, apiURL := newFakeWith(t, fakeapi.Config{Tokens: moreTokens})
	f := &fleet{dir: t.TempDir()}
	var entries strings.Builder
	for i, name := range []string{"shop", "news", "blog"} {
		tok := append([]string{testToken}, moreTokens...)[i]
		b := &fleetBot{name: name, fake: fake.BotFor(tok), sendToken: "send-token-of-" + name + "-0123456789"}
		b.app = newApp(t, func(w http.ResponseWriter, ev received) { handle(name, w, ev) })
		f.bots = append(f.bots, b)
		fmt.Fprintf(&entries, "  - name: %s\n    token: %s\n    app_url: %s\n    send_token: %s\n", name, tok, b.app.srv.URL, b.sendToken)
	}
	f.conf = filepath.Join(f.dir, "asgigram.yaml")
	require.NoError(t, os.WriteFile(f.conf, []byte(`api_url: `+apiURL+`
listen: 127.0.0.1:0
poll_timeout: 1s
shutdown_grace: 3s
app_max_attempts: 1
data_dir: `+filepath.Join(f.dir, "data")+`
admin_token: `+adminToken+`
bots:
`+entries.String()), 0o600))
	f.p = start(t, []string{"--config", f.conf})
	f.base = f.p.baseURL()
	t.Cleanup(func() {
		for _, tok := range moreTokens {
			assert.NotContains(t, f.p.out.String(), tok, "a bot token leaked into the output")
		}
	})
	return f
}

// adminDo makes an admin request and returns its status and body.
func adminDo(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestSeveralBotsEachWithItsApp: three bots of one process, their updates
// interleaved on one fake Bot API (two chats each, one of them a chat all
// three share): each app sees only its bot's updates, in order per chat,
// and each bot's replies go out through its own token. A token of one bot
// never acts as another: its scope token and send_token reach the Bot API
// with its own bot's token only. Readiness, metrics and dead letters are
// per bot.
func TestSeveralBotsEachWithItsApp(t *testing.T) {
	f := startFleet(t, func(bot string, w http.ResponseWriter, ev received) {
		if ev.text() == "poison" {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return
		}
		reply(w, map[string]any{"type": "telegram.send_message", "text": bot + ":" + ev.text()})
	})
	const shared = 6100000001 // a user who talks to every bot
	const rounds = 5
	for r := 1; r <= rounds; r++ {
		for i, b := range f.bots {
			own := int64(6200000000 + i)
			b.fake.AddUpdate("message", textMessage(shared, shared, r, fmt.Sprintf("s%d", r)))
			b.fake.AddUpdate("message", textMessage(own, own, r, fmt.Sprintf("o%d", r)))
		}
	}
	f.bots[1].fake.AddUpdate("message", textMessage(6200000001, 6200000001, rounds+1, "poison"))
	for i, b := range f.bots {
		own := int64(6200000000 + i)
		eventually(t, 20*time.Second, func() bool {
			return len(b.fake.Messages(shared)) == rounds && len(b.fake.Messages(own)) == rounds
		}, "%s replied to all its updates", b.name)
	}
	eventually(t, 20*time.Second, func() bool { return f.bots[1].app.texts()["poison"] == 1 }, "news's app got the update it refuses")
	for i, b := range f.bots {
		own := int64(6200000000 + i)
		var wantShared, wantOwn []string
		for r := 1; r <= rounds; r++ {
			wantShared = append(wantShared, fmt.Sprintf("%s:s%d", b.name, r))
			wantOwn = append(wantOwn, fmt.Sprintf("%s:o%d", b.name, r))
		}
		assert.Equal(t, wantShared, botTexts(b.fake, shared), "%s's replies in the shared chat, in order", b.name)
		assert.Equal(t, wantOwn, botTexts(b.fake, own), "%s's replies in its own chat, in order", b.name)
		var gotShared, gotOwn []string
		for _, ev := range b.app.received() {
			switch ev.chatID() {
			case shared:
				gotShared = append(gotShared, ev.text())
			case own:
				gotOwn = append(gotOwn, ev.text())
			default:
				t.Errorf("%s's app got an update of chat %d, another bot's", b.name, ev.chatID())
			}
			assert.Equal(t, f.base+"/send", ev.SendURL)
		}
		assert.Equal(t, strings.Fields(strings.ReplaceAll(strings.Join(wantShared, " "), b.name+":", "")), gotShared, "%s's app: the shared chat in order", b.name)
		if b.name == "news" {
			wantOwn = append(wantOwn, "news:poison")
		}
		assert.Equal(t, strings.Fields(strings.ReplaceAll(strings.Join(wantOwn, " "), b.name+":", "")), gotOwn, "%s's app: its chat in order", b.name)
		_, err := os.Stat(filepath.Join(f.dir, "data", strconv.FormatInt(b.fake.User().ID, 10)))
		assert.NoError(t, err, "%s's spool is in its own directory", b.name)
	}

	// Cross-bot use: shop's scope token and send_token, aimed at a chat of
	// news, act as shop only.
	shop, news := f.bots[0], f.bots[1]
	scopeToken := shop.app.received()[0].Token
	require.NotEmpty(t, scopeToken)
	// news's own calls but its long polls: it keeps polling meanwhile.
	newsCalls := func() (n int) {
		for _, c := range news.fake.Calls() {
			if c.Method != "getUpdates" {
				n++
			}
		}
		return n
	}
	newsBefore := newsCalls()
	newsChat := int64(6200000001)
	for _, tok := range []string{scopeToken, shop.sendToken} {
		status, out := postSend(t, f.base+"/send", tok, "application/json",
			fmt.Sprintf(`{"type":"telegram.send_message","chat_id":%d,"text":"from shop"}`, newsChat))
		assert.Equal(t, 200, status, "%v", out)
	}
	assert.Equal(t, []string{"from shop", "from shop"}, botTexts(shop.fake, newsChat), "the calls went out as shop")
	assert.Equal(t, newsBefore, newsCalls(), "news's token made no call for shop's tokens")
	assert.NotContains(t, botTexts(news.fake, newsChat), "from shop")
	status, _ := postSend(t, f.base+"/send", news.sendToken, "application/json",
		fmt.Sprintf(`{"type":"telegram.send_message","chat_id":%d,"text":"from news"}`, newsChat))
	assert.Equal(t, 200, status)
	assert.Equal(t, "from news", botTexts(news.fake, newsChat)[len(botTexts(news.fake, newsChat))-1], "news's send_token acts as news")
	status, _ = postSend(t, f.base+"/send", "no-such-token-0123456789", "application/json", `{"type":"telegram.send_message","chat_id":1,"text":"x"}`)
	assert.Equal(t, 401, status)
	// /file too: a file only news knows is news's to download.
	news.fake.AddFile("news-file", []byte("news content"), "documents/n.txt")
	resp, content := getFile(t, f.base, shop.sendToken, "news-file")
	assert.NotEqual(t, 200, resp.StatusCode, "shop's token looks the file up as shop: %s", content)
	resp, content = getFile(t, f.base, news.sendToken, "news-file")
	assert.Equal(t, 200, resp.StatusCode, "%s", content)
	assert.Equal(t, "news content", string(content))

	// Readiness: every bot, and each by name.
	eventually(t, 10*time.Second, func() bool { s, _ := get(t, f.base+"/readyz"); return s == 200 }, "ready while every bot is")
	_, body := get(t, f.base+"/readyz")
	var ready struct {
		Ready bool                       `json:"ready"`
		Bots  map[string]json.RawMessage `json:"bots"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &ready), body)
	assert.Len(t, ready.Bots, 3, body)
	status, body = get(t, f.base+"/readyz?bot=news")
	assert.Equal(t, 200, status)
	assert.JSONEq(t, `{"ready":true}`, body)
	status, _ = get(t, f.base+"/readyz?bot=nope")
	assert.Equal(t, 404, status)

	// Metrics: the bot label, one series per bot.
	eventually(t, 10*time.Second, func() bool {
		_, m := get(t, f.base+"/metrics")
		return strings.Contains(m, `asgigram_dead_letters_total{bot="news",kind="delivery"} 1`)
	}, "news's dead letter is counted")
	_, metricsOut := get(t, f.base+"/metrics")
	assert.Contains(t, metricsOut, `asgigram_updates_received_total{bot="shop",kind="message"} 10`)
	assert.Contains(t, metricsOut, `asgigram_updates_received_total{bot="news",kind="message"} 11`)
	assert.Contains(t, metricsOut, `asgigram_dead_letters_total{bot="news",kind="delivery"} 1`)
	assert.Contains(t, metricsOut, `asgigram_dead_letters_total{bot="shop",kind="delivery"} 0`)
	assert.NotContains(t, metricsOut, "asgigram_updates_received_total{kind=", "no series without the bot label")

	// Dead letters: per bot, by the admin path and the CLI.
	status, body = adminDo(t, "GET", f.base+"/admin/bots/news/deadletters")
	assert.Equal(t, 200, status, body)
	assert.Contains(t, body, "poison")
	status, body = adminDo(t, "GET", f.base+"/admin/bots/shop/deadletters")
	assert.Equal(t, 200, status, body)
	assert.JSONEq(t, `{"ok":true,"dead_letters":[]}`, body)
	status, _ = adminDo(t, "GET", f.base+"/admin/deadletters")
	assert.Equal(t, 404, status, "several bots: the single-bot path names none")
	cli := func(args ...string) (int, string) {
		c := start(t, append([]string{"deadletters"}, append(args, "--config", f.conf, "--admin-url", f.base)...))
		return c.wait(10 * time.Second), c.out.String()
	}
	code, out := cli("list", "--bot", "news")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "chat:6200000001")
	code, out = cli("list", "--bot", "blog")
	require.Equal(t, 0, code, out)
	assert.NotContains(t, out, "chat:")
	code, out = cli("list")
	assert.Equal(t, ExitConfig, code)
	assert.Contains(t, out, "name one with --bot")

	// A bot whose app is down dead-letters alone; the others deliver.
	blog := f.bots[2]
	blog.app.srv.Close()
	blog.fake.AddUpdate("message", textMessage(6200000002, 6200000002, 20, "lost"))
	shop.fake.AddUpdate("message", textMessage(6200000000, 6200000000, 20, "after"))
	eventually(t, 10*time.Second, func() bool {
		_, body := adminDo(t, "GET", f.base+"/admin/bots/blog/deadletters")
		return strings.Contains(body, "chat:6200000002")
	}, "blog's event is a dead letter")
	eventually(t, 10*time.Second, func() bool {
		texts := botTexts(shop.fake, 6200000000)
		return len(texts) > 0 && texts[len(texts)-1] == "shop:after"
	}, "shop delivers while blog's app is down")
	_, body = adminDo(t, "GET", f.base+"/admin/bots/shop/deadletters")
	assert.JSONEq(t, `{"ok":true,"dead_letters":[]}`, body, "shop has no dead letter of blog's")

	assert.Equal(t, 0, f.p.stop(20*time.Second))
	log := f.p.out.String()
	for _, b := range f.bots {
		assert.Contains(t, log, "bot="+b.name, "the log names each bot")
	}
}

// botTexts returns the texts a fake bot sent to chatID, in order.
func botTexts(b *fakeapi.Bot, chatID int64) []string { return textsOf(b.Messages(chatID)) }

// TestRevokedTokenStopsOneBot: Telegram rejecting one bot's token stops
// that bot alone (an ERROR line names it, readiness says why, its /send
// answers with Telegram's 401) while the others keep delivering; once every token is rejected, the process exits
// with code 3.
func TestRevokedTokenStopsOneBot(t *testing.T) {
	f := startFleet(t, func(bot string, w http.ResponseWriter, ev received) {
		reply(w, map[string]any{"type": "telegram.send_message", "text": bot + ":" + ev.text()})
	})
	shop, news, blog := f.bots[0], f.bots[1], f.bots[2]
	eventually(t, 10*time.Second, func() bool { s, _ := get(t, f.base+"/readyz"); return s == 200 }, "every bot ready")

	news.fake.RevokeToken()
	eventually(t, 10*time.Second, func() bool {
		return strings.Contains(f.p.out.String(), "bot=news") && strings.Contains(f.p.out.String(), "this bot stopped") && strings.Contains(f.p.out.String(), "bots_running=2")
	}, "an ERROR line names the stopped bot")
	status, body := get(t, f.base+"/readyz?bot=news")
	assert.Equal(t, 503, status)
	assert.Contains(t, body, "rejected by Telegram (401")
	status, body = get(t, f.base+"/readyz")
	assert.Equal(t, 503, status, "not ready while a bot is stopped")
	assert.Contains(t, body, "news: the bot token was rejected")
	status, _ = get(t, f.base+"/readyz?bot=shop")
	assert.Equal(t, 200, status)
	// The stopped bot's send_token gets Telegram's refusal, not a 503
	// that invites retries: the bot does not come back by itself.
	status, out := postSend(t, f.base+"/send", news.sendToken, "application/json",
		`{"type":"telegram.send_message","chat_id":6300000009,"text":"anyone?"}`)
	assert.Equal(t, 502, status, "%v", out)
	assert.JSONEq(t, `401`, string(out["error_code"]))
	assert.Contains(t, string(out["description"]), "rejected this bot's token")

	for i, b := range []*fleetBot{shop, blog} {
		b.fake.AddUpdate("message", textMessage(6300000000+int64(i), 6300000000+int64(i), 1, "still here"))
	}
	eventually(t, 10*time.Second, func() bool {
		return len(shop.fake.Messages(6300000000)) == 1 && len(blog.fake.Messages(6300000001)) == 1
	}, "the other bots keep delivering")
	assert.Equal(t, []string{"shop:still here"}, botTexts(shop.fake, 6300000000))
	assert.Equal(t, []string{"blog:still here"}, botTexts(blog.fake, 6300000001))

	shop.fake.RevokeToken()
	blog.fake.RevokeToken()
	assert.Equal(t, ExitToken, f.p.wait(20*time.Second), "every token rejected")
	assert.Contains(t, f.p.out.String(), "the token of every bot was rejected")
}
