package telegram

import (
	"errors"
	"strconv"
	"strings"
)

// ParseToken returns the bot's user id from a bot token, "<bot id>:<secret>"
// as @BotFather gives it: the digits before ':' are the id getMe answers.
func ParseToken(tok string) (int64, error) {
	id, secret, ok := strings.Cut(tok, ":")
	valid := ok && id != "" && secret != "" &&
		!strings.ContainsFunc(id, func(r rune) bool { return r < '0' || r > '9' }) &&
		!strings.ContainsFunc(secret, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
		})
	if !valid {
		if strings.Contains(tok, "://") {
			return 0, errors.New("malformed: it looks like a URL; the token comes first: asgigram TOKEN APP_URL")
		}
		return 0, errors.New("malformed: expected <bot id>:<secret> as given by @BotFather")
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return 0, errors.New("malformed: the bot id before ':' is too large")
	}
	return n, nil
}

// TokenBotID is ParseToken reporting only whether the token is well formed.
func TokenBotID(tok string) (int64, bool) {
	id, err := ParseToken(tok)
	return id, err == nil
}
