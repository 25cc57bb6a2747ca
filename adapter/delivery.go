package adapter

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// delivery takes the updates the poller fetched and delivers them: one
// event at a time per scope, in fetch order, scopes in parallel up to
// MaxConcurrency. The setting spool picks it: memoryDelivery (spool:
// memory) or diskDelivery (spool: disk).
type delivery interface {
	// put takes a fetched batch and returns once it may be confirmed to
	// Telegram, that is, once next may become the getUpdates offset: the
	// memory delivery when every update of the batch finished, the disk
	// delivery once they are stored (and the spool has room for more). An
	// error means: do not confirm them.
	put(ups []Update, next Position) error
	// replay delivers one update again, behind its scope's backlog (a dead
	// letter's replay). It returns once the update is taken, before it is
	// delivered.
	replay(u Update) error
	// drain stops handing out work and waits for the deliveries in flight
	// (the delivery context bounds them). Run calls it once, after the
	// poller's last put.
	drain()
}

// deliveryDeps is what a delivery needs of the adapter.
type deliveryDeps struct {
	// deliver delivers one event and carries out its reply, keeping a
	// final failure as a dead letter (Adapter.deliver). It returns false
	// when ctx ended before the delivery finished: the update is to be
	// delivered again.
	deliver func(ctx context.Context, ev Event) bool
	// mapper maps updates to events.
	mapper Mapper
	// received, when set, is called with the event type of every update
	// taken (Options.OnReceived). It must not block.
	received func(eventType string)
	// pending counts the updates taken and not yet finished
	// (Adapter.Pending); the delivery keeps it.
	pending *atomic.Int64
	log     *slog.Logger
	// maxConcurrency bounds the deliveries in flight across scopes.
	maxConcurrency int
}
