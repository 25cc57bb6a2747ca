package devmode

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/telegram"
)

func TestFormatTrace(t *testing.T) {
	refused := &telegram.Error{Method: "sendMessage", Code: 400, Description: "Bad Request: message text is empty"}
	cases := []struct {
		name string
		tr   adapter.Trace
		want string
	}{
		{
			"one call",
			adapter.Trace{UpdateID: 12, Type: "telegram.message", Scope: "chat:42", Status: 200, Latency: 3 * time.Millisecond,
				Calls: []adapter.TraceCall{{Method: "sendMessage"}}},
			"update 12 telegram.message chat:42 -> app 200 in 3ms -> sendMessage ok",
		},
		{
			"several calls, the last failed",
			adapter.Trace{UpdateID: 13, Type: "telegram.callback_query", Scope: "chat:-1001234567890", Status: 200, Latency: 1500 * time.Microsecond,
				Calls: []adapter.TraceCall{{Method: "answerCallbackQuery"}, {Method: "sendMessage", Err: refused}},
				Err:   &adapter.CallError{Index: 1, Method: "sendMessage", Err: refused}},
			"update 13 telegram.callback_query chat:-1001234567890 -> app 200 in 2ms -> answerCallbackQuery ok, sendMessage failed: 400 Bad Request: message text is empty",
		},
		{
			"an answer skipped: asgigram had answered",
			adapter.Trace{UpdateID: 15, Type: "telegram.callback_query", Scope: "user:7", Status: 200, Latency: 11 * time.Second,
				Calls: []adapter.TraceCall{{Method: "answerCallbackQuery", Skipped: adapter.SkippedAnswered}, {Method: "sendMessage"}}},
			"update 15 telegram.callback_query user:7 -> app 200 in 11s -> answerCallbackQuery skipped (asgigram had answered the query after callback_answer_after), sendMessage ok",
		},
		{
			"nothing to send",
			adapter.Trace{UpdateID: 14, Type: "telegram.inline_query", Scope: "user:7", Status: 204, Latency: 412 * time.Microsecond},
			"update 14 telegram.inline_query user:7 -> app 204 in 412µs -> nothing to send",
		},
		{
			"a body not declared as JSON says why nothing was sent",
			adapter.Trace{UpdateID: 15, Type: "telegram.message", Scope: "chat:7", Status: 200, Latency: 2 * time.Millisecond, Note: "the 40-byte body is text/html, not application/json: ignored"},
			"update 15 telegram.message chat:7 -> app 200 in 2ms -> nothing to send (the 40-byte body is text/html, not application/json: ignored)",
		},
		{
			"app unreachable",
			adapter.Trace{UpdateID: 15, Type: "telegram.message", Scope: "chat:7", Latency: 1612 * time.Millisecond,
				Err: &adapter.DeliveryError{Attempts: 5, Err: fmt.Errorf(`Post "http://127.0.0.1:9/": %w`, errors.New("dial tcp 127.0.0.1:9: connect: connection refused"))}},
			"update 15 telegram.message chat:7 -> app unreachable: dial tcp 127.0.0.1:9: connect: connection refused (5 attempts in 1.61s)",
		},
		{
			"app answered an error",
			adapter.Trace{UpdateID: 16, Type: "telegram.message", Scope: "chat:7", Status: 500, Latency: 1200 * time.Millisecond,
				Err: &adapter.DeliveryError{Attempts: 5, Status: 500, Err: errors.New("HTTP 500 Internal Server Error")}},
			"update 16 telegram.message chat:7 -> app 500 in 1.2s, gave up after 5 attempts: HTTP 500 Internal Server Error",
		},
		{
			"one attempt, multi-line error",
			adapter.Trace{UpdateID: 17, Type: "telegram.message", Scope: "chat:7", Status: 404, Latency: time.Millisecond,
				Err: &adapter.DeliveryError{Attempts: 1, Status: 404, Err: errors.New("HTTP 404 Not Found (not retried):\n\"nope\"")}},
			`update 17 telegram.message chat:7 -> app 404 in 1ms, gave up after 1 attempt: HTTP 404 Not Found (not retried): "nope"`,
		},
		{
			"bad reply",
			adapter.Trace{UpdateID: 18, Type: "telegram.message", Scope: "chat:7", Status: 200, Latency: 2 * time.Millisecond,
				Err: &adapter.InvalidEventError{Index: 0, Reason: `missing "type"`}},
			`update 18 telegram.message chat:7 -> app 200 in 2ms -> bad reply: event 0: missing "type"`,
		},
		{
			"outcome unknown",
			adapter.Trace{UpdateID: 19, Type: "telegram.message", Scope: "chat:7", Status: 200, Latency: 2 * time.Millisecond,
				Calls: []adapter.TraceCall{{Method: "sendMessage", Err: fmt.Errorf("%w: timeout", telegram.ErrOutcomeUnknown)}}},
			`update 19 telegram.message chat:7 -> app 200 in 2ms -> sendMessage failed: outcome unknown: timeout`,
		},
		{
			"failure without status",
			adapter.Trace{UpdateID: 20, Type: "telegram.message", Scope: "chat:7", Err: context.DeadlineExceeded},
			`update 20 telegram.message chat:7 -> app failed: context deadline exceeded`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, FormatTrace(c.tr))
		})
	}
}

func TestFormatTypingAndCallbackAnswerTraces(t *testing.T) {
	refused := &telegram.Error{Method: "sendChatAction", Code: 403, Description: "Forbidden: bot was blocked by the user"}
	assert.Equal(t, "typing chat:42 -> sendChatAction ok", FormatTypingTrace(adapter.TypingCall{Scope: "chat:42"}))
	assert.Equal(t, "typing chat:42 -> sendChatAction failed: 403 Forbidden: bot was blocked by the user", FormatTypingTrace(adapter.TypingCall{Scope: "chat:42", Err: refused}))
	assert.Equal(t, "typing chat:42 -> dropped (over typing_rate)", FormatTypingTrace(adapter.TypingCall{Scope: "chat:42", Dropped: true}))
	assert.Equal(t, "typing chat:42 -> sendChatAction cut short (the app answered)",
		FormatTypingTrace(adapter.TypingCall{Scope: "chat:42", Err: context.Canceled, CutShort: true}))
	assert.Equal(t, "callback_query 99 -> no answer from the app after callback_answer_after: answerCallbackQuery ok", FormatCallbackAnswerTrace("99", nil))
}

func TestFormatLifecycleTrace(t *testing.T) {
	assert.Equal(t, "asgigram.scope_closed chat:42 (idle) -> 204 in 3ms",
		FormatLifecycleTrace(adapter.Trace{Type: "asgigram.scope_closed", Scope: "chat:42", Note: "idle", Status: 204, Latency: 3 * time.Millisecond}))
	assert.Equal(t, "asgigram.startup -> 503 in 1ms: not delivered (best effort): application answered 503",
		FormatLifecycleTrace(adapter.Trace{Type: "asgigram.startup", Status: 503, Latency: time.Millisecond, Err: errors.New("application answered 503")}))
}

func TestFormatLatency(t *testing.T) {
	assert.Equal(t, "412µs", FormatLatency(412*time.Microsecond+300))
	assert.Equal(t, "3ms", FormatLatency(3*time.Millisecond+200*time.Microsecond))
	assert.Equal(t, "1.25s", FormatLatency(1254*time.Millisecond))
	assert.Equal(t, "0s", FormatLatency(0))
}

func TestFormatSendTrace(t *testing.T) {
	tests := []struct {
		in   adapter.SendTrace
		want string
	}{
		{adapter.SendTrace{Scope: "chat:42", Calls: []adapter.TraceCall{{Method: "sendMessage"}}}, "send chat:42 -> sendMessage ok"},
		{adapter.SendTrace{Scope: "user:7", Err: &adapter.InvalidEventError{Index: 0, Reason: "no type"}}, "send user:7 -> rejected: event 0: no type"},
		{adapter.SendTrace{Scope: "send_token", Calls: []adapter.TraceCall{{Method: "sendMessage", Err: &telegram.Error{Code: 403, Description: "Forbidden: bot was blocked by the user"}}}},
			"send send_token -> sendMessage failed: 403 Forbidden: bot was blocked by the user"},
	}
	for _, tt := range tests {
		if got := FormatSendTrace(tt.in); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
