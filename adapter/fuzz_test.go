package adapter_test

// Native Go fuzz targets for the adapter's parsing and outbound paths. Their
// seeds (f.Add below, plus any regression inputs under testdata/fuzz/<Target>/)
// run as ordinary tests with `go test`; to fuzz one of them:
//
//	go test -run '^$' -fuzz '^FuzzMapUpdate$' -fuzztime 10m -parallel 1 ./adapter/

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/telegram"
)

// fuzzBotID and fuzzBotUser are the bot of the bot scope.
const fuzzBotID = 7000000001

var fuzzBotUser = json.RawMessage(`{"id":7000000001,"is_bot":true,"first_name":"Demo","username":"asgigram_demo_bot"}`)

// fuzzAddUpdateFiles adds every realistic Update payload of
// testdata/updates as a seed.
func fuzzAddUpdateFiles(f *testing.F) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "updates", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	if len(files) == 0 {
		f.Fatal("no seed updates under testdata/updates")
	}
	for _, name := range files {
		if filepath.Base(name) == "manifest.json" {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// fuzzDecodeObject decodes a JSON object, failing the test when it is not one.
func fuzzDecodeObject(t *testing.T, what string, b []byte) map[string]json.RawMessage {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("%s is not valid JSON: %q", what, b)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		t.Fatalf("%s is not a JSON object (%v): %q", what, err, b)
	}
	return m
}

// FuzzMapUpdate feeds one raw update through ParseUpdates and Mapper.Map and
// checks the event and scope objects of docs/protocol.md "Scopes" and "The event POST".
func FuzzMapUpdate(f *testing.F) {
	fuzzAddUpdateFiles(f)
	for _, s := range []string{
		`{"update_id":1}`,
		`{"update_id":1,"message":null}`,
		`{"update_id":1,"message":"text"}`,
		`{"update_id":1,"message":[1,2]}`,
		`{"update_id":1,"message":{}}`,
		`{"update_id":1,"message":{"chat":{"id":"12"}}}`,
		`{"update_id":1,"message":{"chat":{"id":1.5}}}`,
		`{"update_id":1,"message":{"chat":[]},"from":{"id":3}}`,
		`{"update_id":1,"message":{"type":"x","message_type":"y","chat":{"id":2}}}`,
		`{"update_id":1,"poll":{"id":"9","type":"quiz"}}`,
		`{"update_id":1,"callback_query":{"id":"c","from":{"id":5},"message":{"chat":{"id":-100}}}}`,
		`{"update_id":1,"callback_query":{"id":"c","from":{"id":5},"message":"gone"}}`,
		`{"update_id":1,"poll_answer":{"poll_id":"p","voter_chat":{"id":-1},"user":{"id":2}}}`,
		`{"update_id":1,"business_message":{"business_connection_id":"bc\"1","chat":{"id":4}}}`,
		`{"update_id":1,"business_message":{"business_connection_id":12,"chat":{"id":4}}}`,
		`{"update_id":1,"guest_message":{"business_connection_id":"g1","chat":{"id":4}}}`,
		`{"update_id":1,"guest_message":{"chat":{"id":4}}}`,
		`{"update_id":1,"future_kind":{"business_connection_id":"bc","chat":{"id":4},"type":"t"}}`,
		`{"update_id":1,"future_kind":{"message":{"chat":{"id":4}}}}`,
		`{"update_id":1,"future_kind":{"user":{"id":4}}}`,
		`{"update_id":1,"future_kind":true}`,
		`{"update_id":1,"a":{"chat":{"id":1}},"b":{"from":{"id":2}}}`,
		`{"update_id":1,"ключ":{"type":"ü"}}`,
		`{"update_id":1,"k\"ey":{"t\\ype":1}}`,
		`{"update_id":1,"message":{"text":"\u2028\u2029\ud83d\ude00"}}`,
		`{"update_id":-9223372036854775808,"message":{"chat":{"id":9223372036854775807}}}`,
		`{"update_id":1,"update_id":2,"message":{"chat":{"id":1,"id":2}}}`,
		`{"update_id":1,"":{"chat":{"id":1}},"8":{"B2":{"A0":5}}}`,
		`{"update_id":1,"message":{"chat":{"ID":5}}}`,
		`{"update_id":1,"message":{"chat":{"id":5,"Id":null}}}`,
		`{"update_id":1,"a":{"type":1,"type":2,"a_type":0}}`,
		`{"update_id":null}`,
		`{"update_id":"1"}`,
		`[]`,
		`null`,
		``,
	} {
		f.Add([]byte(s))
	}
	m := &adapter.Mapper{BotUser: fuzzBotUser, BotID: fuzzBotID}
	f.Fuzz(func(t *testing.T, b []byte) {
		ups, bad := adapter.ParseUpdates([]json.RawMessage{b})
		if len(ups)+len(bad) != 1 {
			t.Fatalf("ParseUpdates returned %d updates and %d bad for one input", len(ups), len(bad))
		}
		for _, u := range ups {
			ev, err := m.Map(u)
			if err != nil {
				if !errors.Is(err, adapter.ErrNotAnUpdate) {
					t.Fatalf("Map error is not ErrNotAnUpdate: %v", err)
				}
				continue
			}
			fuzzCheckEvent(t, u, ev)
		}
	})
}

func fuzzCheckEvent(t *testing.T, u adapter.Update, ev adapter.Event) {
	t.Helper()
	if ev.UpdateID != u.ID {
		t.Fatalf("UpdateID %d, want %d", ev.UpdateID, u.ID)
	}
	if ev.Field == "" || ev.Type != "telegram."+ev.Field {
		t.Fatalf("Type %q does not match Field %q", ev.Type, ev.Field)
	}

	// The event object: "type" is the event type; the other keys are the
	// Telegram object's (its own "type" renamed to <field>_type).
	event := fuzzDecodeObject(t, "event JSON", ev.JSON)
	var typ string
	if err := json.Unmarshal(event["type"], &typ); err != nil || typ != ev.Type {
		t.Fatalf("event \"type\" is %s, want %q (event %q)", event["type"], ev.Type, ev.JSON)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(u.Raw, &fields); err != nil {
		t.Fatalf("Map succeeded on an update that does not decode: %v", err)
	}
	if obj, ok := fields[ev.Field]; ok {
		var inner map[string]json.RawMessage
		if len(obj) > 0 && obj[0] == '{' && json.Unmarshal(obj, &inner) == nil {
			_, clash := inner[ev.Field+"_type"]
			_, hasType := inner["type"]
			for k, v := range inner {
				name := k
				if k == "type" {
					name = ev.Field + "_type"
				}
				if clash && hasType && name == ev.Field+"_type" {
					continue // both "type" and "<field>_type": one of them wins
				}
				if got, ok := event[name]; !ok || !bytes.Equal(got, v) {
					t.Fatalf("event key %q is %q, want %q (from key %q)", name, got, v, k)
				}
			}
			if !(clash && hasType) && len(event) != len(inner)+1 {
				t.Fatalf("event has %d keys, the Telegram object %d (+type)", len(event), len(inner))
			}
		}
	} else if ev.Field != "unknown" {
		t.Fatalf("Field %q is not a key of the update", ev.Field)
	}

	// The scope object: {"type":"telegram", exactly one of chat/user}.
	if ev.Scope.Key == "" {
		t.Fatalf("empty scope key")
	}
	scope := fuzzDecodeObject(t, "scope JSON", ev.Scope.JSON)
	if string(scope["type"]) != `"telegram"` {
		t.Fatalf("scope type is %s, want \"telegram\"", scope["type"])
	}
	chat, hasChat := scope["chat"]
	user, hasUser := scope["user"]
	if hasChat == hasUser {
		t.Fatalf("scope must carry exactly one of chat/user: %q", ev.Scope.JSON)
	}
	entity := chat
	if hasUser {
		entity = user
	}
	fuzzDecodeObject(t, "scope entity", entity)
	id := strconv.FormatInt(ev.Scope.ID, 10)
	switch ev.Scope.Kind {
	case adapter.ScopeChat:
		if !hasChat || !strings.HasSuffix(ev.Scope.Key, ":"+id) {
			t.Fatalf("chat scope %q / %q", ev.Scope.Key, ev.Scope.JSON)
		}
		if ev.Scope.BusinessConnectionID != "" {
			var conn string
			if err := json.Unmarshal(scope["business_connection_id"], &conn); err != nil || conn != ev.Scope.BusinessConnectionID {
				t.Fatalf("scope business_connection_id is %s, want %q", scope["business_connection_id"], ev.Scope.BusinessConnectionID)
			}
		}
	case adapter.ScopeUser:
		if !hasUser || ev.Scope.Key != "user:"+id {
			t.Fatalf("user scope %q / %q", ev.Scope.Key, ev.Scope.JSON)
		}
	case adapter.ScopeBot:
		if !hasUser || ev.Scope.Key != "bot" || ev.Scope.ID != fuzzBotID {
			t.Fatalf("bot scope %q / %d / %q", ev.Scope.Key, ev.Scope.ID, ev.Scope.JSON)
		}
	default:
		t.Fatalf("unknown scope kind %q", ev.Scope.Kind)
	}

	// The envelope of docs/protocol.md "The event POST" (as dispatch.go assembles it) stays valid JSON.
	env := []byte(`{"scope":` + string(ev.Scope.JSON) + `,"event":` + string(ev.JSON) +
		`,"update_id":` + strconv.FormatInt(ev.UpdateID, 10) + `,"token":"tok","send_url":"http://127.0.0.1:8080/send"}`)
	if !json.Valid(env) {
		t.Fatalf("envelope is not valid JSON: %q", env)
	}
}

// FuzzParseReply checks the reading of an application's 2xx reply (docs/protocol.md "Replying in the response body").
func FuzzParseReply(f *testing.F) {
	for _, s := range []struct{ ct, body string }{
		{"application/json", `{"type":"telegram.send_message","text":"hi"}`},
		{"application/json; charset=utf-8", `[{"type":"telegram.send_message","text":"a"},{"type":"telegram.answer_callback_query","callback_query_id":"1"}]`},
		{"Application/JSON", `[]`},
		{"application/json", `{}`},
		{"application/json", `{ }`},
		{"application/json", `null`},
		{"application/json", ``},
		{"application/json", " \n\t "},
		{"application/json", `{"type":`},
		{"application/json", `"text"`},
		{"application/json", `42`},
		{"application/json", `[1,"a",null,{}]`},
		{"application/json", `[{"a":1}] garbage`},
		{"application/json", "\xc2\xa0{}"},
		{"application/json", "\xff"},
		{"application/problem+json", `{"type":"about:blank"}`},
		{"application/vnd.api+json", `[]`},
		{"application/json;", `{}`},
		{"application/json; charset", `{}`},
		{"text/plain; charset=utf-8", `OK`},
		{"text/html", `<html></html>`},
		{"", `{"type":"telegram.send_message"}`},
		{"", ``},
		{"json", `{}`},
		{"application/+json", `{}`},
	} {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		events, err := adapter.ParseReply(ct, body)
		isJSON := adapter.IsJSONContentType(ct)
		if errors.Is(err, adapter.ErrNotJSON) && isJSON {
			t.Fatalf("ErrNotJSON for a JSON content type %q", ct)
		}
		if err != nil {
			if events != nil {
				t.Fatalf("events %q returned with error %v", events, err)
			}
			return
		}
		for i, e := range events {
			if !json.Valid(e) {
				t.Fatalf("event %d is not valid JSON: %q", i, e)
			}
		}
		if len(events) > 0 && !isJSON {
			t.Fatalf("events from a body not declared as JSON (%q)", ct)
		}
	})
}

// fuzzCall is one call that reached the fake Bot API.
type fuzzCall struct {
	method string
	params map[string]json.RawMessage
	raw    []byte
}

// fuzzCaller is a fake Bot API: it records every call and answers with a
// realistic result, or fails when the parameters ask it to (x_fail: a
// refusal, x_unknown: an ambiguous failure, x_down: unreachable).
type fuzzCaller struct {
	t     *testing.T
	calls []fuzzCall
}

func (c *fuzzCaller) CallMultipart(_ context.Context, method string, _ map[string]json.RawMessage, _ []telegram.FilePart) (json.RawMessage, error) {
	c.t.Fatalf("%s: a /send body without files was uploaded as multipart", method)
	return nil, nil
}

func (c *fuzzCaller) Call(_ context.Context, method string, params any) (json.RawMessage, error) {
	raw, err := json.Marshal(params)
	if err != nil {
		c.t.Fatalf("%s: parameters do not encode: %v", method, err)
	}
	if !json.Valid(raw) {
		c.t.Fatalf("%s: parameters are not valid JSON: %q", method, raw)
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(raw, &p); err != nil {
		c.t.Fatalf("%s: parameters are not a JSON object: %q", method, raw)
	}
	c.calls = append(c.calls, fuzzCall{method: method, params: p, raw: raw})
	switch {
	case p["x_fail"] != nil:
		return nil, &telegram.Error{Method: method, Code: 400, Description: "Bad Request: chat not found"}
	case p["x_unknown"] != nil:
		return nil, fmt.Errorf("telegram: %s: %w: read: connection reset by peer", method, telegram.ErrOutcomeUnknown)
	case p["x_down"] != nil:
		return nil, errors.New("dial tcp: connection refused")
	case strings.HasPrefix(method, "send"):
		return json.RawMessage(`{"message_id":` + strconv.Itoa(len(c.calls)) + `,"date":1781340001,"chat":{"id":1,"type":"private"}}`), nil
	}
	return json.RawMessage(`true`), nil
}

var fuzzMethodName = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)

// fuzzRefused are the methods docs/protocol.md "Outbound events" refuses. Bot API method names are
// case-insensitive, so a call whose name folds to one of them is refused too.
var fuzzRefused = []string{"getUpdates", "setWebhook", "deleteWebhook", "logOut", "close"}

// FuzzExecute splits a /send body and executes it for a chat scope, a
// business chat scope, a user scope and the send_token (docs/protocol.md "Outbound events").
func FuzzExecute(f *testing.F) {
	for _, s := range []string{
		`{"type":"telegram.send_message","text":"hi"}`,
		`{"type":"telegram.send_message","text":"hi","chat_id":"@channel","parse_mode":"HTML","reply_to_message_id":4217}`,
		`{"type":"telegram.send_message","chat_id":-1001234567890,"text":"x","reply_markup":{"inline_keyboard":[[{"text":"a","callback_data":"b"}]]}}`,
		`[{"type":"telegram.send_message","text":"1"},{"type":"telegram.edit_message_text","message_id":1,"text":"2"}]`,
		`{"type":"telegram.edit_message_text","inline_message_id":"AAA","text":"t"}`,
		`{"type":"telegram.answer_callback_query","callback_query_id":"42","text":"ok"}`,
		`{"type":"telegram.answer_inline_query","inline_query_id":"1","results":[]}`,
		`{"type":"telegram.set_chat_menu_button"}`,
		`{"type":"telegram.send_chat_action","action":"typing"}`,
		`{"type":"telegram.get_me"}`,
		`{"type":"telegram.some_future_method","x":1}`,
		`{"type":"telegram.get_updates"}`,
		`{"type":"telegram.set_webhook","url":"https://example.com"}`,
		`{"type":"telegram.delete_webhook"}`,
		`{"type":"telegram.log_out"}`,
		`{"type":"telegram.close"}`,
		`{"type":"telegram.sendMessage","text":"x"}`,
		`{"type":"telegram.send__message"}`,
		`{"type":"telegram.send_message_"}`,
		`{"type":"telegram.9lives"}`,
		`{"type":"telegram."}`,
		`{"type":"message"}`,
		`{"type":1}`,
		`{"type":null}`,
		`{"text":"no type"}`,
		`{"type":"telegram.send_message","type":"telegram.get_me"}`,
		`{"type":"telegram.send_message","text":"x","x_fail":1}`,
		`[{"type":"telegram.send_message","text":"1"},{"type":"telegram.send_message","text":"2","x_unknown":1},{"type":"telegram.send_message","text":"3"}]`,
		`{"type":"telegram.get_me","x_down":true}`,
		`{"type":"telegram.send_message","chat_id":null}`,
		`{"type":"telegram.send_message","business_connection_id":"other"}`,
		`{"type":"telegram.send_message","chat_id":"1"}`,
		`[{"type":"telegram.send_message"},"not an object"]`,
		`[{"type":"telegram.send_message"},{"type":"telegram.get_updates"}]`,
		`[]`,
		`[[]]`,
		`null`,
		`"str"`,
		`{`,
		``,
	} {
		f.Add([]byte(s))
	}
	reg := adapter.NewRegistry(10, time.Minute)
	scopes := []*adapter.Scope{
		reg.Acquire(adapter.ScopeRef{Key: "chat:1", Kind: adapter.ScopeChat, ID: 1}),
		reg.Acquire(adapter.ScopeRef{Key: "business:bc1:2", Kind: adapter.ScopeChat, ID: 2, BusinessConnectionID: "bc1"}),
		reg.Acquire(adapter.ScopeRef{Key: "user:3", Kind: adapter.ScopeUser, ID: 3}),
		nil, // the send_token
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := adapter.SplitEvents(body)
		if err != nil {
			if events != nil {
				t.Fatalf("events with error %v", err)
			}
			return
		}
		if len(events) == 0 {
			t.Fatalf("SplitEvents returned no events and no error")
		}
		for _, s := range scopes {
			fc := &fuzzCaller{t: t}
			results, err := adapter.NewExecutor(fc).Execute(context.Background(), s, events)
			fuzzCheckExecute(t, s, events, fc.calls, results, err)
		}
	})
}

func fuzzCheckExecute(t *testing.T, s *adapter.Scope, events []json.RawMessage, calls []fuzzCall, results []json.RawMessage, err error) {
	t.Helper()
	scopeName := "send_token"
	if s != nil {
		scopeName = s.Key
	}
	var (
		inv *adapter.InvalidEventError
		ce  *adapter.CallError
	)
	switch {
	case err == nil:
		if len(calls) != len(events) || len(results) != len(events) {
			t.Fatalf("%s: %d events, %d calls, %d results", scopeName, len(events), len(calls), len(results))
		}
	case errors.As(err, &inv):
		if len(calls) != 0 {
			t.Fatalf("%s: invalid event %d, yet %d calls were made", scopeName, inv.Index, len(calls))
		}
		if inv.Index < 0 || inv.Index >= len(events) || inv.Reason == "" {
			t.Fatalf("%s: bad InvalidEventError %+v", scopeName, inv)
		}
	case errors.As(err, &ce):
		if len(calls) != ce.Index+1 || len(results) != ce.Index || ce.Method != calls[ce.Index].method {
			t.Fatalf("%s: CallError %+v after %d calls, %d results", scopeName, ce, len(calls), len(results))
		}
	default:
		t.Fatalf("%s: unexpected error type %T: %v", scopeName, err, err)
	}
	for i, c := range calls {
		if !fuzzMethodName.MatchString(c.method) {
			t.Fatalf("%s: call %d: bad method name %q", scopeName, i, c.method)
		}
		for _, r := range fuzzRefused {
			if strings.EqualFold(c.method, r) {
				t.Fatalf("%s: call %d: refused method %q was called (Bot API method names are case-insensitive)", scopeName, i, c.method)
			}
		}
		if _, ok := c.params["type"]; ok {
			t.Fatalf("%s: call %d (%s): params carry \"type\": %s", scopeName, i, c.method, c.raw)
		}
		// chat_id: a method that needs one always gets one.
		info, known := telegram.LookupMethod(c.method)
		if !known || info.ChatID != telegram.ChatIDRequired {
			continue
		}
		_, hasChat := c.params["chat_id"]
		_, hasInline := c.params["inline_message_id"]
		if !hasChat && !(hasInline && info.InlineMessageID) {
			t.Fatalf("%s: call %d (%s) without chat_id: %s", scopeName, i, c.method, c.raw)
		}
		var orig map[string]json.RawMessage
		if json.Unmarshal(events[i], &orig) != nil {
			t.Fatalf("%s: call %d made from an event that is not an object: %q", scopeName, i, events[i])
		}
		if _, had := orig["chat_id"]; !had && hasChat {
			// Defaulted: only in a chat scope, to the scope's chat.
			if s == nil || s.Kind != adapter.ScopeChat || string(c.params["chat_id"]) != strconv.FormatInt(s.ID, 10) {
				t.Fatalf("%s: call %d (%s): chat_id defaulted to %s", scopeName, i, c.method, c.params["chat_id"])
			}
			if s.BusinessConnectionID != "" && info.BusinessConnection {
				if _, had := orig["business_connection_id"]; !had && string(c.params["business_connection_id"]) != strconv.Quote(s.BusinessConnectionID) {
					t.Fatalf("%s: call %d (%s): business_connection_id not filled in: %s", scopeName, i, c.method, c.raw)
				}
			}
		}
	}
}
