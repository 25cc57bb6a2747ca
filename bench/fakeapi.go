// Package bench measures asgigram against a minimal hand-written forwarder
// (the baseline): a fast in-memory fake Bot API holds a backlog of updates (or
// feeds them at an offered rate), a fake application answers every event
// with one telegram.send_message, and each forwarder runs as a separate
// process so that its CPU time and peak RSS come from the OS. The fake API
// records when each sendMessage arrives; the report gives updates/s, the
// latency from an update's availability to its sendMessage, CPU-seconds per
// 10k updates and peak RSS, for both, and their ratios.
//
// cmd/asgigram-bench is the command; BENCHMARKS.md has the results.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// BotID is the fake bot's user id (the token is "<BotID>:bench").
const BotID = 123456

// BotToken is the token the forwarders are started with.
const BotToken = "123456:bench-token"

// Workload describes the updates of one run.
type Workload struct {
	// N is the number of updates.
	N int
	// Chats is the number of private chats the message updates are spread
	// over.
	Chats int
	// InlineShare is the share of updates that are inline_query updates
	// (user scopes), from InlineUsers distinct users.
	InlineShare float64
	// Seed makes the update stream reproducible.
	Seed uint64
}

func (w Workload) inlineUsers() int { return max(1, w.Chats/10) }

// update is one prepared update.
type update struct {
	json  []byte
	scope int32 // index into the fake API's scope table, for the order check
}

// FakeAPI is a minimal, fast Bot API: getMe, getUpdates (offset, limit,
// timeout) and sendMessage. Every update's sendMessage is expected to carry
// the text "u<update_id>"; the fake records its arrival.
type FakeAPI struct {
	ups    []update
	scopes int
	first  int64 // update_id of the first update
	botID  int64 // getMe's id

	mu       sync.Mutex
	avail    int           // updates [0, avail) are available
	availAt  []int64       // unix nanos, per update
	changed  chan struct{} // closed when avail grows
	arrived  []int64       // unix nanos of the first sendMessage, per update
	lastSeen []int64       // per scope: highest update index recorded + 1
	recorded int
	dups     int
	outOrder int
	unknown  int
	doneCh   chan struct{}

	polls     atomic.Int64 // getUpdates calls
	firstPoll chan struct{}
	pollOnce  sync.Once
	sends     atomic.Int64 // sendMessage calls
	msgID     atomic.Int64

	srv *http.Server
	ln  net.Listener
}

// firstUpdateID is the update_id of the first update.
const firstUpdateID = 1_000_001

// NewFakeAPI prepares the updates of w (none is available yet).
func NewFakeAPI(w Workload) *FakeAPI { return newFakeAPI(w, firstUpdateID, BotID) }

// newFakeAPI prepares the updates of w for the bot botID, their ids from
// first on.
func newFakeAPI(w Workload, first, botID int64) *FakeAPI {
	rng := rand.New(rand.NewPCG(w.Seed, 0x5eed))
	users := w.inlineUsers()
	f := &FakeAPI{
		first:     first,
		botID:     botID,
		ups:       make([]update, w.N),
		scopes:    w.Chats + users,
		availAt:   make([]int64, w.N),
		arrived:   make([]int64, w.N),
		lastSeen:  make([]int64, w.Chats+users),
		changed:   make(chan struct{}),
		doneCh:    make(chan struct{}),
		firstPoll: make(chan struct{}),
	}
	date := time.Now().Unix()
	for i := range f.ups {
		id := first + int64(i)
		if rng.Float64() < w.InlineShare {
			u := rng.IntN(users)
			uid := int64(2_000_000_000 + u)
			f.ups[i] = update{scope: int32(w.Chats + u), json: fmt.Appendf(nil,
				`{"update_id":%d,"inline_query":{"id":"%d","from":{"id":%d,"is_bot":false,"first_name":"Inline","username":"inline_%d","language_code":"en"},"query":"search %d","offset":""}}`,
				id, 4_000_000_000+int64(i), uid, u, i)}
			continue
		}
		c := rng.IntN(w.Chats)
		cid := int64(1_000_000_000 + c)
		f.ups[i] = update{scope: int32(c), json: fmt.Appendf(nil,
			`{"update_id":%d,"message":{"message_id":%d,"from":{"id":%d,"is_bot":false,"first_name":"User","last_name":"Number %d","username":"user_%d","language_code":"en"},"chat":{"id":%d,"first_name":"User","last_name":"Number %d","username":"user_%d","type":"private"},"date":%d,"text":"hello, this is message %d"}}`,
			id, i+1, cid, c, c, cid, c, c, date, i)}
	}
	return f
}

// Start serves the fake API on a loopback port.
func (f *FakeAPI) Start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	f.ln = ln
	f.srv = &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go f.srv.Serve(ln)
	return nil
}

// URL is the Bot API base URL to give a forwarder (api_url).
func (f *FakeAPI) URL() string { return "http://" + f.ln.Addr().String() }

// Close stops serving.
func (f *FakeAPI) Close() {
	if f.srv != nil {
		f.srv.Close()
	}
}

// Polling is closed at the first getUpdates call.
func (f *FakeAPI) Polling() <-chan struct{} { return f.firstPoll }

// Done is closed when every update's sendMessage has arrived.
func (f *FakeAPI) Done() <-chan struct{} { return f.doneCh }

// Release makes the first n updates available now (a backlog).
func (f *FakeAPI) Release(n int) time.Time {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.releaseLocked(min(n, len(f.ups)), now.UnixNano())
	return now
}

func (f *FakeAPI) releaseLocked(n int, at int64) {
	if n <= f.avail {
		return
	}
	for i := f.avail; i < n; i++ {
		f.availAt[i] = at
	}
	f.avail = n
	close(f.changed)
	f.changed = make(chan struct{})
}

// Feed makes the updates available at rate per second, starting now, until
// all are or ctx ends. It returns the start time at once; the feeding goes on
// in the background.
func (f *FakeAPI) Feed(ctx context.Context, rate float64) time.Time {
	start := time.Now()
	go func() {
		n := len(f.ups)
		for sent := 0; sent < n; {
			due := min(n, int(time.Since(start).Seconds()*rate)+1)
			if due > sent {
				f.mu.Lock()
				f.releaseLocked(due, time.Now().UnixNano())
				f.mu.Unlock()
				sent = due
			}
			if sent >= n {
				return
			}
			next := start.Add(time.Duration(float64(sent) / rate * float64(time.Second)))
			t := time.NewTimer(time.Until(next))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
	return start
}

// Counts are what the fake API saw.
type Counts struct {
	Updates    int   // updates in the workload
	Available  int   // made available
	Recorded   int   // updates whose sendMessage arrived
	Duplicates int   // sendMessages for an update already recorded
	OutOfOrder int   // sendMessages that arrived before an earlier update of the same scope
	Unknown    int   // sendMessages whose text names no update
	Polls      int64 // getUpdates calls
	Sends      int64 // sendMessage calls
}

// Counts returns the counters so far.
func (f *FakeAPI) Counts() Counts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Counts{Updates: len(f.ups), Available: f.avail, Recorded: f.recorded, Duplicates: f.dups,
		OutOfOrder: f.outOrder, Unknown: f.unknown, Polls: f.polls.Load(), Sends: f.sends.Load()}
}

// Latencies returns, for every recorded update, the time from its
// availability to its sendMessage, and the arrival of the last one.
func (f *FakeAPI) Latencies() (lat []time.Duration, last time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	lat = make([]time.Duration, 0, f.recorded)
	var lastNS int64
	for i, a := range f.arrived {
		if a == 0 {
			continue
		}
		lat = append(lat, time.Duration(a-f.availAt[i]))
		lastNS = max(lastNS, a)
	}
	return lat, time.Unix(0, lastNS)
}

func (f *FakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, method, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/bot"), "/")
	if !ok {
		writeAPIError(w, 404, "Not Found")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	switch method {
	case "getMe":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true,"result":{"id":`+strconv.FormatInt(f.botID, 10)+`,"is_bot":true,"first_name":"Bench","username":"bench_bot","can_join_groups":true,"can_read_all_group_messages":false,"supports_inline_queries":true}}`)
	case "getUpdates":
		f.getUpdates(w, r, body)
	case "sendMessage":
		f.sendMessage(w, body)
	case "deleteWebhook":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true,"result":true,"description":"Webhook is already deleted"}`)
	case "getWebhookInfo":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true,"result":{"url":"","has_custom_certificate":false,"pending_update_count":0}}`)
	default:
		writeAPIError(w, 404, "Not Found: method not found")
	}
}

func writeAPIError(w http.ResponseWriter, code int, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b, _ := json.Marshal(map[string]any{"ok": false, "error_code": code, "description": desc})
	w.Write(b)
}

func (f *FakeAPI) getUpdates(w http.ResponseWriter, r *http.Request, body []byte) {
	var p struct {
		Offset  int64 `json:"offset"`
		Limit   int   `json:"limit"`
		Timeout int   `json:"timeout"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &p); err != nil {
			writeAPIError(w, 400, "Bad Request: "+err.Error())
			return
		}
	}
	if p.Limit <= 0 || p.Limit > 100 {
		p.Limit = 100
	}
	f.polls.Add(1)
	f.pollOnce.Do(func() { close(f.firstPoll) })
	start := max(0, int(p.Offset-f.first))
	var deadline <-chan time.Time
	for {
		f.mu.Lock()
		avail, changed := f.avail, f.changed
		f.mu.Unlock()
		if start < avail || p.Timeout <= 0 {
			break
		}
		if deadline == nil {
			t := time.NewTimer(time.Duration(p.Timeout) * time.Second)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-changed:
			continue
		case <-deadline:
		case <-r.Context().Done():
			return
		}
		break
	}
	f.mu.Lock()
	end := min(f.avail, start+p.Limit)
	f.mu.Unlock()
	n := 0
	for i := start; i < end; i++ {
		n += len(f.ups[i].json) + 1
	}
	out := make([]byte, 0, n+32)
	out = append(out, `{"ok":true,"result":[`...)
	for i := start; i < end; i++ {
		if i > start {
			out = append(out, ',')
		}
		out = append(out, f.ups[i].json...)
	}
	out = append(out, "]}"...)
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

func (f *FakeAPI) sendMessage(w http.ResponseWriter, body []byte) {
	now := time.Now().UnixNano()
	f.sends.Add(1)
	var p struct {
		ChatID json.RawMessage `json:"chat_id"`
		Text   string          `json:"text"`
	}
	if err := json.Unmarshal(body, &p); err != nil || len(p.ChatID) == 0 || p.Text == "" {
		writeAPIError(w, 400, "Bad Request: chat_id and text are required")
		return
	}
	idx := -1
	if id, err := strconv.ParseInt(strings.TrimPrefix(p.Text, "u"), 10, 64); err == nil && strings.HasPrefix(p.Text, "u") {
		idx = int(id - f.first)
	}
	f.mu.Lock()
	switch {
	case idx < 0 || idx >= len(f.ups) || idx >= f.avail:
		f.unknown++
	case f.arrived[idx] != 0:
		f.dups++
	default:
		f.arrived[idx] = now
		f.recorded++
		sc := f.ups[idx].scope
		if int64(idx) < f.lastSeen[sc]-1 {
			f.outOrder++
		}
		f.lastSeen[sc] = max(f.lastSeen[sc], int64(idx)+1)
		if f.recorded == len(f.ups) {
			close(f.doneCh)
		}
	}
	f.mu.Unlock()
	mid := f.msgID.Add(1)
	out := make([]byte, 0, 160)
	out = append(out, `{"ok":true,"result":{"message_id":`...)
	out = strconv.AppendInt(out, mid, 10)
	out = append(out, `,"from":{"id":`+strconv.FormatInt(f.botID, 10)+`,"is_bot":true,"first_name":"Bench"},"chat":{"id":`...)
	out = append(out, p.ChatID...)
	out = append(out, `,"type":"private"},"date":`...)
	out = strconv.AppendInt(out, now/int64(time.Second), 10)
	out = append(out, `,"text":`...)
	out = strconv.AppendQuote(out, p.Text)
	out = append(out, "}}"...)
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}
