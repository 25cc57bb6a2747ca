package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Reply modes of the fake application.
const (
	// ReplyBody answers each event with one telegram.send_message in the
	// response body.
	ReplyBody = "body"
	// ReplySend calls the event's send_url with its token, then answers 204.
	ReplySend = "send"
)

// FakeApp is the application: it waits Latency, then replies to each event
// with one telegram.send_message whose text is "u<update_id>" (chat scopes
// leave chat_id to the forwarder's default; user scopes name the user).
type FakeApp struct {
	Latency time.Duration
	Mode    string

	events   atomic.Int64 // POSTs received
	failures atomic.Int64 // events it could not answer (bad body, /send failed)
	mu       sync.Mutex
	seen     map[int64]bool
	client   *http.Client

	srv *http.Server
	ln  net.Listener
}

// NewFakeApp returns an application with the given latency and reply mode.
func NewFakeApp(latency time.Duration, mode string) *FakeApp {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 512
	return &FakeApp{Latency: latency, Mode: mode, seen: map[int64]bool{}, client: &http.Client{Transport: t, Timeout: 30 * time.Second}}
}

// Start serves the application on a loopback port.
func (a *FakeApp) Start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	a.ln = ln
	a.srv = &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
	go a.srv.Serve(ln)
	return nil
}

// URL is the application URL (app_url).
func (a *FakeApp) URL() string { return "http://" + a.ln.Addr().String() + "/telegram" }

// Close stops serving.
func (a *FakeApp) Close() {
	if a.srv != nil {
		a.srv.Close()
	}
	a.client.CloseIdleConnections()
}

// AppCounts are what the application saw.
type AppCounts struct {
	Events   int64 // POSTs received
	Distinct int   // distinct update_ids
	Failures int64 // events it could not answer
}

// Counts returns the counters so far.
func (a *FakeApp) Counts() AppCounts {
	a.mu.Lock()
	defer a.mu.Unlock()
	return AppCounts{Events: a.events.Load(), Distinct: len(a.seen), Failures: a.failures.Load()}
}

// envelopeIn is the part of an event the application reads.
type envelopeIn struct {
	Scope struct {
		Chat *struct {
			ID int64 `json:"id"`
		} `json:"chat"`
		User *struct {
			ID int64 `json:"id"`
		} `json:"user"`
	} `json:"scope"`
	UpdateID int64  `json:"update_id"`
	Token    string `json:"token"`
	SendURL  string `json:"send_url"`
}

func (a *FakeApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.events.Add(1)
	body, err := io.ReadAll(r.Body)
	var ev envelopeIn
	if err == nil {
		err = json.Unmarshal(body, &ev)
	}
	if err != nil || ev.UpdateID == 0 {
		a.failures.Add(1)
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	a.seen[ev.UpdateID] = true
	a.mu.Unlock()
	if a.Latency > 0 {
		time.Sleep(a.Latency)
	}
	out := make([]byte, 0, 96)
	out = append(out, `{"type":"telegram.send_message"`...)
	if ev.Scope.Chat == nil && ev.Scope.User != nil {
		out = append(out, `,"chat_id":`...)
		out = strconv.AppendInt(out, ev.Scope.User.ID, 10)
	}
	out = append(out, `,"text":"u`...)
	out = strconv.AppendInt(out, ev.UpdateID, 10)
	out = append(out, `"}`...)
	if a.Mode == ReplySend {
		if err := a.send(ev, out); err != nil {
			a.failures.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// send calls /send with the event's token.
func (a *FakeApp) send(ev envelopeIn, event []byte) error {
	req, err := http.NewRequest(http.MethodPost, ev.SendURL, bytes.NewReader(event))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+ev.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/send answered %s", resp.Status)
	}
	return nil
}
