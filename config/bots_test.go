package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/asgigram/asgigram/config"
)

// TestOneBotEntryIsTheTopLevelBot: a bots: list of one entry gives the
// configuration the top-level token and app_url give, with its name and
// its overrides of global keys.
func TestOneBotEntryIsTheTopLevelBot(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	top, _, err := load(t, nil, "--config", writeFile(t, "c.yaml", "token: "+testToken+"\napp_url: "+testAppURL+"\npoll_timeout: 20s\n"))
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name string
		body string
		env  map[string]string
		edit func(w *config.Config)
	}{
		{name: "token and app_url", body: "poll_timeout: 20s\nbots:\n  - name: shop\n    token: " + testToken + "\n    app_url: " + testAppURL + "\n"},
		{name: "token_file", body: "poll_timeout: 20s\nbots:\n  - name: shop\n    token_file: " + tokenFile + "\n    app_url: " + testAppURL + "\n",
			edit: func(w *config.Config) { w.TokenFile = tokenFile }},
		{name: "app_url shared by every bot", body: "app_url: " + testAppURL + "\npoll_timeout: 20s\nbots:\n  - name: shop\n    token: " + testToken + "\n"},
		{name: "app_url from the environment", env: map[string]string{"ASGIGRAM_APP_URL": testAppURL},
			body: "poll_timeout: 20s\nbots:\n  - name: shop\n    token: " + testToken + "\n"},
		{name: "overrides", body: "poll_timeout: 20s\napp_timeout: 1s\npacing_chat_rate: 2/s\nbots:\n  - name: shop\n    token: " + testToken + "\n    app_url: " + testAppURL + "\n    app_timeout: 7s\n    pacing_chat_rate: 5/m\n    allowed_updates: [message]\n",
			edit: func(w *config.Config) {
				w.AppTimeout = 7 * time.Second
				w.PacingChatRate.N, w.PacingChatRate.Per = 5, time.Minute
				w.AllowedUpdates = []string{"message"}
			}},
		{name: "an entry overrides the environment too", env: map[string]string{"ASGIGRAM_APP_TIMEOUT": "2s"},
			body: "poll_timeout: 20s\nbots:\n  - name: shop\n    token: " + testToken + "\n    app_url: " + testAppURL + "\n    app_timeout: 7s\n",
			edit: func(w *config.Config) { w.AppTimeout = 7 * time.Second }},
		{name: "toml", body: "TOML:poll_timeout = \"20s\"\n[[bots]]\nname = \"shop\"\ntoken = \"" + testToken + "\"\napp_url = \"" + testAppURL + "\"\n"},
		{name: "json", body: "JSON:" + `{"poll_timeout": "20s", "bots": [{"name": "shop", "token": "` + testToken + `", "app_url": "` + testAppURL + `"}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			name, body := "c.yaml", tt.body
			if b, ok := strings.CutPrefix(body, "JSON:"); ok {
				name, body = "c.json", b
			}
			if b, ok := strings.CutPrefix(body, "TOML:"); ok {
				name, body = "c.toml", b
			}
			got, stderr, err := load(t, tt.env, "--config", writeFile(t, name, body))
			if err != nil {
				t.Fatal(err)
			}
			if stderr != "" {
				t.Errorf("stderr = %q", stderr)
			}
			want := top
			want.BotName = "shop"
			if tt.edit != nil {
				tt.edit(&want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %v %q\nwant %v %q", got, got.BotName, want, want.BotName)
			}
		})
	}
}

func TestBotsErrors(t *testing.T) {
	entry := "  - name: shop\n    token: " + testToken + "\n    app_url: " + testAppURL + "\n"
	for _, tt := range []struct {
		name  string
		env   map[string]string
		args  []string
		body  string
		field string
		want  string
	}{
		{name: "two entries of one name", body: "bots:\n" + entry + entry, field: `bots[1] (name "shop"): name`,
			want: "is also the name of bots[0]"},
		{name: "one token twice", body: "bots:\n" + entry + "  - name: news\n    token: " + testToken + "\n    app_url: " + testAppURL + "\n",
			field: `bots[1] (name "news"): token`, want: `is also the token of bots[0] (name "shop")`},
		{name: "two tokens of one bot", body: "bots:\n" + entry + "  - name: news\n    token: 123456789:AAEother-secret_value\n    app_url: " + testAppURL + "\n",
			field: `bots[1] (name "news"): token`, want: "names bot 123456789"},
		{name: "one send_token for two bots", body: "send_token: 0123456789abcdef0123\nbots:\n" + entry + "  - name: news\n    token: " + otherToken + "\n    app_url: " + testAppURL + "\n",
			field: `bots[1] (name "news"): send_token`, want: `is also the send_token of bots[0] (name "shop")`},
		{name: "upper-case name", body: "bots:\n  - name: Shop\n", field: "bots[0]: name", want: "lower-case letters"},
		{name: "long name", body: "bots:\n  - name: " + strings.Repeat("a", 33) + "\n", field: "bots[0]: name", want: "1 to 32"},
		{name: "second entry's app_url", body: "bots:\n" + entry + "  - name: news\n    token: " + otherToken + "\n    app_url: ftp://x/\n",
			field: `bots[1] (name "news"): app_url`, want: "must be an absolute http"},
		{name: "second entry without app_url", body: "bots:\n" + entry + "  - name: news\n    token: " + otherToken + "\n",
			field: `bots[1] (name "news"): app_url`, want: "missing"},
		{name: "empty", body: "bots: []\n", field: "bots", want: "is empty"},
		{name: "not a list", body: "bots: shop\n", field: "bots", want: "expected a list"},
		{name: "top-level token", body: "token: " + testToken + "\nbots:\n" + entry, field: "token",
			want: "cannot be combined with bots: keep token in the entry of bots:, or remove bots: and keep the top-level token"},
		{name: "token from the environment", env: map[string]string{"ASGIGRAM_TOKEN": testToken}, body: "bots:\n" + entry, field: "token",
			want: "ASGIGRAM_TOKEN"},
		{name: "token as argument", args: []string{testToken}, body: "bots:\n" + entry, field: "token", want: "cannot be combined with bots"},
		{name: "top-level token_file", body: "token_file: /x\nbots:\n" + entry, field: "token_file", want: "keep token_file in the entry"},
		{name: "no name", body: "bots:\n  - token: " + testToken + "\n", field: "bots[0]: name", want: "missing"},
		{name: "bad name", body: "bots:\n  - name: a b\n", field: "bots[0]: name", want: "letters, digits"},
		{name: "no token", body: "bots:\n  - name: shop\n    app_url: " + testAppURL + "\n", field: `bots[0] (name "shop"): token`, want: "missing"},
		{name: "no app_url", body: "bots:\n  - name: shop\n    token: " + testToken + "\n", field: `bots[0] (name "shop"): app_url`, want: "missing"},
		{name: "bad app_url", body: "bots:\n  - name: shop\n    token: " + testToken + "\n    app_url: ftp://x/\n", field: `bots[0] (name "shop"): app_url`,
			want: `config: bots[0] (name "shop"): app_url: must be an absolute http:// or https:// URL`},
		{name: "bad token", body: "bots:\n  - name: shop\n    token: nope\n    app_url: " + testAppURL + "\n", field: `bots[0] (name "shop"): token`},
		{name: "token and token_file", body: "bots:\n" + entry + "    token_file: /x\n", field: `bots[0] (name "shop"): token_file`, want: "cannot be combined with token"},
		{name: "bad override", body: "bots:\n" + entry + "    app_timeout: 0s\n", field: `bots[0] (name "shop"): app_timeout`, want: "more than 0s"},
		{name: "bad type", body: "bots:\n" + entry + "    app_timeout: 5\n", field: `bots[0] (name "shop"): app_timeout`, want: "needs a unit"},
		{name: "global key", body: "bots:\n" + entry + "    listen: :1\n", field: `bots[0] (name "shop"): listen`, want: "is global, not per bot"},
		{name: "unknown key", body: "bots:\n" + entry + "    app_timout: 1s\n", field: `bots[0] (name "shop"): app_timout`, want: "did you mean app_timeout"},
		{name: "a top-level value stays the top level's", body: "app_timeout: 0s\nbots:\n" + entry, field: "app_timeout", want: "more than 0s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.args, "--config", writeFile(t, "c.yaml", tt.body))
			_, _, err := load(t, tt.env, args...)
			wantFieldErr(t, err, tt.field, tt.want)
		})
	}
}

// otherToken is a second bot's token.
const otherToken = "987654321:AAEanother-Token_value"

// TestSeveralBots: a bots: list of several entries gives one whole Config
// per bot in Bots, each with the global settings, the top-level values of
// the others and its entry's overrides; the secrets of every bot are
// secrets of the whole.
func TestSeveralBots(t *testing.T) {
	body := `listen: 127.0.0.1:9999
app_timeout: 3s
app_url: ` + testAppURL + `
bots:
  - name: shop
    token: ` + testToken + `
    send_token: shop-send-token-0123456789
    spool: memory
  - name: news
    token: ` + otherToken + `
    app_url: http://127.0.0.1:9/news
    app_timeout: 7s
    max_concurrency: 2
`
	c, _, err := load(t, nil, "--config", writeFile(t, "c.yaml", body))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Bots) != 2 {
		t.Fatalf("Bots = %d, want 2", len(c.Bots))
	}
	if c.Token != "" || c.BotName != "" || c.Listen != "127.0.0.1:9999" {
		t.Errorf("top level: token set %v, name %q, listen %q", c.Token != "", c.BotName, c.Listen)
	}
	shop, news := c.Bots[0], c.Bots[1]
	for _, tt := range []struct {
		what      string
		got, want any
	}{
		{"shop's name", shop.BotName, "shop"},
		{"shop's token", shop.Token, testToken},
		{"shop's app_url", shop.AppURL, testAppURL},
		{"shop's app_timeout", shop.AppTimeout, 3 * time.Second},
		{"shop's spool", shop.Spool, "memory"},
		{"shop's send_token", shop.SendToken, "shop-send-token-0123456789"},
		{"news's name", news.BotName, "news"},
		{"news's token", news.Token, otherToken},
		{"news's app_url", news.AppURL, "http://127.0.0.1:9/news"},
		{"news's app_timeout", news.AppTimeout, 7 * time.Second},
		{"news's max_concurrency", news.MaxConcurrency, 2},
		{"news's spool", news.Spool, "disk"},
		{"news's send_token", news.SendToken, ""},
		{"news's listen", news.Listen, "127.0.0.1:9999"},
		{"news's public_url", news.PublicURL, "http://127.0.0.1:9999"},
	} {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.what, tt.got, tt.want)
		}
	}
	secrets := strings.Join(c.Secrets(), " ")
	for _, s := range []string{testToken, otherToken, "shop-send-token-0123456789"} {
		if !strings.Contains(secrets, s) {
			t.Errorf("Secrets() lacks one of a bot's secrets")
		}
	}
}
