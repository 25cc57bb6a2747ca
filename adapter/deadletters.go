package adapter

import (
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"time"
)

// Kinds of dead letter.
const (
	// DeadDelivery: the application never took the event (final HTTP
	// failure, or the retry budget was spent).
	DeadDelivery = "delivery"
	// DeadReply: the application answered, but the outbound calls of its
	// reply body were refused by Telegram or failed.
	DeadReply = "reply"
	// DeadSpool: a stored update could not be read back or no longer
	// parses as an update (the spool's file was damaged). It is kept, not
	// silently removed; it cannot be replayed (there is no update to
	// deliver), only shown and dropped. Raw holds the bytes read.
	DeadSpool = "spool"
)

// DeadLetter is an update whose delivery (or whose reply) failed for good,
// kept for an operator to inspect, replay or drop.
type DeadLetter struct {
	// ID identifies the dead letter (not the update).
	ID       uint64 `json:"id"`
	Kind     string `json:"kind"`
	UpdateID int64  `json:"update_id"`
	// Epoch is the update_id's id space (see Position), so that a replay
	// keeps the update's webhook-id.
	Epoch     uint32 `json:"update_epoch,omitempty"`
	Scope     string `json:"scope"`
	EventType string `json:"event_type"`
	// Update is the whole Telegram Update (kind spool: only when the bytes
	// read are valid JSON).
	Update json.RawMessage `json:"update"`
	// Raw holds the bytes read from the spool when they are not valid JSON
	// (kind spool).
	Raw []byte `json:"raw,omitempty"`
	// Reply holds the outbound events of the reply (kind reply).
	Reply []json.RawMessage `json:"reply,omitempty"`
	// Status is the application's last HTTP status (0: none).
	Status int `json:"status,omitempty"`
	// Error says what failed last.
	Error string `json:"error"`
	// Attempts is the number of delivery attempts.
	Attempts int `json:"attempts,omitempty"`
	// FirstAttempt and FailedAt bound the delivery.
	FirstAttempt time.Time `json:"first_attempt"`
	FailedAt     time.Time `json:"failed_at"`
}

// ErrNoDeadLetter is returned for an unknown dead letter id.
var ErrNoDeadLetter = errors.New("no such dead letter")

// DeadLetters keeps dead letters. The disk spool keeps them in its file;
// MemoryDeadLetters keeps them in memory.
type DeadLetters interface {
	// Bury stores dl (assigning its ID) and returns how many of the oldest
	// dead letters it dropped to stay within its bound.
	Bury(dl DeadLetter) (DeadLetter, int, error)
	// DeadLetters lists them, oldest first.
	DeadLetters() ([]DeadLetter, error)
	// DeadLetter returns one, or ErrNoDeadLetter.
	DeadLetter(id uint64) (DeadLetter, error)
	// DropDeadLetter deletes one, or returns ErrNoDeadLetter.
	DropDeadLetter(id uint64) error
}

// MemoryDeadLetters is a bounded in-memory DeadLetters.
type MemoryDeadLetters struct {
	mu   sync.Mutex
	max  int
	next uint64
	byID map[uint64]DeadLetter
}

// NewMemoryDeadLetters keeps at most max dead letters.
func NewMemoryDeadLetters(max int) *MemoryDeadLetters {
	return &MemoryDeadLetters{max: max, byID: make(map[uint64]DeadLetter)}
}

// Bury implements DeadLetters.
func (m *MemoryDeadLetters) Bury(dl DeadLetter) (DeadLetter, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	dl.ID = m.next
	m.byID[dl.ID] = dl
	dropped := 0
	for len(m.byID) > m.max {
		oldest := uint64(0)
		for id := range m.byID {
			if oldest == 0 || id < oldest {
				oldest = id
			}
		}
		delete(m.byID, oldest)
		dropped++
	}
	return dl, dropped, nil
}

// DeadLetters implements DeadLetters.
func (m *MemoryDeadLetters) DeadLetters() ([]DeadLetter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]DeadLetter, 0, len(m.byID))
	for _, dl := range m.byID {
		out = append(out, dl)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// DeadLetter implements DeadLetters.
func (m *MemoryDeadLetters) DeadLetter(id uint64) (DeadLetter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dl, ok := m.byID[id]
	if !ok {
		return DeadLetter{}, ErrNoDeadLetter
	}
	return dl, nil
}

// DropDeadLetter implements DeadLetters.
func (m *MemoryDeadLetters) DropDeadLetter(id uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byID[id]; !ok {
		return ErrNoDeadLetter
	}
	delete(m.byID, id)
	return nil
}
