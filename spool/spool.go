// Package spool is asgigram's durable store between fetching an update from
// Telegram and finishing its delivery: a bbolt file under data_dir holding
// the fetched updates in fetch order, the next getUpdates offset (saved with
// the batch it follows), and the dead letters; and a write-ahead log beside
// it that makes a fetched batch durable with one sync (see wal.go).
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

// format marks a file as an asgigram spool. v3 has the write-ahead log: a
// v2 file is upgraded, and an older asgigram refuses a v3 file rather than
// miss the batches in the log.
const format = "asgigram-spool-v3"

const formatV2 = "asgigram-spool-v2"

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
	// ApplyEvery is how often the write-ahead log is applied to the bbolt
	// file while it has records (default 50ms).
	ApplyEvery time.Duration
}

// Spool is the bbolt-backed store. It is safe for concurrent use.
type Spool struct {
	db      *bolt.DB
	path    string
	deadMax int
	fresh   bool // the bbolt file was created by this Open

	applyEvery time.Duration

	// walMu serialises the writers of new records (Append, Requeue); lock
	// order: walMu, applyMu, mu.
	walMu   sync.Mutex
	wal     *os.File
	walOff  int64
	nextLSN uint64
	applyMu sync.Mutex // one apply at a time

	mu             sync.Mutex
	count          int // stored updates, logged ones included
	unapplied      []walRecord
	unappliedBytes int
	logged         map[uint64]walUpdate // by seq: the updates of unapplied records
	loggedIDs      map[int64]uint64     // update_id -> seq, of unapplied records
	removals       []uint64             // finished, not yet applied
	offset         int64                // the latest next offset
	nextSeq        uint64
	applyErr       error
	closed         bool

	kick        chan struct{}
	closing     chan struct{}
	applierDone chan struct{}
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
	if opt.ApplyEvery <= 0 {
		opt.ApplyEvery = 50 * time.Millisecond
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
	s := &Spool{db: db, path: path, deadMax: opt.DeadLetterMax, applyEvery: opt.ApplyEvery,
		logged: make(map[uint64]walUpdate), loggedIDs: make(map[int64]uint64),
		kick: make(chan struct{}, 1), closing: make(chan struct{}), applierDone: make(chan struct{})}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.openWAL(filepath.Join(dir, WALName)); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.load(); err != nil {
		s.wal.Close()
		db.Close()
		return nil, err
	}
	go s.applier()
	return s, nil
}

// load reads the count of stored updates, the offset and the sequence.
func (s *Spool) load() error {
	return s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUpdates)
		s.count = b.Stats().KeyN
		s.nextSeq = b.Sequence() + 1
		if v := tx.Bucket(bucketMeta).Get(keyOffset); len(v) == 8 {
			s.offset = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
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
			s.fresh = true
			if err := meta.Put(keyFormat, []byte(format)); err != nil {
				return err
			}
		}
		switch f := meta.Get(keyFormat); string(f) {
		case format:
		case formatV2:
			if err := meta.Put(keyFormat, []byte(format)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("spool: %s has format %q, want %q: refusing to use it", s.path, f, format)
		}
		for _, b := range [][]byte{bucketUpdates, bucketIDs, bucketDead} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
}

// Close applies what the log holds and closes the files.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.closing)
	<-s.applierDone
	err := s.apply()
	if cerr := s.wal.Close(); err == nil {
		err = cerr
	}
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

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

// Position returns the saved position (zero when none).
func (s *Spool) Position() (adapter.Position, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return adapter.Position{Offset: s.offset}, nil
}

// Append stores ups in fetch order and saves next as the offset: when it
// returns, they are durable (one record in the write-ahead log, synced). An
// update already stored (same update_id) is skipped: its returned sequence
// number is 0.
func (s *Spool) Append(ups []adapter.Update, pos adapter.Position) ([]uint64, error) {
	next := pos.Offset
	s.mu.Lock()
	err := s.usableLocked()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}

	s.walMu.Lock()
	defer s.walMu.Unlock()
	if s.walOff >= walPrealloc {
		// The log is full: apply it, so that the next record starts it again
		// (under steady traffic a record is nearly always waiting, so it would
		// otherwise never start again).
		if err := s.apply(); err != nil {
			return nil, err
		}
	}
	seqs := make([]uint64, len(ups))
	rec := walRecord{next: next}
	err = s.db.View(func(tx *bolt.Tx) error {
		ids := tx.Bucket(bucketIDs)
		s.mu.Lock()
		defer s.mu.Unlock()
		seq := s.nextSeq
		batch := make(map[int64]bool, len(ups))
		for i, u := range ups {
			if _, logged := s.loggedIDs[u.ID]; logged || batch[u.ID] || ids.Get(i64(u.ID)) != nil {
				continue
			}
			batch[u.ID] = true
			seqs[i] = seq
			rec.ups = append(rec.ups, walUpdate{seq: seq, id: u.ID, raw: u.Raw})
			rec.size += len(u.Raw)
			seq++
		}
		rec.lsn = s.nextLSN
		if len(s.unapplied) == 0 {
			s.walOff = 0 // everything is in bbolt: start the log again
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("spool: append: %w", err)
	}
	if len(rec.ups) == 0 && next <= 0 {
		return seqs, nil
	}
	b := rec.encode()
	if _, err := s.wal.WriteAt(b, s.walOff); err != nil {
		return nil, fmt.Errorf("spool: append: writing the log: %w", err)
	}
	if err := datasync(s.wal); err != nil {
		return nil, fmt.Errorf("spool: append: syncing the log: %w", err)
	}
	s.walOff += int64(len(b))
	s.nextLSN++
	s.mu.Lock()
	for _, u := range rec.ups {
		s.logged[u.seq] = u
		s.loggedIDs[u.id] = u.seq
		s.nextSeq = u.seq + 1
	}
	s.unapplied = append(s.unapplied, rec)
	s.unappliedBytes += rec.size
	s.count += len(rec.ups)
	if next > 0 {
		s.offset = next
	}
	heavy := s.unappliedBytes > applyBytes
	s.mu.Unlock()
	if heavy {
		// The applier is behind: apply here, as backpressure on fetching.
		if err := s.apply(); err != nil {
			return nil, err
		}
	}
	s.kickApplier()
	return seqs, nil
}

func (s *Spool) kickApplier() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// usableLocked returns the error that stops writes: closed, or a failed
// apply.
func (s *Spool) usableLocked() error {
	if s.closed {
		return errClosed
	}
	return s.applyErr
}

// Requeue stores u again with a new sequence number, whether or not its
// update_id is still stored (a dead letter's replay may race the removal of
// the original, which only the removal flusher deletes).
func (s *Spool) Requeue(u adapter.Update) (uint64, error) {
	s.walMu.Lock()
	defer s.walMu.Unlock()
	if err := s.apply(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	seq := s.nextSeq
	err := s.usableLocked()
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUpdates)
		if err := b.Put(u64(seq), record(u)); err != nil {
			return err
		}
		if err := b.SetSequence(max(b.Sequence(), seq)); err != nil {
			return err
		}
		return tx.Bucket(bucketIDs).Put(i64(u.ID), u64(seq))
	})
	if err != nil {
		return 0, fmt.Errorf("spool: requeue: %w", err)
	}
	s.mu.Lock()
	s.count++
	s.nextSeq = seq + 1
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
	s.mu.Lock()
	lu, ok := s.logged[seq]
	s.mu.Unlock()
	if ok {
		return adapter.Update{ID: lu.id, Raw: append(json.RawMessage(nil), lu.raw...)}, nil
	}
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
	if err := s.apply(); err != nil {
		return err
	}
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

// Remove deletes finished updates with the next apply (within ApplyEvery,
// one transaction for all of them). A removal lost in a crash only delivers
// the update again.
func (s *Spool) Remove(seqs []uint64) error {
	s.mu.Lock()
	err := s.usableLocked()
	if err == nil {
		s.removals = append(s.removals, seqs...)
	}
	s.mu.Unlock()
	s.kickApplier()
	return err
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
