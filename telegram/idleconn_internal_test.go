package telegram

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

type connRequestsKey struct{}

// TestIdleConnectionClosedBeforeTheServerDoes sends two messages with a
// pause longer than idleConnTimeout between them, to a server whose
// keep-alive timeout is that pause: it closes, without an answer, any request
// that arrives on a connection which already carried one, as a server does
// when its idle timer fires just as the request arrives. A client that
// reuses the idle connection reads EOF, and the second message's outcome is
// unknown; the default transport must have closed the connection and dial a
// new one.
func TestIdleConnectionClosedBeforeTheServerDoes(t *testing.T) {
	if idleConnTimeout >= 5*time.Second {
		t.Fatalf("idleConnTimeout %v: not below the 5s keep-alive timeout of common servers", idleConnTimeout)
	}
	var served, dropped atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := r.Context().Value(connRequestsKey{}).(*atomic.Int32)
		if n.Add(1) > 1 {
			dropped.Add(1)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		served.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true,"result":{"message_id":1,"chat":{"id":42,"type":"private"},"date":0,"text":"t"}}`))
	}))
	srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connRequestsKey{}, new(atomic.Int32))
	}
	srv.Start()
	defer srv.Close()

	c := New(srv.URL, "123:secret", Options{RetryMax: 3, RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond})
	send := func() error {
		_, err := c.Call(context.Background(), "sendMessage", map[string]any{"chat_id": 42, "text": "t"})
		return err
	}
	if err := send(); err != nil {
		t.Fatalf("first sendMessage: %v", err)
	}
	// The connection of the first message stays idle past idleConnTimeout.
	time.Sleep(idleConnTimeout + 500*time.Millisecond)
	if err := send(); err != nil {
		t.Fatalf("second sendMessage, after the pause: %v", err)
	}
	if s, d := served.Load(), dropped.Load(); s != 2 || d != 0 {
		t.Errorf("server answered %d and dropped %d requests; want 2 and 0 (the second message on a new connection)", s, d)
	}
}
