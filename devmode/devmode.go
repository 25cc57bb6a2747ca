// Package devmode is asgigram's local development mode ("asgigram dev"):
// the adapter runs against the project's fake Bot API (telegram/fakeapi) in
// the same process, and a few JSON endpoints under /dev/ act as Telegram
// users, so anyone can try an application with curl, without a Telegram
// account or a bot token.
//
// The package provides the pieces cmd/asgigram wires together:
//
//   - Dev: the fake Bot API (served under BotAPIPath), the endpoints that
//     act as a user and read back what the bot did (Routes), and the
//     per-delivery trace (OnDelivery, FormatTrace);
//   - Echo: the built-in echo application (served under EchoPath), used
//     when no application URL is given.
//
// See README.md in this directory for the endpoints, with curl examples.
package devmode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/internal/httpjson"
	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// Token is the bot token of the fake Telegram. It is not a secret (it opens
// nothing but the fake in this process), but like every token it is never
// printed.
const Token = "1000000001:DEV-dev-mode-not-a-real-token"

// Bot is the bot user of the fake Telegram (getMe); its id is the one in
// Token.
var Bot = fakeapi.User{ID: 1000000001, IsBot: true, FirstName: "asgigram dev bot", Username: "asgigram_dev_bot"}

// Paths on the local server.
const (
	// Prefix is the prefix of every dev mode path.
	Prefix = "/dev"
	// BotAPIPath is where the fake Bot API is served: the adapter's api_url
	// is the server's base URL plus BotAPIPath.
	BotAPIPath = Prefix + "/botapi"
	// EchoPath is where the built-in echo application is served.
	EchoPath = Prefix + "/echo"
)

// DefaultWait is how long an endpoint that injects an update waits, by
// default, for the delivery to finish before it answers. MaxWait bounds
// ?wait=.
const (
	DefaultWait = 10 * time.Second
	MaxWait     = 5 * time.Minute
)

// GroupUserID is the user who writes into group chats (negative chat ids)
// when the request names no "from".
const GroupUserID = 1

// maxBody bounds the request body of a dev endpoint.
const maxBody = 1 << 20

// keepDeliveries is how many finished deliveries are remembered.
const keepDeliveries = 1000

// Options configure a Dev.
type Options struct {
	// Fake is the fake Bot API; nil creates one with Token and Bot, or
	// with Bots > 1, one that serves BotToken(1) to BotToken(Bots). A Fake
	// given here serves the bots it was given, named bot1, bot2, ... in the
	// order of its Bots.
	Fake *fakeapi.Server
	// Bots is how many fake bots the created Fake serves (0 means 1).
	Bots int
	// Out receives one trace line per finished delivery; nil discards them.
	Out io.Writer
	// Redact is applied to every trace line and error text written or
	// answered (the caller removes its secrets); nil leaves them as they are.
	Redact func(string) string
	// EchoKey is the decoded app_secret: when set, the built-in echo
	// application verifies the Standard Webhooks signature of each event.
	EchoKey []byte
	// BaseURL is the local server's URL, e.g. http://127.0.0.1:8080, used
	// in the curl examples (GET /dev and Banner).
	BaseURL string
	// AppURL is the application URL in use, shown by GET /dev and Banner.
	AppURL string
	// Now is the clock for message dates (default time.Now).
	Now func() time.Time
}

// Dev is a running dev mode: the fake Telegram and the endpoints that act
// on it. Create it with New.
type Dev struct {
	opt    Options
	fake   *fakeapi.Server
	echo   *Echo
	bots   []*devBot // bot1 first
	byName map[string]*devBot

	outMu sync.Mutex // serialises trace lines

	mu         sync.Mutex
	deliveries map[deliveryKey]Delivery
	order      []deliveryKey      // deliveries, oldest first
	changed    chan struct{}      // closed and replaced on every delivery
	queries    map[string]queryOf // callback and inline query ids injected
	querySeq   int64
	closed     chan struct{}
	closeOnce  sync.Once
}

// devBot is one bot of the fake Telegram. Update ids are each bot's own,
// so a delivery is known by its bot and update id.
type devBot struct {
	name string // bot1, bot2, ...
	fake *fakeapi.Bot
}

type deliveryKey struct {
	bot string
	id  int64
}

// BotName is the name of the i-th fake bot (from 1): bot1, bot2, ...
func BotName(i int) string { return "bot" + strconv.Itoa(i) }

// BotToken is the token of the i-th fake bot (from 1) when dev mode runs
// several: 100000001:DEV-bot-1, ... Like Token, it opens nothing but the
// fake in this process, and is never printed.
func BotToken(i int) string {
	return strconv.Itoa(100_000_000+i) + ":DEV-bot-" + strconv.Itoa(i)
}

// BotUser is the bot user (getMe) of the i-th fake bot when dev mode runs
// several; its id is the one in BotToken(i).
func BotUser(i int) fakeapi.User {
	return fakeapi.User{ID: int64(100_000_000 + i), IsBot: true, FirstName: "asgigram dev bot " + strconv.Itoa(i),
		Username: "asgigram_dev" + strconv.Itoa(i) + "_bot"}
}

// BotInfo names one fake bot and its token.
type BotInfo struct {
	Name  string
	Token string
	User  fakeapi.User
}

// Bots returns the fake bots, bot1 first.
func (d *Dev) Bots() []BotInfo {
	out := make([]BotInfo, len(d.bots))
	for i, b := range d.bots {
		out[i] = BotInfo{Name: b.name, Token: b.fake.Token(), User: b.fake.User()}
	}
	return out
}

// multi reports whether dev mode runs several bots: the trace lines and
// deliveries then say whose they are.
func (d *Dev) multi() bool { return len(d.bots) > 1 }

// queryOf records whom a callback or inline query came from.
type queryOf struct {
	bot    string
	kind   string // callback_query or inline_query
	chatID int64  // 0 when there is no chat
	userID int64
}

// New returns a Dev.
func New(opt Options) *Dev {
	if opt.Fake == nil {
		if opt.Bots <= 1 {
			opt.Fake = fakeapi.New(fakeapi.Config{Token: Token, Bot: Bot})
		} else {
			opt.Fake = fakeapi.New(fakeapi.Config{Token: BotToken(1), Bot: BotUser(1)})
			for i := 2; i <= opt.Bots; i++ {
				opt.Fake.AddBot(BotToken(i), BotUser(i))
			}
		}
	}
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	if opt.Redact == nil {
		opt.Redact = func(s string) string { return s }
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	d := &Dev{
		opt:        opt,
		fake:       opt.Fake,
		echo:       &Echo{Key: opt.EchoKey, Now: opt.Now},
		byName:     make(map[string]*devBot),
		deliveries: make(map[deliveryKey]Delivery),
		changed:    make(chan struct{}),
		queries:    make(map[string]queryOf),
		closed:     make(chan struct{}),
	}
	for i, fb := range opt.Fake.Bots() {
		b := &devBot{name: BotName(i + 1), fake: fb}
		d.bots = append(d.bots, b)
		d.byName[b.name] = b
	}
	return d
}

// Fake returns the fake Bot API.
func (d *Dev) Fake() *fakeapi.Server { return d.fake }

// Close ends the waits of the endpoints in progress (they answer "pending")
// and the fake's long poll. Call it when shutting down.
func (d *Dev) Close() {
	d.closeOnce.Do(func() {
		close(d.closed)
		d.fake.Close()
	})
}

// Routes adds the dev mode's routes under Prefix to r: the fake Bot API, the
// echo application and the user endpoints.
func (d *Dev) Routes(r chi.Router) {
	r.Route(Prefix, func(r chi.Router) {
		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			d.fail(w, http.StatusNotFound, "no dev endpoint "+r.Method+" "+r.URL.Path+": GET "+Prefix+" lists them")
		})
		r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
			d.fail(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed here: GET "+Prefix+" lists the endpoints")
		})
		r.Get("/", d.index)
		r.Mount("/botapi", http.StripPrefix(BotAPIPath, d.fake))
		r.Post("/echo", d.echo.ServeHTTP)
		r.Post("/chats/{chat_id}/messages", d.postMessage)
		r.Post("/chats/{chat_id}/callback", d.postCallback)
		r.Get("/chats/{chat_id}", d.getChat)
		r.Post("/users/{user_id}/inline", d.postInline)
		r.Get("/users/{user_id}", d.getUser)
		r.Post("/updates", d.postUpdate)
		r.Get("/calls", d.getCalls)
		r.Get("/deliveries", d.getDeliveries)
	})
}

// Delivery is a finished delivery as the dev endpoints show it.
type Delivery struct {
	// Bot is the name of the bot the update was for, when dev mode runs
	// several.
	Bot      string `json:"bot,omitempty"`
	UpdateID int64  `json:"update_id"`
	Type     string `json:"type"`
	Scope    string `json:"scope"`
	// Status is the application's HTTP status, 0 when it did not answer.
	Status    int     `json:"status"`
	LatencyMS float64 `json:"latency_ms"`
	// Error is why the delivery or its reply failed.
	Error string `json:"error,omitempty"`
	// Calls are the Bot API calls of the reply, in order.
	Calls []DeliveryCall `json:"calls"`
	// Trace is the line printed for the delivery.
	Trace string `json:"trace"`
}

// DeliveryCall is one Bot API call of a reply.
type DeliveryCall struct {
	Method string `json:"method"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
}

// Hooks are the adapter hooks of one fake bot: its trace lines start with
// the bot's name when dev mode runs several bots.
type Hooks struct {
	d   *Dev
	bot *devBot
}

// For returns the hooks of the bot named name (bot1, ...), or of bot1 when
// there is no such bot.
func (d *Dev) For(name string) Hooks {
	if b, ok := d.byName[name]; ok {
		return Hooks{d, b}
	}
	return Hooks{d, d.bots[0]}
}

// OnSend prints the trace line of a /send request. It is the adapter's
// OnSend hook.
func (h Hooks) OnSend(t adapter.SendTrace) { h.println(FormatSendTrace(t)) }

// OnTyping prints the trace line of a typing call. It is the adapter's
// OnTyping hook.
func (h Hooks) OnTyping(c adapter.TypingCall) { h.println(FormatTypingTrace(c)) }

// OnCallbackAnswer prints the trace line of a callback query asgigram
// answered itself. It is the adapter's OnCallbackAnswer hook.
func (h Hooks) OnCallbackAnswer(id string, err error) { h.println(FormatCallbackAnswerTrace(id, err)) }

// OnLifecycle prints the trace line of a lifecycle event. It is the
// adapter's OnLifecycle hook.
func (h Hooks) OnLifecycle(t adapter.Trace) { h.println(FormatLifecycleTrace(t)) }

// OnDelivery records a finished delivery and prints its trace line. It is
// the adapter's OnDelivery hook.
func (h Hooks) OnDelivery(t adapter.Trace) { h.d.onDelivery(h.bot, t) }

// line prefixes a trace line with the bot's name when there are several.
func (h Hooks) line(s string) string {
	if h.d.multi() {
		return h.bot.name + ": " + s
	}
	return s
}

func (h Hooks) println(line string) {
	line = h.d.opt.Redact(h.line(line))
	h.d.outMu.Lock()
	_, _ = io.WriteString(h.d.opt.Out, line+"\n")
	h.d.outMu.Unlock()
}

// OnSend, OnTyping, OnCallbackAnswer, OnLifecycle and OnDelivery are bot1's
// hooks (For("bot1")).
func (d *Dev) OnSend(t adapter.SendTrace)            { d.For("").OnSend(t) }
func (d *Dev) OnTyping(c adapter.TypingCall)         { d.For("").OnTyping(c) }
func (d *Dev) OnCallbackAnswer(id string, err error) { d.For("").OnCallbackAnswer(id, err) }
func (d *Dev) OnLifecycle(t adapter.Trace)           { d.For("").OnLifecycle(t) }
func (d *Dev) OnDelivery(t adapter.Trace)            { d.For("").OnDelivery(t) }

func (d *Dev) onDelivery(b *devBot, t adapter.Trace) {
	line := d.opt.Redact(Hooks{d, b}.line(FormatTrace(t)))
	dv := Delivery{
		UpdateID:  t.UpdateID,
		Type:      t.Type,
		Scope:     t.Scope,
		Status:    t.Status,
		LatencyMS: float64(t.Latency.Microseconds()) / 1000,
		Calls:     make([]DeliveryCall, len(t.Calls)),
		Trace:     line,
	}
	if d.multi() {
		dv.Bot = b.name
	}
	if t.Err != nil {
		dv.Error = d.opt.Redact(oneLine(t.Err.Error()))
	}
	for i, c := range t.Calls {
		dv.Calls[i] = DeliveryCall{Method: c.Method, OK: c.Err == nil}
		if c.Err != nil {
			dv.Calls[i].Error = d.opt.Redact(CallError(c.Err))
		}
	}

	d.outMu.Lock()
	_, _ = io.WriteString(d.opt.Out, line+"\n")
	d.outMu.Unlock()

	d.mu.Lock()
	defer d.mu.Unlock()
	key := deliveryKey{b.name, t.UpdateID}
	if _, seen := d.deliveries[key]; !seen {
		d.order = append(d.order, key)
	}
	d.deliveries[key] = dv
	if len(d.order) > keepDeliveries {
		delete(d.deliveries, d.order[0])
		d.order = slices.Delete(d.order, 0, 1)
	}
	close(d.changed)
	d.changed = make(chan struct{})
}

// Delivered returns the delivery of bot1's updateID, if it finished and is
// still remembered.
func (d *Dev) Delivered(updateID int64) (Delivery, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dv, ok := d.deliveries[deliveryKey{d.bots[0].name, updateID}]
	return dv, ok
}

// waitDelivery waits up to wait for the delivery of b's updateID to finish.
func (d *Dev) waitDelivery(ctx context.Context, b *devBot, updateID int64, wait time.Duration) (Delivery, bool) {
	if wait <= 0 {
		return Delivery{}, false
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		d.mu.Lock()
		dv, ok := d.deliveries[deliveryKey{b.name, updateID}]
		changed := d.changed
		d.mu.Unlock()
		if ok {
			return dv, true
		}
		select {
		case <-changed:
		case <-timer.C:
			return Delivery{}, false
		case <-ctx.Done():
			return Delivery{}, false
		case <-d.closed:
			return Delivery{}, false
		}
	}
}

// ---- request and response helpers ----

type errorBody struct {
	OK          bool   `json:"ok"`
	Description string `json:"description"`
}

func (d *Dev) fail(w http.ResponseWriter, status int, description string) {
	writeJSON(w, status, errorBody{Description: d.opt.Redact(description)})
}

// writeJSON answers v, indented for a terminal.
func writeJSON(w http.ResponseWriter, status int, v any) {
	httpjson.WriteIndent(w, status, v, `{"ok": false, "description": "internal error: cannot encode the answer"}`)
}

// decodeBody reads a JSON object into v. The Content-Type is not checked
// (curl -d sends a form type); an empty body is an empty object; unknown
// fields are an error, so that a typo does not go unnoticed.
func (d *Dev) decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			d.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", mbe.Limit))
			return false
		}
		d.fail(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return false
	}
	if strings.TrimSpace(string(body)) == "" {
		body = []byte("{}")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		d.fail(w, http.StatusBadRequest, "the body must be a JSON object: "+strings.TrimPrefix(err.Error(), "json: "))
		return false
	}
	if dec.More() {
		d.fail(w, http.StatusBadRequest, "the body must be one JSON object")
		return false
	}
	return true
}

// botParam reads ?bot=: the name of the bot the request is for (default
// bot1). When there is no such bot it answers 404 itself and returns
// false.
func (d *Dev) botParam(w http.ResponseWriter, r *http.Request) (*devBot, bool) {
	name := strings.TrimSpace(r.URL.Query().Get("bot"))
	if name == "" {
		return d.bots[0], true
	}
	b, ok := d.byName[name]
	if !ok {
		d.fail(w, http.StatusNotFound, fmt.Sprintf("no bot %q: dev mode runs %s", name, d.botNames()))
		return nil, false
	}
	return b, true
}

// botNames says which bots there are: "bot1" or "bot1 to bot3".
func (d *Dev) botNames() string {
	if !d.multi() {
		return d.bots[0].name
	}
	return d.bots[0].name + " to " + d.bots[len(d.bots)-1].name
}

// pathID reads an int64 path parameter.
func (d *Dev) pathID(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	s := chi.URLParam(r, name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id == 0 {
		d.fail(w, http.StatusBadRequest, fmt.Sprintf("%s must be a non-zero integer, got %q", name, s))
		return 0, false
	}
	return id, true
}

// waitParam reads ?wait=: a duration ("5s"), a number of seconds, or
// 0/false/no for "do not wait". The default is DefaultWait.
func (d *Dev) waitParam(w http.ResponseWriter, r *http.Request) (time.Duration, bool) {
	v := strings.TrimSpace(r.URL.Query().Get("wait"))
	switch strings.ToLower(v) {
	case "":
		return DefaultWait, true
	case "false", "no", "off":
		return 0, true
	case "true", "yes", "on":
		return DefaultWait, true
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 {
		return min(time.Duration(n*float64(time.Second)), MaxWait), true
	}
	if dur, err := time.ParseDuration(v); err == nil && dur >= 0 {
		return min(dur, MaxWait), true
	}
	d.fail(w, http.StatusBadRequest, fmt.Sprintf("wait must be a duration (5s), a number of seconds or 0, got %q", v))
	return 0, false
}

// injected is the head of every answer of an endpoint that injects an
// update.
type injected struct {
	OK       bool  `json:"ok"`
	UpdateID int64 `json:"update_id"`
}

// outcome is the delivery part of every answer of an endpoint that injects
// an update.
type outcome struct {
	// Pending is true when the answer did not wait for the delivery to
	// finish (?wait=0, or the wait ran out): Delivery is then null.
	Pending  bool      `json:"pending"`
	Delivery *Delivery `json:"delivery"`
}

// await waits for updateID's delivery per ?wait=. It returns the status to
// answer: 200 once delivered, 202 while pending.
func (d *Dev) await(r *http.Request, b *devBot, wait time.Duration, updateID int64) (outcome, int) {
	dv, ok := d.waitDelivery(r.Context(), b, updateID, wait)
	if !ok {
		return outcome{Pending: true}, http.StatusAccepted
	}
	return outcome{Delivery: &dv}, http.StatusOK
}

// ---- acting as a user ----

// injectParams reads what every endpoint acting as a user takes: the path
// parameter name (a chat or user id), ?wait= and the JSON body into req.
// When one is invalid it answers the error itself and returns false.
func (d *Dev) injectParams(w http.ResponseWriter, r *http.Request, name string, req any) (*devBot, int64, time.Duration, bool) {
	b, ok := d.botParam(w, r)
	if !ok {
		return nil, 0, 0, false
	}
	id, ok := d.pathID(w, r, name)
	if !ok {
		return nil, 0, 0, false
	}
	wait, ok := d.waitParam(w, r)
	if !ok {
		return nil, 0, 0, false
	}
	if !d.decodeBody(w, r, req) {
		return nil, 0, 0, false
	}
	return b, id, wait, true
}

// chatUser is the default user acting in chatID: the chat's own user in a
// private chat, GroupUserID in a group.
func chatUser(chatID int64) int64 {
	if chatID < 0 {
		return GroupUserID
	}
	return chatID
}

// actingUser builds the User object of the acting user: defaultID's,
// replaced or completed by from. When from is invalid it answers 400
// itself and returns false.
func (d *Dev) actingUser(w http.ResponseWriter, defaultID int64, from json.RawMessage) (map[string]any, int64, bool) {
	user, id, err := userObject(defaultID, from)
	if err != nil {
		d.fail(w, http.StatusBadRequest, err.Error())
		return nil, 0, false
	}
	return user, id, true
}

// userParams are the fields of a request that picks the acting user.
type userFrom struct {
	// From replaces or completes the default User object.
	From json.RawMessage `json:"from"`
}

// messageRequest is the body of POST /dev/chats/{chat_id}/messages.
type messageRequest struct {
	Text string `json:"text"`
	userFrom
	// ReplyToMessageID makes the message a reply to that message of the chat.
	ReplyToMessageID int64 `json:"reply_to_message_id"`
	// Entities replaces the entities found in the text (bot commands).
	Entities json.RawMessage `json:"entities"`
	// Extra are more Message fields (a photo, a contact, ...), set last.
	Extra map[string]json.RawMessage `json:"extra"`
}

// messageAnswer answers POST /dev/chats/{chat_id}/messages.
type messageAnswer struct {
	injected
	MessageID int64           `json:"message_id"`
	Message   json.RawMessage `json:"message"`
	outcome
	// Replies are the messages the bot has in the chat after this one (only
	// once delivered).
	Replies []json.RawMessage `json:"replies,omitempty"`
}

func (d *Dev) postMessage(w http.ResponseWriter, r *http.Request) {
	var req messageRequest
	b, chatID, wait, ok := d.injectParams(w, r, "chat_id", &req)
	if !ok {
		return
	}
	if req.Text == "" && len(req.Extra) == 0 {
		d.fail(w, http.StatusBadRequest, `"text" is required (or "extra" with other Message fields, e.g. a photo)`)
		return
	}
	from, _, ok := d.actingUser(w, chatUser(chatID), req.From)
	if !ok {
		return
	}
	msg := map[string]any{
		"from": from,
		"chat": chatObject(chatID, from),
		"date": d.opt.Now().Unix(),
	}
	if req.Text != "" {
		msg["text"] = req.Text
		switch {
		case len(req.Entities) > 0 && string(req.Entities) != "null":
			msg["entities"] = req.Entities
		default:
			if ents := CommandEntities(req.Text); len(ents) > 0 {
				msg["entities"] = ents
			}
		}
	}
	if req.ReplyToMessageID != 0 {
		orig, ok := b.fake.Message(chatID, req.ReplyToMessageID)
		if !ok {
			d.fail(w, http.StatusNotFound, fmt.Sprintf("reply_to_message_id: chat %d has no message %d", chatID, req.ReplyToMessageID))
			return
		}
		msg["reply_to_message"] = withoutKey(orig, "reply_to_message")
	}
	for k, v := range req.Extra {
		switch k {
		case "message_id", "chat":
			d.fail(w, http.StatusBadRequest, fmt.Sprintf("extra: %q is set by dev mode", k))
			return
		}
		msg[k] = v
	}

	updateID, messageID := b.fake.AddMessage("message", chatID, msg)
	stored, _ := b.fake.Message(chatID, messageID)
	out, status := d.await(r, b, wait, updateID)
	ans := messageAnswer{injected: injected{true, updateID}, MessageID: messageID, Message: stored, outcome: out}
	if !out.Pending {
		ans.Replies = []json.RawMessage{}
		for _, m := range b.fake.Messages(chatID) {
			if messageIDOf(m) > messageID {
				ans.Replies = append(ans.Replies, m)
			}
		}
	}
	writeJSON(w, status, ans)
}

// callbackRequest is the body of POST /dev/chats/{chat_id}/callback.
type callbackRequest struct {
	// Data is the callback_data of the button pressed.
	Data string `json:"data"`
	// MessageID is the message whose button is pressed; 0 means the bot's
	// latest message in the chat with an inline keyboard.
	MessageID int64 `json:"message_id"`
	userFrom
}

// queryAnswer answers POST .../callback and .../inline.
type queryAnswer struct {
	injected
	CallbackQueryID string `json:"callback_query_id,omitempty"`
	InlineQueryID   string `json:"inline_query_id,omitempty"`
	// Message is the message whose button was pressed, as it is now (with
	// the bot's edits).
	Message json.RawMessage `json:"message,omitempty"`
	outcome
	// Answer is the bot's answerCallbackQuery or answerInlineQuery call, or
	// null when it did not answer (yet).
	Answer *Call `json:"answer"`
}

func (d *Dev) postCallback(w http.ResponseWriter, r *http.Request) {
	var req callbackRequest
	b, chatID, wait, ok := d.injectParams(w, r, "chat_id", &req)
	if !ok {
		return
	}
	if req.Data == "" {
		d.fail(w, http.StatusBadRequest, `"data" is required: the callback_data of the button pressed`)
		return
	}
	var msg json.RawMessage
	if req.MessageID != 0 {
		m, ok := b.fake.Message(chatID, req.MessageID)
		if !ok {
			d.fail(w, http.StatusNotFound, fmt.Sprintf("chat %d has no message %d: press a button of a message the bot sent (GET %s/chats/%d lists them)", chatID, req.MessageID, Prefix, chatID))
			return
		}
		msg = m
	} else {
		msgs := b.fake.Messages(chatID)
		for i := len(msgs) - 1; i >= 0; i-- {
			if hasInlineKeyboard(msgs[i]) {
				msg = msgs[i]
				break
			}
		}
		if msg == nil {
			d.fail(w, http.StatusNotFound, fmt.Sprintf(`the bot has sent no message with an inline keyboard to chat %d: give "message_id"`, chatID))
			return
		}
	}
	from, userID, ok := d.actingUser(w, chatUser(chatID), req.From)
	if !ok {
		return
	}
	id := d.newQuery(queryOf{bot: b.name, kind: "callback_query", chatID: chatID, userID: userID})
	updateID := b.fake.AddUpdate("callback_query", map[string]any{
		"id":            id,
		"from":          from,
		"message":       msg,
		"chat_instance": chatInstance(chatID),
		"data":          req.Data,
	})
	out, status := d.await(r, b, wait, updateID)
	ans := queryAnswer{injected: injected{true, updateID}, CallbackQueryID: id, outcome: out}
	ans.Message, _ = b.fake.Message(chatID, messageIDOf(msg))
	ans.Answer = d.answerOf(b, "answerCallbackQuery", "callback_query_id", id)
	writeJSON(w, status, ans)
}

// inlineRequest is the body of POST /dev/users/{user_id}/inline.
type inlineRequest struct {
	Query    string `json:"query"`
	Offset   string `json:"offset"`
	ChatType string `json:"chat_type"`
	userFrom
}

func (d *Dev) postInline(w http.ResponseWriter, r *http.Request) {
	var req inlineRequest
	b, userID, wait, ok := d.injectParams(w, r, "user_id", &req)
	if !ok {
		return
	}
	from, fromID, ok := d.actingUser(w, userID, req.From)
	if !ok {
		return
	}
	id := d.newQuery(queryOf{bot: b.name, kind: "inline_query", userID: fromID})
	q := map[string]any{"id": id, "from": from, "query": req.Query, "offset": req.Offset}
	if req.ChatType != "" {
		q["chat_type"] = req.ChatType
	}
	updateID := b.fake.AddUpdate("inline_query", q)
	out, status := d.await(r, b, wait, updateID)
	ans := queryAnswer{injected: injected{true, updateID}, InlineQueryID: id, outcome: out}
	ans.Answer = d.answerOf(b, "answerInlineQuery", "inline_query_id", id)
	writeJSON(w, status, ans)
}

// postUpdate injects any Update object: POST /dev/updates.
func (d *Dev) postUpdate(w http.ResponseWriter, r *http.Request) {
	b, ok := d.botParam(w, r)
	if !ok {
		return
	}
	wait, ok := d.waitParam(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		d.fail(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		d.fail(w, http.StatusBadRequest, `the body must be an Update object without update_id, e.g. {"edited_message": {...}}`)
		return
	}
	if _, ok := fields["update_id"]; ok {
		d.fail(w, http.StatusBadRequest, "leave update_id out: dev mode assigns it")
		return
	}
	if len(fields) != 1 {
		d.fail(w, http.StatusBadRequest, fmt.Sprintf("an Update carries exactly one kind (message, callback_query, ...), got %d fields", len(fields)))
		return
	}
	var kind string
	var payload json.RawMessage
	for k, v := range fields {
		kind, payload = k, v
	}
	d.learnQuery(b, kind, payload)
	updateID := b.fake.AddRawUpdate(body)
	out, status := d.await(r, b, wait, updateID)
	writeJSON(w, status, struct {
		injected
		outcome
	}{injected{true, updateID}, out})
}

// learnQuery records the callback and inline queries of raw updates, so
// their answers show up in GET /dev/chats and /dev/users.
func (d *Dev) learnQuery(b *devBot, kind string, payload json.RawMessage) {
	var q struct {
		ID   string `json:"id"`
		From struct {
			ID int64 `json:"id"`
		} `json:"from"`
		Message struct {
			Chat struct {
				ID int64 `json:"id"`
			} `json:"chat"`
		} `json:"message"`
	}
	if (kind != "callback_query" && kind != "inline_query") || json.Unmarshal(payload, &q) != nil || q.ID == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.queries[q.ID] = queryOf{bot: b.name, kind: kind, chatID: q.Message.Chat.ID, userID: q.From.ID}
}

// newQuery returns a new query id, recorded as of.
func (d *Dev) newQuery(of queryOf) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.querySeq++
	// Telegram's query ids are opaque strings of digits.
	id := strconv.FormatInt(4_000_000_000_000_000_000+d.querySeq, 10)
	d.queries[id] = of
	return id
}

// ---- reading what the bot did ----

// Call is a Bot API call the bot made, as the dev endpoints show it.
type Call struct {
	Method string                     `json:"method"`
	Params map[string]json.RawMessage `json:"params"`
	// Status is the HTTP status the fake answered: 200 for success, 0
	// while the call is in progress.
	Status int       `json:"status"`
	At     time.Time `json:"at"`
}

func callOf(c fakeapi.Call) Call {
	p := c.Params
	if p == nil {
		p = map[string]json.RawMessage{}
	}
	return Call{Method: c.Method, Params: p, Status: c.Status, At: c.At}
}

// answerOf returns the latest call of method whose param is id, preferring
// a successful one.
func (d *Dev) answerOf(b *devBot, method, param, id string) *Call {
	var found *Call
	for _, c := range b.fake.CallsTo(method) {
		if paramString(c.Params[param]) != id {
			continue
		}
		if found == nil || found.Status != http.StatusOK || c.Status == http.StatusOK {
			cc := callOf(c)
			found = &cc
		}
	}
	return found
}

// chatView answers GET /dev/chats/{chat_id}.
type chatView struct {
	Chat json.RawMessage `json:"chat"`
	// Messages are the bot's messages in the chat, with edits applied,
	// deleted ones left out, in message_id order.
	Messages []json.RawMessage `json:"messages"`
	// CallbackAnswers are the answerCallbackQuery calls for button presses
	// in the chat.
	CallbackAnswers []Call `json:"callback_answers"`
	// Calls are every Bot API call whose chat_id is this chat, failed ones
	// included.
	Calls []Call `json:"calls"`
}

func (d *Dev) getChat(w http.ResponseWriter, r *http.Request) {
	b, ok := d.botParam(w, r)
	if !ok {
		return
	}
	chatID, ok := d.pathID(w, r, "chat_id")
	if !ok {
		return
	}
	v := chatView{Messages: b.fake.Messages(chatID), CallbackAnswers: []Call{}, Calls: []Call{}}
	if v.Messages == nil {
		v.Messages = []json.RawMessage{}
	}
	if c, ok := b.fake.Chat(chatID); ok {
		v.Chat = c
	} else {
		v.Chat, _ = json.Marshal(map[string]int64{"id": chatID})
	}
	queries := d.queriesWhere(func(q queryOf) bool { return q.bot == b.name && q.kind == "callback_query" && q.chatID == chatID })
	for _, c := range b.fake.Calls() {
		if c.Method == "answerCallbackQuery" && queries[paramString(c.Params["callback_query_id"])] {
			v.CallbackAnswers = append(v.CallbackAnswers, callOf(c))
		}
		if d.targets(b, c.Params["chat_id"], chatID) {
			v.Calls = append(v.Calls, callOf(c))
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// userView answers GET /dev/users/{user_id}.
type userView struct {
	UserID int64 `json:"user_id"`
	// InlineAnswers are the answerInlineQuery calls for the user's inline
	// queries.
	InlineAnswers []Call `json:"inline_answers"`
	// CallbackAnswers are the answerCallbackQuery calls for the user's
	// button presses, in every chat.
	CallbackAnswers []Call `json:"callback_answers"`
	// Calls are every Bot API call whose user_id is this user
	// (banChatMember, getUserProfilePhotos, ...).
	Calls []Call `json:"calls"`
}

func (d *Dev) getUser(w http.ResponseWriter, r *http.Request) {
	b, ok := d.botParam(w, r)
	if !ok {
		return
	}
	userID, ok := d.pathID(w, r, "user_id")
	if !ok {
		return
	}
	v := userView{UserID: userID, InlineAnswers: []Call{}, CallbackAnswers: []Call{}, Calls: []Call{}}
	inline := d.queriesWhere(func(q queryOf) bool { return q.bot == b.name && q.kind == "inline_query" && q.userID == userID })
	callback := d.queriesWhere(func(q queryOf) bool { return q.bot == b.name && q.kind == "callback_query" && q.userID == userID })
	for _, c := range b.fake.Calls() {
		switch {
		case c.Method == "answerInlineQuery" && inline[paramString(c.Params["inline_query_id"])]:
			v.InlineAnswers = append(v.InlineAnswers, callOf(c))
		case c.Method == "answerCallbackQuery" && callback[paramString(c.Params["callback_query_id"])]:
			v.CallbackAnswers = append(v.CallbackAnswers, callOf(c))
		}
		if paramString(c.Params["user_id"]) == strconv.FormatInt(userID, 10) {
			v.Calls = append(v.Calls, callOf(c))
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// getCalls answers GET /dev/calls: every Bot API call, getUpdates left out
// unless ?all=true or ?method=getUpdates.
func (d *Dev) getCalls(w http.ResponseWriter, r *http.Request) {
	b, ok := d.botParam(w, r)
	if !ok {
		return
	}
	method := r.URL.Query().Get("method")
	all, _ := strconv.ParseBool(r.URL.Query().Get("all"))
	out := []Call{}
	for _, c := range b.fake.Calls() {
		switch {
		case method != "" && !strings.EqualFold(method, c.Method):
			continue
		case method == "" && !all && c.Method == "getUpdates":
			continue
		}
		out = append(out, callOf(c))
	}
	writeJSON(w, http.StatusOK, out)
}

// getDeliveries answers GET /dev/deliveries: the latest finished
// deliveries of every bot, or of ?bot=NAME, oldest first.
func (d *Dev) getDeliveries(w http.ResponseWriter, r *http.Request) {
	only := ""
	if r.URL.Query().Get("bot") != "" {
		b, ok := d.botParam(w, r)
		if !ok {
			return
		}
		only = b.name
	}
	d.mu.Lock()
	out := make([]Delivery, 0, len(d.order))
	for _, key := range d.order {
		if only == "" || key.bot == only {
			out = append(out, d.deliveries[key])
		}
	}
	d.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (d *Dev) queriesWhere(match func(queryOf) bool) map[string]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]bool)
	for id, q := range d.queries {
		if match(q) {
			out[id] = true
		}
	}
	return out
}

// targets reports whether a chat_id parameter (123, "123", "@name")
// addresses chatID.
func (d *Dev) targets(b *devBot, raw json.RawMessage, chatID int64) bool {
	s := paramString(raw)
	if s == "" {
		return false
	}
	if strings.HasPrefix(s, "@") {
		return b.fake.ResolveChat(s) == chatID
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return err == nil && n == chatID
}

// paramString returns a JSON string's content, or the JSON text of any
// other value.
func paramString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	return strings.TrimSpace(string(raw))
}
