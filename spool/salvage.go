package spool

import (
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/asgigram/asgigram/adapter"
)

// ErrNotDamaged is returned by Salvage for a spool with no damage: nothing
// is changed.
var ErrNotDamaged = errors.New("the spool is not damaged: nothing to salvage")

// ErrNothingSalvaged is returned by Salvage when no update, dead letter or
// stored position could be read: the files are left as they are.
var ErrNothingSalvaged = errors.New("nothing in the spool could be read")

// SalvageReport says what Salvage did.
type SalvageReport struct {
	// Report is what was found before (Inspect's report).
	Report
	// Kept are the damaged files, renamed: their bytes are unchanged.
	Kept []string
}

// Salvage recovers every intact record of the damaged spool in dir into a
// new spool in the same directory: the updates readable from bbolt, the
// log's intact records above the last applied one (removals included), the
// dead letters and the latest position. The old files are first renamed to
// <name>.damaged-<UTC time> (never modified or deleted); if the new spool
// cannot be written, they are renamed back. It returns ErrNotDamaged for a
// sound spool and ErrNothingSalvaged when nothing could be read (both
// change nothing), ErrLocked when asgigram is running on it.
func Salvage(dir string) (*SalvageReport, error) {
	c, err := readSpool(dir, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.close()
	if c.dbForeign != "" {
		return nil, fmt.Errorf("%s is a bbolt file of another program (bucket %q), not a spool: move it away yourself", c.dbPath, c.dbForeign)
	}
	p := c.plan()
	rep := &SalvageReport{Report: *p.report(c)}
	if !rep.Damaged() {
		return rep, ErrNotDamaged
	}
	if len(p.updates) == 0 && len(p.dead) == 0 && p.pos.Offset == 0 {
		return rep, ErrNothingSalvaged
	}

	stamp := time.Now().UTC().Format("20060102T150405Z")
	var moved [][2]string
	undo := func() {
		for i := len(moved) - 1; i >= 0; i-- {
			_ = os.Rename(moved[i][1], moved[i][0])
		}
		_ = syncDir(dir)
	}
	for _, path := range []string{c.dbPath, c.walPath} {
		if !exists(path) {
			continue
		}
		to := path + ".damaged-" + stamp
		if exists(to) {
			undo()
			return rep, fmt.Errorf("%s already exists: wait a second and run salvage again", to)
		}
		if err := os.Rename(path, to); err != nil {
			undo()
			return rep, fmt.Errorf("keeping the damaged file: %w", accessError(path, err))
		}
		moved = append(moved, [2]string{path, to})
		rep.Kept = append(rep.Kept, to)
	}
	if err := syncDir(dir); err != nil {
		undo()
		return rep, fmt.Errorf("spool: %w", accessError(dir, err))
	}
	n, err := writeSalvaged(dir, c, p)
	if err != nil {
		// The new files are removed only when their names are still ours.
		os.Remove(c.dbPath)
		os.Remove(c.walPath)
		undo()
		rep.Kept = nil
		return rep, fmt.Errorf("writing the new spool (the damaged files are back in place, unchanged): %w", err)
	}
	rep.Waiting, rep.InLog = n, 0 // an update found twice is stored once
	return rep, nil
}

// writeSalvaged writes the plan into a new spool in dir through the same
// path as fetched updates (Append, in fetch order), so that the new spool
// is what Open expects; the dead letters keep their ids and bytes. It
// returns how many updates the new spool holds.
func writeSalvaged(dir string, c *contents, p *plan) (int, error) {
	s, err := Open(dir, Options{BotID: c.botID, APIURL: c.apiURL, LockTimeout: time.Second})
	if err != nil {
		return 0, err
	}
	const chunk = 1000
	for i := 0; i < len(p.updates); {
		epoch := p.updates[i].epoch
		var ups []adapter.Update
		for ; i < len(p.updates) && p.updates[i].epoch == epoch && len(ups) < chunk; i++ {
			u := p.updates[i]
			ups = append(ups, adapter.Update{ID: u.id, Epoch: u.epoch, Raw: u.raw})
		}
		if _, err := s.Append(ups, adapter.Position{Epoch: epoch}); err != nil {
			s.Close()
			return 0, err
		}
	}
	if p.pos.Offset > 0 {
		if _, err := s.Append(nil, p.pos); err != nil {
			s.Close()
			return 0, err
		}
	}
	if len(p.dead) > 0 {
		err := s.update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketDead)
			top := uint64(0)
			for _, d := range p.dead {
				if err := b.Put(u64(d.id), d.raw); err != nil {
					return err
				}
				top = max(top, d.id)
			}
			return b.SetSequence(top)
		})
		if err != nil {
			s.Close()
			return 0, err
		}
	}
	if err := s.Close(); err != nil {
		return 0, err
	}
	// The new spool must be sound: read it back as check does.
	after, err := readSpool(dir, time.Second)
	if err != nil {
		return 0, err
	}
	after.close()
	if len(after.damage) > 0 {
		return 0, fmt.Errorf("the new spool reads back damaged: %s: %s", after.damage[0].Path, after.damage[0].What)
	}
	return len(after.updates), nil
}
