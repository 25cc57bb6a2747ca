package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/asgigram/asgigram/adapter"
)

// The write-ahead log, spool.wal next to spool.db. A bbolt commit syncs the
// file twice (its pages, then its meta page); fetching waits for the batch to
// be durable before confirming it to Telegram, so Append writes the batch to
// the log and syncs once, and the applier moves logged records into bbolt in
// the background, every Options.ApplyEvery, in one commit.
//
// Records (format v4) carry a log sequence number (LSN) that rises by one
// per record; bbolt keeps the LSN of the last record applied in the commit
// that applies it. Two kinds: a batch (fetched updates and the position that
// follows them; synced before Append returns) and a removal (the sequence
// numbers of finished deliveries; written, not synced: a write that returned
// survives the death of the process, and a removal lost in a power loss only
// delivers an update again).
//
// Records are written one after the other from the start of the file; when
// every record is applied, the next one starts the file again (rewriting
// blocks the file already has is the cheapest write to sync), so records of
// an earlier pass, with lower LSNs, normally follow the live ones. The live
// records are the chain from the start of the file whose LSNs rise by one;
// the chain ends at the first record that is not intact or whose LSN does not
// follow. What ends it tells normal operation from damage:
//   - a torn record (a crash in the middle of a write) is the last thing
//     written: nothing after it is a synced batch record with a higher LSN.
//     Only such a tail is repaired (dropped, and logged with its count): a
//     batch in it was never confirmed to Telegram, which sends it again.
//   - a synced batch record with a higher LSN anywhere after the end of the
//     chain, an LSN gap between the last applied record and the chain, or a
//     file shorter than the preallocated size (cut) is damage: Open refuses
//     with ErrDamaged, and `asgigram spool salvage` recovers what is intact.
//
// The file is created at its full size under a temporary name and renamed,
// so a log that exists is never short by accident. Close applies everything
// and records the last LSN as cleanly closed (the clean-close mark), so that
// a log missing after a clean stop is only recreated.
//
// The log is created when its first record is written (allocateWAL), not
// when the spool is opened: an idle spool has no log, and takes neither its
// 4 MiB nor a file descriptor. Until then bbolt keeps the clean-close mark
// (a new spool is created with it), which says that a missing log held
// nothing. The first write creates the log first, then clears the mark in a
// commit, then writes its record, so a crash at any point leaves either no
// log beside a set mark, or a whole log of full size (empty, or holding
// what was written): both open as they should, and a log cut or gone once
// the mark is cleared is still damage. Requeue and Bury write bbolt only and
// create no log.

// WALName is the write-ahead log's file inside the spool's directory.
const WALName = "spool.wal"

const (
	walMagic    = 0x41475732 // "AGW2": format v4
	walMagicV3  = 0x41475731 // "AGW1": format v3, read once to upgrade
	walHeader   = 4 + 8 + 4 + 4
	walPrealloc = 4 << 20  // written once, so that records rewrite allocated blocks
	applyBytes  = 16 << 20 // unapplied records beyond this are applied by Append itself
)

// Kinds of record (the first byte of a v4 payload).
const (
	recBatch   = 1
	recRemoval = 2
)

// walCutBelow is the size below which a log was cut: walPrealloc (a fuzz
// test lowers it, to read logs of a size it can mutate quickly).
var walCutBelow = walPrealloc

var (
	keyLSN     = []byte("wal_lsn")
	keyClean   = []byte("clean_lsn")
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// walRecord is one logged batch or removal.
type walRecord struct {
	lsn     uint64
	kind    byte
	next    int64 // batch: the offset that follows (0: none)
	epoch   uint32
	ups     []walUpdate
	removed []uint64 // removal: finished sequence numbers
	size    int
}

type walUpdate struct {
	seq uint64
	id  int64
	raw []byte
}

// encode writes the record: magic, lsn, payload length, crc32c of lsn and
// payload, then the payload. A batch: kind, next, epoch, count, and per
// update seq, id, length, raw; the record's updates then point into the
// returned bytes, so that it keeps no memory of the caller's. A removal:
// kind, count, and the sequence numbers.
func (r *walRecord) encode() []byte {
	n := 1 + 4
	if r.kind == recBatch {
		n += 8 + 4
		for _, u := range r.ups {
			n += 8 + 8 + 4 + len(u.raw)
		}
	} else {
		n += 8 * len(r.removed)
	}
	b := make([]byte, walHeader, walHeader+n)
	b = append(b, r.kind)
	if r.kind == recBatch {
		b = binary.BigEndian.AppendUint64(b, uint64(r.next))
		b = binary.BigEndian.AppendUint32(b, r.epoch)
		b = binary.BigEndian.AppendUint32(b, uint32(len(r.ups)))
		for i, u := range r.ups {
			b = binary.BigEndian.AppendUint64(b, u.seq)
			b = binary.BigEndian.AppendUint64(b, uint64(u.id))
			b = binary.BigEndian.AppendUint32(b, uint32(len(u.raw)))
			b = append(b, u.raw...) // within b's capacity: no copy of b
			r.ups[i].raw = b[len(b)-len(u.raw) : len(b) : len(b)]
		}
	} else {
		b = binary.BigEndian.AppendUint32(b, uint32(len(r.removed)))
		for _, seq := range r.removed {
			b = binary.BigEndian.AppendUint64(b, seq)
		}
	}
	binary.BigEndian.PutUint32(b[0:], walMagic)
	binary.BigEndian.PutUint64(b[4:], r.lsn)
	binary.BigEndian.PutUint32(b[12:], uint32(n))
	crc := crc32.Update(crc32.Checksum(b[4:12], castagnoli), castagnoli, b[walHeader:])
	binary.BigEndian.PutUint32(b[16:], crc)
	return b
}

// decodeRecord reads the v4 record at the start of b; ok is false for
// anything that is not a whole, intact record. past is true when the
// record's header is intact but its length runs past the end of b.
func decodeRecord(b []byte) (r walRecord, size int, ok, past bool) {
	if len(b) < walHeader || binary.BigEndian.Uint32(b) != walMagic {
		return r, 0, false, false
	}
	n := int(binary.BigEndian.Uint32(b[12:]))
	if n < 5 {
		return r, 0, false, false
	}
	if n > len(b)-walHeader {
		return r, 0, false, true
	}
	payload := b[walHeader : walHeader+n]
	if crc32.Update(crc32.Checksum(b[4:12], castagnoli), castagnoli, payload) != binary.BigEndian.Uint32(b[16:]) {
		return r, 0, false, false
	}
	r.lsn = binary.BigEndian.Uint64(b[4:])
	r.kind = payload[0]
	p := payload[1:]
	switch r.kind {
	case recBatch:
		if len(p) < 16 {
			return r, 0, false, false
		}
		r.next = int64(binary.BigEndian.Uint64(p))
		r.epoch = binary.BigEndian.Uint32(p[8:])
		count := int(binary.BigEndian.Uint32(p[12:]))
		p = p[16:]
		for range count {
			if len(p) < 20 {
				return r, 0, false, false
			}
			u := walUpdate{seq: binary.BigEndian.Uint64(p), id: int64(binary.BigEndian.Uint64(p[8:]))}
			l := int(binary.BigEndian.Uint32(p[16:]))
			if l > len(p)-20 {
				return r, 0, false, false
			}
			u.raw = p[20 : 20+l]
			p = p[20+l:]
			r.ups = append(r.ups, u)
			r.size += l
		}
	case recRemoval:
		if len(p) < 4 {
			return r, 0, false, false
		}
		count := int(binary.BigEndian.Uint32(p))
		p = p[4:]
		if len(p) != 8*count {
			return r, 0, false, false
		}
		for i := range count {
			r.removed = append(r.removed, binary.BigEndian.Uint64(p[8*i:]))
		}
		p = nil
	default:
		return r, 0, false, false
	}
	return r, walHeader + n, len(p) == 0, false
}

// logScan is what reading a log found.
type logScan struct {
	// live are the records of the chain above the last applied LSN, in
	// order; end is where the chain ends (the next record's place).
	live []walRecord
	end  int
	// torn is the number of bytes of an unfinished record dropped at the
	// end of the chain (0: none); tornBatch says it could have been a batch.
	torn int
	// damage says what is wrong ("" when nothing is).
	damage string
	// chainLast is the last LSN of the chain (0: empty).
	chainLast uint64
}

// scanLog reads a v4 log whose records up to applied are in bbolt.
func scanLog(data []byte, applied uint64) logScan {
	var sc logScan
	pos := 0
	var last uint64
	past := false
	for pos < len(data) {
		r, size, ok, runsPast := decodeRecord(data[pos:])
		if !ok {
			past = runsPast
			break
		}
		if last != 0 && r.lsn != last+1 {
			break // an earlier pass (lower LSN), or a gap (checked below)
		}
		last = r.lsn
		if r.lsn > applied {
			sc.live = append(sc.live, r)
		}
		pos += size
	}
	sc.end, sc.chainLast = pos, last
	switch {
	case len(sc.live) > 0 && sc.live[0].lsn != applied+1:
		sc.damage = fmt.Sprintf("records %d to %d are missing (the log starts at record %d, bbolt holds up to %d)", applied+1, sc.live[0].lsn-1, sc.live[0].lsn, applied)
		return sc
	case len(data) < walCutBelow:
		sc.damage = fmt.Sprintf("the log is %d bytes, shorter than the %d it is created with: it was cut", len(data), walCutBelow)
		return sc
	}
	// Anything after the chain end must be older than the chain, or an
	// unsynced tail: a synced batch record with a higher LSN after it means
	// the chain was broken in the middle.
	floor := max(last, applied)
	for p := nextMagic(data, pos+1); p >= 0 && p+walHeader <= len(data); p = nextMagic(data, p+1) {
		r, _, ok, _ := decodeRecord(data[p:])
		if ok && r.kind == recBatch && r.lsn > floor {
			sc.damage = fmt.Sprintf("record %d at byte %d is intact but the record before it (at byte %d) is not: the log is damaged in the middle", r.lsn, p, pos)
			return sc
		}
	}
	if pos < len(data) && !past {
		if hdr := data[pos:min(pos+walHeader, len(data))]; len(hdr) == walHeader && binary.BigEndian.Uint32(hdr) == walMagic &&
			binary.BigEndian.Uint64(hdr[4:]) == floor+1 {
			size := int(binary.BigEndian.Uint32(hdr[12:])) + walHeader
			// The next record's header right after it says this one was
			// written whole before it: damaged, not torn (even when the next
			// one is damaged too).
			if at := pos + size; at > pos && at+walHeader <= len(data) && binary.BigEndian.Uint32(data[at:]) == walMagic &&
				binary.BigEndian.Uint64(data[at+4:]) == floor+2 {
				sc.damage = fmt.Sprintf("record %d at byte %d is damaged, and record %d was written after it: the log is damaged at its end", floor+1, pos, floor+2)
				return sc
			}
			sc.torn = size
		}
	} else if past {
		sc.torn = len(data) - pos
	}
	return sc
}

// decodeRecordV3 reads a format v3 record (a batch without kind or epoch).
func decodeRecordV3(b []byte) (r walRecord, size int, ok bool) {
	if len(b) < walHeader || binary.BigEndian.Uint32(b) != walMagicV3 {
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
	r.kind = recBatch
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
	}
	return r, walHeader + n, len(p) == 0
}

// scanLogV3 reads a v3 log as v3 did: records in LSN order from the last
// applied one; a record that is not intact ends it.
func scanLogV3(data []byte, applied uint64) []walRecord {
	var out []walRecord
	next := applied + 1
	for pos := 0; pos < len(data); {
		r, size, ok := decodeRecordV3(data[pos:])
		if !ok {
			break
		}
		pos += size
		switch {
		case r.lsn < next:
			continue
		case r.lsn == next:
			out = append(out, r)
			next++
		default:
			pos = len(data)
		}
	}
	return out
}

// zeros fills a new log: one shared buffer rather than 4 MiB allocated per
// log, which a process of many bots creates one after another.
var zeros = make([]byte, 256<<10)

// createWAL makes a new, fully allocated log at path: written under a
// temporary name, synced, renamed, and the directory synced.
func createWAL(path string) error {
	tmp := path + ".new"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	for off := int64(0); off < walPrealloc; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros[:min(len(zeros), walPrealloc-int(off))], off); err != nil {
			f.Close()
			os.Remove(tmp)
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// openWAL opens the log, finds its live records (they are kept in memory as
// unapplied, for the applier) and positions the next record after them.
// clean says whether bbolt's state lets the log be missing: it then stays
// missing, with s.wal nil, until the first write creates it.
func (s *Spool) openWAL(path string, applied uint64, clean, fresh bool) error {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !clean {
			return damaged(path, "the write-ahead log is missing, and the spool was not closed cleanly: updates confirmed to Telegram may be lost")
		}
		// The first write creates it (allocateWAL). A spool that never
		// logged a record has applied none; one that has, had a log.
		if !fresh && applied > 0 {
			s.log.Warn("the write-ahead log was missing after a clean stop: a new one is created when the spool is next written", "path", path)
		}
		s.nextLSN = applied + 1
		s.cleanHeld = true
		return nil
	case err != nil:
		return fmt.Errorf("spool: reading the write-ahead log: %w", accessError(path, err))
	}
	sc := scanLog(data, applied)
	if sc.damage != "" {
		return damaged(path, sc.damage)
	}
	if sc.torn > 0 {
		s.log.Warn("the write-ahead log ends in a record that was being written when the process stopped: dropped it (its updates were never confirmed to Telegram, which sends them again)",
			"path", path, "bytes", sc.torn)
	}
	for _, r := range sc.live {
		s.addUnapplied(r)
	}
	s.walOff = int64(sc.end)
	s.nextLSN = max(sc.chainLast, applied) + 1
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("spool: opening the write-ahead log: %w", accessError(path, err))
	}
	s.wal = f
	if len(s.unapplied) == 0 {
		s.walOff = 0
	}
	return nil
}

// allocateWAL creates the log before its first record, when the spool has
// none: the file first (whole, see createWAL), then a commit that clears
// the clean-close mark, which would otherwise let a log that goes missing
// with records in it pass for one never written. A failure is returned
// and tried again by the next write; when the directory was removed or
// replaced meanwhile, it is Check's error, which pauses polling as a log
// deleted under a running spool does. Callers hold walMu.
func (s *Spool) allocateWAL() error {
	if s.wal == nil {
		if err := createWAL(s.walPath); err != nil {
			if rerr := s.replaced(); rerr != nil {
				return rerr
			}
			return fmt.Errorf("creating the log: %w", accessError(s.walPath, err))
		}
		f, err := os.OpenFile(s.walPath, os.O_RDWR, 0o600)
		if err != nil {
			if rerr := s.replaced(); rerr != nil {
				return rerr
			}
			return fmt.Errorf("opening the log: %w", accessError(s.walPath, err))
		}
		s.mu.Lock()
		s.wal, s.ident.wal = f, f
		s.mu.Unlock()
		s.walOff = 0
	}
	if s.cleanHeld {
		err := s.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyClean) })
		if err != nil {
			return fmt.Errorf("clearing the clean-close mark: %w", accessError(s.path, err))
		}
		s.cleanHeld = false
	}
	return nil
}

// addUnapplied keeps a logged record in memory until it is applied.
// Callers hold mu or own s.
func (s *Spool) addUnapplied(r walRecord) {
	switch r.kind {
	case recBatch:
		for _, u := range r.ups {
			s.logged[u.seq] = loggedUpdate{walUpdate: u, epoch: r.epoch}
			s.loggedIDs[idKey{r.epoch, u.id}] = u.seq
			s.nextSeq = max(s.nextSeq, u.seq+1)
		}
		s.count += len(r.ups)
		if r.next > 0 {
			s.pos = adapter.Position{Offset: r.next, Epoch: r.epoch}
		}
	case recRemoval:
		s.removals = append(s.removals, r.removed...)
	}
	s.unapplied = append(s.unapplied, r)
	s.unappliedBytes += r.size
}

// applyRecords writes logged records and finished removals into bbolt in
// one commit, with the LSN of the last record (and, when closing, that LSN
// as cleanly closed). It returns how many stored updates the removals
// deleted.
func (s *Spool) applyRecords(recs []walRecord, removals []uint64, closing bool) (int, error) {
	removed := 0
	err := s.update(func(tx *bolt.Tx) error {
		b, ids, meta := tx.Bucket(bucketUpdates), tx.Bucket(bucketIDs), tx.Bucket(bucketMeta)
		maxSeq := b.Sequence()
		var pos *adapter.Position
		for _, r := range recs {
			for _, u := range r.ups {
				if err := b.Put(u64(u.seq), record(adapter.Update{ID: u.id, Epoch: r.epoch, Raw: u.raw})); err != nil {
					return err
				}
				if err := ids.Put(idKey{r.epoch, u.id}.bytes(), u64(u.seq)); err != nil {
					return err
				}
				maxSeq = max(maxSeq, u.seq)
			}
			if r.kind == recBatch && r.next > 0 {
				pos = &adapter.Position{Offset: r.next, Epoch: r.epoch}
			}
		}
		if err := b.SetSequence(maxSeq); err != nil {
			return err
		}
		if pos != nil {
			if err := putPosition(meta, *pos); err != nil {
				return err
			}
		}
		lsn := s.appliedLSN
		if len(recs) > 0 {
			lsn = recs[len(recs)-1].lsn
			if err := meta.Put(keyLSN, u64(lsn)); err != nil {
				return err
			}
		}
		if s.pendingMeta != nil {
			for k, v := range s.pendingMeta {
				var err error
				if v == nil {
					err = meta.Delete([]byte(k))
				} else {
					err = meta.Put([]byte(k), v)
				}
				if err != nil {
					return err
				}
			}
		}
		if closing {
			if err := meta.Put(keyClean, u64(lsn)); err != nil {
				return err
			}
		}
		var err error
		removed, err = removeTx(tx, removals)
		return err
	})
	if err == nil {
		s.pendingMeta = nil
		if len(recs) > 0 {
			s.appliedLSN = recs[len(recs)-1].lsn
		}
	}
	return removed, err
}

// applier applies logged records every ApplyEvery while there are any,
// and ends when an apply was not followed by a write (kickApplier starts
// it again); while the disk is full it tries again every second.
func (s *Spool) applier() {
	s.applies.join()
	defer s.applies.leave()
	for {
		wait := s.applies.wait(s.applyEvery)
		if s.full.Load() {
			wait = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.closing:
			t.Stop()
			return // Close applies the rest
		}
		s.applies.take()
		err := s.apply(false)
		s.applies.give()
		if err != nil && s.full.Load() {
			continue
		}
		s.applierMu.Lock()
		if !s.kicked {
			s.applierOn = false
			s.applierMu.Unlock()
			return
		}
		s.kicked = false
		s.applierMu.Unlock()
	}
}

// apply moves every logged record and queued removal into bbolt. A full
// disk is not final: the records stay logged, new batches are refused
// (Check says why) and the next apply tries again. Any other failure is
// kept: the next Append returns it.
func (s *Spool) apply(closing bool) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.Lock()
	if s.applyErr != nil {
		defer s.mu.Unlock()
		return s.applyErr
	}
	recs, removals := s.unapplied, s.removals
	s.removals = nil
	s.mu.Unlock()
	if len(recs) == 0 && len(removals) == 0 && s.pendingMeta == nil && !closing {
		if s.full.Load() {
			return s.probeSpace()
		}
		return nil
	}
	removed, err := s.applyRecords(recs, removals, closing)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.removals = append(removals, s.removals...)
		if isNoSpace(err) {
			if !s.full.Swap(true) {
				s.log.Error("the disk is full: polling paused; the updates already stored are still delivered; free space on the spool's file system and polling resumes by itself",
					"path", s.dir, logErr, err)
			}
			return fmt.Errorf("spool: storing logged updates: %w", err)
		}
		s.applyErr = fmt.Errorf("spool: storing logged updates: %w", err)
		return s.applyErr
	}
	if s.full.Swap(false) {
		s.log.Info("the disk has room again: polling resumes", "path", s.dir)
	}
	for _, r := range recs {
		for _, u := range r.ups {
			delete(s.logged, u.seq)
			if k := (idKey{r.epoch, u.id}); s.loggedIDs[k] == u.seq {
				delete(s.loggedIDs, k)
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
