package fakeapi

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// This file holds the helpers of the local development mode (asgigram
// dev), which acts as a user of the fake: it injects incoming messages with
// message ids of their own and reads back what the bot did.

// AddMessage adds an update of kind (message, channel_post, ...) whose
// value is msg, a new incoming message in chat chatID, and returns the
// update_id and the message_id it got. The message_id is allocated from the
// chat's own sequence, shared with the bot's messages, in the same step as
// the update is added, so it can never collide with a message the bot sends
// at the same time. msg is not modified; its "message_id" is set in a copy.
// msg should carry a "chat" whose id is chatID and a "date". AddMessage
// panics if msg cannot be encoded.
func (s *Bot) AddMessage(kind string, chatID int64, msg map[string]any) (updateID, messageID int64) {
	m := make(map[string]any, len(msg)+1)
	for k, v := range msg {
		m[k] = v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	messageID = s.chatLocked(chatID).next
	m["message_id"] = messageID
	b, err := marshal(m)
	if err != nil {
		panic("fakeapi: AddMessage: " + err.Error())
	}
	updateID = s.nextID
	var raw bytes.Buffer
	raw.WriteString(`{"update_id":`)
	raw.WriteString(strconv.FormatInt(updateID, 10))
	raw.WriteByte(',')
	raw.Write(mustMarshal(kind))
	raw.WriteByte(':')
	raw.Write(b)
	raw.WriteByte('}')
	s.addUpdateLocked(updateID, kind, raw.Bytes(), b)
	// learn moves the sequence past messageID when msg is a well-formed
	// message; make sure it does even when it is not.
	if cs := s.chatLocked(chatID); cs.next <= messageID {
		cs.next = messageID + 1
	}
	return updateID, messageID
}

// Message returns message messageID of chat chatID as the server knows it:
// a message the bot sent (with edits applied) or one that arrived in an
// update. It returns false when there is no such message (never known, or
// deleted).
func (s *Bot) Message(chatID, messageID int64) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.chats[chatID]
	if !ok {
		return nil, false
	}
	m, ok := cs.msgs[messageID]
	if !ok {
		return nil, false
	}
	return m.json(), true
}

// Chat returns the Chat object the server knows for chatID: the one of the
// last incoming message in it, or a minimal one for chats it only saw as a
// chat_id. It returns false for a chat it never saw.
func (s *Bot) Chat(chatID int64) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.chats[chatID]
	if !ok {
		return nil, false
	}
	return append(json.RawMessage(nil), cs.chat...), true
}
