// Command netipc-go-bench is the Go side of `cargo xtask bench-matrix`:
// the server and the client of the L2 and L3 benchmark scenarios,
// speaking the process protocol of the Rust CLI's `netipc bench-server`
// and `netipc bench-client` (and of the C API's bench peer,
// crates/netipc-c/bench/bench_peer.c), so that any Go, Rust or C client
// runs against any Go, Rust or C server.
//
//	netipc-go-bench server --scenario NAME --run-dir DIR [--service S] ...
//	netipc-go-bench client --scenario NAME --run-dir DIR [--service S] ...
//
// The server prints `ready` once it listens; a `cpu` line on stdin is
// answered with a JSON line of its CPU time and resident memory, a
// `stats` line with its counters; `stop` or the end of stdin stops it,
// after a last JSON line (`"event":"stopped"`). The client connects,
// primes, warms up and measures one scenario, then prints its row
// (Markdown, --json or --csv, with the field names of the Rust client).
// Both serve and check the Rust bench's data (snapshot cgroups, the
// lookup table), so a client checks any server's answers item for item
// with --strict (by default, their structure only).
//
// Not a public tool: it lives under internal/ and exists for the
// benchmarks.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/netdata/netipc/go/internal/benchdata"
)

// defaultService is the service name when --service is not given (the
// Rust bench's).
const defaultService = "netipc-bench"

// kind is what a scenario calls.
type kind int

const (
	kindIncrement kind = iota
	kindSnapshot
	kindLookup
	kindCache
)

// plane is where a scenario's bytes travel.
type plane int

const (
	planeSocket plane = iota
	planeSHM
	// planeMemory: in-process lookups; the server only fills the cache.
	planeMemory
)

func (p plane) name() string {
	return [...]string{"socket", "shm", "memory"}[p]
}

// wait is the `wait` column of the Rust report.
func (p plane) wait() string {
	return [...]string{"poll", "spin+sleep", "none"}[p]
}

// scenario is one benchmark row, named as in the Rust bench.
type scenario struct {
	name    string
	kind    kind
	plane   plane
	n       int // snapshot items, lookup keys per call, cache lookups per round trip
	summary string
}

var scenarios = []scenario{
	{"l2-increment", kindIncrement, planeSocket, 1,
		"L2 INCREMENT calls against an INCREMENT server, baseline transport"},
	{"l2-shm-increment", kindIncrement, planeSHM, 1,
		"L2 INCREMENT calls against an INCREMENT server, over shared memory"},
	{"l2-snapshot-1", kindSnapshot, planeSocket, 1,
		"L2 cgroups snapshot refreshes of 1 item (a 4-byte request, a 167-byte answer: the ping-pong every API has), baseline transport"},
	{"l2-shm-snapshot-1", kindSnapshot, planeSHM, 1,
		"L2 cgroups snapshot refreshes of 1 item (the ping-pong every API has), over shared memory"},
	{"l2-snapshot-16", kindSnapshot, planeSocket, 16,
		"L2 cgroups snapshot refreshes of 16 items (encoded by the server on every request), every item decoded, baseline transport"},
	{"l2-shm-snapshot-16", kindSnapshot, planeSHM, 16,
		"L2 cgroups snapshot refreshes of 16 items (encoded by the server on every request), every item decoded, over shared memory"},
	{"l2-cgroups-lookup-64", kindLookup, planeSocket, 64,
		"L2 cgroups lookups of 64 paths answered from the server's table, every item read, baseline transport"},
	{"l2-shm-cgroups-lookup-64", kindLookup, planeSHM, 64,
		"L2 cgroups lookups of 64 paths answered from the server's table, every item read, over shared memory"},
	{"l3-cache-lookup", kindCache, planeMemory, benchdata.CacheLookups,
		"L3 cgroups.Cache lookups by (hash, name), 1000 per round trip, in a cache filled once from a snapshot server of 1000 items; no I/O"},
}

// findScenario returns the scenario called name.
func findScenario(name string) (*scenario, error) {
	for i := range scenarios {
		if scenarios[i].name == name {
			return &scenarios[i], nil
		}
	}
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.name
	}
	return nil, fmt.Errorf("unknown scenario %q (use one of %s)", name, strings.Join(names, ", "))
}

// snapshotItems is the item count of a scenario's snapshot server.
func (s *scenario) snapshotItems() int {
	if s.kind == kindCache {
		return benchdata.CacheItems
	}
	return s.n
}

const usageText = `netipc-go-bench: the Go side of cargo xtask bench-matrix.

Usage:
  netipc-go-bench server --scenario NAME --run-dir DIR [options]
  netipc-go-bench client --scenario NAME --run-dir DIR [options]
  netipc-go-bench list

Run "netipc-go-bench server -h" or "netipc-go-bench client -h" for the
options of a role. The roles speak the process protocol of the Rust
CLI's "netipc bench-server" and "netipc bench-client" (see their help).
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usageText)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "server":
		os.Exit(runServer(os.Args[2:]))
	case "client":
		os.Exit(runClient(os.Args[2:]))
	case "list":
		for _, s := range scenarios {
			fmt.Printf("%-26s %s\n", s.name, s.summary)
		}
	case "help", "-h", "--help":
		fmt.Print(usageText)
	default:
		fmt.Fprintf(os.Stderr, "netipc-go-bench: unknown role %q\n\n%s", os.Args[1], usageText)
		os.Exit(2)
	}
}

// commonFlags are the flags of both roles.
type commonFlags struct {
	scenario, runDir, service string
	authToken                 tokenFlag
	maxRequest, maxResponse   uint
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.scenario, "scenario", "", "the scenario (see \"netipc-go-bench list\")")
	fs.StringVar(&c.runDir, "run-dir", "", "run directory of the endpoint (must exist)")
	fs.StringVar(&c.service, "service", defaultService, "service name")
	fs.Var(&c.authToken, "auth-token", "shared secret of server and client (decimal or 0x-hex)")
	fs.UintVar(&c.maxRequest, "max-request-bytes", 0, "request payload size (0: the library's default)")
	fs.UintVar(&c.maxResponse, "max-response-bytes", 0, "response payload size (0: the library's default, growing)")
}

// parse parses args into fs and checks the common flags; nil scenario
// and a non-zero exit code when they are wrong (the message is printed).
func (c *commonFlags) parse(fs *flag.FlagSet, args []string) (*scenario, int) {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil, 0
		}
		return nil, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "netipc-go-bench %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return nil, 2
	}
	if c.runDir == "" || c.scenario == "" {
		fmt.Fprintf(os.Stderr, "netipc-go-bench %s: --scenario and --run-dir are required\n", fs.Name())
		return nil, 2
	}
	if c.maxRequest > 64<<20 || c.maxResponse > 64<<20 {
		fmt.Fprintf(os.Stderr, "netipc-go-bench %s: a size option above 64 MiB\n", fs.Name())
		return nil, 2
	}
	sc, err := findScenario(c.scenario)
	if err != nil {
		fmt.Fprintf(os.Stderr, "netipc-go-bench %s: %v\n", fs.Name(), err)
		return nil, 2
	}
	return sc, 0
}

// tokenFlag is an auth token, decimal or 0x-hex.
type tokenFlag uint64

func (t *tokenFlag) String() string { return strconv.FormatUint(uint64(*t), 10) }

func (t *tokenFlag) Set(s string) error {
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return fmt.Errorf("%q is not a token (decimal or 0x-hex)", s)
	}
	*t = tokenFlag(v)
	return nil
}

// secondsFlag is a time in seconds (a number, as the Rust CLI takes it).
type secondsFlag struct {
	d         time.Duration
	set       bool
	allowZero bool
}

func (s *secondsFlag) String() string { return strconv.FormatFloat(s.d.Seconds(), 'g', -1, 64) }

func (s *secondsFlag) Set(v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 86400 || (f == 0 && !s.allowZero) {
		return fmt.Errorf("%q is not a number of seconds above 0", v)
	}
	s.d, s.set = time.Duration(f*float64(time.Second)), true
	return nil
}

// say prints one line on w.
func say(w io.Writer, line string) error {
	_, err := io.WriteString(w, line+"\n")
	return err
}
