package pacing

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// The rates below are scaled up so that the tests stay short; assertions
// are made from recorded times, with tolerance, and mostly as lower bounds
// (the property that matters: a limit is never exceeded).

// fast is a config whose every limit is far away; tests lower the one they
// look at.
func fast() Config {
	return Config{
		ChatRate:   Rate{10000, time.Second},
		ChatBurst:  3,
		GroupRate:  Rate{10000, time.Second},
		GlobalRate: Rate{10000, time.Second},
	}
}

// recorder collects the times calls left Wait.
type recorder struct {
	mu    sync.Mutex
	times []time.Time
	keys  []string
}

func (r *recorder) add(key string) {
	r.mu.Lock()
	r.times = append(r.times, time.Now())
	r.keys = append(r.keys, key)
	r.mu.Unlock()
}

func (r *recorder) sorted() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	ts := append([]time.Time(nil), r.times...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	return ts
}

// checkBucket asserts that times (sorted) respect a token bucket of rate
// perSec and burst: no window [t_i, t_j] holds more than
// burst + perSec*(t_j-t_i) calls. One call of slack covers the delay between
// taking a token and recording the time.
func checkBucket(t *testing.T, what string, times []time.Time, perSec float64, burst int) {
	t.Helper()
	for i := range times {
		for j := i; j < len(times); j++ {
			n := j - i + 1
			allowed := float64(burst) + perSec*times[j].Sub(times[i]).Seconds() + 1
			if float64(n) > allowed {
				t.Fatalf("%s: %d calls within %s, a bucket of %g/s burst %d allows %.1f",
					what, n, times[j].Sub(times[i]), perSec, burst, allowed-1)
			}
		}
	}
}

func mustWait(t *testing.T, p *Pacer, method, key string) {
	t.Helper()
	if err := p.Wait(context.Background(), method, key); err != nil {
		t.Errorf("Wait(%s, %q) = %v", method, key, err)
	}
}

func TestPaced(t *testing.T) {
	paced := []string{"sendMessage", "sendmessage", "SENDPHOTO", "sendDocument", "sendMediaGroup", "sendPoll",
		"sendDice", "sendSticker", "sendInvoice", "sendGame", "sendGift", "sendRichMessage", "sendPaidMedia",
		"copyMessage", "copyMessages", "forwardMessage", "forwardMessages", "sendSomethingNew"}
	notPaced := []string{"sendChatAction", "sendchataction", "sendMessageDraft", "sendRichMessageDraft",
		"sendChatJoinRequestWebApp", "answerCallbackQuery", "answerInlineQuery", "getMe", "getChat",
		"editMessageText", "deleteMessage", "setMessageReaction", "banChatMember", "pinChatMessage",
		"createForumTopic", "stopPoll", "postStory", "approveChatJoinRequest", ""}
	for _, m := range paced {
		if !Paced(m) {
			t.Errorf("Paced(%q) = false, want true", m)
		}
	}
	for _, m := range notPaced {
		if Paced(m) {
			t.Errorf("Paced(%q) = true, want false", m)
		}
	}
}

func TestIsGroup(t *testing.T) {
	for key, want := range map[string]bool{"-100123": true, "-5": true, "@channel": true, "42": false, "": false} {
		if IsGroup(key) != want {
			t.Errorf("IsGroup(%q) = %v, want %v", key, !want, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	want := Config{
		ChatRate:   Rate{1, time.Second},
		ChatBurst:  3,
		GroupRate:  Rate{20, time.Minute},
		GlobalRate: Rate{30, time.Second},
	}
	if DefaultConfig() != want {
		t.Errorf("DefaultConfig() = %+v, want %+v", DefaultConfig(), want)
	}
	if got := New(Config{}).Config(); got != want {
		t.Errorf("New(Config{}).Config() = %+v, want the defaults", got)
	}
	bad := Config{ChatRate: Rate{-1, time.Second}, GroupRate: Rate{1, 0}, ChatBurst: -2}
	if got := New(bad).Config(); got != want {
		t.Errorf("invalid fields: Config() = %+v, want the defaults", got)
	}
}

func TestOff(t *testing.T) {
	p := Off
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 1000 {
		if err := p.Wait(ctx, "sendMessage", "1"); err != nil {
			t.Fatalf("nil Pacer: Wait = %v, want nil", err)
		}
	}
	p.RateLimited("1", time.Hour) // no panic
	if !p.PausedUntil().IsZero() || p.Config() != (Config{}) {
		t.Error("nil Pacer reports state")
	}
}

func TestChatRateWithBurst(t *testing.T) {
	cfg := fast()
	cfg.ChatRate = Rate{50, time.Second} // 20 ms apart
	cfg.ChatBurst = 3
	p := New(cfg)

	var rec recorder
	start := time.Now()
	for range 13 {
		mustWait(t, p, "sendMessage", "42")
		rec.add("42")
	}
	times := rec.sorted()
	checkBucket(t, "chat", times, 50, 3)
	// The burst goes out at once; the other 10 need 10 tokens = 200 ms.
	if d := times[2].Sub(start); d > 100*time.Millisecond {
		t.Errorf("the burst of 3 took %s, want it at once", d)
	}
	if d := times[12].Sub(start); d < 180*time.Millisecond || d > 2*time.Second {
		t.Errorf("13 calls took %s, want about 200ms", d)
	}

	// Another chat has its own bucket.
	other := time.Now()
	for range 3 {
		mustWait(t, p, "sendMessage", "43")
	}
	if d := time.Since(other); d > 100*time.Millisecond {
		t.Errorf("another chat's burst took %s, want it at once", d)
	}
}

func TestGroupRate(t *testing.T) {
	cfg := fast()
	cfg.ChatRate = Rate{1000, time.Second}
	cfg.ChatBurst = 2
	cfg.GroupRate = Rate{20, 200 * time.Millisecond} // 100/s, 10 ms apart
	p := New(cfg)

	for _, key := range []string{"-1001234567890", "-77", "@mychannel"} {
		var rec recorder
		start := time.Now()
		for range 22 {
			mustWait(t, p, "sendMessage", key)
			rec.add(key)
		}
		times := rec.sorted()
		checkBucket(t, key, times, 100, 2)
		if d := times[21].Sub(start); d < 180*time.Millisecond {
			t.Errorf("%s: 22 calls took %s, want at least about 200ms (group rate)", key, d)
		}
	}

	// A private chat is held by the chat rate only: 1000/s.
	start := time.Now()
	for range 22 {
		mustWait(t, p, "sendMessage", "42")
	}
	if d := time.Since(start); d > 150*time.Millisecond {
		t.Errorf("a private chat took %s for 22 calls, want about 20ms: the group rate must not apply", d)
	}
}

func TestGlobalRateAndFairness(t *testing.T) {
	cfg := fast()
	cfg.ChatRate = Rate{1000, time.Second}
	cfg.GlobalRate = Rate{400, time.Second} // burst 400/20 = 20
	p := New(cfg)
	if b := p.global.Burst(); b != 20 {
		t.Fatalf("global burst = %d, want 20", b)
	}

	const chats, each = 20, 10
	var rec recorder
	var wg sync.WaitGroup
	start := time.Now()
	for c := range chats {
		wg.Go(func() {
			key := fmt.Sprint(1000 + c)
			for range each {
				mustWait(t, p, "sendMessage", key)
				rec.add(key)
			}
		})
	}
	wg.Wait()
	times := rec.sorted()
	checkBucket(t, "global", times, 400, 20)
	if d := times[len(times)-1].Sub(start); d < 400*time.Millisecond {
		t.Errorf("%d calls took %s, want at least (200-20)/400s = 450ms", chats*each, d)
	}

	// Fairness: when half the calls are out, every chat has had its share.
	rec.mu.Lock()
	perChat := map[string]int{}
	for _, k := range rec.keys[:chats*each/2] {
		perChat[k]++
	}
	rec.mu.Unlock()
	for c := range chats {
		if n := perChat[fmt.Sprint(1000+c)]; n < 2 {
			t.Errorf("chat %d had %d of the first %d calls, want its share (about %d)", 1000+c, n, chats*each/2, each/2)
		}
	}
}

func TestChatlessPacedCall(t *testing.T) {
	cfg := fast()
	cfg.GlobalRate = Rate{1, time.Hour} // burst 1
	p := New(cfg)
	mustWait(t, p, "sendGift", "") // takes the only global token
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := p.Wait(ctx, "sendGift", ""); !errors.Is(err, ErrDeadline) {
		t.Errorf("second chatless send = %v, want ErrDeadline (global bucket empty)", err)
	}
	if len(p.chats) != 0 {
		t.Errorf("a chatless call created chat state: %d chats", len(p.chats))
	}
}

// TestConcurrentWaitsForOneChat: the pacer does not order a chat's calls
// (its caller does), but calls of one chat that wait at the same time all
// pass, and together keep the chat's rate.
func TestConcurrentWaitsForOneChat(t *testing.T) {
	cfg := fast()
	cfg.ChatRate = Rate{200, time.Second} // 5 ms apart
	cfg.ChatBurst = 1
	p := New(cfg)

	const n = 20
	var rec recorder
	var wg sync.WaitGroup
	mustWait(t, p, "sendMessage", "9") // empty the bucket: everyone waits
	for range n {
		wg.Go(func() {
			mustWait(t, p, "sendMessage", "9")
			rec.add("9")
		})
	}
	wg.Wait()
	times := rec.sorted()
	if len(times) != n {
		t.Fatalf("%d calls passed, want %d", len(times), n)
	}
	checkBucket(t, "chat 9", times, 200, 1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := p.chats["9"].waiting; w != 0 || p.globalQ.len() != 0 {
		t.Errorf("left: %d waiting for chat 9, %d in the global queue", w, p.globalQ.len())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func TestNonPacedNotHeld(t *testing.T) {
	cfg := fast()
	cfg.ChatRate = Rate{1, time.Hour}
	cfg.ChatBurst = 1
	cfg.GlobalRate = Rate{1, time.Hour}
	p := New(cfg)
	mustWait(t, p, "sendMessage", "5") // chat 5 and the global bucket are now empty

	// A queue of sends for chat 5, held for an hour.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { _ = p.Wait(ctx, "sendMessage", "5") })
	}
	waitFor(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.chats["5"].waiting == 5
	})

	start := time.Now()
	for _, m := range []string{"answerCallbackQuery", "sendChatAction", "sendMessageDraft", "editMessageText",
		"getMe", "deleteMessage", "banChatMember", "answerInlineQuery"} {
		for _, key := range []string{"5", "", "6"} {
			mustWait(t, p, m, key)
		}
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("calls that are not message sends took %s, want them at once", d)
	}
	cancel()
	wg.Wait()
}

func TestRateLimitedPausesOnlyThatChat(t *testing.T) {
	p := New(fast())
	p.RateLimited("1", 300*time.Millisecond)
	if !p.PausedUntil().IsZero() {
		t.Fatal("one 429 paused everything")
	}

	start := time.Now()
	mustWait(t, p, "sendMessage", "2")
	mustWait(t, p, "answerCallbackQuery", "1")
	mustWait(t, p, "sendChatAction", "1")
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("other chats and non-paced calls took %s, want them at once", d)
	}

	// A short deadline on the paused chat: ErrDeadline.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Wait(ctx, "sendMessage", "1"); !errors.Is(err, ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait on the paused chat = %v, want ErrDeadline wrapping DeadlineExceeded", err)
	}
	mustWait(t, p, "sendMessage", "1")
	if d := time.Since(start); d < 280*time.Millisecond {
		t.Errorf("the paused chat's send went after %s, want after the 300ms retry_after", d)
	}

	// A shorter retry_after never shortens a pause.
	p.RateLimited("3", 200*time.Millisecond)
	p.RateLimited("3", time.Millisecond)
	start = time.Now()
	mustWait(t, p, "sendMessage", "3")
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("chat 3 went after %s, want the longer pause kept", d)
	}
}

func TestChatPausedWhileWaitingForGlobal(t *testing.T) {
	cfg := fast()
	cfg.GlobalRate = Rate{5, time.Second} // burst 1, 200 ms apart
	p := New(cfg)
	mustWait(t, p, "sendMessage", "1") // empty the global bucket
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- p.Wait(context.Background(), "sendMessage", "2") }()
	waitFor(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.globalQ.len() == 1
	})
	p.RateLimited("2", 500*time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Errorf("a chat paused while it waited for the global bucket went after %s, want the pause honoured", d)
	}
}

func TestGlobalPause(t *testing.T) {
	t.Run("two chats are not enough", func(t *testing.T) {
		p := New(fast())
		p.RateLimited("1", time.Second)
		p.RateLimited("2", time.Second)
		p.RateLimited("2", time.Second)
		p.RateLimited("1", time.Second)
		if !p.PausedUntil().IsZero() {
			t.Error("429s on two chats paused everything")
		}
	})

	t.Run("old 429s do not count", func(t *testing.T) {
		p := New(fast())
		p.RateLimited("1", time.Second)
		p.RateLimited("2", time.Second)
		p.mu.Lock()
		for i := range p.hits {
			p.hits[i].at = p.hits[i].at.Add(-6 * time.Second)
		}
		p.mu.Unlock()
		p.RateLimited("3", time.Second)
		if !p.PausedUntil().IsZero() {
			t.Error("429s more than 5s apart paused everything")
		}
	})

	t.Run("three chats pause everything", func(t *testing.T) {
		p := New(fast())
		start := time.Now()
		p.RateLimited("1", 100*time.Millisecond)
		p.RateLimited("-100200", 400*time.Millisecond)
		p.RateLimited("", 200*time.Millisecond) // a 429 without a chat counts
		until := p.PausedUntil()
		if d := until.Sub(start); d < 390*time.Millisecond || d > time.Second {
			t.Fatalf("global pause of %s, want the largest retry_after, 400ms", d)
		}

		var wg sync.WaitGroup
		var mu sync.Mutex
		var early []string
		for _, call := range [][2]string{{"sendMessage", "9"}, {"getMe", ""}, {"answerCallbackQuery", "9"},
			{"sendChatAction", "8"}, {"sendGift", ""}, {"editMessageText", "7"}} {
			wg.Go(func() {
				mustWait(t, p, call[0], call[1])
				if time.Now().Before(until) {
					mu.Lock()
					early = append(early, call[0])
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(early) > 0 {
			t.Errorf("%v went during the global pause", early)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		p.RateLimited("1", 300*time.Millisecond)
		p.RateLimited("2", 300*time.Millisecond)
		p.RateLimited("3", 300*time.Millisecond)
		if err := p.Wait(ctx, "getMe", ""); !errors.Is(err, ErrDeadline) {
			t.Errorf("non-paced call during a global pause with a short deadline = %v, want ErrDeadline", err)
		}
	})
}

func TestRetryAfter(t *testing.T) {
	cfg := fast()
	cfg.ChatRate = Rate{1, 20 * time.Second}
	cfg.ChatBurst = 1
	p := New(cfg)
	if d := p.RetryAfter("sendMessage", "1"); d != time.Second {
		t.Errorf("unknown chat: RetryAfter = %s, want 1s", d)
	}
	mustWait(t, p, "sendMessage", "1") // the next token comes in 20s
	if d := p.RetryAfter("sendMessage", "1"); d != 20*time.Second {
		t.Errorf("empty bucket: RetryAfter = %s, want 20s", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Wait(ctx, "sendMessage", "1"); close(done) }()
	waitFor(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.chats["1"].waiting == 1
	})
	if d := p.RetryAfter("sendMessage", "1"); d != 40*time.Second {
		t.Errorf("one queued: RetryAfter = %s, want 40s", d)
	}
	if d := p.RetryAfter("getMe", "1"); d != time.Second {
		t.Errorf("not paced: RetryAfter = %s, want 1s", d)
	}
	cancel()
	<-done
	p.RateLimited("2", 7500*time.Millisecond)
	if d := p.RetryAfter("sendMessage", "2"); d != 8*time.Second {
		t.Errorf("paused chat: RetryAfter = %s, want 8s", d)
	}
	if d := Off.RetryAfter("sendMessage", "2"); d != time.Second {
		t.Errorf("Off: RetryAfter = %s", d)
	}
}

func TestDeadlineTakesNoToken(t *testing.T) {
	t.Run("global bucket empty", func(t *testing.T) {
		cfg := fast()
		cfg.ChatBurst = 2
		cfg.ChatRate = Rate{1, time.Hour}
		cfg.GroupRate = Rate{1, time.Hour}
		cfg.GlobalRate = Rate{1, time.Hour}
		p := New(cfg)
		mustWait(t, p, "sendMessage", "0") // takes the only global token

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		err := p.Wait(ctx, "sendMessage", "-100")
		if !errors.Is(err, ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v, want ErrDeadline wrapping DeadlineExceeded", err)
		}
		c := p.chats["-100"]
		now := time.Now()
		if c.lim.TokensAt(now) < 2 || c.group.TokensAt(now) < 2 {
			t.Errorf("chat tokens %.2f, group tokens %.2f after a call that gave up, want 2 each (none taken)",
				c.lim.TokensAt(now), c.group.TokensAt(now))
		}
	})

	t.Run("chat paused", func(t *testing.T) {
		cfg := fast()
		cfg.GlobalRate = Rate{1, time.Hour} // burst 1
		p := New(cfg)
		p.RateLimited("1", time.Hour)

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		if err := p.Wait(ctx, "sendMessage", "1"); !errors.Is(err, ErrDeadline) {
			t.Fatalf("Wait = %v, want ErrDeadline", err)
		}
		if tok := p.global.TokensAt(time.Now()); tok < 1 {
			t.Errorf("global tokens %.2f: a call that gave up took one", tok)
		}
		// The only global token is still there for another chat.
		ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
		defer cancel2()
		if err := p.Wait(ctx2, "sendMessage", "2"); err != nil {
			t.Errorf("another chat = %v, want the untouched global token", err)
		}
	})

	t.Run("context already ended", func(t *testing.T) {
		p := New(fast())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, m := range []string{"sendMessage", "getMe"} {
			if err := p.Wait(ctx, m, "1"); !errors.Is(err, ErrDeadline) || !errors.Is(err, context.Canceled) {
				t.Errorf("Wait(%s) with an ended context = %v, want ErrDeadline", m, err)
			}
		}
		if len(p.chats) != 0 {
			t.Error("a call with an ended context created chat state")
		}
	})

	t.Run("a second waiter of the chat gives up", func(t *testing.T) {
		cfg := fast()
		cfg.ChatRate = Rate{10, time.Second} // 100 ms apart
		cfg.ChatBurst = 1
		p := New(cfg)
		mustWait(t, p, "sendMessage", "1")
		head := make(chan error, 1)
		go func() { head <- p.Wait(context.Background(), "sendMessage", "1") }()
		waitFor(t, func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.chats["1"].waiting == 1
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if err := p.Wait(ctx, "sendMessage", "1"); !errors.Is(err, ErrDeadline) {
			t.Errorf("second waiter = %v, want ErrDeadline", err)
		}
		if err := <-head; err != nil {
			t.Errorf("head = %v", err)
		}
		// The next call needs just one more token: the one that gave up took none.
		start := time.Now()
		mustWait(t, p, "sendMessage", "1")
		if d := time.Since(start); d > 180*time.Millisecond {
			t.Errorf("next call waited %s, want at most one interval (100ms)", d)
		}
	})
}

// age makes every chat look idle for longer than a minute and lets the next
// call sweep.
func age(p *Pacer) {
	time.Sleep(5 * time.Millisecond) // buckets of fast() refill in 0.3 ms
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.chats {
		c.lastUsed = c.lastUsed.Add(-idleAfter - time.Second)
	}
	p.lastSweep = time.Time{}
}

func TestIdleChatsCollected(t *testing.T) {
	p := New(fast())
	if p.idle != time.Minute {
		t.Fatalf("idle = %s, want 1m", p.idle)
	}
	p.lastSweep = time.Now().Add(time.Hour) // no sweep until age()

	for i := range 200 {
		mustWait(t, p, "sendMessage", fmt.Sprint(i))
	}
	// Kept: a chat under a 429 pause, a chat with a call waiting, a chat
	// whose bucket has not refilled.
	p.RateLimited("paused", time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	p.RateLimited("busy", time.Hour)
	waiting := make(chan error, 1)
	go func() { waiting <- p.Wait(ctx, "sendMessage", "busy") }()
	waitFor(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.chats["busy"].waiting == 1
	})
	mustWait(t, p, "sendMessage", "drained")
	p.mu.Lock()
	p.chats["busy"].pausedUntil = time.Time{} // only its waiting call keeps it now
	slow := rate.NewLimiter(rate.Every(time.Hour), 3)
	slow.AllowN(time.Now(), 3)
	p.chats["drained"].lim = slow
	if n := len(p.chats); n != 203 {
		t.Errorf("%d chats tracked, want 203", n)
	}
	p.mu.Unlock()

	// Idle, but not yet for a minute: nothing goes.
	p.mu.Lock()
	p.lastSweep = time.Time{}
	p.mu.Unlock()
	mustWait(t, p, "sendMessage", "new")
	p.mu.Lock()
	if n := len(p.chats); n != 204 {
		t.Errorf("%d chats after a sweep before a minute, want 204", n)
	}
	p.lastSweep = time.Now().Add(time.Hour)
	p.mu.Unlock()

	age(p)
	mustWait(t, p, "getMe", "")          // not paced: no chat state
	mustWait(t, p, "sendMessage", "new") // sweeps
	p.mu.Lock()
	keys := make([]string, 0, len(p.chats))
	for k := range p.chats {
		keys = append(keys, k)
	}
	p.mu.Unlock()
	sort.Strings(keys)
	if fmt.Sprint(keys) != "[busy drained new paused]" {
		t.Errorf("chats after the sweep: %v, want [busy drained new paused]", keys)
	}
	cancel()
	if err := <-waiting; !errors.Is(err, ErrDeadline) {
		t.Errorf("busy waiter = %v", err)
	}

	// Once idle, they go too (the pause ended, the waiter left).
	p.mu.Lock()
	p.chats["paused"].pausedUntil = time.Time{}
	delete(p.chats, "drained")
	p.mu.Unlock()
	age(p)
	mustWait(t, p, "sendMessage", "newer")
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.chats["newer"]; len(p.chats) != 1 || !ok {
		t.Errorf("%d chats left (%v), want only the new one", len(p.chats), p.chats)
	}
}

func TestRace(t *testing.T) {
	// Many goroutines, many chats, 429s and cancellations at once: run
	// with -race. Every call either passes or reports why.
	cfg := fast()
	cfg.ChatRate = Rate{500, time.Second}
	cfg.GroupRate = Rate{500, time.Second}
	cfg.GlobalRate = Rate{5000, time.Second}
	p := New(cfg)
	var wg sync.WaitGroup
	for g := range 40 {
		wg.Go(func() {
			for i := range 25 {
				key := fmt.Sprint((g + i) % 7)
				if i%3 == 0 {
					key = "-" + key
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%4)*5*time.Millisecond+time.Millisecond)
				err := p.Wait(ctx, []string{"sendMessage", "getMe", "copyMessage"}[i%3], key)
				cancel()
				if err != nil && !errors.Is(err, ErrDeadline) {
					t.Errorf("Wait = %v", err)
				}
				if i%10 == 9 {
					p.RateLimited(key, time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.chats {
		if c.waiting != 0 {
			t.Errorf("chat %s: %d left waiting", k, c.waiting)
		}
	}
	if p.globalQ.len() != 0 || p.pauseQ.len() != 0 {
		t.Errorf("global queue %d, pause queue %d left", p.globalQ.len(), p.pauseQ.len())
	}
}
