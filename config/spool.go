package config

import (
	"os"
	"slices"

	"github.com/spf13/viper"
)

// SpoolLocation returns data_dir and the bot id (the digits before ':' in
// the token; 0 when no token is configured) as asgigram finds them: from
// the config file at path (ASGIGRAM_CONFIG when path is empty), the
// ASGIGRAM_* environment and the defaults, by the same settings table as
// Load. It is for `asgigram spool`, which needs nothing else: the settings
// a running asgigram requires (app_url, ...) are not asked for. Its errors
// never contain the token.
func SpoolLocation(path string) (dataDir string, botID int64, err error) {
	keys := []string{"token", "token_file", "data_dir"}
	v := viper.New()
	for _, k := range keys {
		if err := v.BindEnv(k, envName(k)); err != nil {
			return "", 0, err
		}
	}
	if path == "" {
		path = os.Getenv(envPrefix + "CONFIG")
	}
	if path != "" {
		if err := readFile(v, path); err != nil {
			return "", 0, err
		}
	}
	c := Default()
	for _, s := range settings {
		if !slices.Contains(keys, s.key) || !v.IsSet(s.key) {
			continue
		}
		if err := decodeKey(v, s, &c); err != nil {
			return "", 0, err
		}
	}
	if c.Token != "" && c.TokenFile != "" {
		return "", 0, fieldErr("token_file", "cannot be combined with token: give only one of them")
	}
	if c.Token != "" || c.TokenFile != "" {
		if err := c.validateToken(); err != nil {
			return "", 0, err
		}
		botID = c.BotID()
	}
	c.Spool = "disk"
	if err := c.validateSpool(); err != nil {
		return "", 0, err
	}
	return c.DataDir, botID, nil
}
