package adapter

import (
	"container/list"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"sync"
	"time"
)

// Errors of a token lookup.
var (
	// ErrUnknownToken: no scope has this token (or it is malformed).
	ErrUnknownToken = errors.New("unknown token")
	// ErrExpiredToken: the token's scope was dropped (idle or evicted).
	ErrExpiredToken = errors.New("the token's scope has expired")
)

// tokenBytes is the entropy of a scope token: 192 bits.
const tokenBytes = 24

// tokenLen is the length of a token as text (unpadded base64url).
var tokenLen = base64.RawURLEncoding.EncodedLen(tokenBytes)

// Scope is the adapter's record of one conversation partner. Its ScopeRef
// is fixed at creation (the scope object sent with each event comes from
// that event's own update).
type Scope struct {
	ScopeRef
	token string
	hash  [32]byte
	// delivering is held for the whole of a delivery: one event of a
	// scope at a time, whatever path it came by (a replay, say).
	delivering sync.Mutex

	// Guarded by delivering, with lifecycle events (see lifecycle.go):
	// opened says scope_opened was sent (scope_closed is sent only then),
	// gone that the scope was closed while a delivery waited for it, and
	// lastScope is the scope object of its latest event, for scope_closed.
	opened, gone bool
	lastScope    []byte
	// closeReason and newChatID are set when an event closed the scope.
	closeReason string
	newChatID   int64
	// Set at creation, with lifecycle events: opens is n of the webhook-id
	// (the opens of this key so far), after ends when the scope_closed of
	// the key's previous scope was delivered (nil: none pending).
	opens int
	after <-chan struct{}

	// Guarded by Registry.mu.
	lastActive time.Time
	inflight   int
	elem       *list.Element
}

// Token returns the scope's token. It is a send credential: never log it.
func (s *Scope) Token() string { return s.token }

// Registry holds the live scopes, their tokens, and the recently dropped
// tokens (so that /send can tell "expired" from "unknown").
type Registry struct {
	mu      sync.Mutex
	byKey   map[string]*Scope
	byToken map[[32]byte]*Scope
	lru     *list.List // of *Scope, most recently active first
	dead    map[[32]byte]time.Time
	deadQ   *list.List // of [32]byte, oldest drop first
	max     int
	idle    time.Duration
	now     func() time.Time
	// closed, when set, is called (under mu: it must not block) for every
	// scope dropped, with the reason (CloseIdle, CloseEvicted, ...), and
	// returns a channel closed once the scope's scope_closed is done; a
	// scope of the same key created meanwhile waits for it. It also
	// counts the opens of each key. Nil: no lifecycle events.
	closed  func(s *Scope, reason string) <-chan struct{}
	opens   map[string]int
	closing map[string]<-chan struct{}
	// peak is the most scopes or dead tokens held since the maps were last
	// rebuilt: Go maps never shrink, so Sweep rebuilds them once they hold
	// far fewer entries than that.
	peak int
}

// NewRegistry returns a registry that keeps at most max scopes and drops a
// scope idle longer than idle.
func NewRegistry(max int, idle time.Duration) *Registry {
	return &Registry{
		byKey:   make(map[string]*Scope),
		byToken: make(map[[32]byte]*Scope),
		lru:     list.New(),
		dead:    make(map[[32]byte]time.Time),
		deadQ:   list.New(),
		max:     max,
		idle:    idle,
		now:     time.Now,
	}
}

func newToken() (string, [32]byte) {
	var b [tokenBytes]byte
	// crypto/rand.Read never returns an error (Go 1.24+): it crashes the
	// process rather than hand out predictable bytes.
	_, _ = rand.Read(b[:])
	t := base64.RawURLEncoding.EncodeToString(b[:])
	return t, sha256.Sum256([]byte(t))
}

// Acquire returns the scope for ref, creating it (with a fresh token) when it
// is not live, refreshes its scope object and activity, and marks an event
// in flight until Release. Creating a scope beyond the limit evicts the least
// recently active scope that has nothing in flight.
func (r *Registry) Acquire(ref ScopeRef) *Scope {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.byKey[ref.Key]
	if s == nil {
		if len(r.byKey) >= r.max {
			r.evictLocked()
		}
		s = &Scope{ScopeRef: ref}
		s.JSON = nil // each event carries its own scope object: keep no copy
		s.token, s.hash = newToken()
		if r.closed != nil {
			r.opens[ref.Key]++
			s.opens = r.opens[ref.Key]
			s.after = r.closing[ref.Key]
		}
		r.byKey[ref.Key] = s
		r.byToken[s.hash] = s
		s.elem = r.lru.PushFront(s)
		r.peak = max(r.peak, len(r.byKey))
	} else {
		r.lru.MoveToFront(s.elem)
	}
	s.inflight++
	s.lastActive = r.now()
	return s
}

// Release ends an event in flight for s.
func (r *Registry) Release(s *Scope) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.inflight--
	s.lastActive = r.now()
	if s.elem != nil {
		r.lru.MoveToFront(s.elem)
	}
}

// Lookup returns the live scope of token and counts it as activity.
func (r *Registry) Lookup(token string) (*Scope, error) {
	if len(token) != tokenLen {
		return nil, ErrUnknownToken
	}
	h := sha256.Sum256([]byte(token))
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.byToken[h]
	if s != nil && subtle.ConstantTimeCompare([]byte(s.token), []byte(token)) == 1 {
		s.lastActive = r.now()
		r.lru.MoveToFront(s.elem)
		return s, nil
	}
	if _, ok := r.dead[h]; ok {
		return nil, ErrExpiredToken
	}
	return nil, ErrUnknownToken
}

// Len returns the number of live scopes.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byKey)
}

// Sweep drops every scope idle longer than the idle timeout and forgets
// dropped tokens older than that. It returns how many scopes it dropped.
func (r *Registry) Sweep() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	n := 0
	// The LRU's back holds the least recently active scopes.
	for e := r.lru.Back(); e != nil; {
		s := e.Value.(*Scope)
		prev := e.Prev()
		if now.Sub(s.lastActive) <= r.idle {
			break
		}
		if s.inflight == 0 {
			r.dropLocked(s, now, CloseIdle)
			n++
		}
		e = prev
	}
	for e := r.deadQ.Front(); e != nil; {
		h := e.Value.([32]byte)
		if now.Sub(r.dead[h]) <= r.idle {
			break
		}
		next := e.Next()
		delete(r.dead, h)
		r.deadQ.Remove(e)
		e = next
	}
	r.shrinkLocked()
	return n
}

// shrinkLocked copies the maps into new, smaller ones when they hold less
// than a quarter of their peak, so that the memory of a past burst of
// scopes goes back to the runtime.
func (r *Registry) shrinkLocked() {
	size := max(len(r.byKey), len(r.dead))
	r.peak = max(r.peak, size)
	if r.peak < 4096 || size*4 > r.peak {
		return
	}
	byKey := make(map[string]*Scope, len(r.byKey))
	for k, v := range r.byKey {
		byKey[k] = v
	}
	byToken := make(map[[32]byte]*Scope, len(r.byToken))
	for k, v := range r.byToken {
		byToken[k] = v
	}
	dead := make(map[[32]byte]time.Time, len(r.dead))
	for k, v := range r.dead {
		dead[k] = v
	}
	r.byKey, r.byToken, r.dead = byKey, byToken, dead
	r.peak = size
}

func (r *Registry) evictLocked() {
	for e := r.lru.Back(); e != nil; e = e.Prev() {
		if s := e.Value.(*Scope); s.inflight == 0 {
			r.dropLocked(s, r.now(), CloseEvicted)
			return
		}
	}
	// Every scope has an event in flight: grow past the limit rather than
	// drop one; the delivery's concurrency bound keeps this small.
}

func (r *Registry) dropLocked(s *Scope, now time.Time, reason string) {
	if r.closed != nil {
		done := r.closed(s, reason)
		r.closing[s.Key] = done
	}
	delete(r.byKey, s.Key)
	delete(r.byToken, s.hash)
	r.lru.Remove(s.elem)
	s.elem = nil
	// Remember the dead token for a while, bounded like the live ones.
	r.dead[s.hash] = now
	r.deadQ.PushBack(s.hash)
	for len(r.dead) > r.max {
		f := r.deadQ.Front()
		delete(r.dead, f.Value.([32]byte))
		r.deadQ.Remove(f)
	}
}

// closeDone forgets the pending scope_closed of key, once done is closed,
// unless a later one took its place.
func (r *Registry) closeDone(key string, done <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing[key] == done {
		delete(r.closing, key)
	}
}

// Close drops s at once, whatever is in flight (a scope the bot was
// removed from, or a group that became a supergroup), for reason.
func (r *Registry) Close(s *Scope, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.elem != nil {
		r.dropLocked(s, r.now(), reason)
	}
}

// CloseAll drops every live scope with nothing in flight, for reason.
func (r *Registry) CloseAll(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for e := r.lru.Back(); e != nil; {
		prev := e.Prev()
		if s := e.Value.(*Scope); s.inflight == 0 {
			r.dropLocked(s, now, reason)
		}
		e = prev
	}
}
