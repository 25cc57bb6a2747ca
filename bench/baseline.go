package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	// The baseline child can be profiled like asgigram (see -profile).
	_ "github.com/asgigram/asgigram/bench/pprofhook"
)

// BaselineOptions configure the baseline forwarder.
type BaselineOptions struct {
	// APIURL is the Bot API base URL; Token the bot token.
	APIURL, Token string
	// AppURL is where events are POSTed.
	AppURL string
	// SendURL is put into every event (the baseline's own /send).
	SendURL string
	// Concurrency bounds the deliveries in flight (default 64).
	Concurrency int
	// PollTimeout is the getUpdates long-poll timeout (default 30s).
	PollTimeout time.Duration
	// MaxPending bounds the updates fetched and not yet finished (default
	// 200: one batch in delivery while the next is fetched). 100 makes the
	// baseline wait for a whole batch before fetching the next, as
	// asgigram's memory delivery (spool: memory) does.
	MaxPending int
}

// Baseline is the minimal hand-written forwarder the benchmark compares
// asgigram with: getUpdates (limit 100) -> POST each update to the
// application -> the calls of its reply body. Per-scope order, bounded
// concurrency, updates confirmed by the next getUpdates as soon as they are
// fetched, no retries, no spool, no signing, scopes kept in a map for ever.
type Baseline struct {
	opt  BaselineOptions
	api  *http.Client
	app  *http.Client
	sem  chan struct{}
	wg   sync.WaitGroup
	errs atomic.Int64

	mu      sync.Mutex
	room    *sync.Cond
	pending int
	scopes  map[string]*bscope
	tokens  map[string]*bscope
}

type bscope struct {
	chat   bool
	id     int64
	entity json.RawMessage
	token  string
	queue  []bwork // guarded by Baseline.mu
	active bool
}

type bwork struct {
	id    int64
	field string
	obj   json.RawMessage
}

// NewBaseline returns a baseline forwarder.
func NewBaseline(opt BaselineOptions) *Baseline {
	if opt.Concurrency < 1 {
		opt.Concurrency = 64
	}
	if opt.PollTimeout <= 0 {
		opt.PollTimeout = 30 * time.Second
	}
	if opt.MaxPending < 100 {
		opt.MaxPending = 200
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 256
	b := &Baseline{
		opt:    opt,
		api:    &http.Client{Transport: t, Timeout: opt.PollTimeout + 15*time.Second},
		app:    &http.Client{Transport: t.Clone(), Timeout: 10 * time.Second},
		sem:    make(chan struct{}, opt.Concurrency),
		scopes: map[string]*bscope{},
		tokens: map[string]*bscope{},
	}
	b.room = sync.NewCond(&b.mu)
	return b
}

// Errors returns how many deliveries or calls failed.
func (b *Baseline) Errors() int64 { return b.errs.Load() }

// Run polls until ctx ends, then waits for the deliveries in flight.
func (b *Baseline) Run(ctx context.Context) error {
	defer b.wg.Wait()
	var offset int64
	for ctx.Err() == nil {
		b.mu.Lock()
		for b.pending > b.opt.MaxPending-100 {
			b.room.Wait()
		}
		b.mu.Unlock()
		ups, err := b.getUpdates(ctx, offset)
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintln(os.Stderr, "baseline: getUpdates:", err)
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		for _, raw := range ups {
			id, sc, w, err := b.parse(raw)
			if err != nil {
				fmt.Fprintln(os.Stderr, "baseline: bad update:", err)
				continue
			}
			offset = max(offset, id+1)
			b.enqueue(sc, w)
		}
	}
	return nil
}

func (b *Baseline) getUpdates(ctx context.Context, offset int64) ([]json.RawMessage, error) {
	p := fmt.Appendf(nil, `{"offset":%d,"limit":100,"timeout":%d}`, offset, int(b.opt.PollTimeout/time.Second))
	res, err := b.call(ctx, "getUpdates", p)
	if err != nil {
		return nil, err
	}
	var ups []json.RawMessage
	return ups, json.Unmarshal(res, &ups)
}

// call calls a Bot API method once.
func (b *Baseline) call(ctx context.Context, method string, params []byte) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.opt.APIURL+"/bot"+b.opt.Token+"/"+method, bytes.NewReader(params))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.api.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var env struct {
		OK          bool            `json:"ok"`
		Result      json.RawMessage `json:"result"`
		Description string          `json:"description"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, err
	}
	if !env.OK {
		return nil, fmt.Errorf("%s: %s", method, env.Description)
	}
	return env.Result, nil
}

// parse finds an update's id, kind and scope (creating the scope).
func (b *Baseline) parse(raw json.RawMessage) (int64, *bscope, bwork, error) {
	var u map[string]json.RawMessage
	if err := json.Unmarshal(raw, &u); err != nil {
		return 0, nil, bwork{}, err
	}
	var w bwork
	if err := json.Unmarshal(u["update_id"], &w.id); err != nil {
		return 0, nil, w, err
	}
	for k, v := range u {
		if k != "update_id" {
			w.field, w.obj = k, v
		}
	}
	var obj map[string]json.RawMessage
	_ = json.Unmarshal(w.obj, &obj)
	chat := obj["chat"]
	if chat == nil && obj["message"] != nil {
		var m struct {
			Chat json.RawMessage `json:"chat"`
		}
		_ = json.Unmarshal(obj["message"], &m)
		chat = m.Chat
	}
	key, isChat, entity := "bot", false, json.RawMessage(`{"id":`+strconv.Itoa(BotID)+`,"is_bot":true,"first_name":"Bench"}`)
	switch {
	case chat != nil:
		key, isChat, entity = "c", true, chat
	case obj["from"] != nil:
		key, entity = "u", obj["from"]
	case obj["user"] != nil:
		key, entity = "u", obj["user"]
	}
	var e struct {
		ID int64 `json:"id"`
	}
	_ = json.Unmarshal(entity, &e)
	if key != "bot" {
		key += strconv.FormatInt(e.ID, 10)
	}
	b.mu.Lock()
	sc := b.scopes[key]
	if sc == nil {
		var t [16]byte
		_, _ = rand.Read(t[:])
		sc = &bscope{chat: isChat, id: e.ID, token: base64.RawURLEncoding.EncodeToString(t[:])}
		b.scopes[key] = sc
		b.tokens[sc.token] = sc
	}
	sc.entity = entity
	b.mu.Unlock()
	return w.id, sc, w, nil
}

// enqueue queues w on its scope and starts the scope's worker if idle.
func (b *Baseline) enqueue(sc *bscope, w bwork) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending++
	sc.queue = append(sc.queue, w)
	if sc.active {
		return
	}
	sc.active = true
	b.wg.Add(1)
	go b.work(sc)
}

// work delivers a scope's queue in order, one at a time.
func (b *Baseline) work(sc *bscope) {
	defer b.wg.Done()
	for {
		b.mu.Lock()
		if len(sc.queue) == 0 {
			sc.active = false
			sc.queue = nil
			b.mu.Unlock()
			return
		}
		w := sc.queue[0]
		sc.queue = sc.queue[1:]
		entity := sc.entity
		b.mu.Unlock()

		b.sem <- struct{}{}
		if err := b.deliver(sc, entity, w); err != nil {
			b.errs.Add(1)
			fmt.Fprintf(os.Stderr, "baseline: update %d: %v\n", w.id, err)
		}
		<-b.sem

		b.mu.Lock()
		b.pending--
		b.room.Signal()
		b.mu.Unlock()
	}
}

func (b *Baseline) deliver(sc *bscope, entity json.RawMessage, w bwork) error {
	var body bytes.Buffer
	body.Grow(len(entity) + len(w.obj) + 200)
	body.WriteString(`{"scope":{"type":"telegram","`)
	if sc.chat {
		body.WriteString(`chat":`)
	} else {
		body.WriteString(`user":`)
	}
	body.Write(entity)
	body.WriteString(`},"event":{"type":"telegram.`)
	body.WriteString(w.field)
	body.WriteString(`"`)
	if inner := bytes.TrimSpace(w.obj); len(inner) > 2 && inner[0] == '{' {
		body.WriteByte(',')
		body.Write(inner[1:])
	} else {
		body.WriteString(`}`)
	}
	fmt.Fprintf(&body, `,"update_id":%d,"token":"%s","send_url":"%s"}`, w.id, sc.token, b.opt.SendURL)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.opt.AppURL, &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Asgigram-Event", "telegram."+w.field)
	resp, err := b.app.Do(req)
	if err != nil {
		return err
	}
	reply, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("application answered %s", resp.Status)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return nil
	}
	_, err = b.execute(ctx, sc, reply)
	return err
}

// execute calls the events of a reply or /send body in order.
func (b *Baseline) execute(ctx context.Context, sc *bscope, body []byte) ([]json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || string(body) == "null" {
		return nil, nil
	}
	var events []json.RawMessage
	if body[0] == '[' {
		if err := json.Unmarshal(body, &events); err != nil {
			return nil, err
		}
	} else {
		events = []json.RawMessage{body}
	}
	var results []json.RawMessage
	for _, raw := range events {
		var ev map[string]json.RawMessage
		if err := json.Unmarshal(raw, &ev); err != nil {
			return results, err
		}
		if len(ev) == 0 {
			continue
		}
		var typ string
		_ = json.Unmarshal(ev["type"], &typ)
		method, ok := strings.CutPrefix(typ, "telegram.")
		if !ok {
			return results, fmt.Errorf("unknown event type %q", typ)
		}
		delete(ev, "type")
		if _, has := ev["chat_id"]; !has && sc.chat {
			ev["chat_id"] = json.RawMessage(strconv.FormatInt(sc.id, 10))
		}
		params, _ := json.Marshal(ev)
		res, err := b.call(ctx, camel(method), params)
		if err != nil {
			return results, err
		}
		results = append(results, res)
	}
	return results, nil
}

// camel turns send_message into sendMessage.
func camel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// Handler serves POST /send (keyed by scope token) and GET /debug/memstats.
func (b *Baseline) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /send", func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		b.mu.Lock()
		sc := b.tokens[tok]
		b.mu.Unlock()
		if sc == nil {
			http.Error(w, `{"ok":false,"description":"unknown token"}`, http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return
		}
		results, err := b.execute(r.Context(), sc, body)
		if err != nil {
			b.errs.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, `{"ok":false,"description":%q}`, err.Error())
			return
		}
		out, _ := json.Marshal(struct {
			OK      bool              `json:"ok"`
			Results []json.RawMessage `json:"results"`
		}{true, results})
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	})
	mux.HandleFunc("GET /debug/memstats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(readHeap())
	})
	return mux
}

// Heap is a forwarder's Go heap as reported by the runtime.
type Heap struct {
	// Alloc is the bytes of allocated heap objects (live and not yet
	// collected).
	Alloc uint64 `json:"heap_alloc"`
	// Inuse is the bytes in in-use spans.
	Inuse uint64 `json:"heap_inuse"`
	// NextGC is the heap size target of the next GC: about twice the live
	// heap at the last GC (GOGC=100).
	NextGC uint64 `json:"next_gc"`
	// Sys is the memory obtained from the OS.
	Sys uint64 `json:"sys"`
}

func readHeap() Heap {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return Heap{Alloc: m.HeapAlloc, Inuse: m.HeapInuse, NextGC: m.NextGC, Sys: m.Sys}
}

// RoleEnv names the environment variable that makes the bench binary (or a
// test binary, through TestMain) run as the baseline child process.
const RoleEnv = "ASGIGRAM_BENCH_ROLE"

// ChildMain runs the baseline as a child process when RoleEnv says so, and
// exits; otherwise it returns. Call it first thing in main (or TestMain).
func ChildMain() {
	if os.Getenv(RoleEnv) != "baseline" {
		return
	}
	os.Exit(baselineMain(os.Args[1:]))
}

func baselineMain(args []string) int {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	var opt BaselineOptions
	listen := fs.String("listen", "127.0.0.1:0", "address of /send")
	fs.StringVar(&opt.APIURL, "api-url", "", "Bot API base URL")
	fs.StringVar(&opt.Token, "token", BotToken, "bot token")
	fs.StringVar(&opt.AppURL, "app-url", "", "application URL")
	fs.IntVar(&opt.Concurrency, "concurrency", 64, "deliveries in flight")
	fs.DurationVar(&opt.PollTimeout, "poll-timeout", 30*time.Second, "getUpdates timeout")
	fs.IntVar(&opt.MaxPending, "max-pending", 200, "updates fetched and not finished, at most")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		return 1
	}
	opt.SendURL = "http://" + ln.Addr().String() + "/send"
	b := NewBaseline(opt)
	srv := &http.Server{Handler: b.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "baseline:", err)
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_ = b.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if srv.Shutdown(sctx) != nil {
		srv.Close()
	}
	fmt.Fprintf(os.Stderr, "baseline: stopped, %d errors\n", b.Errors())
	return 0
}
