package httpapp

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Listener caps the open connections of the local server, so that clients
// cannot take the open files the outbound side (deliveries, Bot API calls)
// needs. At the cap, a new connection closes the longest-idle keep-alive
// connection to make room; when none is idle, the new one is answered 503
// at once and closed.
//
// golang.org/x/net/netutil.LimitListener cannot do this: it stops calling
// Accept at the cap, so new clients (a /healthz probe among them) wait in
// the kernel's queue behind every stalled one until a slot frees, and it
// cannot tell an idle keep-alive connection, which may be closed at any
// time, from one serving a request.
//
// Set the server's ConnState to the Listener's ConnState, which tells it
// which connections are idle.
type Listener struct {
	net.Listener
	max int
	log *slog.Logger

	mu    sync.Mutex
	conns map[*limitedConn]struct{}

	refusing chan struct{}
	refused  atomic.Int64 // since the last warning
	lastWarn atomic.Int64 // unix nanoseconds
}

// LimitListener returns ln capped at n open connections (at least 1).
// Refusals are logged on log at most once a minute, with their count.
func LimitListener(ln net.Listener, n int, log *slog.Logger) *Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Listener{Listener: ln, max: max(n, 1), log: log, conns: make(map[*limitedConn]struct{}),
		refusing: make(chan struct{}, maxRefusing)}
}

// Open returns the number of open connections.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Accept waits for a connection that fits under the cap. It returns only
// the listener's own errors.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		var victim *limitedConn
		if len(l.conns) >= l.max {
			if victim = l.idlestLocked(); victim == nil {
				l.mu.Unlock()
				l.refuse(c)
				continue
			}
			delete(l.conns, victim)
		}
		lc := &limitedConn{Conn: c, l: l}
		l.conns[lc] = struct{}{}
		l.mu.Unlock()
		if victim != nil {
			_ = victim.Conn.Close()
		}
		return lc, nil
	}
}

// idlestLocked returns the connection idle the longest, nil if none is.
func (l *Listener) idlestLocked() *limitedConn {
	var best *limitedConn
	var since int64
	for c := range l.conns {
		if s := c.idleSince.Load(); s != 0 && (best == nil || s < since) {
			best, since = c, s
		}
	}
	return best
}

// busy is the whole answer to a connection over the cap.
var busy = func() []byte {
	body := `{"ok":false,"description":"too many connections: the local server is at max_connections"}` + "\n"
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}()

// refusing bounds the refusals in progress: each holds its connection for
// up to refuseWait, reading the request so that the client, which writes
// it first, reads the 503 rather than a reset. Past the bound a refused
// connection is closed at once.
const (
	maxRefusing = 16
	refuseWait  = time.Second
)

// refuse answers 503 on a connection over the cap and closes it.
func (l *Listener) refuse(c net.Conn) {
	select {
	case l.refusing <- struct{}{}:
		go func() {
			defer func() { <-l.refusing }()
			_ = c.SetDeadline(time.Now().Add(refuseWait))
			readHead(c)
			_, _ = c.Write(busy)
			_ = c.Close()
		}()
	default:
		_ = c.Close()
	}
	n := l.refused.Add(1)
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if now-last >= int64(time.Minute) && l.lastWarn.CompareAndSwap(last, now) {
		l.refused.Add(-n)
		l.log.Warn("the local server is at max_connections: new connections are answered 503 while none is idle (raise max_connections and the open-file limit, or find the clients that hold connections)",
			"max_connections", l.max, "refused", n)
	}
}

// readHead reads until the end of a request's headers (a blank line), at
// most 8 KiB, or until the connection's deadline.
func readHead(c net.Conn) {
	buf := make([]byte, 8<<10)
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if bytes.Contains(buf[max(0, n-m-3):n], []byte("\r\n\r\n")) || err != nil {
			return
		}
	}
}

// ConnState records which connections are idle; set it as the
// http.Server's ConnState.
func (l *Listener) ConnState(c net.Conn, st http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	switch st {
	case http.StateIdle:
		lc.idleSince.Store(time.Now().UnixNano())
	case http.StateActive, http.StateNew:
		lc.idleSince.Store(0)
	}
}

// limitedConn is a connection counted by its Listener until closed.
type limitedConn struct {
	net.Conn
	l         *Listener
	idleSince atomic.Int64 // unix nanoseconds; 0 while not idle
	once      sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
