package httpapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/internal/httpjson"
	"github.com/asgigram/asgigram/telegram"
)

// Sender carries out /send requests. *adapter.Adapter implements it.
type Sender interface {
	// Authorize resolves a bearer token (a scope token or the send_token).
	Authorize(token string) (adapter.Principal, error)
	// Arrive takes the request's place in arrival order. The handler takes
	// it once the body is in and its events are counted: the calls to one
	// chat are made in that order (docs/protocol.md, "How calls are
	// made"). It may return nil (no order kept).
	Arrive() *adapter.Arrival
	// Send carries out the events of a JSON /send body, the request that
	// arrived as arr.
	Send(ctx context.Context, p adapter.Principal, arr *adapter.Arrival, events []json.RawMessage) ([]json.RawMessage, error)
	// SendFiles carries out a multipart/form-data /send: one event with
	// files, the request that arrived as arr.
	SendFiles(ctx context.Context, p adapter.Principal, arr *adapter.Arrival, event json.RawMessage, files []telegram.FilePart) (json.RawMessage, error)
}

var _ Sender = (*adapter.Adapter)(nil)

// RouterOptions configure NewRouter.
type RouterOptions struct {
	// Sender serves POST /send: a JSON body of events, or a
	// multipart/form-data upload of one event with files. Its Authorize
	// also admits the requests of GET /file/{file_id}.
	Sender Sender
	// Files, when set, serves GET /file/{file_id}.
	Files FileOpener
	// BodyLimit bounds a JSON /send body, and the event part of a multipart
	// one (default 1 MiB).
	BodyLimit int64
	// UploadLimit bounds a multipart/form-data /send body (default 50 MiB,
	// Telegram's own cap on uploads).
	UploadLimit int64
	// MaxEvents bounds the events of one /send request (send_max_events;
	// 0: no bound).
	MaxEvents int
	// BodyTimeout bounds the arrival of headers and of a request body (a
	// JSON /send, the first part of an upload), and the reading of an
	// answer (send_body_timeout; 0: no deadlines at all).
	BodyTimeout time.Duration
	// MinRate is the least average rate, in bytes per second after a first
	// BodyTimeout, of a multipart /send body and of a /file download
	// (upload_min_rate; 0: no bound).
	MinRate int64
	// HandlerTime is the most a handler waits before it answers
	// (send_timeout), allowed for in the deadline of the answer.
	HandlerTime time.Duration
	// Logger receives handler errors; never a token.
	Logger *slog.Logger
	// Routes, when set, adds routes (the dev mode's endpoints).
	Routes func(chi.Router)
	// Health, when set, serves GET /readyz: 200 when ready, else 503, with
	// the reasons as JSON.
	Health func() adapter.Health
	// Metrics, when set, is served on GET /metrics.
	Metrics http.Handler
	// BotHealth, when set, answers GET /readyz?bot=NAME with the health
	// of that bot (false: there is none, 404).
	BotHealth func(name string) (adapter.Health, bool)
	// Admin and AdminToken enable the /admin endpoints; without a token
	// they are off.
	Admin      Admin
	AdminToken string
	// AdminBot, when set with AdminToken, serves the endpoints of each bot
	// under /admin/bots/{name}: the Admin of the bot named name (false:
	// there is none, 404). Admin may then be nil: /admin/deadletters...
	// answer 404, naming the per-bot paths.
	AdminBot func(name string) (Admin, bool)
}

// NewRouter returns the local server's handler: POST /send, GET /healthz,
// and (when configured) GET /file/{file_id}, GET /readyz and GET /metrics.
func NewRouter(opt RouterOptions) http.Handler {
	if opt.BodyLimit <= 0 {
		opt.BodyLimit = 1 << 20
	}
	if opt.UploadLimit <= 0 {
		opt.UploadLimit = DefaultUploadLimit
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	r := chi.NewRouter()
	r.Use(recoverJSON(opt.Logger))
	if opt.BodyTimeout > 0 {
		r.Use(deadlines(opt.BodyTimeout, opt.HandlerTime))
	}
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, apiError{Description: "not found: asgigram serves POST /send, GET /file/{file_id}, GET /healthz, /readyz and /metrics"})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, apiError{Description: "method not allowed: use POST for /send, GET for /file/{file_id}"})
	})
	h := &sendHandler{opt: opt}
	r.Post("/send", h.ServeHTTP)
	if opt.Files != nil {
		fh := &fileHandler{sendHandler: h, files: opt.Files}
		r.Get("/file/{file_id}", fh.ServeHTTP)
	}
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	if opt.Health != nil {
		r.Get("/readyz", func(w http.ResponseWriter, req *http.Request) {
			var h adapter.Health
			if name := req.URL.Query().Get("bot"); name != "" && opt.BotHealth != nil {
				var ok bool
				if h, ok = opt.BotHealth(name); !ok {
					writeError(w, http.StatusNotFound, apiError{Description: fmt.Sprintf("no bot named %q", name)})
					return
				}
			} else {
				h = opt.Health()
			}
			status := http.StatusOK
			if !h.Ready {
				status = http.StatusServiceUnavailable
			}
			writeJSON(w, status, h)
		})
	}
	if opt.Metrics != nil {
		r.Method(http.MethodGet, "/metrics", opt.Metrics)
	}
	if (opt.Admin != nil || opt.AdminBot != nil) && opt.AdminToken != "" {
		adminRoutes(r, opt.Admin, opt.AdminBot, opt.AdminToken)
	}
	if opt.Routes != nil {
		opt.Routes(r)
	}
	return r
}

// apiError is the JSON body of every error answer.
type apiError struct {
	Description string            `json:"description"`
	ErrorCode   int               `json:"error_code,omitempty"`
	RetryAfter  int               `json:"retry_after,omitempty"`
	FailedIndex *int              `json:"failed_index,omitempty"`
	Results     []json.RawMessage `json:"results,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	httpjson.Write(w, status, v, `{"ok":false,"description":"internal error: cannot encode the answer"}`)
}

func writeError(w http.ResponseWriter, status int, e apiError) {
	writeJSON(w, status, struct {
		OK bool `json:"ok"`
		apiError
	}{false, e})
}

func recoverJSON(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.Error("panic in handler", "path", r.URL.Path, "panic", fmt.Sprint(v))
					writeError(w, http.StatusInternalServerError, apiError{Description: "internal error"})
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

type sendHandler struct{ opt RouterOptions }

// authorize resolves the request's bearer token (a scope token or the
// send_token); when it cannot, it answers 401/410 and reports false.
func (h *sendHandler) authorize(w http.ResponseWriter, r *http.Request) (adapter.Principal, bool) {
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="asgigram"`)
		writeError(w, http.StatusUnauthorized, apiError{Description: "missing token: send Authorization: Bearer <scope token or send_token>"})
		return adapter.Principal{}, false
	}
	p, err := h.opt.Sender.Authorize(token)
	if err != nil {
		h.fail(w, err)
		return adapter.Principal{}, false
	}
	return p, true
}

func (h *sendHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := h.authorize(w, r)
	if !ok {
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case adapter.IsJSONContentType(r.Header.Get("Content-Type")):
	case mt == "multipart/form-data":
		// An upload takes its place once its body is in (see serveUpload).
		h.serveUpload(w, r, p)
		return
	default:
		writeError(w, http.StatusUnsupportedMediaType, apiError{Description: fmt.Sprintf("unsupported Content-Type %q: send application/json, or multipart/form-data with files", r.Header.Get("Content-Type"))})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opt.BodyLimit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, apiError{Description: fmt.Sprintf("body larger than the limit of %d bytes (send_body_limit)", mbe.Limit)})
			return
		}
		if isTimeout(err) {
			bodyTimedOut(w, fmt.Sprintf("the body did not arrive within %s (send_body_timeout)", h.opt.BodyTimeout))
			return
		}
		writeError(w, http.StatusBadRequest, apiError{Description: "reading body: " + err.Error()})
		return
	}
	events, err := adapter.SplitEvents(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, apiError{Description: err.Error()})
		return
	}
	if h.opt.MaxEvents > 0 && len(events) > h.opt.MaxEvents {
		writeError(w, http.StatusBadRequest, apiError{Description: fmt.Sprintf("%d events in one request, more than the limit of %d (send_max_events): nothing was sent; split the array", len(events), h.opt.MaxEvents)})
		return
	}
	// The request arrives now, with its whole body: its calls go after
	// those of the requests that arrived before. A slow or stalled body
	// holds back no one.
	arr := h.opt.Sender.Arrive()
	defer arr.Done()
	results, err := h.opt.Sender.Send(r.Context(), p, arr, events)
	answerWithin(w, h.opt.BodyTimeout)
	if err != nil {
		h.failWith(w, err, results)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		OK      bool              `json:"ok"`
		Results []json.RawMessage `json:"results"`
	}{true, results})
}

func (h *sendHandler) fail(w http.ResponseWriter, err error) { h.failWith(w, err, nil) }

// failWith maps an adapter error to the status table of docs/protocol.md "/send: replying later".
func (h *sendHandler) failWith(w http.ResponseWriter, err error, results []json.RawMessage) {
	var (
		inv *adapter.InvalidEventError
		ce  *adapter.CallError
		te  *telegram.Error
	)
	switch {
	case errors.Is(err, adapter.ErrUnknownToken):
		w.Header().Set("WWW-Authenticate", `Bearer realm="asgigram", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, apiError{Description: "unknown token"})
	case errors.Is(err, adapter.ErrExpiredToken):
		writeError(w, http.StatusGone, apiError{Description: "the token's scope has expired (idle longer than scope_idle_timeout, or evicted): use the token of a newer event, or the send_token"})
	case errors.Is(err, adapter.ErrTokenRejected):
		// Not 503: the bot does not come back by itself (Retry-After
		// would have clients retry for ever). Shaped like Telegram's own
		// refusal, which every call of the bot would get.
		writeError(w, http.StatusBadGateway, apiError{ErrorCode: http.StatusUnauthorized,
			Description: "Unauthorized: Telegram rejected this bot's token and the bot stopped; give it a valid token (and reload or restart asgigram)"})
	case errors.Is(err, adapter.ErrShuttingDown):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, apiError{Description: "asgigram is shutting down"})
	case errors.As(err, &inv):
		i := inv.Index
		writeError(w, http.StatusBadRequest, apiError{Description: inv.Reason, FailedIndex: &i})
	case errors.As(err, &ce):
		i := ce.Index
		e := apiError{FailedIndex: &i, Results: results}
		status := http.StatusBadGateway
		switch {
		case errors.Is(err, telegram.ErrOutcomeUnknown):
			status = http.StatusGatewayTimeout
			e.Description = fmt.Sprintf("the outcome of %s is unknown (%v): it was not retried, so that nothing is sent twice", ce.Method, ce.Err)
			if errors.As(err, &te) {
				e.ErrorCode = te.Code
			}
		case errors.As(err, &te):
			e.Description = te.Description
			e.ErrorCode = te.Code
			e.RetryAfter = te.RetryAfter
		case errors.Is(err, context.DeadlineExceeded):
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
			e.Description = fmt.Sprintf("%s could not be made within send_timeout (pacing or Telegram's rate limit held it): it was not sent", ce.Method)
		case errors.Is(err, adapter.ErrChatQueueFull):
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
			e.Description = fmt.Sprintf("%s was not sent: %v", ce.Method, adapter.ErrChatQueueFull)
		default:
			e.Description = fmt.Sprintf("%s failed: %v", ce.Method, ce.Err)
		}
		writeError(w, status, e)
	default:
		h.opt.Logger.Error("/send failed", "error", err)
		writeError(w, http.StatusInternalServerError, apiError{Description: "internal error"})
	}
}

// bearer extracts the token of "Authorization: Bearer <token>".
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
