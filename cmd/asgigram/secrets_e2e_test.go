package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// adminGet calls an admin endpoint and returns the body.
func adminGet(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestSecretsNeverShow: an app_url with keys in its userinfo and query, an
// application and a Bot API that quote the bot token (or its part after
// ':') back, an application that cannot be reached: no log line, no admin
// answer and no stored dead letter holds any of those secrets.
func TestSecretsNeverShow(t *testing.T) {
	_, tokenSecret, _ := strings.Cut(testToken, ":")
	const (
		user  = "fn-user-u53r"
		pass  = "fn-pass-p4ss-0123"
		key   = "fn-key-k3y-0123456789"
		other = "clientId-v4lue"
	)
	secrets := []string{user, pass, key, other, testToken, tokenSecret}

	fake, apiURL := newFake(t)
	// Telegram (or a proxy before it) echoes the token's part after ':'.
	fake.Fail("sendMessage", fakeapi.Fault{Code: 400, Description: "Bad Request: unknown secret " + tokenSecret})
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		switch ev.text() {
		case "quote":
			// The application quotes the token back in a refusal.
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "no bot %s here (%s)", testToken, tokenSecret)
		case "reply":
			reply(w, map[string]any{"type": "telegram.send_message", "text": "hi"})
		}
	})
	withKeys := func(base string) string {
		u := strings.TrimPrefix(base, "http://")
		return "http://" + user + ":" + pass + "@" + u + "/hook?code=" + key + "&clientId=" + other
	}
	dataDir := t.TempDir()
	fake.AddUpdate("message", textMessage(6200000001, 6200000001, 1, "quote"))
	fake.AddUpdate("message", textMessage(6200000002, 6200000002, 1, "reply"))
	p := startBot(t, apiURL, withKeys(a.srv.URL), "--admin-token", adminToken, "--data-dir", dataDir)
	base := p.baseURL()
	eventually(t, 20*time.Second, func() bool {
		return strings.Count(adminGet(t, base+"/admin/deadletters"), `"kind"`) == 2
	}, "two dead letters: the app's refusal and Telegram's")
	answers := []string{adminGet(t, base+"/admin/deadletters")}
	for id := 1; id <= 2; id++ {
		answers = append(answers, adminGet(t, fmt.Sprintf("%s/admin/deadletters/%d", base, id)))
	}
	assert.Equal(t, 0, p.stop(20*time.Second))

	// The application cannot be reached: the URL shows in the error.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := withKeys("http://" + ln.Addr().String())
	ln.Close()
	fake.AddUpdate("message", textMessage(6200000003, 6200000003, 1, "nobody home"))
	p2 := startBot(t, apiURL, down, "--app-max-attempts", "2", "--admin-token", adminToken, "--data-dir", dataDir)
	base = p2.baseURL()
	eventually(t, 20*time.Second, func() bool {
		return strings.Contains(adminGet(t, base+"/admin/deadletters"), "unreachable after 2 attempt(s)")
	}, "unreachable app: a dead letter")
	list := adminGet(t, base+"/admin/deadletters")
	answers = append(answers, list)
	assert.Contains(t, list, "***@127.0.0.1", "the masked URL still says where delivery went")
	assert.Equal(t, 0, p2.stop(20*time.Second))

	var stored []string
	require.NoError(t, filepath.Walk(dataDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		stored = append(stored, string(b))
		return err
	}))
	require.NotEmpty(t, stored)
	logs := p.out.String() + p2.out.String()
	require.Contains(t, logs, "app_url=", "the start line names the app_url")
	for _, s := range secrets {
		assert.NotContains(t, logs, s, "a log line holds a secret")
		for _, ans := range answers {
			assert.NotContains(t, ans, s, "an admin answer holds a secret")
		}
		for _, f := range stored {
			assert.NotContains(t, f, s, "a stored file holds a secret")
		}
	}
	// The dead letters still carry the users' data.
	var list0 struct {
		DeadLetters []struct {
			Update json.RawMessage `json:"update"`
		} `json:"dead_letters"`
	}
	require.NoError(t, json.Unmarshal([]byte(answers[0]), &list0), answers[0])
	require.Len(t, list0.DeadLetters, 2)
	// The two come from two scopes, delivered in parallel: either may be
	// buried first.
	assert.Contains(t, string(list0.DeadLetters[0].Update)+string(list0.DeadLetters[1].Update), `"quote"`)
}

// TestShortTokensStopTheDaemon: an 8-character admin_token (or send_token)
// is refused with exit 2, naming the field and not the token.
func TestShortTokensStopTheDaemon(t *testing.T) {
	for _, field := range []string{"admin_token", "send_token"} {
		t.Run(field, func(t *testing.T) {
			p := start(t, []string{testToken, "http://127.0.0.1:1/", "--" + strings.ReplaceAll(field, "_", "-"), "s3cr3t8c", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()})
			assert.Equal(t, ExitConfig, p.wait(10*time.Second))
			out := p.out.String()
			assert.Contains(t, out, field)
			assert.Contains(t, out, "at least 16 characters")
			assert.NotContains(t, out, "s3cr3t8c")
		})
	}
}
