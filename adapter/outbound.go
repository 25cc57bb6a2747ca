package adapter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/asgigram/asgigram/internal/jsonscan"
	"github.com/asgigram/asgigram/telegram"
)

// Caller calls Bot API methods. *telegram.Client implements it.
type Caller interface {
	Call(ctx context.Context, method string, params any) (json.RawMessage, error)
	// CallMultipart calls a method with files, as multipart/form-data.
	CallMultipart(ctx context.Context, method string, params map[string]json.RawMessage, files []telegram.FilePart) (json.RawMessage, error)
}

// InvalidEventError is an outbound event the adapter refuses before calling
// Telegram: not an object, no known type, a refused method, or a missing
// chat_id where none can be defaulted.
type InvalidEventError struct {
	// Index is the event's position in its reply or /send body.
	Index int
	// Reason says what is wrong, for the application author.
	Reason string
}

func (e *InvalidEventError) Error() string {
	return fmt.Sprintf("event %d: %s", e.Index, e.Reason)
}

// CallError is an outbound call that failed: Telegram refused it, or its
// outcome is unknown, or Telegram could not be reached.
type CallError struct {
	// Index is the failing event's position; the ones before it succeeded.
	Index int
	// Method is the Bot API method called.
	Method string
	// Err is the cause: a *telegram.Error, telegram.ErrOutcomeUnknown, ...
	Err error
}

func (e *CallError) Error() string { return fmt.Sprintf("event %d (%s): %v", e.Index, e.Method, e.Err) }
func (e *CallError) Unwrap() error { return e.Err }

// isSnakeType reports whether typ is telegram.<snake_case>, as the regular
// expression ^telegram\.[a-z][a-z0-9]*(_[a-z0-9]+)*$ would.
func isSnakeType(typ string) bool {
	name, ok := strings.CutPrefix(typ, "telegram.")
	if !ok || name == "" || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 1; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '_':
			if i+1 == len(name) || name[i+1] == '_' {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// decodeParams reads an outbound event object into its members. Plain keys
// are read in one pass, the values kept as subslices of raw; anything else
// is decoded by encoding/json.
func decodeParams(raw json.RawMessage) (map[string]json.RawMessage, error) {
	var buf [16]jsonscan.Member
	if ms, ok := jsonscan.AppendMembers(buf[:0], raw); ok && jsonscan.AllPlain(ms) {
		params := make(map[string]json.RawMessage, len(ms))
		for _, m := range ms {
			params[string(m.Key)] = m.Value // a later duplicate wins, as in encoding/json
		}
		return params, nil
	}
	var params map[string]json.RawMessage
	if err := json.Unmarshal(raw, &params); err != nil {
		return nil, err
	}
	return params, nil
}

// stringValue decodes a JSON string value.
func stringValue(v json.RawMessage) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	if inner := v[1 : len(v)-1]; !bytes.ContainsAny(inner, "\\\"") && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// call is one validated outbound call.
type call struct {
	method  string
	params  map[string]json.RawMessage
	chatKey string              // the target chat as written, for per-chat ordering; "" if none
	files   []telegram.FilePart // uploaded with the call (multipart); see files.go
}

// methodName turns "send_message" into "sendMessage".
func methodName(snake string) string {
	parts := strings.Split(snake, "_")
	var b strings.Builder
	b.WriteString(parts[0])
	for _, p := range parts[1:] {
		b.WriteString(strings.ToUpper(p[:1]))
		b.WriteString(p[1:])
	}
	return b.String()
}

// prepare validates one outbound event for scope s (nil when the send_token
// was used) and fills chat_id and business_connection_id defaults.
func prepare(s *Scope, raw json.RawMessage, idx int) (call, error) {
	bad := func(format string, a ...any) (call, error) {
		return call{}, &InvalidEventError{Index: idx, Reason: fmt.Sprintf(format, a...)}
	}
	raw = trimJSONSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return bad("an outbound event must be a JSON object with a \"type\"")
	}
	params, err := decodeParams(raw)
	if err != nil {
		return bad("malformed JSON: %v", err)
	}
	typ, ok := stringValue(params["type"])
	if !ok {
		return bad("missing \"type\" (e.g. \"telegram.send_message\")")
	}
	if !isSnakeType(typ) {
		return bad("unknown event type %q: outbound types are telegram.<bot api method in snake_case>, e.g. telegram.send_message", typ)
	}
	delete(params, "type")
	method := methodName(strings.TrimPrefix(typ, "telegram."))
	if telegram.Refused(method) {
		return bad("event type %q is refused: %s would break the adapter", typ, method)
	}
	c := call{method: method, params: params}
	info, known := telegram.LookupMethod(method)
	if !known || info.ChatID == telegram.ChatIDNone {
		return c, nil
	}
	chatID, hasChat := params["chat_id"]
	_, hasInline := params["inline_message_id"]
	defaulted := false
	switch {
	case hasChat:
	case hasInline && info.InlineMessageID:
		return c, nil
	case info.ChatID == telegram.ChatIDOptional:
		return c, nil
	case s == nil:
		return bad("%s needs \"chat_id\" when sent with the send_token", typ)
	case s.Kind != ScopeChat:
		return bad("%s needs \"chat_id\" in a %s scope (only chat scopes have a default chat)", typ, s.Kind)
	default:
		chatID = json.RawMessage(strconv.FormatInt(s.ID, 10))
		params["chat_id"] = chatID
		defaulted = true
	}
	c.chatKey = telegram.ChatKey(chatID)
	// A business chat's calls go through its business connection, when they
	// target the scope's own chat.
	if s != nil && s.BusinessConnectionID != "" && info.BusinessConnection {
		if _, has := params["business_connection_id"]; !has && (defaulted || c.chatKey == strconv.FormatInt(s.ID, 10)) {
			params["business_connection_id"] = json.RawMessage(jsonString(s.BusinessConnectionID))
		}
	}
	return c, nil
}

// Executor carries out outbound events: validation, defaults, and calls in
// order, the calls to each chat in arrival order (see order.go).
type Executor struct {
	tg    Caller
	pacer Pacer
	log   *slog.Logger
	order *order
	// callbacks, when set, knows the callback queries asgigram answered
	// itself (callback_answer_after).
	callbacks *callbacks
	// chatAction, when set, is told of every sendChatAction call the
	// application makes, with its chat (typing_after).
	chatAction func(chatKey string)
}

// NewExecutor returns an Executor calling Telegram through tg, with no bound
// on the calls waiting per chat and no pacing.
func NewExecutor(tg Caller) *Executor {
	return &Executor{tg: tg, order: newOrder(0)}
}

// Pacer keeps outbound calls within Telegram's rate limits. *pacing.Pacer
// implements it.
type Pacer interface {
	// Wait blocks until a call of method to the chat may go.
	Wait(ctx context.Context, method, chatKey string) error
	// RateLimited reports a 429 for the chat.
	RateLimited(chatKey string, retryAfter time.Duration)
}

// send makes one call when its turn in its chat comes (sl: its place; nil
// for a call without a chat), then through the pacer; with files, as
// multipart/form-data.
func (e *Executor) send(ctx context.Context, sl *slot, method, chatKey string, params map[string]json.RawMessage, files []telegram.FilePart) (json.RawMessage, error) {
	if sl != nil {
		if err := e.order.wait(ctx, sl); err != nil {
			return nil, err
		}
		defer e.order.done(sl)
	}
	if e.pacer != nil {
		if err := e.pacer.Wait(ctx, method, chatKey); err != nil {
			return nil, err
		}
		ctx = telegram.WithRateLimitHook(ctx, func(d time.Duration) { e.pacer.RateLimited(chatKey, d) })
	}
	if len(files) > 0 {
		return e.tg.CallMultipart(ctx, method, params, files)
	}
	return e.tg.Call(ctx, method, encodeParams(params))
}

// encodeParams writes params as a JSON object. The values were decoded from
// valid JSON, so they are written as they are: json.Marshal of the map would
// sort, re-validate and compact every one of them.
func encodeParams(params map[string]json.RawMessage) json.RawMessage {
	n := 2
	for k, v := range params {
		n += len(k) + len(v) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	first := true
	for k, v := range params {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, jsonString(k)...)
		b = append(b, ':')
		b = append(b, v...)
	}
	return append(b, '}')
}

// call makes one call, in its place sl. A group upgraded to a supergroup
// answers 400 with migrate_to_chat_id: the call is made again once, on the
// new chat, in the same place of that chat's order.
func (e *Executor) call(ctx context.Context, c call, sl *slot) (json.RawMessage, error) {
	res, err := e.send(ctx, sl, c.method, c.chatKey, c.params, c.files)
	var te *telegram.Error
	if err == nil || !errors.As(err, &te) || te.MigrateToChatID == 0 || c.chatKey == "" {
		return res, err
	}
	to := strconv.FormatInt(te.MigrateToChatID, 10)
	if e.log != nil {
		e.log.Info("the group was upgraded to a supergroup: calling again on the new chat id", "method", c.method, "from_chat", c.chatKey, "to_chat", to)
	}
	params := make(map[string]json.RawMessage, len(c.params))
	for k, v := range c.params {
		params[k] = v
	}
	params["chat_id"] = json.RawMessage(to)
	moved := e.order.rejoin(sl, to)
	defer e.order.done(moved)
	return e.send(ctx, moved, c.method, to, params, c.files)
}

// Validate checks every event first, so that a bad event in an array sends
// nothing at all.
func (e *Executor) validate(s *Scope, events []json.RawMessage) ([]call, error) {
	calls := make([]call, len(events))
	for i, raw := range events {
		c, err := prepare(s, raw, i)
		if err != nil {
			return nil, err
		}
		calls[i] = c
	}
	return calls, nil
}

// Execute validates events for scope s (nil for the send_token) and calls
// them in order, stopping at the first failure; the events arrive now (see
// Arrival). It returns the Telegram result of each call made; on failure the
// error is an *InvalidEventError (nothing was called) or a *CallError.
func (e *Executor) Execute(ctx context.Context, s *Scope, events []json.RawMessage) ([]json.RawMessage, error) {
	results, _, err := e.execute(ctx, s, events)
	return results, err
}

// execute is Execute that also reports the calls it made: a reply body's
// calls, which arrive when they are queued here.
func (e *Executor) execute(ctx context.Context, s *Scope, events []json.RawMessage) ([]json.RawMessage, []TraceCall, error) {
	return e.executeArrived(ctx, nil, s, events)
}

// executeArrived is execute for the request that arrived as arr (nil:
// arriving now). The calls take their places in their chats' order before
// the first is made; arr is given up when the events are refused.
func (e *Executor) executeArrived(ctx context.Context, arr *Arrival, s *Scope, events []json.RawMessage) ([]json.RawMessage, []TraceCall, error) {
	calls, err := e.validate(s, events)
	if err != nil {
		arr.Done()
		return nil, nil, err
	}
	keys := make([]string, len(calls))
	for i, c := range calls {
		keys[i] = c.chatKey
	}
	slots := e.order.place(arr, keys)
	defer e.order.release(slots)
	results := make([]json.RawMessage, 0, len(calls))
	traces := make([]TraceCall, 0, len(calls))
	for i, c := range calls {
		var sl *slot
		if slots != nil {
			sl = slots[i]
		}
		cbID, isAnswer := "", false
		if c.method == "answerCallbackQuery" && e.callbacks != nil {
			cbID, isAnswer = stringValue(c.params["callback_query_id"])
			if isAnswer && !e.callbacks.byApp(cbID) {
				// asgigram answered it already: neither a failure nor a
				// call to make (docs/protocol.md "Spinners that stop").
				traces = append(traces, TraceCall{Method: c.method, Skipped: SkippedAnswered})
				results = append(results, SkippedCallbackAnswer)
				continue
			}
		}
		if c.method == "sendChatAction" && e.chatAction != nil && c.chatKey != "" {
			e.chatAction(c.chatKey)
		}
		res, err := e.call(ctx, c, sl)
		if err != nil && isAnswer {
			e.callbacks.appFailed(cbID)
		}
		traces = append(traces, TraceCall{Method: c.method, Err: err})
		if err != nil {
			return results, traces, &CallError{Index: i, Method: c.method, Err: err}
		}
		results = append(results, res)
	}
	return results, traces, nil
}
