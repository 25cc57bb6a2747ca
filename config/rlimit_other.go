//go:build !unix

package config

// OpenFileLimit returns 0: the open-file limit is not known here.
func OpenFileLimit() uint64 { return 0 }
