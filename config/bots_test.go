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
		{name: "two entries", body: "bots:\n" + entry + entry, field: "bots",
			want: "has 2 entries, but one asgigram process runs one bot"},
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
