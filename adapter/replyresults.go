package adapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/asgigram/asgigram/telegram"
)

// This file holds reply_results (docs/protocol.md "Results of body
// replies"): once the calls of a reply body were carried out, their results
// are delivered to the application as one more event of the same scope,
// right after the update they answer (see Adapter.deliver).

// ReplyResultType is the event type of the results of a reply body.
const ReplyResultType = "asgigram.reply_result"

// replyResultSuffix ends the webhook-id of a reply_result: the answered
// update's webhook-id and "-r", stable across retries and redeliveries.
const replyResultSuffix = "-r"

// replyResultField marks the record of a reply_result (see
// replyResultRecord): no Telegram update has it (Update fields are
// snake_case names without dots or a prefix of asgigram's).
const replyResultField = "asgigram_reply_result"

// replyResultRecord is a reply_result as an Update: the answered update's
// identity, and the event with the update it answers under
// replyResultField. It is what the spool stores of a result not yet
// delivered (see Spool), and the update of its dead letter: Mapper.Map
// turns it back into the reply_result event.
func replyResultRecord(ev Event, eventJSON json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	b.Grow(len(eventJSON) + len(ev.Raw) + 64)
	b.WriteString(`{"update_id":`)
	b.WriteString(strconv.FormatInt(ev.UpdateID, 10))
	b.WriteString(`,"` + replyResultField + `":{"event":`)
	b.Write(eventJSON)
	b.WriteString(`,"update":`)
	b.Write(resultValue(ev.Raw))
	b.WriteString(`}}`)
	return b.Bytes()
}

// mapReplyResult maps the record of a reply_result: the scope is the
// answered update's, the event the one stored.
func (m *Mapper) mapReplyResult(u Update, rec json.RawMessage, withEvent bool) (Event, error) {
	answered, err := m.mapUpdate(Update{ID: u.ID, Epoch: u.Epoch, Raw: nested(rec, "update")}, false)
	if err != nil {
		return Event{}, err
	}
	ev := Event{UpdateID: u.ID, Epoch: u.Epoch, Field: replyResultField, Type: ReplyResultType, Scope: answered.Scope, Raw: u.Raw}
	if withEvent {
		ev.JSON = nested(rec, "event")
		if len(ev.JSON) == 0 || ev.JSON[0] != '{' {
			return Event{}, fmt.Errorf("update %d: %w: a %s record without its event", u.ID, ErrNotAnUpdate, ReplyResultType)
		}
	}
	return ev, nil
}

// eventWebhookID is the webhook-id of ev: its update's, or for a
// reply_result that of the update it answers with replyResultSuffix.
func (a *Adapter) eventWebhookID(ev Event) string {
	id := a.webhookID(ev.UpdateID, ev.Epoch)
	if ev.Type == ReplyResultType {
		id += replyResultSuffix
	}
	return id
}

// replyResultEvent builds the reply_result event of the reply to ev: one
// entry per call made or skipped, in order (results holds those that
// succeeded or were skipped, calls every call made, a failed one last), and
// the reply's failure when it failed (err). The event goes to ev's scope,
// with ev's update_id and epoch; its Raw is its record (replyResultRecord).
func replyResultEvent(ev Event, results []json.RawMessage, calls []TraceCall, err error, redactText func(string) string) Event {
	var b bytes.Buffer
	b.WriteString(`{"type":"` + ReplyResultType + `","update_id":`)
	b.WriteString(strconv.FormatInt(ev.UpdateID, 10))
	if ev.Epoch > 0 {
		b.WriteString(`,"update_epoch":`)
		b.WriteString(strconv.FormatUint(uint64(ev.Epoch), 10))
	}
	b.WriteString(`,"answered_type":`)
	b.Write(jsonString(ev.Type))
	b.WriteString(`,"ok":`)
	b.WriteString(strconv.FormatBool(err == nil))
	b.WriteString(`,"results":[`)
	for i, c := range calls {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"method":`)
		b.Write(jsonString(c.Method))
		switch {
		case c.Skipped != "":
			b.WriteString(`,"ok":true,"skipped":`)
			b.Write(jsonString(c.Skipped))
		case c.Err == nil && i < len(results):
			b.WriteString(`,"ok":true,"result":`)
			b.Write(resultValue(results[i]))
		default:
			b.WriteString(`,"ok":false`)
			writeCallError(&b, c.Err, redactText)
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	if err != nil {
		b.WriteString(`,"error":`)
		b.Write(jsonString(redactText(err.Error())))
	}
	b.WriteByte('}')
	return Event{
		UpdateID: ev.UpdateID,
		Epoch:    ev.Epoch,
		Field:    replyResultField,
		Type:     ReplyResultType,
		Scope:    ev.Scope,
		JSON:     b.Bytes(),
		Raw:      replyResultRecord(ev, b.Bytes()),
	}
}

// resultValue is a call's result as JSON ("null" when empty).
func resultValue(res json.RawMessage) json.RawMessage {
	if len(trimJSONSpace(res)) == 0 {
		return json.RawMessage("null")
	}
	return res
}

// writeCallError writes a failed call's error_code and description:
// Telegram's own for a refusal, else the error's text (error_code 0).
func writeCallError(b *bytes.Buffer, err error, redactText func(string) string) {
	if err == nil {
		return
	}
	var te *telegram.Error
	if errors.As(err, &te) {
		b.WriteString(`,"error_code":`)
		b.WriteString(strconv.Itoa(te.Code))
		b.WriteString(`,"description":`)
		b.Write(jsonString(te.Description))
		return
	}
	b.WriteString(`,"error_code":0,"description":`)
	b.Write(jsonString(redactText(err.Error())))
}
