package adapter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// sink takes fetched updates from the poller. put returns once the updates
// may be confirmed to Telegram (the next getUpdates offset is next): the
// memory sink when each was delivered, the spool sink once they are stored.
// A non-nil error means: do not confirm them.
type sink interface {
	// put takes a batch. pollCtx ends when polling stops; deliverCtx ends
	// when the shutdown grace runs out.
	put(pollCtx, deliverCtx context.Context, ups []Update, next Position) error
	// drain stops taking work and waits for deliveries in flight (bounded
	// by deliverCtx).
	drain()
}

// dispatcher is the memory sink (spool: memory): it delivers a batch, one
// event at a time per scope in fetch order, scopes in parallel up to
// MaxConcurrency, and returns when every event has finished. The poller
// fetches (and so confirms) the next batch only then: at-least-once without
// a disk, at the price that one slow scope holds back the next batch.
type dispatcher struct {
	a   *Adapter
	sem chan struct{}
}

func newDispatcher(a *Adapter) *dispatcher {
	return &dispatcher{a: a, sem: make(chan struct{}, a.opt.MaxConcurrency)}
}

func (d *dispatcher) drain() {}

// put delivers ups and waits for all of them. It returns deliverCtx's error
// when it ended before every update finished.
func (d *dispatcher) put(_, ctx context.Context, ups []Update, _ Position) error {
	var keys []string
	byScope := make(map[string][]Event)
	for _, u := range ups {
		ev, err := d.a.mapper.Map(u)
		if err != nil {
			d.a.log.Error("cannot map update: not delivered", logUpdateID, u.ID, logErr, err)
			continue
		}
		if d.a.opt.OnReceived != nil {
			d.a.opt.OnReceived(ev.Type)
		}
		if _, ok := byScope[ev.Scope.Key]; !ok {
			keys = append(keys, ev.Scope.Key)
		}
		byScope[ev.Scope.Key] = append(byScope[ev.Scope.Key], ev)
	}
	var n int64
	for _, evs := range byScope {
		n += int64(len(evs))
	}
	d.a.pending.Add(n)
	var finished atomic.Int64
	defer func() { d.a.pending.Add(finished.Load() - n) }()
	var wg sync.WaitGroup
	var unfinished sync.Once
	var ctxErr error
	for _, k := range keys {
		evs := byScope[k]
		wg.Go(func() {
			for _, ev := range evs {
				select {
				case d.sem <- struct{}{}:
				case <-ctx.Done():
					unfinished.Do(func() { ctxErr = ctx.Err() })
					return
				}
				ok := d.a.deliver(ctx, ev)
				<-d.sem
				if ok {
					d.a.pending.Add(-1)
					finished.Add(1)
				}
				if !ok {
					unfinished.Do(func() { ctxErr = ctx.Err() })
					return
				}
			}
		})
	}
	wg.Wait()
	return ctxErr
}

// deliver delivers one event and carries out its reply; a final failure
// becomes a dead letter. It returns false when ctx ended before the delivery
// finished (it will be delivered again).
func (a *Adapter) deliver(ctx context.Context, ev Event) bool {
	s := a.reg.Acquire(ev.Scope)
	defer a.reg.Release(s)
	s.delivering.Lock()
	defer s.delivering.Unlock()
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
	resp, err := a.opt.App.Deliver(ctx, AppRequest{
		UpdateID:  ev.UpdateID,
		EventType: ev.Type,
		WebhookID: a.webhookID(ev.UpdateID, ev.Epoch),
		Body:      envelope(ev, s.Token(), a.opt.SendURL),
	})
	tr.Latency = time.Since(start)
	tr.Status = resp.Status
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		var se interface{ HTTPStatus() int }
		if errors.As(err, &se) {
			tr.Status = se.HTTPStatus()
		}
		log().Error("delivery failed", logErr, err)
		tr.Err, tr.Failed = err, DeadDelivery
		dl := DeadLetter{Kind: DeadDelivery, Status: tr.Status, Error: err.Error(), FirstAttempt: start}
		var ae interface{ AttemptCount() int }
		if errors.As(err, &ae) {
			dl.Attempts = ae.AttemptCount()
		}
		a.bury(ev, dl, log())
		a.trace(tr)
		return true
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
				return false
			}
			log().Error("reply failed", "sent", len(results), "of", len(events), logErr, err)
			tr.Err, tr.Failed = err, DeadReply
			a.bury(ev, DeadLetter{Kind: DeadReply, Status: resp.Status, Reply: events, Error: err.Error(), Attempts: 1, FirstAttempt: start}, log())
		}
	}
	a.trace(tr)
	return true
}

// bury keeps a dead letter for ev; failing that, it says so loudly.
func (a *Adapter) bury(ev Event, dl DeadLetter, log *slog.Logger) {
	if a.dead == nil {
		return
	}
	dl.UpdateID, dl.Epoch, dl.Scope, dl.EventType, dl.Update, dl.FailedAt = ev.UpdateID, ev.Epoch, ev.Scope.Key, ev.Type, ev.Raw, time.Now()
	dl.Error = a.opt.Redact(dl.Error)
	kept, dropped, err := a.dead.Bury(dl)
	if err != nil {
		log.Error("could not keep the dead letter: the update is only in this log", logErr, err, "update", string(ev.Raw))
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
