package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startLimited runs bin with args under an open-file limit of nofile (soft
// and hard), through the shell's ulimit.
func startLimited(t *testing.T, bin string, nofile int, args []string) *proc {
	t.Helper()
	script := fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, nofile)
	cmd := exec.Command("bash", append([]string{"-c", script, bin}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ASGIGRAM_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	p := &proc{t: t, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	require.NoError(t, cmd.Start())
	go func() {
		_ = cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			out := p.out.String()
			if len(out) > 20000 {
				out = out[:10000] + "\n...\n" + out[len(out)-10000:]
			}
			t.Logf("asgigram output:\n%s", out)
		}
		require.NotContains(t, p.out.String(), testToken, "the bot token leaked into the output")
	})
	return p
}

// slowClientsLoad sizes TestSlowClientsCannotStarveTheDaemon. The default
// run is scaled down; MEASURE_SLOW_CLIENTS=1 runs the full size with the
// default deadlines, and SLOW_CLIENTS_BIN measures another build.
type slowClientsLoad struct {
	stalled, idle, updates int
	bodyTimeout            time.Duration
	flags                  []string
}

func slowClientsSize() (slowClientsLoad, bool) {
	if os.Getenv("MEASURE_SLOW_CLIENTS") == "1" {
		return slowClientsLoad{stalled: 400, idle: 200, updates: 2000, bodyTimeout: 10 * time.Second}, true
	}
	return slowClientsLoad{stalled: 100, idle: 50, updates: 300, bodyTimeout: 2 * time.Second,
		flags: []string{"--send-body-timeout", "2s"}}, false
}

// TestSlowClientsCannotStarveTheDaemon: under an open-file limit of 256,
// clients stalled in a request body and clients idle after one request
// hold the local server while a backlog of updates flows: every update is
// delivered and its reply sent, /healthz keeps answering, and every stalled
// connection is closed by its deadline.
func TestSlowClientsCannotStarveTheDaemon(t *testing.T) {
	load, measure := slowClientsSize()
	bin := binPath
	if b := os.Getenv("SLOW_CLIENTS_BIN"); b != "" {
		bin = b
	}
	const sendToken = "slow-clients-send-token-0123456789"
	fake, apiURL := newFake(t)
	a := newApp(t, func(w http.ResponseWriter, ev received) {
		reply(w, map[string]any{"type": "telegram.send_message", "text": "echo:" + ev.text()})
	})
	args := append([]string{testToken, a.srv.URL, "--api-url", apiURL, "--listen", "127.0.0.1:0", "--poll-timeout", "2s",
		"--data-dir", t.TempDir(), "--pacing=false", "--send-token", sendToken}, load.flags...)
	p := startLimited(t, bin, 256, args)
	base := p.baseURL()
	addr := strings.TrimPrefix(base, "http://")
	eventually(t, 10*time.Second, func() bool { return strings.Contains(p.out.String(), "connected to telegram") }, "connected")

	// Clients idle after one request each.
	var idleOK atomic.Int32
	var idle []net.Conn
	for range load.idle {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			continue
		}
		idle = append(idle, c)
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			continue
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			idleOK.Add(1)
		}
	}
	t.Cleanup(func() {
		for _, c := range idle {
			c.Close()
		}
	})

	// Clients stalled in the body, half with the send_token, half without.
	type stalledConn struct {
		held time.Duration // from the end of its headers to the close
	}
	stalled := make([]stalledConn, load.stalled)
	var stalledConns []net.Conn
	var givenUp atomic.Bool
	var wg sync.WaitGroup
	var dialErrs atomic.Int32
	for i := range load.stalled {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			dialErrs.Add(1)
			stalled[i].held = -1
			continue
		}
		stalledConns = append(stalledConns, c)
		auth := ""
		if i%2 == 0 {
			auth = "Authorization: Bearer " + sendToken + "\r\n"
		}
		_, _ = io.WriteString(c, "POST /send HTTP/1.1\r\nHost: x\r\n"+auth+"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
		sent := time.Now()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(load.bodyTimeout + 60*time.Second))
			_, err := io.Copy(io.Discard, c)
			if ne, ok := err.(net.Error); ok && ne.Timeout() || givenUp.Load() {
				stalled[i].held = -1 // never closed
				return
			}
			stalled[i].held = time.Since(sent)
		}()
	}

	// The backlog flows meanwhile.
	loadStart := time.Now()
	const chats = 50
	for i := range load.updates {
		id := 6300000000 + int64(i%chats)
		fake.AddUpdate("message", textMessage(id, id, 1000000+i, fmt.Sprint("u", i))) // ids apart from the bot's own
	}
	echoed := func() int {
		n := 0
		for c := range chats {
			n += len(fake.Messages(6300000000 + int64(c)))
		}
		return n
	}

	// /healthz probes on fresh connections every 200 ms, each retried
	// until it is answered 200.
	var latencies []time.Duration
	var unanswered int
	probe := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	wait := 60 * time.Second
	if measure {
		wait = 120 * time.Second
	}
	deadline := time.Now().Add(wait)
	allClosed := make(chan struct{})
	go func() {
		wg.Wait()
		close(allClosed)
	}()
	closed := func() bool {
		select {
		case <-allClosed:
			return true
		default:
			return false
		}
	}
	// Probe while updates flow and stalled connections are held.
	var flowedNS atomic.Int64
	go func() {
		for time.Now().Before(deadline) && echoed() < load.updates {
			time.Sleep(10 * time.Millisecond)
		}
		if echoed() == load.updates {
			flowedNS.Store(int64(time.Since(loadStart)))
		}
	}()
	var probes sync.WaitGroup
	var probeMu sync.Mutex
	for (echoed() < load.updates || !closed()) && time.Now().Before(deadline) {
		probes.Add(1)
		go func() {
			defer probes.Done()
			start := time.Now()
			for time.Since(start) < 30*time.Second {
				resp, err := probe.Get(base + "/healthz")
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 {
						probeMu.Lock()
						latencies = append(latencies, time.Since(start))
						probeMu.Unlock()
						return
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			probeMu.Lock()
			unanswered++
			probeMu.Unlock()
		}()
		time.Sleep(200 * time.Millisecond)
	}
	probes.Wait()
	flowed := time.Duration(flowedNS.Load())
	// What the server did not close by now, it never closes.
	givenUp.Store(true)
	for _, c := range append(idle, stalledConns...) {
		c.Close()
	}
	<-allClosed

	delivered := map[int64]bool{}
	for _, ev := range a.received() {
		delivered[ev.UpdateID] = true
	}
	var held []time.Duration
	never := 0
	for _, s := range stalled {
		if s.held < 0 {
			never++
			continue
		}
		held = append(held, s.held)
	}
	slices.Sort(latencies)
	slices.Sort(held)
	pct := func(d []time.Duration, q float64) time.Duration {
		if len(d) == 0 {
			return -1
		}
		return d[min(len(d)-1, int(q*float64(len(d))))].Round(time.Millisecond)
	}
	out := p.out.String()
	t.Logf("load: %d stalled, %d idle (%d answered), %d updates, open-file limit 256, send_body_timeout %s",
		load.stalled, load.idle, idleOK.Load(), load.updates, load.bodyTimeout)
	t.Logf("updates delivered %d/%d, echoed %d/%d, all echoed after %s (0: not all)", len(delivered), load.updates, echoed(), load.updates, flowed.Round(time.Millisecond))
	t.Logf("/healthz probes: %d answered, %d unanswered in 30 s; latency p50 %s p90 %s max %s",
		len(latencies), unanswered, pct(latencies, 0.5), pct(latencies, 0.9), pct(latencies, 1))
	t.Logf("stalled connections: %d closed (held p50 %s, max %s), %d never closed, %d dials failed; %d log lines say too many open files",
		len(held), pct(held, 0.5), pct(held, 1), never, dialErrs.Load(), strings.Count(out, "too many open files"))

	assert.Len(t, delivered, load.updates, "every update delivered")
	assert.Equal(t, load.updates, echoed(), "every update echoed")
	assert.Zero(t, unanswered, "/healthz always answered")
	assert.NotEmpty(t, latencies)
	if len(latencies) > 0 {
		// The guarantee, loosely (no milliseconds): a probe waits at most
		// for the stalled connections' deadline to free a place.
		assert.Less(t, latencies[len(latencies)-1], load.bodyTimeout+5*time.Second, "/healthz answered within the body deadline")
	}
	assert.Zero(t, never, "every stalled connection is closed")
	if len(held) > 0 {
		assert.Less(t, held[len(held)-1], load.bodyTimeout+5*time.Second, "stalled connections are closed by their deadline")
	}
	assert.Equal(t, int32(load.idle), idleOK.Load(), "every idle client got its answer")
	assert.NotContains(t, out, "too many open files")
	assert.Contains(t, out, "LimitNOFILE=", "the low open-file limit is warned about")
	assert.Equal(t, 0, p.stop(30*time.Second))
}
