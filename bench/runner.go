package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/asgigram/asgigram/bench/pprofhook"
)

// The forwarders a run can measure.
const (
	RunnerAsgigram = "asgigram"
	RunnerBaseline = "baseline"
)

// Config is one benchmark run.
type Config struct {
	Workload
	// AppLatency is the fake application's time per event.
	AppLatency time.Duration
	// Reply is ReplyBody or ReplySend.
	Reply string
	// Concurrency is asgigram's --max-concurrency and the baseline's bound.
	Concurrency int
	// OfferedRate, when > 0, feeds the updates at this many per second
	// instead of making them available at once as a backlog.
	OfferedRate float64
	// Idle, when > 0, measures CPU over this long with no updates instead.
	Idle time.Duration
	// AsgigramFlags are passed to asgigram as they are ("--pacing=false").
	AsgigramFlags []string
	// Sign adds --app-secret with a fresh Standard Webhooks secret.
	Sign bool
	// AsgigramBin is a prebuilt asgigram binary; empty builds one with go
	// build into a temporary directory.
	AsgigramBin string
	// Runners are measured in this order (default asgigram, baseline).
	Runners []string
	// Repeat runs each runner this many times, interleaved; the report
	// takes the median of each metric.
	Repeat int
	// BaselineMaxPending is the baseline's bound on fetched, unfinished
	// updates (200: it fetches the next batch while delivering one).
	BaselineMaxPending int
	// Settle, when > 0, waits this long after the backlog drained and reads
	// the heap and RSS again (give asgigram a short --scope-idle-timeout to
	// see the scopes dropped).
	Settle time.Duration
	// RetryDisturbed, when > 0, runs a measurement again (up to 3 times)
	// when the rest of the machine used more than this share of its CPUs
	// during it (another process disturbed it).
	RetryDisturbed float64
	// WaitQuiet, when > 0, waits before each measurement (up to this long)
	// for a second in which the machine's CPUs were at least 90% idle.
	WaitQuiet time.Duration
	// Timeout bounds one runner's drain.
	Timeout time.Duration
	// WorkDir keeps the binary and the logs; empty uses a temporary
	// directory that is removed at the end.
	WorkDir string
	// ProfileDir, when set, profiles each forwarder over the measured window
	// (CPU and allocations, see package pprofhook) into this directory;
	// asgigram is then built with the hook (it ignores AsgigramBin).
	ProfileDir string
	// Bots, when > 1, runs asgigram with that many bots (a bots: config
	// file), each with a token of its own on the fake Bot API and its own
	// backlog of N updates over its own Chats; only asgigram is measured.
	Bots int
	// HungBots is how many of the Bots have an app that never answers;
	// the measurement is the other bots'.
	HungBots int
	// Progress receives progress lines (nil: discarded).
	Progress io.Writer `json:"-"`
}

func (c *Config) defaults() {
	if c.N <= 0 {
		c.N = 20000
	}
	if c.Chats <= 0 {
		c.Chats = 1000
	}
	if c.Reply == "" {
		c.Reply = ReplyBody
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if len(c.Runners) == 0 {
		c.Runners = []string{RunnerAsgigram, RunnerBaseline}
	}
	if c.Repeat < 1 {
		c.Repeat = 1
	}
	if c.BaselineMaxPending <= 0 {
		c.BaselineMaxPending = 200
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// Mode names the kind of run: backlog, offered or idle.
func (c Config) Mode() string {
	switch {
	case c.Idle > 0:
		return "idle"
	case c.OfferedRate > 0:
		return "offered"
	}
	return "backlog"
}

// Result is one runner's measurements.
type Result struct {
	Runner string `json:"runner"`
	// Drain is the time from the first update's availability to the last
	// sendMessage.
	Drain         time.Duration `json:"drain_ns"`
	UpdatesPerSec float64       `json:"updates_per_sec"`
	// Latency from an update's availability to its sendMessage.
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
	// CPU is the forwarder's user+system CPU time from the moment the
	// updates became available to the last sendMessage (idle: over Idle).
	CPU time.Duration `json:"cpu_ns"`
	// CPUPer10k is CPU in seconds per 10,000 updates.
	CPUPer10k float64 `json:"cpu_s_per_10k"`
	// CPUTotal is the CPU time of the whole process life (rusage).
	CPUTotal time.Duration `json:"cpu_total_ns"`
	// PeakRSS is VmHWM read just before the process was stopped; MaxRSS is
	// rusage's ru_maxrss after it exited.
	PeakRSS int64 `json:"peak_rss_bytes"`
	MaxRSS  int64 `json:"max_rss_bytes"`
	// RSS and Heap are read when the backlog has drained; RSSSettled and
	// HeapSettled after Config.Settle.
	RSS         int64 `json:"rss_bytes"`
	Heap        *Heap `json:"heap,omitempty"`
	RSSSettled  int64 `json:"rss_settled_bytes,omitempty"`
	HeapSettled *Heap `json:"heap_settled,omitempty"`
	// HarnessCPU is the bench process's own CPU (fake API and application)
	// over the same window: it shares the machine with the forwarder.
	HarnessCPU time.Duration `json:"harness_cpu_ns"`
	// IdleCPU is the CPU time over the idle period from the threads'
	// schedstat (nanosecond resolution; idle mode only).
	IdleCPU time.Duration `json:"idle_cpu_ns,omitempty"`
	// OtherCPU is the CPU time the rest of the machine used over the same
	// window (busy time of all CPUs minus the forwarder and the harness):
	// far from 0 means something else disturbed the measurement.
	OtherCPU time.Duration `json:"other_cpu_ns"`
	// AllPolling is the time from the process's start until every bot
	// polled (many bots only); FDs are its open descriptors at the end of
	// the measurement.
	AllPolling time.Duration `json:"all_polling_ns,omitempty"`
	FDs        int           `json:"fds,omitempty"`
	API        Counts        `json:"api"`
	App        AppCounts     `json:"app"`
	ExitCode   int           `json:"exit_code"`
	Log        string        `json:"log"`
	Err        string        `json:"error,omitempty"`
}

// Report is the outcome of Run.
type Report struct {
	Config  Config    `json:"config"`
	Machine Machine   `json:"machine"`
	Runs    []Result  `json:"runs"`
	Median  []Result  `json:"median"`
	Started time.Time `json:"started"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	Go       string `json:"go"`
	OS       string `json:"os"`
}

// Run runs the benchmark of cfg.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	for _, r := range cfg.Runners {
		if r != RunnerAsgigram && r != RunnerBaseline {
			return nil, fmt.Errorf("unknown runner %q (asgigram, baseline)", r)
		}
	}
	if cfg.Bots > 1 && slices.Contains(cfg.Runners, RunnerBaseline) {
		return nil, fmt.Errorf("-bots measures asgigram alone: give -runners asgigram (compare with a run of one bot)")
	}
	if cfg.HungBots >= max(cfg.Bots, 1) && cfg.HungBots > 0 {
		return nil, fmt.Errorf("-hung-bots %d leaves no bot to measure of %d", cfg.HungBots, cfg.Bots)
	}
	if cfg.Reply != ReplyBody && cfg.Reply != ReplySend {
		return nil, fmt.Errorf("unknown reply mode %q (body, send)", cfg.Reply)
	}
	dir := cfg.WorkDir
	if dir == "" {
		d, err := os.MkdirTemp("", "asgigram-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	rep := &Report{Config: cfg, Started: time.Now(), Machine: Machine{
		CPUs: runtime.NumCPU(), CPUModel: cpuModel(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
	}}
	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return nil, err
		}
		if d, err := filepath.Abs(cfg.ProfileDir); err == nil {
			cfg.ProfileDir = d
		}
		if slices.Contains(cfg.Runners, RunnerAsgigram) {
			fmt.Fprintln(cfg.Progress, "building asgigram with the profiling hook ...")
			bin, err := BuildProfiling(ctx, dir, cfg.Progress)
			if err != nil {
				return nil, err
			}
			cfg.AsgigramBin = bin
		}
	}
	if slices.Contains(cfg.Runners, RunnerAsgigram) && cfg.AsgigramBin == "" {
		fmt.Fprintln(cfg.Progress, "building asgigram ...")
		bin, err := Build(ctx, dir, cfg.Progress)
		if err != nil {
			return nil, err
		}
		cfg.AsgigramBin = bin
		rep.Config.AsgigramBin = ""
	}
	if slices.Contains(cfg.Runners, RunnerAsgigram) {
		cfg.AsgigramFlags = benchDefaults(ctx, cfg.AsgigramBin, cfg.AsgigramFlags)
		rep.Config.AsgigramFlags = cfg.AsgigramFlags
	}
	if cfg.Sign {
		var k [32]byte
		_, _ = rand.Read(k[:])
		cfg.AsgigramFlags = append(cfg.AsgigramFlags, "--app-secret", "whsec_"+base64.StdEncoding.EncodeToString(k[:]))
	}
	if cfg.Idle > 0 {
		// Idle processes do not disturb each other: run them side by side.
		res := make([]Result, len(cfg.Runners))
		var wg sync.WaitGroup
		for i, name := range cfg.Runners {
			wg.Go(func() { res[i] = runOne(ctx, cfg, name, dir, 0) })
		}
		wg.Wait()
		rep.Runs = res
		rep.Median = res
		return rep, nil
	}
	for i := range cfg.Repeat {
		for _, name := range cfg.Runners {
			fmt.Fprintf(cfg.Progress, "running %s (%d/%d) ...\n", name, i+1, cfg.Repeat)
			waitQuiet(ctx, cfg)
			r := runOne(ctx, cfg, name, dir, i)
			for try := 1; try < 4 && cfg.RetryDisturbed > 0 && r.Err == "" && r.disturbed(cfg.RetryDisturbed); try++ {
				fmt.Fprintf(cfg.Progress, "%s: the rest of the machine used %.2f CPU-s during the run: running it again\n", name, r.OtherCPU.Seconds())
				waitQuiet(ctx, cfg)
				r = runOne(ctx, cfg, name, dir, i)
			}
			if r.Err != "" {
				fmt.Fprintf(cfg.Progress, "%s: %s\n", name, r.Err)
			}
			rep.Runs = append(rep.Runs, r)
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
		}
	}
	for _, name := range cfg.Runners {
		var rs []Result
		for _, r := range rep.Runs {
			if r.Runner == name {
				rs = append(rs, r)
			}
		}
		rep.Median = append(rep.Median, median(rs))
	}
	return rep, nil
}

// Build builds asgigram (go build ./cmd/asgigram) into dir and returns the
// binary's path. It must run inside the module.
func Build(ctx context.Context, dir string, out io.Writer) (string, error) {
	return build(ctx, filepath.Join(dir, "asgigram"), "", out)
}

// BuildProfiling builds asgigram with package pprofhook added to its main
// package (go build -overlay: asgigram's source is not touched), so that a
// run can profile it over the measured window.
func BuildProfiling(ctx context.Context, dir string, out io.Writer) (string, error) {
	var stdout, stderr strings.Builder
	cmd := exec.CommandContext(ctx, "go", "list", "-f", "{{.Dir}}", "github.com/asgigram/asgigram/cmd/asgigram")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go list cmd/asgigram (run inside the module): %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	hook := filepath.Join(dir, "pprofhook_overlay.go")
	src := "package main\n\nimport _ \"github.com/asgigram/asgigram/bench/pprofhook\"\n"
	if err := os.WriteFile(hook, []byte(src), 0o644); err != nil {
		return "", err
	}
	overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{
		filepath.Join(strings.TrimSpace(stdout.String()), "zz_bench_pprofhook.go"): hook,
	}})
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o644); err != nil {
		return "", err
	}
	return build(ctx, filepath.Join(dir, "asgigram-pprof"), ov, out)
}

func build(ctx context.Context, bin, overlay string, out io.Writer) (string, error) {
	if out == nil {
		out = io.Discard
	}
	args := []string{"build", "-o", bin}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "github.com/asgigram/asgigram/cmd/asgigram")...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = out, io.MultiWriter(out, &stderr)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build asgigram (run inside the module, or pass a prebuilt binary): %w: %s", err, stderr.String())
	}
	return bin, nil
}

// benchDefaults adds --pacing=false to flags when the binary has pacing and
// flags do not mention it: Telegram's 30 messages/s would cap any benchmark.
func benchDefaults(ctx context.Context, bin string, flags []string) []string {
	for _, f := range flags {
		if strings.HasPrefix(f, "--pacing") || strings.HasPrefix(f, "-pacing") {
			return flags
		}
	}
	out, _ := exec.CommandContext(ctx, bin, "--help").CombinedOutput()
	if strings.Contains(string(out), "--pacing") {
		return append([]string{"--pacing=false"}, flags...)
	}
	return flags
}

// freePort returns a loopback address that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// childEnv is the environment of a child: ours without ASGIGRAM_* settings.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ASGIGRAM_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// runOne measures one forwarder once. Failures are reported in Result.Err.
func runOne(ctx context.Context, cfg Config, name, dir string, iter int) (res Result) {
	if cfg.Bots > 1 {
		return runMulti(ctx, cfg, dir, iter)
	}
	res.Runner = name
	fail := func(format string, a ...any) Result {
		res.Err = fmt.Sprintf(format, a...)
		return res
	}
	w := cfg.Workload
	if cfg.Idle > 0 {
		w.N = 0
	}
	api := NewFakeAPI(w)
	if err := api.Start(); err != nil {
		return fail("fake api: %v", err)
	}
	defer api.Close()
	app := NewFakeApp(cfg.AppLatency, cfg.Reply)
	if err := app.Start(); err != nil {
		return fail("fake app: %v", err)
	}
	defer app.Close()
	listen, err := freePort()
	if err != nil {
		return fail("%v", err)
	}

	var cmd *exec.Cmd
	var metricsURL string
	switch name {
	case RunnerAsgigram:
		args := append([]string{BotToken, app.URL(), "--api-url", api.URL(), "--listen", listen,
			"--max-concurrency", strconv.Itoa(cfg.Concurrency)}, cfg.AsgigramFlags...)
		cmd = exec.Command(cfg.AsgigramBin, args...)
		// A fresh spool directory per run (the --data-dir flag, if given,
		// takes precedence); binaries without a spool ignore it with a warning.
		dataDir := filepath.Join(dir, fmt.Sprintf("data-%s-%d", cfg.Mode(), iter+1))
		defer os.RemoveAll(dataDir)
		cmd.Env = childEnv("ASGIGRAM_DATA_DIR=" + dataDir)
		metricsURL = "http://" + listen + "/metrics"
	case RunnerBaseline:
		exe, err := os.Executable()
		if err != nil {
			return fail("%v", err)
		}
		cmd = exec.Command(exe, "-api-url", api.URL(), "-app-url", app.URL(), "-listen", listen,
			"-concurrency", strconv.Itoa(cfg.Concurrency), "-max-pending", strconv.Itoa(cfg.BaselineMaxPending))
		cmd.Env = childEnv(RoleEnv + "=baseline")
		metricsURL = "http://" + listen + "/debug/memstats"
	}
	runName := fmt.Sprintf("%s-%s-%d", name, cfg.Mode(), iter+1)
	var profPrefix string
	if cfg.ProfileDir != "" {
		profPrefix = filepath.Join(cfg.ProfileDir, runName)
		cmd.Env = append(cmd.Env, pprofhook.Env+"="+profPrefix)
	}
	logPath := filepath.Join(dir, runName+".log")
	res.Log = logPath
	logf, err := os.Create(logPath)
	if err != nil {
		return fail("%v", err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	proc, err := startChild(cmd)
	if err != nil {
		return fail("starting %s: %v", name, err)
	}
	pid, exited := cmd.Process.Pid, proc.exited
	stop := func() {
		if !proc.stop(&res) {
			return
		}
		res.API = api.Counts()
		res.App = app.Counts()
	}
	defer stop()

	select {
	case <-api.Polling():
	case <-exited:
		return fail("%s exited before polling: %s", name, tail(logPath))
	case <-time.After(30 * time.Second):
		return fail("%s did not poll within 30s: %s", name, tail(logPath))
	case <-ctx.Done():
		return fail("%v", ctx.Err())
	}
	// Let the first long poll settle in before the clock starts.
	time.Sleep(50 * time.Millisecond)

	mark, err := markCPU(pid)
	if err != nil {
		return fail("reading cpu: %v", err)
	}
	if profPrefix != "" {
		_ = cmd.Process.Signal(syscall.SIGUSR1)
	}

	if cfg.Idle > 0 {
		th0, _ := threadsCPU(pid)
		select {
		case <-time.After(cfg.Idle):
		case <-exited:
			return fail("%s exited while idle: %s", name, tail(logPath))
		case <-ctx.Done():
			return fail("%v", ctx.Err())
		}
		mark.since(&res)
		th1, _ := threadsCPU(pid)
		res.IdleCPU = th1 - th0
		res.PeakRSS, res.RSS, _ = procMem(pid)
		res.Heap = scrapeHeap(metricsURL)
		res.Drain = cfg.Idle
		stop()
		return res
	}

	var t0 time.Time
	feedCtx, cancelFeed := context.WithCancel(ctx)
	defer cancelFeed()
	if cfg.OfferedRate > 0 {
		t0 = api.Feed(feedCtx, cfg.OfferedRate)
	} else {
		t0 = api.Release(w.N)
	}
	timeout := time.NewTimer(cfg.Timeout)
	defer timeout.Stop()
	select {
	case <-api.Done():
	case <-exited:
		return fail("%s exited during the run: %s", name, tail(logPath))
	case <-timeout.C:
		c := api.Counts()
		res.Err = fmt.Sprintf("timed out after %v: %d of %d sendMessages recorded", cfg.Timeout, c.Recorded, c.Updates)
	case <-ctx.Done():
		return fail("%v", ctx.Err())
	}
	mark.since(&res)
	res.PeakRSS, res.RSS, _ = procMem(pid)
	res.Heap = scrapeHeap(metricsURL)
	if profPrefix != "" {
		proc.writeProfiles(profPrefix, cfg.Progress)
	}

	lat, last := api.Latencies()
	res.Drain = last.Sub(t0)
	if len(lat) > 0 {
		slices.Sort(lat)
		res.P50 = lat[len(lat)*50/100]
		res.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
		res.Max = lat[len(lat)-1]
		res.UpdatesPerSec = float64(len(lat)) / res.Drain.Seconds()
		res.CPUPer10k = res.CPU.Seconds() * 10000 / float64(len(lat))
	}
	if cfg.Settle > 0 {
		select {
		case <-time.After(cfg.Settle):
		case <-exited:
		}
		_, res.RSSSettled, _ = procMem(pid)
		res.HeapSettled = scrapeHeap(metricsURL)
		if hwm, _, err := procMem(pid); err == nil {
			res.PeakRSS = hwm
		}
	}
	stop()
	if res.Err == "" {
		res.Err = checkCounts(res)
	}
	return res
}

// waitQuiet waits up to cfg.WaitQuiet for a second in which the machine's
// CPUs were at least 90% idle.
func waitQuiet(ctx context.Context, cfg Config) {
	if cfg.WaitQuiet <= 0 {
		return
	}
	start := time.Now()
	for time.Since(start) < cfg.WaitQuiet && ctx.Err() == nil {
		b0, err := machineBusy()
		if err != nil {
			return
		}
		time.Sleep(time.Second)
		b1, _ := machineBusy()
		if busy := (b1 - b0).Seconds() / float64(runtime.NumCPU()); busy < 0.1 {
			return
		}
	}
	fmt.Fprintf(cfg.Progress, "the machine was not quiet within %v: measuring anyway\n", cfg.WaitQuiet)
}

// disturbed reports whether the rest of the machine used more than share of
// all CPUs during the run.
func (r Result) disturbed(share float64) bool {
	return r.OtherCPU.Seconds() > share*r.Drain.Seconds()*float64(runtime.NumCPU())
}

// checkCounts reports what went missing, or "".
func checkCounts(r Result) string {
	var bad []string
	c := r.API
	if c.Recorded != c.Updates {
		bad = append(bad, fmt.Sprintf("%d of %d sendMessages recorded", c.Recorded, c.Updates))
	}
	if r.App.Distinct != c.Updates {
		bad = append(bad, fmt.Sprintf("%d of %d updates reached the app", r.App.Distinct, c.Updates))
	}
	if c.OutOfOrder > 0 {
		bad = append(bad, fmt.Sprintf("%d sendMessages out of scope order", c.OutOfOrder))
	}
	if c.Unknown > 0 || r.App.Failures > 0 {
		bad = append(bad, fmt.Sprintf("%d unknown sendMessages, %d app failures", c.Unknown, r.App.Failures))
	}
	return strings.Join(bad, "; ")
}

// scrapeHeap reads a forwarder's Go heap: asgigram's Prometheus /metrics
// (go_memstats_*), the baseline's /debug/memstats.
func scrapeHeap(url string) *Heap {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	var h Heap
	if strings.HasSuffix(url, "/debug/memstats") {
		if json.NewDecoder(resp.Body).Decode(&h) != nil {
			return nil
		}
		return &h
	}
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_memstats_heap_alloc_bytes":
			h.Alloc, found = uint64(v), true
		case "go_memstats_heap_inuse_bytes":
			h.Inuse = uint64(v)
		case "go_memstats_next_gc_bytes":
			h.NextGC = uint64(v)
		case "go_memstats_sys_bytes":
			h.Sys = uint64(v)
		}
	}
	if !found {
		return nil
	}
	return &h
}

// tail returns the last lines of a log, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}

// median returns the per-metric median of rs (peak memory: the largest).
func median(rs []Result) Result {
	if len(rs) == 0 {
		return Result{}
	}
	if len(rs) == 1 {
		return rs[0]
	}
	m := rs[len(rs)/2]
	medD := func(get func(Result) time.Duration) time.Duration {
		v := make([]time.Duration, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	medF := func(get func(Result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	m.Drain = medD(func(r Result) time.Duration { return r.Drain })
	m.P50 = medD(func(r Result) time.Duration { return r.P50 })
	m.P99 = medD(func(r Result) time.Duration { return r.P99 })
	m.Max = medD(func(r Result) time.Duration { return r.Max })
	m.CPU = medD(func(r Result) time.Duration { return r.CPU })
	m.CPUTotal = medD(func(r Result) time.Duration { return r.CPUTotal })
	m.HarnessCPU = medD(func(r Result) time.Duration { return r.HarnessCPU })
	m.OtherCPU = medD(func(r Result) time.Duration { return r.OtherCPU })
	m.UpdatesPerSec = medF(func(r Result) float64 { return r.UpdatesPerSec })
	m.AllPolling = medD(func(r Result) time.Duration { return r.AllPolling })
	m.CPUPer10k = medF(func(r Result) float64 { return r.CPUPer10k })
	var errs []string
	for _, r := range rs {
		m.PeakRSS = max(m.PeakRSS, r.PeakRSS)
		m.MaxRSS = max(m.MaxRSS, r.MaxRSS)
		if r.Err != "" {
			errs = append(errs, r.Err)
		}
	}
	m.Err = strings.Join(errs, " | ")
	return m
}
