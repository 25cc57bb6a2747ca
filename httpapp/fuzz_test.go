package httpapp_test

// A native Go fuzz target for POST /send. Its seeds (f.Add below, plus any
// regression inputs under testdata/fuzz/FuzzSendHandler/) run as ordinary
// tests with `go test`; to fuzz it:
//
//	go test -run '^$' -fuzz '^FuzzSendHandler$' -fuzztime 10m -parallel 1 ./httpapp/

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/httpapp"
	"github.com/asgigram/asgigram/telegram"
)

// The tokens the fuzz Sender knows.
const (
	fuzzChatToken     = "c2NvcGUtdG9rZW4tY2hhdC0xLWFiY2RlZmdo" // a live chat scope
	fuzzUserToken     = "c2NvcGUtdG9rZW4tdXNlci0zLWFiY2RlZmdo" // a live user scope
	fuzzSendToken     = "app-send-token-0123456789"            // the send_token
	fuzzExpiredToken  = "ZXhwaXJlZC1zY29wZS10b2tlbi0xMjM0NTY3" // a dropped scope
	fuzzShutdownToken = "c2h1dGRvd24tdG9rZW4tMDEyMzQ1Njc4OWFi" // live, but the adapter is closing
)

// fuzzSender is a Sender with func fields, as the adapter would answer:
// Authorize resolves the tokens above; Send runs the real Executor against
// a fake Bot API (see fuzzBotAPI).
type fuzzSender struct {
	AuthorizeF func(token string) (adapter.Principal, error)
	SendF      func(ctx context.Context, events []json.RawMessage) ([]json.RawMessage, error)
}

func (s *fuzzSender) Authorize(token string) (adapter.Principal, error) { return s.AuthorizeF(token) }

func (s *fuzzSender) Arrive() *adapter.Arrival { return nil }

func (s *fuzzSender) Send(ctx context.Context, _ adapter.Principal, _ *adapter.Arrival, events []json.RawMessage) ([]json.RawMessage, error) {
	return s.SendF(ctx, events)
}

// SendFiles fails: the fuzzed bodies are JSON, never uploads.
func (s *fuzzSender) SendFiles(context.Context, adapter.Principal, *adapter.Arrival, json.RawMessage, []telegram.FilePart) (json.RawMessage, error) {
	return nil, errors.New("fuzzSender takes no uploads")
}

// fuzzBotAPI answers calls with realistic results, or fails when the
// parameters ask it to: x_refuse (400), x_flood (429), x_unknown (outcome
// unknown), x_deadline (send_timeout reached), x_down (unreachable).
type fuzzBotAPI struct{ n int }

// CallMultipart fails: the fuzzed bodies are JSON, never uploads.
func (c *fuzzBotAPI) CallMultipart(_ context.Context, method string, _ map[string]json.RawMessage, _ []telegram.FilePart) (json.RawMessage, error) {
	return nil, fmt.Errorf("telegram: %s: no uploads in this test", method)
}

func (c *fuzzBotAPI) Call(_ context.Context, method string, params any) (json.RawMessage, error) {
	raw, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("telegram: %s: encoding parameters: %w", method, err)
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("telegram: %s: %w", method, err)
	}
	c.n++
	switch {
	case p["x_refuse"] != nil:
		return nil, &telegram.Error{Method: method, Code: 400, Description: "Bad Request: message text is empty"}
	case p["x_flood"] != nil:
		return nil, &telegram.Error{Method: method, Code: 429, Description: "Too Many Requests: retry after 7", RetryAfter: 7}
	case p["x_unknown"] != nil:
		return nil, fmt.Errorf("telegram: %s: %w: context deadline exceeded after the request was sent", method, telegram.ErrOutcomeUnknown)
	case p["x_deadline"] != nil:
		return nil, fmt.Errorf("telegram: %s: pacing: %w", method, context.DeadlineExceeded)
	case p["x_down"] != nil:
		return nil, fmt.Errorf("telegram: %s: dial tcp 149.154.167.220:443: connect: connection refused", method)
	case strings.HasPrefix(method, "send"):
		return json.RawMessage(`{"message_id":` + strconv.Itoa(c.n) + `,"date":1781340001,"chat":{"id":1,"type":"private"},"text":"ok"}`), nil
	}
	return json.RawMessage(`true`), nil
}

var fuzzAllowedStatus = map[int]bool{200: true, 400: true, 401: true, 410: true, 413: true, 415: true, 502: true, 503: true, 504: true}

// FuzzSendHandler drives POST /send with arbitrary Authorization,
// Content-Type and body, and checks docs/protocol.md "/send: replying later": the status table, and a JSON answer
// with "ok" every time.
func FuzzSendHandler(f *testing.F) {
	const limit = 4096
	big := `{"type":"telegram.send_message","text":"` + strings.Repeat("x", limit) + `"}`
	for _, s := range []struct{ auth, ct, body string }{
		{"Bearer " + fuzzChatToken, "application/json", `{"type":"telegram.send_message","text":"done"}`},
		{"Bearer " + fuzzChatToken, "application/json; charset=utf-8", `[{"type":"telegram.send_message","text":"1"},{"type":"telegram.edit_message_text","message_id":1,"text":"2"}]`},
		{"bearer  " + fuzzSendToken + " ", "application/json", `{"type":"telegram.send_message","chat_id":"@channel","text":"x"}`},
		{"Bearer " + fuzzSendToken, "application/json", `{"type":"telegram.send_message","text":"no chat"}`},
		{"Bearer " + fuzzUserToken, "application/json", `{"type":"telegram.send_message","text":"no chat"}`},
		{"Bearer " + fuzzUserToken, "application/json", `{"type":"telegram.answer_inline_query","inline_query_id":"1","results":[]}`},
		{"Bearer " + fuzzChatToken, "application/json", `{"type":"telegram.get_updates"}`},
		{"Bearer " + fuzzChatToken, "application/json", `{"type":"telegram.log_out"}`},
		{"Bearer " + fuzzChatToken, "application/json", `{"type":"telegram.send_message","text":"x","x_refuse":1}`},
		{"Bearer " + fuzzChatToken, "application/json", `[{"type":"telegram.send_message","text":"1"},{"type":"telegram.send_message","text":"2","x_unknown":1}]`},
		{"Bearer " + fuzzChatToken, "application/json", `{"type":"telegram.send_message","x_flood":1}`},
		{"Bearer " + fuzzChatToken, "application/json", `{"type":"telegram.send_message","x_deadline":1}`},
		{"Bearer " + fuzzChatToken, "application/json", `{"type":"telegram.get_me","x_down":1}`},
		{"Bearer " + fuzzExpiredToken, "application/json", `{"type":"telegram.send_message","text":"late"}`},
		{"Bearer " + fuzzShutdownToken, "application/json", `{"type":"telegram.send_message","text":"bye"}`},
		{"Bearer nope", "application/json", `{"type":"telegram.send_message"}`},
		{"Basic dXNlcjpwYXNz", "application/json", `{"type":"telegram.send_message"}`},
		{"Bearer", "application/json", `{}`},
		{"", "application/json", `{}`},
		{"Bearer " + fuzzChatToken, "", `{"type":"telegram.send_message"}`},
		{"Bearer " + fuzzChatToken, "text/plain", `hello`},
		{"Bearer " + fuzzChatToken, "multipart/form-data; boundary=x", "--x--"},
		{"Bearer " + fuzzChatToken, "application/vnd.api+json", `{"type":"telegram.send_message","text":"x"}`},
		{"Bearer " + fuzzChatToken, "application/json", big},
		{"Bearer " + fuzzChatToken, "application/json", `[]`},
		{"Bearer " + fuzzChatToken, "application/json", `{}`},
		{"Bearer " + fuzzChatToken, "application/json", `null`},
		{"Bearer " + fuzzChatToken, "application/json", `{"type":`},
		{"Bearer " + fuzzChatToken, "application/json", `[{"type":"telegram.send_message"},7]`},
		{"Bearer " + fuzzChatToken, "application/json", "\xff\xfe"},
		{"Bearer " + fuzzChatToken, "application/json", ``},
	} {
		f.Add(s.auth, s.ct, []byte(s.body))
	}
	reg := adapter.NewRegistry(10, time.Minute)
	chat := reg.Acquire(adapter.ScopeRef{Key: "chat:1", Kind: adapter.ScopeChat, ID: 1})
	user := reg.Acquire(adapter.ScopeRef{Key: "user:3", Kind: adapter.ScopeUser, ID: 3})
	f.Fuzz(func(t *testing.T, auth, ct string, body []byte) {
		// Principal is opaque outside the adapter: the stub remembers the
		// scope Authorize resolved for this one request.
		var (
			scope    *adapter.Scope
			closing  bool
			authDone bool
			authOK   bool
		)
		stub := &fuzzSender{
			AuthorizeF: func(token string) (adapter.Principal, error) {
				authDone = true
				switch token {
				case fuzzChatToken:
					scope = chat
				case fuzzUserToken:
					scope = user
				case fuzzSendToken:
				case fuzzShutdownToken:
					scope, closing = chat, true
				case fuzzExpiredToken:
					return adapter.Principal{}, adapter.ErrExpiredToken
				default:
					return adapter.Principal{}, adapter.ErrUnknownToken
				}
				authOK = true
				return adapter.Principal{}, nil
			},
			SendF: func(ctx context.Context, events []json.RawMessage) ([]json.RawMessage, error) {
				if !authDone {
					t.Fatalf("Send before Authorize")
				}
				if closing {
					return nil, adapter.ErrShuttingDown
				}
				ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				return adapter.NewExecutor(&fuzzBotAPI{}).Execute(ctx, scope, events)
			},
		}
		h := httpapp.NewRouter(httpapp.RouterOptions{Sender: stub, BodyLimit: limit})
		req := httptest.NewRequest(http.MethodPost, "/send", bytes.NewReader(body))
		if auth != "" {
			req.Header["Authorization"] = []string{auth}
		}
		if ct != "" {
			req.Header["Content-Type"] = []string{ct}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if authOK && adapter.IsJSONContentType(ct) && len(body) > limit && rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d for a JSON body of %d bytes (limit %d)", rec.Code, len(body), limit)
		}
		if !fuzzAllowedStatus[rec.Code] {
			t.Fatalf("status %d (body %q)", rec.Code, rec.Body.Bytes())
		}
		if got := rec.Header().Get("Content-Type"); got != "application/json" {
			t.Fatalf("status %d: Content-Type %q", rec.Code, got)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d: answer is not valid JSON: %q", rec.Code, rec.Body.Bytes())
		}
		var answer map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
			t.Fatalf("status %d: answer is not a JSON object: %q", rec.Code, rec.Body.Bytes())
		}
		var ok bool
		if err := json.Unmarshal(answer["ok"], &ok); err != nil || answer["ok"] == nil {
			t.Fatalf("status %d: answer without a boolean \"ok\": %q", rec.Code, rec.Body.Bytes())
		}
		if ok != (rec.Code == http.StatusOK) {
			t.Fatalf("status %d with \"ok\": %v", rec.Code, ok)
		}
		if ok {
			var results []json.RawMessage
			if err := json.Unmarshal(answer["results"], &results); err != nil || results == nil {
				t.Fatalf("200 without a \"results\" array: %q", rec.Body.Bytes())
			}
			return
		}
		var desc string
		if err := json.Unmarshal(answer["description"], &desc); err != nil || desc == "" {
			t.Fatalf("status %d without a description: %q", rec.Code, rec.Body.Bytes())
		}
		switch rec.Code {
		case http.StatusUnauthorized:
			if rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatalf("401 without WWW-Authenticate")
			}
		case http.StatusServiceUnavailable:
			if rec.Header().Get("Retry-After") == "" {
				t.Fatalf("503 without Retry-After")
			}
		case http.StatusRequestEntityTooLarge:
			if len(body) <= limit {
				t.Fatalf("413 for a body of %d bytes (limit %d)", len(body), limit)
			}
		}
	})
}
