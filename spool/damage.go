package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"syscall"

	bolt "go.etcd.io/bbolt"

	"github.com/asgigram/asgigram/adapter"
)

const logErr = "error"

// ErrDamaged is wrapped by every error that says the spool's files are
// damaged: asgigram stops (exit 4) rather than start without what they hold.
// `asgigram spool check` says what is wrong, `asgigram spool salvage`
// recovers every intact record.
var ErrDamaged = errors.New("spool damaged, needs an operator")

// DamageError names the damaged file and what is wrong with it.
type DamageError struct {
	Path   string
	Damage string
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("spool damaged: %s: %s; nothing was changed: run `asgigram spool check --data-dir %s` to see what it holds, and `asgigram spool salvage --data-dir %s` to recover every intact record into a new spool (the damaged files are kept)",
		e.Path, e.Damage, filepath.Dir(e.Path), filepath.Dir(e.Path))
}

func (e *DamageError) Unwrap() error { return ErrDamaged }

func damaged(path, what string) error { return &DamageError{Path: path, Damage: what} }

// guard runs fn, turning a panic or a memory fault inside bbolt (a damaged
// file read through its memory map) into a DamageError instead of a crash:
// without SetPanicOnFault a fault is fatal and cannot be recovered.
func guard(path string, fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = damaged(path, fmt.Sprintf("reading it failed: %v", r))
		}
	}()
	return fn()
}

// view and update are bbolt transactions under guard.
func (s *Spool) view(fn func(*bolt.Tx) error) error {
	return guard(s.path, func() error { return s.db.View(fn) })
}

func (s *Spool) update(fn func(*bolt.Tx) error) error {
	return guard(s.path, func() error { return s.db.Update(fn) })
}

// checkDB reads every page that holds data (all buckets, every key and
// value, in this goroutine under guard) and then runs bbolt's own
// consistency check (free pages freed twice, pages neither reachable nor
// free). Its cost is measured in docs/operations.md.
func (s *Spool) checkDB() error {
	var touched byte
	defer func() { checkSink.Store(uint32(touched)) }()
	return s.view(func(tx *bolt.Tx) error {
		if err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				if len(v) > 0 {
					touched += v[0] ^ v[len(v)-1] // the value's pages are mapped in and read
				}
				return nil
			})
		}); err != nil {
			return damaged(s.path, err.Error())
		}
		var errs []error
		for err := range tx.Check() {
			if len(errs) < 5 {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return damaged(s.path, "bbolt's check found: "+errors.Join(errs...).Error())
		}
		return nil
	})
}

// checkSink keeps checkDB's reads from being optimised away.
var checkSink atomic.Uint32

// accessError says what an operating system error means for the spool at
// path: permission, read-only file system and full disk are named as such.
func accessError(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s: permission denied (the user running asgigram needs read and write access to it): %w", path, err)
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%s: read-only file system (data_dir must be writable): %w", path, err)
	case isNoSpace(err):
		return fmt.Errorf("%s: no space left on the device (free space on its file system): %w", path, err)
	}
	return fmt.Errorf("%s: %w", path, err)
}

func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// freshFile reports whether the bbolt file at path is missing or empty (a
// new spool).
func freshFile(path string) (bool, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("spool: %w", accessError(path, err))
	}
	return fi.Size() == 0, nil
}

// intactRecordIn returns the LSN of an intact record in the log at path
// (v4 or v3), if it holds one.
func intactRecordIn(path string) (uint64, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for p := 0; p+walHeader <= len(data); p++ {
		switch binary.BigEndian.Uint32(data[p:]) {
		case walMagic:
			if r, _, ok, _ := decodeRecord(data[p:]); ok {
				return r.lsn, true
			}
		case walMagicV3:
			if r, _, ok := decodeRecordV3(data[p:]); ok {
				return r.lsn, true
			}
		}
	}
	return 0, false
}

// mkdirAll creates dir like os.MkdirAll (0700), syncing the parent of each
// directory it creates so that the new entries survive a power loss.
func mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("not a directory")
		}
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return err
	}
	return fsyncParent(dir)
}

// fsyncParent syncs the directory holding path.
func fsyncParent(path string) error { return syncDir(filepath.Dir(path)) }

// identity is what Check compares: the directory, the bbolt file and the
// log opened.
type identity struct {
	dirIno, dbIno uint64
	wal           *os.File // nil until the log is created; set under Spool.mu
}

// identify records the identity of dir and of the bbolt file at path. The
// bbolt file needs no descriptor of its own to be watched: while bbolt
// holds it open its inode cannot be reused, so a bbolt file deleted, moved
// or replaced no longer has that inode at path (see replaced).
func identify(dir, path string, wal *os.File) (identity, error) {
	var id identity
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return id, err
	}
	id.dirIno = st.Ino
	if err := syscall.Stat(path, &st); err != nil {
		return id, err
	}
	id.dbIno, id.wal = st.Ino, wal
	return id, nil
}

// Check reports whether new batches may be stored: nil, or why not. It
// finds a full disk (until an apply succeeds again) and a directory removed
// or replaced while running (its inode changed, or the open files have no
// name left): updates confirmed into deleted files would be lost at the
// next start. The adapter calls it before each getUpdates that would
// confirm more.
func (s *Spool) Check() error {
	s.mu.Lock()
	err := s.usableLocked()
	wal := s.ident.wal // nil until the log is created
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := s.replaced(); err != nil {
		return err
	}
	if wal != nil {
		var st syscall.Stat_t
		if err := syscall.Fstat(int(wal.Fd()), &st); err != nil || st.Nlink == 0 {
			return fmt.Errorf("%w: %s was deleted while running: nothing more is confirmed to Telegram; restart asgigram", adapter.ErrSpoolUnavailable, wal.Name())
		}
	}
	if s.full.Load() {
		return s.fullError()
	}
	return nil
}

// replaced returns the error of Check for a directory or bbolt file
// removed or replaced while running (it wraps ErrSpoolUnavailable), or nil.
func (s *Spool) replaced() error {
	var st syscall.Stat_t
	if err := syscall.Stat(s.dir, &st); err != nil || st.Ino != s.ident.dirIno {
		return fmt.Errorf("%w: data directory %s was removed or replaced while running: nothing more is confirmed to Telegram; restore it or restart asgigram", adapter.ErrSpoolUnavailable, s.dir)
	}
	if err := syscall.Stat(s.path, &st); err != nil || st.Ino != s.ident.dbIno {
		return fmt.Errorf("%w: %s was removed or replaced while running: nothing more is confirmed to Telegram; restart asgigram", adapter.ErrSpoolUnavailable, s.path)
	}
	return nil
}

func (s *Spool) fullError() error {
	return fmt.Errorf("%w: the disk holding %s is full: polling is paused until there is room (free space on that file system)", adapter.ErrSpoolUnavailable, s.dir)
}

// BotDir returns the spool directory of bot botID under dataDir,
// "<data_dir>/<bot id>", first moving a spool left directly in dataDir by
// an earlier asgigram (one spool per data_dir) into it: the log first, then
// the bbolt file, each only if the target has none, so that a move
// interrupted half-way is finished by the next start. moved says whether it
// moved anything.
func BotDir(dataDir string, botID int64) (dir string, moved bool, err error) {
	dir = filepath.Join(dataDir, strconv.FormatInt(botID, 10))
	oldDB, oldWAL := filepath.Join(dataDir, FileName), filepath.Join(dataDir, WALName)
	newDB, newWAL := filepath.Join(dir, FileName), filepath.Join(dir, WALName)
	if !exists(oldDB) && !(exists(oldWAL) && exists(newDB) && !exists(newWAL)) {
		return dir, false, nil
	}
	if exists(oldDB) && exists(newDB) {
		return dir, false, fmt.Errorf("spool: there is a spool at %s (from an earlier asgigram) and one at %s: move the one that is not this bot's away", oldDB, newDB)
	}
	if err := mkdirAll(dir); err != nil {
		return dir, false, fmt.Errorf("spool: creating the directory: %w", accessError(dir, err))
	}
	for _, m := range [][2]string{{oldWAL, newWAL}, {oldDB, newDB}} {
		if !exists(m[0]) || exists(m[1]) {
			continue
		}
		if err := os.Rename(m[0], m[1]); err != nil {
			return dir, moved, fmt.Errorf("spool: moving %s: %w", m[0], accessError(m[0], err))
		}
		moved = true
	}
	if err := syncDir(dir); err != nil {
		return dir, moved, fmt.Errorf("spool: %w", accessError(dir, err))
	}
	if err := syncDir(dataDir); err != nil {
		return dir, moved, fmt.Errorf("spool: %w", accessError(dataDir, err))
	}
	return dir, moved, nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
