package httpapp_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/httpapp"
)

func fastClient(url string, opt httpapp.ClientOptions) *httpapp.Client {
	opt.URL = url
	if opt.RetryWaitMin == 0 {
		opt.RetryWaitMin = time.Millisecond
		opt.RetryWaitMax = 5 * time.Millisecond
	}
	return httpapp.NewClient(opt)
}

var req = adapter.AppRequest{UpdateID: 7, EventType: "telegram.message", WebhookID: "tg-1-7", Body: []byte(`{"update_id":7}`)}

func TestDeliverRetriesPerProtocol(t *testing.T) {
	tests := []struct {
		name         string
		statuses     []int // answers in order; the last repeats
		wantAttempts int
		wantOK       bool
		wantStatus   int
	}{
		{"2xx at once", []int{200}, 1, true, 200},
		{"204", []int{204}, 1, true, 204},
		{"5xx then ok", []int{500, 502, 503, 200}, 4, true, 200},
		{"408 retried", []int{408, 200}, 2, true, 200},
		{"429 retried", []int{429, 200}, 2, true, 200},
		{"400 final", []int{400}, 1, false, 400},
		{"404 final", []int{404}, 1, false, 404},
		{"401 final", []int{401}, 1, false, 401},
		{"302 final", []int{302}, 1, false, 302},
		{"budget spent", []int{500}, 5, false, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := int(n.Add(1)) - 1
				st := tt.statuses[min(i, len(tt.statuses)-1)]
				if st == 302 {
					w.Header().Set("Location", "https://elsewhere.example/hook")
				}
				w.WriteHeader(st)
			}))
			defer srv.Close()
			resp, err := fastClient(srv.URL, httpapp.ClientOptions{MaxAttempts: 5}).Deliver(context.Background(), req)
			assert.Equal(t, tt.wantAttempts, int(n.Load()), "attempts")
			if tt.wantOK {
				require.NoError(t, err)
				assert.Equal(t, tt.wantStatus, resp.Status)
				return
			}
			var de *adapter.DeliveryError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, tt.wantStatus, de.Status)
			assert.Equal(t, tt.wantAttempts, de.Attempts)
			if tt.wantStatus == 302 {
				assert.Contains(t, err.Error(), "https://elsewhere.example/hook", "a redirect names its Location")
			}
		})
	}
}

func TestDeliverConnectionRefusedIsRetriedThenFinal(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	_, err := fastClient(url, httpapp.ClientOptions{MaxAttempts: 3}).Deliver(context.Background(), req)
	var de *adapter.DeliveryError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 3, de.Attempts)
	assert.Equal(t, 0, de.Status)
}

func TestDeliverTimeoutIsRetried(t *testing.T) {
	var n atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if n.Add(1) == 1 {
			select { // hang past the client's timeout
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(200)
	}))
	defer srv.Close()
	defer close(release) // runs before srv.Close, which waits for handlers
	resp, err := fastClient(srv.URL, httpapp.ClientOptions{Timeout: 50 * time.Millisecond}).Deliver(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.Status)
	assert.Equal(t, int32(2), n.Load())
}

func TestDeliverHonoursRetryAfter(t *testing.T) {
	var times []time.Time
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		first := len(times) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			return
		}
		w.WriteHeader(200)
	}))
	defer srv.Close()
	_, err := fastClient(srv.URL, httpapp.ClientOptions{}).Deliver(context.Background(), req)
	require.NoError(t, err)
	require.Len(t, times, 2)
	assert.GreaterOrEqual(t, times[1].Sub(times[0]), 900*time.Millisecond, "Retry-After: 1 must be waited")
}

func TestDeliverMaxElapsedStopsRetries(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(503)
	}))
	defer srv.Close()
	_, err := fastClient(srv.URL, httpapp.ClientOptions{MaxElapsed: time.Second}).Deliver(context.Background(), req)
	require.Error(t, err)
	assert.Equal(t, int32(1), n.Load(), "a wait beyond app_max_elapsed is not started")
}

func TestDeliverHeadersAndSignature(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	got := make(chan *http.Request, 1)
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		got <- r
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"type":"telegram.send_message","text":"hi"}`)
	}))
	defer srv.Close()
	resp, err := fastClient(srv.URL, httpapp.ClientOptions{SecretKey: key, UserAgent: "asgigram/test"}).Deliver(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, "application/json", resp.ContentType)
	assert.JSONEq(t, `{"type":"telegram.send_message","text":"hi"}`, string(resp.Body))

	r := <-got
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, "telegram.message", r.Header.Get("X-Asgigram-Event"))
	assert.Equal(t, "asgigram/test", r.Header.Get("User-Agent"))
	assert.Equal(t, "tg-1-7", r.Header.Get("webhook-id"))
	ts := r.Header.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	require.NoError(t, err)
	assert.InDelta(t, time.Now().Unix(), sec, 5)
	// Verify independently, as a Standard Webhooks library would.
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tg-1-7." + ts + "."))
	m.Write(body)
	assert.Equal(t, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)), r.Header.Get("webhook-signature"))
	assert.Equal(t, req.Body, body)
}

func TestDeliverUnsignedWithoutSecret(t *testing.T) {
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header }))
	defer srv.Close()
	_, err := fastClient(srv.URL, httpapp.ClientOptions{}).Deliver(context.Background(), req)
	require.NoError(t, err)
	h := <-got
	assert.Empty(t, h.Get("webhook-signature"))
	assert.Empty(t, h.Get("webhook-id"))
}

func TestDeliverReplyBodyLimit(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(make([]byte, 2048))
	}))
	defer srv.Close()
	_, err := fastClient(srv.URL, httpapp.ClientOptions{MaxBody: 1024}).Deliver(context.Background(), req)
	require.ErrorContains(t, err, "larger than 1024 bytes")
	assert.Equal(t, int32(1), n.Load(), "an oversized reply is final, not retried")
}
