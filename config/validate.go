package config

import (
	"encoding/base64"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/asgigram/asgigram/internal/redact"
	"github.com/asgigram/asgigram/pacing"
	"github.com/asgigram/asgigram/telegram"
)

// Validate checks every setting and completes the derived ones: it reads
// TokenFile when Token is empty, trims the token, strips trailing slashes
// from APIURL and PublicURL, derives PublicURL from Listen when it is
// empty, lower-cases Spool, LogLevel and LogFormat, expands a leading "~/"
// in DataDir, and decodes AppSecretKey. It
// returns the first problem as a *FieldError. Calling it twice is fine.
func (c *Config) Validate() error {
	if err := c.validateToken(); err != nil {
		return err
	}
	if c.AppURL == "" {
		return fieldErr("app_url", "missing: give it as the second argument, --app-url, %s or app_url in the config file", envName("app_url"))
	}
	if _, err := checkURL("app_url", c.AppURL, true); err != nil {
		return err
	}
	if c.LifecycleURL != "" {
		if _, err := checkURL("lifecycle_url", c.LifecycleURL, true); err != nil {
			return err
		}
	}
	u, err := checkURL("api_url", c.APIURL, false)
	if err != nil {
		return err
	}
	c.APIURL = u
	if _, _, err := checkListen(c.Listen); err != nil {
		return err
	}
	if c.PublicURL == "" {
		c.PublicURL = LocalURL(c.Listen)
	} else {
		u, err := checkURL("public_url", c.PublicURL, false)
		if err != nil {
			return err
		}
		c.PublicURL = u
	}
	if err := c.validateAppSecret(); err != nil {
		return err
	}
	for _, tok := range []struct{ key, value string }{{"send_token", c.SendToken}, {"admin_token", c.AdminToken}} {
		if strings.ContainsFunc(tok.value, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fieldErr(tok.key, "must not contain spaces or control characters (it is sent as a Bearer token)")
		}
		if tok.value != "" && len(tok.value) < redact.MinSecret {
			return fieldErr(tok.key, "must be at least %d characters, got %d: use a long random string (openssl rand -hex 32)", redact.MinSecret, len(tok.value))
		}
	}
	if c.AdminToken != "" && c.AdminToken == c.SendToken {
		return fieldErr("admin_token", "must differ from send_token: the send_token must not unlock the admin endpoints")
	}
	if c.PollTimeout < 0 || c.PollTimeout > maxPollTimeout {
		return fieldErr("poll_timeout", "must be between 0s and %s (Telegram's limit), got %s", maxPollTimeout, c.PollTimeout)
	}
	for i, k := range c.AllowedUpdates {
		if !telegram.IsUpdateKindName(k) {
			return fieldErr("allowed_updates", "entry %d: %q is not an update kind: use snake_case names such as message or callback_query", i, k)
		}
	}
	if c.DropPendingUpdates && !c.DeleteWebhookOnStart {
		return fieldErr("drop_pending_updates", "only takes effect with delete_webhook_on_start: set delete_webhook_on_start: true too, or leave drop_pending_updates false")
	}
	for _, check := range []struct {
		key string
		bad bool
		msg string
	}{
		{"max_concurrency", c.MaxConcurrency < 1, "must be at least 1, got %d"},
		{"scope_idle_timeout", c.ScopeIdleTimeout <= 0, "must be more than 0s, got %s"},
		{"max_scopes", c.MaxScopes < 1, "must be at least 1, got %d"},
		{"app_timeout", c.AppTimeout <= 0, "must be more than 0s, got %s"},
		{"app_max_attempts", c.AppMaxAttempts < 1, "must be at least 1, got %d"},
		{"app_max_elapsed", c.AppMaxElapsed <= 0, "must be more than 0s, got %s"},
		{"send_timeout", c.SendTimeout <= 0, "must be more than 0s, got %s"},
		{"send_body_limit", c.SendBodyLimit <= 0, "must be more than 0 bytes, got %d"},
		{"upload_limit", c.UploadLimit <= 0, "must be more than 0 bytes, got %d"},
		{"send_max_events", c.SendMaxEvents < 1, "must be at least 1, got %d"},
		{"send_body_timeout", c.SendBodyTimeout <= 0, "must be more than 0s, got %s"},
		{"upload_min_rate", c.UploadMinRate <= 0, "must be more than 0 bytes per second, got %d"},
		{"idle_timeout", c.IdleTimeout <= 0, "must be more than 0s, got %s"},
		{"max_connections", c.MaxConnections < 0, "must be 0 (derived from the open-file limit) or more, got %d"},
		{"spool_max", c.SpoolMax < 100, "must be at least 100, got %d"},
		{"spool_memory", c.SpoolMemory < 0, "must be 0 or more bytes, got %d"},
		{"deadletter_max", c.DeadletterMax < 1, "must be at least 1, got %d"},
		{"pacing_chat_burst", c.PacingChatBurst < 1, "must be at least 1, got %d"},
		{"pacing_queue", c.PacingQueue < 1, "must be at least 1, got %d"},
		{"typing_after", c.TypingAfter < 0, "must not be negative, got %s"},
		{"callback_answer_after", c.CallbackAnswerAfter < 0, "must not be negative, got %s"},
		{"startup_timeout", c.StartupTimeout < 0, "must not be negative, got %s"},
		{"shutdown_grace", c.ShutdownGrace < 0, "must not be negative, got %s"},
	} {
		if check.bad {
			s := settings[slices.IndexFunc(settings, func(s setting) bool { return s.key == check.key })]
			return fieldErr(check.key, check.msg, display(c, s))
		}
	}
	for _, r := range []struct {
		key  string
		rate pacing.Rate
	}{{"pacing_chat_rate", c.PacingChatRate}, {"pacing_group_rate", c.PacingGroupRate}, {"pacing_global_rate", c.PacingGlobalRate}, {"typing_rate", c.TypingRate}} {
		if err := r.rate.Check(); err != nil {
			return &FieldError{Field: r.key, Err: err}
		}
	}
	if err := c.validateSpool(); err != nil {
		return err
	}
	c.LogLevel = strings.ToLower(c.LogLevel)
	if !slices.Contains(logLevels, c.LogLevel) {
		return fieldErr("log_level", "must be one of %s, got %q", strings.Join(logLevels, ", "), c.LogLevel)
	}
	c.LogFormat = strings.ToLower(c.LogFormat)
	if !slices.Contains(logFormats, c.LogFormat) {
		return fieldErr("log_format", "must be one of %s, got %q", strings.Join(logFormats, ", "), c.LogFormat)
	}
	return nil
}

// validateSpool checks spool and data_dir, and expands a leading "~/" in
// data_dir with $HOME.
func (c *Config) validateSpool() error {
	c.Spool = strings.ToLower(c.Spool)
	if !slices.Contains(spoolKinds, c.Spool) {
		return fieldErr("spool", "must be one of %s, got %q", strings.Join(spoolKinds, ", "), c.Spool)
	}
	if c.DataDir == "~" || strings.HasPrefix(c.DataDir, "~/") {
		home := os.Getenv("HOME")
		if home == "" {
			return fieldErr("data_dir", "%q starts with ~ but HOME is not set", c.DataDir)
		}
		c.DataDir = filepath.Join(home, strings.TrimPrefix(c.DataDir, "~"))
	}
	if c.Spool == "disk" && strings.TrimSpace(c.DataDir) == "" {
		return fieldErr("data_dir", "must not be empty with spool: disk (give a directory, or spool: memory)")
	}
	return nil
}

func (c *Config) validateToken() error {
	if c.Token == "" && c.TokenFile != "" {
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return &FieldError{Field: "token_file", Err: err}
		}
		c.Token = strings.TrimSpace(string(b))
		if c.Token == "" {
			return fieldErr("token_file", "%s is empty", c.TokenFile)
		}
		if _, err := parseToken(c.Token); err != nil {
			return fieldErr("token_file", "%s: %w", c.TokenFile, err)
		}
	}
	c.Token = strings.TrimSpace(c.Token)
	if c.Token == "" {
		return fieldErr("token", "missing: give it as the first argument, --token, %s, token or token_file in the config file", envName("token"))
	}
	if _, err := parseToken(c.Token); err != nil {
		return &FieldError{Field: "token", Err: err}
	}
	return nil
}

// parseToken checks the form <bot id>:<secret> and returns the bot id. Its
// errors never contain the token.
func parseToken(tok string) (int64, error) { return telegram.ParseToken(tok) }

func (c *Config) validateAppSecret() error {
	c.AppSecretKey = nil
	if c.AppSecret == "" {
		return nil
	}
	const prefix = "whsec_"
	b64, ok := strings.CutPrefix(c.AppSecret, prefix)
	if !ok {
		return fieldErr("app_secret", "must have the Standard Webhooks form whsec_<base64>")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			return fieldErr("app_secret", "the part after whsec_ is not valid standard base64 (bad input at byte %d)", int64(ce))
		}
		return fieldErr("app_secret", "the part after whsec_ is not valid standard base64")
	}
	if len(key) == 0 {
		return fieldErr("app_secret", "the key after whsec_ is empty")
	}
	c.AppSecretKey = key
	return nil
}

// checkURL checks that raw is an absolute http or https URL with a host.
// For a base URL (not the app URL) it also refuses a query or fragment and
// returns raw without trailing slashes.
func checkURL(key, raw string, isApp bool) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fieldErr(key, "not a valid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fieldErr(key, "must be an absolute http:// or https:// URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fieldErr(key, "must have a host, as in https://example.com/path")
	}
	if !isApp {
		if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			return "", fieldErr(key, "must not have a query or fragment: it is a base URL")
		}
		raw = strings.TrimRight(raw, "/")
	}
	return raw, nil
}

// checkListen checks a host:port address and returns its parts.
func checkListen(addr string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(addr)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		return "", "", fieldErr("listen", "must be host:port with a numeric port 0-65535, e.g. 127.0.0.1:8080 or :8080, got %q", addr)
	}
	return host, port, nil
}
