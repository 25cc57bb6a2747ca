// Command asgigram-bench measures asgigram against a minimal hand-written
// forwarder (the baseline) on this machine: both drain the same backlog of
// updates from a fast fake Bot API through the same fake application, each
// as a separate process, and the report gives updates/s, latency, CPU per 10k
// updates and peak RSS for both, with their ratios. See BENCHMARKS.md.
//
//	go run ./cmd/asgigram-bench                      # 20,000 updates over 1,000 chats
//	go run ./cmd/asgigram-bench -app-latency 2ms
//	go run ./cmd/asgigram-bench -offered-rate 1000 -n 10000
//	go run ./cmd/asgigram-bench -idle 60s
//	go run ./cmd/asgigram-bench -asgigram-flags "--pacing=false --spool disk"
//	go run ./cmd/asgigram-bench -runners asgigram -bots 100 -n 1000 -chats 10
//	go run ./cmd/asgigram-bench -runners asgigram -bots 1000 -idle 60s
//	go run ./cmd/asgigram-bench -plot curve.svg r100.json r1000.json ...
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/asgigram/asgigram/bench"
)

func main() {
	// The same binary is the baseline forwarder's process.
	bench.ChildMain()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("asgigram-bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./cmd/asgigram-bench [flags]\n\n"+
			"Runs asgigram and a minimal baseline forwarder against a fast fake Bot API and a\n"+
			"fake application, each as its own process, and compares them.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var cfg bench.Config
	var asgFlags, runners, jsonOut, plotOut string
	fs.IntVar(&cfg.N, "n", 20000, "updates in the backlog (or fed at -offered-rate)")
	fs.IntVar(&cfg.Chats, "chats", 1000, "chats the message updates are spread over")
	fs.Float64Var(&cfg.InlineShare, "inline", 0.05, "share of inline_query updates (user scopes, from chats/10 users)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the update stream")
	fs.DurationVar(&cfg.AppLatency, "app-latency", 0, "the fake application's time per event")
	fs.StringVar(&cfg.Reply, "reply", bench.ReplyBody, "how the application replies: body (one telegram.send_message in the response) or send (POST send_url with the token)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 64, "deliveries in flight (asgigram --max-concurrency, the baseline's bound)")
	fs.Float64Var(&cfg.OfferedRate, "offered-rate", 0, "feed the updates at this many per second instead of a backlog (0: backlog)")
	fs.DurationVar(&cfg.Idle, "idle", 0, "measure CPU over this long with no updates instead (e.g. 60s)")
	fs.StringVar(&asgFlags, "asgigram-flags", "", "extra flags passed to asgigram as they are, space-separated (e.g. \"--spool memory\"); --pacing=false is added unless they mention pacing")
	fs.BoolVar(&cfg.Sign, "sign", false, "sign events (asgigram --app-secret with a generated secret)")
	fs.IntVar(&cfg.Bots, "bots", 1, "run asgigram with this many bots (a bots: config file; -runners asgigram), each with its own backlog of -n updates over its own -chats")
	fs.IntVar(&cfg.HungBots, "hung-bots", 0, "with -bots: this many bots' app never answers; the others are measured")
	fs.StringVar(&cfg.AsgigramBin, "asgigram-bin", "", "a prebuilt asgigram binary (default: go build ./cmd/asgigram into a temporary directory)")
	fs.StringVar(&runners, "runners", "asgigram,baseline", "what to measure, in this order")
	fs.IntVar(&cfg.Repeat, "repeat", 1, "run each this many times, interleaved, and report medians")
	fs.IntVar(&cfg.BaselineMaxPending, "baseline-max-pending", 200, "updates the baseline holds fetched and unfinished (100: it waits for each batch like asgigram's memory delivery)")
	fs.DurationVar(&cfg.Settle, "settle", 0, "after the drain, wait this long and read heap and RSS again")
	fs.Float64Var(&cfg.RetryDisturbed, "retry-disturbed", 0, "run a measurement again (up to 3 times) when other processes used more than this share of the CPUs during it (e.g. 0.1)")
	fs.DurationVar(&cfg.WaitQuiet, "wait-quiet", 0, "before each measurement, wait up to this long for the machine's CPUs to be 90% idle for a second")
	fs.DurationVar(&cfg.Timeout, "timeout", 0, "give up on a runner after this long (default 5m)")
	fs.StringVar(&cfg.WorkDir, "work-dir", "", "keep the binary and the logs here (default: a temporary directory, removed)")
	fs.StringVar(&cfg.ProfileDir, "profile", "", "profile each forwarder (CPU, allocations) over the measured window into this directory; asgigram is built with a hook for it")
	fs.StringVar(&jsonOut, "json", "", "also write the full report as JSON to this file")
	fs.StringVar(&plotOut, "plot", "", "instead of measuring, read the -json reports of offered-rate runs named as arguments and draw CPU per update and p99 against the offered rate into this SVG file (a Markdown table goes to stdout)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if plotOut != "" {
		return plot(plotOut, fs.Args())
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "asgigram-bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg.AsgigramFlags = strings.Fields(asgFlags)
	cfg.Runners = strings.Split(runners, ",")
	cfg.Progress = os.Stderr
	rep, err := bench.Run(ctx, cfg)
	if rep != nil {
		rep.Print(os.Stdout)
		if jsonOut != "" {
			b, _ := json.MarshalIndent(rep, "", "  ")
			if werr := os.WriteFile(jsonOut, b, 0o644); werr != nil {
				fmt.Fprintln(os.Stderr, "asgigram-bench:", werr)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "asgigram-bench:", err)
		return 1
	}
	if rep.Failed() {
		return 1
	}
	return 0
}

// plot draws the curve of the -json reports named by files into out.
func plot(out string, files []string) int {
	var reps []*bench.Report
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "asgigram-bench:", err)
			return 1
		}
		var rep bench.Report
		if err := json.Unmarshal(b, &rep); err != nil {
			fmt.Fprintf(os.Stderr, "asgigram-bench: %s: %v\n", f, err)
			return 1
		}
		reps = append(reps, &rep)
	}
	pts, err := bench.Curve(reps)
	if err != nil {
		fmt.Fprintln(os.Stderr, "asgigram-bench:", err)
		return 1
	}
	bench.PrintCurve(os.Stdout, pts)
	var buf strings.Builder
	if err := bench.PlotSVG(&buf, pts, "asgigram and the baseline against the offered rate (medians)"); err != nil {
		fmt.Fprintln(os.Stderr, "asgigram-bench:", err)
		return 1
	}
	if err := os.WriteFile(out, []byte(buf.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "asgigram-bench:", err)
		return 1
	}
	return 0
}
