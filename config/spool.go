package config

import (
	"os"

	"github.com/spf13/viper"
)

// SpoolLocation returns data_dir and the bot id (the digits before ':' in
// the token; 0 when no token is configured) as asgigram finds them: from
// the config file at path (ASGIGRAM_CONFIG when path is empty), the
// ASGIGRAM_* environment and the defaults, by the same settings table as
// Load (the keys whose commands include spool: token, token_file,
// data_dir; the token may be in the file's bots: list; with several bots
// there, the bot id is 0). It is for
// `asgigram spool`, which needs nothing else: the settings a running
// asgigram requires (app_url, ...) are not asked for. Its errors never
// contain the token.
func SpoolLocation(path string) (dataDir string, botID int64, err error) {
	v := viper.New()
	for _, s := range settings {
		if !s.in(cmdSpool) {
			continue
		}
		if err := v.BindEnv(s.key, s.envName()); err != nil {
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
		if !s.in(cmdSpool) || !v.IsSet(s.key) {
			continue
		}
		if err := decodeKey(v, s, &c); err != nil {
			return "", 0, err
		}
	}
	entries, bots, err := applyBots(v, &c)
	if err != nil {
		return "", 0, err
	}
	var bot botEntry
	if len(bots) == 1 {
		bot, c = entries[0], bots[0]
	} else if len(bots) > 1 {
		// Several bots, several spools: the bot id is the caller's to
		// give (asgigram spool --bot-id).
		c.Spool = "disk"
		if err := c.validateSpool(); err != nil {
			return "", 0, err
		}
		return c.DataDir, 0, nil
	}
	if c.Token != "" && c.TokenFile != "" {
		return "", 0, bot.fieldErr(fieldErr("token_file", "cannot be combined with token: give only one of them"))
	}
	if c.Token != "" || c.TokenFile != "" {
		if err := c.validateToken(); err != nil {
			return "", 0, bot.fieldErr(err)
		}
		botID = c.BotID()
	}
	c.Spool = "disk"
	if err := c.validateSpool(); err != nil {
		return "", 0, err
	}
	return c.DataDir, botID, nil
}
