package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// testToken is a bot token that must never show up in any output.
const testToken = "123456789:AAE-test_SECRET-token-do-not-log"

// testBotID is the bot testToken names (the digits before ':').
const testBotID = 123456789

// raceEnabled is set by race_test.go under -race: the binary under test is
// then built with the race detector too.
var raceEnabled bool

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "asgigram-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "asgigram")
	args := []string{"build", "-o", binPath}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the binary:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newFake starts a fake Bot API on 127.0.0.1 and returns it with its URL.
func newFake(t *testing.T) (*fakeapi.Server, string) {
	t.Helper()
	return newFakeWith(t, fakeapi.Config{})
}

// newFakeWith serves a fake Bot API configured by cfg (its token testToken
// unless cfg names one; its getMe answers for the token's bot, as the real
// server does, unless cfg.Bot says otherwise), stopped with the test.
func newFakeWith(t *testing.T, cfg fakeapi.Config) (*fakeapi.Server, string) {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	fake := fakeapi.New(cfg)
	srv := httptest.NewServer(fake)
	t.Cleanup(func() {
		fake.Close()
		srv.Close()
	})
	return fake, srv.URL
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running asgigram binary.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	code int
}

// allOutput collects the output of every process of the test run, so the
// token scan covers them all.
var allOutput struct {
	mu   sync.Mutex
	bufs []*syncBuffer
}

// start runs the binary with args and extra environment variables.
func start(t *testing.T, args []string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ASGIGRAM_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	p := &proc{t: t, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	allOutput.mu.Lock()
	allOutput.bufs = append(allOutput.bufs, p.out)
	allOutput.mu.Unlock()
	require.NoError(t, cmd.Start())
	go func() {
		err := cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		_ = err
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("asgigram output:\n%s", p.out.String())
		}
		require.NotContains(t, p.out.String(), testToken, "the bot token leaked into the output")
	})
	return p
}

// startBot runs the binary against the fake Bot API and app, on a free
// local port, with extra flags.
func startBot(t *testing.T, apiURL, appURL string, flags ...string) *proc {
	t.Helper()
	args := append([]string{testToken, appURL, "--api-url", apiURL, "--listen", "127.0.0.1:0", "--poll-timeout", "2s"}, flags...)
	// Each run gets its own spool unless the test chose one (or none).
	own := false
	for _, f := range flags {
		own = own || f == "--data-dir" || f == "memory"
	}
	if !own {
		args = append(args, "--data-dir", t.TempDir())
	}
	return start(t, args)
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		p.t.Fatalf("asgigram did not exit within %s; output:\n%s", timeout, p.out.String())
		return -1
	}
}

// stop sends SIGTERM and waits for the exit code.
func (p *proc) stop(timeout time.Duration) int {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(syscall.SIGTERM))
	return p.wait(timeout)
}

// received is one event as the application saw it.
type received struct {
	Scope    map[string]json.RawMessage `json:"scope"`
	Event    map[string]json.RawMessage `json:"event"`
	UpdateID int64                      `json:"update_id"`
	Token    string                     `json:"token"`
	SendURL  string                     `json:"send_url"`
	Header   http.Header                `json:"-"`
	Path     string                     `json:"-"` // the request's path and query
	Raw      []byte                     `json:"-"`
}

// text returns the event's message text, if any.
func (r received) text() string {
	var s string
	_ = json.Unmarshal(r.Event["text"], &s)
	return s
}

func (r received) eventType() string {
	var s string
	_ = json.Unmarshal(r.Event["type"], &s)
	return s
}

// chatID returns the id of the scope's chat (0 for user scopes).
func (r received) chatID() int64 {
	var c struct {
		ID int64 `json:"id"`
	}
	_ = json.Unmarshal(r.Scope["chat"], &c)
	return c.ID
}

// app is a real HTTP application recording every event; handle decides the
// answer.
type app struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []received
	handle func(w http.ResponseWriter, ev received)
}

func newApp(t *testing.T, handle func(w http.ResponseWriter, ev received)) *app {
	t.Helper()
	a := &app{handle: handle}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		var ev received
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("app got a body that is not JSON: %q", body)
			w.WriteHeader(400)
			return
		}
		ev.Header = r.Header.Clone()
		ev.Raw = body
		ev.Path = r.URL.RequestURI()
		a.mu.Lock()
		a.events = append(a.events, ev)
		a.mu.Unlock()
		if a.handle != nil {
			a.handle(w, ev)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) received() []received {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]received(nil), a.events...)
}

// texts counts the events received per message text.
func (a *app) texts() map[string]int {
	n := map[string]int{}
	for _, ev := range a.received() {
		n[ev.text()]++
	}
	return n
}

func (a *app) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.events)
}

// eventually waits for cond, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	require.Eventually(t, cond, timeout, 5*time.Millisecond, append([]any{msg}, args...)...)
}

// reply writes a JSON reply body.
func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// postSend calls /send and decodes the JSON answer. It stops the test on
// failure, so call it from the test's goroutine only; an app handler uses
// trySend and hands the outcome to the test.
func postSend(t *testing.T, url, token, contentType, body string) (int, map[string]json.RawMessage) {
	t.Helper()
	status, out, err := trySend(url, token, contentType, body)
	require.NoError(t, err)
	return status, out
}

// sent is the outcome of a /send call made by trySend.
type sent struct {
	status int
	out    map[string]json.RawMessage
	err    error
}

// trySend calls /send and decodes the JSON answer; any failure, an answer
// that is not JSON among them, is its error. Safe from any goroutine.
func trySend(url, token, contentType, body string) (int, map[string]json.RawMessage, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		return resp.StatusCode, nil, fmt.Errorf("every /send answer is JSON: got Content-Type %q, body %s", ct, raw)
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(raw, &out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("body %s: %w", raw, err)
	}
	return resp.StatusCode, out, nil
}

// textMessage is a private-chat or group text message payload.
func textMessage(chatID, userID int64, messageID int, text string) map[string]any {
	chatType := "private"
	if chatID < 0 {
		chatType = "supergroup"
	}
	return map[string]any{
		"message_id": messageID,
		"date":       1781340000,
		"chat":       map[string]any{"id": chatID, "type": chatType},
		"from":       map[string]any{"id": userID, "is_bot": false, "first_name": "User"},
		"text":       text,
	}
}

// sentTexts returns the texts the bot sent to chatID, in order.
func sentTexts(fake *fakeapi.Server, chatID int64) []string { return textsOf(fake.Messages(chatID)) }

// textsOf returns the texts of messages, in order.
func textsOf(messages []json.RawMessage) []string {
	var out []string
	for _, m := range messages {
		var v struct {
			Text string `json:"text"`
		}
		_ = json.Unmarshal(m, &v)
		out = append(out, v.Text)
	}
	return out
}
