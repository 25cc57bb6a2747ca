package config

import "fmt"

// The local server's connections share the process's open files with the
// outbound side. The budget, in descriptors:
//
//	fdBase (48)            the process itself (stdio, the listener, the
//	                       spool's files and directory, the runtime's
//	                       poller, getUpdates, DNS), up to 16 connections
//	                       being refused with a 503, and a margin
//	+ 2 × max_concurrency  each delivery holds a connection to the
//	                       application and, for its reply's calls, one to
//	                       the Bot API (getUpdates fits in the margin)
//	+ 2 × max_connections  each local connection, and the Bot API
//	                       connection its /send or /file call may hold
//
// DefaultMaxConnections solves it for max_connections, so that inbound
// clients can never take the descriptors deliveries and Bot API calls need.
const (
	fdBase = 48
	// maxDerivedConnections caps the derived default: past it a higher
	// open-file limit buys memory use, not service.
	maxDerivedConnections = 10000
	// minConnections is the floor of the derived default; a limit that
	// leaves less is warned about.
	minConnections = 16
	// wantConnections is the room below which the start-up warns.
	wantConnections = 256
)

// FilesNeeded returns the open-file limit that max_connections local
// connections and maxConcurrency deliveries need (the arithmetic above).
func FilesNeeded(maxConnections, maxConcurrency int) uint64 {
	return uint64(fdBase + 2*maxConcurrency + 2*maxConnections)
}

// DefaultMaxConnections derives max_connections from the open-file limit
// nofile: (nofile − 48 − 2 × maxConcurrency) / 2, at least 16 and at most
// 10,000. An unknown limit (0) gives 10,000.
func DefaultMaxConnections(nofile uint64, maxConcurrency int) int {
	if nofile == 0 {
		return maxDerivedConnections
	}
	reserved := uint64(fdBase + 2*maxConcurrency)
	if nofile <= reserved {
		return minConnections
	}
	return int(min(max((nofile-reserved)/2, minConnections), maxDerivedConnections))
}

// ResolveMaxConnections fills in MaxConnections when it is 0 (derived from
// nofile, the process's open-file limit; 0 if unknown) and returns a
// warning when nofile is too low for the configuration, naming the
// LimitNOFILE= to set; "" when it is not.
func (c *Config) ResolveMaxConnections(nofile uint64) string {
	derived := c.MaxConnections == 0
	if derived {
		c.MaxConnections = DefaultMaxConnections(nofile, c.MaxConcurrency)
	}
	if nofile == 0 {
		return ""
	}
	want := c.MaxConnections
	if derived {
		want = max(want, wantConnections)
	}
	need := FilesNeeded(want, c.MaxConcurrency)
	if nofile >= need {
		return ""
	}
	if derived {
		return fmt.Sprintf("the open-file limit (%d) leaves room for only %d connections to the local server (max_connections) beside %d deliveries: raise it to at least %d (LimitNOFILE=%d in the systemd unit, ulimit -n, or the container's nofile ulimit)",
			nofile, c.MaxConnections, c.MaxConcurrency, need, max(need, 65536))
	}
	return fmt.Sprintf("the open-file limit (%d) is too low for max_connections %d beside %d deliveries: outbound calls may fail with too many open files; raise it to at least %d (LimitNOFILE=%d in the systemd unit, ulimit -n, or the container's nofile ulimit), or lower max_connections",
		nofile, c.MaxConnections, c.MaxConcurrency, need, max(need, 65536))
}
