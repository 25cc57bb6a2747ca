package config_test

import (
	"strings"
	"testing"

	"github.com/asgigram/asgigram/config"
)

// TestMaxConnectionsLeavesRoomForTheOutboundSide: the derived default
// never lets local connections take the descriptors that max_concurrency
// deliveries and their Bot API calls need.
func TestMaxConnectionsLeavesRoomForTheOutboundSide(t *testing.T) {
	for _, tc := range []struct {
		nofile uint64
		conc   int
		want   int
	}{
		{256, 64, 40},          // (256 - 48 - 128) / 2
		{1024, 64, 424},        // (1024 - 48 - 128) / 2
		{65536, 64, 10000},     // capped
		{0, 64, 10000},         // unknown limit
		{100, 64, 16},          // below the reserve: the floor
		{1 << 20, 1000, 10000}, // capped
	} {
		got := config.DefaultMaxConnections(tc.nofile, tc.conc)
		if got != tc.want {
			t.Errorf("DefaultMaxConnections(%d, %d) = %d, want %d", tc.nofile, tc.conc, got, tc.want)
		}
		if tc.nofile >= config.FilesNeeded(16, tc.conc) && config.FilesNeeded(got, tc.conc) > tc.nofile {
			t.Errorf("nofile %d: %d connections need %d files", tc.nofile, got, config.FilesNeeded(got, tc.conc))
		}
	}
}

func TestResolveMaxConnectionsWarnsWhenTheLimitIsLow(t *testing.T) {
	c := config.Default()
	warn := c.ResolveMaxConnections(256)
	if c.MaxConnections != 40 {
		t.Errorf("MaxConnections = %d, want 40", c.MaxConnections)
	}
	if !strings.Contains(warn, "LimitNOFILE=") {
		t.Errorf("warning %q does not say what to set", warn)
	}
	c = config.Default()
	if warn := c.ResolveMaxConnections(65536); warn != "" {
		t.Errorf("a warning with 65536 open files: %q", warn)
	}
	c = config.Default()
	c.MaxConnections = 5000
	if warn := c.ResolveMaxConnections(4096); !strings.Contains(warn, "max_connections 5000") {
		t.Errorf("no warning for an explicit max_connections above the limit: %q", warn)
	}
	if c.MaxConnections != 5000 {
		t.Errorf("an explicit max_connections changed to %d", c.MaxConnections)
	}
}
