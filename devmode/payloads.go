package devmode

import (
	"encoding/json"
	"errors"
	"hash/fnv"
	"strconv"
	"unicode/utf16"
)

// userObject builds the User object of the acting user: the default user
// id, completed or replaced by the request's "from" object. It returns the
// object and its id.
func userObject(defaultID int64, override json.RawMessage) (map[string]any, int64, error) {
	u := map[string]any{}
	id := defaultID
	if len(override) > 0 && string(override) != "null" {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(override, &fields); err != nil || fields == nil {
			return nil, 0, errors.New(`"from" must be a User object, e.g. {"id": 7, "first_name": "Ann"}`)
		}
		if raw, ok := fields["id"]; ok {
			if err := json.Unmarshal(raw, &id); err != nil || id <= 0 {
				return nil, 0, errors.New(`"from.id" must be a positive integer`)
			}
		}
		for k, v := range fields {
			u[k] = v
		}
	}
	u["id"] = id
	if _, ok := u["is_bot"]; !ok {
		u["is_bot"] = false
	}
	if _, ok := u["first_name"]; !ok {
		u["first_name"] = "User " + strconv.FormatInt(id, 10)
	}
	if _, ok := u["language_code"]; !ok {
		u["language_code"] = "en"
	}
	return u, id, nil
}

// chatObject builds the Chat object of chat id: a private chat with the
// user for positive ids, a supergroup for ids of the -100… form, and a
// basic group for other negative ids.
func chatObject(id int64, from map[string]any) map[string]any {
	switch {
	case id > 0:
		c := map[string]any{"id": id, "type": "private", "first_name": from["first_name"]}
		for _, k := range []string{"last_name", "username"} {
			if v, ok := from[k]; ok {
				c[k] = v
			}
		}
		return c
	case id <= -1_000_000_000_000:
		return map[string]any{"id": id, "type": "supergroup", "title": "Dev supergroup " + strconv.FormatInt(id, 10)}
	}
	return map[string]any{"id": id, "type": "group", "title": "Dev group " + strconv.FormatInt(id, 10)}
}

// chatInstance is the callback query's chat_instance: a stable opaque
// string per chat.
func chatInstance(chatID int64) string {
	h := fnv.New64a()
	h.Write([]byte(strconv.FormatInt(chatID, 10)))
	return strconv.FormatInt(int64(h.Sum64()>>1), 10)
}

// Entity is a MessageEntity.
type Entity struct {
	Type   string `json:"type"`
	Offset int    `json:"offset"`
	Length int    `json:"length"`
}

// CommandEntities returns the bot_command entities Telegram would attach to
// text: every "/command" or "/command@botname" at the start of the text or
// after whitespace. Offsets and lengths are in UTF-16 code units, as in the
// Bot API.
func CommandEntities(text string) []Entity {
	var out []Entity
	runes := []rune(text)
	offset := 0 // UTF-16 offset of runes[i]
	prevSpace := true
	for i := 0; i < len(runes); {
		r := runes[i]
		if r == '/' && prevSpace {
			j := i + 1
			for j < len(runes) && isCommandChar(runes[j]) {
				j++
			}
			if j > i+1 {
				if j+1 < len(runes) && runes[j] == '@' && isCommandChar(runes[j+1]) {
					j++
					for j < len(runes) && isCommandChar(runes[j]) {
						j++
					}
				}
				// A command is ASCII: one UTF-16 unit per rune.
				out = append(out, Entity{Type: "bot_command", Offset: offset, Length: j - i})
				offset += j - i
				prevSpace = false
				i = j
				continue
			}
		}
		prevSpace = r == ' ' || r == '\n' || r == '\t' || r == '\r'
		offset += utf16.RuneLen(r)
		i++
	}
	return out
}

func isCommandChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_'
}

// messageIDOf returns a Message object's message_id.
func messageIDOf(m json.RawMessage) int64 {
	var v struct {
		MessageID int64 `json:"message_id"`
	}
	_ = json.Unmarshal(m, &v)
	return v.MessageID
}

// hasInlineKeyboard reports whether a Message carries an inline keyboard.
func hasInlineKeyboard(m json.RawMessage) bool {
	var v struct {
		ReplyMarkup struct {
			InlineKeyboard [][]json.RawMessage `json:"inline_keyboard"`
		} `json:"reply_markup"`
	}
	return json.Unmarshal(m, &v) == nil && len(v.ReplyMarkup.InlineKeyboard) > 0
}

// withoutKey returns a JSON object without one of its keys.
func withoutKey(obj json.RawMessage, key string) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return obj
	}
	delete(m, key)
	b, err := json.Marshal(m)
	if err != nil {
		return obj
	}
	return b
}
