package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/asgigram/asgigram/adapter"
)

// The write-ahead log, spool.wal next to spool.db. A bbolt commit syncs the
// file twice (its pages, then its meta page); fetching waits for the batch to
// be durable before confirming it to Telegram, so Append writes the batch to
// the log and syncs once, and the applier moves logged batches into bbolt in
// the background, every Options.ApplyEvery, in one commit. Removals are not logged:
// a removal lost in a crash only delivers an update again.
//
// Each record carries a log sequence number (LSN); bbolt keeps the LSN of
// the last record applied in the same commit that applies it. When every
// record is applied, the next one is written at the start of the file again:
// rewriting blocks the file already has is the cheapest write to sync. Open
// replays, in LSN order from the last applied one, the records whose checksum
// holds; older records left further in the file are skipped, and a torn
// record (a crash during Append) ends the log: its batch was never
// confirmed, so Telegram sends it again.

// WALName is the write-ahead log's file inside data_dir.
const WALName = "spool.wal"

const (
	walMagic    = 0x41475731 // "AGW1"
	walHeader   = 4 + 8 + 4 + 4
	walPrealloc = 4 << 20  // written once, so that records rewrite allocated blocks
	applyBytes  = 16 << 20 // unapplied records beyond this are applied by Append itself
)

var (
	keyLSN     = []byte("wal_lsn")
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// walRecord is one logged batch.
type walRecord struct {
	lsn  uint64
	next int64
	ups  []walUpdate
	size int
}

type walUpdate struct {
	seq uint64
	id  int64
	raw []byte
}

// encode writes the record: magic, lsn, payload length, crc32c of lsn and
// payload, then the payload: next, count, and per update seq, id, length,
// raw. The record's updates then point into the returned bytes, so that it
// keeps no memory of the caller's.
func (r *walRecord) encode() []byte {
	n := 8 + 4
	for _, u := range r.ups {
		n += 8 + 8 + 4 + len(u.raw)
	}
	b := make([]byte, walHeader, walHeader+n)
	b = binary.BigEndian.AppendUint64(b, uint64(r.next))
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.ups)))
	for i, u := range r.ups {
		b = binary.BigEndian.AppendUint64(b, u.seq)
		b = binary.BigEndian.AppendUint64(b, uint64(u.id))
		b = binary.BigEndian.AppendUint32(b, uint32(len(u.raw)))
		b = append(b, u.raw...) // within b's capacity: no copy of b
		r.ups[i].raw = b[len(b)-len(u.raw) : len(b) : len(b)]
	}
	binary.BigEndian.PutUint32(b[0:], walMagic)
	binary.BigEndian.PutUint64(b[4:], r.lsn)
	binary.BigEndian.PutUint32(b[12:], uint32(n))
	crc := crc32.Update(crc32.Checksum(b[4:12], castagnoli), castagnoli, b[walHeader:])
	binary.BigEndian.PutUint32(b[16:], crc)
	return b
}

// decodeRecord reads the record at the start of b; ok is false for
// anything that is not a whole, intact record.
func decodeRecord(b []byte) (r walRecord, size int, ok bool) {
	if len(b) < walHeader || binary.BigEndian.Uint32(b) != walMagic {
		return r, 0, false
	}
	n := int(binary.BigEndian.Uint32(b[12:]))
	if n < 12 || n > len(b)-walHeader {
		return r, 0, false
	}
	payload := b[walHeader : walHeader+n]
	if crc32.Update(crc32.Checksum(b[4:12], castagnoli), castagnoli, payload) != binary.BigEndian.Uint32(b[16:]) {
		return r, 0, false
	}
	r.lsn = binary.BigEndian.Uint64(b[4:])
	r.next = int64(binary.BigEndian.Uint64(payload))
	count := int(binary.BigEndian.Uint32(payload[8:]))
	p := payload[12:]
	for range count {
		if len(p) < 20 {
			return r, 0, false
		}
		u := walUpdate{seq: binary.BigEndian.Uint64(p), id: int64(binary.BigEndian.Uint64(p[8:]))}
		l := int(binary.BigEndian.Uint32(p[16:]))
		if l > len(p)-20 {
			return r, 0, false
		}
		u.raw = p[20 : 20+l]
		p = p[20+l:]
		r.ups = append(r.ups, u)
		r.size += l
	}
	return r, walHeader + n, len(p) == 0
}

// openWAL opens the log, replays into bbolt the records not yet applied and
// returns the file, positioned for the next record at the start.
func (s *Spool) openWAL(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("spool: opening the write-ahead log: %w", err)
	}
	if s.fresh {
		// A log beside a new spool belongs to a spool that is gone.
		if err := f.Truncate(0); err != nil {
			f.Close()
			return fmt.Errorf("spool: resetting the write-ahead log: %w", err)
		}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("spool: reading the write-ahead log %s: %w", path, err)
	}
	var applied uint64
	if err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyLSN); len(v) == 8 {
			applied = binary.BigEndian.Uint64(v)
		}
		return nil
	}); err != nil {
		f.Close()
		return err
	}
	var replay []walRecord
	next := applied + 1
	for pos := 0; pos < len(data); {
		r, size, ok := decodeRecord(data[pos:])
		if !ok {
			break // the end of the log, or a torn record: never confirmed
		}
		pos += size
		switch {
		case r.lsn < next:
			continue // applied before; older records may follow, skip them too
		case r.lsn == next:
			replay = append(replay, r)
			next++
		default:
			pos = len(data) // a gap: what follows is not this log's
		}
	}
	if len(replay) > 0 {
		if _, err := s.applyRecords(replay, nil); err != nil {
			f.Close()
			return fmt.Errorf("spool: replaying the write-ahead log: %w", err)
		}
	}
	if len(data) < walPrealloc {
		if _, err := f.WriteAt(make([]byte, walPrealloc-len(data)), int64(len(data))); err != nil {
			f.Close()
			return fmt.Errorf("spool: preparing the write-ahead log: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("spool: preparing the write-ahead log: %w", err)
		}
		// A new file (this one, and the bbolt file beside it) exists after a
		// power loss only once its directory entry is synced too.
		if err := syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return fmt.Errorf("spool: preparing the write-ahead log: %w", err)
		}
	}
	s.wal = f
	s.nextLSN = next
	s.walOff = 0
	return nil
}

// applyRecords writes logged records and finished removals into bbolt in
// one commit, with the LSN of the last record. It returns how many stored
// updates the removals deleted.
func (s *Spool) applyRecords(recs []walRecord, removals []uint64) (int, error) {
	removed := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, ids, meta := tx.Bucket(bucketUpdates), tx.Bucket(bucketIDs), tx.Bucket(bucketMeta)
		maxSeq := b.Sequence()
		var off int64
		for _, r := range recs {
			for _, u := range r.ups {
				if err := b.Put(u64(u.seq), record(adapter.Update{ID: u.id, Raw: u.raw})); err != nil {
					return err
				}
				if err := ids.Put(i64(u.id), u64(u.seq)); err != nil {
					return err
				}
				maxSeq = max(maxSeq, u.seq)
			}
			if r.next > 0 {
				off = r.next
			}
		}
		if err := b.SetSequence(maxSeq); err != nil {
			return err
		}
		if off > 0 {
			if err := meta.Put(keyOffset, i64(off)); err != nil {
				return err
			}
		}
		if len(recs) > 0 {
			if err := meta.Put(keyLSN, u64(recs[len(recs)-1].lsn)); err != nil {
				return err
			}
		}
		var err error
		removed, err = removeTx(tx, removals)
		return err
	})
	return removed, err
}

// applier applies logged records every ApplyEvery while there are any,
// and sleeps otherwise.
func (s *Spool) applier() {
	defer close(s.applierDone)
	for {
		select {
		case <-s.kick:
		case <-s.closing:
			return
		}
		select {
		case <-time.After(s.applyEvery):
		case <-s.closing:
			return
		}
		s.apply()
	}
}

// apply moves every logged record and queued removal into bbolt. A failure
// is kept: the next Append returns it (the adapter stops; the log still
// holds the records for the next start).
func (s *Spool) apply() error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.Lock()
	recs, removals := s.unapplied, s.removals
	s.removals = nil
	s.mu.Unlock()
	if len(recs) == 0 && len(removals) == 0 {
		return nil
	}
	removed, err := s.applyRecords(recs, removals)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.removals = append(removals, s.removals...)
		if s.applyErr == nil {
			s.applyErr = fmt.Errorf("spool: storing logged updates: %w", err)
		}
		return s.applyErr
	}
	for _, r := range recs {
		for _, u := range r.ups {
			delete(s.logged, u.seq)
			if s.loggedIDs[u.id] == u.seq {
				delete(s.loggedIDs, u.id)
			}
		}
		s.unappliedBytes -= r.size
	}
	s.unapplied = append([]walRecord(nil), s.unapplied[len(recs):]...)
	s.count -= removed
	return nil
}

// syncDir makes the directory's entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// errClosed is returned by calls after Close.
var errClosed = errors.New("spool: closed")
