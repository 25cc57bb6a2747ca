// Command echo is a minimal asgigram application: a plain net/http server
// that echoes every text message back to its chat.
//
// Run it, then point asgigram at it:
//
//	go run ./examples/go-nethttp
//	asgigram <TOKEN> http://127.0.0.1:8000/
//
// It shows the three ways an application answers asgigram (see the wire
// protocol, docs/protocol.md):
//
//   - replying in the HTTP response body (text messages, /start),
//   - replying with a JSON array of outbound events (callback queries),
//   - answering 204 at once and sending later through the adapter's /send
//     endpoint with the event's scope token (/later, the background-job
//     pattern).
//
// Environment:
//
//	ECHO_LISTEN          address to listen on (default 127.0.0.1:8000)
//	ASGIGRAM_APP_SECRET  the adapter's app_secret (whsec_<base64>); when set,
//	                     every request must carry a valid Standard Webhooks
//	                     signature, else it is answered 401
//
// The example uses only the standard library; VerifyWebhook and ParseSecret
// are meant to be copied into your own application.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// DefaultListen is the address served when ECHO_LISTEN is unset.
	DefaultListen = "127.0.0.1:8000"
	// SignatureTolerance is how far webhook-timestamp may be from now, in
	// either direction, before a request is rejected as a replay.
	SignatureTolerance = 5 * time.Minute
	// maxEventBody bounds the request body the handler reads.
	maxEventBody = 1 << 20
	// laterText is what /later sends through /send.
	laterText = "this came later via /send"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, os.Getenv, logger); err != nil {
		logger.Error("echo: " + err.Error())
		stop()
		os.Exit(1)
	}
}

// run serves the echo bot until ctx ends, then waits for the requests and
// background jobs in flight.
func run(ctx context.Context, getenv func(string) string, logger *slog.Logger) error {
	listen := getenv("ECHO_LISTEN")
	if listen == "" {
		listen = DefaultListen
	}
	app := &App{Log: logger, LaterDelay: time.Second}
	if s := getenv("ASGIGRAM_APP_SECRET"); s != "" {
		key, err := ParseSecret(s)
		if err != nil {
			return fmt.Errorf("ASGIGRAM_APP_SECRET: %w", err)
		}
		app.Key = key
	} else {
		logger.Warn("ASGIGRAM_APP_SECRET is not set: requests are not verified")
	}

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: app.Handler(), ReadHeaderTimeout: 10 * time.Second}
	logger.Info("echo bot listening", "app_url", "http://"+ln.Addr().String()+"/", "verify_signatures", app.Key != nil)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	app.Wait() // let pending /later jobs finish
	return err
}

// ParseSecret decodes a Standard Webhooks secret "whsec_<base64>" (the form
// of asgigram's app_secret) into the HMAC key. The error never contains the
// secret.
func ParseSecret(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, errors.New("must have the Standard Webhooks form whsec_<base64>")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("the part after whsec_ is not valid standard base64")
	}
	if len(key) == 0 {
		return nil, errors.New("the key after whsec_ is empty")
	}
	return key, nil
}

// Errors of VerifyWebhook.
var (
	ErrMissingHeaders = errors.New("webhook-id, webhook-timestamp or webhook-signature header missing")
	ErrBadTimestamp   = errors.New("webhook-timestamp is not a Unix time in seconds")
	ErrStaleTimestamp = errors.New("webhook-timestamp is more than 5 minutes away from now")
	ErrNoSignature    = errors.New("no webhook-signature matches")
)

// VerifyWebhook checks the Standard Webhooks signature of one request, as
// asgigram sends it when app_secret is set. key is the decoded secret (see
// ParseSecret), h the request headers, body the raw request body exactly as
// received (verify before decoding it), now the current time.
//
// The signed content is webhook-id + "." + webhook-timestamp + "." + body,
// signed with HMAC-SHA256. webhook-signature is a space-separated list of
// "v1,<base64 signature>" (several during a key rotation); one match is
// enough. A webhook-timestamp further than SignatureTolerance from now is
// rejected, so a captured request cannot be replayed later. To also
// reject replays within the window, remember the webhook-ids seen in the
// last SignatureTolerance: asgigram keeps the id stable across redeliveries.
//
// It returns nil when the request is authentic; answer 401 otherwise.
func VerifyWebhook(key []byte, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > SignatureTolerance || d < -SignatureTolerance {
		return ErrStaleTimestamp
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue // another scheme: not ours to check
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrNoSignature
}

// Delivery is the body of one POST from asgigram (docs/protocol.md, "The event POST").
type Delivery struct {
	Scope    json.RawMessage `json:"scope"`
	Event    json.RawMessage `json:"event"`
	UpdateID int64           `json:"update_id"`
	Token    string          `json:"token"`    // scope token: a send credential, never log it
	SendURL  string          `json:"send_url"` // the adapter's /send endpoint
}

// Message holds the fields of a telegram.message event this bot reads. Ids
// are int64: chat and user ids exceed 32 bits.
type Message struct {
	MessageID int64  `json:"message_id"`
	Text      string `json:"text"`
	Chat      struct {
		ID int64 `json:"id"`
	} `json:"chat"`
	From *User `json:"from"`
}

// User is a Telegram user.
type User struct {
	ID        int64  `json:"id"`
	FirstName string `json:"first_name"`
}

// CallbackQuery holds the fields of a telegram.callback_query event this
// bot reads. Its id is a string in the Bot API.
type CallbackQuery struct {
	ID   string `json:"id"`
	From User   `json:"from"`
	Data string `json:"data"`
}

// SendMessage is the outbound event telegram.send_message (docs/protocol.md, "Outbound events").
// chat_id is left out: the adapter defaults it to the event's chat.
type SendMessage struct {
	Type             string `json:"type"`
	Text             string `json:"text"`
	ReplyToMessageID int64  `json:"reply_to_message_id,omitempty"`
}

// AnswerCallbackQuery is the outbound event telegram.answer_callback_query.
type AnswerCallbackQuery struct {
	Type            string `json:"type"`
	CallbackQueryID string `json:"callback_query_id"`
	Text            string `json:"text,omitempty"`
}

// App is the echo bot. The zero value works (no signature check, /later
// after no delay); set the fields before serving.
type App struct {
	// Key is the decoded app_secret; nil accepts unsigned requests.
	Key []byte
	// Log receives one line per event and the answers of /send; nil
	// discards them. The scope token is never logged.
	Log *slog.Logger
	// Client makes the /send calls (default: a client with a 10s timeout).
	Client *http.Client
	// LaterDelay is how long /later waits before calling /send.
	LaterDelay time.Duration
	// Now is the clock for signature timestamps (default time.Now).
	Now func() time.Time

	jobs sync.WaitGroup
}

// Handler returns the HTTP handler: POST / receives the events.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{$}", a.serveEvent)
	return mux
}

// Wait blocks until the background jobs started so far have finished.
func (a *App) Wait() { a.jobs.Wait() }

func (a *App) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

func (a *App) serveEvent(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	if a.Key != nil {
		now := time.Now
		if a.Now != nil {
			now = a.Now
		}
		if err := VerifyWebhook(a.Key, r.Header, body, now()); err != nil {
			a.log().Warn("rejected request", "reason", err, "remote", r.RemoteAddr)
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
	}
	var d Delivery
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &d); err != nil || json.Unmarshal(d.Event, &head) != nil {
		http.Error(w, "body is not an asgigram event", http.StatusBadRequest)
		return
	}
	a.log().Info("event", "type", head.Type, "update_id", d.UpdateID)

	switch head.Type {
	case "telegram.message":
		a.onMessage(w, &d)
	case "telegram.callback_query":
		a.onCallbackQuery(w, &d)
	default:
		w.WriteHeader(http.StatusNoContent) // nothing to send
	}
}

func (a *App) onMessage(w http.ResponseWriter, d *Delivery) {
	var m Message
	if err := json.Unmarshal(d.Event, &m); err != nil {
		http.Error(w, "malformed message", http.StatusBadRequest)
		return
	}
	if m.Text == "" { // a photo, sticker, service message, ...
		w.WriteHeader(http.StatusNoContent)
		return
	}
	switch command(m.Text) {
	case "/start":
		name := "there"
		if m.From != nil && m.From.FirstName != "" {
			name = m.From.FirstName
		}
		writeJSON(w, SendMessage{
			Type: "telegram.send_message",
			Text: "Hello, " + name + "! I echo every text you send me. Try /later for a reply sent afterwards through /send.",
		})
	case "/later":
		w.WriteHeader(http.StatusNoContent) // answer at once, send later
		a.sendLater(d.SendURL, d.Token, d.UpdateID)
	default:
		writeJSON(w, SendMessage{
			Type:             "telegram.send_message",
			Text:             "echo: " + m.Text,
			ReplyToMessageID: m.MessageID,
		})
	}
}

func (a *App) onCallbackQuery(w http.ResponseWriter, d *Delivery) {
	var q CallbackQuery
	if err := json.Unmarshal(d.Event, &q); err != nil || q.ID == "" {
		http.Error(w, "malformed callback query", http.StatusBadRequest)
		return
	}
	// An array of outbound events, executed in order.
	writeJSON(w, []any{AnswerCallbackQuery{
		Type:            "telegram.answer_callback_query",
		CallbackQueryID: q.ID,
		Text:            "got it",
	}})
}

// sendLater is the background-job pattern: the handler has already answered
// 204; after LaterDelay a goroutine POSTs to the adapter's /send with the
// scope token, which addresses the event's chat.
func (a *App) sendLater(sendURL, token string, updateID int64) {
	log := a.log().With("update_id", updateID)
	if sendURL == "" || token == "" {
		log.Error("/later: the event carries no send_url or token")
		return
	}
	client := a.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	a.jobs.Go(func() {
		time.Sleep(a.LaterDelay) // stands in for slow work
		body, _ := json.Marshal(SendMessage{Type: "telegram.send_message", Text: laterText})
		req, err := http.NewRequest(http.MethodPost, sendURL, bytes.NewReader(body))
		if err != nil {
			log.Error("/later: bad send_url", "err", err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			log.Error("/later: POST /send failed", "err", err) // the error names the URL, not the token
			return
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		// 200 {"ok":true,"results":[<sent Message>]}, or {"ok":false,"description":...}.
		level := slog.LevelInfo
		if resp.StatusCode != http.StatusOK {
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, "/later: /send answered", "status", resp.StatusCode, "body", string(bytes.TrimSpace(answer)))
	})
}

// command returns the bot command a text starts with, without any
// "@botname" suffix ("/start@echo_bot hi" -> "/start"), or "" if the text is
// not a command.
func command(text string) string {
	fields := strings.Fields(text)
	if len(fields) == 0 || !strings.HasPrefix(fields[0], "/") {
		return ""
	}
	cmd, _, _ := strings.Cut(fields[0], "@")
	return cmd
}

// writeJSON answers 200 with v as the reply body. Content-Type must be
// application/json for asgigram to read the body as outbound events.
func writeJSON(w http.ResponseWriter, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, "cannot encode reply", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}
