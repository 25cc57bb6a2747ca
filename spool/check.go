package spool

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/internal/redact"
)

// Report is what Inspect found in a spool directory, read without
// changing anything.
type Report struct {
	// Dir is the spool's directory.
	Dir string
	// BotID, APIURL (userinfo and query masked) and Format are recorded in
	// the bbolt file (zero when it cannot be read).
	BotID  int64
	APIURL string
	Format string
	// Offset and Epoch are the stored position: the next getUpdates offset
	// and its id space.
	Offset int64
	Epoch  uint32
	// Waiting is the number of updates stored and not yet delivered that
	// can be read; InLog of them are only in the write-ahead log.
	Waiting, InLog int
	// DeadLetters is the number of dead letters that can be read.
	DeadLetters int
	// Damage lists every damage found; empty means the spool is sound.
	Damage []Finding
	// Notes are findings that are not damage (a torn last record).
	Notes []string
	// Losses say what a salvage could not recover, bounded by update ids
	// and stored offsets; Repeats what it may deliver again.
	Losses, Repeats []string
}

// Damaged reports whether any damage was found.
func (r *Report) Damaged() bool { return len(r.Damage) > 0 }

// Inspect reads the spool in dir without changing any file: the bbolt
// file is opened read-only under a shared lock (so a running asgigram makes
// it fail with ErrLocked), the log is read, not truncated. Damage is in the
// report; the error is for what stops the reading: ErrNoSpool, an access
// error, ErrLocked, a file of a format this asgigram does not know.
func Inspect(dir string) (*Report, error) {
	c, err := readSpool(dir, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.close()
	if c.dbForeign != "" {
		return nil, fmt.Errorf("%s is a bbolt file of another program (bucket %q), not a spool", c.dbPath, c.dbForeign)
	}
	p := c.plan()
	return p.report(c), nil
}

// plan is what a salvage would write: the updates in fetch order, the dead
// letters, the position, and what it cannot recover.
type plan struct {
	updates         []stored
	inLog           int
	dead            []deadRaw
	pos             adapter.Position
	losses, repeats []string
}

func (p *plan) report(c *contents) *Report {
	r := &Report{Dir: c.dir, BotID: c.botID, APIURL: redact.URL(c.apiURL), Format: c.format,
		Offset: p.pos.Offset, Epoch: p.pos.Epoch, Waiting: len(p.updates), InLog: p.inLog,
		DeadLetters: len(p.dead), Damage: c.damage, Notes: c.notes, Losses: p.losses, Repeats: p.repeats}
	if c.apiURL == "" {
		r.APIURL = ""
	}
	return r
}

// plan merges what bbolt holds with the log's intact records above it,
// applied in LSN order (a removal deletes what it names), and bounds what
// is missing by the neighbouring records' update ids and the stored
// offsets.
func (c *contents) plan() *plan {
	p := &plan{dead: c.dead, pos: c.dbPos}
	bySeq := make(map[uint64]stored, len(c.updates))
	for _, u := range c.updates {
		bySeq[u.seq] = u
	}
	fromLog := map[uint64]bool{}
	idOf := func(seq uint64) (int64, bool) {
		u, ok := bySeq[seq]
		return u.id, ok
	}
	// bbolt's unreadable stretches, bounded by the records around them.
	dbUnreadable := c.dbExists && !c.dbEmpty && !c.dbOpened && c.dbForeign == ""
	for _, lr := range c.dbLost {
		if c.pagesRead && c.pagesUnknown == 0 {
			break // every page in use was read directly: nothing is missing
		}
		switch lr.bucket {
		case string(bucketUpdates):
			lo, okLo := idOf(lr.after)
			hi, okHi := idOf(lr.upTo)
			switch {
			case okLo && okHi:
				p.losses = append(p.losses, fmt.Sprintf("updates stored in spool.db between id %d and id %d (sequence numbers %d to %d) could not be read: they may be lost", lo, hi, lr.after+1, lr.upTo-1))
			case okHi:
				p.losses = append(p.losses, fmt.Sprintf("updates stored in spool.db before id %d (sequence numbers below %d) could not be read: they may be lost", hi, lr.upTo))
			case okLo:
				upper := "on"
				if c.dbPos.Offset > lo+1 {
					upper = fmt.Sprintf("up to id %d (the stored offset is %d)", c.dbPos.Offset-1, c.dbPos.Offset)
				}
				p.losses = append(p.losses, fmt.Sprintf("updates stored in spool.db after id %d (sequence numbers from %d) could not be read: those from id %d %s may be lost", lo, lr.after+1, lo+1, upper))
			case c.dbPos.Offset > 0:
				p.losses = append(p.losses, fmt.Sprintf("bbolt could not read the updates stored in spool.db: every update that was waiting there (ids below %d, the stored offset%s) may be lost", c.dbPos.Offset, epochNote(c.dbPos.Epoch)))
			default:
				p.losses = append(p.losses, "bbolt could not read the updates stored in spool.db: every update that was waiting there may be lost")
			}
		case string(bucketDead):
			p.losses = append(p.losses, fmt.Sprintf("dead letters stored after #%d and before #%d could not be read", lr.after, lr.upTo))
		default:
			continue
		}
		if c.pagesRead {
			p.losses[len(p.losses)-1] += fmt.Sprintf(" (reading its pages directly recovered what bbolt could not reach: only the records of %d damaged pages are missing)", c.pagesUnknown)
		}
	}
	// The log's live records, in LSN order.
	want := c.applied + 1
	var lastBatchPos = c.dbPos
	for i, r := range c.walLive {
		if c.dbOpened && !c.walV3 && r.lsn != want {
			lo := lastBatchPos.Offset
			hi, bounded := int64(0), false
			for _, later := range c.walLive[i:] {
				if len(later.ups) > 0 {
					hi, bounded = later.ups[0].id-1, true
					break
				}
			}
			if !bounded {
				if last := c.lastPos(); last.Offset > 0 {
					hi, bounded = last.Offset-1, true
				}
			}
			switch {
			case bounded && hi < lo:
				p.repeats = append(p.repeats, fmt.Sprintf("log records %d to %d could not be read; no update id is missing around them, so they held no new update, but finished deliveries they recorded are delivered again", want, r.lsn-1))
			case bounded:
				p.losses = append(p.losses, fmt.Sprintf("log records %d to %d could not be read: updates between id %d and id %d%s may be lost", want, r.lsn-1, lo, hi, epochNote(lastBatchPos.Epoch)))
			default:
				p.losses = append(p.losses, fmt.Sprintf("log records %d to %d could not be read: updates from id %d on may be lost", want, r.lsn-1, lo))
			}
			p.repeats = append(p.repeats, fmt.Sprintf("finished deliveries recorded in log records %d to %d are delivered again", want, r.lsn-1))
		}
		want = r.lsn + 1
		switch r.kind {
		case recBatch:
			for _, u := range r.ups {
				bySeq[u.seq] = stored{seq: u.seq, epoch: r.epoch, id: u.id, raw: u.raw}
				fromLog[u.seq] = true
			}
			if r.next > 0 {
				lastBatchPos = adapter.Position{Offset: r.next, Epoch: r.epoch}
			}
		case recRemoval:
			for _, seq := range r.removed {
				delete(bySeq, seq)
			}
		}
	}
	p.pos = lastBatchPos
	// Damage at the log's end that no later intact record bounds: a cut, or
	// records after the last intact one.
	if c.walDamagedAtEnd() {
		p.losses = append(p.losses, fmt.Sprintf("records after log record %d (the last intact one) could not be read: updates from id %d%s on, fetched after it, may be lost if Telegram had confirmed them", want-1, p.pos.Offset, epochNote(p.pos.Epoch)))
		p.repeats = append(p.repeats, "finished deliveries recorded after the last intact log record are delivered again")
	}
	if dbUnreadable && c.pagesRead && c.pagesUnknown == 0 {
		if len(c.walLive) > 0 {
			p.repeats = append(p.repeats, "the log's records already applied to spool.db cannot be told from the others: updates delivered since may be delivered again")
		}
	} else if dbUnreadable || (!c.dbExists || c.dbEmpty) && len(c.walLive) > 0 {
		first := ""
		for _, r := range c.walLive {
			if len(r.ups) > 0 {
				first = fmt.Sprintf(" (those with ids below %d, the first update in the log)", r.ups[0].id)
				break
			}
		}
		what := "cannot be read"
		if !dbUnreadable {
			what = "is missing or empty"
		}
		p.losses = append(p.losses, "spool.db "+what+": the updates that were waiting in it"+first+" and its dead letters may be lost")
		if len(c.walLive) > 0 {
			p.repeats = append(p.repeats, "the log's records already applied to spool.db cannot be told from the others: updates delivered since may be delivered again")
		}
	}
	if !c.walExists && c.hasDamage(c.walPath) {
		p.losses = append(p.losses, fmt.Sprintf("the write-ahead log is missing: updates from id %d%s on (the offset stored in spool.db), fetched since the last apply, may be lost if Telegram had confirmed them", c.dbPos.Offset, epochNote(c.dbPos.Epoch)))
		p.repeats = append(p.repeats, "finished deliveries recorded only in the missing log are delivered again")
	}
	for _, u := range bySeq {
		p.updates = append(p.updates, u)
		if fromLog[u.seq] {
			p.inLog++
		}
	}
	slices.SortFunc(p.updates, func(a, b stored) int { return cmp.Compare(a.seq, b.seq) })
	return p
}

// lastPos is the position of the last intact batch record that has one,
// else bbolt's.
func (c *contents) lastPos() adapter.Position {
	for i := len(c.walLive) - 1; i >= 0; i-- {
		if r := c.walLive[i]; r.kind == recBatch && r.next > 0 {
			return adapter.Position{Offset: r.next, Epoch: r.epoch}
		}
	}
	return c.dbPos
}

// walDamagedAtEnd reports log damage after the last intact live record
// (or a log with none): the records it held, if any, are lost.
func (c *contents) walDamagedAtEnd() bool {
	return c.walExists && c.hasDamage(c.walPath) && c.dbOpened && !c.walV3 && c.walTail
}

func epochNote(epoch uint32) string {
	if epoch == 0 {
		return ""
	}
	return " (epoch " + strconv.FormatUint(uint64(epoch), 10) + ")"
}

// hasDamage reports whether damage was found in the file at path.
func (c *contents) hasDamage(path string) bool {
	return slices.ContainsFunc(c.damage, func(d Finding) bool { return d.Path == path })
}

// SeveralSpoolsError is returned by FindDir for a data_dir holding the
// spools of several bots when no bot id says which.
type SeveralSpoolsError struct {
	DataDir string
	BotIDs  []int64
}

func (e *SeveralSpoolsError) Error() string {
	ids := make([]string, len(e.BotIDs))
	for i, id := range e.BotIDs {
		ids[i] = strconv.FormatInt(id, 10)
	}
	return fmt.Sprintf("%s holds the spools of %d bots (%s): say which with --bot-id", e.DataDir, len(ids), strings.Join(ids, ", "))
}

// FindDir returns the spool directory dir names, for the spool commands:
// <dir>/<botID> when botID is not 0 and it holds a spool's files; else dir
// itself when it does (a bot's directory, or a data_dir where an earlier
// asgigram kept its one spool); else the one bot directory under dir
// (a directory named by digits that holds a spool's files). With several
// and no bot id it returns *SeveralSpoolsError; with none, ErrNoSpool.
func FindDir(dir string, botID int64) (string, error) {
	if sub := filepath.Join(dir, strconv.FormatInt(botID, 10)); botID != 0 && holdsSpool(sub) {
		return sub, nil
	}
	if holdsSpool(dir) {
		return dir, nil
	}
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s: %w (the directory does not exist)", dir, ErrNoSpool)
		}
		return "", accessError(dir, err)
	}
	if botID != 0 {
		sub := filepath.Join(dir, strconv.FormatInt(botID, 10))
		return "", fmt.Errorf("%s: %w for bot %d (neither %s nor %s there)", sub, ErrNoSpool, botID, FileName, WALName)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", accessError(dir, err)
	}
	var ids []int64
	for _, e := range entries {
		id, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || !e.IsDir() || !holdsSpool(filepath.Join(dir, e.Name())) {
			continue
		}
		ids = append(ids, id)
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("%s: %w (no %s or %s in it, and no bot directory holding them)", dir, ErrNoSpool, FileName, WALName)
	case 1:
		return filepath.Join(dir, strconv.FormatInt(ids[0], 10)), nil
	}
	return "", &SeveralSpoolsError{DataDir: dir, BotIDs: ids}
}

func holdsSpool(dir string) bool {
	return exists(filepath.Join(dir, FileName)) || exists(filepath.Join(dir, WALName))
}
