//go:build linux

package adapter_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/config"
	"github.com/asgigram/asgigram/pacing"
	"github.com/asgigram/asgigram/spool"
	"github.com/asgigram/asgigram/telegram"
	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// The measurement of many idle bots in one process (BENCHMARKS.md, "Many
// idle bots (in-process)"). It is opt-in, and only logs what it finds:
//
//	ASGIGRAM_MEASURE_IDLE_BOTS=1000 go test -run '^TestMeasureIdleBots$' -v -count=1 -timeout 10m ./adapter
//
// ASGIGRAM_MEASURE_IDLE_SPOOL=memory measures spool: memory instead of
// disk; the bots run with the daemon's defaults (config.Default).
// ASGIGRAM_MEASURE_IDLE_WINDOW (a duration, default 35s: longer than
// the 30 s long poll, so that every bot polls again in it) is the idle
// window whose CPU is reported.
const (
	envIdleBots   = "ASGIGRAM_MEASURE_IDLE_BOTS"
	envIdleSpool  = "ASGIGRAM_MEASURE_IDLE_SPOOL"
	envIdleWindow = "ASGIGRAM_MEASURE_IDLE_WINDOW"
	// envIdleFake makes the test binary the fake Bot API's process (see
	// TestMeasureIdleBotsFakeAPI).
	envIdleFake = "ASGIGRAM_MEASURE_IDLE_FAKEAPI"
)

// idleToken is the token of bot i of the measurement.
func idleToken(i int) string { return fmt.Sprintf("%d:idle-bot-%d", 7_000_000+i, i) }

// TestMeasureIdleBots starts N adapters (adapter.New and Run, each with its
// own Telegram client, and a disk spool of its own in a temporary
// directory, or spool: memory), all against one fake Bot API serving N
// tokens, and no update anywhere: N idle bots long-polling. The fake Bot
// API runs in a child process (this test binary again), so that what is
// measured is the bots' side alone: goroutines, Go heap and stacks,
// resident memory (VmRSS), open file descriptors, the time until all N
// poll, and the CPU used over an idle window as a share of one core.
func TestMeasureIdleBots(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(envIdleBots))
	if n <= 0 {
		t.Skipf("set %s=N to measure N idle bots", envIdleBots)
	}
	disk := os.Getenv(envIdleSpool) != "memory"
	window := 35 * time.Second
	if v := os.Getenv(envIdleWindow); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s: %v", envIdleWindow, err)
		}
		window = d
	}
	cfg := config.Default() // what the daemon runs each bot with
	api, polling := startIdleFakeAPI(t, n)
	polling() // its connection is not the bots'

	goBefore, ms0 := runtime.NumGoroutine(), memStats()
	fdBefore, rssBefore := fdKinds(t), idleRSSKiB(t)

	start := time.Now()
	spools := make([]*spool.Spool, n)
	if disk {
		root := t.TempDir()
		for i := range n {
			s, err := spool.Open(filepath.Join(root, strconv.Itoa(i)), spool.Options{DeadLetterMax: cfg.DeadletterMax, BotID: int64(7_000_000 + i)})
			if err != nil {
				t.Fatal(err)
			}
			spools[i] = s
		}
	}
	opened := time.Since(start)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		opt := adapter.Options{
			Telegram:         telegram.New(api, idleToken(i), telegram.Options{PollTimeout: cfg.PollTimeout}),
			App:              idleApp{},
			SendURL:          "http://127.0.0.1:1/send",
			PollTimeout:      cfg.PollTimeout,
			AllowedUpdates:   cfg.AllowedUpdates,
			MaxConcurrency:   cfg.MaxConcurrency,
			ScopeIdleTimeout: cfg.ScopeIdleTimeout,
			MaxScopes:        cfg.MaxScopes,
			SendTimeout:      cfg.SendTimeout,
			ShutdownGrace:    cfg.ShutdownGrace,
			BotID:            int64(7_000_000 + i),
			SpoolMax:         cfg.SpoolMax,
			SpoolMemory:      int(cfg.SpoolMemory),
			DeadLetterMax:    cfg.DeadletterMax,
			Pacer: pacing.New(pacing.Config{
				ChatRate: cfg.PacingChatRate, ChatBurst: cfg.PacingChatBurst,
				GroupRate: cfg.PacingGroupRate, GlobalRate: cfg.PacingGlobalRate,
			}),
			ChatQueue: cfg.PacingQueue,
		}
		if disk {
			opt.Spool = spools[i]
		}
		a := adapter.New(opt)
		wg.Go(func() {
			if err := a.Run(ctx); err != nil {
				errs <- err
			}
		})
	}
	defer func() {
		cancel()
		wg.Wait()
		for _, s := range spools {
			if s != nil {
				s.Close()
			}
		}
		close(errs)
		for err := range errs {
			t.Errorf("Run: %v", err)
		}
	}()
	for polling() < n {
		if time.Since(start) > 5*time.Minute {
			t.Fatalf("only %d of %d bots poll after 5 minutes", polling(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	allPolling := time.Since(start)

	time.Sleep(2 * time.Second) // let start-up garbage go
	goAfter, ms1 := runtime.NumGoroutine(), memStats()
	fdAfter, rssAfter := fdKinds(t), idleRSSKiB(t)

	cpu0, wall0 := cpuTime(t), time.Now()
	time.Sleep(window)
	cpu1, wall := cpuTime(t), time.Since(wall0)
	rssEnd := idleRSSKiB(t)
	if got := polling(); got < n {
		t.Errorf("%d of %d bots poll at the end of the idle window", got, n)
	}

	mode := "disk"
	if !disk {
		mode = "memory"
	}
	per := func(v int64) float64 { return float64(v) / float64(n) }
	t.Logf("%d idle bots, spool: %s, %s/%s, GOMAXPROCS %d", n, mode, runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
	t.Logf("start: spools opened in %v, all %d polling %v after start", opened.Round(time.Millisecond), n, allPolling.Round(time.Millisecond))
	t.Logf("goroutines: +%d (%.1f per bot)", goAfter-goBefore, per(int64(goAfter-goBefore)))
	t.Logf("Go heap in use: +%d KiB (%.1f KiB per bot); goroutine stacks: +%d KiB (%.1f KiB per bot); runtime total (Sys): +%d KiB",
		(ms1.HeapInuse-ms0.HeapInuse)>>10, per(int64(ms1.HeapInuse-ms0.HeapInuse))/1024,
		(ms1.StackInuse-ms0.StackInuse)>>10, per(int64(ms1.StackInuse-ms0.StackInuse))/1024,
		(ms1.Sys-ms0.Sys)>>10)
	t.Logf("resident (VmRSS): %d KiB before, %d KiB with the bots (+%.1f KiB per bot), %d KiB after the idle window; %.1f MiB in all",
		rssBefore, rssAfter, per(rssAfter-rssBefore), rssEnd, float64(rssEnd)/1024)
	t.Logf("file descriptors: +%d (%.2f per bot): sockets +%d, files +%d, other +%d",
		fdAfter.total()-fdBefore.total(), per(int64(fdAfter.total()-fdBefore.total())),
		fdAfter.sockets-fdBefore.sockets, fdAfter.files-fdBefore.files, fdAfter.other-fdBefore.other)
	t.Logf("idle CPU: %v over %v = %.2f%% of one core", (cpu1 - cpu0).Round(time.Millisecond), wall.Round(time.Millisecond),
		100*float64(cpu1-cpu0)/float64(wall))
}

// idleApp is an application that is never called: the bots are idle.
type idleApp struct{}

func (idleApp) Deliver(context.Context, adapter.AppRequest) (adapter.AppResponse, error) {
	return adapter.AppResponse{Status: http.StatusNoContent}, nil
}

// startIdleFakeAPI starts the fake Bot API serving n bots in a child
// process and returns its URL and a function that counts the bots holding
// a long poll.
func startIdleFakeAPI(t *testing.T, n int) (string, func() int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMeasureIdleBotsFakeAPI$")
	cmd.Env = append(os.Environ(), envIdleFake+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the child ends when its stdin closes
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	var url string
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "fakeapi "); ok {
			url = u
			break
		}
	}
	if url == "" {
		t.Fatal("the fake Bot API process did not start")
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	return url, func() int {
		res, err := hc.Get(url + "/polling")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		k, err := strconv.Atoi(string(b))
		if err != nil {
			t.Fatalf("/polling: %q", b)
		}
		return k
	}
}

// TestMeasureIdleBotsFakeAPI is the fake Bot API's process of
// TestMeasureIdleBots, and skips unless started by it: it serves N bots on
// a loopback port, prints the URL, answers GET /polling with the number of
// bots holding a long poll, and ends when its stdin closes.
func TestMeasureIdleBotsFakeAPI(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(envIdleFake))
	if n <= 0 {
		t.Skip("the fake Bot API's process of TestMeasureIdleBots")
	}
	tokens := make([]string, n-1)
	for i := range tokens {
		tokens[i] = idleToken(i + 1)
	}
	api := fakeapi.New(fakeapi.Config{Token: idleToken(0), Tokens: tokens})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/polling" {
			k := 0
			for _, b := range api.Bots() {
				if b.Polling() {
					k++
				}
			}
			fmt.Fprint(w, k)
			return
		}
		api.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("fakeapi http://%s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	api.Close()
	srv.Close()
}

func memStats() runtime.MemStats {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// fds counts the process's open file descriptors by kind.
type fds struct{ sockets, files, other int }

func (f fds) total() int { return f.sockets + f.files + f.other }

func fdKinds(t *testing.T) fds {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	var f fds
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		switch {
		case err != nil:
			// Closed meanwhile (the ReadDir's own descriptor).
		case strings.HasPrefix(target, "socket:"):
			f.sockets++
		case strings.HasPrefix(target, "/"):
			f.files++
		default:
			f.other++ // pipes, anon_inode:[eventpoll], ...
		}
	}
	return f
}

// idleRSSKiB returns the process's resident set size (VmRSS).
func idleRSSKiB(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Skip("no VmRSS in /proc/self/status")
	return 0
}

// cpuTime returns the user and system CPU the process used so far.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
