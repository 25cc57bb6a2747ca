package adapter

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newTestRegistry(max int, idle time.Duration) (*Registry, *fakeClock) {
	c := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	r := NewRegistry(max, idle)
	r.now = c.now
	return r, c
}

func chatRef(id int64) ScopeRef {
	return ScopeRef{Key: "chat:" + strconv.FormatInt(id, 10), Kind: ScopeChat, ID: id}
}

func TestTokensAreLongUniqueAndURLSafe(t *testing.T) {
	r, _ := newTestRegistry(10000, time.Hour)
	seen := map[string]bool{}
	for i := range 2000 {
		s := r.Acquire(chatRef(int64(i)))
		r.Release(s)
		tok := s.Token()
		require.Len(t, tok, 32, "192 bits as unpadded base64url")
		assert.Regexp(t, `^[A-Za-z0-9_-]+$`, tok)
		assert.False(t, seen[tok], "token reused")
		seen[tok] = true
	}
}

func TestSameKeySameScopeAndToken(t *testing.T) {
	r, _ := newTestRegistry(10, time.Hour)
	a := r.Acquire(chatRef(1))
	r.Release(a)
	b := r.Acquire(chatRef(1))
	r.Release(b)
	assert.Same(t, a, b)
	c := r.Acquire(chatRef(2))
	r.Release(c)
	assert.NotEqual(t, a.Token(), c.Token())
}

func TestLookup(t *testing.T) {
	r, clock := newTestRegistry(10, time.Minute)
	s := r.Acquire(chatRef(1))
	r.Release(s)

	got, err := r.Lookup(s.Token())
	require.NoError(t, err)
	assert.Same(t, s, got)

	_, err = r.Lookup("")
	assert.ErrorIs(t, err, ErrUnknownToken)
	_, err = r.Lookup("short")
	assert.ErrorIs(t, err, ErrUnknownToken)
	other := []byte(s.Token())
	other[0] ^= 1
	_, err = r.Lookup(string(other))
	assert.ErrorIs(t, err, ErrUnknownToken)

	// A lookup is activity: it keeps the scope alive past the idle timeout.
	clock.add(50 * time.Second)
	_, err = r.Lookup(s.Token())
	require.NoError(t, err)
	clock.add(50 * time.Second)
	assert.Equal(t, 0, r.Sweep())
	_, err = r.Lookup(s.Token())
	require.NoError(t, err)

	// Idle past the timeout: dropped, and its token now reads as expired.
	clock.add(61 * time.Second)
	assert.Equal(t, 1, r.Sweep())
	assert.Equal(t, 0, r.Len())
	_, err = r.Lookup(s.Token())
	assert.ErrorIs(t, err, ErrExpiredToken)

	// A new update makes a new scope with a new token; the old stays dead.
	s2 := r.Acquire(chatRef(1))
	r.Release(s2)
	assert.NotEqual(t, s.Token(), s2.Token())
	_, err = r.Lookup(s.Token())
	assert.ErrorIs(t, err, ErrExpiredToken)

	// Dead tokens are forgotten after another idle period.
	clock.add(2 * time.Minute)
	r.Sweep()
	_, err = r.Lookup(s.Token())
	assert.ErrorIs(t, err, ErrUnknownToken)
}

func TestSweepKeepsScopesInFlight(t *testing.T) {
	r, clock := newTestRegistry(10, time.Minute)
	busy := r.Acquire(chatRef(1)) // not released: an event in flight
	idle := r.Acquire(chatRef(2))
	r.Release(idle)
	clock.add(time.Hour)
	assert.Equal(t, 1, r.Sweep())
	_, err := r.Lookup(busy.Token())
	assert.NoError(t, err)
	_, err = r.Lookup(idle.Token())
	assert.ErrorIs(t, err, ErrExpiredToken)
}

func TestMaxScopesEvictsLeastRecentIdle(t *testing.T) {
	r, clock := newTestRegistry(3, time.Hour)
	s1 := r.Acquire(chatRef(1)) // stays in flight: never evicted
	clock.add(time.Second)
	s2 := r.Acquire(chatRef(2))
	r.Release(s2)
	clock.add(time.Second)
	s3 := r.Acquire(chatRef(3))
	r.Release(s3)
	clock.add(time.Second)
	_, err := r.Lookup(s2.Token()) // s2 is now more recent than s3
	require.NoError(t, err)

	s4 := r.Acquire(chatRef(4))
	r.Release(s4)
	assert.Equal(t, 3, r.Len())
	_, err = r.Lookup(s3.Token())
	assert.ErrorIs(t, err, ErrExpiredToken, "the least recently active idle scope goes first")
	for _, s := range []*Scope{s1, s2, s4} {
		_, err := r.Lookup(s.Token())
		assert.NoError(t, err)
	}
}

func TestMaxScopesNeverEvictsInFlight(t *testing.T) {
	r, _ := newTestRegistry(2, time.Hour)
	a := r.Acquire(chatRef(1))
	b := r.Acquire(chatRef(2))
	c := r.Acquire(chatRef(3)) // all in flight: grows past the limit
	assert.Equal(t, 3, r.Len())
	for _, s := range []*Scope{a, b, c} {
		_, err := r.Lookup(s.Token())
		assert.NoError(t, err)
		r.Release(s)
	}
}
