package main

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOneBotsEntryDelivers: a config file that gives the bot as the one
// entry of bots: (its token from a file, its app_url, an override of a
// global key) runs it as the top-level token and app_url would: updates
// reach the app and its replies reach the Bot API. The variables of the
// other commands (ASGIGRAM_ADMIN_URL, ASGIGRAM_DEV_LISTEN) are known ones.
func TestOneBotsEntryDelivers(t *testing.T) {
	fake, apiURL := newFake(t)
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		reply(w, map[string]any{"type": "telegram.send_message", "text": "re:" + ev.text()})
	})
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600))
	conf := filepath.Join(dir, "asgigram.yaml")
	require.NoError(t, os.WriteFile(conf, []byte(`api_url: `+apiURL+`
listen: 127.0.0.1:0
poll_timeout: 2s
data_dir: `+filepath.Join(dir, "data")+`
allowed_updates: [message, callback_query]
bots:
  - name: shop
    token_file: `+tokenFile+`
    app_url: `+a.srv.URL+`/shop
    allowed_updates: [message]
`), 0o600))

	p := start(t, []string{"--config", conf}, "ASGIGRAM_ADMIN_URL=http://127.0.0.1:1", "ASGIGRAM_DEV_LISTEN=127.0.0.1:0")
	base := p.baseURL()
	for i := 1; i <= 3; i++ {
		fake.AddUpdate("message", textMessage(6100000001, 6100000001, i, "m"+string(rune('0'+i))))
	}
	eventually(t, 20*time.Second, func() bool { return len(sentTexts(fake, 6100000001)) == 3 }, "three replies sent")
	assert.Equal(t, []string{"re:m1", "re:m2", "re:m3"}, sentTexts(fake, 6100000001))
	for _, ev := range a.received() {
		assert.Equal(t, "/shop", ev.Path, "delivered to the entry's app_url")
	}
	polls := fake.CallsTo("getUpdates")
	require.NotEmpty(t, polls)
	assert.JSONEq(t, `["message"]`, string(polls[0].Params["allowed_updates"]), "the entry's allowed_updates override the top level's")
	_, err := os.Stat(filepath.Join(dir, "data", "123456789"))
	assert.NoError(t, err, "the spool is the token's bot's")
	eventually(t, 10*time.Second, func() bool { s, _ := get(t, base+"/readyz?bot=shop"); return s == 200 }, "the entry answers by its name")
	status, _ := get(t, base+"/readyz?bot=news")
	assert.Equal(t, 404, status, "no bot of that name")
	assert.Equal(t, 0, p.stop(20*time.Second))
	out := p.out.String()
	assert.Contains(t, out, "bot=shop")
	assert.NotContains(t, out, "unknown environment variable")
}
