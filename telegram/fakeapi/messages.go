package fakeapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/asgigram/asgigram/telegram"
)

// Limits of the real server.
const (
	maxTextLength    = 4096
	maxCaptionLength = 1024
)

const notModified = "message is not modified: specified new message content and reply markup of the message are exactly the same as a current content and reply markup of the message"

const queryInvalid = "query is too old and response timeout expired or query ID is invalid"

// chatState is what the server knows of one chat.
type chatState struct {
	chat json.RawMessage // the Chat object
	next int64           // the next message_id
	msgs map[int64]*storedMessage
}

// storedMessage is a message of a chat, as a Message object's fields.
type storedMessage struct {
	fields map[string]json.RawMessage
	bot    bool // sent by the bot
}

func (m *storedMessage) set(key string, v any) { m.fields[key] = mustMarshal(v) }

func (m *storedMessage) json() json.RawMessage { return mustMarshal(m.fields) }

// chatLocked returns the state of chat id, creating it when needed.
func (s *Bot) chatLocked(id int64) *chatState {
	cs, ok := s.chats[id]
	if !ok {
		typ := "private"
		if id < 0 {
			typ = "supergroup"
		}
		cs = &chatState{
			chat: mustMarshal(map[string]any{"id": id, "type": typ}),
			next: 1,
			msgs: make(map[int64]*storedMessage),
		}
		s.chats[id] = cs
	}
	return cs
}

// ResolveChat returns the chat id the server uses for the public chat
// @username (given with or without the @; case-insensitive). Unknown
// usernames get a stable negative id on first use, so a bot may send to
// "@channel" and tests can then find the messages with Messages.
func (s *Bot) ResolveChat(username string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usernameChatLocked(username)
}

func (s *Bot) usernameChatLocked(username string) int64 {
	name := strings.ToLower(strings.TrimPrefix(username, "@"))
	if id, ok := s.usernames[name]; ok {
		return id
	}
	id := -(1001000000000 + int64(len(s.usernames)) + 1)
	s.usernames[name] = id
	cs := s.chatLocked(id)
	cs.chat = mustMarshal(map[string]any{"id": id, "type": "supergroup", "username": strings.TrimPrefix(username, "@")})
	return id
}

// ForbidChat makes every later call addressed to chatID (sending, editing,
// deleting, chat actions, ...) fail with code and description, e.g. 403
// "Forbidden: bot was blocked by the user". A code of 0 lifts the ban.
func (s *Bot) ForbidChat(chatID int64, code int, description string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == 0 {
		delete(s.chatErrors, chatID)
		return
	}
	if description == "" {
		description = defaultDescription(code, 0)
	}
	s.chatErrors[chatID] = apiError{Code: code, Description: description}
}

// MigrateChat makes every later call addressed to the group chatID fail as
// after the group was upgraded to the supergroup newChatID: 400 "Bad
// Request: group chat was upgraded to a supergroup chat" with
// parameters.migrate_to_chat_id.
func (s *Bot) MigrateChat(chatID, newChatID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chatErrors[chatID] = apiError{
		Code:            http.StatusBadRequest,
		Description:     "Bad Request: group chat was upgraded to a supergroup chat",
		MigrateToChatID: newChatID,
	}
}

// Messages returns the messages the bot sent into chatID (by send*, copy*
// and forward* methods) that were not deleted, in message_id order, each as
// the Message object with edits applied.
func (s *Bot) Messages(chatID int64) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.chats[chatID]
	if !ok {
		return nil
	}
	ids := make([]int64, 0, len(cs.msgs))
	for id, m := range cs.msgs {
		if m.bot {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := make([]json.RawMessage, len(ids))
	for i, id := range ids {
		out[i] = cs.msgs[id].json()
	}
	return out
}

// learn records what an incoming update tells about chats, messages and
// queries. s.mu must be held.
func (s *Bot) learn(kind string, payload json.RawMessage) {
	switch kind {
	case "message", "edited_message", "channel_post", "edited_channel_post":
		s.learnMessage(payload, true)
	case "callback_query":
		var q struct {
			ID      string          `json:"id"`
			Message json.RawMessage `json:"message"`
		}
		if json.Unmarshal(payload, &q) == nil {
			s.callbacks[q.ID] = time.Now()
			if q.Message != nil {
				s.learnMessage(q.Message, false)
			}
		}
	case "inline_query", "shipping_query", "pre_checkout_query":
		var q struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(payload, &q) == nil {
			s.queries[kind+":"+q.ID] = true
		}
	}
}

// learnMessage stores an incoming message. With replace false, a message
// already known is left alone.
func (s *Bot) learnMessage(payload json.RawMessage, replace bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(payload, &fields) != nil {
		return
	}
	var head struct {
		MessageID int64 `json:"message_id"`
		Date      int64 `json:"date"`
		Chat      *struct {
			ID int64 `json:"id"`
		} `json:"chat"`
		From *struct {
			ID int64 `json:"id"`
		} `json:"from"`
	}
	if json.Unmarshal(payload, &head) != nil || head.Chat == nil || head.Chat.ID == 0 || head.MessageID == 0 {
		return
	}
	cs := s.chatLocked(head.Chat.ID)
	cs.chat = append(json.RawMessage(nil), fields["chat"]...)
	if head.MessageID >= cs.next {
		cs.next = head.MessageID + 1
	}
	if head.Date == 0 {
		return // an InaccessibleMessage
	}
	if _, ok := cs.msgs[head.MessageID]; ok && !replace {
		return
	}
	cs.msgs[head.MessageID] = &storedMessage{
		fields: fields,
		bot:    head.From != nil && head.From.ID == s.user.ID,
	}
}

// resolveChatLocked reads a chat id parameter: an integer or "@username".
func (s *Bot) resolveChatLocked(p params, name string) (int64, *apiError) {
	v := strings.TrimSpace(p.str(name))
	if v == "" {
		return 0, badRequest(name + " is empty")
	}
	return s.chatIDLocked(v)
}

func (s *Bot) chatIDLocked(v string) (int64, *apiError) {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "@") {
		if len(v) == 1 {
			return 0, badRequest("chat not found")
		}
		return s.usernameChatLocked(v), nil
	}
	id, ok := telegram.ParseChatID(v)
	if !ok || id == 0 {
		return 0, badRequest("chat not found")
	}
	return id, nil
}

// chatErrorLocked returns the error set with ForbidChat or MigrateChat.
func (s *Bot) chatErrorLocked(chatID int64) *apiError {
	if e, ok := s.chatErrors[chatID]; ok {
		return &e
	}
	return nil
}

// targetChatLocked resolves the chat_id parameter and applies ForbidChat.
func (s *Bot) targetChatLocked(p params) (int64, *apiError) {
	id, e := s.resolveChatLocked(p, "chat_id")
	if e != nil {
		return 0, e
	}
	if e := s.chatErrorLocked(id); e != nil {
		return 0, e
	}
	return id, nil
}

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

func checkParseMode(p params) *apiError {
	switch p.str("parse_mode") {
	case "", "HTML", "html", "Markdown", "markdown", "MarkdownV2", "markdownv2":
		return nil
	}
	return badRequest("unsupported parse_mode")
}

// inlineMarkup reads reply_markup. It returns the markup to keep in the
// Message: only inline keyboards are part of a Message.
func inlineMarkup(p params) (json.RawMessage, *apiError) {
	raw, ok := p.json("reply_markup")
	if !ok {
		return nil, badRequest("can't parse reply keyboard markup JSON object")
	}
	if raw == nil {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil, badRequest("can't parse reply keyboard markup JSON object")
	}
	kb, ok := m["inline_keyboard"]
	if !ok {
		return nil, nil
	}
	var rows [][]json.RawMessage
	if json.Unmarshal(kb, &rows) != nil {
		return nil, badRequest("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return canonical(raw), nil
}

// entitiesParam reads an entities parameter (entities, caption_entities).
func entitiesParam(p params, name string) (json.RawMessage, *apiError) {
	raw, ok := p.json(name)
	if !ok {
		return nil, badRequest("can't parse entities JSON object")
	}
	if raw == nil {
		return nil, nil
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil, badRequest("can't parse entities JSON object")
	}
	if len(list) == 0 {
		return nil, nil
	}
	return canonical(raw), nil
}

// canonical re-encodes JSON so equal values compare equal.
func canonical(raw json.RawMessage) json.RawMessage {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	return mustMarshal(v)
}

func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	return bytes.Equal(canonical(a), canonical(b))
}

// replyLocked resolves reply_parameters or reply_to_message_id into the
// reply_to_message of a new message in cs, or nil for no reply.
func (s *Bot) replyLocked(chatID int64, cs *chatState, p params) (json.RawMessage, *apiError) {
	allow := p.bool("allow_sending_without_reply")
	var id int64
	rp, ok := p.json("reply_parameters")
	switch {
	case !ok:
		return nil, badRequest("can't parse reply parameters JSON object")
	case rp != nil:
		var r struct {
			MessageID int64           `json:"message_id"`
			ChatID    json.RawMessage `json:"chat_id"`
			Allow     bool            `json:"allow_sending_without_reply"`
		}
		if json.Unmarshal(rp, &r) != nil {
			return nil, badRequest("can't parse reply parameters JSON object")
		}
		if len(r.ChatID) > 0 {
			other, e := s.chatIDLocked(params{"chat_id": r.ChatID}.str("chat_id"))
			if e != nil {
				return nil, e
			}
			if other != chatID {
				return nil, nil // a reply into another chat; not modelled
			}
		}
		id, allow = r.MessageID, allow || r.Allow
	default:
		id = p.int("reply_to_message_id")
	}
	if id == 0 {
		return nil, nil
	}
	m, ok := cs.msgs[id]
	if !ok {
		if allow {
			return nil, nil
		}
		return nil, badRequest("message to be replied not found")
	}
	fields := make(map[string]json.RawMessage, len(m.fields))
	for k, v := range m.fields {
		if k != "reply_to_message" {
			fields[k] = v
		}
	}
	return mustMarshal(fields), nil
}

// newMessageLocked builds a message from the bot into chatID with the
// common parameters (reply, thread, reply_markup) applied. It allocates the
// message id only when everything is valid, so it must come last.
func (s *Bot) newMessageLocked(chatID int64, p params, markup json.RawMessage) (*chatState, *storedMessage, *apiError) {
	cs := s.chatLocked(chatID)
	reply, e := s.replyLocked(chatID, cs, p)
	if e != nil {
		return nil, nil, e
	}
	m := &storedMessage{fields: make(map[string]json.RawMessage), bot: true}
	id := cs.next
	cs.next++
	m.set("message_id", id)
	m.set("from", s.user)
	m.fields["chat"] = cs.chat
	m.set("date", time.Now().Unix())
	if p.has("message_thread_id") {
		m.set("message_thread_id", p.int("message_thread_id"))
	}
	if bc := p.str("business_connection_id"); bc != "" {
		m.set("business_connection_id", bc)
	}
	if reply != nil {
		m.fields["reply_to_message"] = reply
	}
	if markup != nil {
		m.fields["reply_markup"] = markup
	}
	cs.msgs[id] = m
	return cs, m, nil
}

// sendLocked makes the message a send* call adds to chatID, once its
// content is valid: it reads reply_markup and applies ForbidChat first.
func (s *Bot) sendLocked(chatID int64, p params) (*storedMessage, *apiError) {
	markup, e := inlineMarkup(p)
	if e != nil {
		return nil, e
	}
	if e := s.chatErrorLocked(chatID); e != nil {
		return nil, e
	}
	_, m, e := s.newMessageLocked(chatID, p, markup)
	return m, e
}

// sendMessage implements sendMessage.
func (s *Bot) sendMessage(p params) (any, *apiError) {
	chatID, e := s.resolveChatLocked(p, "chat_id")
	if e != nil {
		return nil, e
	}
	text, entities, e := textParams(p)
	if e != nil {
		return nil, e
	}
	m, e := s.sendLocked(chatID, p)
	if e != nil {
		return nil, e
	}
	m.set("text", text)
	if entities != nil {
		m.fields["entities"] = entities
	}
	return m.json(), nil
}

// mediaFields maps send methods of files to their parameter, which is also
// the Message field that holds the file.
var mediaFields = map[string]string{
	"sendPhoto":     "photo",
	"sendAudio":     "audio",
	"sendDocument":  "document",
	"sendVideo":     "video",
	"sendAnimation": "animation",
	"sendVoice":     "voice",
	"sendVideoNote": "video_note",
	"sendSticker":   "sticker",
}

// fileObjectLocked makes the Message field for a file sent as kind.
func (s *Bot) fileObjectLocked(kind string, v json.RawMessage) any {
	sf := s.sentFileLocked(kind, v)
	f := map[string]any{
		"file_id":        sf.id,
		"file_unique_id": sf.uniqueID,
	}
	if sf.size > 0 {
		f["file_size"] = sf.size
	}
	fileName := sf.name
	switch kind {
	case "photo":
		f["width"], f["height"] = 90, 90
		return []any{f}
	case "video", "animation":
		f["width"], f["height"], f["duration"] = 640, 360, 1
	case "audio", "voice":
		f["duration"] = 1
	case "video_note":
		f["length"], f["duration"] = 240, 1
	case "sticker":
		f["type"], f["width"], f["height"], f["is_animated"], f["is_video"] = "regular", 512, 512, false, false
	}
	if fileName != "" && kind != "sticker" && kind != "voice" && kind != "video_note" {
		f["file_name"] = fileName
	}
	return f
}

// textParams reads and validates text and entities.
func textParams(p params) (string, json.RawMessage, *apiError) {
	text := p.str("text")
	if strings.TrimSpace(text) == "" {
		return "", nil, badRequest("message text is empty")
	}
	if utf16Len(text) > maxTextLength {
		return "", nil, badRequest("message is too long")
	}
	if e := checkParseMode(p); e != nil {
		return "", nil, e
	}
	entities, e := entitiesParam(p, "entities")
	return text, entities, e
}

// captionParams reads and validates caption and caption_entities.
func captionParams(p params) (string, json.RawMessage, *apiError) {
	caption := p.str("caption")
	if utf16Len(caption) > maxCaptionLength {
		return "", nil, badRequest("message caption is too long")
	}
	if e := checkParseMode(p); e != nil {
		return "", nil, e
	}
	entities, e := entitiesParam(p, "caption_entities")
	return caption, entities, e
}

func setCaption(m *storedMessage, caption string, entities json.RawMessage) {
	delete(m.fields, "caption")
	delete(m.fields, "caption_entities")
	if caption != "" {
		m.set("caption", caption)
		if entities != nil {
			m.fields["caption_entities"] = entities
		}
	}
}

// sendOther implements the send* methods other than sendMessage and
// sendMediaGroup: files, locations, polls, ... The message carries the
// caption and a fake object for the content.
func (s *Bot) sendOther(method string, p params) (any, *apiError) {
	chatID, e := s.resolveChatLocked(p, "chat_id")
	if e != nil {
		return nil, e
	}
	field, isFile := mediaFields[method]
	if isFile && !p.has(field) {
		return nil, badRequest("there is no " + field + " in the request")
	}
	caption, capEntities, e := captionParams(p)
	if e != nil {
		return nil, e
	}
	m, e := s.sendLocked(chatID, p)
	if e != nil {
		return nil, e
	}
	switch {
	case isFile:
		m.set(field, s.fileObjectLocked(field, p[field]))
	case method == "sendLocation":
		m.set("location", map[string]any{"latitude": jsonNumber(p, "latitude"), "longitude": jsonNumber(p, "longitude")})
	case method == "sendVenue":
		loc := map[string]any{"latitude": jsonNumber(p, "latitude"), "longitude": jsonNumber(p, "longitude")}
		m.set("venue", map[string]any{"location": loc, "title": p.str("title"), "address": p.str("address")})
	case method == "sendContact":
		m.set("contact", map[string]any{"phone_number": p.str("phone_number"), "first_name": p.str("first_name")})
	case method == "sendDice":
		emoji := p.str("emoji")
		if emoji == "" {
			emoji = "🎲"
		}
		m.set("dice", map[string]any{"emoji": emoji, "value": 1})
	case method == "sendPoll":
		s.fileSeq++
		m.set("poll", map[string]any{
			"id":                      "fake-poll-" + strconv.FormatInt(s.fileSeq, 10),
			"question":                p.str("question"),
			"options":                 pollOptions(p),
			"total_voter_count":       0,
			"is_closed":               false,
			"is_anonymous":            !p.has("is_anonymous") || p.bool("is_anonymous"),
			"type":                    "regular",
			"allows_multiple_answers": p.bool("allows_multiple_answers"),
		})
	}
	setCaption(m, caption, capEntities)
	return m.json(), nil
}

func jsonNumber(p params, name string) json.RawMessage {
	var f float64
	if json.Unmarshal([]byte(p.str(name)), &f) != nil {
		return json.RawMessage("0")
	}
	return mustMarshal(f)
}

func pollOptions(p params) []any {
	raw, _ := p.json("options")
	var opts []json.RawMessage
	_ = json.Unmarshal(raw, &opts)
	out := []any{}
	for _, o := range opts {
		text := params{"o": o}.str("o")
		var obj struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(o, &obj) == nil {
			text = obj.Text
		}
		out = append(out, map[string]any{"text": text, "voter_count": 0})
	}
	return out
}

// sendMediaGroup implements sendMediaGroup: it answers an array of Messages.
func (s *Bot) sendMediaGroup(p params) (any, *apiError) {
	chatID, e := s.resolveChatLocked(p, "chat_id")
	if e != nil {
		return nil, e
	}
	raw, ok := p.json("media")
	if !ok || raw == nil {
		return nil, badRequest(`parameter "media" is required`)
	}
	var media []struct {
		Type            string          `json:"type"`
		Media           json.RawMessage `json:"media"`
		Caption         string          `json:"caption"`
		CaptionEntities json.RawMessage `json:"caption_entities"`
	}
	if json.Unmarshal(raw, &media) != nil {
		return nil, badRequest("can't parse media JSON object")
	}
	if len(media) < 2 || len(media) > 10 {
		return nil, badRequest("wrong number of media in the group")
	}
	for _, md := range media {
		switch md.Type {
		case "photo", "video", "audio", "document":
		default:
			return nil, badRequest("can't parse InputMedia: unsupported media type \"" + md.Type + "\"")
		}
		if utf16Len(md.Caption) > maxCaptionLength {
			return nil, badRequest("message caption is too long")
		}
	}
	if e := s.chatErrorLocked(chatID); e != nil {
		return nil, e
	}
	s.mediaGroupID++
	group := strconv.FormatInt(1300000000000000000+s.mediaGroupID, 10)
	out := make([]json.RawMessage, 0, len(media))
	for i, md := range media {
		_, m, e := s.newMessageLocked(chatID, p, nil)
		if e != nil {
			if i == 0 {
				return nil, e
			}
			break
		}
		m.set(md.Type, s.fileObjectLocked(md.Type, md.Media))
		m.set("media_group_id", group)
		var ents json.RawMessage
		if len(md.CaptionEntities) > 0 && string(md.CaptionEntities) != "null" {
			ents = canonical(md.CaptionEntities)
		}
		setCaption(m, md.Caption, ents)
		out = append(out, m.json())
	}
	return out, nil
}

// metaFields are Message fields that describe a message rather than its
// content; copies and forwards do not take them over.
var metaFields = map[string]bool{
	"message_id": true, "message_thread_id": true, "direct_messages_topic": true,
	"from": true, "sender_chat": true, "sender_boost_count": true,
	"sender_business_bot": true, "date": true, "business_connection_id": true,
	"chat": true, "forward_origin": true, "is_topic_message": true,
	"is_automatic_forward": true, "reply_to_message": true, "external_reply": true,
	"quote": true, "reply_to_story": true, "reply_to_checklist_task_id": true,
	"via_bot": true, "edit_date": true, "has_protected_content": true,
	"is_from_offline": true, "is_paid_post": true, "media_group_id": true,
	"author_signature": true, "reply_markup": true, "effect_id": true,
	"paid_star_count": true,
}

// sourceLocked finds the message to copy or forward.
func (s *Bot) sourceLocked(p params, msgID int64, what string) (*storedMessage, *apiError) {
	from, e := s.resolveChatLocked(p, "from_chat_id")
	if e != nil {
		return nil, e
	}
	if cs, ok := s.chats[from]; ok {
		if m, ok := cs.msgs[msgID]; ok {
			return m, nil
		}
	}
	return nil, badRequest("message to " + what + " not found")
}

// copyLocked copies or forwards src into chatID.
func (s *Bot) copyLocked(chatID int64, src *storedMessage, p params, forward bool) (*storedMessage, *apiError) {
	var markup json.RawMessage
	caption, capEntities := "", json.RawMessage(nil)
	if !forward {
		var e *apiError
		if markup, e = inlineMarkup(p); e != nil {
			return nil, e
		}
		if p.has("caption") {
			if caption, capEntities, e = captionParams(p); e != nil {
				return nil, e
			}
		}
	}
	_, m, e := s.newMessageLocked(chatID, p, markup)
	if e != nil {
		return nil, e
	}
	for k, v := range src.fields {
		if !metaFields[k] {
			m.fields[k] = v
		}
	}
	if p.has("caption") && !forward {
		setCaption(m, caption, capEntities)
	}
	if forward {
		origin := map[string]any{"date": src.fields["date"]}
		if from, ok := src.fields["from"]; ok {
			origin["type"], origin["sender_user"] = "user", from
		} else {
			origin["type"], origin["chat"] = "channel", src.fields["chat"]
			origin["message_id"] = src.fields["message_id"]
		}
		m.set("forward_origin", origin)
	}
	return m, nil
}

// copyVerb names the operation in error descriptions.
func copyVerb(forward bool) string {
	if forward {
		return "forward"
	}
	return "copy"
}

// messageIDResult is the MessageId object.
type messageIDResult struct {
	MessageID int64 `json:"message_id"`
}

func messageIDOf(m *storedMessage) messageIDResult {
	return messageIDResult{MessageID: leadingInt(string(m.fields["message_id"]))}
}

// copyOrForward implements copyMessage and forwardMessage.
func (s *Bot) copyOrForward(p params, forward bool) (any, *apiError) {
	chatID, e := s.resolveChatLocked(p, "chat_id")
	if e != nil {
		return nil, e
	}
	if !p.has("message_id") {
		return nil, badRequest("message identifier is not specified")
	}
	what := copyVerb(forward)
	src, e := s.sourceLocked(p, p.int("message_id"), what)
	if e != nil {
		return nil, e
	}
	if e := s.chatErrorLocked(chatID); e != nil {
		return nil, e
	}
	m, e := s.copyLocked(chatID, src, p, forward)
	if e != nil {
		return nil, e
	}
	if forward {
		return m.json(), nil
	}
	return messageIDOf(m), nil
}

// copyOrForwardMany implements copyMessages and forwardMessages. Messages
// that cannot be found are skipped, as on the real server.
func (s *Bot) copyOrForwardMany(p params, forward bool) (any, *apiError) {
	chatID, e := s.resolveChatLocked(p, "chat_id")
	if e != nil {
		return nil, e
	}
	raw, ok := p.json("message_ids")
	var ids []int64
	if !ok || raw == nil || json.Unmarshal(raw, &ids) != nil || len(ids) == 0 {
		return nil, badRequest("message identifiers are not specified")
	}
	if _, e := s.resolveChatLocked(p, "from_chat_id"); e != nil {
		return nil, e
	}
	if e := s.chatErrorLocked(chatID); e != nil {
		return nil, e
	}
	what := copyVerb(forward)
	out := []messageIDResult{}
	for _, id := range ids {
		src, e := s.sourceLocked(p, id, what)
		if e != nil {
			continue
		}
		m, e := s.copyLocked(chatID, src, params{}, forward)
		if e != nil {
			return nil, e
		}
		out = append(out, messageIDOf(m))
	}
	if len(out) == 0 {
		return nil, badRequest("messages to " + what + " not found")
	}
	return out, nil
}

// editTargetLocked finds the message an edit* call addresses. It returns
// nil and no error for an inline message.
func (s *Bot) editTargetLocked(p params) (*storedMessage, *apiError) {
	if p.str("inline_message_id") != "" {
		return nil, nil
	}
	chatID, e := s.resolveChatLocked(p, "chat_id")
	if e != nil {
		return nil, e
	}
	if !p.has("message_id") {
		return nil, badRequest("message identifier is not specified")
	}
	if e := s.chatErrorLocked(chatID); e != nil {
		return nil, e
	}
	cs := s.chatLocked(chatID)
	m, ok := cs.msgs[p.int("message_id")]
	if !ok {
		return nil, badRequest("message to edit not found")
	}
	if !m.bot {
		return nil, badRequest("message can't be edited")
	}
	return m, nil
}

func setOrDelete(m *storedMessage, key string, v json.RawMessage) {
	if v == nil {
		delete(m.fields, key)
		return
	}
	m.fields[key] = v
}

// finishEdit completes an edit of m: it sets the new reply_markup and
// edit_date and answers the edited Message.
func finishEdit(m *storedMessage, markup json.RawMessage) (any, *apiError) {
	setOrDelete(m, "reply_markup", markup)
	m.set("edit_date", time.Now().Unix())
	return m.json(), nil
}

// editMessageText implements editMessageText.
func (s *Bot) editMessageText(p params) (any, *apiError) {
	text, entities, e := textParams(p)
	if e != nil {
		return nil, e
	}
	markup, e := inlineMarkup(p)
	if e != nil {
		return nil, e
	}
	m, e := s.editTargetLocked(p)
	if e != nil || m == nil {
		return m == nil && e == nil, e
	}
	old, ok := m.fields["text"]
	if !ok {
		return nil, badRequest("there is no text in the message to edit")
	}
	if string(old) == string(mustMarshal(text)) && sameJSON(entities, m.fields["entities"]) && sameJSON(markup, m.fields["reply_markup"]) {
		return nil, badRequest(notModified)
	}
	m.set("text", text)
	setOrDelete(m, "entities", entities)
	return finishEdit(m, markup)
}

// editMessageCaption implements editMessageCaption.
func (s *Bot) editMessageCaption(p params) (any, *apiError) {
	caption, capEntities, e := captionParams(p)
	if e != nil {
		return nil, e
	}
	markup, e := inlineMarkup(p)
	if e != nil {
		return nil, e
	}
	m, e := s.editTargetLocked(p)
	if e != nil || m == nil {
		return m == nil && e == nil, e
	}
	if _, ok := m.fields["text"]; ok {
		return nil, badRequest("there is no caption in the message to edit")
	}
	oldCaption := ""
	if c, ok := m.fields["caption"]; ok {
		_ = json.Unmarshal(c, &oldCaption)
	}
	if caption == oldCaption && sameJSON(capEntities, m.fields["caption_entities"]) && sameJSON(markup, m.fields["reply_markup"]) {
		return nil, badRequest(notModified)
	}
	setCaption(m, caption, capEntities)
	return finishEdit(m, markup)
}

// editMessageReplyMarkup implements editMessageReplyMarkup.
func (s *Bot) editMessageReplyMarkup(p params) (any, *apiError) {
	markup, e := inlineMarkup(p)
	if e != nil {
		return nil, e
	}
	m, e := s.editTargetLocked(p)
	if e != nil || m == nil {
		return m == nil && e == nil, e
	}
	if sameJSON(markup, m.fields["reply_markup"]) {
		return nil, badRequest(notModified)
	}
	return finishEdit(m, markup)
}

// deleteMessage implements deleteMessage.
func (s *Bot) deleteMessage(p params) (any, *apiError) {
	chatID, e := s.targetChatLocked(p)
	if e != nil {
		return nil, e
	}
	if !p.has("message_id") {
		return nil, badRequest("message identifier is not specified")
	}
	cs := s.chatLocked(chatID)
	id := p.int("message_id")
	if _, ok := cs.msgs[id]; !ok {
		return nil, badRequest("message to delete not found")
	}
	delete(cs.msgs, id)
	return true, nil
}

// deleteMessages implements deleteMessages; unknown ids are skipped.
func (s *Bot) deleteMessages(p params) (any, *apiError) {
	chatID, e := s.targetChatLocked(p)
	if e != nil {
		return nil, e
	}
	raw, ok := p.json("message_ids")
	var ids []int64
	if !ok || raw == nil || json.Unmarshal(raw, &ids) != nil || len(ids) == 0 {
		return nil, badRequest("message identifiers are not specified")
	}
	cs := s.chatLocked(chatID)
	for _, id := range ids {
		delete(cs.msgs, id)
	}
	return true, nil
}

// answerQuery implements the answer*Query methods: the query must have
// arrived in an update.
func (s *Bot) answerQuery(kind, param string, p params) (any, *apiError) {
	if !s.queries[kind+":"+p.str(param)] {
		return nil, badRequest(queryInvalid)
	}
	return true, nil
}

// answerCallback implements answerCallbackQuery: as on the real server, a
// callback query is answered once, and not after Config.QueryTimeout.
func (s *Bot) answerCallback(p params) (any, *apiError) {
	id := p.str("callback_query_id")
	at, ok := s.callbacks[id]
	if !ok {
		return nil, badRequest(queryInvalid)
	}
	delete(s.callbacks, id)
	if d := s.srv.cfg.QueryTimeout; d > 0 && time.Since(at) > d {
		return nil, badRequest(queryInvalid)
	}
	return true, nil
}

// sendChatAction implements sendChatAction.
func (s *Bot) sendChatAction(p params) (any, *apiError) {
	if _, e := s.targetChatLocked(p); e != nil {
		return nil, e
	}
	if p.str("action") == "" {
		return nil, badRequest(`parameter "action" is required`)
	}
	return true, nil
}

// genericMethod answers the known methods the fake does not model: true,
// after applying ForbidChat to a chat_id parameter. Unmodelled send*
// methods (sendInvoice, sendGame, ...) answer a bare Message instead.
func (s *Bot) genericMethod(method string, p params) (any, *apiError) {
	if strings.HasPrefix(method, "send") && !noMessageSends[method] && !strings.HasSuffix(method, "Draft") {
		return s.sendOther(method, p)
	}
	if p.has("chat_id") {
		if _, e := s.targetChatLocked(p); e != nil {
			return nil, e
		}
	}
	return true, nil
}

// noMessageSends are send* methods that answer true, not a Message.
var noMessageSends = map[string]bool{
	"sendChatAction":   true,
	"sendMessageDraft": true,
	"sendGift":         true,
	// Not a message either, whatever it answers.
	"sendChatJoinRequestWebApp": true,
}

// handler handles one method; s.mu is held.
type handler func(s *Bot, p params) (any, *apiError)

var handlers = map[string]handler{
	"getMe":                  func(s *Bot, _ params) (any, *apiError) { return s.user, nil },
	"setWebhook":             (*Bot).setWebhookMethod,
	"deleteWebhook":          (*Bot).deleteWebhookMethod,
	"getWebhookInfo":         (*Bot).getWebhookInfoMethod,
	"sendMessage":            (*Bot).sendMessage,
	"sendMediaGroup":         (*Bot).sendMediaGroup,
	"sendChatAction":         (*Bot).sendChatAction,
	"editMessageText":        (*Bot).editMessageText,
	"editMessageCaption":     (*Bot).editMessageCaption,
	"editMessageReplyMarkup": (*Bot).editMessageReplyMarkup,
	"deleteMessage":          (*Bot).deleteMessage,
	"deleteMessages":         (*Bot).deleteMessages,
	"copyMessage":            func(s *Bot, p params) (any, *apiError) { return s.copyOrForward(p, false) },
	"forwardMessage":         func(s *Bot, p params) (any, *apiError) { return s.copyOrForward(p, true) },
	"copyMessages":           func(s *Bot, p params) (any, *apiError) { return s.copyOrForwardMany(p, false) },
	"forwardMessages":        func(s *Bot, p params) (any, *apiError) { return s.copyOrForwardMany(p, true) },
	"answerCallbackQuery": func(s *Bot, p params) (any, *apiError) {
		return s.answerCallback(p)
	},
	"answerInlineQuery": func(s *Bot, p params) (any, *apiError) {
		return s.answerQuery("inline_query", "inline_query_id", p)
	},
	"answerShippingQuery": func(s *Bot, p params) (any, *apiError) {
		return s.answerQuery("shipping_query", "shipping_query_id", p)
	},
	"answerPreCheckoutQuery": func(s *Bot, p params) (any, *apiError) {
		return s.answerQuery("pre_checkout_query", "pre_checkout_query_id", p)
	},
}

func init() {
	for method := range mediaFields {
		handlers[method] = func(s *Bot, p params) (any, *apiError) { return s.sendOther(method, p) }
	}
	for _, method := range []string{"sendLocation", "sendVenue", "sendContact", "sendDice", "sendPoll"} {
		handlers[method] = func(s *Bot, p params) (any, *apiError) { return s.sendOther(method, p) }
	}
}
