// Package fakeapi is a fake Telegram Bot API server for tests and for the
// local development mode.
//
// A Server is an http.Handler that answers /bot<token>/<method> the way the
// real Bot API does: the same envelopes, status codes, error texts and
// getUpdates semantics (offset confirmation, an offset in the future answered
// from the head of the queue, long polling, the 409 conflicts between
// pollers and with webhooks, allowed_updates filtering). Tests feed it
// updates with AddUpdate and AddRawUpdate, inspect what the bot did with Calls,
// Messages, Offset and Pending, and inject failures with Fail, ForbidChat,
// MigrateChat, SetWebhook, RevokeToken and NewToken.
//
// Sent messages are kept per chat (see Messages) with ids that grow per chat
// from 1, shared with the incoming messages of added updates, so replies,
// edits, copies and deletions behave as on Telegram. Methods the fake does
// not model answer true; unmodelled send* methods answer a bare Message.
//
// Files the bot uploads (multipart parts of send* calls, also those an
// InputMedia names with attach://<part>) and files registered with AddFile
// are answered by getFile and served at /file/bot<token>/<file_path>.
//
// One Server can serve several bots, as the real server does: each token
// (Config.Token, Config.Tokens, or one added with AddBot) is a Bot of its
// own, with its own update queue and offset, getMe user (by default with the
// id of the token's numeric prefix), chats, messages, files (downloaded
// with the bot's own token only), webhook, long poll and revocation. A
// token of one bot never reads or acts on another bot's state, and an
// unknown token answers 401. Tests reach a bot with BotFor, whose Bot has
// the test-facing methods named above; the Server's own methods of those
// names act on the bot of Config.Token, so a single-bot test needs nothing
// more. Calls and Fail on the Server see calls of every token; Bot.Calls
// and Bot.Fail those of one bot.
//
// Known simplifications: text is stored as sent (parse_mode markup is not
// parsed into entities), updates do not expire, repeated polls with the same
// offset are not slowed down, and a webhook, once set, only blocks
// getUpdates: nothing is delivered to it.
//
// The server keeps everything in memory; all methods are safe for concurrent
// use. It starts no goroutines of its own: a bot's held long poll ends when
// an update for that bot arrives, its timeout passes, a newer getUpdates or
// setWebhook of that bot takes over, the client goes away, or Close is
// called.
package fakeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asgigram/asgigram/internal/httpjson"
	"github.com/asgigram/asgigram/telegram"
)

// Config configures a Server.
type Config struct {
	// Token is the token of the server's first bot: the bot whose state
	// the Server's own methods (AddUpdate, Messages, RevokeToken, ...)
	// read and change.
	Token string
	// Tokens are the tokens of further bots the server serves, each with
	// its own state (see Bot); Server.BotFor returns a bot's handle and
	// AddBot adds bots later. Their getMe user is DefaultBot with the id
	// of the token's numeric prefix. A token may be listed once, and not
	// again as Token; New panics otherwise.
	Tokens []string
	// Bot is the user of the bot of Token, returned by getMe and used as
	// the sender of the messages the bot sends. When it is the zero User,
	// a default bot (@fake_bot) is used, whose id is the token's numeric
	// prefix as on the real server (100000001 when the token has none).
	Bot User
	// MaxPollTimeout caps the timeout of getUpdates. It defaults to 50
	// seconds, as on the real server; tests may lower it to keep long polls
	// short.
	MaxPollTimeout time.Duration
	// FirstUpdateID is the update_id of every bot's first update; 0 means
	// 1. The real server starts a bot's ids at a random number, and starts
	// again elsewhere after a week without updates (see ResetUpdateIDs).
	FirstUpdateID int64
	// QueryTimeout is how long after its update was added a callback
	// query can still be answered; later answerCallbackQuery fails with
	// 400 "query is too old ...", as on the real server. 0 means no limit.
	// A callback query is answered once: a second answer fails the same
	// way.
	QueryTimeout time.Duration
}

// User is a Telegram User object, reduced to the fields the fake needs.
type User struct {
	// ID is the user's identifier.
	ID int64 `json:"id"`
	// IsBot is true for bots.
	IsBot bool `json:"is_bot"`
	// FirstName is the user's first name.
	FirstName string `json:"first_name"`
	// Username is the user's username, without the @.
	Username string `json:"username,omitempty"`
}

// Fault describes a failure to inject into the next calls of a method, see
// Server.Fail.
type Fault struct {
	// Times is how many calls the fault applies to; 0 means 1.
	Times int
	// Code is the error_code and the HTTP status answered, e.g. 429, 500,
	// 502 or 400. When it is 0 and Reset is false, the fault only delays
	// the call (see Delay) and the call is then handled normally.
	Code int
	// Description is the error description. When empty, a Telegram-like
	// text for Code is used ("Too Many Requests: retry after 1",
	// "Internal Server Error", ...).
	Description string
	// RetryAfter, when positive, is answered as parameters.retry_after (in
	// seconds) and as the Retry-After header.
	RetryAfter int
	// MigrateToChatID, when non-zero, is answered as
	// parameters.migrate_to_chat_id.
	MigrateToChatID int64
	// Delay is how long to wait before answering. The wait ends early,
	// without an answer, when the client goes away.
	Delay time.Duration
	// Reset makes the server close the connection without answering, as
	// a connection reset would.
	Reset bool
	// AfterProcessing makes the server carry out the call first (store the
	// message, confirm updates, ...) and only then answer the failure (or
	// reset the connection), to simulate failures whose outcome is
	// ambiguous for the client.
	AfterProcessing bool
}

// Call is one request the server received.
type Call struct {
	// Method is the method's canonical name (sendMessage) when the method
	// is known, else the name as it was sent.
	Method string
	// Params holds the request's parameters, whatever their encoding (JSON
	// body, x-www-form-urlencoded body, multipart form fields, query
	// string). Values of form and query parameters are turned into JSON:
	// integers become JSON numbers, valid JSON objects and arrays stay as
	// they are, and everything else becomes a JSON string. An uploaded file
	// is recorded as {"file_name":...,"size":...}.
	Params map[string]json.RawMessage
	// Files holds the files of a multipart request by field name, with
	// their content; nil when there were none.
	Files map[string]Upload
	// At is when the request arrived.
	At time.Time
	// Status is the HTTP status answered. It is 0 while the call is in
	// progress and when no answer was given (connection reset, or the
	// client went away first).
	Status int
}

// Server is a fake Bot API server. Create it with New; it implements
// http.Handler.
type Server struct {
	cfg Config
	def *Bot // the bot of Config.Token

	mu       sync.Mutex // guards the fields below
	calls    []Call
	callBots []*Bot // the bot of each call's token; nil for an unknown token
	faults   []*faultEntry
	bots     map[string]*Bot
	order    []*Bot // bots in the order they were added
	closed   bool
}

var _ http.Handler = (*Server)(nil)

// DefaultBot is the bot user used when Config.Bot is zero.
var DefaultBot = User{ID: 100000001, IsBot: true, FirstName: "Fake Bot", Username: "fake_bot"}

// DefaultMaxPollTimeout is the getUpdates timeout cap used when
// Config.MaxPollTimeout is zero; it is the real server's cap.
const DefaultMaxPollTimeout = 50 * time.Second

// New returns a Server configured by cfg, serving the bot of cfg.Token and
// one bot per token of cfg.Tokens, none with pending updates. Each bot's
// first update gets id Config.FirstUpdateID (1 by default) unless
// SetNextUpdateID says otherwise.
func New(cfg Config) *Server {
	if cfg.Bot == (User{}) {
		cfg.Bot = defaultUser(cfg.Token)
	}
	if cfg.MaxPollTimeout <= 0 {
		cfg.MaxPollTimeout = DefaultMaxPollTimeout
	}
	if cfg.FirstUpdateID <= 0 {
		cfg.FirstUpdateID = 1
	}
	s := &Server{cfg: cfg, bots: make(map[string]*Bot, 1+len(cfg.Tokens))}
	s.def = s.addBotLocked(cfg.Token, cfg.Bot)
	for _, token := range cfg.Tokens {
		s.AddBot(token, User{})
	}
	return s
}

// defaultUser is DefaultBot with the id of token's numeric prefix, when it
// has one.
func defaultUser(token string) User {
	u := DefaultBot
	if id, ok := telegram.TokenBotID(token); ok {
		u.ID = id
	}
	return u
}

// Bot returns the user answered by getMe to the bot of Config.Token.
func (s *Server) Bot() User { return s.def.user }

// Close ends the long polls held at the moment, which answer with an empty
// list, and makes later getUpdates calls answer at once instead of waiting,
// for every bot, also those added later. Calling Close is optional; the
// server stays usable otherwise.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	bots := append([]*Bot(nil), s.order...)
	s.mu.Unlock()
	for _, b := range bots {
		b.close()
	}
}

// Fail queues a fault for the next calls of method, whatever their token;
// method "*" matches every method. Method names match case-insensitively.
// Queued faults apply in the order they were queued; each applies to
// Fault.Times calls. A fault takes effect before any other check (token,
// method name), as a failing proxy in front of the Bot API would, and
// before the faults of Bot.Fail.
func (s *Server) Fail(method string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = addFault(s.faults, method, f)
}

// Calls returns a copy of every call recorded, in arrival order, whatever
// its token. Every request to a /bot<token>/<method> path is recorded,
// including refused and faulted ones; requests to other paths are not. See
// Bot.Calls for the calls of one bot.
func (s *Server) Calls() []Call { return s.callsOf(nil, "") }

// CallsTo returns a copy of the calls of method, whatever their token, in
// arrival order. The method name matches case-insensitively.
func (s *Server) CallsTo(method string) []Call { return s.callsOf(nil, method) }

// callsOf returns copies of the calls made with b's token (every call when
// b is nil) to method (every method when it is "").
func (s *Server) callsOf(b *Bot, method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	if b == nil && method == "" {
		out = make([]Call, 0, len(s.calls))
	}
	for i, c := range s.calls {
		if (b == nil || s.callBots[i] == b) && (method == "" || strings.EqualFold(c.Method, method)) {
			out = append(out, copyCall(c))
		}
	}
	return out
}

func copyCall(c Call) Call {
	p := make(map[string]json.RawMessage, len(c.Params))
	for k, v := range c.Params {
		p[k] = append(json.RawMessage(nil), v...)
	}
	c.Params = p
	if c.Files != nil {
		f := make(map[string]Upload, len(c.Files))
		for k, v := range c.Files {
			v.Data = append([]byte(nil), v.Data...)
			f[k] = v
		}
		c.Files = f
	}
	return c
}

// ServeHTTP answers one Bot API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/file/") {
		s.serveFile(w, r)
		return
	}
	token, name, ok := splitPath(r.URL.Path)
	if !ok {
		writeError(w, &apiError{Code: http.StatusNotFound, Description: "Not Found"})
		return
	}
	canonical, known := lookupMethod(name)
	params, files, perr := parseParams(r)

	s.mu.Lock()
	b := s.bots[token]
	idx := len(s.calls)
	s.calls = append(s.calls, Call{Method: canonical, Params: params, Files: files, At: time.Now()})
	s.callBots = append(s.callBots, b)
	s.mu.Unlock()

	status := 0
	defer func() {
		s.mu.Lock()
		s.calls[idx].Status = status
		s.mu.Unlock()
	}()

	ctx := r.Context()
	s.mu.Lock()
	f, faulted := takeFault(&s.faults, name)
	s.mu.Unlock()
	if !faulted && b != nil {
		b.mu.Lock()
		f, faulted = takeFault(&b.faults, name)
		b.mu.Unlock()
	}
	if faulted && f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
	failing := faulted && (f.Reset || f.Code != 0)
	if failing && !f.AfterProcessing {
		status = s.fail(w, f)
		return
	}

	result, aerr := call(ctx, b, token, canonical, known, params, files, perr)
	if aerr == errNoAnswer {
		return
	}
	if failing {
		status = s.fail(w, f)
		return
	}
	if aerr != nil {
		status = writeError(w, aerr)
		return
	}
	status = writeResult(w, result)
}

// call handles a request made with token to bot b (nil for an unknown
// token) whose fault injection is done.
func call(ctx context.Context, b *Bot, token, method string, known bool, p params, files map[string]Upload, perr *apiError) (any, *apiError) {
	if !b.liveAs(token) {
		return nil, &apiError{Code: http.StatusUnauthorized, Description: "Unauthorized"}
	}
	if !known {
		return nil, &apiError{Code: http.StatusNotFound, Description: "Not Found: method not found"}
	}
	if perr != nil {
		return nil, perr
	}
	if method == "getUpdates" {
		return b.getUpdates(ctx, p)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.uploads = files
	defer func() { b.uploads = nil }()
	if h, ok := handlers[method]; ok {
		return h(b, p)
	}
	return b.genericMethod(method, p)
}

// fail answers the failure f and returns the status answered.
func (s *Server) fail(w http.ResponseWriter, f Fault) int {
	if f.Reset {
		resetConnection(w)
		return 0
	}
	e := &apiError{
		Code:            f.Code,
		Description:     f.Description,
		RetryAfter:      f.RetryAfter,
		MigrateToChatID: f.MigrateToChatID,
	}
	if e.Description == "" {
		e.Description = defaultDescription(f.Code, f.RetryAfter)
	}
	return writeError(w, e)
}

// resetConnection closes the client connection without an answer. With
// HTTP/1 the connection is hijacked and closed with SO_LINGER 0, so the
// client sees a reset; otherwise the handler is aborted.
func resetConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

type faultEntry struct {
	method string
	fault  Fault
	left   int
}

// addFault queues f for method on list and returns the list.
func addFault(list []*faultEntry, method string, f Fault) []*faultEntry {
	if f.Times <= 0 {
		f.Times = 1
	}
	return append(list, &faultEntry{method: method, fault: f, left: f.Times})
}

// takeFault pops one use of the first fault on *list matching method. The
// lock guarding the list must be held.
func takeFault(list *[]*faultEntry, method string) (Fault, bool) {
	for i, e := range *list {
		if e.method != "*" && !strings.EqualFold(e.method, method) {
			continue
		}
		e.left--
		if e.left <= 0 {
			*list = append((*list)[:i:i], (*list)[i+1:]...)
		}
		return e.fault, true
	}
	return Fault{}, false
}

// splitPath splits /bot<token>/<method>.
func splitPath(path string) (token, method string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/bot")
	if !ok {
		return "", "", false
	}
	token, method, ok = strings.Cut(rest, "/")
	if !ok || token == "" || method == "" || strings.Contains(method, "/") {
		return "", "", false
	}
	return token, method, true
}

// localMethods are methods the fake treats as known even when the
// telegram package's catalogue does not list them.
var localMethods = map[string]string{}

func init() {
	for _, name := range []string{
		"getMe", "getUpdates", "logOut", "close",
		"setWebhook", "deleteWebhook", "getWebhookInfo",
		"sendMessage", "sendPhoto", "sendAudio", "sendDocument", "sendVideo",
		"sendAnimation", "sendVoice", "sendVideoNote", "sendSticker",
		"sendLocation", "sendVenue", "sendContact", "sendPoll", "sendDice",
		"sendMediaGroup", "sendChatAction", "sendMessageDraft",
		"copyMessage", "copyMessages", "forwardMessage", "forwardMessages",
		"editMessageText", "editMessageCaption", "editMessageReplyMarkup",
		"deleteMessage", "deleteMessages",
		"answerCallbackQuery", "answerInlineQuery", "answerPreCheckoutQuery",
		"answerShippingQuery", "setMessageReaction",
	} {
		localMethods[strings.ToLower(name)] = name
	}
}

// lookupMethod returns a method's canonical name and whether it exists.
func lookupMethod(name string) (string, bool) {
	if info, ok := telegram.LookupMethod(name); ok {
		return info.Name, true
	}
	if c, ok := localMethods[strings.ToLower(name)]; ok {
		return c, true
	}
	return name, false
}

// apiError is a Bot API refusal.
type apiError struct {
	Code            int
	Description     string
	RetryAfter      int
	MigrateToChatID int64
}

// errNoAnswer tells ServeHTTP not to answer: the client went away.
var errNoAnswer = &apiError{}

func badRequest(text string) *apiError {
	return &apiError{Code: http.StatusBadRequest, Description: "Bad Request: " + text}
}

// defaultDescription returns the description Telegram uses for code.
func defaultDescription(code, retryAfter int) string {
	switch code {
	case http.StatusBadRequest:
		return "Bad Request"
	case http.StatusUnauthorized:
		return "Unauthorized"
	case http.StatusForbidden:
		return "Forbidden"
	case http.StatusNotFound:
		return "Not Found"
	case http.StatusConflict:
		return "Conflict"
	case http.StatusTooManyRequests:
		if retryAfter > 0 {
			return "Too Many Requests: retry after " + strconv.Itoa(retryAfter)
		}
		return "Too Many Requests"
	}
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Error " + strconv.Itoa(code)
}

type responseParameters struct {
	MigrateToChatID int64 `json:"migrate_to_chat_id,omitempty"`
	RetryAfter      int   `json:"retry_after,omitempty"`
}

type errorEnvelope struct {
	OK          bool                `json:"ok"`
	ErrorCode   int                 `json:"error_code"`
	Description string              `json:"description"`
	Parameters  *responseParameters `json:"parameters,omitempty"`
}

type okEnvelope struct {
	OK          bool   `json:"ok"`
	Result      any    `json:"result"`
	Description string `json:"description,omitempty"`
}

// described is a result answered together with a description, as
// setWebhook's "Webhook was set".
type described struct {
	result      any
	description string
}

func writeResult(w http.ResponseWriter, result any) int {
	env := okEnvelope{OK: true, Result: result}
	if d, ok := result.(described); ok {
		env.Result, env.Description = d.result, d.description
	}
	return writeJSON(w, http.StatusOK, env)
}

func writeError(w http.ResponseWriter, e *apiError) int {
	env := errorEnvelope{ErrorCode: e.Code, Description: e.Description}
	if e.RetryAfter > 0 || e.MigrateToChatID != 0 {
		env.Parameters = &responseParameters{RetryAfter: e.RetryAfter, MigrateToChatID: e.MigrateToChatID}
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	code := e.Code
	if code < 100 || code > 999 {
		code = http.StatusInternalServerError
	}
	return writeJSON(w, code, env)
}

func writeJSON(w http.ResponseWriter, status int, v any) int {
	return httpjson.Write(w, status, v, `{"ok":false,"error_code":500,"description":"Internal Server Error"}`)
}

// marshal encodes v as JSON without escaping <, > and &, as Telegram does,
// and without httpjson's final newline (it is embedded in other JSON).
func marshal(v any) ([]byte, error) {
	b, err := httpjson.Marshal(v)
	return bytes.TrimRight(b, "\n"), err
}

// mustMarshal encodes values that cannot fail to encode.
func mustMarshal(v any) json.RawMessage {
	b, err := marshal(v)
	if err != nil {
		panic("fakeapi: " + err.Error())
	}
	return b
}
