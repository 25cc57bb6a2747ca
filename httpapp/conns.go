package httpapp

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Listener caps the open connections of the local server, so that clients
// cannot take the open files the outbound side (deliveries, Bot API calls)
// needs. At the cap, a new connection closes the longest-idle keep-alive
// connection to make room. When none is idle, the new one gets one request
// served apart, on a connection of its own that closes after it: GET
// /healthz and /readyz are answered (a supervisor's probe keeps working
// while clients hold every place), anything else gets 503 with
// Retry-After. At most 16 such connections are open at once, each for at
// most a second; past that a new connection is closed at once.
//
// golang.org/x/net/netutil.LimitListener cannot do this: it stops calling
// Accept at the cap, so new clients (a /healthz probe among them) wait in
// the kernel's queue behind every stalled one until a place frees, and it
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

	refusing chan struct{} // a place per connection served apart
	overflow *chanListener // the connections served apart
	spare    *http.Server  // serves them
	refused  atomic.Int64  // since the last warning
	lastWarn atomic.Int64  // unix nanoseconds
}

// LimitListener returns ln capped at n open connections (at least 1).
// Over the cap, probes (GET /healthz, /readyz) are served by probes (nil:
// none is). Refusals are logged on log at most once a minute, with their
// count.
func LimitListener(ln net.Listener, n int, probes http.Handler, log *slog.Logger) *Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Listener{Listener: ln, max: max(n, 1), log: log, conns: make(map[*limitedConn]struct{}),
		refusing: make(chan struct{}, maxRefusing),
		overflow: &chanListener{addr: ln.Addr(), conns: make(chan net.Conn, maxRefusing), done: make(chan struct{})}}
	l.spare = &http.Server{
		Handler:           overflowHandler(probes),
		ReadHeaderTimeout: refuseWait,
		ReadTimeout:       refuseWait,
		WriteTimeout:      refuseWait,
		ErrorLog:          slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
	}
	l.spare.SetKeepAlivesEnabled(false)
	go func() { _ = l.spare.Serve(l.overflow) }() // returns when Close closes l.overflow
	return l
}

// Close closes the listener and the server of connections over the cap.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	_ = l.overflow.Close()
	_ = l.spare.Close()
	return err
}

// Open returns the number of open connections.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Idle returns the number of open connections that are idle between
// requests (the ones a new connection may close at the cap).
func (l *Listener) Idle() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for c := range l.conns {
		if c.idleSince.Load() != 0 {
			n++
		}
	}
	return n
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

// refusing bounds the connections served apart: each is open for at most
// refuseWait.
const (
	maxRefusing = 16
	refuseWait  = time.Second
)

// overflowHandler answers a request over the cap: probes are served,
// anything else gets 503.
func overflowHandler(probes http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if probes != nil && r.Method == http.MethodGet && (r.URL.Path == "/healthz" || r.URL.Path == "/readyz") {
			probes.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, apiError{Description: "too many connections: the local server is at max_connections"})
	})
}

// refuse hands a connection over the cap to the server of connections
// apart, or closes it when that one is full.
func (l *Listener) refuse(c net.Conn) {
	select {
	case l.refusing <- struct{}{}:
		l.overflow.conns <- &releasedConn{Conn: c, release: func() { <-l.refusing }}
	default:
		_ = c.Close()
	}
	n := l.refused.Add(1)
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if now-last >= int64(time.Minute) && l.lastWarn.CompareAndSwap(last, now) {
		l.refused.Add(-n)
		l.log.Warn("the local server is at max_connections: new connections get one request served apart (probes answered, the rest 503) while none is idle; raise max_connections and the open-file limit, or find the clients that hold connections",
			"max_connections", l.max, "refused", n)
	}
}

// releasedConn gives its place back when closed.
type releasedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *releasedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// chanListener is a net.Listener of the connections sent on conns.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

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
