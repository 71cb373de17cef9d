//go:build !linux && !windows

package sys

import "time"

// ProcessCPU returns the CPU time this process has used so far; ok is
// false: this OS has no reader yet.
func ProcessCPU() (cpu time.Duration, ok bool) { return 0, false }

// ResidentBytes returns this process's resident memory; ok is false: this
// OS has no reader yet.
func ResidentBytes() (rss uint64, ok bool) { return 0, false }
