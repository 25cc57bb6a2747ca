package spool_test

import (
	"encoding/json"
	"fmt"
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

func upd(id int64) adapter.Update {
	return adapter.Update{ID: id, Raw: json.RawMessage(fmt.Sprintf(`{"update_id":%d,"message":{"chat":{"id":1}}}`, id))}
}

func open(t *testing.T, dir string) *spool.Spool {
	t.Helper()
	s, err := spool.Open(dir, spool.Options{DeadLetterMax: 3, LockTimeout: 100 * time.Millisecond})
	require.NoError(t, err)
	return s
}

// offsetOf returns the spool's saved offset.
func offsetOf(t *testing.T, s *spool.Spool) int64 {
	t.Helper()
	pos, err := s.Position()
	require.NoError(t, err)
	return pos.Offset
}

func TestAppendScanRemoveAndReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	assert.Equal(t, int64(0), offsetOf(t, s))

	seqs, err := s.Append([]adapter.Update{upd(10), upd(11), upd(12)}, adapter.Position{Offset: 13})
	require.NoError(t, err)
	assert.Equal(t, []uint64{1, 2, 3}, seqs)
	// Idempotent by update_id: a batch fetched twice is stored once.
	seqs, err = s.Append([]adapter.Update{upd(12), upd(13)}, adapter.Position{Offset: 14})
	require.NoError(t, err)
	assert.Equal(t, []uint64{0, 4}, seqs)
	assert.Equal(t, 4, s.Len())

	u, err := s.Get(2)
	require.NoError(t, err)
	assert.Equal(t, int64(11), u.ID)
	require.NoError(t, s.Remove([]uint64{2, 99}))
	require.NoError(t, s.Close())

	// Everything survives a reopen, in order, with the offset.
	s = open(t, dir)
	defer s.Close()
	assert.Equal(t, int64(14), offsetOf(t, s))
	var ids []int64
	var order []uint64
	require.NoError(t, s.Scan(func(seq uint64, u adapter.Update) error {
		order = append(order, seq)
		ids = append(ids, u.ID)
		return nil
	}))
	assert.Equal(t, []int64{10, 12, 13}, ids)
	assert.Equal(t, []uint64{1, 3, 4}, order)
	assert.Equal(t, 3, s.Len())
	// A removed update may be stored again (a dead letter's replay).
	seqs, err = s.Append([]adapter.Update{upd(11)}, adapter.Position{Offset: 0})
	require.NoError(t, err)
	assert.Equal(t, []uint64{5}, seqs)
	off := offsetOf(t, s)
	assert.Equal(t, int64(14), off, "next 0 keeps the offset")

	// Removals are applied with the next records.
	require.NoError(t, s.Remove([]uint64{1, 5, 77}))
	seqs, err = s.Append([]adapter.Update{upd(20)}, adapter.Position{Offset: 21})
	require.NoError(t, err)
	assert.Equal(t, []uint64{6}, seqs)
	ids = nil
	require.NoError(t, s.Scan(func(_ uint64, u adapter.Update) error {
		ids = append(ids, u.ID)
		return nil
	}))
	assert.Equal(t, []int64{12, 13, 20}, ids)
	assert.Equal(t, 3, s.Len())
	seqs, err = s.Append([]adapter.Update{upd(10)}, adapter.Position{Offset: 0})
	require.NoError(t, err)
	assert.NotZero(t, seqs[0], "a removed update_id may be stored again")
}

func TestSecondProcessIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	_, err := spool.Open(dir, spool.Options{LockTimeout: 100 * time.Millisecond})
	require.ErrorIs(t, err, spool.ErrLocked)
	assert.Contains(t, err.Error(), "one data_dir per bot instance")
}

func TestForeignFilesAreRefused(t *testing.T) {
	t.Run("garbage", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, spool.FileName), []byte("this is not a database, just some text that is long enough"), 0o600))
		_, err := spool.Open(dir, spool.Options{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not a readable spool")
		b, _ := os.ReadFile(filepath.Join(dir, spool.FileName))
		assert.Contains(t, string(b), "not a database", "never silently reset")
	})
	t.Run("another program's bbolt file", func(t *testing.T) {
		dir := t.TempDir()
		db, err := bolt.Open(filepath.Join(dir, spool.FileName), 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket([]byte("users"))
			return err
		}))
		require.NoError(t, db.Close())
		_, err = spool.Open(dir, spool.Options{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "another program")
	})
}

func TestDeadLettersAreBounded(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	for i := range 5 {
		dl, dropped, err := s.Bury(adapter.DeadLetter{Kind: adapter.DeadDelivery, UpdateID: int64(i), Update: upd(int64(i)).Raw, Error: "x"})
		require.NoError(t, err)
		assert.Equal(t, uint64(i+1), dl.ID)
		if i < 3 {
			assert.Equal(t, 0, dropped)
		} else {
			assert.Equal(t, 1, dropped, "the oldest goes, and the caller is told")
		}
	}
	dls, err := s.DeadLetters()
	require.NoError(t, err)
	require.Len(t, dls, 3)
	assert.Equal(t, []int64{2, 3, 4}, []int64{dls[0].UpdateID, dls[1].UpdateID, dls[2].UpdateID})
	dl, err := s.DeadLetter(4)
	require.NoError(t, err)
	assert.JSONEq(t, string(upd(3).Raw), string(dl.Update))
	require.NoError(t, s.DropDeadLetter(4))
	_, err = s.DeadLetter(4)
	assert.ErrorIs(t, err, adapter.ErrNoDeadLetter)
	assert.ErrorIs(t, s.DropDeadLetter(4), adapter.ErrNoDeadLetter)
}
