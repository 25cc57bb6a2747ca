// Package pprofhook lets asgigram-bench profile a process it started, over
// exactly the measured window. Imported for its side effect, it does nothing
// unless the environment variable Env names a file prefix; then SIGUSR1
// starts a CPU profile (<prefix>.cpu) and snapshots the allocations
// (<prefix>.allocs0), and SIGUSR2 stops the CPU profile, writes the
// allocations again (<prefix>.allocs; compare with -diff_base) and finally
// <prefix>.done.
//
// The bench adds it to the asgigram binary at build time only for profiling
// runs (go build -overlay), so asgigram's own source is unchanged.
package pprofhook

import (
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// Env is the environment variable holding the file prefix.
const Env = "BENCH_PPROF_PREFIX"

func init() {
	prefix := os.Getenv(Env)
	if prefix == "" {
		return
	}
	c := make(chan os.Signal, 2)
	signal.Notify(c, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		var cpu *os.File
		for s := range c {
			switch s {
			case syscall.SIGUSR1:
				writeProfile("allocs", prefix+".allocs0")
				f, err := os.Create(prefix + ".cpu")
				if err != nil {
					continue
				}
				if pprof.StartCPUProfile(f) != nil {
					f.Close()
					continue
				}
				cpu = f
			case syscall.SIGUSR2:
				if cpu != nil {
					pprof.StopCPUProfile()
					cpu.Close()
					cpu = nil
				}
				writeProfile("allocs", prefix+".allocs")
				_ = os.WriteFile(prefix+".done", nil, 0o644)
			}
		}
	}()
}

func writeProfile(name, path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = pprof.Lookup(name).WriteTo(f, 0)
}
