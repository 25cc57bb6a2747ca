package spool_test

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/spool"
)

// loggedSpool makes a spool whose last records are only in the log (the
// applier never runs): batches of three updates each, ids from 1. It
// returns a crash copy's directory and each record's end offset in the log.
func loggedSpool(t *testing.T, batches int) (dir string, ends []int) {
	t.Helper()
	src := t.TempDir()
	s := openSlow(t, src)
	var id int64
	for range batches {
		ups := []adapter.Update{upd(id + 1), upd(id + 2), upd(id + 3)}
		id += 3
		_, err := s.Append(ups, adapter.Position{Offset: id + 1})
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(src, spool.WALName))
		require.NoError(t, err)
		ends = append(ends, recordsEnd(b))
	}
	dir = crashCopy(t, src)
	require.NoError(t, s.Close())
	return dir, ends
}

// recordsEnd returns where the chain of records written so far ends: the
// log is zero from there (a new spool's log).
func recordsEnd(b []byte) int {
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	return end
}

// TestDamagedLogIsRefused flips a byte at random places in the log's live
// records: a flip in any record but the last refuses to start (ErrDamaged,
// nothing changed); a flip in the last one is a torn tail, dropped (its
// batch was not confirmed when the process died during its write).
func TestDamagedLogIsRefused(t *testing.T) {
	const batches = 8
	rng := rand.New(rand.NewPCG(1, 2))
	for range 40 {
		dir, ends := loggedSpool(t, batches)
		wal := filepath.Join(dir, spool.WALName)
		b, err := os.ReadFile(wal)
		require.NoError(t, err)
		at := rng.IntN(ends[len(ends)-1])
		b[at] ^= byte(1 + rng.IntN(255))
		require.NoError(t, os.WriteFile(wal, b, 0o600))
		before := fileHashes(t, dir)

		rec := 0
		for ends[rec] <= at {
			rec++
		}
		s, err := spool.Open(dir, spool.Options{})
		if rec < batches-1 {
			require.ErrorIs(t, err, spool.ErrDamaged, "flip at %d in record %d of %d", at, rec+1, batches)
			var de *spool.DamageError
			require.True(t, errors.As(err, &de))
			assert.Equal(t, wal, de.Path)
			assert.Equal(t, before, fileHashes(t, dir), "a refused spool is not changed")
			continue
		}
		require.NoError(t, err, "flip at %d in the last record", at)
		assert.Len(t, scanIDs(t, s), 3*(batches-1), "only the torn last record is dropped")
		require.NoError(t, s.Close())
	}
}

// TestDamagedEndOfLogIsRefused: the last two records both damaged is not a
// torn write (the second was written after the first was whole): the
// earlier record's updates were confirmed to Telegram, so it is refused.
func TestDamagedEndOfLogIsRefused(t *testing.T) {
	const batches = 6
	dir, ends := loggedSpool(t, batches)
	wal := filepath.Join(dir, spool.WALName)
	b, err := os.ReadFile(wal)
	require.NoError(t, err)
	for _, rec := range []int{batches - 2, batches - 1} {
		b[ends[rec]-1] ^= 0xff // the last payload byte of each
	}
	require.NoError(t, os.WriteFile(wal, b, 0o600))
	_, err = spool.Open(dir, spool.Options{})
	require.ErrorIs(t, err, spool.ErrDamaged)
	assert.Contains(t, err.Error(), "written after it")
}

// TestCutLogIsRefused cuts the log at random places.
func TestCutLogIsRefused(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		dir, ends := loggedSpool(t, 5)
		wal := filepath.Join(dir, spool.WALName)
		cut := rng.IntN(ends[len(ends)-1] + 100)
		require.NoError(t, os.Truncate(wal, int64(cut)))
		_, err := spool.Open(dir, spool.Options{})
		require.ErrorIs(t, err, spool.ErrDamaged, "cut at %d", cut)
		assert.Contains(t, err.Error(), "cut")
	}
}

// TestMissingFilesAreRefused: a log or a bbolt file gone (or emptied) where
// the other says updates were stored refuses to start; a log missing after
// a clean stop is only recreated.
func TestMissingFilesAreRefused(t *testing.T) {
	t.Run("log missing after a crash", func(t *testing.T) {
		dir, _ := loggedSpool(t, 2)
		require.NoError(t, os.Remove(filepath.Join(dir, spool.WALName)))
		_, err := spool.Open(dir, spool.Options{})
		require.ErrorIs(t, err, spool.ErrDamaged)
		assert.Contains(t, err.Error(), "missing")
	})
	t.Run("log missing after a clean stop", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, dir)
		_, err := s.Append([]adapter.Update{upd(1)}, adapter.Position{Offset: 2})
		require.NoError(t, err)
		require.NoError(t, s.Close())
		require.NoError(t, os.Remove(filepath.Join(dir, spool.WALName)))
		s = open(t, dir)
		defer s.Close()
		assert.Equal(t, []int64{1}, scanIDs(t, s))
	})
	t.Run("log missing after a clean stop with nothing written", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, dir)
		_, err := s.Append([]adapter.Update{upd(1)}, adapter.Position{Offset: 2})
		require.NoError(t, err)
		require.NoError(t, s.Close())
		s = open(t, dir)
		require.NoError(t, s.Close(), "a run that applies nothing still stops cleanly")
		require.NoError(t, os.Remove(filepath.Join(dir, spool.WALName)))
		s = open(t, dir)
		defer s.Close()
		assert.Equal(t, []int64{1}, scanIDs(t, s))
	})
	t.Run("bbolt file emptied", func(t *testing.T) {
		dir, _ := loggedSpool(t, 2)
		require.NoError(t, os.Truncate(filepath.Join(dir, spool.FileName), 0))
		_, err := spool.Open(dir, spool.Options{})
		require.ErrorIs(t, err, spool.ErrDamaged)
		assert.Contains(t, err.Error(), "missing or empty")
	})
	t.Run("bbolt file removed", func(t *testing.T) {
		dir, _ := loggedSpool(t, 2)
		require.NoError(t, os.Remove(filepath.Join(dir, spool.FileName)))
		_, err := spool.Open(dir, spool.Options{})
		require.ErrorIs(t, err, spool.ErrDamaged)
	})
}

// TestDamagedBboltIsRefusedNotACrash overwrites pages of a bbolt file with
// garbage: Open either refuses with ErrDamaged or (a page not in use)
// opens; it never panics or crashes.
func TestDamagedBboltIsRefusedNotACrash(t *testing.T) {
	src := t.TempDir()
	fill(t, open(t, src), 200)
	db, err := os.ReadFile(filepath.Join(src, spool.FileName))
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(5, 6))
	refused := 0
	for i := range 30 {
		dir := t.TempDir()
		b, page := garblePage(rng, db, i)
		require.NoError(t, os.WriteFile(filepath.Join(dir, spool.FileName), b, 0o600))
		wal, err := os.ReadFile(filepath.Join(src, spool.WALName))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, spool.WALName), wal, 0o600))
		c, err := spool.Open(dir, spool.Options{})
		if err != nil {
			require.ErrorIs(t, err, spool.ErrDamaged, "page %d", page)
			refused++
			continue
		}
		// Opened: every read either works or reports damage.
		serr := c.Scan(func(uint64, adapter.Update) error { return nil })
		if serr != nil {
			assert.ErrorIs(t, serr, spool.ErrDamaged)
		}
		c.Close()
	}
	assert.Positive(t, refused)
	t.Logf("%d of 30 damaged files refused", refused)
}

// TestRemovalsSurviveAKill: finished deliveries are in the log as soon as
// Remove returns (a write, not a sync), so a copy of the files as a kill
// -9 leaves them does not deliver them again.
func TestRemovalsSurviveAKill(t *testing.T) {
	dir := t.TempDir()
	s := openSlow(t, dir)
	defer s.Close()
	seqs, err := s.Append([]adapter.Update{upd(1), upd(2), upd(3)}, adapter.Position{Offset: 4})
	require.NoError(t, err)
	require.NoError(t, s.Remove(seqs[:2]))
	c := open(t, crashCopy(t, dir))
	defer c.Close()
	assert.Equal(t, []int64{3}, scanIDs(t, c))
	assert.Equal(t, 1, c.Len())
}

// TestEpochsAreSeparateIDSpaces: the same update_id in another epoch is
// another update; the position keeps its epoch across a crash.
func TestEpochsAreSeparateIDSpaces(t *testing.T) {
	dir := t.TempDir()
	s := openSlow(t, dir)
	defer s.Close()
	_, err := s.Append([]adapter.Update{upd(5), upd(6)}, adapter.Position{Offset: 7})
	require.NoError(t, err)
	again := []adapter.Update{upd(5), upd(6)}
	for i := range again {
		again[i].Epoch = 1
	}
	seqs, err := s.Append(again, adapter.Position{Offset: 7, Epoch: 1})
	require.NoError(t, err)
	assert.Equal(t, []uint64{3, 4}, seqs, "not duplicates: another id space")
	seqs, err = s.Append(again[:1], adapter.Position{Offset: 7, Epoch: 1})
	require.NoError(t, err)
	assert.Equal(t, []uint64{0}, seqs, "a duplicate within the epoch")

	c := open(t, crashCopy(t, dir))
	defer c.Close()
	pos, err := c.Position()
	require.NoError(t, err)
	assert.Equal(t, adapter.Position{Offset: 7, Epoch: 1}, pos)
	var epochs []uint32
	require.NoError(t, c.Scan(func(_ uint64, u adapter.Update) error {
		epochs = append(epochs, u.Epoch)
		return nil
	}))
	assert.Equal(t, []uint32{0, 0, 1, 1}, epochs)
}

// TestSpoolBelongsToOneBot: a spool records its bot; another bot is refused.
func TestSpoolBelongsToOneBot(t *testing.T) {
	dir := t.TempDir()
	s, err := spool.Open(dir, spool.Options{BotID: 111, APIURL: "https://api.telegram.org"})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = spool.Open(dir, spool.Options{BotID: 222})
	require.ErrorIs(t, err, spool.ErrOtherBot)
	assert.Contains(t, err.Error(), "bot 111")
	s, err = spool.Open(dir, spool.Options{BotID: 111, APIURL: "http://127.0.0.1:8081"})
	require.NoError(t, err, "another Bot API server on the same spool is allowed")
	require.NoError(t, s.Close())
}

// TestLegacySpoolIsMovedIntoTheBotsDirectory: a spool left in data_dir by
// an earlier asgigram moves into <data_dir>/<bot id>, with its updates.
func TestLegacySpoolIsMovedIntoTheBotsDirectory(t *testing.T) {
	dataDir := t.TempDir()
	s := open(t, dataDir)
	_, err := s.Append([]adapter.Update{upd(1), upd(2)}, adapter.Position{Offset: 3})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	dir, moved, err := spool.BotDir(dataDir, 111)
	require.NoError(t, err)
	assert.True(t, moved)
	assert.Equal(t, filepath.Join(dataDir, "111"), dir)
	assert.NoFileExists(t, filepath.Join(dataDir, spool.FileName))
	c, err := spool.Open(dir, spool.Options{BotID: 111})
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2}, scanIDs(t, c))
	require.NoError(t, c.Close())

	_, moved, err = spool.BotDir(dataDir, 111)
	require.NoError(t, err)
	assert.False(t, moved, "once")
}

// TestAccessErrorsAreNamed: a directory the process may not write is
// reported as such, not as a damaged file.
func TestAccessErrorsAreNamed(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores file permissions: the permission case cannot be made here")
	}
	dir := t.TempDir()
	s := open(t, dir)
	require.NoError(t, s.Close())
	require.NoError(t, os.Chmod(filepath.Join(dir, spool.FileName), 0o400))
	_, err := spool.Open(dir, spool.Options{LockTimeout: 100 * time.Millisecond})
	require.Error(t, err)
	assert.NotErrorIs(t, err, spool.ErrDamaged)
	assert.Contains(t, err.Error(), "permission denied")
	assert.NotContains(t, err.Error(), "move it away")
}

// TestRemovedDirectoryIsNoticed: Check reports a data directory removed
// while running, so that nothing more is confirmed into deleted files.
func TestRemovedDirectoryIsNoticed(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "spool")
	s := open(t, dir)
	defer s.Close()
	require.NoError(t, s.Check())
	require.NoError(t, os.RemoveAll(dir))
	err := s.Check()
	require.ErrorIs(t, err, adapter.ErrSpoolUnavailable)
	assert.Contains(t, err.Error(), "removed")
	// A new, empty directory in its place is not the spool either.
	require.NoError(t, os.Mkdir(dir, 0o700))
	assert.ErrorIs(t, s.Check(), adapter.ErrSpoolUnavailable)
}

// TestRemovedBboltFileIsNoticed: the bbolt file deleted while running, or
// replaced by a copy, is noticed by Check though the directory stays.
func TestRemovedBboltFileIsNoticed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := open(t, dir)
	defer s.Close()
	path := filepath.Join(dir, spool.FileName)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.Remove(path))
	err = s.Check()
	require.ErrorIs(t, err, adapter.ErrSpoolUnavailable)
	assert.Contains(t, err.Error(), spool.FileName)
	require.NoError(t, os.WriteFile(path, b, 0o600))
	assert.ErrorIs(t, s.Check(), adapter.ErrSpoolUnavailable, "a copy in its place is not the file written to")
}

func fileHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range []string{spool.FileName, spool.WALName} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		require.NoError(t, err)
		out[name] = string(b)
	}
	return out
}

// fill appends batches of ten updates to s, ids from 1, and closes it.
func fill(t *testing.T, s *spool.Spool, batches int) {
	t.Helper()
	var id int64
	for range batches {
		ups := make([]adapter.Update, 10)
		for i := range ups {
			id++
			ups[i] = upd(id)
		}
		_, err := s.Append(ups, adapter.Position{Offset: id + 1})
		require.NoError(t, err)
	}
	require.NoError(t, s.Close())
}

// garblePage returns a copy of a bbolt file with one page overwritten by
// random bytes: a random page, or page i for the first three rounds (the
// meta pages and the freelist).
func garblePage(rng *rand.Rand, db []byte, i int) ([]byte, int) {
	b := append([]byte(nil), db...)
	page := rng.IntN(len(db) / 4096)
	if i < 3 {
		page = i
	}
	for j := range 4096 {
		b[page*4096+j] = byte(rng.Uint32())
	}
	return b, page
}

// clearCleanMark deletes the clean-close mark from the spool's bbolt file,
// as the first write does once it has created the log.
func clearCleanMark(t *testing.T, dir string) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, spool.FileName), 0o600, nil)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Delete([]byte("clean_lsn"))
	}))
}

// TestCrashWhileTheLogIsCreated: the first write creates the log under a
// temporary name, renames it, clears the clean-close mark, then writes its
// record. A crash at each step leaves files that open cleanly; a log gone
// once the mark is cleared is refused.
func TestCrashWhileTheLogIsCreated(t *testing.T) {
	// idle returns a spool that was opened and never logged anything, as a
	// crash (no Close) leaves it.
	idle := func(t *testing.T) string {
		src := t.TempDir()
		s := openSlow(t, src)
		_, err := s.Requeue(upd(5)) // bbolt only
		require.NoError(t, err)
		dir := crashCopyAll(t, src)
		require.NoError(t, s.Close())
		require.NoFileExists(t, filepath.Join(dir, spool.WALName))
		return dir
	}
	opens := func(t *testing.T, dir string) {
		t.Helper()
		s := open(t, dir)
		defer s.Close()
		assert.Equal(t, []int64{5}, scanIDs(t, s))
		_, err := s.Append([]adapter.Update{upd(6)}, adapter.Position{Offset: 7})
		require.NoError(t, err, "and takes its first batch")
		assert.Equal(t, []int64{5, 6}, scanIDs(t, s))
	}
	t.Run("before the log was created", func(t *testing.T) {
		opens(t, idle(t))
	})
	t.Run("while the temporary log was written", func(t *testing.T) {
		dir := idle(t)
		require.NoError(t, os.WriteFile(filepath.Join(dir, spool.WALName+".new"), make([]byte, 1234), 0o600))
		opens(t, dir)
	})
	t.Run("after the rename, before the mark was cleared", func(t *testing.T) {
		dir := idle(t)
		require.NoError(t, os.WriteFile(filepath.Join(dir, spool.WALName), make([]byte, logSize), 0o600))
		opens(t, dir)
	})
	t.Run("after the mark was cleared, before the first record", func(t *testing.T) {
		dir := idle(t)
		require.NoError(t, os.WriteFile(filepath.Join(dir, spool.WALName), make([]byte, logSize), 0o600))
		clearCleanMark(t, dir)
		opens(t, dir)
	})
	t.Run("the first record written and the log gone", func(t *testing.T) {
		src := t.TempDir()
		s := openSlow(t, src)
		_, err := s.Append([]adapter.Update{upd(1)}, adapter.Position{Offset: 2})
		require.NoError(t, err)
		dir := crashCopy(t, src)
		require.NoError(t, s.Close())
		require.NoError(t, os.Remove(filepath.Join(dir, spool.WALName)))
		_, err = spool.Open(dir, spool.Options{})
		require.ErrorIs(t, err, spool.ErrDamaged, "the batch confirmed to Telegram was only in the log")
	})
	t.Run("the mark cleared and the log gone", func(t *testing.T) {
		dir := idle(t)
		clearCleanMark(t, dir)
		_, err := spool.Open(dir, spool.Options{})
		require.ErrorIs(t, err, spool.ErrDamaged, "a log that may have held records is missing")
		assert.Contains(t, err.Error(), "missing")
		rep, err := spool.Inspect(dir)
		require.NoError(t, err)
		assert.True(t, rep.Damaged(), "check agrees")
	})
}

// TestCutLogIsRefusedAfterLazyCreation: a log created by the first write
// is as long as ever; cutting it is damage, to Open and to check.
func TestCutLogIsRefusedAfterLazyCreation(t *testing.T) {
	for _, cut := range []int64{0, 4096, logSize / 2, logSize - 1} {
		src := t.TempDir()
		s := openSlow(t, src)
		_, err := s.Append([]adapter.Update{upd(1)}, adapter.Position{Offset: 2})
		require.NoError(t, err)
		dir := crashCopy(t, src)
		require.NoError(t, s.Close())
		require.NoError(t, os.Truncate(filepath.Join(dir, spool.WALName), cut))
		_, err = spool.Open(dir, spool.Options{})
		require.ErrorIs(t, err, spool.ErrDamaged, "cut to %d", cut)
		rep, err := spool.Inspect(dir)
		require.NoError(t, err)
		assert.True(t, rep.Damaged(), "cut to %d: check agrees", cut)
	}
}

// TestLogMissingAfterACleanStopStaysOptional: a spool whose log went
// missing after a clean stop opens, closes and opens again without one.
func TestLogMissingAfterACleanStopStaysOptional(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	_, err := s.Append([]adapter.Update{upd(1)}, adapter.Position{Offset: 2})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, os.Remove(filepath.Join(dir, spool.WALName)))
	for range 2 {
		s = open(t, dir)
		assert.Equal(t, []int64{1}, scanIDs(t, s))
		require.NoError(t, s.Close())
	}
	assert.NoFileExists(t, filepath.Join(dir, spool.WALName))
}
