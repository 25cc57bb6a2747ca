package spool

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/asgigram/asgigram/adapter"
)

// Reading a spool without changing it, for `asgigram spool check` and
// `asgigram spool salvage`: the bbolt file is opened read-only (a shared
// lock, so a running asgigram is noticed), the log is read whole, and
// nothing is written, truncated or created. Every bbolt call runs under
// guard: damage becomes a finding, never a crash. Where a bucket cannot be
// read to its end, it is read from its other end too, so that only the
// records in the damaged pages are missing.

// ErrNoSpool is returned when a directory holds no spool files.
var ErrNoSpool = errors.New("no spool here")

// stored is an update read from the spool.
type stored struct {
	seq   uint64
	epoch uint32
	id    int64
	raw   []byte
}

// deadRaw is a dead letter as stored (JSON), with its id.
type deadRaw struct {
	id  uint64
	raw []byte
}

// lostRange is a run of stored records that could not be read: the keys
// of the records read on either side (0: none on that side).
type lostRange struct {
	bucket      string
	after, upTo uint64 // keys read around the damage
	what        string
}

// contents is everything a read-only reading of a spool directory found.
type contents struct {
	dir, dbPath, walPath string

	lock *os.File // the shared lock on the bbolt file; closed by close

	dbExists, dbEmpty bool
	dbOpened          bool // bbolt opened and its meta bucket read
	dbForeign         string
	format            string
	botID             int64
	apiURL            string
	dbPos             adapter.Position
	applied           uint64
	clean             bool

	updates []stored // from bbolt, in seq order
	dead    []deadRaw
	dbLost  []lostRange

	pagesRead    bool // the pages were read directly (pages.go)
	pagesUnknown int  // damaged pages found then

	walExists bool
	walSize   int
	walLive   []walRecord // intact records above applied, in LSN order
	walTorn   int
	walTail   bool // bytes after the last intact live record may be lost records
	walV3     bool

	damage []Finding
	notes  []string
}

// Finding is one damage found in a spool: the file and what is wrong.
type Finding struct {
	Path, What string
}

func (c *contents) damaged(path, format string, args ...any) {
	c.damage = append(c.damage, Finding{path, fmt.Sprintf(format, args...)})
}

func (c *contents) close() {
	if c.lock != nil {
		c.lock.Close()
		c.lock = nil
	}
}

// readSpool reads the spool in dir without changing anything. Its error
// is for what stops the reading (no spool, access, another process); damage
// is in contents.damage. The caller closes the result.
func readSpool(dir string, lockTimeout time.Duration) (*contents, error) {
	c := &contents{dir: dir, dbPath: filepath.Join(dir, FileName), walPath: filepath.Join(dir, WALName)}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: %w (the directory does not exist)", dir, ErrNoSpool)
	case err != nil:
		return nil, accessError(dir, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	dbFi, dbErr := os.Stat(c.dbPath)
	walData, walErr := os.ReadFile(c.walPath)
	switch {
	case dbErr == nil:
		c.dbExists, c.dbEmpty = true, dbFi.Size() == 0
	case !errors.Is(dbErr, fs.ErrNotExist):
		return nil, accessError(c.dbPath, dbErr)
	}
	switch {
	case walErr == nil:
		c.walExists, c.walSize = true, len(walData)
	case !errors.Is(walErr, fs.ErrNotExist):
		return nil, accessError(c.walPath, walErr)
	}
	if !c.dbExists && !c.walExists {
		return nil, fmt.Errorf("%s: %w (neither %s nor %s)", dir, ErrNoSpool, FileName, WALName)
	}
	if c.dbExists {
		if err := c.lockShared(lockTimeout); err != nil {
			return nil, err
		}
		if !c.dbEmpty {
			if err := c.readDB(lockTimeout); err != nil {
				c.close()
				return nil, err
			}
		}
	}
	c.readLog(walData)
	return c, nil
}

// lockShared takes a shared lock on the bbolt file, as a read-only bbolt
// does: a running asgigram (which holds it exclusively) makes it fail.
func (c *contents) lockShared(timeout time.Duration) error {
	f, err := os.Open(c.dbPath)
	if err != nil {
		return accessError(c.dbPath, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if err == nil {
			c.lock = f
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return fmt.Errorf("%s: %w: stop it first", c.dbPath, ErrLocked)
			}
			return accessError(c.dbPath, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// boltMeta is what the raw meta pages of a bbolt file say.
type boltMeta struct {
	pageSize       int
	freelist, hwm  uint64 // the freelist's page, the high-water mark
	freelistLength uint64 // pages of the freelist (1 + overflow)
}

// rawMeta reads the valid meta page with the highest transaction id, as
// bbolt does, straight from the file: Open must not be trusted to check
// what its consistency check later reads in another goroutine, where a
// fault could not be recovered.
func rawMeta(path string) (boltMeta, error) {
	f, err := os.Open(path)
	if err != nil {
		return boltMeta{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return boltMeta{}, err
	}
	const magic = 0xED0CDAED
	var best boltMeta
	var bestTx uint64
	found := false
	at := int64(0)
	for range 2 { // meta 0 on page 0, meta 1 on page 1
		buf := make([]byte, 16+80)
		if _, err := f.ReadAt(buf, at); err != nil {
			break
		}
		m := buf[16:]
		le := binary.LittleEndian
		ps := int64(os.Getpagesize())
		if le.Uint32(m) == magic && le.Uint32(m[4:]) == 2 {
			h := fnv.New64a()
			h.Write(m[:56])
			bm := boltMeta{pageSize: int(le.Uint32(m[8:])), freelist: le.Uint64(m[32:]), hwm: le.Uint64(m[40:])}
			if h.Sum64() == le.Uint64(m[56:]) {
				if tx := le.Uint64(m[48:]); !found || tx > bestTx {
					best, bestTx, found = bm, tx, true
				}
			}
			if bm.pageSize >= 512 && bm.pageSize <= 1<<20 {
				ps = int64(bm.pageSize)
			}
		}
		if at > 0 {
			break
		}
		at = ps
	}
	if !found {
		return boltMeta{}, errors.New("no valid meta page")
	}
	if best.pageSize < 512 || best.pageSize > 1<<20 {
		return boltMeta{}, fmt.Errorf("page size %d is not plausible", best.pageSize)
	}
	if need := int64(best.hwm) * int64(best.pageSize); fi.Size() < need {
		return best, fmt.Errorf("the file is %d bytes, but its pages reach %d: it was cut", fi.Size(), need)
	}
	best.freelistLength = 1
	if best.freelist != ^uint64(0) {
		if best.freelist >= best.hwm {
			return best, fmt.Errorf("the free list is at page %d, past the last page %d", best.freelist, best.hwm-1)
		}
		hdr := make([]byte, 16)
		if _, err := f.ReadAt(hdr, int64(best.freelist)*int64(best.pageSize)); err == nil {
			best.freelistLength += uint64(binary.LittleEndian.Uint32(hdr[12:]))
		}
		if best.freelist+best.freelistLength > best.hwm {
			return best, fmt.Errorf("the free list at page %d runs past the last page %d", best.freelist, best.hwm-1)
		}
	}
	return best, nil
}

// readDB reads the bbolt file read-only: its meta, every readable update
// and dead letter, and the findings of bbolt's consistency check.
func (c *contents) readDB(lockTimeout time.Duration) error {
	_, metaErr := rawMeta(c.dbPath)
	if metaErr != nil && !errors.Is(metaErr, fs.ErrPermission) {
		c.damaged(c.dbPath, "not a sound bbolt file: %v", metaErr)
	}
	var db *bolt.DB
	err := guard(c.dbPath, func() error {
		var err error
		db, err = bolt.Open(c.dbPath, 0o600, &bolt.Options{ReadOnly: true, Timeout: lockTimeout})
		return err
	})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return fmt.Errorf("%s: %w: stop it first", c.dbPath, ErrLocked)
	case errors.Is(err, fs.ErrPermission):
		return accessError(c.dbPath, err)
	case err != nil:
		if metaErr == nil {
			c.damaged(c.dbPath, "bbolt cannot open it: %v", err)
		}
		c.notes = append(c.notes, c.addPages())
		return nil
	}
	defer db.Close()
	err = guard(c.dbPath, func() error {
		return db.View(func(tx *bolt.Tx) error {
			m := tx.Bucket(bucketMeta)
			if m == nil {
				_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
					c.dbForeign = string(name)
					return errors.New("stop")
				})
				return nil
			}
			c.dbOpened = true
			c.format = string(m.Get(keyFormat))
			if v := m.Get(keyBotID); len(v) == 8 {
				c.botID = int64(binary.BigEndian.Uint64(v))
			}
			c.apiURL = string(m.Get(keyAPIURL))
			c.dbPos = getPosition(m)
			if v := m.Get(keyLSN); len(v) == 8 {
				c.applied = binary.BigEndian.Uint64(v)
			}
			if v := m.Get(keyClean); len(v) == 8 && binary.BigEndian.Uint64(v) == c.applied {
				c.clean = true
			}
			for _, b := range [][]byte{bucketUpdates, bucketIDs, bucketDead} {
				if tx.Bucket(b) == nil {
					c.damaged(c.dbPath, "bucket %q is missing", b)
				}
			}
			return nil
		})
	})
	if err != nil {
		c.damaged(c.dbPath, "reading its meta data failed: %v", damageText(err))
		c.notes = append(c.notes, c.addPages())
		return nil
	}
	if !c.dbOpened {
		return nil
	}
	switch c.format {
	case format, formatV3, formatV2:
	default:
		return fmt.Errorf("%s has format %q: not a format this asgigram knows (a newer asgigram wrote it?)", c.dbPath, c.format)
	}
	v4 := c.format == format
	c.readBucket(db, bucketUpdates, func(k, v []byte) {
		seq := binary.BigEndian.Uint64(k)
		u := stored{seq: seq}
		switch {
		case v4 && len(v) >= 12:
			u.epoch, u.id, u.raw = binary.BigEndian.Uint32(v), int64(binary.BigEndian.Uint64(v[4:])), bytes.Clone(v[12:])
		case !v4 && len(v) >= 8:
			u.id, u.raw = int64(binary.BigEndian.Uint64(v)), bytes.Clone(v[8:])
		default:
			c.damaged(c.dbPath, "stored record #%d is %d bytes, too short to be an update", seq, len(v))
			return
		}
		c.updates = append(c.updates, u)
	})
	c.readBucket(db, bucketDead, func(k, v []byte) {
		c.dead = append(c.dead, deadRaw{id: binary.BigEndian.Uint64(k), raw: bytes.Clone(v)})
	})
	c.readBucket(db, bucketIDs, func(_, _ []byte) {})
	if len(c.dbLost) > 0 {
		c.notes = append(c.notes, c.addPages())
	}
	if metaErr != nil || len(c.dbLost) > 0 {
		return nil // the check would read the damage again, in a goroutine where a fault cannot be caught
	}
	var errs []string
	total := 0
	err = guard(c.dbPath, func() error {
		return db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				total++
				if len(errs) < 5 {
					errs = append(errs, err.Error())
				}
			}
			return nil
		})
	})
	if err != nil {
		c.damaged(c.dbPath, "bbolt's check failed: %v", damageText(err))
	}
	if total > 0 {
		more := ""
		if total > len(errs) {
			more = fmt.Sprintf(" (and %d more)", total-len(errs))
		}
		c.damaged(c.dbPath, "bbolt's check found %d problem(s): %s%s", total, joinErrs(errs), more)
	}
	return nil
}

func joinErrs(errs []string) string {
	var b bytes.Buffer
	for i, e := range errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e)
	}
	return b.String()
}

// damageText is the damage of a guard error, without the advice.
func damageText(err error) string {
	var de *DamageError
	if errors.As(err, &de) {
		return de.Damage
	}
	return err.Error()
}

// readBucket calls fn for every record of bucket name it can read: from
// the first key on; if that stops at damage, from the last key backwards
// too, down to the last key read forwards. What lies between is recorded
// as lost.
func (c *contents) readBucket(db *bolt.DB, name []byte, fn func(k, v []byte)) {
	var last []byte // the last key read forwards
	fwdErr := guard(c.dbPath, func() error {
		return db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(name)
			if b == nil {
				return nil
			}
			cur := b.Cursor()
			for k, v := cur.First(); k != nil; k, v = cur.Next() {
				if v == nil && b.Bucket(k) != nil {
					continue
				}
				fn(k, v)
				last = bytes.Clone(k)
			}
			return nil
		})
	})
	if fwdErr == nil {
		return
	}
	var first []byte // the first key read backwards
	var back [][2][]byte
	bwdErr := guard(c.dbPath, func() error {
		return db.View(func(tx *bolt.Tx) error {
			cur := tx.Bucket(name).Cursor()
			for k, v := cur.Last(); k != nil; k, v = cur.Prev() {
				if last != nil && bytes.Compare(k, last) <= 0 {
					break
				}
				back = append(back, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
				first = bytes.Clone(k)
			}
			return nil
		})
	})
	slices.Reverse(back)
	for _, kv := range back {
		fn(kv[0], kv[1])
	}
	lr := lostRange{bucket: string(name), what: damageText(fwdErr)}
	if len(last) == 8 {
		lr.after = binary.BigEndian.Uint64(last)
	}
	if len(first) == 8 {
		lr.upTo = binary.BigEndian.Uint64(first)
	}
	c.dbLost = append(c.dbLost, lr)
	msg := fmt.Sprintf("bucket %q cannot be read to its end: %s", name, lr.what)
	if bwdErr != nil {
		msg += "; reading it backwards failed too: " + damageText(bwdErr)
	}
	c.damaged(c.dbPath, "%s", msg)
}

// readLog finds the log's damage as Open would, and every intact record
// above the last applied one: those of the chain and those after a break
// in it. Records of an earlier pass (lower LSNs, after the live ones) are
// left out: in file order, a record is kept only when its LSN is above
// every LSN before it.
func (c *contents) readLog(data []byte) {
	fresh := !c.dbExists || c.dbEmpty
	switch {
	case !c.walExists:
		if !fresh && c.dbOpened && !c.clean {
			c.damaged(c.walPath, "the write-ahead log is missing, and the spool was not closed cleanly: updates confirmed to Telegram may be lost")
		}
		return
	case c.dbOpened && c.format != format:
		c.walV3 = true
		c.walLive = scanLogV3(data, c.applied)
		return
	}
	if fresh {
		if lsn, ok := intactRecordIn(c.walPath); ok {
			c.damaged(c.dbPath, "the bbolt file is missing or empty, but the write-ahead log beside it holds record %d: the updates in it were confirmed to Telegram", lsn)
		}
	} else if c.dbOpened {
		sc := scanLog(data, c.applied)
		if sc.damage != "" {
			c.damaged(c.walPath, "%s", sc.damage)
		} else if sc.torn > 0 {
			c.walTorn = sc.torn
			c.notes = append(c.notes, fmt.Sprintf("the log ends in a record that was being written when the process stopped (%d bytes): asgigram drops it at start; its updates were never confirmed to Telegram", sc.torn))
		}
	}
	var end int
	c.walLive, end = intactRecords(data, c.applied, !c.dbOpened)
	// What follows the last intact live record: nothing (a cut), zeros (a
	// new log's), or bytes that are no intact record (damaged records, or an
	// earlier pass's that a later record cut into).
	c.walTail = len(c.walLive) == 0 || end >= len(data)
	if !c.walTail {
		if _, _, ok, _ := decodeRecord(data[end:]); !ok && slices.ContainsFunc(data[end:min(end+walHeader, len(data))], func(b byte) bool { return b != 0 }) {
			c.walTail = true
		}
	}
}

// intactRecords returns the intact v4 records of data whose LSN is above
// applied and above the LSN of every intact record before them in the
// file, in file (and so LSN) order; end is where the last of them ends.
// With all set (bbolt cannot say what it holds) it returns every intact
// record, in LSN order: records of earlier passes may then hold the only
// copy of updates bbolt held; those already delivered come again.
func intactRecords(data []byte, applied uint64, all bool) (recs []walRecord, end int) {
	var top uint64
	for p := 0; p+walHeader <= len(data); {
		if binary.BigEndian.Uint32(data[p:]) != walMagic {
			next := nextMagic(data, p+1)
			if next < 0 {
				break
			}
			p = next
			continue
		}
		r, size, ok, _ := decodeRecord(data[p:])
		if !ok {
			p++
			continue
		}
		if r.lsn > top || all {
			top = max(top, r.lsn)
			if r.lsn > applied {
				recs = append(recs, r)
				end = p + size
			}
		}
		p += size
	}
	if all {
		slices.SortStableFunc(recs, func(a, b walRecord) int { return cmp.Compare(a.lsn, b.lsn) })
		recs = slices.CompactFunc(recs, func(a, b walRecord) bool { return a.lsn == b.lsn })
	}
	return recs, end
}

// magicBytes is walMagic as it is written.
var magicBytes = binary.BigEndian.AppendUint32(nil, walMagic)

// nextMagic returns where the next record magic at or after from starts in
// data, or -1.
func nextMagic(data []byte, from int) int {
	if from >= len(data) {
		return -1
	}
	i := bytes.Index(data[from:], magicBytes)
	if i < 0 {
		return -1
	}
	return from + i
}
