package adapter

import "errors"

// Position is where polling stands: the next getUpdates offset and the
// id space (epoch) it belongs to. Update ids rise by one within an epoch;
// when Telegram's ids go down (a new id space: a bot quiet for a week, or
// another Bot API server) the adapter starts the next epoch.
type Position struct {
	// Offset is the next getUpdates offset (0: none yet).
	Offset int64
	// Epoch is the id space: 0 for the first, then one more at each reset.
	Epoch uint32
}

// Spool is durable storage for fetched updates (spool: disk). *spool.Spool
// (a bbolt file and a write-ahead log) implements it; another backend (a
// replicated stream, say) implements it with the same promises and the
// adapter needs no change:
//   - Identity: an update is (epoch, update_id), see Position. The same
//     update_id in another epoch is another update. A backend with its own
//     deduplication (a message id) uses the pair as that id.
//   - Durability point: when Append returns nil, its updates and next
//     survive a crash of the process and of the machine; only then does the
//     adapter confirm them to Telegram with the next getUpdates offset. An
//     Append that fails stored nothing the adapter relies on: the batch is
//     not confirmed, so Telegram sends it again.
//   - Position: Append saves next with its updates, in the same durable
//     write; Position returns the last one saved, so that a restart polls
//     on from it, in its epoch.
//   - Idempotency: appending an update that is still stored (or twice in one
//     batch) stores nothing, and its sequence number is 0. Telegram sends a
//     batch again whenever a confirmation was lost.
//   - Order: every update stored gets a sequence number higher than any
//     before it. Scan visits the stored updates in that order, so that
//     after a restart each scope is delivered in fetch order; an update
//     stored again by Requeue comes after those stored before it.
//   - Removal: Remove may take effect a little later, and a removal lost in
//     a crash only delivers the update again (with the same webhook-id: its
//     epoch is stored with it). Removing a sequence number that is not
//     stored is no error. Removing an update leaves a copy stored again by
//     Requeue in place.
//   - Errors: an error wrapping ErrSpoolUnavailable (a full disk) pauses
//     polling until Check passes again; any other error
//     from Append stops the adapter. A Get that fails makes the update a
//     dead letter of kind spool (DeadSpool), never a silent loss.
//   - Concurrency: the methods are called from several goroutines at once
//     (the poller appends, the workers read, a flusher removes, the admin
//     API buries and replays dead letters).
//
// The result of a reply body (Options.ReplyResults) is stored through the
// same interface, so that it survives a crash between the reply's calls
// and its delivery: once the calls were made, the adapter stores it with
// Requeue as a record of its own, an Update with the answered update's
// (epoch, update_id) and a member "asgigram_reply_result" that no Telegram
// update has (holding the result event and the answered update), delivers
// it at once while the scope is still held, then Removes it. Requeue, not
// Append: the record shares its update's identity and must be stored even
// while that update is (a second backend needs nothing else). The start-up
// Scan sees such a record after its update (its sequence number is higher)
// and possibly after later updates of the scope: the adapter puts it in its
// update's place in the scope's queue and removes the update, whose calls
// were made; when the update is gone, the record goes first in its scope.
// A record delivered but not yet removed at a crash is delivered again,
// with the same webhook-id. With spool: memory the result is delivered
// from memory, in order, and the batch is confirmed only after it.
//
// The dead letters (DeadLetters) are kept in the same store.
type Spool interface {
	DeadLetters
	// Position returns the saved position (zero value: none).
	Position() (Position, error)
	// Append stores ups in order, each in its epoch (the adapter gives
	// every update of a batch next.Epoch), and saves next when
	// next.Offset > 0, in one durable write. It returns one sequence
	// number per update: 0 for an update already stored.
	Append(ups []Update, next Position) ([]uint64, error)
	// Requeue stores one update again with a new sequence number, even if
	// it is still stored (a dead letter's replay racing the removal of the
	// original).
	Requeue(u Update) (uint64, error)
	// Get returns a stored update.
	Get(seq uint64) (Update, error)
	// Scan visits the stored updates in sequence order; an error from fn
	// ends it and is returned. The adapter scans once, at start, before
	// it appends or removes.
	Scan(fn func(seq uint64, u Update) error) error
	// Remove deletes finished updates, possibly a little later.
	Remove(seqs []uint64) error
	// Check tells, before a getUpdates call, whether the spool could store
	// what that call would confirm. A disk spool checks for a full disk and
	// for its files removed or replaced while running; a backend that can
	// always store returns nil. The error wraps ErrSpoolUnavailable.
	Check() error
}

// ErrSpoolUnavailable is wrapped by a Spool's errors that pause polling
// instead of stopping the adapter: a full disk, a data directory removed
// while running. The updates already stored are still delivered; polling
// resumes when the spool's Check passes again.
var ErrSpoolUnavailable = errors.New("the spool cannot store new updates")
