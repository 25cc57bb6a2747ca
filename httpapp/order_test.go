package httpapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/httpapp"
	"github.com/asgigram/asgigram/pacing"
	"github.com/asgigram/asgigram/telegram"
	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// These tests run /send through the whole stack: the router, the adapter,
// the pacer, the Bot API client and a fake Bot API.

const (
	orderToken     = "42:ORDER"
	orderSendToken = "send-token-for-the-order-tests"
)

// seqSender is the adapter, recording the arrival number of every /send
// by the text of its first event.
type seqSender struct {
	*adapter.Adapter
	mu    sync.Mutex
	seqOf map[string]uint64
	sent  chan struct{} // one per Send, once its arrival number is known
}

func (s *seqSender) Send(ctx context.Context, p adapter.Principal, arr *adapter.Arrival, events []json.RawMessage) ([]json.RawMessage, error) {
	var ev struct{ Text string }
	_ = json.Unmarshal(events[0], &ev)
	s.mu.Lock()
	s.seqOf[ev.Text] = arr.Seq()
	s.mu.Unlock()
	s.sent <- struct{}{}
	return s.Adapter.Send(ctx, p, arr, events)
}

// heldAPI is the fake Bot API, except that the first sendMessage is held
// until release is closed; entered receives its text when it comes in.
type heldAPI struct {
	fake    *fakeapi.Server
	n       atomic.Int64
	entered chan string
	release chan struct{}
}

func (h *heldAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/sendMessage") && h.n.Add(1) == 1 {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var p struct{ Text string }
		_ = json.Unmarshal(body, &p)
		h.entered <- p.Text
		<-h.release
	}
	h.fake.ServeHTTP(w, r)
}

// orderStack starts the stack with opt (Telegram and SendToken filled in)
// and returns the /send URL.
func orderStack(t *testing.T, opt adapter.Options) (*heldAPI, *seqSender, string) {
	t.Helper()
	api := &heldAPI{fake: fakeapi.New(fakeapi.Config{Token: orderToken}), entered: make(chan string, 1), release: make(chan struct{})}
	apiSrv := httptest.NewServer(api)
	t.Cleanup(apiSrv.Close)
	opt.Telegram = telegram.New(apiSrv.URL, orderToken, telegram.Options{})
	opt.SendToken = orderSendToken
	opt.SendTimeout = time.Minute
	s := &seqSender{Adapter: adapter.New(opt), seqOf: map[string]uint64{}, sent: make(chan struct{}, 100)}
	srv := httptest.NewServer(httpapp.NewRouter(httpapp.RouterOptions{Sender: s}))
	t.Cleanup(srv.Close)
	return api, s, srv.URL + "/send"
}

// post sends one send_message to chat and returns the status and body.
func post(url string, chat int, text string) (int, string, http.Header, error) {
	body := fmt.Sprintf(`{"type":"telegram.send_message","chat_id":%d,"text":%q}`, chat, text)
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Authorization", "Bearer "+orderSendToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, err
}

// TestSendsToOneChatInArrivalOrder: 50 concurrent /send calls to one chat
// reach the Bot API in the order of their arrival numbers, pacing on or
// off. The first call is held at the Bot API until all 50 have arrived, so
// that the other 49 wait together.
func TestSendsToOneChatInArrivalOrder(t *testing.T) {
	for _, paced := range []bool{false, true} {
		t.Run(fmt.Sprintf("pacing=%v", paced), func(t *testing.T) {
			opt := adapter.Options{ChatQueue: 100}
			if paced {
				opt.Pacer = pacing.New(pacing.Config{
					ChatRate:   pacing.Rate{N: 1000, Per: time.Second},
					ChatBurst:  1,
					GlobalRate: pacing.Rate{N: 1000, Per: time.Second},
				})
			}
			api, s, url := orderStack(t, opt)
			const n = 50
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					status, body, _, err := post(url, 5, fmt.Sprint(i))
					if err != nil || status != http.StatusOK {
						t.Errorf("/send %d: %d %s %v", i, status, body, err)
					}
				})
			}
			<-api.entered
			for range n {
				<-s.sent
			}
			close(api.release)
			wg.Wait()

			calls := api.fake.CallsTo("sendMessage")
			require.Len(t, calls, n)
			s.mu.Lock()
			defer s.mu.Unlock()
			var seqs []uint64
			for _, c := range calls {
				var text string
				require.NoError(t, json.Unmarshal(c.Params["text"], &text))
				seqs = append(seqs, s.seqOf[text])
			}
			for i := 1; i < len(seqs); i++ {
				if seqs[i] <= seqs[i-1] {
					t.Fatalf("the Bot API got the calls in arrival order %v, not ascending", seqs)
				}
			}
		})
	}
}

// TestSendQueueBound: with pacing_queue 1, a call being made and one
// waiting, a third /send to the chat is answered 503 at once and is not
// made.
func TestSendQueueBound(t *testing.T) {
	api, _, url := orderStack(t, adapter.Options{ChatQueue: 1})
	type answer struct {
		status int
		body   string
		header http.Header
	}
	answers := make(chan answer, 3)
	send := func(text string) {
		status, body, h, err := post(url, 5, text)
		if err != nil {
			t.Error(err)
		}
		answers <- answer{status, body, h}
	}
	go send("made")
	<-api.entered
	go send("a")
	go send("b")
	// One of a and b waits behind "made", held at the Bot API: the first
	// answer is the other one, refused.
	first := <-answers
	assert.Equal(t, http.StatusServiceUnavailable, first.status, first.body)
	assert.Equal(t, "1", first.header.Get("Retry-After"))
	assert.Contains(t, first.body, "too many calls waiting for this chat (pacing_queue)")
	close(api.release)
	for range 2 {
		a := <-answers
		assert.Equal(t, http.StatusOK, a.status, a.body)
	}
	assert.Len(t, api.fake.CallsTo("sendMessage"), 2, "the refused call was not made")
}

// TestSendsToOtherChatsInParallel: a chat whose call hangs at the Bot API
// holds no /send to another chat.
func TestSendsToOtherChatsInParallel(t *testing.T) {
	for _, paced := range []bool{false, true} {
		t.Run(fmt.Sprintf("pacing=%v", paced), func(t *testing.T) {
			opt := adapter.Options{ChatQueue: 100}
			if paced {
				opt.Pacer = pacing.New(pacing.Config{})
			}
			api, _, url := orderStack(t, opt)
			held := make(chan error, 1)
			go func() {
				status, body, _, err := post(url, 1, "held")
				if err == nil && status != http.StatusOK {
					err = fmt.Errorf("%d %s", status, body)
				}
				held <- err
			}()
			<-api.entered
			for chat := 2; chat <= 4; chat++ {
				status, body, _, err := post(url, chat, "meanwhile")
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, status, body)
			}
			close(api.release)
			require.NoError(t, <-held)
		})
	}
}
