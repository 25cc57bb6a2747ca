package devmode

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/telegram"
)

// FormatTrace renders one finished delivery as a single terminal line:
//
//	update 12 telegram.message chat:42 -> app 200 in 3ms -> sendMessage ok
//	update 13 telegram.callback_query chat:42 -> app 200 in 2ms -> answerCallbackQuery ok, editMessageText ok
//	update 14 telegram.message chat:42 -> app 204 in 1ms -> nothing to send
//	update 14 telegram.message chat:42 -> app 200 in 1ms -> nothing to send (the 27-byte body is text/html, not application/json: ignored)
//	update 15 telegram.message chat:7 -> app unreachable: dial tcp 127.0.0.1:9: connect: connection refused (5 attempts in 1.6s)
//	update 16 telegram.message chat:7 -> app 500 in 1.2s, gave up after 5 attempts: HTTP 500 Internal Server Error
//	update 17 telegram.message chat:7 -> app 200 in 2ms -> sendMessage failed: 400 Bad Request: message text is empty
//	update 18 telegram.message chat:7 -> app 200 in 2ms -> bad reply: event 0: missing "type" ...
//
// It never contains a token: traces carry none (callers still pass the line
// through their redaction as a last line of defence).
func FormatTrace(t adapter.Trace) string {
	var b strings.Builder
	fmt.Fprintf(&b, "update %d %s %s -> ", t.UpdateID, t.Type, t.Scope)

	var de *adapter.DeliveryError
	if errors.As(t.Err, &de) {
		// The delivery itself failed: no reply was carried out.
		if de.Status == 0 {
			fmt.Fprintf(&b, "app unreachable: %s (%s in %s)", oneLine(cause(de)), attempts(de.Attempts), FormatLatency(t.Latency))
		} else {
			fmt.Fprintf(&b, "app %d in %s, gave up after %s: %s", de.Status, FormatLatency(t.Latency), attempts(de.Attempts), oneLine(cause(de)))
		}
		return b.String()
	}
	if t.Status == 0 && t.Err != nil {
		fmt.Fprintf(&b, "app failed: %s", oneLine(t.Err.Error()))
		return b.String()
	}
	fmt.Fprintf(&b, "app %d in %s -> ", t.Status, FormatLatency(t.Latency))
	switch {
	case len(t.Calls) > 0:
		parts := make([]string, len(t.Calls))
		for i, c := range t.Calls {
			parts[i] = c.Method + " " + traceCallOutcome(c)
		}
		b.WriteString(strings.Join(parts, ", "))
	case t.Err != nil:
		b.WriteString("bad reply: " + oneLine(t.Err.Error()))
	default:
		b.WriteString("nothing to send")
		if t.Note != "" {
			b.WriteString(" (" + t.Note + ")")
		}
	}
	return b.String()
}

// CallOutcome is "ok", or "failed: <why>" with Telegram's error code and
// description when Telegram refused the call.
func CallOutcome(err error) string {
	if err == nil {
		return "ok"
	}
	return "failed: " + CallError(err)
}

// traceCallOutcome is CallOutcome, or "skipped (...)" for a call that was
// not made and did not fail.
func traceCallOutcome(c adapter.TraceCall) string {
	if c.Skipped == adapter.SkippedAnswered {
		return "skipped (asgigram had answered the query after callback_answer_after)"
	}
	if c.Skipped != "" {
		return "skipped (" + oneLine(c.Skipped) + ")"
	}
	return CallOutcome(c.Err)
}

// FormatTypingTrace renders one typing call of typing_after:
//
//	typing chat:42 -> sendChatAction ok
//	typing chat:42 -> dropped (over typing_rate)
//	typing chat:42 -> sendChatAction cut short (the app answered)
func FormatTypingTrace(c adapter.TypingCall) string {
	out := "sendChatAction " + CallOutcome(c.Err)
	switch {
	case c.Dropped:
		out = "dropped (over typing_rate)"
	case c.CutShort:
		out = "sendChatAction cut short (the app answered)"
	}
	return "typing " + c.Scope + " -> " + out
}

// FormatCallbackAnswerTrace renders an answer asgigram made for a callback
// query the app left unanswered:
//
//	callback_query 4382bfdwdsb323b2d9 -> no answer from the app after callback_answer_after: answerCallbackQuery ok
func FormatCallbackAnswerTrace(id string, err error) string {
	return "callback_query " + id + " -> no answer from the app after callback_answer_after: answerCallbackQuery " + CallOutcome(err)
}

// FormatLifecycleTrace renders a lifecycle event POST (lifecycle_events):
//
//	asgigram.scope_closed chat:42 (idle) -> 200 in 3ms
//	asgigram.startup -> 503 in 1ms: not delivered (best effort)
func FormatLifecycleTrace(t adapter.Trace) string {
	line := t.Type
	if t.Scope != "" {
		line += " " + t.Scope
	}
	if t.Note != "" {
		line += " (" + t.Note + ")"
	}
	line += " -> " + strconv.Itoa(t.Status) + " in " + FormatLatency(t.Latency)
	if t.Err != nil {
		line += ": not delivered (best effort): " + oneLine(t.Err.Error())
	}
	return line
}

// CallError describes a failed Bot API call: "400 Bad Request: ..." when
// Telegram refused it, else the error text.
func CallError(err error) string {
	var te *telegram.Error
	if errors.As(err, &te) && !errors.Is(err, telegram.ErrOutcomeUnknown) {
		return strconv.Itoa(te.Code) + " " + oneLine(te.Description)
	}
	return oneLine(err.Error())
}

// FormatLatency rounds d for a terminal: 412µs, 3ms, 1.25s.
func FormatLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return strconv.Itoa(n) + " attempts"
}

// cause is the reason of a failed delivery without the wrapping that
// repeats the status and attempts, and without net/http's `Post "<url>": `
// prefix (the URL is in the banner).
func cause(de *adapter.DeliveryError) string {
	if de.Err == nil {
		return de.Error()
	}
	s := de.Err.Error()
	if rest, ok := strings.CutPrefix(s, "Post \""); ok {
		if i := strings.Index(rest, "\": "); i >= 0 {
			s = rest[i+3:]
		}
	}
	return s
}

// oneLine keeps a trace on one line whatever an error text contains.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// FormatSendTrace renders one /send request as a terminal line:
//
//	send chat:42 -> sendMessage ok
//	send user:7 -> rejected: event 0: sendMessage needs "chat_id" in a user scope
func FormatSendTrace(t adapter.SendTrace) string {
	var b strings.Builder
	fmt.Fprintf(&b, "send %s -> ", t.Scope)
	if len(t.Calls) == 0 {
		if t.Err != nil {
			b.WriteString("rejected: " + oneLine(t.Err.Error()))
		} else {
			b.WriteString("nothing to send")
		}
		return b.String()
	}
	parts := make([]string, len(t.Calls))
	for i, c := range t.Calls {
		parts[i] = c.Method + " " + traceCallOutcome(c)
	}
	b.WriteString(strings.Join(parts, ", "))
	return b.String()
}
