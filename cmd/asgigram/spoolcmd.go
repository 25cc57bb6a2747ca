package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/spf13/pflag"

	"github.com/asgigram/asgigram/config"
	"github.com/asgigram/asgigram/spool"
)

const spoolUsage = `Usage: asgigram spool check|salvage [flags]

Works on the spool's files while asgigram is stopped.

  check     read-only: the bot id, API URL, format, stored offset and epoch,
            updates waiting, dead letters, and every damage found (bbolt's
            consistency check, log checksum failures, gaps in the log's
            record numbers, a missing or empty spool.db beside a log that
            holds records, a log missing where one must exist), with what a
            salvage could not recover. Changes no file.
            Exit 0 sound, 4 damaged.
  salvage   recovers every intact record of a damaged spool into a new one:
            the old files are renamed to spool.db.damaged-<time> and
            spool.wal.damaged-<time> (their bytes are never changed), and
            what may be lost is named by update ids.
            Exit 0 done (losses are reported), 4 nothing could be salvaged.

Which spool: --data-dir DIR may be a bot's spool directory (<data_dir>/<bot id>)
or a data_dir: then the directory of --bot-id (else of the bot of the
configured token), or the only bot directory in it (several need --bot-id).

Flags:
  --data-dir DIR   default: data_dir of the configuration (--config,
                   ASGIGRAM_CONFIG, ASGIGRAM_DATA_DIR), else the default data_dir
  --bot-id N       default: the bot id of the configured token (ASGIGRAM_TOKEN,
                   ASGIGRAM_TOKEN_FILE, token or token_file in the config file)
  --config FILE    the config file to take data_dir and the token from

Both exit 2 on a usage error and 1 when they cannot run (asgigram is running
on the spool, permission denied, ...).
`

// runSpool is the "spool" subcommand: check and salvage of the spool's
// files (the logic is in the spool package).
func (m *Main) runSpool(args []string) int {
	fs := pflag.NewFlagSet("spool", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dataDir := fs.String("data-dir", "", "")
	botID := fs.Int64("bot-id", 0, "")
	configFile := fs.String("config", "", "")
	help := fs.BoolP("help", "h", false, "")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(m.Stderr, "asgigram spool: %v\n\n%s", err, spoolUsage)
		return ExitConfig
	}
	rest := fs.Args()
	if *help {
		fmt.Fprint(m.Stdout, spoolUsage)
		return ExitOK
	}
	if len(rest) != 1 || (rest[0] != "check" && rest[0] != "salvage") {
		fmt.Fprint(m.Stderr, spoolUsage)
		return ExitConfig
	}
	if *botID < 0 {
		fmt.Fprintln(m.Stderr, "asgigram spool: --bot-id must be a positive number")
		return ExitConfig
	}
	if *dataDir == "" || *botID == 0 {
		dd, id, err := config.SpoolLocation(*configFile)
		switch {
		case err != nil && (*dataDir == "" || *configFile != ""):
			fmt.Fprintf(m.Stderr, "asgigram spool: %v\n", err)
			return ExitConfig
		case err == nil:
			if *dataDir == "" {
				*dataDir = dd
			}
			if *botID == 0 {
				*botID = id
			}
		}
	}
	dir, err := spool.FindDir(*dataDir, *botID)
	if err != nil {
		return m.spoolFailed(err)
	}
	if rest[0] == "check" {
		return m.spoolCheck(dir)
	}
	return m.spoolSalvage(dir)
}

// spoolFailed reports an error that stopped a spool command and returns its
// exit code.
func (m *Main) spoolFailed(err error) int {
	var several *spool.SeveralSpoolsError
	switch {
	case errors.As(err, &several), errors.Is(err, spool.ErrNoSpool):
		fmt.Fprintf(m.Stderr, "asgigram spool: %v\n", err)
		return ExitConfig
	case errors.Is(err, spool.ErrLocked):
		fmt.Fprintf(m.Stderr, "asgigram spool: %v (asgigram is running on this spool)\n", err)
	case errors.Is(err, fs.ErrPermission):
		fmt.Fprintf(m.Stderr, "asgigram spool: access error: %v\n", err)
	default:
		fmt.Fprintf(m.Stderr, "asgigram spool: %v\n", err)
	}
	return ExitFailure
}

func (m *Main) spoolCheck(dir string) int {
	r, err := spool.Inspect(dir)
	if err != nil {
		return m.spoolFailed(err)
	}
	m.printSpool(r)
	if !r.Damaged() {
		fmt.Fprintln(m.Stdout, "result:        sound")
		return ExitOK
	}
	fmt.Fprintf(m.Stdout, "result:        DAMAGED: asgigram refuses to start on it (exit 4); `asgigram spool salvage --data-dir %s` recovers every intact record\n", dir)
	return ExitSpoolDamaged
}

func (m *Main) spoolSalvage(dir string) int {
	r, err := spool.Salvage(dir)
	switch {
	case errors.Is(err, spool.ErrNotDamaged):
		m.printSpool(&r.Report)
		fmt.Fprintln(m.Stdout, "result:        sound: nothing to salvage, nothing changed")
		return ExitOK
	case errors.Is(err, spool.ErrNothingSalvaged):
		m.printSpool(&r.Report)
		fmt.Fprintf(m.Stdout, "result:        nothing could be salvaged: no update, dead letter or stored offset is readable; the files are left as they are. To start afresh, move %s and %s out of %s (what they held may be lost, see above)\n", spool.FileName, spool.WALName, dir)
		return ExitSpoolDamaged
	case err != nil:
		if r != nil {
			m.printSpool(&r.Report)
		}
		return m.spoolFailed(err)
	}
	m.printSpool(&r.Report)
	fmt.Fprintf(m.Stdout, "kept:          %s\n", strings.Join(r.Kept, "\n               "))
	fmt.Fprintf(m.Stdout, "result:        salvaged: a new spool in %s holds %d updates, %d dead letters and offset %d; start asgigram to deliver them\n", dir, r.Waiting, r.DeadLetters, r.Offset)
	return ExitOK
}

// printSpool prints what a report found. The bot id, never a token: the
// spool holds none.
func (m *Main) printSpool(r *spool.Report) {
	w := m.Stdout
	fmt.Fprintf(w, "spool:         %s\n", r.Dir)
	fmt.Fprintf(w, "bot id:        %s\n", orUnknown(r.BotID != 0, fmt.Sprint(r.BotID)))
	fmt.Fprintf(w, "api url:       %s\n", orUnknown(r.APIURL != "", r.APIURL))
	fmt.Fprintf(w, "format:        %s\n", orUnknown(r.Format != "", r.Format))
	fmt.Fprintf(w, "offset:        %d (epoch %d)\n", r.Offset, r.Epoch)
	fmt.Fprintf(w, "waiting:       %d updates (%d of them only in the log)\n", r.Waiting, r.InLog)
	fmt.Fprintf(w, "dead letters:  %d\n", r.DeadLetters)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note:          %s\n", n)
	}
	if !r.Damaged() {
		fmt.Fprintln(w, "damage:        none")
		return
	}
	fmt.Fprintf(w, "damage:        %d found\n", len(r.Damage))
	for _, d := range r.Damage {
		fmt.Fprintf(w, "  %s: %s\n", d.Path, d.What)
	}
	for _, l := range r.Losses {
		fmt.Fprintf(w, "may be lost:   %s\n", l)
	}
	for _, l := range r.Repeats {
		fmt.Fprintf(w, "may repeat:    %s\n", l)
	}
}

func orUnknown(ok bool, s string) string {
	if ok {
		return s
	}
	return "(unknown)"
}
