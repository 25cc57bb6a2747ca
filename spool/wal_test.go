package spool_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/spool"
)

// crashCopy copies the spool's files as they are on disk now, as a crash at
// this moment would leave them, into a new directory.
func crashCopy(t *testing.T, dir string) string {
	t.Helper()
	to := t.TempDir()
	for _, name := range []string{spool.FileName, spool.WALName} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(to, name), b, 0o600))
	}
	return to
}

// openSlow opens a spool whose applier does not run during a test: what
// Append wrote is only in the log until Scan or Close applies it.
func openSlow(t *testing.T, dir string) *spool.Spool {
	t.Helper()
	s, err := spool.Open(dir, spool.Options{ApplyEvery: time.Hour})
	require.NoError(t, err)
	return s
}

func scanIDs(t *testing.T, s *spool.Spool) []int64 {
	t.Helper()
	var ids []int64
	require.NoError(t, s.Scan(func(_ uint64, u adapter.Update) error {
		ids = append(ids, u.ID)
		return nil
	}))
	return ids
}

// TestLoggedBatchesSurviveACrash: once Append returned, its batch and offset
// are durable although only the log has them.
func TestLoggedBatchesSurviveACrash(t *testing.T) {
	dir := t.TempDir()
	s := openSlow(t, dir)
	defer s.Close()
	_, err := s.Append([]adapter.Update{upd(1), upd(2)}, adapter.Position{Offset: 3})
	require.NoError(t, err)
	_, err = s.Append([]adapter.Update{upd(3)}, adapter.Position{Offset: 4})
	require.NoError(t, err)
	u, err := s.Get(2)
	require.NoError(t, err)
	assert.Equal(t, int64(2), u.ID, "a logged update is readable before it is applied")

	c := open(t, crashCopy(t, dir))
	defer c.Close()
	assert.Equal(t, []int64{1, 2, 3}, scanIDs(t, c))
	off := offsetOf(t, c)
	assert.Equal(t, int64(4), off)
	assert.Equal(t, 3, c.Len())
	seqs, err := c.Append([]adapter.Update{upd(3), upd(4)}, adapter.Position{Offset: 5})
	require.NoError(t, err)
	assert.Equal(t, []uint64{0, 4}, seqs, "replayed ids are known, sequences continue")
}

// TestTornRecordEndsTheLog: a crash in the middle of writing a record
// leaves it torn; the records before it are replayed, and it is not (its
// batch was never confirmed to Telegram, which sends it again).
func TestTornRecordEndsTheLog(t *testing.T) {
	dir := t.TempDir()
	s := openSlow(t, dir)
	defer s.Close()
	_, err := s.Append([]adapter.Update{upd(1)}, adapter.Position{Offset: 2})
	require.NoError(t, err)
	_, err = s.Append([]adapter.Update{upd(2)}, adapter.Position{Offset: 3})
	require.NoError(t, err)
	to := crashCopy(t, dir)
	wal := filepath.Join(to, spool.WALName)
	b, err := os.ReadFile(wal)
	require.NoError(t, err)
	// Flip a byte inside the second record's update.
	second := len(`{"update_id":1,"message":{"chat":{"id":1}}}`) + 20 + 12 + 20
	i := second + 20 + 12 + 20 + 3
	b[i] ^= 0xff
	require.NoError(t, os.WriteFile(wal, b, 0o600))

	c := open(t, to)
	defer c.Close()
	assert.Equal(t, []int64{1}, scanIDs(t, c))
	off := offsetOf(t, c)
	assert.Equal(t, int64(2), off, "the offset of the last intact record")
}

// TestOldRecordsAreNotReplayedAgain: after everything was applied, the log
// starts again at the beginning of the file; the applied records left
// further in it are not replayed, and removed updates stay removed.
func TestOldRecordsAreNotReplayedAgain(t *testing.T) {
	dir := t.TempDir()
	s := openSlow(t, dir)
	defer s.Close()
	seqs, err := s.Append([]adapter.Update{upd(1), upd(2), upd(3)}, adapter.Position{Offset: 4})
	require.NoError(t, err)
	require.NoError(t, s.Remove(seqs))
	assert.Empty(t, scanIDs(t, s), "Scan applies the log and the removals first")
	_, err = s.Append([]adapter.Update{upd(4)}, adapter.Position{Offset: 5})
	require.NoError(t, err)

	c := open(t, crashCopy(t, dir))
	defer c.Close()
	assert.Equal(t, []int64{4}, scanIDs(t, c))
	off := offsetOf(t, c)
	assert.Equal(t, int64(5), off)
}

// TestCleanCloseLeavesNothingToReplay: Close applies the log; a new spool
// next to an old log ignores it.
func TestCleanCloseLeavesNothingToReplay(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	_, err := s.Append([]adapter.Update{upd(7)}, adapter.Position{Offset: 8})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	db, err := bolt.Open(filepath.Join(dir, spool.FileName), 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		assert.Equal(t, 1, tx.Bucket([]byte("updates")).Stats().KeyN, "applied at Close")
		return nil
	}))
	require.NoError(t, db.Close())

	// The bbolt file is removed by hand: the log beside it holds records
	// that may have been confirmed to Telegram, so the spool refuses to
	// start empty; without the log it starts afresh.
	logOnly := crashCopy(t, dir)
	require.NoError(t, os.Remove(filepath.Join(logOnly, spool.FileName)))
	_, err = spool.Open(logOnly, spool.Options{})
	require.ErrorIs(t, err, spool.ErrDamaged)
	assert.Contains(t, err.Error(), "missing or empty")
	require.NoError(t, os.Remove(filepath.Join(logOnly, spool.WALName)))
	c := open(t, logOnly)
	defer c.Close()
	assert.Empty(t, scanIDs(t, c))
}

// TestVersion2FileIsUpgraded: a spool written before the log opens, keeps
// its updates, and is marked v4 (an older asgigram then refuses it).
func TestVersion2FileIsUpgraded(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, spool.FileName), 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket([]byte("meta"))
		require.NoError(t, meta.Put([]byte("format"), []byte("asgigram-spool-v2")))
		ups, _ := tx.CreateBucket([]byte("updates"))
		ids, _ := tx.CreateBucket([]byte("ids"))
		_, _ = tx.CreateBucket([]byte("dead"))
		rec := append([]byte{0, 0, 0, 0, 0, 0, 0, 9}, upd(9).Raw...)
		require.NoError(t, ups.Put([]byte{0, 0, 0, 0, 0, 0, 0, 1}, rec))
		require.NoError(t, ups.SetSequence(1))
		return ids.Put([]byte{0, 0, 0, 0, 0, 0, 0, 9}, []byte{0, 0, 0, 0, 0, 0, 0, 1})
	}))
	require.NoError(t, db.Close())
	s := open(t, dir)
	assert.Equal(t, []int64{9}, scanIDs(t, s))
	seqs, err := s.Append([]adapter.Update{upd(9), upd(10)}, adapter.Position{Offset: 11})
	require.NoError(t, err)
	assert.Equal(t, []uint64{0, 2}, seqs)
	require.NoError(t, s.Close())
	db, err = bolt.Open(filepath.Join(dir, spool.FileName), 0o600, nil)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		assert.Equal(t, "asgigram-spool-v4", string(tx.Bucket([]byte("meta")).Get([]byte("format"))))
		return nil
	}))
}

// TestLogStaysBounded: with records always waiting (the applier never runs
// here), the log is applied when it fills up and starts again, so the file
// stays near its preallocated size; nothing is lost on the way.
func TestLogStaysBounded(t *testing.T) {
	dir := t.TempDir()
	s := openSlow(t, dir)
	defer s.Close()
	var id int64
	for range 8000 { // about 5 MiB of records
		var ups []adapter.Update
		for range 10 {
			id++
			ups = append(ups, upd(id))
		}
		_, err := s.Append(ups, adapter.Position{Offset: id + 1})
		require.NoError(t, err)
	}
	fi, err := os.Stat(filepath.Join(dir, spool.WALName))
	require.NoError(t, err)
	assert.LessOrEqual(t, fi.Size(), int64(4<<20+8<<10), "the log stays near its 4 MiB")
	c := open(t, crashCopy(t, dir))
	defer c.Close()
	assert.Len(t, scanIDs(t, c), int(id))
	assert.Equal(t, int(id), c.Len())
}

// TestConcurrentUse runs what the adapter does at once — one poller
// appending, a flusher removing, a replay requeueing, workers reading —
// with the applier running, then reopens the files: exactly the updates not
// removed are there, once each.
func TestConcurrentUse(t *testing.T) {
	dir := t.TempDir()
	s, err := spool.Open(dir, spool.Options{ApplyEvery: 2 * time.Millisecond})
	require.NoError(t, err)
	seqCh := make(chan []uint64, 1000)
	var wg sync.WaitGroup
	wg.Go(func() { // the poller
		defer close(seqCh)
		for b := range int64(300) {
			ups := []adapter.Update{upd(b*3 + 1), upd(b*3 + 2), upd(b*3 + 3)}
			seqs, err := s.Append(ups, adapter.Position{Offset: b*3 + 4})
			if !assert.NoError(t, err) {
				return
			}
			seqCh <- seqs
		}
	})
	removed := map[uint64]bool{}
	var kept []uint64
	wg.Go(func() { // workers read, the flusher removes two of every three
		for seqs := range seqCh {
			for i, seq := range seqs {
				u, err := s.Get(seq)
				assert.NoError(t, err)
				assert.NotZero(t, u.ID)
				if i < 2 {
					assert.NoError(t, s.Remove([]uint64{seq}))
					removed[seq] = true
				} else {
					kept = append(kept, seq)
				}
			}
		}
	})
	var requeued []uint64
	wg.Go(func() { // replays of dead letters
		for i := range int64(20) {
			seq, err := s.Requeue(upd(100000 + i))
			assert.NoError(t, err)
			requeued = append(requeued, seq)
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	require.NoError(t, s.Close())

	c := open(t, dir)
	defer c.Close()
	seen := map[uint64]bool{}
	require.NoError(t, c.Scan(func(seq uint64, _ adapter.Update) error {
		assert.False(t, seen[seq], "seq %d twice", seq)
		seen[seq] = true
		assert.False(t, removed[seq], "seq %d was removed", seq)
		return nil
	}))
	for _, seq := range append(kept, requeued...) {
		assert.True(t, seen[seq], "seq %d is missing", seq)
	}
	assert.Len(t, seen, len(kept)+len(requeued))
	assert.Equal(t, len(seen), c.Len())
	off := offsetOf(t, c)
	assert.Equal(t, int64(900+1), off)
}

// logSize is the size the log is created with.
const logSize = 4 << 20

// logState returns the size of the spool's log, or -1 when it has none.
func logState(t *testing.T, dir string) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, spool.WALName))
	if errors.Is(err, fs.ErrNotExist) {
		return -1
	}
	require.NoError(t, err)
	return fi.Size()
}

// crashCopyAll copies the spool files that exist now, as a crash at this
// moment would leave them, into a new directory.
func crashCopyAll(t *testing.T, dir string) string {
	t.Helper()
	to := t.TempDir()
	for _, name := range []string{spool.FileName, spool.WALName} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(to, name), b, 0o600))
	}
	return to
}

// TestOpenCreatesNoLog: a new spool has no log until something is logged,
// and reopens cleanly without one, after a clean stop or a crash.
func TestOpenCreatesNoLog(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	assert.Equal(t, int64(-1), logState(t, dir), "no log at Open")
	assert.NoFileExists(t, filepath.Join(dir, spool.WALName+".new"))
	require.NoError(t, s.Check(), "an idle spool without a log is usable")
	crashed := crashCopyAll(t, dir)
	require.NoError(t, s.Close())
	assert.Equal(t, int64(-1), logState(t, dir), "no log after Close")

	for name, d := range map[string]string{"after a clean stop": dir, "after a crash": crashed} {
		t.Run(name, func(t *testing.T) {
			s := open(t, d)
			assert.Equal(t, int64(-1), logState(t, d))
			assert.Zero(t, s.Len())
			require.NoError(t, s.Close())
			// And again: Close without a log keeps it clean.
			s = open(t, d)
			require.NoError(t, s.Close())
			rep, err := spool.Inspect(d)
			require.NoError(t, err)
			assert.False(t, rep.Damaged(), "check finds no damage: %v", rep.Damage)
		})
	}
}

// TestFirstWriteCreatesTheLog: the first record (a batch or a removal)
// creates the log at its full size; Requeue and Bury write bbolt only.
func TestFirstWriteCreatesTheLog(t *testing.T) {
	t.Run("append", func(t *testing.T) {
		dir := t.TempDir()
		s := openSlow(t, dir)
		defer s.Close()
		_, err := s.Append([]adapter.Update{upd(1)}, adapter.Position{Offset: 2})
		require.NoError(t, err)
		assert.Equal(t, int64(logSize), logState(t, dir))
		require.NoError(t, s.Check())
		c := open(t, crashCopy(t, dir))
		defer c.Close()
		assert.Equal(t, []int64{1}, scanIDs(t, c), "the first batch is durable")
		assert.Equal(t, int64(2), offsetOf(t, c))
	})
	t.Run("remove", func(t *testing.T) {
		dir := t.TempDir()
		s := openSlow(t, dir)
		defer s.Close()
		seq, err := s.Requeue(upd(5))
		require.NoError(t, err)
		assert.Equal(t, int64(-1), logState(t, dir), "Requeue writes bbolt only")
		require.NoError(t, s.Remove([]uint64{seq}))
		assert.Equal(t, int64(logSize), logState(t, dir))
		c := open(t, crashCopy(t, dir))
		defer c.Close()
		assert.Empty(t, scanIDs(t, c), "the logged removal survives the crash")
	})
	t.Run("requeue and bury", func(t *testing.T) {
		dir := t.TempDir()
		s := openSlow(t, dir)
		defer s.Close()
		_, err := s.Requeue(upd(5))
		require.NoError(t, err)
		_, _, err = s.Bury(adapter.DeadLetter{Kind: adapter.DeadDelivery, UpdateID: 6, Update: upd(6).Raw})
		require.NoError(t, err)
		assert.Equal(t, int64(-1), logState(t, dir))
		c := open(t, crashCopyAll(t, dir))
		defer c.Close()
		assert.Equal(t, []int64{5}, scanIDs(t, c))
		dls, err := c.DeadLetters()
		require.NoError(t, err)
		assert.Len(t, dls, 1)
	})
}

// TestCheckWhileTheLogIsCreated runs Check (as the poller does) while the
// first Append creates the log.
func TestCheckWhileTheLogIsCreated(t *testing.T) {
	dir := t.TempDir()
	s := openSlow(t, dir)
	defer s.Close()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				assert.NoError(t, s.Check())
			}
		}
	})
	_, err := s.Append([]adapter.Update{upd(1)}, adapter.Position{Offset: 2})
	close(done)
	wg.Wait()
	require.NoError(t, err)
	require.NoError(t, s.Check())
	require.NoError(t, os.Remove(filepath.Join(dir, spool.WALName)))
	require.Error(t, s.Check(), "the created log is watched")
}

// TestDirectoryRemovedBeforeTheFirstWrite: a spool whose directory is
// removed before its log exists refuses the batch as unavailable (polling
// pauses, nothing is confirmed), as Check does, instead of failing for
// good.
func TestDirectoryRemovedBeforeTheFirstWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bot")
	s := openSlow(t, dir)
	defer s.Close()
	require.NoError(t, os.RemoveAll(dir))
	_, err := s.Append([]adapter.Update{upd(1)}, adapter.Position{Offset: 2})
	require.ErrorIs(t, err, adapter.ErrSpoolUnavailable)
	assert.Contains(t, err.Error(), "removed or replaced")
	require.ErrorIs(t, s.Check(), adapter.ErrSpoolUnavailable)
}
