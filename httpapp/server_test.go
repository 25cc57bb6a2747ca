package httpapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/httpapp"
	"github.com/asgigram/asgigram/telegram"
)

// stubSender is a Sender with one func field per method.
type stubSender struct {
	AuthorizeF func(token string) (adapter.Principal, error)
	SendF      func(events []json.RawMessage) ([]json.RawMessage, error)
}

func (s stubSender) Authorize(token string) (adapter.Principal, error) {
	if s.AuthorizeF != nil {
		return s.AuthorizeF(token)
	}
	return adapter.Principal{}, nil
}

func (s stubSender) Arrive() *adapter.Arrival { return nil }

func (s stubSender) Send(_ context.Context, _ adapter.Principal, _ *adapter.Arrival, events []json.RawMessage) ([]json.RawMessage, error) {
	return s.SendF(events)
}

// SendFiles fails: uploads go to a fileSender.
func (s stubSender) SendFiles(context.Context, adapter.Principal, *adapter.Arrival, json.RawMessage, []telegram.FilePart) (json.RawMessage, error) {
	return nil, errors.New("stubSender takes no uploads")
}

// TestSendErrorMapping pins the statuses that the end-to-end tests cannot
// provoke reliably (shutdown, deadlines, panics).
func TestSendErrorMapping(t *testing.T) {
	ok := json.RawMessage(`{"message_id":1}`)
	tests := []struct {
		name       string
		err        error
		results    []json.RawMessage
		status     int
		desc       string
		retryAfter bool
	}{
		{"shutting down", adapter.ErrShuttingDown, nil, 503, "shutting down", true},
		{"token rejected", adapter.ErrTokenRejected, nil, 502, "rejected this bot's token", false},
		{"deadline before the call", &adapter.CallError{Index: 0, Method: "sendMessage", Err: fmt.Errorf("telegram: sendMessage: %w", context.DeadlineExceeded)}, nil, 503, "send_timeout", true},
		{"outcome unknown", &adapter.CallError{Index: 1, Method: "sendMessage", Err: fmt.Errorf("telegram: sendMessage: %w: timeout", telegram.ErrOutcomeUnknown)}, []json.RawMessage{ok}, 504, "outcome of sendMessage is unknown", false},
		{"telegram refuses with retry_after", &adapter.CallError{Index: 0, Method: "sendMessage", Err: &telegram.Error{Method: "sendMessage", Code: 429, Description: "Too Many Requests: retry after 30", RetryAfter: 30}}, nil, 502, "Too Many Requests", false},
		{"unreachable", &adapter.CallError{Index: 0, Method: "getMe", Err: fmt.Errorf("dial tcp: connection refused")}, nil, 502, "connection refused", false},
		{"expired", adapter.ErrExpiredToken, nil, 410, "expired", false},
		{"unexpected", fmt.Errorf("boom"), nil, 500, "internal error", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := httpapp.NewRouter(httpapp.RouterOptions{Sender: stubSender{SendF: func([]json.RawMessage) ([]json.RawMessage, error) {
				return tt.results, tt.err
			}}})
			req := httptest.NewRequest(http.MethodPost, "/send", strings.NewReader(`{"type":"telegram.send_message","text":"x"}`))
			req.Header.Set("Authorization", "Bearer t")
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, tt.status, rec.Code)
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			var body map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			assert.JSONEq(t, "false", string(body["ok"]))
			assert.Contains(t, string(body["description"]), tt.desc)
			if tt.retryAfter {
				assert.NotEmpty(t, rec.Header().Get("Retry-After"))
			}
			if tt.results != nil {
				assert.JSONEq(t, `[{"message_id":1}]`, string(body["results"]))
				assert.JSONEq(t, "1", string(body["failed_index"]))
			}
			if tt.name == "token rejected" {
				assert.JSONEq(t, "401", string(body["error_code"]))
				assert.Empty(t, rec.Header().Get("Retry-After"), "the bot does not come back by itself")
			}
			if tt.name == "telegram refuses with retry_after" {
				assert.JSONEq(t, "30", string(body["retry_after"]))
				assert.JSONEq(t, "429", string(body["error_code"]))
			}
		})
	}
}

func TestRouterAnswersJSONEverywhere(t *testing.T) {
	h := httpapp.NewRouter(httpapp.RouterOptions{Sender: stubSender{SendF: func([]json.RawMessage) ([]json.RawMessage, error) {
		panic("a bug")
	}}})
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/nope", 404},
		{http.MethodGet, "/send", 405},
		{http.MethodPost, "/send", 500}, // the panic is recovered
		{http.MethodGet, "/healthz", 200},
	} {
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(`{"type":"telegram.send_message"}`))
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, tc.status, rec.Code, "%s %s", tc.method, tc.path)
		assert.True(t, json.Valid(rec.Body.Bytes()), "%s %s: %s", tc.method, tc.path, rec.Body)
	}
}

// TestSendMaxEvents: one /send request carries at most send_max_events
// events; past it, 400 naming the limit, and nothing is sent.
func TestSendMaxEvents(t *testing.T) {
	sent := 0
	h := httpapp.NewRouter(httpapp.RouterOptions{MaxEvents: 3, Sender: stubSender{SendF: func(ev []json.RawMessage) ([]json.RawMessage, error) {
		sent += len(ev)
		return ev, nil
	}}})
	post := func(n int) *httptest.ResponseRecorder {
		ev := make([]string, n)
		for i := range ev {
			ev[i] = `{"type":"telegram.get_me"}`
		}
		req := httptest.NewRequest(http.MethodPost, "/send", strings.NewReader("["+strings.Join(ev, ",")+"]"))
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := post(3); rec.Code != http.StatusOK {
		t.Fatalf("3 events: %d %s", rec.Code, rec.Body)
	}
	rec := post(4)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), "send_max_events")
	assert.Contains(t, rec.Body.String(), "limit of 3")
	assert.Equal(t, 3, sent, "nothing of the refused request was sent")
}
