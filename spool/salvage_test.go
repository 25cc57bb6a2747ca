package spool_test

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/spool"
)

// idsIn returns the ids from..to.
func idsIn(from, to int64) []int64 {
	var out []int64
	for id := from; id <= to; id++ {
		out = append(out, id)
	}
	return out
}

var betweenRe = regexp.MustCompile(`between id (\d+) and id (\d+)|from id (\d+)|ids below (\d+)|before id (\d+)`)

// lossBounds returns the id ranges the losses name (an open range "from id
// N on" ends at the largest int64).
func lossBounds(losses []string) [][2]int64 {
	var out [][2]int64
	for _, l := range losses {
		for _, m := range betweenRe.FindAllStringSubmatch(l, -1) {
			if m[3] != "" {
				lo, _ := strconv.ParseInt(m[3], 10, 64)
				out = append(out, [2]int64{lo, 1<<63 - 1})
				continue
			}
			if below := m[4] + m[5]; below != "" {
				hi, _ := strconv.ParseInt(below, 10, 64)
				out = append(out, [2]int64{0, hi - 1})
				continue
			}
			lo, _ := strconv.ParseInt(m[1], 10, 64)
			hi, _ := strconv.ParseInt(m[2], 10, 64)
			out = append(out, [2]int64{lo, hi})
		}
	}
	return out
}

// assertLossesBound checks that every id of want missing from got lies in
// a range the report names.
func assertLossesBound(t *testing.T, want, got []int64, losses []string, msgAndArgs ...any) {
	t.Helper()
	bounds := lossBounds(losses)
	for _, id := range want {
		if slices.Contains(got, id) {
			continue
		}
		in := slices.ContainsFunc(bounds, func(b [2]int64) bool { return b[0] <= id && id <= b[1] })
		assert.True(t, in, "lost id %d is not within the reported losses %q %v", id, losses, msgAndArgs)
	}
}

// salvaged checks the state after a salvage: the originals kept byte for
// byte under the reported names, the new spool sound (Inspect) and opening,
// and returns its update ids.
func salvaged(t *testing.T, dir string, before map[string]string, rep *spool.SalvageReport) []int64 {
	t.Helper()
	require.Len(t, rep.Kept, len(before), "every original file is kept")
	for _, kept := range rep.Kept {
		name := strings.Split(filepath.Base(kept), ".damaged-")[0]
		b, err := os.ReadFile(kept)
		require.NoError(t, err)
		assert.Equal(t, before[name], string(b), "%s is kept byte for byte", name)
	}
	after, err := spool.Inspect(dir)
	require.NoError(t, err)
	assert.Empty(t, after.Damage, "the new spool checks clean")
	s, err := spool.Open(dir, spool.Options{})
	require.NoError(t, err, "the new spool opens")
	defer s.Close()
	ids := scanIDs(t, s)
	assert.Equal(t, after.Waiting, len(ids))
	return ids
}

// openRefuses reports whether Open refuses a copy of dir as damaged (Open
// changes a spool it opens: the copy keeps dir as it is).
func openRefuses(t *testing.T, dir string) bool {
	t.Helper()
	cp := t.TempDir()
	for _, name := range []string{spool.FileName, spool.WALName} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(cp, name), b, 0o600))
	}
	s, err := spool.Open(cp, spool.Options{})
	if err == nil {
		s.Close()
		return false
	}
	return errors.Is(err, spool.ErrDamaged)
}

// TestInspectReportsASoundSpool: check's report of a spool in use, without
// changing a byte; salvage of a sound spool changes nothing.
func TestInspectReportsASoundSpool(t *testing.T) {
	src := t.TempDir()
	s, err := spool.Open(src, spool.Options{BotID: 4242, APIURL: "https://user:pw@api.example.org/x?k=v", ApplyEvery: time.Hour})
	require.NoError(t, err)
	seqs, err := s.Append([]adapter.Update{upd(10), upd(11), upd(12)}, adapter.Position{Offset: 13})
	require.NoError(t, err)
	_, _, err = s.Bury(adapter.DeadLetter{Kind: adapter.DeadDelivery, UpdateID: 9, Update: upd(9).Raw})
	require.NoError(t, err)
	require.NoError(t, s.Remove(seqs[:1]))
	_, err = s.Append([]adapter.Update{upd(13)}, adapter.Position{Offset: 14, Epoch: 0})
	require.NoError(t, err)
	dir := crashCopy(t, src) // as a kill -9 would leave it: records only in the log
	require.NoError(t, s.Close())
	before := fileHashes(t, dir)

	rep, err := spool.Inspect(dir)
	require.NoError(t, err)
	assert.False(t, rep.Damaged(), "%v", rep.Damage)
	assert.Equal(t, int64(4242), rep.BotID)
	assert.NotContains(t, rep.APIURL, "pw", "userinfo masked")
	assert.NotContains(t, rep.APIURL, "k=v", "query masked")
	assert.Contains(t, rep.APIURL, "api.example.org/x")
	assert.Equal(t, "asgigram-spool-v4", rep.Format)
	assert.Equal(t, int64(14), rep.Offset)
	assert.Equal(t, 3, rep.Waiting, "11, 12, 13: 10 was removed")
	assert.Equal(t, 3, rep.InLog)
	assert.Equal(t, 1, rep.DeadLetters)
	assert.Equal(t, before, fileHashes(t, dir), "check changes nothing")

	_, err = spool.Salvage(dir)
	require.ErrorIs(t, err, spool.ErrNotDamaged)
	assert.Equal(t, before, fileHashes(t, dir), "nothing to salvage: nothing changed")
}

// TestInspectRefusesARunningSpool: the daemon holds the file; check says
// so instead of reading a file being written.
func TestInspectRefusesARunningSpool(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	_, err := spool.Inspect(dir)
	require.ErrorIs(t, err, spool.ErrLocked)
	_, err = spool.Salvage(dir)
	require.ErrorIs(t, err, spool.ErrLocked)
}

// TestSalvageFlippedLog flips bytes at random places in the log's records,
// several at a time: check reports the damage without changing anything,
// and salvage recovers every update of an intact record, names the lost
// ones within their neighbours' ids, and keeps the originals.
func TestSalvageFlippedLog(t *testing.T) {
	const batches = 8
	all := idsIn(1, 3*batches)
	rng := rand.New(rand.NewPCG(7, 8))
	base, ends := loggedSpool(t, batches)
	for round := range 15 {
		dir := crashCopy(t, base)
		wal := filepath.Join(dir, spool.WALName)
		b, err := os.ReadFile(wal)
		require.NoError(t, err)
		hit := map[int]bool{}
		for range 1 + rng.IntN(3) {
			at := rng.IntN(ends[len(ends)-1])
			b[at] ^= byte(1 + rng.IntN(255))
			rec := 0
			for ends[rec] <= at {
				rec++
			}
			hit[rec] = true
		}
		require.NoError(t, os.WriteFile(wal, b, 0o600))
		before := fileHashes(t, dir)

		rep, err := spool.Inspect(dir)
		require.NoError(t, err)
		assert.Equal(t, before, fileHashes(t, dir), "check changes nothing")
		assert.Equal(t, openRefuses(t, dir), rep.Damaged(), "check and the daemon agree: %v", rep.Damage)
		if !rep.Damaged() {
			// Like Open, check takes damage that nothing intact follows for
			// a torn tail: the last record must be among those hit.
			assert.True(t, hit[batches-1], "round %d: records %v hit and no damage found", round, hit)
			continue
		}
		require.True(t, rep.Damaged(), "round %d: records %v hit", round, hit)

		srep, err := spool.Salvage(dir)
		require.NoError(t, err)
		got := salvaged(t, dir, before, srep)
		var want []int64
		for rec := range batches {
			if !hit[rec] {
				want = append(want, idsIn(int64(3*rec+1), int64(3*rec+3))...)
			}
		}
		assert.Equal(t, want, got, "round %d: every update of an intact record, in order (records hit: %v)", round, hit)
		assertLossesBound(t, all, got, srep.Losses, "round %d", round)
		for _, b := range lossBounds(srep.Losses) {
			if b[1] != 1<<63-1 {
				assert.LessOrEqual(t, b[1]-b[0], int64(3*len(hit)+1), "bounds are tight: %q", srep.Losses)
			}
		}
		s, err := spool.Open(dir, spool.Options{})
		require.NoError(t, err)
		pos, err := s.Position()
		require.NoError(t, err)
		require.NoError(t, s.Close())
		if !hit[batches-1] {
			assert.Equal(t, int64(3*batches+1), pos.Offset, "the offset of the last record")
		}
	}
}

// TestSalvageCutLog cuts the log at random places: what lies before the
// cut is recovered; the loss names the ids from the last offset on.
func TestSalvageCutLog(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	base, ends := loggedSpool(t, 5)
	for range 15 {
		dir := crashCopy(t, base)
		cut := rng.IntN(ends[len(ends)-1] + 100)
		require.NoError(t, os.Truncate(filepath.Join(dir, spool.WALName), int64(cut)))
		before := fileHashes(t, dir)
		rep, err := spool.Inspect(dir)
		require.NoError(t, err)
		require.True(t, rep.Damaged())
		assert.Contains(t, rep.Damage[0].What, "cut")
		assert.True(t, openRefuses(t, dir), "the daemon refuses it too")

		srep, err := spool.Salvage(dir)
		intact := 0
		for intact < len(ends) && ends[intact] <= cut {
			intact++
		}
		if intact == 0 {
			// Nothing intact and no bbolt data: nothing to salvage, files left.
			require.ErrorIs(t, err, spool.ErrNothingSalvaged, "cut at %d", cut)
			assert.Equal(t, before, fileHashes(t, dir))
			continue
		}
		require.NoError(t, err, "cut at %d", cut)
		got := salvaged(t, dir, before, srep)
		assert.Equal(t, idsIn(1, int64(3*intact)), got, "cut at %d", cut)
		assertLossesBound(t, idsIn(1, 15), got, srep.Losses)
		if intact < 5 {
			assert.Contains(t, strings.Join(srep.Losses, "\n"), "from id "+strconv.Itoa(3*intact+1)+" on")
		}
	}
}

// appliedSpool makes a spool whose first batches are in bbolt and whose
// last ones only in the log (a crash copy), ids from 1, three per batch.
func appliedSpool(t *testing.T, applied, logged int) string {
	t.Helper()
	src := t.TempDir()
	s := openSlow(t, src)
	var id int64
	for i := range applied + logged {
		if i == applied {
			require.NoError(t, s.Close()) // applies everything so far
			s = openSlow(t, src)
		}
		_, err := s.Append([]adapter.Update{upd(id + 1), upd(id + 2), upd(id + 3)}, adapter.Position{Offset: id + 4})
		require.NoError(t, err)
		id += 3
	}
	_, _, err := s.Bury(adapter.DeadLetter{Kind: adapter.DeadDelivery, UpdateID: 99, Update: upd(99).Raw, Error: "gone"})
	require.NoError(t, err)
	dir := crashCopy(t, src)
	require.NoError(t, s.Close())
	return dir
}

// TestSalvageDamagedBboltFile: spool.db emptied, zeroed, cut or removed,
// and the log removed: check reports each, and salvage recovers what the
// other file holds, naming what may be lost.
func TestSalvageDamagedBboltFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, dir string)
		want    []int64
		inCheck string
	}{
		{"spool.db emptied", func(t *testing.T, dir string) {
			require.NoError(t, os.Truncate(filepath.Join(dir, spool.FileName), 0))
		}, idsIn(10, 15), "missing or empty"},
		{"spool.db removed", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, spool.FileName)))
		}, idsIn(10, 15), "missing or empty"},
		{"spool.db zeroed", func(t *testing.T, dir string) {
			p := filepath.Join(dir, spool.FileName)
			fi, err := os.Stat(p)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(p, make([]byte, fi.Size()), 0o600))
		}, idsIn(10, 15), "spool.db"},
		{"spool.db cut in half", func(t *testing.T, dir string) {
			p := filepath.Join(dir, spool.FileName)
			fi, err := os.Stat(p)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(p, fi.Size()/2))
		}, nil, "cut"},
		{"log removed after a crash", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, spool.WALName)))
		}, idsIn(1, 9), "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := appliedSpool(t, 3, 2)
			tc.damage(t, dir)
			before := fileHashes(t, dir)
			rep, err := spool.Inspect(dir)
			require.NoError(t, err)
			require.True(t, rep.Damaged())
			var all []string
			for _, d := range rep.Damage {
				all = append(all, d.Path+": "+d.What)
			}
			assert.Contains(t, strings.Join(all, "\n"), tc.inCheck)
			assert.True(t, openRefuses(t, dir), "the daemon refuses it too")
			assert.Equal(t, before, fileHashes(t, dir), "check changes nothing")

			srep, err := spool.Salvage(dir)
			require.NoError(t, err)
			require.NotEmpty(t, srep.Losses, "something may be lost and the report says what")
			got := salvaged(t, dir, before, srep)
			if tc.want != nil {
				for _, id := range tc.want {
					assert.Contains(t, got, id)
				}
			}
			for _, id := range got {
				assert.True(t, id >= 1 && id <= 15, "only stored updates come back: %d", id)
			}
			assert.True(t, slices.IsSorted(got), "fetch order kept: %v", got)
			assertLossesBound(t, idsIn(1, 15), got, append(srep.Losses, "from id 1"), tc.name)
		})
	}
}

// TestSalvageKeepsDeadLetters: the dead letters come back with their ids
// and bytes.
func TestSalvageKeepsDeadLetters(t *testing.T) {
	dir := appliedSpool(t, 2, 2)
	wal := filepath.Join(dir, spool.WALName)
	b, err := os.ReadFile(wal)
	require.NoError(t, err)
	b[30] ^= 0xff // the first logged record
	require.NoError(t, os.WriteFile(wal, b, 0o600))
	_, err = spool.Salvage(dir)
	require.NoError(t, err)
	s, err := spool.Open(dir, spool.Options{})
	require.NoError(t, err)
	defer s.Close()
	dls, err := s.DeadLetters()
	require.NoError(t, err)
	require.Len(t, dls, 1)
	assert.Equal(t, uint64(1), dls[0].ID)
	assert.Equal(t, int64(99), dls[0].UpdateID)
	assert.Equal(t, "gone", dls[0].Error)
	assert.Equal(t, idsIn(1, 6), scanIDs(t, s)[:6], "bbolt's updates")
}

// TestSalvageDamagedBboltPagesNeverCrashes writes garbage over random
// pages of spool.db: check and salvage never crash; whatever comes back was
// stored, in order, and what is missing is named.
func TestSalvageDamagedBboltPagesNeverCrashes(t *testing.T) {
	src := t.TempDir()
	fill(t, openSlow(t, src), 100) // one commit at Close: the same pages on every run
	db, err := os.ReadFile(filepath.Join(src, spool.FileName))
	require.NoError(t, err)
	wal, err := os.ReadFile(filepath.Join(src, spool.WALName))
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(11, 12))
	salvagedN := 0
	for i := range 20 {
		dir := t.TempDir()
		b, page := garblePage(rng, db, i)
		require.NoError(t, os.WriteFile(filepath.Join(dir, spool.FileName), b, 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(dir, spool.WALName), wal, 0o600))
		before := fileHashes(t, dir)
		rep, err := spool.Inspect(dir)
		require.NoError(t, err, "page %d", page)
		assert.Equal(t, before, fileHashes(t, dir))
		assert.Equal(t, openRefuses(t, dir), rep.Damaged(), "page %d: check and the daemon agree: %v", page, rep.Damage)
		if !rep.Damaged() {
			t.Logf("page %d: no damage found", page)
			continue
		}
		srep, err := spool.Salvage(dir)
		if errors.Is(err, spool.ErrNothingSalvaged) {
			t.Logf("page %d: nothing salvaged: %v", page, rep.Damage)
			assert.Equal(t, before, fileHashes(t, dir))
			continue
		}
		require.NoError(t, err, "page %d", page)
		salvagedN++
		got := salvaged(t, dir, before, srep)
		assert.True(t, slices.IsSorted(got))
		for _, id := range got {
			require.True(t, id >= 1 && id <= 1000, "only stored updates come back: %d", id)
		}
		if len(got) < 1000 {
			assert.NotEmpty(t, srep.Losses, "page %d: %d of 1000 back and no loss named", page, len(got))
		}
		assertLossesBound(t, idsIn(1, 1000), got, srep.Losses, "page %d", page)
		t.Logf("page %d: %d of 1000 back; %q", page, len(got), srep.Losses)
	}
	t.Logf("%d of 20 damaged files salvaged", salvagedN)
}
