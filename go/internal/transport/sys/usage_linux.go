package sys

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// ProcessCPU returns the CPU time (user + system, every thread) this
// process has used so far (getrusage, in microseconds); ok is false when
// it cannot be read. For the benchmarks' CPU columns.
func ProcessCPU() (cpu time.Duration, ok bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// ResidentBytes returns this process's resident memory, from
// /proc/self/statm; ok is false when it cannot be read.
func ResidentBytes() (rss uint64, ok bool) {
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	fields := bytes.Fields(statm)
	if len(fields) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseUint(string(fields[1]), 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * uint64(os.Getpagesize()), true
}
