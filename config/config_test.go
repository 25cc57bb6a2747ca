package config_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asgigram/asgigram/config"
	"github.com/asgigram/asgigram/pacing"
	"github.com/asgigram/asgigram/telegram"
)

const (
	testToken  = "123456789:AAEsecret-Token_value"
	testAppURL = "http://127.0.0.1:9000/telegram"
	testSecret = "whsec_c2VjcmV0LWtleS0xMjM0NTY3OA==" // "secret-key-12345678"
)

// clearEnv removes every ASGIGRAM_* variable for the test's duration.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "ASGIGRAM_") {
			t.Setenv(name, "") // restores the old value after the test
			if err := os.Unsetenv(name); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// load runs config.Load in a clean environment plus env (name=value pairs).
func load(t *testing.T, env map[string]string, args ...string) (config.Config, string, error) {
	t.Helper()
	clearEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	var stderr bytes.Buffer
	c, err := config.Load(args, &stderr)
	return c, stderr.String(), err
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantFieldErr checks that err is a *FieldError for field whose message
// contains every one of want.
func wantFieldErr(t *testing.T, err error, field string, want ...string) {
	t.Helper()
	var fe *config.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v (%T), want a *config.FieldError for %s", err, err, field)
	}
	if fe.Field != field {
		t.Errorf("field = %q, want %q (err: %v)", fe.Field, field, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("err = %q, want it to contain %q", err, w)
		}
	}
}

// badSetting is a setting that Load must reject: env, a YAML config file
// body ("" for none) and args after TOKEN APP_URL make field fail with an
// error that contains want.
type badSetting struct {
	name  string
	env   map[string]string
	body  string
	args  []string
	field string
	want  string
}

// testBadSettings runs each of bad as the subtest "bad <name>".
func testBadSettings(t *testing.T, bad []badSetting) {
	t.Helper()
	for _, tt := range bad {
		t.Run("bad "+tt.name, func(t *testing.T) {
			args := append([]string{testToken, testAppURL}, tt.args...)
			if tt.body != "" {
				args = append(args, "--config", writeFile(t, "c.yaml", tt.body))
			}
			_, _, err := load(t, tt.env, args...)
			wantFieldErr(t, err, tt.field, tt.want)
		})
	}
}

// wantDefaults is what Load returns for TOKEN APP_URL and nothing else.
func wantDefaults() config.Config {
	c := config.Default()
	c.Token = testToken
	c.AppURL = testAppURL
	c.PublicURL = "http://127.0.0.1:8080"
	return c
}

func TestDefault(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/var/state")
	d := config.Default()
	want := config.Config{
		APIURL:           "https://api.telegram.org",
		Listen:           "127.0.0.1:8080",
		PollTimeout:      30 * time.Second,
		AllowedUpdates:   telegram.UpdateKindNames(),
		MaxConcurrency:   64,
		ScopeIdleTimeout: 15 * time.Minute,
		MaxScopes:        100000,
		AppTimeout:       10 * time.Second,
		AppMaxAttempts:   5,
		AppMaxElapsed:    2 * time.Minute,
		Spool:            "disk",
		DataDir:          "/var/state/asgigram",
		SpoolMax:         100000,
		SpoolMemory:      16 << 20,
		DeadletterMax:    10000,
		SendTimeout:      30 * time.Second,
		SendBodyLimit:    1048576,
		UploadLimit:      52428800,
		SendMaxEvents:    100,
		SendBodyTimeout:  10 * time.Second,
		UploadMinRate:    65536,
		IdleTimeout:      60 * time.Second,
		Pacing:           true,
		PacingChatRate:   pacing.Rate{N: 1, Per: time.Second},
		PacingChatBurst:  3,
		PacingGroupRate:  pacing.Rate{N: 20, Per: time.Minute},
		PacingGlobalRate: pacing.Rate{N: 30, Per: time.Second},
		PacingQueue:      100,
		TypingRate:       pacing.Rate{N: 10, Per: time.Second},
		StartupTimeout:   30 * time.Second,
		ShutdownGrace:    15 * time.Second,
		LogLevel:         "info",
		LogFormat:        "text",
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("Default() =\n%#v\nwant\n%#v", d.Redacted(), want.Redacted())
	}
	if len(telegram.UpdateKindNames()) != 25 {
		t.Errorf("len(UpdateKindNames()) = %d, want 25", len(telegram.UpdateKindNames()))
	}
	d.AllowedUpdates[0] = "changed"
	if telegram.UpdateKindNames()[0] != "message" || config.Default().AllowedUpdates[0] != "message" {
		t.Error("Default() shares its AllowedUpdates with the catalogue or with another Default()")
	}
}

func TestLoadDefaults(t *testing.T) {
	c, stderr, err := load(t, nil, testToken, testAppURL)
	if err != nil {
		t.Fatal(err)
	}
	if want := wantDefaults(); !reflect.DeepEqual(c, want) {
		t.Errorf("Load =\n%v\nwant\n%v", c.Redacted(), want.Redacted())
	}
	if stderr != "" {
		t.Errorf("stderr = %q, want nothing", stderr)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "c.yaml", "poll_timeout: 20s\nlog_format: json\nmax_scopes: 7\n")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want time.Duration
	}{
		{"default", nil, nil, 30 * time.Second},
		{"file", nil, []string{"--config", file}, 20 * time.Second},
		{"env over file", map[string]string{"ASGIGRAM_POLL_TIMEOUT": "10s"}, []string{"--config", file}, 10 * time.Second},
		{"flag over env", map[string]string{"ASGIGRAM_POLL_TIMEOUT": "10s"}, []string{"--config", file, "--poll-timeout", "5s"}, 5 * time.Second},
		{"flag=value", nil, []string{"--poll-timeout=4s"}, 4 * time.Second},
		{"env only", map[string]string{"ASGIGRAM_POLL_TIMEOUT": "0"}, nil, 0},
		{"empty env is unset", map[string]string{"ASGIGRAM_POLL_TIMEOUT": ""}, []string{"--config", file}, 20 * time.Second},
		{"config from env", map[string]string{"ASGIGRAM_CONFIG": file}, nil, 20 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := load(t, tt.env, append([]string{testToken, testAppURL}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if c.PollTimeout != tt.want {
				t.Errorf("PollTimeout = %s, want %s", c.PollTimeout, tt.want)
			}
		})
	}

	t.Run("each key from its own layer", func(t *testing.T) {
		env := map[string]string{"ASGIGRAM_MAX_SCOPES": "8", "ASGIGRAM_LISTEN": ":9999"}
		c, _, err := load(t, env, "--config", file, "--listen", "127.0.0.1:1234", testToken, testAppURL)
		if err != nil {
			t.Fatal(err)
		}
		if c.LogFormat != "json" || c.MaxScopes != 8 || c.Listen != "127.0.0.1:1234" || c.AppTimeout != 10*time.Second {
			t.Errorf("got log_format=%s (file) max_scopes=%d (env) listen=%s (flag) app_timeout=%s (default)",
				c.LogFormat, c.MaxScopes, c.Listen, c.AppTimeout)
		}
	})

	t.Run("flag --config over env", func(t *testing.T) {
		other := writeFile(t, "other.yaml", "poll_timeout: 1s\n")
		c, _, err := load(t, map[string]string{"ASGIGRAM_CONFIG": file}, "--config", other, testToken, testAppURL)
		if err != nil {
			t.Fatal(err)
		}
		if c.PollTimeout != time.Second {
			t.Errorf("PollTimeout = %s, want 1s from the --config file", c.PollTimeout)
		}
	})
}

func TestPositional(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		wantField string // "" means success
	}{
		{"both positional", nil, []string{testToken, testAppURL}, ""},
		{"flags after positional", nil, []string{testToken, "--log-level", "warn", testAppURL}, ""},
		{"token positional, app_url flag", nil, []string{"--app-url", testAppURL, testToken}, ""},
		{"flags only", nil, []string{"--token", testToken, "--app-url", testAppURL}, ""},
		{"env only", map[string]string{"ASGIGRAM_TOKEN": testToken, "ASGIGRAM_APP_URL": testAppURL}, nil, ""},
		{"positional over env", map[string]string{"ASGIGRAM_TOKEN": "1:other", "ASGIGRAM_APP_URL": "http://other"}, []string{testToken, testAppURL}, ""},
		{"token twice", nil, []string{"--token", testToken, testToken, testAppURL}, "token"},
		{"app_url twice", nil, []string{"--app-url", testAppURL, testToken, testAppURL}, "app_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := load(t, tt.env, tt.args...)
			if tt.wantField != "" {
				wantFieldErr(t, err, tt.wantField, "given twice")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Token != testToken || c.AppURL != testAppURL {
				t.Errorf("AppURL = %q, want %q; token matches: %v", c.AppURL, testAppURL, c.Token == testToken)
			}
		})
	}

	t.Run("too many", func(t *testing.T) {
		_, _, err := load(t, nil, testToken, testAppURL, "extra")
		if err == nil || !strings.Contains(err.Error(), "too many arguments") {
			t.Fatalf("err = %v, want too many arguments", err)
		}
		if strings.Contains(err.Error(), testToken) {
			t.Errorf("err %q contains the token", err)
		}
	})
}

func TestFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string // file name
		content string
		field   string
		want    []string
	}{
		{"unknown key", "c.yaml", "poll_timout: 15s\n", "poll_timout", []string{"config: poll_timout: unknown key", "did you mean poll_timeout"}},
		{"unknown key far from any", "c.yaml", "zzz: 1\n", "zzz", []string{"config: zzz: unknown key"}},
		{"unknown nested key", "c.yaml", "server:\n  listen: x\n", "server", []string{"unknown key"}},
		{"flag-only name is no key", "c.yaml", "version: true\n", "version", []string{"unknown key"}},
		{"duration without unit", "c.yaml", "poll_timeout: 15\n", "poll_timeout", []string{"config: poll_timeout: duration needs a unit, e.g. 15s"}},
		{"duration string without unit", "c.yaml", "app_timeout: \"15\"\n", "app_timeout", []string{"duration needs a unit, e.g. 15s"}},
		{"bad duration", "c.yaml", "app_timeout: soon\n", "app_timeout", []string{"invalid duration"}},
		{"map for a duration", "c.yaml", "poll_timeout:\n  seconds: 3\n", "poll_timeout", []string{"expected a duration", "map"}},
		{"list for a string", "c.yaml", "log_level: [debug]\n", "log_level", []string{"expected a string, got a list"}},
		{"number for a string", "c.yaml", "log_format: 42\n", "log_format", []string{"expected a string, got a number"}},
		{"string for an int", "c.yaml", "max_scopes: lots\n", "max_scopes", []string{"expected an integer"}},
		{"fraction for an int", "c.yaml", "max_scopes: 1.5\n", "max_scopes", []string{"expected an integer"}},
		{"bool for an int", "c.yaml", "max_concurrency: true\n", "max_concurrency", []string{"expected an integer, got a boolean"}},
		{"map for a list", "c.yaml", "allowed_updates:\n  a: b\n", "allowed_updates", []string{"expected a list"}},
		{"number in a list", "c.yaml", "allowed_updates: [message, 3]\n", "allowed_updates", []string{"entry 1", "expected a string"}},
		{"bad yaml", "c.yaml", "poll_timeout: [\n", "config", []string{"cannot parse"}},
		{"unsupported type", "c.ini", "a=b\n", "config", []string{"unsupported file type"}},
		{"json unknown key", "c.json", `{"listen": ":1", "lisen": ":2"}`, "lisen", []string{"unknown key"}},
		{"toml duration without unit", "c.toml", "poll_timeout = 15\n", "poll_timeout", []string{"duration needs a unit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file, tt.content)
			_, _, err := load(t, nil, "--config", path, testToken, testAppURL)
			wantFieldErr(t, err, tt.field, tt.want...)
		})
	}

	t.Run("missing file", func(t *testing.T) {
		_, _, err := load(t, nil, "--config", filepath.Join(t.TempDir(), "nope.yaml"), testToken, testAppURL)
		wantFieldErr(t, err, "config", "nope.yaml")
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v, want it to wrap os.ErrNotExist", err)
		}
	})
}

func TestFileFormats(t *testing.T) {
	tests := []struct{ name, content string }{
		{"c.yaml", "poll_timeout: 5s\nmax_scopes: 10\nallowed_updates: [message]\n"},
		{"c.yml", "poll_timeout: 5s\nmax_scopes: 10\nallowed_updates: [message]\n"},
		{"c.json", `{"poll_timeout": "5s", "max_scopes": 10, "allowed_updates": ["message"]}`},
		{"c.toml", "poll_timeout = \"5s\"\nmax_scopes = 10\nallowed_updates = [\"message\"]\n"},
		{"noext", "poll_timeout: 5s\nmax_scopes: 10\nallowed_updates: [message]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.name, tt.content)
			c, _, err := load(t, nil, "--config", path, testToken, testAppURL)
			if err != nil {
				t.Fatal(err)
			}
			if c.PollTimeout != 5*time.Second || c.MaxScopes != 10 || !slices.Equal(c.AllowedUpdates, []string{"message"}) {
				t.Errorf("got poll_timeout=%s max_scopes=%d allowed_updates=%q", c.PollTimeout, c.MaxScopes, c.AllowedUpdates)
			}
		})
	}
}

func TestEnvAndFlagValues(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		field string
		want  string
	}{
		{"env duration without unit", map[string]string{"ASGIGRAM_POLL_TIMEOUT": "15"}, nil, "poll_timeout", "config: poll_timeout: duration needs a unit, e.g. 15s"},
		{"flag duration without unit", nil, []string{"--app-timeout", "15"}, "app_timeout", "duration needs a unit, e.g. 15s"},
		{"env bad int", map[string]string{"ASGIGRAM_MAX_CONCURRENCY": "many"}, nil, "max_concurrency", "expected an integer"},
		{"flag bad size", nil, []string{"--send-body-limit", "1XB"}, "send_body_limit", "invalid size"},
		{"env bad upload size", map[string]string{"ASGIGRAM_UPLOAD_LIMIT": "50 MiBs"}, nil, "upload_limit", "size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, tt.env, append([]string{testToken, testAppURL}, tt.args...)...)
			wantFieldErr(t, err, tt.field, tt.want)
		})
	}

	t.Run("typed values", func(t *testing.T) {
		env := map[string]string{"ASGIGRAM_MAX_CONCURRENCY": "3", "ASGIGRAM_SHUTDOWN_GRACE": "0s", "ASGIGRAM_APP_MAX_ELAPSED": "1h30m"}
		c, _, err := load(t, env, testToken, testAppURL, "--app-max-attempts", "9")
		if err != nil {
			t.Fatal(err)
		}
		if c.MaxConcurrency != 3 || c.ShutdownGrace != 0 || c.AppMaxElapsed != 90*time.Minute || c.AppMaxAttempts != 9 {
			t.Errorf("got max_concurrency=%d shutdown_grace=%s app_max_elapsed=%s app_max_attempts=%d",
				c.MaxConcurrency, c.ShutdownGrace, c.AppMaxElapsed, c.AppMaxAttempts)
		}
	})

	t.Run("unknown flag", func(t *testing.T) {
		_, _, err := load(t, nil, testToken, testAppURL, "--poll-timout", "1s")
		if err == nil || !strings.Contains(err.Error(), "unknown flag: --poll-timout") {
			t.Errorf("err = %v, want unknown flag", err)
		}
	})

	t.Run("unknown env warns", func(t *testing.T) {
		_, stderr, err := load(t, map[string]string{"ASGIGRAM_POLL_TIMOUT": "1s"}, testToken, testAppURL)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stderr, "ASGIGRAM_POLL_TIMOUT") || !strings.Contains(stderr, "unknown environment variable ASGIGRAM_POLL_TIMOUT") {
			t.Errorf("stderr = %q, want a warning naming ASGIGRAM_POLL_TIMOUT and a suggestion", stderr)
		}
	})
}

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		field string
		want  string
	}{
		{"app_url not http", []string{"--app-url", "ftp://example.com"}, "app_url", "http:// or https://"},
		{"app_url relative", []string{"--app-url", "/telegram"}, "app_url", "http:// or https://"},
		{"app_url without host", []string{"--app-url", "http:///x"}, "app_url", "must have a host"},
		{"app_url unparsable", []string{"--app-url", "http://[::1"}, "app_url", "not a valid URL"},
		{"api_url bad", []string{"--api-url", "api.telegram.org"}, "api_url", "http:// or https://"},
		{"api_url query", []string{"--api-url", "https://api.telegram.org/?x=1"}, "api_url", "query"},
		{"public_url bad", []string{"--public-url", "localhost:8080"}, "public_url", "http:// or https://"},
		{"listen without port", []string{"--listen", "127.0.0.1"}, "listen", "host:port"},
		{"listen named port", []string{"--listen", "localhost:http"}, "listen", "numeric port"},
		{"listen port too large", []string{"--listen", ":70000"}, "listen", "0-65535"},
		{"log_level", []string{"--log-level", "verbose"}, "log_level", "must be one of debug, info, warn, error"},
		{"log_format", []string{"--log-format", "xml"}, "log_format", "must be one of text, json"},
		{"poll_timeout too long", []string{"--poll-timeout", "51s"}, "poll_timeout", "between 0s and 50s"},
		{"poll_timeout negative", []string{"--poll-timeout", "-1s"}, "poll_timeout", "between 0s and 50s"},
		{"max_concurrency", []string{"--max-concurrency", "0"}, "max_concurrency", "at least 1"},
		{"max_scopes", []string{"--max-scopes", "0"}, "max_scopes", "at least 1"},
		{"app_max_attempts", []string{"--app-max-attempts", "0"}, "app_max_attempts", "at least 1"},
		{"scope_idle_timeout", []string{"--scope-idle-timeout", "0s"}, "scope_idle_timeout", "more than 0s"},
		{"app_timeout", []string{"--app-timeout", "0s"}, "app_timeout", "more than 0s"},
		{"app_max_elapsed", []string{"--app-max-elapsed", "-1m"}, "app_max_elapsed", "more than 0s"},
		{"send_timeout", []string{"--send-timeout", "0"}, "send_timeout", "more than 0s"},
		{"send_body_limit", []string{"--send-body-limit", "0"}, "send_body_limit", "more than 0 bytes"},
		{"upload_limit", []string{"--upload-limit", "0"}, "upload_limit", "more than 0 bytes"},
		{"shutdown_grace", []string{"--shutdown-grace", "-1s"}, "shutdown_grace", "must not be negative"},
		{"allowed_updates entry", []string{"--allowed-updates", "message,CallbackQuery"}, "allowed_updates", "entry 1"},
		{"send_token with space", []string{"--send-token", "two words"}, "send_token", "spaces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, nil, append([]string{"--token", testToken, "--app-url", testAppURL}, tt.args...)...)
			if tt.field == "app_url" {
				// --app-url is given twice here: the last one wins.
				_, _, err = load(t, nil, append([]string{testToken}, tt.args...)...)
			}
			wantFieldErr(t, err, tt.field, tt.want)
		})
	}
}

func TestAppSecret(t *testing.T) {
	tests := []struct {
		name, secret, want string
	}{
		{"no prefix", "c2VjcmV0LWtleS0xMjM0NTY3OA==", "whsec_<base64>"},
		{"other prefix", "wh_c2VjcmV0LWtleS0xMjM0NTY3OA==", "whsec_<base64>"},
		{"bad base64", "whsec_not*base64!secretvalue", "not valid standard base64"},
		{"url-safe base64", "whsec_c2VjcmV0LWtleS0xMjM0NTY3OA-_", "not valid standard base64"},
		{"empty key", "whsec_", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, map[string]string{"ASGIGRAM_APP_SECRET": tt.secret}, testToken, testAppURL)
			wantFieldErr(t, err, "app_secret", tt.want)
			if body := strings.TrimPrefix(tt.secret, "whsec_"); body != "" && strings.Contains(err.Error(), body) {
				t.Errorf("err %q contains the secret", err)
			}
		})
	}

	t.Run("valid", func(t *testing.T) {
		c, _, err := load(t, map[string]string{"ASGIGRAM_APP_SECRET": testSecret}, testToken, testAppURL)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(c.AppSecretKey); got != "secret-key-12345678" {
			t.Errorf("AppSecretKey = %q, want %q", got, "secret-key-12345678")
		}
	})
}

func TestToken(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		_, _, err := load(t, map[string]string{"ASGIGRAM_APP_URL": testAppURL})
		const want = "config: token: missing: give it as the first argument, --token, ASGIGRAM_TOKEN, token or token_file in the config file"
		if err == nil || err.Error() != want {
			t.Errorf("err = %v, want %q", err, want)
		}
		wantFieldErr(t, err, "token")
	})

	t.Run("app_url missing", func(t *testing.T) {
		_, _, err := load(t, nil, testToken)
		wantFieldErr(t, err, "app_url", "missing", "ASGIGRAM_APP_URL")
	})

	malformed := []string{
		"123456789",
		"abc:AAEsecret",
		"123456789:",
		":AAEsecret",
		"123456789:AAE secret",
		"123456789:AAE/secret",
		"99999999999999999999:AAEsecret",
		"https://example.com/hook",
	}
	for _, tok := range malformed {
		t.Run("malformed "+tok, func(t *testing.T) {
			_, stderr, err := load(t, nil, tok, testAppURL)
			wantFieldErr(t, err, "token", "malformed")
			if strings.Contains(err.Error(), tok) || strings.Contains(stderr, tok) {
				t.Errorf("err %q or stderr %q contains the token", err, stderr)
			}
		})
	}

	t.Run("url as token hints at argument order", func(t *testing.T) {
		_, _, err := load(t, map[string]string{"ASGIGRAM_TOKEN": testToken}, testAppURL)
		wantFieldErr(t, err, "token", "looks like a URL")
	})
}

func TestTokenFile(t *testing.T) {
	t.Run("read and trimmed", func(t *testing.T) {
		path := writeFile(t, "token", "\n  "+testToken+"  \n")
		c, _, err := load(t, nil, "--token-file", path, "--app-url", testAppURL)
		if err != nil {
			t.Fatal(err)
		}
		if c.Token != testToken {
			t.Error("Token is not the trimmed file content")
		}
		if c.TokenFile != path {
			t.Errorf("TokenFile = %q, want %q", c.TokenFile, path)
		}
		if c.BotID() != 123456789 {
			t.Errorf("BotID() = %d, want 123456789", c.BotID())
		}
	})

	t.Run("from the config file", func(t *testing.T) {
		path := writeFile(t, "token", testToken+"\n")
		cfg := writeFile(t, "c.yaml", fmt.Sprintf("token_file: %s\napp_url: %s\n", path, testAppURL))
		c, _, err := load(t, nil, "--config", cfg)
		if err != nil {
			t.Fatal(err)
		}
		if c.Token != testToken {
			t.Error("Token is not the file content")
		}
	})

	tests := []struct {
		name    string
		content *string // nil: no file
		args    []string
		field   string
		want    string
	}{
		{"missing", nil, nil, "token_file", "no such file"},
		{"empty", ptr(" \n\t"), nil, "token_file", "is empty"},
		{"malformed", ptr("not a token " + testToken), nil, "token_file", "malformed"},
		{"with token", ptr(testToken), []string{"--token", testToken}, "token_file", "cannot be combined with token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token")
			if tt.content != nil {
				path = writeFile(t, "token", *tt.content)
			}
			_, _, err := load(t, nil, append([]string{"--token-file", path, "--app-url", testAppURL}, tt.args...)...)
			wantFieldErr(t, err, tt.field, tt.want)
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("err %q contains the token", err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestTokenNeverShown collects every message Load can produce while the
// token is known, and the help text, and checks that none shows the token.
func TestTokenNeverShown(t *testing.T) {
	cases := [][]string{
		{testToken, "ftp://bad"},
		{testToken, testAppURL, "--poll-timeout", "15"},
		{testToken, testAppURL, "--listen", "nope"},
		{testToken, testAppURL, "extra"},
		{testToken, testAppURL, "--bogus"},
		{testToken, "--help"},
		{"--token", testToken, testToken, testAppURL},
		{"--token=" + testToken + "x", testAppURL},
		{"--tokn=" + testToken, testAppURL},
	}
	secret := strings.SplitN(testToken, ":", 2)[1]
	for _, args := range cases {
		_, stderr, err := load(t, nil, args...)
		if err == nil {
			t.Errorf("Load(%d args) succeeded, want an error", len(args))
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(stderr, secret) {
			t.Errorf("the token shows in err %q or stderr %q", err, stderr)
		}
	}

	t.Run("token in file with a bad value", func(t *testing.T) {
		cfg := writeFile(t, "c.yaml", "token: \""+testToken+"x/\"\napp_url: "+testAppURL+"\n")
		_, _, err := load(t, nil, "--config", cfg)
		wantFieldErr(t, err, "token", "malformed")
		if strings.Contains(err.Error(), secret) {
			t.Errorf("err %q contains the token", err)
		}
	})
	t.Run("token of the wrong type", func(t *testing.T) {
		cfg := writeFile(t, "c.yaml", "token: [\""+testToken+"\"]\n")
		_, _, err := load(t, nil, "--config", cfg)
		wantFieldErr(t, err, "token", "expected a string")
		if strings.Contains(err.Error(), secret) {
			t.Errorf("err %q contains the token", err)
		}
	})
	t.Run("printing a Config", func(t *testing.T) {
		c, _, err := load(t, map[string]string{"ASGIGRAM_SEND_TOKEN": "send-secret-0123456789", "ASGIGRAM_APP_SECRET": testSecret,
			"ASGIGRAM_ADMIN_TOKEN": "admin-secret-0123456789"}, testToken, testAppURL)
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(format, c)
			for _, s := range []string{secret, "send-secret-0123456789", testSecret, "admin-secret-0123456789"} {
				if strings.Contains(out, s) {
					t.Errorf("Sprintf(%q) shows a secret: %s", format, out)
				}
			}
		}
	})
}

func TestVerbose(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"none", nil, nil, "info"},
		{"-v", nil, []string{"-v"}, "debug"},
		{"-vv", nil, []string{"-vv"}, "debug"},
		{"--verbose", nil, []string{"--verbose"}, "debug"},
		{"-v over --log-level", nil, []string{"--log-level", "error", "-v"}, "debug"},
		{"-v over env", map[string]string{"ASGIGRAM_LOG_LEVEL": "warn"}, []string{"-v"}, "debug"},
		{"level without -v", map[string]string{"ASGIGRAM_LOG_LEVEL": "WARN"}, nil, "warn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := load(t, tt.env, append([]string{testToken, testAppURL}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if c.LogLevel != tt.want {
				t.Errorf("LogLevel = %q, want %q", c.LogLevel, tt.want)
			}
		})
	}
}

func TestAllowedUpdates(t *testing.T) {
	tests := []struct {
		name string
		file string // YAML content, "" for no file
		env  string
		args []string
		want []string
	}{
		{"default", "", "", nil, telegram.UpdateKindNames()},
		{"yaml list", "allowed_updates:\n  - message\n  - callback_query\n", "", nil, []string{"message", "callback_query"}},
		{"yaml flow list", "allowed_updates: [message]\n", "", nil, []string{"message"}},
		{"yaml string", "allowed_updates: message, poll\n", "", nil, []string{"message", "poll"}},
		{"yaml empty list", "allowed_updates: []\n", "", nil, []string{}},
		{"yaml null keeps default", "allowed_updates:\n", "", nil, telegram.UpdateKindNames()},
		{"env comma string", "", "message, callback_query,", nil, []string{"message", "callback_query"}},
		{"env over file", "allowed_updates: [poll]\n", "message", nil, []string{"message"}},
		{"flag", "", "poll", []string{"--allowed-updates", "message,chat_member"}, []string{"message", "chat_member"}},
		{"flag empty", "", "", []string{"--allowed-updates", ""}, []string{}},
		{"future kind", "", "message,some_future_kind", nil, []string{"message", "some_future_kind"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{testToken, testAppURL}
			if tt.file != "" {
				args = append(args, "--config", writeFile(t, "c.yaml", tt.file))
			}
			env := map[string]string{}
			if tt.env != "" {
				env["ASGIGRAM_ALLOWED_UPDATES"] = tt.env
			}
			c, _, err := load(t, env, append(args, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.AllowedUpdates, tt.want) {
				t.Errorf("AllowedUpdates = %q, want %q", c.AllowedUpdates, tt.want)
			}
			if c.AllowedUpdates == nil {
				t.Error("AllowedUpdates is nil, want a non-nil slice")
			}
		})
	}

	bad := []string{"Message", "callback-query", "message,poll answer", "message;poll", "édit"}
	for _, v := range bad {
		t.Run("bad "+v, func(t *testing.T) {
			_, _, err := load(t, map[string]string{"ASGIGRAM_ALLOWED_UPDATES": v}, testToken, testAppURL)
			wantFieldErr(t, err, "allowed_updates", "snake_case")
		})
	}
}

func TestSendBodyLimit(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"1", 1},
		{"1048576", 1048576},
		{"100B", 100},
		{"512KiB", 512 * 1024},
		{"1MiB", 1 << 20},
		{"2MB", 2000000},
		{"3kb", 3000},
		{"1 GiB", 1 << 30},
		{"1GB", 1000000000},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, _, err := load(t, map[string]string{"ASGIGRAM_SEND_BODY_LIMIT": tt.in}, testToken, testAppURL)
			if err != nil {
				t.Fatal(err)
			}
			if c.SendBodyLimit != tt.want {
				t.Errorf("SendBodyLimit = %d, want %d", c.SendBodyLimit, tt.want)
			}
		})
	}

	t.Run("yaml int", func(t *testing.T) {
		c, _, err := load(t, nil, testToken, testAppURL, "--config", writeFile(t, "c.yaml", "send_body_limit: 2048\n"))
		if err != nil {
			t.Fatal(err)
		}
		if c.SendBodyLimit != 2048 {
			t.Errorf("SendBodyLimit = %d, want 2048", c.SendBodyLimit)
		}
	})

	for _, in := range []string{"1.5MiB", "MiB", "1TB", "1 M", "ten", "99999999999GiB"} {
		t.Run("bad "+in, func(t *testing.T) {
			_, _, err := load(t, map[string]string{"ASGIGRAM_SEND_BODY_LIMIT": in}, testToken, testAppURL)
			wantFieldErr(t, err, "send_body_limit", "size")
		})
	}
}

// TestUploadLimit: upload_limit is a size like send_body_limit, from the
// environment, a flag or the file, 50MiB by default.
func TestUploadLimit(t *testing.T) {
	c, _, err := load(t, nil, testToken, testAppURL)
	if err != nil {
		t.Fatal(err)
	}
	if c.UploadLimit != 50<<20 {
		t.Errorf("default UploadLimit = %d, want %d", c.UploadLimit, 50<<20)
	}
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want int64
	}{
		{"env", map[string]string{"ASGIGRAM_UPLOAD_LIMIT": "10MiB"}, nil, 10 << 20},
		{"flag beats env", map[string]string{"ASGIGRAM_UPLOAD_LIMIT": "10MiB"}, []string{"--upload-limit", "20MB"}, 20000000},
		{"file", nil, []string{"--config", writeFile(t, "c.yaml", "upload_limit: 4096\n")}, 4096},
		{"file size string", nil, []string{"--config", writeFile(t, "c.yaml", "upload_limit: 2 GiB\n")}, 2 << 30},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := load(t, tt.env, append([]string{testToken, testAppURL}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if c.UploadLimit != tt.want {
				t.Errorf("UploadLimit = %d, want %d", c.UploadLimit, tt.want)
			}
		})
	}
	for _, in := range []string{"1.5MiB", "MiB", "-1", "ten"} {
		t.Run("bad "+in, func(t *testing.T) {
			_, _, err := load(t, map[string]string{"ASGIGRAM_UPLOAD_LIMIT": in}, testToken, testAppURL)
			wantFieldErr(t, err, "upload_limit")
		})
	}
}

func TestListenAndPublicURL(t *testing.T) {
	tests := []struct {
		listen, public string
		wantPublic     string
		wantAPI        string
	}{
		{"127.0.0.1:8080", "", "http://127.0.0.1:8080", ""},
		{":9000", "", "http://127.0.0.1:9000", ""},
		{"0.0.0.0:9000", "", "http://127.0.0.1:9000", ""},
		{"[::]:9000", "", "http://127.0.0.1:9000", ""},
		{"[::1]:9000", "", "http://[::1]:9000", ""},
		{"localhost:0", "", "http://localhost:0", ""},
		{":9000", "https://bot.example.com/asgigram/", "https://bot.example.com/asgigram", ""},
	}
	for _, tt := range tests {
		t.Run(tt.listen+" "+tt.public, func(t *testing.T) {
			args := []string{testToken, testAppURL, "--listen", tt.listen, "--api-url", "http://127.0.0.1:8081/prefix/"}
			if tt.public != "" {
				args = append(args, "--public-url", tt.public)
			}
			c, _, err := load(t, nil, args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.PublicURL != tt.wantPublic {
				t.Errorf("PublicURL = %q, want %q", c.PublicURL, tt.wantPublic)
			}
			if c.APIURL != "http://127.0.0.1:8081/prefix" {
				t.Errorf("APIURL = %q, want the trailing slash stripped", c.APIURL)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	keys := []string{"token", "token_file", "app_url", "api_url", "listen", "public_url", "app_secret",
		"send_token", "poll_timeout", "allowed_updates", "max_concurrency", "scope_idle_timeout", "max_scopes",
		"app_timeout", "app_max_attempts", "app_max_elapsed", "send_timeout", "send_body_limit", "upload_limit",
		"send_max_events", "send_body_timeout", "upload_min_rate", "idle_timeout", "max_connections",
		"shutdown_grace", "log_level", "log_format",
		"admin_token", "delete_webhook_on_start", "drop_pending_updates", "spool", "data_dir", "spool_max",
		"spool_memory", "deadletter_max", "pacing", "pacing_chat_rate", "pacing_chat_burst", "pacing_group_rate",
		"pacing_global_rate", "pacing_queue", "typing_after", "typing_rate", "callback_answer_after", "reply_results",
		"lifecycle_events", "lifecycle_url", "startup_timeout"}

	c, _, err := load(t, map[string]string{"ASGIGRAM_SEND_TOKEN": "send-secret-0123456789", "ASGIGRAM_APP_SECRET": testSecret,
		"ASGIGRAM_ADMIN_TOKEN": "admin-secret-0123456789"}, testToken, testAppURL)
	if err != nil {
		t.Fatal(err)
	}
	m := c.Redacted()
	got := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	if want := slices.Sorted(slices.Values(keys)); !slices.Equal(got, want) {
		t.Errorf("Redacted() keys = %q, want %q", got, want)
	}
	for key, want := range map[string]any{
		"token":                   "[redacted]",
		"app_secret":              "[redacted]",
		"send_token":              "[redacted]",
		"admin_token":             "[redacted]",
		"token_file":              "",
		"app_url":                 testAppURL,
		"public_url":              "http://127.0.0.1:8080",
		"poll_timeout":            "30s",
		"max_scopes":              100000,
		"send_body_limit":         int64(1048576),
		"upload_limit":            int64(52428800),
		"send_max_events":         100,
		"send_body_timeout":       "10s",
		"upload_min_rate":         int64(65536),
		"idle_timeout":            "1m",
		"max_connections":         0,
		"allowed_updates":         telegram.UpdateKindNames(),
		"log_level":               "info",
		"pacing":                  true,
		"pacing_chat_rate":        "1/s",
		"pacing_group_rate":       "20/m",
		"pacing_global_rate":      "30/s",
		"pacing_queue":            100,
		"spool":                   "disk",
		"spool_max":               100000,
		"spool_memory":            int64(16 << 20),
		"delete_webhook_on_start": false,
	} {
		if !reflect.DeepEqual(m[key], want) {
			t.Errorf("Redacted()[%q] = %#v, want %#v", key, m[key], want)
		}
	}

	unset := config.Default().Redacted()
	for _, key := range []string{"token", "app_secret", "send_token", "admin_token"} {
		if unset[key] != "" {
			t.Errorf("Redacted()[%q] of an unset secret = %#v, want \"\"", key, unset[key])
		}
	}
}

func TestVersion(t *testing.T) {
	c, _, err := load(t, map[string]string{"ASGIGRAM_POLL_TIMEOUT": "15"}, "--version")
	if err != nil {
		t.Fatalf("Load(--version) = %v, want no error even without a token", err)
	}
	if !c.Version {
		t.Error("Version = false, want true")
	}
	c, _, err = load(t, nil, testToken, testAppURL)
	if err != nil {
		t.Fatal(err)
	}
	if c.Version {
		t.Error("Version = true without --version")
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		t.Run(arg, func(t *testing.T) {
			_, stderr, err := load(t, nil, testToken, arg)
			if !errors.Is(err, config.ErrHelp) {
				t.Fatalf("err = %v, want ErrHelp", err)
			}
			if stderr != config.Usage() {
				t.Errorf("stderr = %q, want Usage()", stderr)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	u := config.Usage()
	if !strings.Contains(u, "asgigram [flags] [TOKEN [APP_URL]]") {
		t.Error("Usage() lacks the command line")
	}
	for _, key := range slices.Sorted(func(yield func(string) bool) {
		for k := range config.Default().Redacted() {
			if !yield(k) {
				return
			}
		}
	}) {
		flag := "--" + strings.ReplaceAll(key, "_", "-")
		env := "env ASGIGRAM_" + strings.ToUpper(key) + ", default "
		// The flag's line ("--key ARG", or "--key[=BOOL]" for a boolean) is
		// followed by its env/default line.
		re := regexp.MustCompile(`\n  ` + regexp.QuoteMeta(flag) + `( \S+|\[=BOOL\])\n(        .*\n)*?        ` + regexp.QuoteMeta(env) + `\S`)
		if !re.MatchString(u) {
			t.Errorf("Usage() does not document %s with %s and its default", flag, env)
		}
	}
	for _, want := range []string{"--config FILE", "ASGIGRAM_CONFIG", "-v, --verbose", "--version", "-h, --help",
		"default 30s", "default 15m\n", "default 2m\n", "default 1MiB", "default 50MiB", "default https://api.telegram.org", "default 127.0.0.1:8080"} {
		if !strings.Contains(u, want) {
			t.Errorf("Usage() lacks %q", want)
		}
	}
}

func TestExampleFile(t *testing.T) {
	const path = "../config.example.yaml"
	env := map[string]string{"ASGIGRAM_TOKEN": testToken, "ASGIGRAM_APP_URL": testAppURL}
	c, stderr, err := load(t, env, "--config", path)
	if err != nil {
		t.Fatalf("loading %s: %v", path, err)
	}
	if want := wantDefaults(); !reflect.DeepEqual(c, want) {
		t.Errorf("%s does not show the defaults:\ngot  %v\nwant %v", path, c.Redacted(), want.Redacted())
	}
	if stderr != "" {
		t.Errorf("stderr = %q", stderr)
	}

	// Every key is there, set or commented out, with its env var and flag.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for key := range config.Default().Redacted() {
		if !regexp.MustCompile(`(?m)^(# )?` + key + `:`).MatchString(text) {
			t.Errorf("%s does not list %s", path, key)
		}
		for _, want := range []string{"ASGIGRAM_" + strings.ToUpper(key) + ",", "--" + strings.ReplaceAll(key, "_", "-")} {
			if !strings.Contains(text, want) {
				t.Errorf("%s does not mention %s", path, want)
			}
		}
	}

	// The commented-out list of allowed_updates is the default list.
	var listed []string
	for _, m := range regexp.MustCompile(`(?m)^#   - (\w+)$`).FindAllStringSubmatch(text, -1) {
		listed = append(listed, m[1])
	}
	if !slices.Equal(listed, telegram.UpdateKindNames()) {
		t.Errorf("%s lists allowed_updates %q, want %q", path, listed, telegram.UpdateKindNames())
	}
}

func TestValidate(t *testing.T) {
	c := config.Default()
	c.Token = " " + testToken + "\n"
	c.AppURL = testAppURL
	c.LogFormat = "JSON"
	c.AppSecret = testSecret
	for i := range 2 { // a second call must not change the outcome
		if err := c.Validate(); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	if c.Token != testToken || c.LogFormat != "json" || c.PublicURL != "http://127.0.0.1:8080" || len(c.AppSecretKey) == 0 {
		t.Errorf("Validate did not complete the config: %v", c)
	}
	if c.BotID() != 123456789 {
		t.Errorf("BotID() = %d, want 123456789", c.BotID())
	}
	if id := (config.Config{Token: "nope"}).BotID(); id != 0 {
		t.Errorf("BotID() of a malformed token = %d, want 0", id)
	}

	var zero config.Config
	wantFieldErr(t, zero.Validate(), "token", "missing")
}

func TestFieldError(t *testing.T) {
	inner := errors.New("boom")
	err := error(&config.FieldError{Field: "listen", Err: inner})
	if got, want := err.Error(), "config: listen: boom"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, inner) {
		t.Error("errors.Is does not see the wrapped error")
	}
}

func TestUsageLineLength(t *testing.T) {
	for i, l := range strings.Split(config.Usage(), "\n") {
		if len(l) > 80 {
			t.Errorf("Usage() line %d is %d bytes long: %q", i+1, len(l), l)
		}
	}
}

func TestBoolSettings(t *testing.T) {
	type want struct{ pacing, deleteWebhook, dropPending bool }
	tests := []struct {
		name string
		env  map[string]string
		file string // file name and content, "" for none
		body string
		args []string
		want want
	}{
		{"defaults", nil, "", "", nil, want{true, false, false}},
		{"flag =false", nil, "", "", []string{"--pacing=false"}, want{false, false, false}},
		{"flag =0", nil, "", "", []string{"--pacing=0"}, want{false, false, false}},
		{"flag alone", map[string]string{"ASGIGRAM_PACING": "false"}, "", "", []string{"--pacing"}, want{true, false, false}},
		{"flag alone before positionals", nil, "", "", []string{"--delete-webhook-on-start", "--drop-pending-updates"}, want{true, true, true}},
		{"flag =true", nil, "", "", []string{"--delete-webhook-on-start=true"}, want{true, true, false}},
		{"env false", map[string]string{"ASGIGRAM_PACING": "false"}, "", "", nil, want{false, false, false}},
		{"env 0", map[string]string{"ASGIGRAM_PACING": "0"}, "", "", nil, want{false, false, false}},
		{"env FALSE", map[string]string{"ASGIGRAM_PACING": "FALSE"}, "", "", nil, want{false, false, false}},
		{"env 1 and true", map[string]string{"ASGIGRAM_DELETE_WEBHOOK_ON_START": "1", "ASGIGRAM_DROP_PENDING_UPDATES": "true"}, "", "", nil, want{true, true, true}},
		{"yaml", nil, "c.yaml", "pacing: false\ndelete_webhook_on_start: true\ndrop_pending_updates: true\n", nil, want{false, true, true}},
		{"yaml quoted", nil, "c.yaml", "pacing: \"false\"\n", nil, want{false, false, false}},
		{"json", nil, "c.json", `{"pacing": false, "delete_webhook_on_start": true}`, nil, want{false, true, false}},
		{"toml", nil, "c.toml", "pacing = false\n", nil, want{false, false, false}},
		{"env over file", map[string]string{"ASGIGRAM_PACING": "true"}, "c.yaml", "pacing: false\n", nil, want{true, false, false}},
		{"flag over env", map[string]string{"ASGIGRAM_PACING": "true"}, "", "", []string{"--pacing=false"}, want{false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string(nil), tt.args...)
			if tt.file != "" {
				args = append(args, "--config", writeFile(t, tt.file, tt.body))
			}
			// Flags first: a flag alone must not swallow the positionals.
			c, _, err := load(t, tt.env, append(args, testToken, testAppURL)...)
			if err != nil {
				t.Fatal(err)
			}
			got := want{c.Pacing, c.DeleteWebhookOnStart, c.DropPendingUpdates}
			if got != tt.want {
				t.Errorf("pacing, delete_webhook_on_start, drop_pending_updates = %v, want %v", got, tt.want)
			}
			if c.Token != testToken || c.AppURL != testAppURL {
				t.Error("the positionals were not read as TOKEN and APP_URL")
			}
		})
	}

	testBadSettings(t, []badSetting{
		{"env word", map[string]string{"ASGIGRAM_PACING": "off"}, "", nil, "pacing", `expected true or false (or 1 or 0), got "off"`},
		{"flag word", nil, "", []string{"--delete-webhook-on-start=yes"}, "delete_webhook_on_start", "expected true or false"},
		{"yaml number", nil, "pacing: 2\n", nil, "pacing", "expected true or false (or 1 or 0), got 2"},
		{"yaml list", nil, "drop_pending_updates: [true]\n", nil, "drop_pending_updates", "expected true or false, got a list"},
		{"drop without delete", map[string]string{"ASGIGRAM_DROP_PENDING_UPDATES": "true"}, "", nil, "drop_pending_updates", "only takes effect with delete_webhook_on_start"},
		{"drop with delete false", nil, "delete_webhook_on_start: false\ndrop_pending_updates: true\n", nil, "drop_pending_updates", "delete_webhook_on_start: true"},
	})

	t.Run("a flag alone does not take the next argument", func(t *testing.T) {
		// As with a pflag bool, "--pacing false" is --pacing plus an argument.
		_, _, err := load(t, nil, "--pacing", "false", testToken, testAppURL)
		if err == nil || !strings.Contains(err.Error(), "too many arguments") {
			t.Errorf("err = %v, want too many arguments", err)
		}
	})
}

func TestPacingSettings(t *testing.T) {
	t.Run("each layer", func(t *testing.T) {
		file := writeFile(t, "c.yaml", "pacing_chat_rate: 2/s\npacing_group_rate: 10/1m\npacing_chat_burst: 5\npacing_queue: 7\n")
		env := map[string]string{"ASGIGRAM_PACING_GLOBAL_RATE": "1000/s", "ASGIGRAM_PACING_QUEUE": "8"}
		c, _, err := load(t, env, testToken, testAppURL, "--config", file, "--pacing-group-rate", "15/m")
		if err != nil {
			t.Fatal(err)
		}
		if c.PacingChatRate != (pacing.Rate{N: 2, Per: time.Second}) || c.PacingGroupRate != (pacing.Rate{N: 15, Per: time.Minute}) ||
			c.PacingGlobalRate != (pacing.Rate{N: 1000, Per: time.Second}) || c.PacingChatBurst != 5 || c.PacingQueue != 8 {
			t.Errorf("got %v", c)
		}
		m := c.Redacted()
		if m["pacing_group_rate"] != "15/m" || m["pacing_chat_rate"] != "2/s" || m["pacing_chat_burst"] != 5 {
			t.Errorf("Redacted shows %v %v %v", m["pacing_group_rate"], m["pacing_chat_rate"], m["pacing_chat_burst"])
		}
	})

	t.Run("json and toml", func(t *testing.T) {
		for name, body := range map[string]string{
			"c.json": `{"pacing_chat_rate": "3/s", "pacing_queue": 9}`,
			"c.toml": "pacing_chat_rate = \"3/s\"\npacing_queue = 9\n",
		} {
			c, _, err := load(t, nil, testToken, testAppURL, "--config", writeFile(t, name, body))
			if err != nil {
				t.Fatal(name, err)
			}
			if c.PacingChatRate != (pacing.Rate{N: 3, Per: time.Second}) || c.PacingQueue != 9 {
				t.Errorf("%s: got %v and %d", name, c.PacingChatRate, c.PacingQueue)
			}
		}
	})

	testBadSettings(t, []badSetting{
		{"chat rate env", map[string]string{"ASGIGRAM_PACING_CHAT_RATE": "fast"}, "", nil, "pacing_chat_rate", `invalid rate "fast"`},
		{"chat rate zero", nil, "", []string{"--pacing-chat-rate", "0/s"}, "pacing_chat_rate", "more than 0"},
		{"group rate flag", nil, "", []string{"--pacing-group-rate", "20/60"}, "pacing_group_rate", "needs a unit"},
		{"global rate file", nil, "pacing_global_rate: 30/sec\n", nil, "pacing_global_rate", "use N/s, N/m, N/h or N/<duration>"},
		{"rate as a number", nil, "pacing_global_rate: 30\n", nil, "pacing_global_rate", "expected a rate such as 1/s or 20/m, got a number"},
		{"rate as a map", nil, "pacing_chat_rate:\n  n: 1\n  per: 1s\n", nil, "pacing_chat_rate", "expected a rate"},
		{"burst zero", map[string]string{"ASGIGRAM_PACING_CHAT_BURST": "0"}, "", nil, "pacing_chat_burst", "at least 1, got 0"},
		{"burst word", map[string]string{"ASGIGRAM_PACING_CHAT_BURST": "three"}, "", nil, "pacing_chat_burst", "expected an integer"},
		{"queue zero", nil, "pacing_queue: 0\n", nil, "pacing_queue", "at least 1, got 0"},
		{"queue fraction", nil, "pacing_queue: 1.5\n", nil, "pacing_queue", "expected an integer"},
	})

	t.Run("validate a config built in code", func(t *testing.T) {
		for _, tt := range []struct {
			field string
			set   func(c *config.Config)
		}{
			{"pacing_chat_rate", func(c *config.Config) { c.PacingChatRate = pacing.Rate{} }},
			{"pacing_group_rate", func(c *config.Config) { c.PacingGroupRate.Per = 0 }},
			{"pacing_global_rate", func(c *config.Config) { c.PacingGlobalRate.N = -1 }},
		} {
			c := config.Default()
			c.Token, c.AppURL = testToken, testAppURL
			tt.set(&c)
			wantFieldErr(t, c.Validate(), tt.field, "more than 0")
		}
	})
}

func TestSpoolSettings(t *testing.T) {
	t.Run("values", func(t *testing.T) {
		dir := t.TempDir()
		c, _, err := load(t, map[string]string{"ASGIGRAM_SPOOL": "MEMORY", "ASGIGRAM_DATA_DIR": dir, "ASGIGRAM_SPOOL_MAX": "100"},
			testToken, testAppURL, "--deadletter-max", "1", "--spool-memory", "512KiB")
		if err != nil {
			t.Fatal(err)
		}
		if c.Spool != "memory" || c.DataDir != dir || c.SpoolMax != 100 || c.DeadletterMax != 1 || c.SpoolMemory != 512<<10 {
			t.Errorf("got spool=%s data_dir=%s spool_max=%d deadletter_max=%d spool_memory=%d", c.Spool, c.DataDir, c.SpoolMax, c.DeadletterMax, c.SpoolMemory)
		}
	})

	t.Run("file", func(t *testing.T) {
		file := writeFile(t, "c.yaml", "spool: memory\ndata_dir: /srv/asgigram\nspool_max: 5000\ndeadletter_max: 20\nspool_memory: 0\n")
		c, _, err := load(t, nil, testToken, testAppURL, "--config", file)
		if err != nil {
			t.Fatal(err)
		}
		if c.Spool != "memory" || c.DataDir != "/srv/asgigram" || c.SpoolMax != 5000 || c.DeadletterMax != 20 || c.SpoolMemory != 0 {
			t.Errorf("got spool=%s data_dir=%s spool_max=%d deadletter_max=%d", c.Spool, c.DataDir, c.SpoolMax, c.DeadletterMax)
		}
	})

	t.Run("tilde", func(t *testing.T) {
		t.Setenv("HOME", "/home/bot")
		c, _, err := load(t, nil, testToken, testAppURL, "--data-dir", "~/spool")
		if err != nil {
			t.Fatal(err)
		}
		if c.DataDir != "/home/bot/spool" {
			t.Errorf("DataDir = %q, want /home/bot/spool", c.DataDir)
		}
	})

	t.Run("empty data_dir with memory", func(t *testing.T) {
		c, _, err := load(t, nil, testToken, testAppURL, "--spool", "memory", "--data-dir", "")
		if err != nil {
			t.Fatal(err)
		}
		if c.DataDir != "" {
			t.Errorf("DataDir = %q", c.DataDir)
		}
	})

	testBadSettings(t, []badSetting{
		{"spool kind", map[string]string{"ASGIGRAM_SPOOL": "tmpfs"}, "", nil, "spool", `must be one of disk, memory, got "tmpfs"`},
		{"spool number", nil, "spool: 1\n", nil, "spool", "expected a string"},
		{"empty data_dir with disk", nil, "data_dir: \"\"\n", nil, "data_dir", "must not be empty with spool: disk"},
		{"empty data_dir flag", nil, "", []string{"--data-dir="}, "data_dir", "must not be empty"},
		{"data_dir list", nil, "data_dir: [a]\n", nil, "data_dir", "expected a string"},
		{"spool_max too small", map[string]string{"ASGIGRAM_SPOOL_MAX": "99"}, "", nil, "spool_max", "at least 100, got 99"},
		{"spool_max word", nil, "", []string{"--spool-max", "lots"}, "spool_max", "expected an integer"},
		{"spool_memory negative", map[string]string{"ASGIGRAM_SPOOL_MEMORY": "-1"}, "", nil, "spool_memory", "0 or more bytes"},
		{"deadletter_max zero", nil, "deadletter_max: 0\n", nil, "deadletter_max", "at least 1, got 0"},
		{"deadletter_max negative", map[string]string{"ASGIGRAM_DEADLETTER_MAX": "-5"}, "", nil, "deadletter_max", "at least 1"},
	})

	t.Run("tilde without HOME", func(t *testing.T) {
		t.Setenv("HOME", "")
		_, _, err := load(t, nil, testToken, testAppURL, "--data-dir", "~/spool")
		wantFieldErr(t, err, "data_dir", "HOME is not set")
	})
}

func TestDefaultDataDir(t *testing.T) {
	tests := []struct {
		name, xdg, home string // "-": unset
		want            string
	}{
		{"xdg", "/xdg/state", "/home/bot", "/xdg/state/asgigram"},
		{"relative xdg is ignored", "state", "/home/bot", "/home/bot/.local/state/asgigram"},
		{"home", "-", "/home/bot", "/home/bot/.local/state/asgigram"},
		{"empty xdg", "", "/home/bot", "/home/bot/.local/state/asgigram"},
		{"neither", "-", "-", "./asgigram-data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, v := range map[string]string{"XDG_STATE_HOME": tt.xdg, "HOME": tt.home} {
				t.Setenv(name, v)
				if v == "-" {
					if err := os.Unsetenv(name); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got := config.DefaultDataDir(); got != tt.want {
				t.Errorf("DefaultDataDir() = %q, want %q", got, tt.want)
			}
			if got := config.Default().DataDir; got != tt.want {
				t.Errorf("Default().DataDir = %q, want %q", got, tt.want)
			}
			// Load keeps the default when nothing sets data_dir.
			c, _, err := load(t, nil, testToken, testAppURL)
			if err != nil {
				t.Fatal(err)
			}
			if c.DataDir != tt.want {
				t.Errorf("Load: DataDir = %q, want %q", c.DataDir, tt.want)
			}
		})
	}
}

func TestAdminToken(t *testing.T) {
	t.Run("set", func(t *testing.T) {
		file := writeFile(t, "c.yaml", "admin_token: from-file-0123456789\n")
		c, _, err := load(t, map[string]string{"ASGIGRAM_ADMIN_TOKEN": "from-env-0123456789"}, testToken, testAppURL, "--config", file)
		if err != nil {
			t.Fatal(err)
		}
		if c.AdminToken != "from-env-0123456789" {
			t.Error("AdminToken is not the environment's")
		}
		if c.Redacted()["admin_token"] != "[redacted]" || strings.Contains(c.String(), "from-env-0123456789") {
			t.Errorf("admin_token shows: %v", c)
		}
	})

	t.Run("default off", func(t *testing.T) {
		c, _, err := load(t, nil, testToken, testAppURL)
		if err != nil {
			t.Fatal(err)
		}
		if c.AdminToken != "" {
			t.Error("AdminToken has a default")
		}
	})

	for _, tt := range []struct {
		name, env, send, want string
	}{
		{"space", "admin secret", "", "spaces"},
		{"control", "admin\tsecret", "", "control characters"},
		{"same as send_token", "shared-secret-0123456789", "shared-secret-0123456789", "must differ from send_token"},
		{"8 characters", "abcdefgh", "", "at least 16 characters"},
	} {
		t.Run("bad "+tt.name, func(t *testing.T) {
			env := map[string]string{"ASGIGRAM_ADMIN_TOKEN": tt.env}
			if tt.send != "" {
				env["ASGIGRAM_SEND_TOKEN"] = tt.send
			}
			_, stderr, err := load(t, env, testToken, testAppURL)
			wantFieldErr(t, err, "admin_token", tt.want)
			if strings.Contains(err.Error(), "secret") || strings.Contains(stderr, "secret") {
				t.Errorf("err %q or stderr %q shows the token", err, stderr)
			}
		})
	}

	t.Run("short send_token", func(t *testing.T) {
		_, _, err := load(t, map[string]string{"ASGIGRAM_SEND_TOKEN": "0123456789abcde"}, testToken, testAppURL)
		wantFieldErr(t, err, "send_token", "at least 16 characters")
	})

	t.Run("wrong type does not show it", func(t *testing.T) {
		_, _, err := load(t, nil, testToken, testAppURL, "--config", writeFile(t, "c.yaml", "admin_token: [\"admin-secret\"]\n"))
		wantFieldErr(t, err, "admin_token", "expected a string")
		if strings.Contains(err.Error(), "admin-secret-0123456789") {
			t.Errorf("err %q shows the token", err)
		}
	})
}

func TestRedactedMasksTheKeysOfAppURL(t *testing.T) {
	c, _, err := load(t, nil, testToken, "https://fn-user:fn-pass@fn.example/api/hook?code=fn-key")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Redacted()["app_url"], "https://***@fn.example/api/hook?code=***"; got != want {
		t.Errorf("Redacted app_url = %q, want %q", got, want)
	}
	for _, s := range []string{"fn-user", "fn-pass", "fn-key"} {
		if strings.Contains(c.String(), s) {
			t.Errorf("String() shows %q: %s", s, c)
		}
	}
	if c.AppURL != "https://fn-user:fn-pass@fn.example/api/hook?code=fn-key" {
		t.Errorf("AppURL itself changed: %q", c.AppURL)
	}
}

// TestSecretsAreTheSecretSettings: Secrets lists the values of the secret
// settings that are set, and nothing else.
func TestSecretsAreTheSecretSettings(t *testing.T) {
	c := config.Default()
	c.Token = "123:ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	c.AdminToken = "admin-token-0123456789"
	c.AppURL = "http://127.0.0.1:8000/"
	if got, want := c.Secrets(), []string{c.Token, c.AdminToken}; !reflect.DeepEqual(got, want) {
		t.Errorf("Secrets() = %q, want %q", got, want)
	}
	c.AppSecret, c.SendToken = "whsec_x", "send-token-0123456789"
	if got, want := c.Secrets(), []string{c.Token, c.AppSecret, c.SendToken, c.AdminToken}; !reflect.DeepEqual(got, want) {
		t.Errorf("Secrets() = %q, want %q (in the settings table's order)", got, want)
	}
}
