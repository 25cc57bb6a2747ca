package adapter

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// recordingApp answers every request 204 and records what it got.
type recordingApp struct {
	mu   sync.Mutex
	reqs []AppRequest
}

func (r *recordingApp) Deliver(_ context.Context, req AppRequest) (AppResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return AppResponse{Status: 204}, nil
}

// of lists "<event type> <webhook-id>" of the requests about scope key, in
// order (a telegram event by its type only).
func (r *recordingApp) of(key string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, req := range r.reqs {
		var b struct {
			Scope json.RawMessage `json:"scope"`
			Event struct {
				Key string `json:"scope_key"`
			} `json:"event"`
		}
		_ = json.Unmarshal(req.Body, &b)
		switch {
		case b.Event.Key == key:
			out = append(out, req.EventType+" "+req.WebhookID)
		case b.Event.Key == "" && req.UpdateID != 0 && scopeKeyOf(b.Scope) == key:
			out = append(out, req.EventType)
		}
	}
	return out
}

func scopeKeyOf(scope json.RawMessage) string {
	var s struct {
		Chat struct {
			ID int64 `json:"id"`
		} `json:"chat"`
	}
	_ = json.Unmarshal(scope, &s)
	return chatScope(s.Chat.ID)
}

// TestLifecycleReopenWaitsForTheClose: an evicted scope's scope_closed
// comes before the scope_opened of the key's next scope, n counting the
// opens of the key.
func TestLifecycleReopenWaitsForTheClose(t *testing.T) {
	app := &recordingApp{}
	a := New(Options{App: app, LifecycleEvents: true, MaxScopes: 1})
	a.mapper = Mapper{BotID: 7}
	a.life.botID = 7
	ctx := context.Background()
	for i, chat := range []int64{1, 2, 1} {
		ev, err := a.mapper.Map(msgUpdate(int64(i+1), chat))
		if err != nil {
			t.Fatal(err)
		}
		if !a.deliver(ctx, ev) {
			t.Fatal("not delivered")
		}
	}
	a.life.closes.Wait()
	want := []string{
		"asgigram.scope_opened asg-7-chat:1-open-1", "telegram.message",
		"asgigram.scope_closed asg-7-chat:1-close-1",
		"asgigram.scope_opened asg-7-chat:1-open-2", "telegram.message",
	}
	if got := app.of("chat:1"); !slices.Equal(got, want) {
		t.Errorf("chat:1 got\n%q\nwant\n%q", got, want)
	}
}

func TestClosesScope(t *testing.T) {
	member := func(status string) string {
		return fmt.Sprintf(`{"update_id":1,"my_chat_member":{"chat":{"id":5,"type":"private"},"new_chat_member":{"status":%q}}}`, status)
	}
	for _, c := range []struct {
		field, raw string
		reason     string
		newChat    int64
	}{
		{"my_chat_member", member("kicked"), CloseBotBlocked, 0},
		{"my_chat_member", member("left"), CloseBotBlocked, 0},
		{"my_chat_member", member("member"), "", 0},
		{"my_chat_member", member("administrator"), "", 0},
		{"message", `{"update_id":1,"message":{"chat":{"id":-5},"migrate_to_chat_id":-1005}}`, CloseMigrated, -1005},
		{"message", `{"update_id":1,"message":{"chat":{"id":-1005},"migrate_from_chat_id":-5}}`, "", 0},
		{"message", `{"update_id":1,"message":{"chat":{"id":-5},"text":"\"migrate_to_chat_id\""}}`, "", 0},
		{"chat_member", `{"update_id":1,"chat_member":{"new_chat_member":{"status":"kicked"}}}`, "", 0},
	} {
		reason, newChat := closesScope(Event{Field: c.field, Raw: []byte(c.raw)})
		if reason != c.reason || newChat != c.newChat {
			t.Errorf("%s: got (%q, %d), want (%q, %d)", c.raw, reason, newChat, c.reason, c.newChat)
		}
	}
}
