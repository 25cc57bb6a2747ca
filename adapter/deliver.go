package adapter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// deliver delivers one event and carries out its reply; a final failure
// becomes a dead letter. It returns false when ctx ended before the delivery
// finished (it will be delivered again).
//
// With Options.ReplyResults, the results of the reply's calls are delivered
// next, as an asgigram.reply_result event in the same scope, before the
// scope's next event: the scope stays locked, and the update counts as
// finished only once its result was delivered too. With a Spool the result
// is stored first, as a record of its own (see Spool), and removed once
// delivered.
func (a *Adapter) deliver(ctx context.Context, ev Event) bool {
	s := a.acquire(ctx, ev) // and scope_opened first, with lifecycle events
	if s == nil {
		return false
	}
	defer a.release(ctx, s, ev)
	ok, result := a.deliverIn(ctx, s, ev)
	if !ok || result == nil {
		return ok
	}
	var seq uint64
	if a.opt.Spool != nil {
		var err error
		seq, err = a.opt.Spool.Requeue(Update{ID: result.UpdateID, Epoch: result.Epoch, Raw: result.Raw})
		if err != nil {
			// Delivered from memory: a crash before it is delivered
			// delivers the update again, then its result.
			a.log.Error("could not store the result of a reply: delivering it from memory", logUpdateID, ev.UpdateID, logScope, ev.Scope.Key, logErr, err)
			seq = 0
		}
	}
	ok, _ = a.deliverIn(ctx, s, *result)
	if ok && seq != 0 {
		if err := a.opt.Spool.Remove([]uint64{seq}); err != nil {
			a.log.Error("could not remove a delivered reply result from the spool: it will be delivered again after a restart", logUpdateID, ev.UpdateID, logErr, err)
		}
	}
	return ok
}

// deliverIn delivers ev in its scope s, which the caller holds, and
// carries out the reply. result is the reply_result event to deliver next
// (nil: none).
func (a *Adapter) deliverIn(ctx context.Context, s *Scope, ev Event) (ok bool, result *Event) {
	// The scoped logger is built only when something is logged: With
	// formats its attributes at once, on every delivery otherwise.
	var scoped *slog.Logger
	log := func() *slog.Logger {
		if scoped == nil {
			scoped = a.log.With(logUpdateID, ev.UpdateID, logScope, ev.Scope.Key, logEvent, ev.Type)
			if ev.Epoch > 0 {
				scoped = scoped.With(logUpdateEpoch, ev.Epoch)
			}
		}
		return scoped
	}
	debug := a.log.Enabled(ctx, slog.LevelDebug)
	tr := Trace{UpdateID: ev.UpdateID, Type: ev.Type, Scope: ev.Scope.Key}

	start := time.Now()
	endTyping := a.typing.begin(ev) // typing_after, until the app answers
	resp, err := a.opt.App.Deliver(ctx, AppRequest{
		UpdateID:  ev.UpdateID,
		EventType: ev.Type,
		WebhookID: a.eventWebhookID(ev),
		Body:      envelope(ev, s.Token(), a.opt.SendURL),
	})
	endTyping()
	tr.Latency = time.Since(start)
	tr.Status = resp.Status
	if err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		var de *DeliveryError
		isDE := errors.As(err, &de)
		if isDE {
			tr.Status = de.Status
		}
		log().Error("delivery failed", logErr, err)
		tr.Err, tr.Failed = err, DeadDelivery
		dl := DeadLetter{Kind: DeadDelivery, Status: tr.Status, Error: err.Error(), FirstAttempt: start}
		if isDE {
			dl.Attempts = de.Attempts
		}
		a.bury(ev, dl, log())
		a.trace(tr)
		return true, nil
	}
	if debug {
		log().Debug("delivered", "status", resp.Status, "latency", tr.Latency.Round(time.Microsecond))
	}
	events, err := ParseReply(resp.ContentType, resp.Body)
	switch {
	case errors.Is(err, ErrNotJSON):
		ct := resp.ContentType
		if ct == "" {
			ct = "no Content-Type"
		}
		tr.Note = fmt.Sprintf("the %d-byte body is %s, not application/json: ignored", len(resp.Body), ct)
		log().Debug("reply body is not JSON: nothing to send", "content_type", resp.ContentType, "bytes", len(resp.Body))
	case err != nil:
		log().Error("bad reply body: nothing sent", logErr, err)
		tr.Err, tr.Failed = err, DeadReply
		a.bury(ev, DeadLetter{Kind: DeadReply, Status: resp.Status, Error: err.Error(), Attempts: 1, FirstAttempt: start}, log())
	case len(events) > 0:
		results, calls, err := a.exec.execute(ctx, s, events)
		tr.Calls = calls
		if err != nil {
			if ctx.Err() != nil {
				return false, nil
			}
			log().Error("reply failed", "sent", len(results), "of", len(events), logErr, err)
			tr.Err, tr.Failed = err, DeadReply
			a.bury(ev, DeadLetter{Kind: DeadReply, Status: resp.Status, Reply: events, Error: err.Error(), Attempts: 1, FirstAttempt: start}, log())
		}
		if a.opt.ReplyResults && ev.Type != ReplyResultType {
			// Never for a reply_result's own reply: no loop.
			r := replyResultEvent(ev, results, calls, err, a.opt.Redact)
			result = &r
		}
	}
	a.trace(tr)
	return true, result
}

// bury keeps a dead letter for ev.
func (a *Adapter) bury(ev Event, dl DeadLetter, log *slog.Logger) {
	dl.UpdateID, dl.Epoch, dl.Scope, dl.EventType, dl.Update, dl.FailedAt = ev.UpdateID, ev.Epoch, ev.Scope.Key, ev.Type, ev.Raw, time.Now()
	a.keep(dl, log)
}

// keep stores a dead letter, its error text redacted; failing that, it
// says so loudly.
func (a *Adapter) keep(dl DeadLetter, log *slog.Logger) {
	if a.dead == nil {
		return
	}
	dl.Error = a.opt.Redact(dl.Error)
	kept, dropped, err := a.dead.Bury(dl)
	if err != nil {
		raw := []byte(dl.Update)
		if raw == nil {
			raw = dl.Raw
		}
		log.Error("could not keep the dead letter: the update is only in this log", logErr, err, "update", string(raw))
		return
	}
	log.Warn("kept as dead letter", "dead_letter_id", kept.ID, "kind", kept.Kind)
	if a.opt.OnDeadLetter != nil {
		a.opt.OnDeadLetter(kept.Kind)
	}
	if dropped > 0 {
		a.log.Warn("dead letters over deadletter_max: dropped the oldest", "dropped", dropped)
	}
}

// envelope builds the POST body of docs/protocol.md "The event POST".
func envelope(ev Event, token, sendURL string) []byte {
	var b bytes.Buffer
	b.Grow(len(ev.Scope.JSON) + len(ev.JSON) + len(token) + len(sendURL) + 128)
	b.WriteString(`{"scope":`)
	b.Write(ev.Scope.JSON)
	b.WriteString(`,"event":`)
	b.Write(ev.JSON)
	b.WriteString(`,"update_id":`)
	b.WriteString(strconv.FormatInt(ev.UpdateID, 10))
	if ev.Epoch > 0 {
		b.WriteString(`,"update_epoch":`)
		b.WriteString(strconv.FormatUint(uint64(ev.Epoch), 10))
	}
	b.WriteString(`,"token":"`)
	b.WriteString(token) // base64url: nothing to escape
	b.WriteString(`","send_url":`)
	u, _ := json.Marshal(sendURL)
	b.Write(u)
	b.WriteByte('}')
	return b.Bytes()
}
