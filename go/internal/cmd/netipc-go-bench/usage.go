package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strconv"
	"time"
)

// The CPU time and resident memory of this process, read from Linux's
// /proc (no build tags: elsewhere they read as unknown, which the
// reports show as null, as the Rust bench does where it cannot read
// them).

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// processCPU returns the CPU time (user + system, every thread) this
// process has used so far; ok is false where /proc cannot tell.
func processCPU() (time.Duration, bool) {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15, the 12th and 13th after it.
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, false
	}
	fields := bytes.Fields(stat[end+1:])
	if len(fields) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseUint(string(fields[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(fields[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * (time.Second / clockTicks), true
}

// residentBytes returns this process's resident memory; ok is false where
// /proc cannot tell.
func residentBytes() (uint64, bool) {
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

// cpuLine is the JSON line answering `cpu` (and the last line,
// `stopped`): the fields of the Rust bench-server's line. The memory read
// takes CPU time too, so the CPU and wall times are given before it and
// after it: a window from one line's after-values to the next line's
// before-values holds no read.
type cpuLine struct {
	Event            string   `json:"event"`
	CPUSeconds       *float64 `json:"cpu_seconds"`
	WallSeconds      float64  `json:"wall_seconds"`
	RSSBytes         *uint64  `json:"rss_bytes"`
	CPUSecondsAfter  *float64 `json:"cpu_seconds_after_rss"`
	WallSecondsAfter float64  `json:"wall_seconds_after_rss"`
}

func cpuSeconds() *float64 {
	d, ok := processCPU()
	if !ok {
		return nil
	}
	s := d.Seconds()
	return &s
}

// newCPULine samples the process now; started is when it started.
func newCPULine(event string, started time.Time) string {
	line := cpuLine{Event: event, CPUSeconds: cpuSeconds(), WallSeconds: time.Since(started).Seconds()}
	if rss, ok := residentBytes(); ok {
		line.RSSBytes = &rss
	}
	line.CPUSecondsAfter, line.WallSecondsAfter = cpuSeconds(), time.Since(started).Seconds()
	return jsonLine(line)
}

// jsonLine is v as one line of JSON.
func jsonLine(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return `{"error":` + strconv.Quote(err.Error()) + `}`
	}
	return string(b)
}
