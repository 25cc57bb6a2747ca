package adapter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/asgigram/asgigram/telegram"
)

// chatCall is one call a fake Bot API received: its chat and text.
type chatCall struct{ chat, text string }

// orderCaller records the calls it receives, in order. A call whose text
// has a channel in hold waits for it to close before it is recorded.
type orderCaller struct {
	mu    sync.Mutex
	calls []chatCall
	hold  map[string]chan struct{}
	// entered receives the text of every call as it comes in, when set.
	entered chan string
	// fail answers a call by its text, when set.
	fail func(chatCall) error
}

func (c *orderCaller) Call(_ context.Context, _ string, params any) (json.RawMessage, error) {
	var p struct {
		ChatID json.RawMessage `json:"chat_id"`
		Text   string          `json:"text"`
	}
	if err := json.Unmarshal(params.(json.RawMessage), &p); err != nil {
		return nil, err
	}
	cc := chatCall{telegram.ChatKey(p.ChatID), p.Text}
	if c.entered != nil {
		c.entered <- p.Text
	}
	c.mu.Lock()
	h := c.hold[p.Text]
	c.mu.Unlock()
	if h != nil {
		<-h
	}
	if c.fail != nil {
		if err := c.fail(cc); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	c.calls = append(c.calls, cc)
	c.mu.Unlock()
	return json.RawMessage(`{"message_id":1}`), nil
}

func (c *orderCaller) CallMultipart(context.Context, string, map[string]json.RawMessage, []telegram.FilePart) (json.RawMessage, error) {
	return nil, errors.New("orderCaller takes no uploads")
}

func (c *orderCaller) texts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.calls))
	for i, cc := range c.calls {
		out[i] = cc.text
	}
	return out
}

// sends returns send_message events, one per text, to chat.
func sends(chat string, texts ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(texts))
	for i, t := range texts {
		out[i] = json.RawMessage(`{"type":"telegram.send_message","chat_id":` + chat + `,"text":"` + t + `"}`)
	}
	return out
}

// until polls cond (under no lock of the test's own) until it holds; the
// test fails if it never does.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("never came to pass: %s", what)
		}
		runtime.Gosched()
		time.Sleep(50 * time.Microsecond)
	}
}

// waitingIn reports how many calls wait for chat (or are being made).
func (o *order) waitingIn(chat string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if q := o.chats[chat]; q != nil {
		return q.waiting
	}
	return 0
}

// empty reports whether o holds no state at all.
func (o *order) empty() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.chats) == 0 && len(o.pending) == 0 && len(o.blocked) == 0
}

// TestLaterArrivalNeverOvertakes: a request that arrived later but got its
// calls placed first still waits for the earlier one, whose body was not in
// yet.
func TestLaterArrivalNeverOvertakes(t *testing.T) {
	tg := &orderCaller{}
	e := NewExecutor(tg)
	first, second := e.order.arrive(), e.order.arrive()

	done := make(chan error, 1)
	go func() {
		_, _, err := e.executeArrived(context.Background(), second, nil, sends("7", "second"))
		done <- err
	}()
	until(t, "the second request waits for its turn", func() bool { return e.order.waitingIn("7") == 1 })
	if _, _, err := e.executeArrived(context.Background(), first, nil, sends("7", "first")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(tg.texts()); got != "[first second]" {
		t.Errorf("calls made %s, want [first second]", got)
	}
	if !e.order.empty() {
		t.Error("state left behind")
	}
}

// TestArrivalDoneLetsLaterGo: a request that gives up its place (its body
// never came) no longer holds the ones after it.
func TestArrivalDoneLetsLaterGo(t *testing.T) {
	tg := &orderCaller{}
	e := NewExecutor(tg)
	gone, later := e.order.arrive(), e.order.arrive()
	done := make(chan error, 1)
	go func() {
		_, _, err := e.executeArrived(context.Background(), later, nil, sends("7", "later"))
		done <- err
	}()
	until(t, "the later request waits", func() bool { return e.order.waitingIn("7") == 1 })
	if n := len(tg.texts()); n != 0 {
		t.Fatalf("%d calls made before the earlier arrival was settled", n)
	}
	gone.Done()
	gone.Done() // again: nothing
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !e.order.empty() {
		t.Error("state left behind")
	}

	// A refused request gives up its place by itself.
	bad, after := e.order.arrive(), e.order.arrive()
	if _, _, err := e.executeArrived(context.Background(), bad, nil, []json.RawMessage{json.RawMessage(`{"type":"nope"}`)}); err == nil {
		t.Fatal("a bad event was accepted")
	}
	if _, _, err := e.executeArrived(context.Background(), after, nil, sends("7", "after")); err != nil {
		t.Fatal(err)
	}
	if !e.order.empty() {
		t.Error("state left behind")
	}
}

// TestChatOrderFollowsArrivalNotTiming: many requests, arriving in one
// order and reaching the executor in another, to a few chats: every chat
// gets its calls in arrival order.
func TestChatOrderFollowsArrivalNotTiming(t *testing.T) {
	for _, paced := range []bool{false, true} {
		t.Run(fmt.Sprintf("pacer=%v", paced), func(t *testing.T) {
			tg := &orderCaller{}
			e := NewExecutor(tg)
			if paced {
				e.pacer = &keyPacer{}
			}
			const n = 200
			arrivals := make([]*Arrival, n)
			for i := range arrivals {
				arrivals[i] = e.order.arrive()
			}
			var wg sync.WaitGroup
			for _, i := range rand.Perm(n) {
				wg.Go(func() {
					runtime.Gosched()
					// Two calls per request, to chats picked from three.
					a, b := strconv.Itoa(i%3), strconv.Itoa((i/3)%3)
					events := append(sends(a, fmt.Sprintf("%d.0", i)), sends(b, fmt.Sprintf("%d.1", i))...)
					if _, _, err := e.executeArrived(context.Background(), arrivals[i], nil, events); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			last := map[string]string{}
			tg.mu.Lock()
			defer tg.mu.Unlock()
			if len(tg.calls) != 2*n {
				t.Fatalf("%d calls made, want %d", len(tg.calls), 2*n)
			}
			for _, c := range tg.calls {
				if prev, ok := last[c.chat]; ok && !textBefore(prev, c.text) {
					t.Fatalf("chat %s: call %s after %s", c.chat, c.text, prev)
				}
				last[c.chat] = c.text
			}
			if !e.order.empty() {
				t.Error("state left behind")
			}
		})
	}
}

// textBefore compares "request.position" texts in the order of arrival.
func textBefore(a, b string) bool {
	var ai, ap, bi, bp int
	fmt.Sscanf(a, "%d.%d", &ai, &ap)
	fmt.Sscanf(b, "%d.%d", &bi, &bp)
	return ai < bi || (ai == bi && ap < bp)
}

// TestRepliesKeepTheirOrder: a reply body's calls take their places when it
// is queued, all at once: a request that arrives after it waits for all of
// its calls to the chat, even those behind a call to another chat.
func TestRepliesKeepTheirOrder(t *testing.T) {
	release := make(chan struct{})
	tg := &orderCaller{hold: map[string]chan struct{}{"r0": release}, entered: make(chan string, 10)}
	e := NewExecutor(tg)
	reply := append(append(sends("1", "r0"), sends("2", "r1")...), sends("1", "r2", "r3")...)
	done := make(chan error, 1)
	go func() {
		_, _, err := e.execute(context.Background(), nil, reply)
		done <- err
	}()
	if got := <-tg.entered; got != "r0" {
		t.Fatalf("first call %s, want r0", got)
	}
	// Arrives while r0 is being made.
	later := make(chan error, 1)
	go func() {
		_, _, err := e.execute(context.Background(), nil, sends("1", "later"))
		later <- err
	}()
	until(t, "the later reply waits", func() bool { return e.order.waitingIn("1") == 2 })
	close(release)
	for _, ch := range []chan error{done, later} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(tg.texts()); got != "[r0 r1 r2 r3 later]" {
		t.Errorf("calls made %s, want [r0 r1 r2 r3 later]", got)
	}
}

// TestChatsRunInParallel: a chat whose call hangs holds no other chat.
func TestChatsRunInParallel(t *testing.T) {
	release := make(chan struct{})
	tg := &orderCaller{hold: map[string]chan struct{}{"slow": release}, entered: make(chan string, 10)}
	e := NewExecutor(tg)
	slow := make(chan error, 1)
	go func() {
		_, _, err := e.execute(context.Background(), nil, sends("1", "slow"))
		slow <- err
	}()
	<-tg.entered
	// Chat 1's call is being made; chat 2's goes meanwhile.
	if _, _, err := e.execute(context.Background(), nil, sends("2", "fast")); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(tg.texts()); got != "[fast]" {
		t.Errorf("calls made %s, want [fast] while chat 1's call hangs", got)
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
}

// TestChatQueueBound: at most limit calls wait per chat, the one being made
// not counted; one more fails at once with ErrChatQueueFull, and is not
// made. Other chats and calls without a chat are not held.
func TestChatQueueBound(t *testing.T) {
	release := make(chan struct{})
	tg := &orderCaller{hold: map[string]chan struct{}{"0": release}, entered: make(chan string, 10)}
	e := NewExecutor(tg)
	e.order.limit = 2
	results := make(chan error, 3)
	go func() {
		_, _, err := e.execute(context.Background(), nil, sends("1", "0"))
		results <- err
	}()
	<-tg.entered // "0" is being made
	for _, text := range []string{"1", "2"} {
		go func() {
			_, _, err := e.execute(context.Background(), nil, sends("1", text))
			results <- err
		}()
	}
	until(t, "two calls wait", func() bool { return e.order.waitingIn("1") == 3 })
	_, _, err := e.execute(context.Background(), nil, sends("1", "3"))
	var ce *CallError
	if !errors.As(err, &ce) || !errors.Is(err, ErrChatQueueFull) {
		t.Fatalf("a third waiting call = %v, want a CallError wrapping ErrChatQueueFull", err)
	}
	if _, _, err := e.execute(context.Background(), nil, sends("2", "other chat")); err != nil {
		t.Errorf("another chat: %v", err)
	}
	if _, _, err := e.execute(context.Background(), nil, []json.RawMessage{json.RawMessage(`{"type":"telegram.answer_callback_query","callback_query_id":"1"}`)}); err != nil {
		t.Errorf("a call without a chat: %v", err)
	}
	close(release)
	for range 3 {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
	for _, text := range tg.texts() {
		if text == "3" {
			t.Error("the refused call was made")
		}
	}
	if !e.order.empty() {
		t.Error("state left behind")
	}
}

// TestWaitEndsWithContext: a call that waits for its turn gives up when its
// context ends, with an error that says so, and leaves no place behind.
func TestWaitEndsWithContext(t *testing.T) {
	release := make(chan struct{})
	tg := &orderCaller{hold: map[string]chan struct{}{"held": release}, entered: make(chan string, 10)}
	e := NewExecutor(tg)
	held := make(chan error, 1)
	go func() {
		_, _, err := e.execute(context.Background(), nil, sends("1", "held"))
		held <- err
	}()
	<-tg.entered
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, _, err := e.execute(ctx, nil, sends("1", "gives up", "never"))
		gaveUp <- err
	}()
	until(t, "the second call waits", func() bool { return e.order.waitingIn("1") == 2 })
	cancel()
	err := <-gaveUp
	var ce *CallError
	if !errors.As(err, &ce) || ce.Index != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want a CallError at index 0 wrapping context.Canceled", err)
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if !e.order.empty() {
		t.Error("state left behind")
	}
}

// TestMigratedCallKeepsItsPlace: a call to a group upgraded to a
// supergroup is made again on the new chat, ahead of its own request's
// next call there (which it must not wait for).
func TestMigratedCallKeepsItsPlace(t *testing.T) {
	tg := &orderCaller{}
	tg.fail = func(c chatCall) error {
		if c.chat == "-1" {
			return &telegram.Error{Method: "sendMessage", Code: 400, Description: "Bad Request: group chat was upgraded to a supergroup chat", MigrateToChatID: -1001}
		}
		return nil
	}
	e := NewExecutor(tg)
	events := append(sends("-1", "moved"), sends("-1001", "next")...)
	if _, _, err := e.execute(context.Background(), nil, events); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(tg.calls); got != "[{-1001 moved} {-1001 next}]" {
		t.Errorf("calls made %s", got)
	}
	if !e.order.empty() {
		t.Error("state left behind")
	}
}
