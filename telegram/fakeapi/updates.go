package fakeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/asgigram/asgigram/telegram"
)

// Conflict descriptions answered with status 409.
const (
	conflictWebhook    = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
	conflictOtherPoll  = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
	conflictSetWebhook = "Conflict: terminated by setWebhook request"
)

type storedUpdate struct {
	id   int64
	kind string
	raw  json.RawMessage
}

// poller is the long poll held at the moment.
type poller struct {
	done chan struct{}
	err  *apiError // why it ended; nil means "answer with what is there"
}

// endPoll ends the held long poll, if any, with err. s.mu must be held.
func (s *Bot) endPoll(err *apiError) {
	if s.poll == nil {
		return
	}
	s.poll.err = err
	close(s.poll.done)
	s.poll = nil
}

// AddUpdate adds an update whose only field besides update_id is kind, with
// payload (encoded as JSON) as its value, and returns the update_id it got.
// It wakes a held long poll. Messages, callback queries and other queries
// in updates become known to the server, so the bot can reply to, edit,
// copy or answer them. AddUpdate panics if payload cannot be encoded.
func (s *Bot) AddUpdate(kind string, payload any) int64 {
	b, err := marshal(payload)
	if err != nil {
		panic("fakeapi: AddUpdate: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextID
	var raw bytes.Buffer
	raw.WriteString(`{"update_id":`)
	raw.WriteString(strconv.FormatInt(id, 10))
	raw.WriteByte(',')
	raw.Write(mustMarshal(kind))
	raw.WriteByte(':')
	raw.Write(b)
	raw.WriteByte('}')
	s.addUpdateLocked(id, kind, raw.Bytes(), b)
	return id
}

// AddRawUpdate adds update, a complete Update object, and returns its
// update_id. When the object has no update_id, the next one is assigned and
// inserted. An update_id given in the object is kept, and later updates get
// larger ids. The update's kind is its first field other than update_id.
// AddRawUpdate panics if update is not a JSON object.
func (s *Bot) AddRawUpdate(update json.RawMessage) int64 {
	var compact bytes.Buffer
	if err := json.Compact(&compact, update); err != nil {
		panic("fakeapi: AddRawUpdate: " + err.Error())
	}
	kind, payload, id, hasID, err := scanUpdate(compact.Bytes())
	if err != nil {
		panic("fakeapi: AddRawUpdate: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	raw := compact.Bytes()
	if !hasID {
		id = s.nextID
		var b bytes.Buffer
		b.WriteString(`{"update_id":`)
		b.WriteString(strconv.FormatInt(id, 10))
		if rest := raw[1:]; len(rest) > 1 {
			b.WriteByte(',')
			b.Write(rest)
		} else {
			b.WriteByte('}')
		}
		raw = b.Bytes()
	}
	s.addUpdateLocked(id, kind, raw, payload)
	return id
}

// scanUpdate reads an Update object's update_id and its first other field.
func scanUpdate(b []byte) (kind string, payload json.RawMessage, id int64, hasID bool, err error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return "", nil, 0, false, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return "", nil, 0, false, &json.UnmarshalTypeError{Value: "non-object", Type: nil}
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return "", nil, 0, false, err
		}
		key, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return "", nil, 0, false, err
		}
		switch {
		case key == "update_id":
			if err := json.Unmarshal(v, &id); err != nil {
				return "", nil, 0, false, err
			}
			hasID = true
		case kind == "":
			kind, payload = key, v
		}
	}
	return kind, payload, id, hasID, nil
}

// addUpdateLocked stores an update and wakes the long poll. s.mu must be
// held.
func (s *Bot) addUpdateLocked(id int64, kind string, raw, payload json.RawMessage) {
	if id >= s.nextID {
		s.nextID = id + 1
	}
	i := sort.Search(len(s.updates), func(i int) bool { return s.updates[i].id > id })
	s.updates = append(s.updates, storedUpdate{})
	copy(s.updates[i+1:], s.updates[i:])
	s.updates[i] = storedUpdate{id: id, kind: kind, raw: append(json.RawMessage(nil), raw...)}
	s.learn(kind, payload)
	close(s.changed)
	s.changed = make(chan struct{})
}

// SetNextUpdateID sets the update_id of the next update added with AddUpdate
// (or AddRawUpdate without an id). Real update ids can jump, so clients must
// not assume they are consecutive.
func (s *Bot) SetNextUpdateID(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID = id
}

// ResetUpdateIDs does what Telegram does to a bot that had no updates for a
// week: its queue is forgotten (the pending updates, which would have
// expired, are dropped) and the next update gets the id next, which may be
// far below the ids used so far. Offset starts again from 0.
func (s *Bot) ResetUpdateIDs(next int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.updates)
	s.updates = s.updates[:0]
	s.nextID = next
	s.confirmed = 0
}

// Offset returns the offset confirmed so far: every update with an id below
// it was confirmed by getUpdates and dropped. It is 0 before any
// confirmation.
func (s *Bot) Offset() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.confirmed
}

// Pending returns the number of updates not confirmed yet.
func (s *Bot) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.updates)
}

// AllowedUpdates returns the allowed_updates list the bot set with
// getUpdates or setWebhook, or nil when it uses the default.
func (s *Bot) AllowedUpdates() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.allowed == nil {
		return nil
	}
	return append([]string(nil), s.allowed...)
}

func (s *Bot) allowedKind(kind string) bool {
	if s.allowed == nil {
		// Kinds delivered only when allowed_updates names them are marked
		// OptIn in the catalogue.
		k, _ := telegram.LookupUpdateKind(kind)
		return !k.OptIn
	}
	for _, k := range s.allowed {
		if k == kind {
			return true
		}
	}
	return false
}

// setAllowedLocked records an allowed_updates parameter, when present and
// well-formed; a malformed one is ignored and the previous list is kept.
func (s *Bot) setAllowedLocked(p params) {
	raw, ok := p.json("allowed_updates")
	if !ok || raw == nil {
		return
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		return
	}
	if len(list) == 0 {
		s.allowed = nil
		return
	}
	s.allowed = list
}

// dropDisallowedLocked forgets pending updates of kinds that are not
// allowed: the real server does not create them in the first place.
func (s *Bot) dropDisallowedLocked() {
	kept := s.updates[:0]
	for _, u := range s.updates {
		if s.allowedKind(u.kind) {
			kept = append(kept, u)
		}
	}
	clear(s.updates[len(kept):])
	s.updates = kept
}

// The server's sanity limits on an offset (td's TQueue::get): one more than
// futureSlack past the next update id is "in the future", one more than
// pastSlack below the oldest pending update is "in the past". Either way
// the server confirms nothing and answers from the head of its queue.
const (
	futureSlack = 10
	pastSlack   = 100000
)

// resolveOffsetLocked turns a getUpdates offset into the id to answer from,
// confirming what the offset confirms, as the real server does
// (tdlib/telegram-bot-api Client::do_get_updates with td's TQueue::get):
// an offset up to 10 past the next id is accepted, and updates that then
// arrive with ids below it count as confirmed (dropped by the next call
// with that offset); an offset further in the future, or far below the
// queue, confirms nothing and answers from the head, with ids below the
// offset. A negative offset was handled by the caller.
func (s *Bot) resolveOffsetLocked(offset int64) int64 {
	head := s.nextID
	if len(s.updates) > 0 {
		head = s.updates[0].id
	}
	if offset <= 0 || offset > s.nextID+futureSlack || offset < head-pastSlack {
		return head
	}
	s.confirmLocked(offset)
	return offset
}

// confirmLocked drops the updates with an id below offset.
func (s *Bot) confirmLocked(offset int64) {
	kept := s.updates[:0]
	for _, u := range s.updates {
		if u.id >= offset {
			kept = append(kept, u)
		}
	}
	clear(s.updates[len(kept):])
	s.updates = kept
	if offset > s.confirmed {
		s.confirmed = offset
	}
}

// collectLocked returns up to limit pending updates with id >= from.
func (s *Bot) collectLocked(from int64, limit int) []json.RawMessage {
	s.dropDisallowedLocked()
	out := []json.RawMessage{}
	for _, u := range s.updates {
		if len(out) == limit {
			break
		}
		if u.id >= from {
			out = append(out, u.raw)
		}
	}
	return out
}

// getUpdates implements the getUpdates method.
func (s *Bot) getUpdates(ctx context.Context, p params) (any, *apiError) {
	s.mu.Lock()
	if s.webhook != "" {
		s.mu.Unlock()
		return nil, &apiError{Code: http.StatusConflict, Description: conflictWebhook}
	}
	// A newer request terminates the one held so far.
	s.endPoll(&apiError{Code: http.StatusConflict, Description: conflictOtherPoll})
	s.setAllowedLocked(p)
	s.dropDisallowedLocked()

	offset := p.int("offset")
	if offset < 0 {
		if n := int(-offset); len(s.updates) > n {
			s.confirmLocked(s.updates[len(s.updates)-n].id)
		}
		offset = 0
	}
	from := s.resolveOffsetLocked(offset)
	limit := 100
	if p.has("limit") {
		limit = int(min(max(p.int("limit"), 1), 100))
	}
	timeout := time.Duration(max(min(p.int("timeout"), 1<<20), 0)) * time.Second
	timeout = min(timeout, s.srv.cfg.MaxPollTimeout)

	res := s.collectLocked(from, limit)
	if len(res) > 0 || timeout <= 0 || s.closed {
		s.mu.Unlock()
		return res, nil
	}
	w := &poller{done: make(chan struct{})}
	s.poll = w
	changed := s.changed
	s.mu.Unlock()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		expired := false
		select {
		case <-changed:
		case <-w.done:
		case <-timer.C:
			expired = true
		case <-ctx.Done():
		}
		s.mu.Lock()
		if s.poll != w {
			// Ended by a newer request, setWebhook, RevokeToken or Close;
			// endPoll set w.err under s.mu.
			defer s.mu.Unlock()
			if w.err != nil {
				return nil, w.err
			}
			return s.collectLocked(s.resolveOffsetLocked(offset), limit), nil
		}
		if ctx.Err() != nil {
			s.poll = nil
			s.mu.Unlock()
			return nil, errNoAnswer
		}
		// As on the real server, a woken poll is answered as a new call
		// with the same offset: updates that arrived below an accepted
		// offset are confirmed, a future offset answers from the head.
		res := s.collectLocked(s.resolveOffsetLocked(offset), limit)
		if len(res) > 0 || expired {
			s.poll = nil
			s.mu.Unlock()
			return res, nil
		}
		changed = s.changed
		s.mu.Unlock()
	}
}

// setWebhookLocked sets or, with "", removes the webhook. s.mu must be held.
func (s *Bot) setWebhookLocked(url string) {
	s.webhook = url
	if url != "" {
		s.endPoll(&apiError{Code: http.StatusConflict, Description: conflictSetWebhook})
	}
}

func (s *Bot) dropPendingLocked() {
	if n := len(s.updates); n > 0 {
		s.confirmLocked(s.updates[n-1].id + 1)
	}
}

// setWebhookMethod implements the setWebhook method.
func (s *Bot) setWebhookMethod(p params) (any, *apiError) {
	url := p.str("url")
	if p.bool("drop_pending_updates") {
		s.dropPendingLocked()
	}
	s.setAllowedLocked(p)
	old := s.webhook
	s.setWebhookLocked(url)
	switch {
	case url == "" && old == "":
		return described{true, "Webhook is already deleted"}, nil
	case url == "":
		return described{true, "Webhook was deleted"}, nil
	case url == old:
		return described{true, "Webhook is already set"}, nil
	}
	return described{true, "Webhook was set"}, nil
}

// deleteWebhookMethod implements the deleteWebhook method.
func (s *Bot) deleteWebhookMethod(p params) (any, *apiError) {
	if p.bool("drop_pending_updates") {
		s.dropPendingLocked()
	}
	old := s.webhook
	s.setWebhookLocked("")
	if old == "" {
		return described{true, "Webhook is already deleted"}, nil
	}
	return described{true, "Webhook was deleted"}, nil
}

// webhookInfo is the WebhookInfo object.
type webhookInfo struct {
	URL                  string   `json:"url"`
	HasCustomCertificate bool     `json:"has_custom_certificate"`
	PendingUpdateCount   int      `json:"pending_update_count"`
	AllowedUpdates       []string `json:"allowed_updates,omitempty"`
}

// getWebhookInfoMethod implements the getWebhookInfo method.
func (s *Bot) getWebhookInfoMethod(params) (any, *apiError) {
	return webhookInfo{
		URL:                s.webhook,
		PendingUpdateCount: len(s.updates),
		AllowedUpdates:     s.allowed,
	}, nil
}

// Polling reports whether a getUpdates long poll is being held, waiting for
// updates. Tests use it to wait until the bot polls.
func (s *Bot) Polling() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.poll != nil
}
