//go:build unix

package config

import "syscall"

// OpenFileLimit returns the process's open-file limit (RLIMIT_NOFILE, the
// soft limit, which Go raises to the hard one at start), 0 if unknown.
func OpenFileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return uint64(r.Cur)
}
