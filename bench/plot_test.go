package bench_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/bench"
)

// TestCurveAndPlot: reports of offered-rate runs become one point per
// forwarder and rate, asgigram named after its spool, and an SVG with a
// line per forwarder.
func TestCurveAndPlot(t *testing.T) {
	report := func(rate float64, flags []string, cpuA, cpuB float64, p99A, p99B time.Duration) *bench.Report {
		return &bench.Report{
			Config: bench.Config{OfferedRate: rate, AsgigramFlags: flags},
			Median: []bench.Result{
				{Runner: bench.RunnerAsgigram, CPUPer10k: cpuA, P99: p99A},
				{Runner: bench.RunnerBaseline, CPUPer10k: cpuB, P99: p99B},
			},
		}
	}
	reps := []*bench.Report{
		report(100, nil, 8, 6, 3*time.Millisecond, 2*time.Millisecond),
		report(1000, nil, 5, 4, 2*time.Millisecond, time.Millisecond),
		report(1000, []string{"--spool", "memory"}, 4, 4.2, 1500*time.Microsecond, 1100*time.Microsecond),
	}
	pts, err := bench.Curve(reps)
	require.NoError(t, err)
	var got []string
	for _, p := range pts {
		got = append(got, p.Series)
	}
	assert.Equal(t, []string{"asgigram disk", "asgigram disk", "asgigram memory", "baseline", "baseline"}, got)
	assert.InDelta(t, 500, pts[1].CPUPerUpdate, 1e-9, "5 CPU-s per 10k is 500 µs per update")
	assert.Equal(t, time.Millisecond, pts[1].P99Added)

	var svg strings.Builder
	require.NoError(t, bench.PlotSVG(&svg, pts, "test"))
	assert.True(t, strings.HasPrefix(svg.String(), "<svg "))
	assert.Equal(t, 2*3, strings.Count(svg.String(), "<polyline"), "three lines in each of two panels")

	_, err = bench.Curve([]*bench.Report{{Config: bench.Config{}}})
	assert.Error(t, err, "a backlog run has no offered rate")
}
