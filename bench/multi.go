package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/asgigram/asgigram/bench/pprofhook"
)

// This file runs asgigram with many bots (Config.Bots > 1): one fake Bot
// API serves a token per bot, each with its own backlog over its own chats,
// and asgigram runs them all from a bots: config file.

// MultiToken is the token of the i-th bot (from 1) of a many-bot run; its
// numeric prefix is MultiBotID(i).
func MultiToken(i int) string {
	return strconv.FormatInt(MultiBotID(i), 10) + ":bench-" + strconv.Itoa(i)
}

// MultiBotID is the user id of the i-th bot (from 1) of a many-bot run.
func MultiBotID(i int) int64 { return int64(200_000 + i) }

// multiIDs is the gap between the update ids of two bots: every update of
// the run has an id of its own, so the fake app counts them apart.
const multiIDs = 10_000_000

// MultiAPI serves one FakeAPI per token.
type MultiAPI struct {
	bots    []*FakeAPI
	byToken map[string]*FakeAPI
	srv     *http.Server
	ln      net.Listener
}

// NewMultiAPI prepares n bots, each with the updates of w over its own
// chats (a seed of its own).
func NewMultiAPI(w Workload, n int) *MultiAPI {
	m := &MultiAPI{byToken: make(map[string]*FakeAPI, n)}
	for i := 1; i <= n; i++ {
		bw := w
		bw.Seed = w.Seed + uint64(i)
		f := newFakeAPI(bw, firstUpdateID+int64(i)*multiIDs, MultiBotID(i))
		m.bots = append(m.bots, f)
		m.byToken[MultiToken(i)] = f
	}
	return m
}

// Start serves the fake API on a loopback port.
func (m *MultiAPI) Start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	m.ln = ln
	m.srv = &http.Server{Handler: m, ReadHeaderTimeout: 10 * time.Second}
	go m.srv.Serve(ln)
	return nil
}

// URL is the Bot API base URL.
func (m *MultiAPI) URL() string { return "http://" + m.ln.Addr().String() }

// Close stops serving.
func (m *MultiAPI) Close() {
	if m.srv != nil {
		m.srv.Close()
	}
}

func (m *MultiAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/bot"), "/")
	f := m.byToken[token]
	if f == nil {
		writeAPIError(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	f.ServeHTTP(w, r)
}

// allClosed returns a channel closed when every channel of chans is.
func allClosed(chans []<-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for _, c := range chans {
			<-c
		}
		close(done)
	}()
	return done
}

// hungApp accepts events and never answers them (until closed).
type hungApp struct {
	srv  *http.Server
	ln   net.Listener
	stop chan struct{}
}

func startHungApp() (*hungApp, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hungApp{ln: ln, stop: make(chan struct{})}
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-h.stop:
		case <-r.Context().Done():
		}
	})}
	go h.srv.Serve(ln)
	return h, nil
}

func (h *hungApp) URL() string { return "http://" + h.ln.Addr().String() + "/telegram" }

func (h *hungApp) Close() {
	close(h.stop)
	h.srv.Close()
}

// openFDs counts the open descriptors of pid.
func openFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// runMulti measures asgigram serving cfg.Bots bots once. The first
// cfg.HungBots bots' app never answers; the measurement is the others'.
func runMulti(ctx context.Context, cfg Config, dir string, iter int) (res Result) {
	res.Runner = RunnerAsgigram
	fail := func(format string, a ...any) Result {
		res.Err = fmt.Sprintf(format, a...)
		return res
	}
	w := cfg.Workload
	if cfg.Idle > 0 {
		w.N = 0
	}
	api := NewMultiAPI(w, cfg.Bots)
	if err := api.Start(); err != nil {
		return fail("fake api: %v", err)
	}
	defer api.Close()
	app := NewFakeApp(cfg.AppLatency, cfg.Reply)
	if err := app.Start(); err != nil {
		return fail("fake app: %v", err)
	}
	defer app.Close()
	var hung *hungApp
	if cfg.HungBots > 0 {
		h, err := startHungApp()
		if err != nil {
			return fail("hung app: %v", err)
		}
		hung = h
		defer hung.Close()
	}
	listen, err := freePort()
	if err != nil {
		return fail("%v", err)
	}
	var yaml strings.Builder
	yaml.WriteString("bots:\n")
	for i := 1; i <= cfg.Bots; i++ {
		appURL := app.URL()
		if i <= cfg.HungBots {
			appURL = hung.URL()
		}
		fmt.Fprintf(&yaml, "  - name: b%d\n    token: %q\n    app_url: %s\n", i, MultiToken(i), appURL)
	}
	runName := fmt.Sprintf("asgigram-%s-bots%d-%d", cfg.Mode(), cfg.Bots, iter+1)
	confPath := filepath.Join(dir, runName+".yaml")
	if err := os.WriteFile(confPath, []byte(yaml.String()), 0o600); err != nil {
		return fail("%v", err)
	}
	args := append([]string{"--config", confPath, "--api-url", api.URL(), "--listen", listen,
		"--max-concurrency", strconv.Itoa(cfg.Concurrency)}, cfg.AsgigramFlags...)
	cmd := exec.Command(cfg.AsgigramBin, args...)
	dataDir := filepath.Join(dir, "data-"+runName)
	defer os.RemoveAll(dataDir)
	cmd.Env = childEnv("ASGIGRAM_DATA_DIR=" + dataDir)
	var profPrefix string
	if cfg.ProfileDir != "" {
		profPrefix = filepath.Join(cfg.ProfileDir, runName)
		cmd.Env = append(cmd.Env, pprofhook.Env+"="+profPrefix)
	}
	metricsURL := "http://" + listen + "/metrics"
	logPath := filepath.Join(dir, runName+".log")
	res.Log = logPath
	logf, err := os.Create(logPath)
	if err != nil {
		return fail("%v", err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf

	measured := api.bots[cfg.HungBots:]
	sum := func() {
		res.API, res.App = Counts{}, app.Counts()
		for _, f := range measured {
			c := f.Counts()
			res.API.Updates += c.Updates
			res.API.Available += c.Available
			res.API.Recorded += c.Recorded
			res.API.Duplicates += c.Duplicates
			res.API.OutOfOrder += c.OutOfOrder
			res.API.Unknown += c.Unknown
			res.API.Polls += c.Polls
			res.API.Sends += c.Sends
		}
	}
	var polling []<-chan struct{}
	for _, f := range api.bots {
		polling = append(polling, f.Polling())
	}
	allPolling := allClosed(polling)

	started := time.Now()
	proc, err := startChild(cmd)
	if err != nil {
		return fail("starting asgigram: %v", err)
	}
	pid, exited := cmd.Process.Pid, proc.exited
	stop := func() {
		if !proc.stop(&res) {
			return
		}
		sum()
	}
	defer stop()

	select {
	case <-allPolling:
		res.AllPolling = time.Since(started)
	case <-exited:
		return fail("asgigram exited before every bot polled: %s", tail(logPath))
	case <-time.After(2 * time.Minute):
		return fail("not every bot polled within 2m: %s", tail(logPath))
	case <-ctx.Done():
		return fail("%v", ctx.Err())
	}
	time.Sleep(50 * time.Millisecond)

	mark, err := markCPU(pid)
	if err != nil {
		return fail("reading cpu: %v", err)
	}

	if cfg.Idle > 0 {
		th0, _ := threadsCPU(pid)
		select {
		case <-time.After(cfg.Idle):
		case <-exited:
			return fail("asgigram exited while idle: %s", tail(logPath))
		case <-ctx.Done():
			return fail("%v", ctx.Err())
		}
		mark.since(&res)
		th1, _ := threadsCPU(pid)
		res.IdleCPU = th1 - th0
		res.PeakRSS, res.RSS, _ = procMem(pid)
		res.FDs = openFDs(pid)
		res.Heap = scrapeHeap(metricsURL)
		res.Drain = cfg.Idle
		stop()
		return res
	}

	if profPrefix != "" {
		_ = cmd.Process.Signal(syscall.SIGUSR1)
	}
	t0 := time.Now()
	for _, f := range api.bots {
		f.Release(w.N)
	}
	var dones []<-chan struct{}
	for _, f := range measured {
		dones = append(dones, f.Done())
	}
	timeout := time.NewTimer(cfg.Timeout)
	defer timeout.Stop()
	select {
	case <-allClosed(dones):
	case <-exited:
		return fail("asgigram exited during the run: %s", tail(logPath))
	case <-timeout.C:
		sum()
		res.Err = fmt.Sprintf("timed out after %v: %d of %d sendMessages recorded", cfg.Timeout, res.API.Recorded, res.API.Updates)
	case <-ctx.Done():
		return fail("%v", ctx.Err())
	}
	mark.since(&res)
	res.PeakRSS, res.RSS, _ = procMem(pid)
	res.FDs = openFDs(pid)
	res.Heap = scrapeHeap(metricsURL)
	if profPrefix != "" {
		proc.writeProfiles(profPrefix, cfg.Progress)
	}

	var lat []time.Duration
	var last time.Time
	for _, f := range measured {
		l, at := f.Latencies()
		lat = append(lat, l...)
		if at.After(last) {
			last = at
		}
	}
	res.Drain = last.Sub(t0)
	if len(lat) > 0 {
		slices.Sort(lat)
		res.P50 = lat[len(lat)*50/100]
		res.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
		res.Max = lat[len(lat)-1]
		res.UpdatesPerSec = float64(len(lat)) / res.Drain.Seconds()
		res.CPUPer10k = res.CPU.Seconds() * 10000 / float64(len(lat))
	}
	stop()
	if res.Err == "" {
		res.Err = checkCounts(res)
	}
	return res
}
