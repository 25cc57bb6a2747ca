package telegram

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// ParseChatID reads a numeric chat id the way the Bot API does: a number,
// or a string of one, with surrounding spaces ignored ("4343", " 4343",
// "-1001234567890 "). It reports false for anything else (an @username).
func ParseChatID(s string) (int64, bool) {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return id, err == nil
}

// ChatKey returns the one key of the chat a chat_id parameter names, as
// JSON: a numeric id written as a number or a string, padded with spaces
// or not, gives its decimal form (4343, "4343" and " 4343" all give
// "4343"); an @username gives its lower-case form (Telegram's usernames
// are case-insensitive). Calls to one chat are paced and ordered by this
// key, so that one chat is never taken for two.
func ChatKey(raw json.RawMessage) string {
	s := string(bytes.TrimSpace(raw))
	var str string
	if json.Unmarshal(raw, &str) == nil {
		s = strings.TrimSpace(str)
	}
	if id, ok := ParseChatID(s); ok {
		return strconv.FormatInt(id, 10)
	}
	return strings.ToLower(s)
}
