package adapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Update is one update as fetched from getUpdates.
type Update struct {
	// ID is the update_id.
	ID int64
	// Raw is the whole Update object as Telegram sent it.
	Raw json.RawMessage
}

// ParseUpdates reads the update_id of each raw update. An element that is
// not an object with an integer update_id cannot be confirmed or delivered
// and is returned in bad (it never comes from a real Bot API).
func ParseUpdates(raws []json.RawMessage) (ups []Update, bad []json.RawMessage) {
	ups = make([]Update, 0, len(raws))
	for _, raw := range raws {
		var head struct {
			UpdateID *int64 `json:"update_id"`
		}
		if json.Unmarshal(raw, &head) != nil || head.UpdateID == nil {
			bad = append(bad, raw)
			continue
		}
		ups = append(ups, Update{ID: *head.UpdateID, Raw: raw})
	}
	return ups, bad
}

// ScopeKind says what a scope stands for.
type ScopeKind string

// The kinds of scope. ScopeBot is the bot's own user scope: updates that
// carry neither a chat nor a user (poll, and unknown kinds without either)
// are delivered in it, one at a time like any other scope.
const (
	ScopeChat ScopeKind = "chat"
	ScopeUser ScopeKind = "user"
	ScopeBot  ScopeKind = "bot"
)

// ScopeRef identifies the scope an update belongs to.
type ScopeRef struct {
	// Key is the scope's identity: "chat:<id>", "business:<connection>:<id>",
	// "guest:<id>" (or "guest:<connection>:<id>"), "user:<id>" or "bot".
	Key string
	// Kind is chat, user or bot.
	Kind ScopeKind
	// ID is the chat id (chat scopes) or the user id (user and bot scopes).
	ID int64
	// BusinessConnectionID is set for business chats.
	BusinessConnectionID string
	// JSON is the scope object sent to the application:
	// {"type":"telegram","chat":{...}} or {"type":"telegram","user":{...}}.
	JSON json.RawMessage
}

// Event is an update mapped to the protocol: its scope and its event object.
type Event struct {
	UpdateID int64
	// Field is the Update field that was set, e.g. "message".
	Field string
	// Type is "telegram.<field>".
	Type  string
	Scope ScopeRef
	// JSON is the event object: {"type":"telegram.<field>", ...keys of the
	// Telegram object...}, a top-level "type" of the object renamed to
	// "<field>_type".
	JSON json.RawMessage
	// Raw is the whole Update.
	Raw json.RawMessage
}

// scopeRule says where to find the chat or user of one update kind.
type scopeRule int

const (
	ruleProbe       scopeRule = iota // unknown kinds: look for chat, message.chat, voter_chat, from, user
	ruleChat                         // the object's "chat"
	ruleMessageChat                  // a Message: its "chat"
	ruleFrom                         // the object's "from"
	ruleUser                         // the object's "user"
	ruleCallback                     // message.chat when there is a message, else from
	rulePollAnswer                   // voter_chat when present, else user
	ruleNone                         // neither: the bot scope
)

// kindRules maps every Update field of Bot API 10.1 to its scope rule. Kinds
// not listed here (newer Bot API versions) use ruleProbe.
var kindRules = map[string]scopeRule{
	"message":                   ruleMessageChat,
	"edited_message":            ruleMessageChat,
	"channel_post":              ruleMessageChat,
	"edited_channel_post":       ruleMessageChat,
	"business_message":          ruleMessageChat,
	"edited_business_message":   ruleMessageChat,
	"guest_message":             ruleMessageChat,
	"deleted_business_messages": ruleChat,
	"message_reaction":          ruleChat,
	"message_reaction_count":    ruleChat,
	"my_chat_member":            ruleChat,
	"chat_member":               ruleChat,
	"chat_join_request":         ruleChat,
	"chat_boost":                ruleChat,
	"removed_chat_boost":        ruleChat,
	"callback_query":            ruleCallback,
	"poll_answer":               rulePollAnswer,
	"inline_query":              ruleFrom,
	"chosen_inline_result":      ruleFrom,
	"shipping_query":            ruleFrom,
	"pre_checkout_query":        ruleFrom,
	"purchased_paid_media":      ruleFrom,
	"business_connection":       ruleUser,
	"managed_bot":               ruleUser,
	"poll":                      ruleNone,
}

// businessKinds are keyed by business connection + chat: their chat id may
// equal the id of the bot's own private chat with the same person.
var businessKinds = map[string]bool{
	"business_message":          true,
	"edited_business_message":   true,
	"deleted_business_messages": true,
}

// ErrNotAnUpdate is returned by Map for JSON that is not an Update object.
var ErrNotAnUpdate = errors.New("not an update object")

// Mapper turns updates into events. BotUser is the raw JSON of the bot's own
// User (from getMe): the user of the bot scope.
type Mapper struct {
	BotUser json.RawMessage
	BotID   int64
}

// Map maps one update. Every update that is an object with an update_id maps
// to an event: unknown kinds included.
func (m *Mapper) Map(u Update) (Event, error) {
	return m.mapUpdate(u, true)
}

// Peek maps an update's scope and type only, without building the event
// object: what the spool queue needs to index an update.
func (m *Mapper) Peek(u Update) (Event, error) {
	return m.mapUpdate(u, false)
}

func (m *Mapper) mapUpdate(u Update, withEvent bool) (Event, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(u.Raw, &fields); err != nil {
		return Event{}, fmt.Errorf("update %d: %w: %v", u.ID, ErrNotAnUpdate, err)
	}
	field := ""
	for k := range fields {
		if k == "update_id" {
			continue
		}
		// Exactly one optional field is set in a real Update; should a newer
		// Bot API send more, the first in sorted order wins, deterministically.
		if field == "" || k < field {
			field = k
		}
	}
	if field == "" {
		field = "unknown"
	}
	obj := fields[field]
	var inner map[string]json.RawMessage
	if len(obj) > 0 && obj[0] == '{' {
		if err := json.Unmarshal(obj, &inner); err != nil {
			inner = nil
		}
	}
	ev := Event{UpdateID: u.ID, Field: field, Type: "telegram." + field, Raw: u.Raw}
	ev.Scope = m.scope(field, inner)
	if withEvent {
		ev.JSON = eventJSON(ev.Type, field, obj, inner)
	}
	return ev, nil
}

// eventJSON builds {"type":"telegram.<field>", ...inner}. A non-object
// payload (none exists in Bot API 10.1) is carried as "value".
func eventJSON(typ, field string, obj json.RawMessage, inner map[string]json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	b.Grow(len(obj) + len(typ) + 32)
	b.WriteString(`{"type":`)
	b.Write(jsonString(typ))
	if inner == nil {
		if len(obj) > 0 {
			b.WriteString(`,"value":`)
			b.Write(obj)
		}
		b.WriteByte('}')
		return b.Bytes()
	}
	keys := make([]string, 0, len(inner))
	for k := range inner {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		name := k
		if k == "type" {
			name = field + "_type"
		}
		kb, _ := json.Marshal(name)
		b.WriteByte(',')
		b.Write(kb)
		b.WriteByte(':')
		b.Write(inner[k])
	}
	b.WriteByte('}')
	return b.Bytes()
}

func (m *Mapper) scope(field string, obj map[string]json.RawMessage) ScopeRef {
	rule, known := kindRules[field]
	if !known {
		rule = ruleProbe
	}
	var chat, user json.RawMessage
	switch rule {
	case ruleChat, ruleMessageChat:
		chat = obj["chat"]
	case ruleFrom:
		user = obj["from"]
	case ruleUser:
		user = obj["user"]
	case ruleCallback:
		chat = nested(obj["message"], "chat")
		if chat == nil {
			user = obj["from"]
		}
	case rulePollAnswer:
		chat = obj["voter_chat"]
		if chat == nil {
			user = obj["user"]
		}
	case ruleProbe:
		chat = firstObject(obj["chat"], nested(obj["message"], "chat"), obj["voter_chat"])
		if chat == nil {
			user = firstObject(obj["from"], obj["user"])
		}
	}
	if id, ok := objectID(chat); ok {
		ref := ScopeRef{Kind: ScopeChat, ID: id, Key: "chat:" + strconv.FormatInt(id, 10)}
		conn := stringField(obj["business_connection_id"])
		switch {
		case businessKinds[field] || (conn != "" && !known):
			ref.BusinessConnectionID = conn
			ref.Key = "business:" + conn + ":" + strconv.FormatInt(id, 10)
		case field == "guest_message":
			ref.BusinessConnectionID = conn
			ref.Key = "guest:" + strconv.FormatInt(id, 10)
			if conn != "" {
				ref.Key = "guest:" + conn + ":" + strconv.FormatInt(id, 10)
			}
		}
		ref.JSON = scopeJSON("chat", chat, ref.BusinessConnectionID)
		return ref
	}
	if id, ok := objectID(user); ok {
		return ScopeRef{Kind: ScopeUser, ID: id, Key: "user:" + strconv.FormatInt(id, 10), JSON: scopeJSON("user", user, "")}
	}
	return ScopeRef{Kind: ScopeBot, ID: m.BotID, Key: "bot", JSON: scopeJSON("user", m.BotUser, "")}
}

func scopeJSON(key string, entity json.RawMessage, conn string) json.RawMessage {
	var b bytes.Buffer
	b.Grow(len(entity) + 64)
	b.WriteString(`{"type":"telegram","`)
	b.WriteString(key)
	b.WriteString(`":`)
	if len(entity) == 0 {
		b.WriteString("{}")
	} else {
		b.Write(entity)
	}
	if conn != "" {
		b.WriteString(`,"business_connection_id":`)
		b.Write(jsonString(conn))
	}
	b.WriteByte('}')
	return b.Bytes()
}

// nested returns obj[key] when obj is a JSON object.
func nested(obj json.RawMessage, key string) json.RawMessage {
	if len(obj) == 0 || obj[0] != '{' {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return nil
	}
	return m[key]
}

func firstObject(cands ...json.RawMessage) json.RawMessage {
	for _, c := range cands {
		if _, ok := objectID(c); ok {
			return c
		}
	}
	return nil
}

// objectID reads the integer "id" of a JSON object.
func objectID(obj json.RawMessage) (int64, bool) {
	if len(obj) == 0 || obj[0] != '{' {
		return 0, false
	}
	var v struct {
		ID *int64 `json:"id"`
	}
	if json.Unmarshal(obj, &v) != nil || v.ID == nil {
		return 0, false
	}
	return *v.ID, true
}

func stringField(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// jsonString encodes s as a JSON string (strconv.Quote's Go escapes such as
// \x7f are not JSON).
func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}
