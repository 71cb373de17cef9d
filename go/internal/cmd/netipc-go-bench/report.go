package main

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// result is one measured row.
type result struct {
	scenario    *scenario
	phase       phase
	latency     histogram
	clientCores float64
	allocations uint64
	// reconnects while measured; -1 when the client keeps no count.
	reconnects int

	// How it was measured and checked.
	warmup, duration time.Duration
	strict           bool
}

func (r *result) perSecond(n uint64) float64 {
	if r.phase.wall <= 0 {
		return 0
	}
	return float64(n) / r.phase.wall.Seconds()
}

func (r *result) validation() string {
	if r.strict {
		return "item for item against netipc's bench data"
	}
	return "structure only: any well-formed answer of the scenario's method"
}

// itemsPerRoundTrip is the count when every call carried the same, else
// the mean.
func (r *result) itemsPerRoundTrip() any {
	if r.phase.minItems == r.phase.maxItems {
		return r.phase.minItems
	}
	return float64(r.phase.items) / float64(max(r.phase.calls, 1))
}

func (r *result) reconnectCount() any {
	if r.reconnects < 0 {
		return nil
	}
	return r.reconnects
}

// jsonReport is the shape of the Rust client's --json (the fields this
// client has).
type jsonReport struct {
	Tool     string         `json:"tool"`
	Go       string         `json:"go"`
	Machine  map[string]any `json:"machine"`
	Settings map[string]any `json:"settings"`
	Rows     []jsonRow      `json:"rows"`
}

type jsonRow struct {
	Scenario          string         `json:"scenario"`
	Summary           string         `json:"summary"`
	DataPlane         string         `json:"data_plane"`
	Wait              string         `json:"wait"`
	ItemsPerRoundTrip any            `json:"items_per_round_trip"`
	ItemsMin          int            `json:"items_per_round_trip_min"`
	ItemsMax          int            `json:"items_per_round_trip_max"`
	Depth             int            `json:"depth"`
	RoundTrips        uint64         `json:"round_trips"`
	Items             uint64         `json:"items"`
	WallSeconds       float64        `json:"wall_seconds"`
	RoundTripsPerSec  float64        `json:"round_trips_per_second"`
	ItemsPerSec       float64        `json:"items_per_second"`
	Latency           latency        `json:"latency_ns"`
	CPUCores          map[string]any `json:"cpu_cores"`
	Allocations       uint64         `json:"client_allocations"`
	Reconnects        any            `json:"reconnects"`
	Rate              *jsonRate      `json:"rate"`
}

// jsonRate is the fixed-rate part of a row paced at a rate: the fields of
// the Rust client's that this client has (the server's CPU is for the
// caller to measure).
type jsonRate struct {
	Target      uint64   `json:"target_calls_per_second"`
	ClientCPU   float64  `json:"client_cpu_us_per_call"`
	PacingCPU   float64  `json:"pacing_cpu_us_per_call"`
	ServerCPU   *float64 `json:"server_cpu_us_per_call"`
	BehindCalls uint64   `json:"behind_calls"`
	WaitedCalls uint64   `json:"waited_calls"`
	SleptCalls  uint64   `json:"slept_calls"`
	Overslept   uint64   `json:"overslept_calls"`
}

// paced is the fixed-rate part of the row, or nil when it was not paced.
func (r *result) paced() *jsonRate {
	if r.phase.rate == 0 {
		return nil
	}
	calls := float64(max(r.phase.calls, 1))
	return &jsonRate{
		Target:      r.phase.rate,
		ClientCPU:   r.clientCores * r.phase.wall.Seconds() * 1e6 / calls,
		PacingCPU:   float64(r.phase.pacing.cpu.Microseconds()) / calls,
		BehindCalls: r.phase.pacing.behind,
		WaitedCalls: r.phase.pacing.waits,
		SleptCalls:  r.phase.pacing.sleeps,
		Overslept:   r.phase.pacing.overslept,
	}
}

func (r *result) json() string {
	sc := r.scenario
	rep := jsonReport{
		Tool: "netipc-go-bench",
		Go:   runtime.Version(),
		Machine: map[string]any{
			"logical_cores": runtime.NumCPU(),
			"os":            runtime.GOOS,
			"arch":          runtime.GOARCH,
		},
		Settings: map[string]any{
			"warmup_seconds":   r.warmup.Seconds(),
			"duration_seconds": r.duration.Seconds(),
			"validation":       r.validation(),
		},
		Rows: []jsonRow{{
			Scenario:          sc.name,
			Summary:           sc.summary,
			DataPlane:         sc.plane.name(),
			Wait:              sc.plane.wait(),
			ItemsPerRoundTrip: r.itemsPerRoundTrip(),
			ItemsMin:          r.phase.minItems,
			ItemsMax:          r.phase.maxItems,
			Depth:             1,
			RoundTrips:        r.phase.calls,
			Items:             r.phase.items,
			WallSeconds:       r.phase.wall.Seconds(),
			RoundTripsPerSec:  r.perSecond(r.phase.calls),
			ItemsPerSec:       r.perSecond(r.phase.items),
			Latency:           r.latency.summary(),
			CPUCores:          map[string]any{"client": r.clientCores, "server": nil},
			Allocations:       r.allocations,
			Reconnects:        r.reconnectCount(),
			Rate:              r.paced(),
		}},
	}
	return jsonLine(rep) + "\n"
}

// csv is the row as CSV with a header line: the columns of the Rust
// client's --csv that this client has, under the same names.
func (r *result) csv() string {
	l := r.latency.summary()
	f := func(v float64, places int) string { return strconv.FormatFloat(v, 'f', places, 64) }
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	cols := [][2]string{
		{"scenario", r.scenario.name},
		{"limit", ""},
		{"items_per_round_trip", fmt.Sprint(r.itemsPerRoundTrip())},
		{"depth", "1"},
		{"round_trips", u(r.phase.calls)},
		{"items", u(r.phase.items)},
		{"wall_s", f(r.phase.wall.Seconds(), 4)},
		{"round_trips_per_s", f(r.perSecond(r.phase.calls), 1)},
		{"items_per_s", f(r.perSecond(r.phase.items), 1)},
		{"p50_ns", u(l.P50)},
		{"p95_ns", u(l.P95)},
		{"p99_ns", u(l.P99)},
		{"p999_ns", u(l.P999)},
		{"min_ns", u(l.Min)},
		{"max_ns", u(l.Max)},
		{"mean_ns", f(l.Mean, 1)},
		{"client_cpu_cores", f(r.clientCores, 4)},
		{"server_cpu_cores", ""},
		{"data_plane", r.scenario.plane.name()},
		{"wait", r.scenario.plane.wait()},
		{"client_allocations", u(r.allocations)},
	}
	var head, row []string
	for _, c := range cols {
		head, row = append(head, c[0]), append(row, c[1])
	}
	return strings.Join(head, ",") + "\n" + strings.Join(row, ",") + "\n"
}

func (r *result) markdown() string {
	l := r.latency.summary()
	var b strings.Builder
	fmt.Fprintf(&b, "# netipc-go-bench (%s)\n\n", runtime.Version())
	fmt.Fprintf(&b, "- %.1f s warm-up, then %.1f s measured; answers checked: %s\n\n",
		r.warmup.Seconds(), r.duration.Seconds(), r.validation())
	b.WriteString("| scenario | wait | items/rt | round trips/s | items/s | p50 | p95 | p99 | p99.9 | client CPU | allocations |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	fmt.Fprintf(&b, "| %s | %s | %v | %.0f | %.0f | %s | %s | %s | %s | %.2f | %d |\n",
		r.scenario.name, r.scenario.plane.wait(), r.itemsPerRoundTrip(),
		r.perSecond(r.phase.calls), r.perSecond(r.phase.items),
		micros(l.P50), micros(l.P95), micros(l.P99), micros(l.P999), r.clientCores, r.allocations)
	if p := r.paced(); p != nil {
		fmt.Fprintf(&b, "\nPaced at %d calls/s (latency from each call's due time, or from the end of the "+
			"client's sleep when that ended after it): client CPU %.2f µs per call, %.2f µs of it pacing; "+
			"%d calls behind the schedule, %d waited for (%d slept, %d woke late).\n",
			p.Target, p.ClientCPU, p.PacingCPU, p.BehindCalls, p.WaitedCalls, p.SleptCalls, p.Overslept)
	}
	return b.String()
}

// micros shows nanoseconds as microseconds.
func micros(ns uint64) string {
	us := float64(ns) / 1000
	if us < 100 {
		return fmt.Sprintf("%.1f µs", us)
	}
	return fmt.Sprintf("%.0f µs", us)
}
