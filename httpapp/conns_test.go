package httpapp_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/httpapp"
	"github.com/asgigram/asgigram/telegram"
)

// serveCapped runs srv on a capped listener on 127.0.0.1 and returns its address.
func serveCapped(t *testing.T, h http.Handler, maxConns int, idle time.Duration) (string, *httpapp.Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	lim := httpapp.LimitListener(ln, maxConns, h, nil)
	srv := &http.Server{Handler: h, ConnState: lim.ConnState, IdleTimeout: idle, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(lim) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), lim
}

// rawRequest writes req on a new connection and returns the connection
// with a reader of its answers.
func rawRequest(t *testing.T, addr, req string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = io.WriteString(c, req)
	require.NoError(t, err)
	return c, bufio.NewReader(c)
}

// closedWithin reports whether the server closes c within d, reading and
// dropping whatever it answers first.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return err == nil || !(errorAs(err, &ne) && ne.Timeout())
}

func errorAs(err error, ne *net.Error) bool {
	v, ok := err.(net.Error)
	if ok {
		*ne = v
	}
	return ok
}

const getHealthz = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

// TestListenerClosesIdleConnectionsToMakeRoom: at the cap, a new client is
// served by closing an idle keep-alive connection, never by waiting.
func TestListenerClosesIdleConnectionsToMakeRoom(t *testing.T) {
	addr, lim := serveCapped(t, httpapp.NewRouter(httpapp.RouterOptions{Sender: stubSender{}}), 2, time.Minute)
	var idle []net.Conn
	for i := range 2 {
		c, br := rawRequest(t, addr, getHealthz)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		idle = append(idle, c)
		// The server marks a connection idle after the client has read
		// the answer: wait for it, so that the first is idle the longest.
		require.Eventually(t, func() bool { return lim.Idle() == i+1 }, 5*time.Second, time.Millisecond)
	}
	// Both are idle now; a third client is served at once.
	require.Equal(t, 2, lim.Open())
	_, br := rawRequest(t, addr, getHealthz)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.True(t, closedWithin(idle[0], 5*time.Second), "the longest-idle connection was closed to make room")
	assert.LessOrEqual(t, lim.Open(), 2)
}

// TestListenerRefusesWhenNoneIsIdle: at the cap with every connection
// busy, a new one is served apart at once instead of waiting in a queue:
// a probe of /healthz or /readyz is answered, anything else gets 503.
func TestListenerRefusesWhenNoneIsIdle(t *testing.T) {
	addr, _ := serveCapped(t, httpapp.NewRouter(httpapp.RouterOptions{Sender: stubSender{}, BodyTimeout: time.Minute}), 2, time.Minute)
	stalled := "POST /send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
	for range 2 {
		rawRequest(t, addr, stalled)
	}
	time.Sleep(100 * time.Millisecond) // let the server take both (a wait for nothing to happen)

	c, br := rawRequest(t, addr, getHealthz)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err, "the probe gets an answer, not a wait")
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, "a probe is answered over the cap")
	assert.True(t, resp.Close, "and its connection closes")

	c, br = rawRequest(t, addr, "POST /send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err = http.ReadResponse(br, nil)
	require.NoError(t, err, "the refused client gets an answer, not a wait")
	defer resp.Body.Close()
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	var body struct {
		Description string `json:"description"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.Contains(t, body.Description, "max_connections")

	c, _ = rawRequest(t, addr, "GET /healthz HTTP/1.1\r\n")
	assert.True(t, closedWithin(c, 5*time.Second), "a connection over the cap that stalls is closed")
}

// TestStalledBodiesAreCutAtTheirDeadline: a client that sends headers and
// stalls in the body, with or without a token, loses its connection at
// send_body_timeout; a slow upload that keeps up upload_min_rate does not.
func TestStalledBodiesAreCutAtTheirDeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	h := httpapp.NewRouter(httpapp.RouterOptions{Sender: stubSender{SendF: func(ev []json.RawMessage) ([]json.RawMessage, error) {
		return ev, nil
	}}, BodyTimeout: timeout, MinRate: 1000})
	addr, _ := serveCapped(t, h, 100, time.Minute)
	for _, tc := range []struct{ name, req string }{
		{"json with a token", "POST /send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"},
		{"json without a token", "POST /send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"},
		{"multipart", "POST /send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n"},
		{"a GET with a body", "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := rawRequest(t, addr, tc.req)
			start := time.Now()
			assert.True(t, closedWithin(c, timeout+2*time.Second), "the stalled connection is closed")
			assert.GreaterOrEqual(t, time.Since(start), timeout/2, "not before its deadline")
		})
	}
	t.Run("an honest slow JSON body gets a 408 it can read", func(t *testing.T) {
		_, br := rawRequest(t, addr, "POST /send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
		b, _ := io.ReadAll(resp.Body)
		assert.Contains(t, string(b), "send_body_timeout")
	})
}

// TestUploadKeepingUpTheRateIsNotCut: a multipart body that arrives over
// several body timeouts, but above upload_min_rate, is served.
func TestUploadKeepingUpTheRateIsNotCut(t *testing.T) {
	const timeout = 200 * time.Millisecond
	up := fileSender{SendFilesF: func(event json.RawMessage, files []telegram.FilePart) (json.RawMessage, error) {
		return json.RawMessage(`{"message_id":1}`), nil
	}}
	h := httpapp.NewRouter(httpapp.RouterOptions{Sender: up, BodyTimeout: timeout, MinRate: 2000})
	addr, _ := serveCapped(t, h, 100, time.Minute)
	body := "--b\r\nContent-Disposition: form-data; name=\"event\"\r\n\r\n{\"type\":\"telegram.send_document\",\"document\":\"attach://f\"}\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f.txt\"\r\n\r\n" + strings.Repeat("x", 2000) + "\r\n--b--\r\n"
	c, br := rawRequest(t, addr, "POST /send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Type: multipart/form-data; boundary=b\r\n"+
		"Content-Length: "+itoa(len(body))+"\r\n\r\n")
	// 10 pieces, one every 100 ms: about 1 s in all, five body timeouts,
	// at about 2,200 bytes per second.
	step := (len(body) + 9) / 10
	for i := 0; i < len(body); i += step {
		_, err := io.WriteString(c, body[i:min(i+step, len(body))])
		require.NoError(t, err)
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	assert.Equal(t, 200, resp.StatusCode, "%s", b)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
