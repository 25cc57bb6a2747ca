package spool

import (
	"os"
	"syscall"
)

// datasync flushes f's data (and the metadata needed to read it back), not
// its times: what the write-ahead log needs.
func datasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
