package bench_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/bench"
)

func TestMain(m *testing.M) {
	// The baseline runs as a re-execution of this test binary.
	bench.ChildMain()
	os.Exit(m.Run())
}

// TestTinyRun runs the whole benchmark at a tiny size, both reply modes, and
// checks counts only: every update reached the application once, every
// sendMessage arrived, in scope order, for asgigram and for the baseline.
// Timing is not asserted (CI machines are noisy).
func TestTinyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs asgigram")
	}
	bin, err := bench.Build(context.Background(), t.TempDir(), nil)
	require.NoError(t, err)
	for _, reply := range []string{bench.ReplyBody, bench.ReplySend} {
		t.Run(reply, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			rep, err := bench.Run(ctx, bench.Config{
				Workload:      bench.Workload{N: 200, Chats: 20, InlineShare: 0.1, Seed: 7},
				Reply:         reply,
				Concurrency:   8,
				AsgigramFlags: []string{"--poll-timeout", "1s", "--log-level", "warn"},
				AsgigramBin:   bin,
				Timeout:       30 * time.Second,
			})
			require.NoError(t, err)
			var out bytes.Buffer
			rep.Print(&out)
			t.Log("\n" + out.String())
			require.Len(t, rep.Runs, 2)
			for _, r := range rep.Runs {
				assert.Empty(t, r.Err, r.Runner)
				assert.Equal(t, 200, r.API.Recorded, "%s: sendMessages recorded", r.Runner)
				assert.Equal(t, 200, r.App.Distinct, "%s: updates that reached the app", r.Runner)
				assert.EqualValues(t, 200, r.App.Events, "%s: POSTs to the app", r.Runner)
				assert.Zero(t, r.API.Duplicates, "%s: duplicate sendMessages", r.Runner)
				assert.Zero(t, r.API.OutOfOrder, "%s: sendMessages out of scope order", r.Runner)
				assert.Zero(t, r.API.Unknown, "%s: unknown sendMessages", r.Runner)
				assert.Zero(t, r.App.Failures, "%s: app failures", r.Runner)
				assert.Zero(t, r.ExitCode, "%s: exit code", r.Runner)
				assert.Positive(t, r.UpdatesPerSec, r.Runner)
				assert.Positive(t, r.PeakRSS, r.Runner)
			}
		})
	}
}

// TestTinyManyBots runs asgigram with four bots from a bots: file, one of
// them with an app that never answers, and checks the counts of the three
// others: each of their updates reached the application once and its
// sendMessage arrived, in scope order; the hung bot's are not counted.
func TestTinyManyBots(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs asgigram")
	}
	bin, err := bench.Build(context.Background(), t.TempDir(), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := bench.Run(ctx, bench.Config{
		Workload:      bench.Workload{N: 100, Chats: 10, Seed: 7},
		Bots:          4,
		HungBots:      1,
		Runners:       []string{bench.RunnerAsgigram},
		AsgigramFlags: []string{"--poll-timeout", "1s", "--log-level", "warn", "--shutdown-grace", "1s"},
		AsgigramBin:   bin,
		Timeout:       30 * time.Second,
	})
	require.NoError(t, err)
	var out bytes.Buffer
	rep.Print(&out)
	t.Log("\n" + out.String())
	require.Len(t, rep.Runs, 1)
	r := rep.Runs[0]
	assert.Empty(t, r.Err)
	assert.Equal(t, 300, r.API.Updates, "the measured bots' updates")
	assert.Equal(t, 300, r.API.Recorded, "sendMessages recorded")
	assert.Equal(t, 300, r.App.Distinct, "updates that reached the app")
	assert.Zero(t, r.API.Duplicates, "duplicate sendMessages")
	assert.Zero(t, r.API.OutOfOrder, "sendMessages out of scope order")
	assert.Zero(t, r.API.Unknown, "unknown sendMessages")
	assert.Positive(t, r.AllPolling)
	assert.Positive(t, r.FDs)

	_, err = bench.Run(ctx, bench.Config{Bots: 2, AsgigramBin: bin})
	assert.ErrorContains(t, err, "-runners asgigram", "the baseline with -bots")
}
