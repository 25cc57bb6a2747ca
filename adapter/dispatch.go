package adapter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// dispatcher is the in-memory Sink: it delivers a batch, one event at a time
// per scope in fetch order, scopes in parallel up to MaxConcurrency, and
// returns when every event has finished. The poller fetches the next batch
// only then, so memory holds at most one batch (backpressure).
type dispatcher struct {
	a   *Adapter
	sem chan struct{}
}

func newDispatcher(a *Adapter) *dispatcher {
	return &dispatcher{a: a, sem: make(chan struct{}, a.opt.MaxConcurrency)}
}

// Put delivers ups and waits for all of them. It returns ctx's error when ctx
// ended before every update finished.
func (d *dispatcher) Put(ctx context.Context, ups []Update) error {
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
				ok := d.deliver(ctx, ev)
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

// deliver delivers one event and carries out its reply. It returns false
// when ctx ended before the delivery finished.
func (d *dispatcher) deliver(ctx context.Context, ev Event) bool {
	a := d.a
	s := a.reg.Acquire(ev.Scope)
	defer a.reg.Release(s)
	log := a.log.With(logUpdateID, ev.UpdateID, logScope, ev.Scope.Key, logEvent, ev.Type)
	tr := Trace{UpdateID: ev.UpdateID, Type: ev.Type, Scope: ev.Scope.Key}

	start := time.Now()
	resp, err := a.opt.App.Deliver(ctx, AppRequest{
		UpdateID:  ev.UpdateID,
		EventType: ev.Type,
		WebhookID: a.webhookID(ev.UpdateID),
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
		log.Error("delivery failed", logErr, err)
		tr.Err = err
		a.trace(tr)
		return true
	}
	log.Debug("delivered", "status", resp.Status, "latency", tr.Latency.Round(time.Microsecond))
	events, err := ParseReply(resp.ContentType, resp.Body)
	switch {
	case errors.Is(err, ErrNotJSON):
		log.Debug("reply body is not JSON: nothing to send", "content_type", resp.ContentType, "bytes", len(resp.Body))
	case err != nil:
		log.Error("bad reply body: nothing sent", logErr, err)
		tr.Err = err
	case len(events) > 0:
		results, calls, err := a.exec.execute(ctx, s, events)
		tr.Calls = calls
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			log.Error("reply failed", "sent", len(results), "of", len(events), logErr, err)
			tr.Err = err
		}
	}
	a.trace(tr)
	return true
}

// envelope builds the POST body of PROTOCOL §2.
func envelope(ev Event, token, sendURL string) []byte {
	var b bytes.Buffer
	b.Grow(len(ev.Scope.JSON) + len(ev.JSON) + len(token) + len(sendURL) + 96)
	b.WriteString(`{"scope":`)
	b.Write(ev.Scope.JSON)
	b.WriteString(`,"event":`)
	b.Write(ev.JSON)
	b.WriteString(`,"update_id":`)
	b.WriteString(strconv.FormatInt(ev.UpdateID, 10))
	b.WriteString(`,"token":"`)
	b.WriteString(token) // base64url: nothing to escape
	b.WriteString(`","send_url":`)
	u, _ := json.Marshal(sendURL)
	b.Write(u)
	b.WriteByte('}')
	return b.Bytes()
}
