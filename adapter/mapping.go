package adapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/asgigram/asgigram/internal/jsonscan"
	"github.com/asgigram/asgigram/telegram"
)

// Update is one update as fetched from getUpdates.
type Update struct {
	// ID is the update_id.
	ID int64
	// Epoch is the id space the update_id belongs to (see Position).
	Epoch uint32
	// Raw is the whole Update object as Telegram sent it.
	Raw json.RawMessage
}

// ParseUpdates reads the update_id of each raw update. An element that is
// not an object with an integer update_id cannot be confirmed or delivered
// and is returned in bad (it never comes from a real Bot API).
func ParseUpdates(raws []json.RawMessage) (ups []Update, bad []json.RawMessage) {
	ups = make([]Update, 0, len(raws))
	for _, raw := range raws {
		id, ok := intField(raw, "update_id")
		if !ok {
			bad = append(bad, raw)
			continue
		}
		ups = append(ups, Update{ID: id, Raw: raw})
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
	// Epoch is the update_id's id space (see Position).
	Epoch uint32
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
	var topBuf [8]jsonscan.Member
	top, err := updateMembers(topBuf[:0], u.Raw)
	if err != nil {
		return Event{}, fmt.Errorf("update %d: %w: %v", u.ID, ErrNotAnUpdate, err)
	}
	if rr := jsonscan.Last(top, replyResultField); rr != nil {
		return m.mapReplyResult(u, rr, withEvent)
	}
	field := ""
	for _, f := range top {
		k := string(f.Key) // no allocation: compared only
		if k == "update_id" || k == "" {
			continue // "" cannot name an event type
		}
		// Exactly one optional field is set in a real Update; should a newer
		// Bot API send more, the first in sorted order wins, deterministically.
		if field == "" || k < field {
			field = string(f.Key)
		}
	}
	if field == "" {
		field = "unknown"
	}
	obj := jsonscan.Last(top, field)
	var innerBuf [48]jsonscan.Member
	var inner []jsonscan.Member
	isObject := false
	if len(obj) > 0 && obj[0] == '{' {
		inner, isObject = objectMembers(innerBuf[:0], obj)
	}
	ev := Event{UpdateID: u.ID, Epoch: u.Epoch, Field: field, Type: "telegram." + field, Raw: u.Raw}
	ev.Scope = m.scope(field, inner)
	if withEvent {
		ev.JSON = eventJSON(ev.Type, field, obj, inner, isObject)
	}
	return ev, nil
}

// updateMembers returns the members of an update object. null has none (as
// encoding/json decodes it into a map); anything else that is not an object
// is an error.
func updateMembers(dst []jsonscan.Member, raw []byte) ([]jsonscan.Member, error) {
	if ms, ok := objectMembers(dst, raw); ok {
		return ms, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if m != nil {
		return nil, errors.New("not an object") // objectMembers reads every object
	}
	return nil, nil
}

// objectMembers returns the members of a JSON object. A lookup with
// jsonscan.Last finds what encoding/json's map decoding would keep: keys
// that need decoding (escapes, non-ASCII) are decoded by encoding/json, a
// path real updates never take.
func objectMembers(dst []jsonscan.Member, raw []byte) ([]jsonscan.Member, bool) {
	ms, ok := jsonscan.AppendMembers(dst, raw)
	if !ok {
		return nil, false
	}
	if jsonscan.AllPlain(ms) {
		return ms, true
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil, false
	}
	ms = ms[:0]
	for k, v := range m {
		ms = append(ms, jsonscan.Member{Key: []byte(k), Plain: false, Value: v})
	}
	return ms, true
}

// eventJSON builds {"type":"telegram.<field>", ...inner}, inner's keys in
// sorted order (a duplicate key once, its last value). A non-object payload
// (none exists in Bot API 10.1) is carried as "value".
func eventJSON(typ, field string, obj json.RawMessage, inner []jsonscan.Member, isObject bool) json.RawMessage {
	b := make([]byte, 0, len(obj)+len(typ)+len(field)+32)
	b = append(b, `{"type":`...)
	b = append(b, jsonString(typ)...)
	if !isObject {
		if len(obj) > 0 {
			b = append(b, `,"value":`...)
			b = append(b, obj...)
		}
		return append(b, '}')
	}
	slices.SortStableFunc(inner, func(x, y jsonscan.Member) int { return bytes.Compare(x.Key, y.Key) })
	for i, f := range inner {
		if i+1 < len(inner) && bytes.Equal(inner[i+1].Key, f.Key) {
			continue // a later duplicate wins
		}
		b = append(b, ',')
		switch {
		case string(f.Key) == "type":
			b = append(b, jsonString(field+"_type")...)
		case f.Plain:
			b = append(b, '"')
			b = append(b, f.Key...)
			b = append(b, '"')
		default:
			b = append(b, jsonString(string(f.Key))...)
		}
		b = append(b, ':')
		b = append(b, f.Value...)
	}
	return append(b, '}')
}

func (m *Mapper) scope(field string, obj []jsonscan.Member) ScopeRef {
	// The catalogue's scope rule; kinds it does not list (a newer Bot API)
	// have the zero rule, ScopeByProbe.
	kind, known := telegram.LookupUpdateKind(field)
	get := func(key string) json.RawMessage { return jsonscan.Last(obj, key) }
	var chat, user json.RawMessage
	switch kind.Scope {
	case telegram.ScopeByChat, telegram.ScopeByMessageChat:
		chat = get("chat")
	case telegram.ScopeByFrom:
		user = get("from")
	case telegram.ScopeByUser:
		user = get("user")
	case telegram.ScopeByCallback:
		chat = nested(get("message"), "chat")
		if chat == nil {
			user = get("from")
		}
	case telegram.ScopeByPollAnswer:
		chat = get("voter_chat")
		if chat == nil {
			user = get("user")
		}
	case telegram.ScopeByProbe:
		chat = firstObject(get("chat"), nested(get("message"), "chat"), get("voter_chat"))
		if chat == nil {
			user = firstObject(get("from"), get("user"))
		}
	}
	if id, ok := objectID(chat); ok {
		ref := ScopeRef{Kind: ScopeChat, ID: id, Key: "chat:" + strconv.FormatInt(id, 10)}
		conn := stringField(get("business_connection_id"))
		// A kind not listed that names a business connection is taken for
		// a business kind.
		switch {
		case kind.Keying == telegram.KeyByBusinessChat || (conn != "" && !known):
			ref.BusinessConnectionID = conn
			ref.Key = "business:" + conn + ":" + strconv.FormatInt(id, 10)
		case kind.Keying == telegram.KeyByGuestChat:
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
	var buf [32]jsonscan.Member
	ms, ok := objectMembers(buf[:0], obj)
	if !ok {
		return nil
	}
	return jsonscan.Last(ms, key)
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
	return intField(obj, "id")
}

// intField reads the integer member name ("id" or "update_id") of the JSON
// object raw as encoding/json decodes it into a *int64 struct field: keys
// matched without regard to case, the last one winning (null clears it), and
// a value that is not an integer fitting int64 failing the whole object.
func intField(raw []byte, name string) (int64, bool) {
	var buf [32]jsonscan.Member
	ms, ok := jsonscan.AppendMembers(buf[:0], raw)
	if !ok {
		return 0, false
	}
	if !jsonscan.AllPlain(ms) {
		return intFieldDecoded(raw, name)
	}
	var id int64
	set := false
	for _, f := range ms {
		if !strings.EqualFold(string(f.Key), name) {
			continue
		}
		if string(f.Value) == "null" {
			set = false
			continue
		}
		n, err := strconv.ParseInt(string(f.Value), 10, 64)
		if err != nil {
			return 0, false
		}
		id, set = n, true
	}
	return id, set
}

// intFieldDecoded is intField by encoding/json itself, for keys that need
// decoding.
func intFieldDecoded(raw []byte, name string) (int64, bool) {
	var id *int64
	if name == "update_id" {
		var v struct {
			UpdateID *int64 `json:"update_id"`
		}
		if json.Unmarshal(raw, &v) != nil {
			return 0, false
		}
		id = v.UpdateID
	} else {
		var v struct {
			ID *int64 `json:"id"`
		}
		if json.Unmarshal(raw, &v) != nil {
			return 0, false
		}
		id = v.ID
	}
	if id == nil {
		return 0, false
	}
	return *id, true
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
