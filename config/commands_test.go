package config_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/asgigram/asgigram/config"
)

const devToken = "1000000001:DEV-dev-mode-not-a-real-token"

func loadDev(t *testing.T, env map[string]string, args ...string) (config.Config, string, error) {
	t.Helper()
	clearEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	var stderr bytes.Buffer
	c, err := config.LoadDev(args, devToken, &stderr)
	return c, stderr.String(), err
}

func loadDeadLetters(t *testing.T, env map[string]string, args ...string) (config.Config, []string, error) {
	t.Helper()
	clearEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	return config.LoadDeadLetters(args, nil)
}

func TestLocalURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080",
		":8080":          "http://127.0.0.1:8080",
		"0.0.0.0:8080":   "http://127.0.0.1:8080",
		"[::]:8080":      "http://127.0.0.1:8080",
		"[::1]:8080":     "http://[::1]:8080",
		"localhost:9":    "http://localhost:9",
		"10.0.0.2:80":    "http://10.0.0.2:80",
	} {
		if got := config.LocalURL(addr); got != want {
			t.Errorf("LocalURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

// TestEveryCommandKnowsEveryVariable: a variable of one command is no
// unknown variable to another, so one export can serve them all.
func TestEveryCommandKnowsEveryVariable(t *testing.T) {
	env := map[string]string{
		"ASGIGRAM_ADMIN_URL": "http://127.0.0.1:8080", "ASGIGRAM_DEV_LISTEN": "127.0.0.1:0",
		"ASGIGRAM_TOKEN": testToken, "ASGIGRAM_APP_URL": testAppURL, "ASGIGRAM_ADMIN_TOKEN": "admin-secret-0123456789",
	}
	if _, stderr, err := load(t, env); err != nil || stderr != "" {
		t.Errorf("Load: err = %v, stderr = %q, want neither", err, stderr)
	}
	if _, stderr, err := loadDev(t, env); err != nil || stderr != "" {
		t.Errorf("LoadDev: err = %v, stderr = %q, want neither", err, stderr)
	}
	_, stderr, _ := loadDev(t, map[string]string{"ASGIGRAM_DEV_LISEN": "x"})
	if !strings.Contains(stderr, "unknown environment variable ASGIGRAM_DEV_LISEN (did you mean ASGIGRAM_DEV_LISTEN?)") {
		t.Errorf("LoadDev stderr = %q, want a warning with a suggestion", stderr)
	}
}

func TestLoadDev(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		c, _, err := loadDev(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Token != devToken || c.Listen != "127.0.0.1:8080" || c.AppURL != "" || c.PublicURL != "" ||
			c.LogLevel != "warn" || c.Spool != "memory" || c.ShutdownGrace != 5*time.Second || !c.Pacing ||
			c.AppMaxAttempts != 5 || c.AppTimeout != 10*time.Second {
			t.Errorf("LoadDev() = %v", c)
		}
	})
	t.Run("the daemon's settings do not reach dev mode", func(t *testing.T) {
		env := map[string]string{"ASGIGRAM_LISTEN": "0.0.0.0:9", "ASGIGRAM_APP_URL": "http://prod/", "ASGIGRAM_LOG_LEVEL": "error",
			"ASGIGRAM_APP_SECRET": testSecret, "ASGIGRAM_SEND_TOKEN": "send-secret-0123456789",
			"ASGIGRAM_CONFIG": writeFile(t, "c.yaml", "dev:\n  listen: 127.0.0.1:7\n")}
		c, _, err := loadDev(t, env)
		if err != nil {
			t.Fatal(err)
		}
		if c.Listen != "127.0.0.1:8080" || c.AppURL != "" || c.LogLevel != "warn" {
			t.Errorf("listen=%q app_url=%q log_level=%q, want dev mode's own defaults", c.Listen, c.AppURL, c.LogLevel)
		}
		if c.AppSecret != testSecret || len(c.AppSecretKey) == 0 || c.SendToken != "send-secret-0123456789" {
			t.Error("app_secret and send_token are shared with the daemon's environment")
		}
	})
	t.Run("flag over env over file", func(t *testing.T) {
		file := writeFile(t, "c.yaml", "token: "+testToken+"\nlisten: 0.0.0.0:1\ndev:\n  listen: 127.0.0.1:7\n  app_timeout: 3s\n  app_max_attempts: 2\n  log_level: info\n")
		env := map[string]string{"ASGIGRAM_DEV_LISTEN": "127.0.0.1:6", "ASGIGRAM_DEV_APP_TIMEOUT": "4s"}
		c, _, err := loadDev(t, env, "--config", file, "--app-timeout", "5s", "http://127.0.0.1:9000/app")
		if err != nil {
			t.Fatal(err)
		}
		if c.Listen != "127.0.0.1:6" || c.AppTimeout != 5*time.Second || c.AppMaxAttempts != 2 || c.LogLevel != "info" ||
			c.AppURL != "http://127.0.0.1:9000/app" || c.Token != devToken {
			t.Errorf("LoadDev = %v", c)
		}
		c, _, err = loadDev(t, nil, "--config", file, "-v", "--pacing=false", "--public-url", "http://dev.example/")
		if err != nil {
			t.Fatal(err)
		}
		if c.LogLevel != "debug" || c.Pacing || c.PublicURL != "http://dev.example" {
			t.Errorf("log_level=%q pacing=%v public_url=%q", c.LogLevel, c.Pacing, c.PublicURL)
		}
	})
	for _, tt := range []struct {
		name  string
		env   map[string]string
		args  []string
		field string
		want  string
	}{
		{"attempts", nil, []string{"--app-max-attempts", "0"}, "dev.app_max_attempts", "at least 1"},
		{"attempts from env", map[string]string{"ASGIGRAM_DEV_APP_MAX_ATTEMPTS": "x"}, nil, "dev.app_max_attempts", "expected an integer"},
		{"listen", nil, []string{"--listen", "nowhere"}, "dev.listen", "host:port"},
		{"app url", nil, []string{"ftp://app/"}, "dev.app_url", "http://"},
		{"twice", nil, []string{"http://a/", "--app-url", "http://b/"}, "dev.app_url", "given twice"},
		{"secret", nil, []string{"--app-secret", "nope"}, "app_secret", "whsec_"},
		{"file key", nil, []string{"--config", "FILE:dev:\n  lisen: x\n"}, "dev.lisen", "did you mean dev.listen"},
	} {
		t.Run("bad "+tt.name, func(t *testing.T) {
			for i, a := range tt.args {
				if body, ok := strings.CutPrefix(a, "FILE:"); ok {
					tt.args[i] = writeFile(t, "c.yaml", body)
				}
			}
			_, _, err := loadDev(t, tt.env, tt.args...)
			wantFieldErr(t, err, tt.field, tt.want)
		})
	}
	if _, _, err := loadDev(t, nil, "--help"); !errors.Is(err, config.ErrHelp) {
		t.Errorf("--help: err = %v, want ErrHelp", err)
	}
	if _, _, err := loadDev(t, nil, "http://a/", "http://b/"); err == nil || !strings.Contains(err.Error(), "too many arguments (2): expected at most APP_URL") {
		t.Errorf("two arguments: err = %v", err)
	}
}

func TestLoadDeadLetters(t *testing.T) {
	const admin = "admin-secret-0123456789"
	tok := map[string]string{"ASGIGRAM_ADMIN_TOKEN": admin}
	for _, tt := range []struct {
		name    string
		env     map[string]string
		args    []string
		wantURL string
	}{
		{"default", tok, nil, "http://127.0.0.1:8080"},
		{"from listen", map[string]string{"ASGIGRAM_ADMIN_TOKEN": admin, "ASGIGRAM_LISTEN": "0.0.0.0:9090"}, nil, "http://127.0.0.1:9090"},
		{"from a port", map[string]string{"ASGIGRAM_ADMIN_TOKEN": admin, "ASGIGRAM_LISTEN": ":9091"}, nil, "http://127.0.0.1:9091"},
		{"env", map[string]string{"ASGIGRAM_ADMIN_TOKEN": admin, "ASGIGRAM_ADMIN_URL": "http://10.0.0.1:1/"}, nil, "http://10.0.0.1:1"},
		{"flag", tok, []string{"--admin-url", "https://a.example/x"}, "https://a.example/x"},
		{"file", map[string]string{"ASGIGRAM_CONFIG": "FILE:listen: :7070\nadmin_token: " + admin + "\ntoken: " + testToken + "\n"}, nil, "http://127.0.0.1:7070"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if body, ok := strings.CutPrefix(tt.env["ASGIGRAM_CONFIG"], "FILE:"); ok {
				tt.env["ASGIGRAM_CONFIG"] = writeFile(t, "c.yaml", body)
			}
			c, rest, err := loadDeadLetters(t, tt.env, append([]string{"show", "3"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if c.AdminURL != tt.wantURL || c.AdminToken != admin || strings.Join(rest, " ") != "show 3" {
				t.Errorf("admin_url = %q, rest = %q, want %q", c.AdminURL, rest, tt.wantURL)
			}
		})
	}
	_, rest, err := loadDeadLetters(t, nil, "list")
	wantFieldErr(t, err, "admin_token", "ASGIGRAM_ADMIN_TOKEN")
	if len(rest) != 1 {
		t.Errorf("rest = %q, want [list] even with an error", rest)
	}
	_, _, err = loadDeadLetters(t, tok, "list", "--admin-url", "ftp://x/")
	wantFieldErr(t, err, "admin_url", "http://")
	_, _, err = loadDeadLetters(t, map[string]string{"ASGIGRAM_ADMIN_TOKEN": admin, "ASGIGRAM_LISTEN": "nowhere"}, "list")
	wantFieldErr(t, err, "listen", "host:port")
}

// TestGroupsInTheFile: a group is a map in the file; the daemon accepts the
// group of another command and refuses a key that no group has.
func TestGroupsInTheFile(t *testing.T) {
	file := writeFile(t, "c.yaml", "dev:\n  listen: 127.0.0.1:7\nadmin_url: http://127.0.0.1:1\n")
	c, _, err := load(t, nil, testToken, testAppURL, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.AdminURL != "" {
		t.Errorf("the daemon took listen=%q admin_url=%q from keys of other commands", c.Listen, c.AdminURL)
	}
	_, _, err = load(t, nil, testToken, testAppURL, "--config", writeFile(t, "c.yaml", "dev:\n  lissten: x\n"))
	wantFieldErr(t, err, "dev.lissten", "unknown key (did you mean dev.listen?)")
	// Each command checks the values of its own keys.
	_, _, err = loadDev(t, nil, "--config", writeFile(t, "c.yaml", "dev:\n  listen: [1]\n"))
	wantFieldErr(t, err, "dev.listen", "expected a string")
}

func TestSpoolLocationReadsTheBotsEntry(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	file := writeFile(t, "c.yaml", "data_dir: "+dir+"\nbots:\n  - name: shop\n    token: "+testToken+"\n    app_url: "+testAppURL+"\n")
	dataDir, botID, err := config.SpoolLocation(file)
	if err != nil {
		t.Fatal(err)
	}
	if dataDir != dir || botID != 123456789 {
		t.Errorf("SpoolLocation = %q, %d", dataDir, botID)
	}
}

// TestDeadLettersBot: --bot names the bot whose dead letters asgigram
// deadletters addresses; with a config file of several bots it is
// required and must be one of them.
func TestDeadLettersBot(t *testing.T) {
	const admin = "admin-secret-0123456789"
	several := "admin_token: " + admin + "\napp_url: " + testAppURL + "\nbots:\n  - name: shop\n    token: " + testToken + "\n  - name: news\n    token: 987654321:AAEanother-Token_value\n"
	file := writeFile(t, "c.yaml", several)
	c, _, err := loadDeadLetters(t, nil, "list", "--config", file, "--bot", "news")
	if err != nil {
		t.Fatal(err)
	}
	if c.BotName != "news" {
		t.Errorf("BotName = %q, want news", c.BotName)
	}
	_, _, err = loadDeadLetters(t, nil, "list", "--config", file)
	wantFieldErr(t, err, "bot", "runs 2 bots (shop, news): name one with --bot")
	_, _, err = loadDeadLetters(t, nil, "list", "--config", file, "--bot", "blog")
	wantFieldErr(t, err, "bot", `"blog" is not a bot of the config file`)
	c, _, err = loadDeadLetters(t, map[string]string{"ASGIGRAM_ADMIN_TOKEN": admin}, "list", "--bot", "blog")
	if err != nil || c.BotName != "blog" {
		t.Errorf("without a file, --bot blog: %q, %v", c.BotName, err)
	}
	_, _, err = loadDeadLetters(t, map[string]string{"ASGIGRAM_ADMIN_TOKEN": admin}, "list", "--bot", "../x")
	wantFieldErr(t, err, "bot", "is not the name of a bot")
}

func TestSpoolLocationOfSeveralBots(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	file := writeFile(t, "c.yaml", "data_dir: "+dir+"\napp_url: "+testAppURL+"\nbots:\n  - name: shop\n    token: "+testToken+"\n  - name: news\n    token: 987654321:AAEanother-Token_value\n")
	dataDir, botID, err := config.SpoolLocation(file)
	if err != nil || dataDir != dir || botID != 0 {
		t.Errorf("SpoolLocation = %q, %d, %v; want the data_dir and no bot id", dataDir, botID, err)
	}
}
