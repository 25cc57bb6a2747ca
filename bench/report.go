package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

const mib = 1 << 20

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

func mb(b int64) string { return fmt.Sprintf("%.1f", float64(b)/mib) }

func heapMB(h *Heap) string {
	if h == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f/%.1f", float64(h.Alloc)/mib, float64(h.NextGC)/2/mib)
}

// Print writes the report as text: the settings, the machine, one line per
// runner and the ratios asgigram/baseline.
func (rep *Report) Print(w io.Writer) {
	c := rep.Config
	fmt.Fprintf(w, "asgigram-bench: mode=%s", c.Mode())
	switch c.Mode() {
	case "idle":
		fmt.Fprintf(w, " idle=%v", c.Idle)
	case "offered":
		fmt.Fprintf(w, " offered=%.0f/s n=%d chats=%d", c.OfferedRate, c.N, c.Chats)
	default:
		fmt.Fprintf(w, " n=%d chats=%d", c.N, c.Chats)
	}
	fmt.Fprintf(w, " inline=%.0f%% app-latency=%v reply=%s concurrency=%d repeat=%d\n",
		c.InlineShare*100, c.AppLatency, c.Reply, c.Concurrency, c.Repeat)
	flags := strings.Join(c.AsgigramFlags, " ")
	if c.Sign {
		flags = strings.TrimSpace(flags + " --app-secret <generated>")
	}
	if flags == "" {
		flags = "(defaults)"
	}
	fmt.Fprintf(w, "asgigram flags: %s; baseline max pending: %d\n", flags, c.BaselineMaxPending)
	if c.Bots > 1 {
		fmt.Fprintf(w, "bots: %d (each its own backlog of n updates over its own chats), of which %d with an app that never answers (not measured)\n", c.Bots, c.HungBots)
	}
	m := rep.Machine
	fmt.Fprintf(w, "machine: %d CPUs, %s, %s %s\n\n", m.CPUs, m.CPUModel, m.Go, m.OS)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if c.Mode() == "idle" {
		fmt.Fprintln(tw, "runner\tCPU ms over idle\t(ticks, s)\tgetUpdates calls\tRSS MiB\theap MiB (alloc/live)\t")
		for _, r := range rep.Median {
			fmt.Fprintf(tw, "%s\t%.3f\t%.2f\t%d\t%s\t%s\t\n", r.Runner, float64(r.IdleCPU)/float64(time.Millisecond), r.CPU.Seconds(), r.API.Polls, mb(r.RSS), heapMB(r.Heap))
		}
		tw.Flush()
		if c.Bots > 1 {
			for _, r := range rep.Runs {
				fmt.Fprintf(w, "%s: every bot polling %.2fs after start, %d open descriptors, idle CPU %.3f%% of one core, other CPU-s %.2f\n",
					r.Runner, r.AllPolling.Seconds(), r.FDs, 100*r.IdleCPU.Seconds()/c.Idle.Seconds(), r.OtherCPU.Seconds())
			}
		}
		rep.printErrors(w)
		return
	}
	fmt.Fprintln(tw, "runner\tupdates/s\tp50 ms\tp99 ms\tmax ms\tCPU-s/10k\tpeak RSS MiB\theap MiB (alloc/live)\tharness CPU-s\tother CPU-s\t")
	line := func(label string, r Result) {
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%.3f\t%s\t%s\t%.2f\t%.2f\t\n", label, r.UpdatesPerSec, ms(r.P50), ms(r.P99), ms(r.Max),
			r.CPUPer10k, mb(r.PeakRSS), heapMB(r.Heap), r.HarnessCPU.Seconds(), r.OtherCPU.Seconds())
	}
	if c.Repeat > 1 {
		for i, r := range rep.Runs {
			line(fmt.Sprintf("%s #%d", r.Runner, i/len(c.Runners)+1), r)
		}
		fmt.Fprintln(tw, "median\t\t\t\t\t\t\t\t\t\t")
	}
	for _, r := range rep.Median {
		line(r.Runner, r)
	}
	a, b, ok := rep.pair()
	if ok {
		ratio := func(x, y float64) string {
			if y == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2fx", x/y)
		}
		fmt.Fprintf(tw, "asgigram/baseline\t%s\t%s\t%s\t%s\t%s\t%s\t\t\t\t\n",
			ratio(a.UpdatesPerSec, b.UpdatesPerSec), ratio(float64(a.P50), float64(b.P50)), ratio(float64(a.P99), float64(b.P99)),
			ratio(float64(a.Max), float64(b.Max)), ratio(a.CPUPer10k, b.CPUPer10k), ratio(float64(a.PeakRSS), float64(b.PeakRSS)))
	}
	tw.Flush()
	if ok {
		fmt.Fprintf(w, "\np50 added by asgigram: %+.2f ms, p99 added: %+.2f ms\n",
			float64(a.P50-b.P50)/float64(time.Millisecond), float64(a.P99-b.P99)/float64(time.Millisecond))
	}
	if c.Settle > 0 {
		fmt.Fprintf(w, "\nafter settling %v:\n", c.Settle)
		for _, r := range rep.Median {
			fmt.Fprintf(w, "  %s: RSS %s MiB (at drain %s), heap MiB alloc/live %s (at drain %s)\n",
				r.Runner, mb(r.RSSSettled), mb(r.RSS), heapMB(r.HeapSettled), heapMB(r.Heap))
		}
	}
	fmt.Fprintln(w)
	if c.Bots > 1 {
		for _, r := range rep.Runs {
			fmt.Fprintf(w, "%s: every bot polling %.2fs after start, %d open descriptors, RSS %s MiB, other CPU-s %.2f\n",
				r.Runner, r.AllPolling.Seconds(), r.FDs, mb(r.RSS), r.OtherCPU.Seconds())
		}
	}
	for _, r := range rep.Runs {
		fmt.Fprintf(w, "%s: %d/%d updates reached the app (%d POSTs), %d/%d sendMessages recorded, %d duplicates, %d out of order, %d getUpdates; CPU whole life %.2fs, ru_maxrss %s MiB, exit %d\n",
			r.Runner, r.App.Distinct, r.API.Updates, r.App.Events, r.API.Recorded, r.API.Updates, r.API.Duplicates, r.API.OutOfOrder,
			r.API.Polls, r.CPUTotal.Seconds(), mb(r.MaxRSS), r.ExitCode)
	}
	rep.printErrors(w)
}

func (rep *Report) printErrors(w io.Writer) {
	for _, r := range rep.Runs {
		if r.Err != "" {
			fmt.Fprintf(w, "FAILED %s: %s (log: %s)\n", r.Runner, r.Err, r.Log)
		}
	}
}

// pair returns the median results of asgigram and the baseline.
func (rep *Report) pair() (a, b Result, ok bool) {
	var okA, okB bool
	for _, r := range rep.Median {
		switch r.Runner {
		case RunnerAsgigram:
			a, okA = r, true
		case RunnerBaseline:
			b, okB = r, true
		}
	}
	return a, b, okA && okB
}

// Failed reports whether any run failed.
func (rep *Report) Failed() bool {
	for _, r := range rep.Runs {
		if r.Err != "" {
			return true
		}
	}
	return false
}
