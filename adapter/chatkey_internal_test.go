package adapter

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/asgigram/asgigram/telegram"
)

// keyPacer records the chat keys calls are paced by.
type keyPacer struct {
	mu   sync.Mutex
	keys []string
}

func (p *keyPacer) Wait(_ context.Context, _, chatKey string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = append(p.keys, chatKey)
	return nil
}

func (p *keyPacer) RateLimited(string, time.Duration) {}

type okCaller struct{}

func (okCaller) Call(context.Context, string, any) (json.RawMessage, error) {
	return json.RawMessage(`{"message_id":1}`), nil
}

func (okCaller) CallMultipart(context.Context, string, map[string]json.RawMessage, []telegram.FilePart) (json.RawMessage, error) {
	return json.RawMessage(`{"message_id":1}`), nil
}

// TestOneChatIsPacedAndOrderedAsOne: a numeric chat_id written as a number,
// a string, or a string padded with spaces is one chat to the pacer and to
// the per-chat order.
func TestOneChatIsPacedAndOrderedAsOne(t *testing.T) {
	p := &keyPacer{}
	e := NewExecutor(okCaller{})
	e.pacer = p
	s := NewRegistry(10, time.Minute).Acquire(ScopeRef{Key: "chat:1", Kind: ScopeChat, ID: 1})
	var events []json.RawMessage
	for _, id := range []string{`4343`, `"4343"`, `" 4343"`, `"4343 "`, `"\t4343"`} {
		events = append(events, json.RawMessage(`{"type":"telegram.send_message","text":"x","chat_id":`+id+`}`))
	}
	if _, err := e.Execute(context.Background(), s, events); err != nil {
		t.Fatal(err)
	}
	if len(p.keys) != len(events) {
		t.Fatalf("paced %d calls, want %d", len(p.keys), len(events))
	}
	for i, k := range p.keys {
		if k != "4343" {
			t.Errorf("call %d paced as chat %q, want \"4343\"", i, k)
		}
	}
	e.order.mu.Lock()
	defer e.order.mu.Unlock()
	if len(e.order.chats) != 0 || len(e.order.pending) != 0 || len(e.order.blocked) != 0 {
		t.Errorf("per-chat order state left: chats %v, pending %v, blocked %v", e.order.chats, e.order.pending, e.order.blocked)
	}
}
