package httpbody

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
)

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name          string
		body          string
		contentLength int64
		limit         int64
		want          string
	}{
		{"announced", "hello", 5, 0, "hello"},
		{"unknown length", "hello", -1, 0, "hello"},
		{"empty", "", 0, 0, ""},
		{"longer than announced", "hello world", 5, 0, "hello world"},
		{"shorter than announced", "hi", 5, 0, "hi"},
		{"limit cuts at limit+1", "hello world", -1, 4, "hello"},
		{"limit below announced length", "hello world", 11, 4, "hello"},
		{"limit above announced length", "hello", 5, 100, "hello"},
		{"huge announced length", "hello", 1 << 40, 0, "hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(iotest.OneByteReader(strings.NewReader(tc.body)), tc.contentLength, tc.limit)
			if err != nil || string(got) != tc.want {
				t.Fatalf("Read = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestReadPassesErrors(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("he"), iotest.ErrReader(boom))
	got, err := Read(r, 5, 0)
	if !errors.Is(err, boom) || string(got) != "he" {
		t.Fatalf("Read = %q, %v; want \"he\", boom", got, err)
	}
}

// TestConnectionReused checks that a body read by Read lets net/http put
// the connection back: every request after the first reuses it.
func TestConnectionReused(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 3000)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	var conns atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	client := srv.Client()
	for i := range 20 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Read(resp.Body, resp.ContentLength, 0)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("request %d: %d bytes, %v", i, len(got), err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("20 requests opened %d connections, want 1", n)
	}
}
