// Package spool is asgigram's durable store between fetching an update from
// Telegram and finishing its delivery: a bbolt file under data_dir holding
// the fetched updates in fetch order, the next getUpdates offset (saved with
// the batch it follows), and the dead letters; and a write-ahead log beside
// it that makes a fetched batch durable with one sync (see wal.go).
package spool

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/internal/redact"
)

// FileName is the spool's bbolt file inside its directory.
const FileName = "spool.db"

// format marks a file as an asgigram spool. v4 stores the id-space epoch
// with every update and the position, and a log whose damage can be told
// from normal operation: a v3 (or v2) file is upgraded, and an older
// asgigram refuses a v4 file rather than misread it.
const format = "asgigram-spool-v4"

const (
	formatV3 = "asgigram-spool-v3"
	formatV2 = "asgigram-spool-v2"
)

var (
	bucketMeta    = []byte("meta")
	bucketUpdates = []byte("updates") // seq -> epoch (4) + update_id (8) + raw update
	bucketIDs     = []byte("ids")     // epoch (4) + update_id (8) -> seq
	bucketDead    = []byte("dead")    // dead letter id -> JSON
	keyFormat     = []byte("format")
	keyOffset     = []byte("offset")
	keyEpoch      = []byte("epoch")
	keyBotID      = []byte("bot_id")
	keyAPIURL     = []byte("api_url")
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
	// Applies, when set, is shared by the spools of one process: their
	// appliers take turns, and wait longer between applies the more of
	// them have records (see Applies). Nil: each spool applies every
	// ApplyEvery on its own.
	Applies *Applies
	// BotID is the bot the spool belongs to (0: not checked). A new spool
	// records it; a spool of another bot is refused (ErrOtherBot).
	BotID int64
	// APIURL is the Bot API base URL polled (recorded; a change is logged).
	APIURL string
	// Logger receives the spool's warnings; nil discards them.
	Logger *slog.Logger
	// SkipCheck skips bbolt's consistency check at Open.
	SkipCheck bool
}

// ErrOtherBot is returned by Open for a spool that belongs to another bot.
var ErrOtherBot = errors.New("the spool belongs to another bot")

// idKey identifies an update: its epoch and update_id.
type idKey struct {
	epoch uint32
	id    int64
}

func (k idKey) bytes() []byte {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:], k.epoch)
	binary.BigEndian.PutUint64(b[4:], uint64(k.id))
	return b[:]
}

// loggedUpdate is an update of a record not yet applied.
type loggedUpdate struct {
	walUpdate
	epoch uint32
}

// Spool is the bbolt-backed store. It is safe for concurrent use.
type Spool struct {
	db      *bolt.DB
	dir     string
	path    string
	deadMax int
	log     *slog.Logger
	ident   identity // of the directory and files opened

	applyEvery time.Duration
	applies    *Applies

	// walMu serialises the writers of records (Append, Remove, Requeue);
	// lock order: walMu, applyMu, mu.
	walMu     sync.Mutex
	walPath   string
	wal       *os.File // nil until the first record (see allocateWAL); set under mu too
	cleanHeld bool     // the clean-close mark in bbolt stays until the log is created
	walOff    int64
	nextLSN   uint64
	applyMu   sync.Mutex // one apply at a time
	// appliedLSN and pendingMeta belong to the applier (applyMu).
	appliedLSN  uint64
	pendingMeta map[string][]byte // meta writes that wait for a commit (nil: delete)

	mu             sync.Mutex
	count          int // stored updates, logged ones included
	unapplied      []walRecord
	unappliedBytes int
	logged         map[uint64]loggedUpdate // by seq: the updates of unapplied records
	loggedIDs      map[idKey]uint64        // of unapplied records
	removals       []uint64                // finished, not yet applied
	pos            adapter.Position        // the latest position
	nextSeq        uint64
	applyErr       error
	closed         bool
	full           atomic.Bool // the last apply found the disk full

	// The applier runs only while there is something to apply: a write
	// starts it (kickApplier), and it ends after an apply that no write
	// followed, so that an idle spool has no goroutine and no timer.
	applierMu      sync.Mutex
	applierOn      bool // the applier runs
	kicked         bool // a write came while it ran: apply once more
	applierStopped bool // Close began: start no applier
	applierWG      sync.WaitGroup
	closing        chan struct{}
}

var _ adapter.Spool = (*Spool)(nil)

// Open opens (or creates) the spool in dir. A second process on the same
// dir gets ErrLocked; a file that is not an asgigram spool is an error, never
// silently reset; damage (ErrDamaged) and another bot's spool (ErrOtherBot)
// refuse to start.
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
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if err := mkdirAll(dir); err != nil {
		return nil, fmt.Errorf("spool: creating the directory: %w", accessError(dir, err))
	}
	path := filepath.Join(dir, FileName)
	walPath := filepath.Join(dir, WALName)
	fresh, err := freshFile(path)
	if err != nil {
		return nil, err
	}
	if fresh {
		// No bbolt file (or an empty one): a log beside it holding any
		// intact record belongs to a spool whose updates would be lost.
		if lsn, ok := intactRecordIn(walPath); ok {
			return nil, damaged(path, fmt.Sprintf("the bbolt file is missing or empty, but the write-ahead log beside it holds record %d: the updates in it were confirmed to Telegram (to start afresh on purpose, move both %s and %s away)", lsn, FileName, WALName))
		}
	}
	var db *bolt.DB
	err = guard(path, func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: opt.LockTimeout})
		return err
	})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("spool: %s: %w (one data_dir per bot instance)", path, ErrLocked)
	case errors.Is(err, ErrDamaged):
		return nil, err
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrChecksum):
		return nil, fmt.Errorf("spool: %s is not a readable spool (damaged, or not an asgigram file): %w; `asgigram spool check` tells more", path, errors.Join(ErrDamaged, err))
	case err != nil:
		return nil, fmt.Errorf("spool: opening %w", accessError(path, err))
	}
	s := &Spool{db: db, dir: dir, path: path, walPath: walPath, deadMax: opt.DeadLetterMax, applyEvery: opt.ApplyEvery, applies: opt.Applies, log: opt.Logger,
		logged: make(map[uint64]loggedUpdate), loggedIDs: make(map[idKey]uint64),
		closing: make(chan struct{})}
	fail := func(err error) (*Spool, error) {
		if s.wal != nil {
			s.wal.Close()
		}
		db.Close()
		return nil, err
	}
	if fresh {
		if err := fsyncParent(dir); err != nil {
			return fail(fmt.Errorf("spool: %w", accessError(dir, err)))
		}
	}
	if !opt.SkipCheck && !fresh {
		if err := s.checkDB(); err != nil {
			return fail(err)
		}
	}
	st, err := s.init(fresh, walPath, opt)
	if err != nil {
		return fail(err)
	}
	// What Close marks clean when nothing is applied in between.
	s.appliedLSN = st.applied
	if err := s.openWAL(walPath, st.applied, st.clean || fresh, fresh); err != nil {
		return fail(err)
	}
	if err := s.load(); err != nil {
		return fail(err)
	}
	if s.ident, err = identify(dir, path, s.wal); err != nil {
		return fail(fmt.Errorf("spool: %w", accessError(dir, err)))
	}
	// The clean mark holds until something new may be logged: with a log,
	// the first commit clears it, before the first Append; without one,
	// creating the log clears it (allocateWAL).
	if st.clean && s.wal != nil {
		s.pendingMeta = map[string][]byte{string(keyClean): nil}
	}
	if s.pendingMeta != nil {
		if _, err := s.applyRecords(nil, nil, false); err != nil {
			if !isNoSpace(err) {
				return fail(fmt.Errorf("spool: %w", accessError(path, err)))
			}
			s.full.Store(true)
			s.log.Error("the disk is full: the updates already stored are delivered, polling waits for space", "path", dir, logErr, err)
		}
	}
	if s.full.Load() {
		s.kickApplier()
	}
	return s, nil
}

// openState is what init read from bbolt.
type openState struct {
	applied uint64
	clean   bool
}

// load reads the count of stored updates, the position and the sequence;
// the log's records were added before.
func (s *Spool) load() error {
	return s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUpdates)
		s.count += b.Stats().KeyN
		s.nextSeq = max(s.nextSeq, b.Sequence()+1)
		if s.pos.Offset == 0 { // no live record of the log set it
			s.pos = getPosition(tx.Bucket(bucketMeta))
		}
		return nil
	})
}

func getPosition(meta *bolt.Bucket) adapter.Position {
	var p adapter.Position
	if v := meta.Get(keyOffset); len(v) == 8 {
		p.Offset = int64(binary.BigEndian.Uint64(v))
	}
	if v := meta.Get(keyEpoch); len(v) == 4 {
		p.Epoch = binary.BigEndian.Uint32(v)
	}
	return p
}

func putPosition(meta *bolt.Bucket, p adapter.Position) error {
	if err := meta.Put(keyOffset, i64(p.Offset)); err != nil {
		return err
	}
	var e [4]byte
	binary.BigEndian.PutUint32(e[:], p.Epoch)
	return meta.Put(keyEpoch, e[:])
}

// init checks the format (creating a new spool, upgrading v2 and v3) and
// the bot, and returns the log's state.
func (s *Spool) init(fresh bool, walPath string, opt Options) (openState, error) {
	var st openState
	var need string // what must be written: "" nothing, "new", "upgrade"
	err := s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			// A new file has no buckets at all; anything else is foreign.
			if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				return fmt.Errorf("spool: %s is a bbolt file of another program (bucket %q): refusing to use it", s.path, name)
			}); err != nil {
				return err
			}
			need = "new"
			return nil
		}
		switch f := meta.Get(keyFormat); string(f) {
		case format:
		case formatV3, formatV2:
			need = "upgrade"
		default:
			return fmt.Errorf("spool: %s has format %q, want %q: refusing to use it (a newer asgigram wrote it?)", s.path, f, format)
		}
		for _, b := range [][]byte{bucketUpdates, bucketIDs, bucketDead} {
			if tx.Bucket(b) == nil {
				return damaged(s.path, fmt.Sprintf("bucket %q is missing", b))
			}
		}
		if v := meta.Get(keyLSN); len(v) == 8 {
			st.applied = binary.BigEndian.Uint64(v)
		}
		if v := meta.Get(keyClean); len(v) == 8 && binary.BigEndian.Uint64(v) == st.applied {
			st.clean = true
		}
		if v := meta.Get(keyBotID); len(v) == 8 && opt.BotID != 0 {
			if owner := int64(binary.BigEndian.Uint64(v)); owner != opt.BotID {
				return fmt.Errorf("spool: %s: %w: it was written for bot %d, this is bot %d; give each bot its own data_dir (or remove the spool after draining it with bot %d's token)",
					s.dir, ErrOtherBot, owner, opt.BotID, owner)
			}
		} else if opt.BotID != 0 {
			s.setMeta(keyBotID, i64(opt.BotID))
		}
		if v := meta.Get(keyAPIURL); opt.APIURL != "" && string(v) != opt.APIURL {
			if v != nil {
				s.log.Warn("the Bot API server changed since the spool was last used: if its update ids are another id space, asgigram starts a new epoch", "was", redact.URL(string(v)), "now", redact.URL(opt.APIURL))
			}
			s.setMeta(keyAPIURL, []byte(opt.APIURL))
		}
		return nil
	})
	if err != nil || need == "" {
		return st, err
	}
	var walData []byte
	if need == "upgrade" {
		b, err := os.ReadFile(walPath)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return st, fmt.Errorf("spool: reading the write-ahead log: %w", accessError(walPath, err))
		}
		walData = b
	}
	err = s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if need == "new" {
			var err error
			if meta, err = tx.CreateBucket(bucketMeta); err != nil {
				return err
			}
			for _, b := range [][]byte{bucketUpdates, bucketIDs, bucketDead} {
				if _, err := tx.CreateBucket(b); err != nil {
					return err
				}
			}
			if opt.BotID != 0 {
				if err := meta.Put(keyBotID, i64(opt.BotID)); err != nil {
					return err
				}
			}
			if opt.APIURL != "" {
				if err := meta.Put(keyAPIURL, []byte(opt.APIURL)); err != nil {
					return err
				}
			}
			// Nothing was logged: the log may be missing until the first
			// write creates it.
			if err := meta.Put(keyClean, u64(0)); err != nil {
				return err
			}
		} else {
			if err := upgradeTx(tx, walData); err != nil {
				return err
			}
			if v := meta.Get(keyLSN); len(v) == 8 {
				st.applied = binary.BigEndian.Uint64(v)
			}
		}
		return meta.Put(keyFormat, []byte(format))
	})
	if err != nil {
		return st, fmt.Errorf("spool: %s: %w", need, accessError(s.path, err))
	}
	if need == "upgrade" {
		s.log.Info("upgraded the spool to format v4", "path", s.path)
		// The v3 log is applied: a new v4 log replaces it.
		if err := createWAL(walPath); err != nil {
			return st, fmt.Errorf("spool: creating the write-ahead log: %w", accessError(walPath, err))
		}
	} else if _, err := os.Stat(walPath); err == nil {
		// A new spool: a log left beside it held no intact record (Open
		// checked), so it is started again.
		if err := createWAL(walPath); err != nil {
			return st, fmt.Errorf("spool: creating the write-ahead log: %w", accessError(walPath, err))
		}
	}
	st.clean = true // nothing is in the log
	return st, nil
}

// upgradeTx turns a v2/v3 spool into v4 in one commit: the v3 log's
// records not yet applied are applied, and records and ids gain the epoch
// (0: v3 knew one id space).
func upgradeTx(tx *bolt.Tx, walData []byte) error {
	meta, b := tx.Bucket(bucketMeta), tx.Bucket(bucketUpdates)
	var applied uint64
	if v := meta.Get(keyLSN); len(v) == 8 {
		applied = binary.BigEndian.Uint64(v)
	}
	type kv struct{ k, v []byte }
	var recs []kv
	if err := b.ForEach(func(k, v []byte) error {
		if len(v) < 8 {
			return fmt.Errorf("record %x is damaged", k)
		}
		nv := make([]byte, 4+len(v))
		copy(nv[4:], v)
		recs = append(recs, kv{append([]byte(nil), k...), nv})
		return nil
	}); err != nil {
		return err
	}
	maxSeq := b.Sequence()
	var off int64
	for _, r := range scanLogV3(walData, applied) {
		for _, u := range r.ups {
			recs = append(recs, kv{u64(u.seq), record(adapter.Update{ID: u.id, Raw: u.raw})})
			maxSeq = max(maxSeq, u.seq)
		}
		if r.next > 0 {
			off = r.next
		}
		applied = r.lsn
	}
	if err := tx.DeleteBucket(bucketIDs); err != nil {
		return err
	}
	ids, err := tx.CreateBucket(bucketIDs)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := b.Put(r.k, r.v); err != nil {
			return err
		}
		if err := ids.Put(r.v[:12], r.k); err != nil {
			return err
		}
	}
	if err := b.SetSequence(maxSeq); err != nil {
		return err
	}
	if off > 0 {
		if err := putPosition(meta, adapter.Position{Offset: off}); err != nil {
			return err
		}
	}
	return meta.Put(keyLSN, u64(applied))
}

// setMeta queues a meta write for the next commit. Callers own s.
func (s *Spool) setMeta(k, v []byte) {
	if s.pendingMeta == nil {
		s.pendingMeta = make(map[string][]byte)
	}
	s.pendingMeta[string(k)] = v
}

// Close applies what the log holds, marks the spool cleanly closed and
// closes the files.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.applierMu.Lock()
	s.applierStopped = true
	s.applierMu.Unlock()
	close(s.closing)
	s.applierWG.Wait()
	s.walMu.Lock()
	defer s.walMu.Unlock()
	err := s.apply(true)
	if s.wal != nil {
		if cerr := s.wal.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// Path returns the bbolt file's path.
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
	return s.pos, nil
}

// Append stores ups in fetch order and saves next as the position: when it
// returns, they are durable (one record in the write-ahead log, synced). An
// update already stored (same epoch and update_id) is skipped: its returned
// sequence number is 0. While the disk is full it stores nothing and
// returns an error wrapping adapter.ErrSpoolUnavailable.
func (s *Spool) Append(ups []adapter.Update, next adapter.Position) ([]uint64, error) {
	s.mu.Lock()
	err := s.usableLocked()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if s.full.Load() {
		return nil, s.fullError()
	}

	s.walMu.Lock()
	defer s.walMu.Unlock()
	if s.walOff >= walPrealloc {
		// The log is full: apply it, so that the next record starts it again
		// (under steady traffic a record is nearly always waiting, so it would
		// otherwise never start again).
		if err := s.apply(false); err != nil {
			return nil, s.appendErr(err)
		}
	}
	seqs := make([]uint64, len(ups))
	rec := walRecord{kind: recBatch, next: next.Offset, epoch: next.Epoch}
	err = s.view(func(tx *bolt.Tx) error {
		ids := tx.Bucket(bucketIDs)
		s.mu.Lock()
		defer s.mu.Unlock()
		seq := s.nextSeq
		batch := make(map[idKey]bool, len(ups))
		for i, u := range ups {
			k := idKey{u.Epoch, u.ID}
			if _, logged := s.loggedIDs[k]; logged || batch[k] || ids.Get(k.bytes()) != nil {
				continue
			}
			if u.Epoch != next.Epoch {
				return fmt.Errorf("update %d of epoch %d in a batch of epoch %d", u.ID, u.Epoch, next.Epoch)
			}
			batch[k] = true
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
	if len(rec.ups) == 0 && next.Offset <= 0 {
		return seqs, nil
	}
	if err := s.writeRecord(&rec, true); err != nil {
		return nil, s.appendErr(fmt.Errorf("spool: append: %w", err))
	}
	s.mu.Lock()
	s.addUnapplied(rec)
	heavy := s.unappliedBytes > applyBytes
	s.mu.Unlock()
	if heavy {
		// The applier is behind: apply here, as backpressure on fetching.
		if err := s.apply(false); err != nil && !isNoSpace(err) {
			return nil, err
		}
	}
	s.kickApplier()
	return seqs, nil
}

// appendErr marks a full disk as a pause, not a failure: Check reports it
// until the applier finds room again, so that polling does not resume
// (and fetch the same batch again) every time it looks.
func (s *Spool) appendErr(err error) error {
	if isNoSpace(err) {
		if !s.full.Swap(true) {
			s.log.Error("the disk is full: polling paused; the updates already stored are still delivered; free space on the spool's file system and polling resumes by itself",
				"path", s.dir, logErr, err)
		}
		s.kickApplier()
		return fmt.Errorf("%w: %w", adapter.ErrSpoolUnavailable, err)
	}
	return err
}

// probeSpace tells whether the disk has room again when there is nothing
// to apply that would show it: it writes and syncs a small file in the
// spool's directory and removes it.
func (s *Spool) probeSpace() error {
	p := filepath.Join(s.dir, ".space-probe")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err == nil {
		if _, err = f.Write(make([]byte, 64<<10)); err == nil {
			err = f.Sync()
		}
		f.Close()
	}
	os.Remove(p)
	if err != nil {
		return fmt.Errorf("spool: the disk is still full: %w", err)
	}
	if s.full.Swap(false) {
		s.log.Info("the disk has room again", "path", s.dir)
	}
	return nil
}

// writeRecord writes rec at the log's end (syncing it when sync is set)
// and moves the end past it, creating the log first when the spool has
// none. Callers hold walMu.
func (s *Spool) writeRecord(rec *walRecord, sync bool) error {
	if s.wal == nil || s.cleanHeld {
		if err := s.allocateWAL(); err != nil {
			return err
		}
	}
	rec.lsn = s.nextLSN
	b := rec.encode()
	if _, err := s.wal.WriteAt(b, s.walOff); err != nil {
		return fmt.Errorf("writing the log: %w", err)
	}
	if sync {
		if err := datasync(s.wal); err != nil {
			return fmt.Errorf("syncing the log: %w", err)
		}
	}
	s.walOff += int64(len(b))
	s.nextLSN++
	return nil
}

// kickApplier has what was written applied within ApplyEvery: it starts
// the applier, or has the running one apply once more.
func (s *Spool) kickApplier() {
	s.applierMu.Lock()
	defer s.applierMu.Unlock()
	switch {
	case s.applierStopped:
	case s.applierOn:
		s.kicked = true
	default:
		s.applierOn = true
		s.applierWG.Go(s.applier)
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

// Requeue stores u again with a new sequence number, whether or not it is
// still stored (a dead letter's replay may race the removal of the
// original, which only the applier deletes).
func (s *Spool) Requeue(u adapter.Update) (uint64, error) {
	s.walMu.Lock()
	defer s.walMu.Unlock()
	if err := s.apply(false); err != nil {
		return 0, err
	}
	s.mu.Lock()
	seq := s.nextSeq
	err := s.usableLocked()
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUpdates)
		if err := b.Put(u64(seq), record(u)); err != nil {
			return err
		}
		if err := b.SetSequence(max(b.Sequence(), seq)); err != nil {
			return err
		}
		return tx.Bucket(bucketIDs).Put(idKey{u.Epoch, u.ID}.bytes(), u64(seq))
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

// record is a stored update: its epoch and update_id (the ids bucket's
// key), then the raw JSON, so that reading and removing never parse JSON.
func record(u adapter.Update) []byte {
	v := make([]byte, 12+len(u.Raw))
	binary.BigEndian.PutUint32(v, u.Epoch)
	binary.BigEndian.PutUint64(v[4:], uint64(u.ID))
	copy(v[12:], u.Raw)
	return v
}

// unrecord reads a record, copying it out of bbolt's memory map.
func unrecord(v []byte) (adapter.Update, bool) {
	if len(v) < 12 {
		return adapter.Update{}, false
	}
	return adapter.Update{Epoch: binary.BigEndian.Uint32(v), ID: int64(binary.BigEndian.Uint64(v[4:])), Raw: append(json.RawMessage(nil), v[12:]...)}, true
}

// Get returns the stored update seq.
func (s *Spool) Get(seq uint64) (adapter.Update, error) {
	s.mu.Lock()
	lu, ok := s.logged[seq]
	s.mu.Unlock()
	if ok {
		return adapter.Update{ID: lu.id, Epoch: lu.epoch, Raw: append(json.RawMessage(nil), lu.raw...)}, nil
	}
	var u adapter.Update
	err := s.view(func(tx *bolt.Tx) error {
		var ok bool
		if u, ok = unrecord(tx.Bucket(bucketUpdates).Get(u64(seq))); !ok {
			return fmt.Errorf("spool: update #%d is not stored", seq)
		}
		return nil
	})
	return u, err
}

// Scan calls fn for every stored update in sequence (fetch) order: those in
// bbolt, then those only logged, without those already removed.
func (s *Spool) Scan(fn func(seq uint64, u adapter.Update) error) error {
	if err := s.apply(false); err != nil && !isNoSpace(err) {
		return err
	}
	s.mu.Lock()
	removed := make(map[uint64]bool, len(s.removals))
	for _, seq := range s.removals {
		removed[seq] = true
	}
	logged := make([]loggedUpdate, 0, len(s.logged))
	for _, lu := range s.logged {
		logged = append(logged, lu)
	}
	s.mu.Unlock()
	slices.SortFunc(logged, func(a, b loggedUpdate) int { return cmp.Compare(a.seq, b.seq) })
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUpdates).ForEach(func(k, v []byte) error {
			seq := binary.BigEndian.Uint64(k)
			if removed[seq] {
				return nil
			}
			u, ok := unrecord(v)
			if !ok {
				return damaged(s.path, fmt.Sprintf("stored record #%d is %d bytes, too short to be an update", seq, len(v)))
			}
			return fn(seq, u)
		})
	})
	if err != nil {
		return err
	}
	for _, lu := range logged {
		if removed[lu.seq] {
			continue
		}
		if err := fn(lu.seq, adapter.Update{ID: lu.id, Epoch: lu.epoch, Raw: append(json.RawMessage(nil), lu.raw...)}); err != nil {
			return err
		}
	}
	return nil
}

// Remove records finished updates in the log at once (written, not
// synced: it survives the death of the process) and deletes them from
// bbolt with the next apply (within ApplyEvery, one transaction for all of
// them). A removal lost in a power loss only delivers the update again.
func (s *Spool) Remove(seqs []uint64) error {
	s.walMu.Lock()
	defer s.walMu.Unlock()
	s.mu.Lock()
	err := s.usableLocked()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if s.walOff >= walPrealloc && !s.full.Load() {
		if err := s.apply(false); err != nil && !isNoSpace(err) {
			return err
		}
	}
	if s.walOff < walPrealloc {
		s.mu.Lock()
		if len(s.unapplied) == 0 {
			s.walOff = 0
		}
		s.mu.Unlock()
		rec := walRecord{kind: recRemoval, removed: seqs}
		if err := s.writeRecord(&rec, false); err != nil {
			s.log.Warn("could not record finished deliveries in the log: after a crash they are delivered again", "updates", len(seqs), logErr, err)
		} else {
			s.mu.Lock()
			s.addUnapplied(rec)
			s.mu.Unlock()
			s.kickApplier()
			return nil
		}
	}
	// The log is full and cannot be applied (a full disk): the removals
	// wait in memory; a crash delivers them again.
	s.mu.Lock()
	s.removals = append(s.removals, seqs...)
	s.mu.Unlock()
	s.kickApplier()
	return nil
}

// removeTx deletes finished updates in tx and returns how many there were.
func removeTx(tx *bolt.Tx, seqs []uint64) (int, error) {
	removed := 0
	b, ids := tx.Bucket(bucketUpdates), tx.Bucket(bucketIDs)
	for _, seq := range seqs {
		k := u64(seq)
		v := b.Get(k)
		if len(v) < 12 {
			continue
		}
		// Only the id's own entry: a replay may have stored it again.
		id := v[:12]
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
	err := s.update(func(tx *bolt.Tx) error {
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
	err := s.view(func(tx *bolt.Tx) error {
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
	err := s.view(func(tx *bolt.Tx) error {
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
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDead)
		if b.Get(u64(id)) == nil {
			return adapter.ErrNoDeadLetter
		}
		return b.Delete(u64(id))
	})
}

// String names the spool for logs.
func (s *Spool) String() string { return "spool " + strconv.Quote(s.path) }
