package adapter

import (
	"context"
	"errors"
	"time"
)

// spoolRecheck spaces the checks of a spool that cannot store updates.
const spoolRecheck = time.Second

// spoolReady reports whether polling may go on: the spool can store new
// updates. When it cannot, polling pauses (nothing more is confirmed to
// Telegram), the updates already stored keep being delivered, /readyz says
// why, and spoolReady waits spoolRecheck before the caller asks again.
func (a *Adapter) spoolReady(ctx context.Context) bool {
	if a.opt.Spool == nil {
		return true
	}
	if err := a.opt.Spool.Check(); err != nil {
		a.pauseForSpool(err)
		sleep(ctx, spoolRecheck)
		return false
	}
	if a.spoolDown.Swap(nil) != nil {
		a.log.Info("the spool can store updates again: polling resumes")
	}
	return true
}

// pauseForSpool records why the spool cannot store updates (readiness
// shows the latest reason), logging an ERROR once per episode.
func (a *Adapter) pauseForSpool(err error) {
	msg := err.Error()
	if old := a.spoolDown.Swap(&msg); old == nil {
		a.log.Error("polling paused: the spool cannot store new updates (the updates already stored are still delivered)", logErr, err)
	}
}

// spoolUnavailable reports whether err says the spool cannot store new
// updates for now (polling pauses) rather than that it failed for good.
func spoolUnavailable(err error) bool { return errors.Is(err, ErrSpoolUnavailable) }

// spoolKeeps reports whether the final confirmation at shutdown may go
// ahead: the spool (if it can tell) still holds what it stored. A batch
// stored into files deleted meanwhile is left unconfirmed, so Telegram
// sends it again.
func (a *Adapter) spoolKeeps() bool {
	if a.opt.Spool == nil {
		return true
	}
	if err := a.opt.Spool.Check(); err != nil {
		a.log.Warn("the last batch is not confirmed to Telegram: the spool cannot keep it, so Telegram sends it again after a restart", logErr, err)
		return false
	}
	return true
}
