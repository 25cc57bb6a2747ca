// Package spool is asgigram's durable store between fetching an update from
// Telegram and finishing its delivery: a bbolt file under data_dir holding
// the fetched updates in fetch order, the next getUpdates offset (saved in
// the same transaction as the batch it follows), and the dead letters.
package spool

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/asgigram/asgigram/adapter"
)

// FileName is the spool's file inside data_dir.
const FileName = "spool.db"

// format marks a file as an asgigram spool.
const format = "asgigram-spool-v2"

var (
	bucketMeta    = []byte("meta")
	bucketUpdates = []byte("updates") // seq -> update_id (8 bytes, big-endian) + raw update
	bucketIDs     = []byte("ids")     // update_id -> seq
	bucketDead    = []byte("dead")    // dead letter id -> JSON
	keyFormat     = []byte("format")
	keyOffset     = []byte("offset")
)

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("the spool is in use by another asgigram process")

// Options configure Open.
type Options struct {
	// DeadLetterMax bounds the dead letters kept (default 10000).
	DeadLetterMax int
	// LockTimeout is how long Open waits for the file lock (default 1s).
	LockTimeout time.Duration
}

// Spool is the bbolt-backed store. It is safe for concurrent use.
type Spool struct {
	db      *bolt.DB
	path    string
	deadMax int
	mu      sync.Mutex // guards count
	count   int
}

var _ adapter.Spool = (*Spool)(nil)

// Open opens (or creates) the spool in dir. A second process on the same
// dir gets ErrLocked; a file that is not an asgigram spool is an error, never
// silently reset.
func Open(dir string, opt Options) (*Spool, error) {
	if opt.DeadLetterMax <= 0 {
		opt.DeadLetterMax = 10000
	}
	if opt.LockTimeout <= 0 {
		opt.LockTimeout = time.Second
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: creating data_dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opt.LockTimeout})
	switch {
	case errors.Is(err, bolt.ErrTimeout):
		return nil, fmt.Errorf("spool: %s: %w (one data_dir per bot instance)", path, ErrLocked)
	case err != nil:
		return nil, fmt.Errorf("spool: %s is not a readable spool (corrupt or not an asgigram file; move it away to start afresh): %w", path, err)
	}
	s := &Spool{db: db, path: path, deadMax: opt.DeadLetterMax}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Spool) init() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			// A new file has no buckets at all; anything else is foreign.
			if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				return fmt.Errorf("spool: %s is a bbolt file of another program (bucket %q): refusing to use it", s.path, name)
			}); err != nil {
				return err
			}
			var err error
			if meta, err = tx.CreateBucket(bucketMeta); err != nil {
				return err
			}
			if err := meta.Put(keyFormat, []byte(format)); err != nil {
				return err
			}
		}
		if f := meta.Get(keyFormat); string(f) != format {
			return fmt.Errorf("spool: %s has format %q, want %q: refusing to use it", s.path, f, format)
		}
		for _, b := range [][]byte{bucketUpdates, bucketIDs, bucketDead} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		s.count = 0
		c := tx.Bucket(bucketUpdates).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			s.count++
		}
		return nil
	})
}

// Close closes the file.
func (s *Spool) Close() error { return s.db.Close() }

// Path returns the file's path.
func (s *Spool) Path() string { return s.path }

// Len returns the number of stored (undelivered) updates.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func i64(v int64) []byte { return u64(uint64(v)) }

// Offset returns the saved next getUpdates offset (0 when none).
func (s *Spool) Offset() (int64, error) {
	var off int64
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyOffset); len(v) == 8 {
			off = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	return off, err
}

// Append stores ups in fetch order and saves next as the offset, in one
// synced transaction, which also removes the finished updates done (one
// commit where there would be two). An update already stored (same
// update_id) is skipped: its returned sequence number is 0.
func (s *Spool) Append(ups []adapter.Update, next int64, done []uint64) ([]uint64, error) {
	seqs := make([]uint64, len(ups))
	added, removed := 0, 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		added = 0
		var err error
		if removed, err = removeTx(tx, done); err != nil {
			return err
		}
		b, ids := tx.Bucket(bucketUpdates), tx.Bucket(bucketIDs)
		for i, u := range ups {
			if ids.Get(i64(u.ID)) != nil {
				continue
			}
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(u64(seq), record(u)); err != nil {
				return err
			}
			if err := ids.Put(i64(u.ID), u64(seq)); err != nil {
				return err
			}
			seqs[i] = seq
			added++
		}
		if next > 0 {
			return tx.Bucket(bucketMeta).Put(keyOffset, i64(next))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("spool: append: %w", err)
	}
	s.mu.Lock()
	s.count += added - removed
	s.mu.Unlock()
	return seqs, nil
}

// Requeue stores u again with a new sequence number, whether or not its
// update_id is still stored (a dead letter's replay may race the removal of
// the original, which only the removal flusher deletes).
func (s *Spool) Requeue(u adapter.Update) (uint64, error) {
	var seq uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUpdates)
		var err error
		if seq, err = b.NextSequence(); err != nil {
			return err
		}
		if err := b.Put(u64(seq), record(u)); err != nil {
			return err
		}
		return tx.Bucket(bucketIDs).Put(i64(u.ID), u64(seq))
	})
	if err != nil {
		return 0, fmt.Errorf("spool: requeue: %w", err)
	}
	s.mu.Lock()
	s.count++
	s.mu.Unlock()
	return seq, nil
}

// record is a stored update: its update_id, then the raw JSON, so that
// reading and removing never parse JSON.
func record(u adapter.Update) []byte {
	v := make([]byte, 8+len(u.Raw))
	binary.BigEndian.PutUint64(v, uint64(u.ID))
	copy(v[8:], u.Raw)
	return v
}

// unrecord reads a record, copying it out of bbolt's memory map.
func unrecord(v []byte) (adapter.Update, bool) {
	if len(v) < 8 {
		return adapter.Update{}, false
	}
	return adapter.Update{ID: int64(binary.BigEndian.Uint64(v)), Raw: append(json.RawMessage(nil), v[8:]...)}, true
}

// Get returns the stored update seq.
func (s *Spool) Get(seq uint64) (adapter.Update, error) {
	var u adapter.Update
	err := s.db.View(func(tx *bolt.Tx) error {
		var ok bool
		if u, ok = unrecord(tx.Bucket(bucketUpdates).Get(u64(seq))); !ok {
			return fmt.Errorf("spool: update #%d is not stored", seq)
		}
		return nil
	})
	return u, err
}

// Scan calls fn for every stored update in sequence (fetch) order.
func (s *Spool) Scan(fn func(seq uint64, u adapter.Update) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUpdates).ForEach(func(k, v []byte) error {
			u, ok := unrecord(v)
			if !ok {
				return fmt.Errorf("spool: record #%d is damaged", binary.BigEndian.Uint64(k))
			}
			return fn(binary.BigEndian.Uint64(k), u)
		})
	})
}

// Remove deletes finished updates (one transaction for all of them).
func (s *Spool) Remove(seqs []uint64) error {
	removed := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		removed, err = removeTx(tx, seqs)
		return err
	})
	if err != nil {
		return fmt.Errorf("spool: remove: %w", err)
	}
	s.mu.Lock()
	s.count -= removed
	s.mu.Unlock()
	return nil
}

// removeTx deletes finished updates in tx and returns how many there were.
func removeTx(tx *bolt.Tx, seqs []uint64) (int, error) {
	removed := 0
	b, ids := tx.Bucket(bucketUpdates), tx.Bucket(bucketIDs)
	for _, seq := range seqs {
		k := u64(seq)
		v := b.Get(k)
		if len(v) < 8 {
			continue
		}
		// Only the id's own entry: a replay may have stored it again.
		id := v[:8]
		if cur := ids.Get(id); cur != nil && binary.BigEndian.Uint64(cur) == seq {
			if err := ids.Delete(id); err != nil {
				return 0, err
			}
		}
		if err := b.Delete(k); err != nil {
			return 0, err
		}
		removed++
	}
	return removed, nil
}

// Bury stores a dead letter and drops the oldest beyond the bound.
func (s *Spool) Bury(dl adapter.DeadLetter) (adapter.DeadLetter, int, error) {
	dropped := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		dropped = 0
		b := tx.Bucket(bucketDead)
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		dl.ID = id
		v, err := json.Marshal(dl)
		if err != nil {
			return err
		}
		if err := b.Put(u64(id), v); err != nil {
			return err
		}
		c := b.Cursor()
		n := 0
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		for ; n > s.deadMax; n-- {
			k, _ := c.First()
			if k == nil {
				break
			}
			if err := c.Delete(); err != nil {
				return err
			}
			dropped++
		}
		return nil
	})
	if err != nil {
		return dl, 0, fmt.Errorf("spool: bury: %w", err)
	}
	return dl, dropped, nil
}

// DeadLetters lists the dead letters, oldest first.
func (s *Spool) DeadLetters() ([]adapter.DeadLetter, error) {
	var out []adapter.DeadLetter
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDead).ForEach(func(_, v []byte) error {
			var dl adapter.DeadLetter
			if err := json.Unmarshal(v, &dl); err != nil {
				return err
			}
			out = append(out, dl)
			return nil
		})
	})
	return out, err
}

// DeadLetter returns one dead letter.
func (s *Spool) DeadLetter(id uint64) (adapter.DeadLetter, error) {
	var dl adapter.DeadLetter
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDead).Get(u64(id))
		if v == nil {
			return adapter.ErrNoDeadLetter
		}
		return json.Unmarshal(v, &dl)
	})
	return dl, err
}

// DropDeadLetter deletes one dead letter.
func (s *Spool) DropDeadLetter(id uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDead)
		if b.Get(u64(id)) == nil {
			return adapter.ErrNoDeadLetter
		}
		return b.Delete(u64(id))
	})
}

// String names the spool for logs.
func (s *Spool) String() string { return "spool " + strconv.Quote(s.path) }
