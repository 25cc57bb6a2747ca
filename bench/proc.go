package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat
// (sysconf(_SC_CLK_TCK), 100 on every Linux platform Go supports).
const clockTick = 10 * time.Millisecond

// procCPU returns the user+system CPU time of a process so far, all its
// threads included (pid 0: this process).
func procCPU(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': state(3) ... utime(14) stime(15), so index 11 and 12 here.
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	return time.Duration(ut+st) * clockTick, nil
}

// procMem returns VmHWM (peak resident set) and VmRSS of a process, in bytes.
func procMem(pid int) (hwm, rss int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var dst *int64
		switch {
		case strings.HasPrefix(line, "VmHWM:"):
			dst = &hwm
		case strings.HasPrefix(line, "VmRSS:"):
			dst = &rss
		default:
			continue
		}
		fs := strings.Fields(line)
		if len(fs) >= 2 {
			kb, _ := strconv.ParseInt(fs[1], 10, 64)
			*dst = kb * 1024
		}
	}
	return hwm, rss, sc.Err()
}

// cpuModel returns the CPU model name from /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// machineBusy returns the CPU time all CPUs of the machine spent busy so far
// (everything but idle and iowait in /proc/stat).
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected format")
	}
	var busy int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: unexpected format")
		}
		// user nice system idle iowait irq softirq steal guest guest_nice;
		// guest time is already counted in user.
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		busy += n
	}
	return time.Duration(busy) * clockTick, nil
}

// threadsCPU returns the CPU time of a process's live threads in
// nanoseconds, from /proc/<pid>/task/*/schedstat: finer than procCPU's 10 ms
// ticks (for idle measurements), but blind to threads that have exited.
func threadsCPU(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: unexpected format", dir)
		}
		total += ns
	}
	return time.Duration(total), nil
}

// child is a started forwarder process.
type child struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	stopped bool
}

// startChild starts cmd and watches for its exit.
func startChild(cmd *exec.Cmd) (*child, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.exited) }()
	return c, nil
}

// stop asks the process to stop (SIGTERM, then SIGKILL after 30 s), waits
// for it, and records its exit code, CPU and peak RSS in res. It reports
// false when the process had already been stopped.
func (c *child) stop(res *Result) bool {
	if c.stopped {
		return false
	}
	c.stopped = true
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	st := c.cmd.ProcessState
	res.ExitCode = st.ExitCode()
	res.CPUTotal = st.UserTime() + st.SystemTime()
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		res.MaxRSS = ru.Maxrss * 1024
	}
	return true
}

// cpuMark holds the CPU counters at the start of a measured window: the
// forwarder's, the harness's own and the whole machine's.
type cpuMark struct {
	pid              int
	proc, self, busy time.Duration
}

// markCPU reads the counters for a window measuring process pid.
func markCPU(pid int) (cpuMark, error) {
	p, err := procCPU(pid)
	if err != nil {
		return cpuMark{}, err
	}
	self, _ := procCPU(0)
	busy, _ := machineBusy()
	return cpuMark{pid: pid, proc: p, self: self, busy: busy}, nil
}

// since records in res the CPU the forwarder, the harness and the rest of
// the machine used since m.
func (m cpuMark) since(res *Result) {
	p, _ := procCPU(m.pid)
	self, _ := procCPU(0)
	busy, _ := machineBusy()
	res.CPU, res.HarnessCPU = p-m.proc, self-m.self
	res.OtherCPU = busy - m.busy - res.CPU - res.HarnessCPU
}

// writeProfiles asks a forwarder built with the profiling hook to write
// the profiles of the measured window to prefix.* and waits up to 10 s for
// them.
func (c *child) writeProfiles(prefix string, progress io.Writer) {
	_ = c.cmd.Process.Signal(syscall.SIGUSR2)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(prefix + ".done"); err == nil {
			break
		}
	}
	fmt.Fprintf(progress, "profiles: %s.cpu, %s.allocs (-diff_base %s.allocs0)\n", prefix, prefix, prefix)
}
