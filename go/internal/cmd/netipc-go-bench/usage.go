package main

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/netdata/netipc/go/internal/transport/sys"
)

// The CPU time and resident memory of this process come from the
// transport's OS layer (sys.ProcessCPU, sys.ResidentBytes: getrusage and
// /proc on Linux, GetProcessTimes and the working set on Windows); where
// they cannot be read the reports show null, as the Rust bench does.

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
	d, ok := sys.ProcessCPU()
	if !ok {
		return nil
	}
	s := d.Seconds()
	return &s
}

// newCPULine samples the process now; started is when it started.
func newCPULine(event string, started time.Time) string {
	line := cpuLine{Event: event, CPUSeconds: cpuSeconds(), WallSeconds: time.Since(started).Seconds()}
	if rss, ok := sys.ResidentBytes(); ok {
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
