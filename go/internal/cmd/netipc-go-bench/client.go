package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/benchdata"
	"github.com/netdata/netipc/go/internal/transport/sys"
)

// caller makes the logical calls of one scenario.
type caller interface {
	// call makes call id and checks its answer; it returns the items
	// answered (snapshot items, lookup keys, cache lookups; 1 for
	// INCREMENT). It must not allocate.
	call(id uint64) (int, error)
	// reconnects counts the client's reconnections so far (-1: none kept).
	reconnects() int
	close()
}

// wrongAnswer is an answer that fails the check: no retry helps.
type wrongAnswer struct{ err error }

func (w *wrongAnswer) Error() string { return w.err.Error() }
func (w *wrongAnswer) Unwrap() error { return w.err }

// clientParams are where and how the client runs.
type clientParams struct {
	runDir, service string
	authToken       uint64
	maxRequest      uint32
	maxResponse     uint32
	maxBatchItems   uint32
	strict          bool
}

const clientUsage = `Usage: netipc-go-bench client --scenario NAME --run-dir DIR [options]

Runs the client side of one scenario against a running server ("netipc
bench-server", "netipc-go-bench server", or any NetIPC server of the
scenario's method) and prints its row, as "netipc bench-client" does:
the client connects and calls until a call succeeds (the sizes grow as
needed), warms up, then measures; every answer is checked (--strict:
item for item against the bench data; otherwise its structure: any
well-formed snapshot, one lookup item per key echoing it, value + 1).
The client CPU is this process's (runtime and GC included) over the
measured calls; client_allocations counts the heap allocations meanwhile.
The SHM rows offer only SHM_HYBRID, so they fail unless it is selected.

Options:
`

func runClient(args []string) int {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	var c commonFlags
	c.register(fs)
	batch := fs.Uint("max-batch-items", 0, "items per request to propose (0: 1)")
	strict := fs.Bool("strict", false, "check answers item for item against the bench data")
	quick := fs.Bool("quick", false, "short run: 1 s measured")
	duration := secondsFlag{d: 5 * time.Second}
	warmup := secondsFlag{allowZero: true}
	fs.Var(&duration, "duration", "measured seconds (default 5, or 1 with --quick)")
	fs.Var(&warmup, "warmup", "warm-up seconds (default: a fifth of the duration, at most 1)")
	rate := fs.Uint64("rate", 0, "calls per second: pace the calls (call k due k/N s after the start; "+
		"a late call is made at once and its latency counts from its due time); 0: as fast as they go")
	asJSON := fs.Bool("json", false, "print JSON")
	asCSV := fs.Bool("csv", false, "print CSV")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), clientUsage)
		fs.PrintDefaults()
	}
	sc, code := c.parse(fs, args)
	if sc == nil {
		return code
	}
	if *rate > maxRate {
		fmt.Fprintf(os.Stderr, "netipc-go-bench client: --rate %d is not a rate in calls per second from 1 to %d\n", *rate, maxRate)
		return 2
	}
	if *quick && !duration.set {
		duration.d = time.Second
	}
	if !warmup.set {
		warmup.d = min(duration.d/5, time.Second)
	}
	p := clientParams{
		runDir: c.runDir, service: c.service, authToken: uint64(c.authToken),
		maxRequest: uint32(c.maxRequest), maxResponse: uint32(c.maxResponse),
		maxBatchItems: uint32(*batch), strict: *strict,
	}
	r, err := measureScenario(sc, &p, warmup.d, duration.d, *rate)
	if err != nil {
		fmt.Fprintf(os.Stderr, "netipc-go-bench client: error: %v\n", err)
		return 1
	}
	r.warmup, r.duration, r.strict = warmup.d, duration.d, p.strict
	var out string
	switch {
	case *asJSON:
		out = r.json()
	case *asCSV:
		out = r.csv()
	default:
		out = r.markdown()
	}
	if _, err := os.Stdout.WriteString(out); err != nil {
		return 1
	}
	return 0
}

// measureScenario connects, primes, warms up and measures sc, at rate
// calls per second when it is above 0.
func measureScenario(sc *scenario, p *clientParams, warmup, duration time.Duration, rate uint64) (*result, error) {
	c, err := newCaller(sc, p)
	if err != nil {
		return nil, err
	}
	defer c.close()
	if err := prime(c, sc, p); err != nil {
		return nil, err
	}
	id := uint64(1)
	var warm histogram
	if _, err := runPhase(c, warmup, rate, &id, &warm); err != nil {
		return nil, err
	}
	r := &result{scenario: sc}
	reconnects := c.reconnects()
	cpuBefore, cpuOK := sys.ProcessCPU()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	mallocs := mem.Mallocs
	ph, err := runPhase(c, duration, rate, &id, &r.latency)
	if err != nil {
		return nil, err
	}
	runtime.ReadMemStats(&mem)
	cpuAfter, cpuAfterOK := sys.ProcessCPU()
	r.phase = ph
	r.allocations = mem.Mallocs - mallocs
	if cpuOK && cpuAfterOK && ph.wall > 0 {
		r.clientCores = (cpuAfter - cpuBefore).Seconds() / ph.wall.Seconds()
	}
	if n := c.reconnects(); n >= 0 && reconnects >= 0 {
		r.reconnects = n - reconnects
	} else {
		r.reconnects = -1
	}
	return r, nil
}

// prime calls (call 0) until a call succeeds, so that the connection and
// the growth of the sizes happen before anything is timed. A wrong
// answer, a missing provider, a refused token, no common profile or a
// rejected request fail at once (no retry changes them).
func prime(c caller, sc *scenario, p *clientParams) error {
	start := fmt.Sprintf("netipc-go-bench server --scenario %s --run-dir %s --service %s", sc.name, p.runDir, p.service)
	var err error
	for attempt := 1; attempt <= benchdata.PrimeAttempts; attempt++ {
		if _, err = c.call(0); err == nil {
			return nil
		}
		var wrong *wrongAnswer
		switch {
		case errors.As(err, &wrong):
			return err
		case errors.Is(err, netipc.ErrNotFound):
			return fmt.Errorf("the provider is not running. Start one with:\n  %s\n  (%w)", start, err)
		case errors.Is(err, netipc.ErrIncompatible) && sc.plane == planeSHM:
			return fmt.Errorf("scenario %s needs a shared-memory session (the client offers only SHM_HYBRID), "+
				"but it cannot have one. Serve it with:\n  %s\n  (%w)", sc.name, start, err)
		case errors.Is(err, netipc.ErrIncompatible), errors.Is(err, netipc.ErrAuthFailed), errors.Is(err, netipc.ErrRejected):
			return fmt.Errorf("cannot call service %q: %w", p.service, err)
		}
	}
	return fmt.Errorf("the first %d calls failed; the last one: %w", benchdata.PrimeAttempts, err)
}

// phase is what one phase did.
type phase struct {
	calls, items       uint64
	minItems, maxItems int
	wall               time.Duration
	// rate is the target of a phase at a fixed rate (0: as fast as it
	// goes), pacing what its pacing did.
	rate   uint64
	pacing pacing
}

// maxRate is the largest --rate, as the Rust client takes it.
const maxRate = 10_000_000

// pacingSpin is how long before a due time a waiting client stops
// sleeping and spins, as the Rust client does.
const pacingSpin = 10 * time.Microsecond

// pacing counts what waiting for the due times of a phase cost. Every
// call but the first (which starts the schedule) is either behind (already
// due when the client was free to make it) or waited for.
type pacing struct {
	// overslept counts the sleeps that ended after their due time.
	behind, waits, sleeps, overslept uint64
	// cpu is the process CPU time spent waiting (sleeping, spinning and
	// reading the CPU clock around each wait).
	cpu time.Duration
}

// offset is when call k of a schedule of rate calls per second is due,
// after its start (exact to the nanosecond, without overflow).
func offset(k, rate uint64) time.Duration {
	return time.Duration(k/rate)*time.Second + time.Duration((k%rate)*uint64(time.Second)/rate)
}

// waitUntil returns at due (at once if it has passed): it sleeps until
// pacingSpin before it, then spins. It returns where the call's latency
// starts: its due time, or the end of the sleep when that ended after it
// (the client's own lateness, which nothing of the pairing caused), as the
// Rust client does.
func (p *pacing) waitUntil(due time.Time) time.Time {
	now := time.Now()
	if !now.Before(due) {
		p.behind++
		return due
	}
	before, ok := sys.ProcessCPU()
	p.waits++
	from := due
	if left := due.Sub(now); left > pacingSpin {
		p.sleeps++
		time.Sleep(left - pacingSpin)
		if woke := time.Now(); woke.After(due) {
			p.overslept++
			from = woke
		}
	}
	for time.Now().Before(due) {
	}
	if after, ok2 := sys.ProcessCPU(); ok && ok2 && after > before {
		p.cpu += after - before
	}
	return from
}

// runPhase makes calls one after the other for d, recording each one's
// latency. At a rate (above 0) call k is due k/rate after the start and
// only the calls due within d are made, each at its due time or at once
// when it is late; a latency then counts from the due time (see
// waitUntil). It allocates nothing itself.
func runPhase(c caller, d time.Duration, rate uint64, id *uint64, h *histogram) (phase, error) {
	ph := phase{minItems: int(^uint(0) >> 1), rate: rate}
	start := time.Now()
	end := start.Add(d)
	now := start
	for now.Before(end) {
		sent := now
		if rate > 0 && ph.calls > 0 {
			due := start.Add(offset(ph.calls, rate))
			if !due.Before(end) {
				break
			}
			sent = ph.pacing.waitUntil(due)
		}
		n, err := c.call(*id)
		if err != nil {
			return ph, fmt.Errorf("call %d: %w", *id, err)
		}
		*id++
		now = time.Now()
		h.record(uint64(now.Sub(sent)))
		ph.calls++
		ph.items += uint64(n)
		ph.minItems, ph.maxItems = min(ph.minItems, n), max(ph.maxItems, n)
	}
	ph.wall = now.Sub(start)
	if ph.calls == 0 {
		ph.minItems = 0
	}
	return ph, nil
}
