package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/benchdata"
	"github.com/netdata/netipc/go/internal/service/server/servertest"
	"github.com/netdata/netipc/go/internal/tempdir"
	"github.com/netdata/netipc/go/internal/transport/sys"
)

// roleEnv makes the test binary run a role of the driver (see TestMain),
// so the tests drive real processes through the process protocol.
const roleEnv = "NETIPC_GO_BENCH_TEST_ROLE"

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Args = append([]string{"netipc-go-bench", role}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// role returns a command running role of the driver with args.
func role(ctx context.Context, t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), roleEnv+"="+name)
	return cmd
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	if s := h.summary(); s != (latency{}) {
		t.Fatalf("empty: %+v", s)
	}
	for v := uint64(1); v <= 100000; v++ {
		h.record(v * 10)
	}
	s := h.summary()
	if s.Min != 10 || s.Max != 1000000 || s.Mean != 500005 {
		t.Fatalf("%+v", s)
	}
	for _, c := range []struct {
		got, want uint64
	}{{s.P50, 500000}, {s.P95, 950000}, {s.P99, 990000}, {s.P999, 999000}} {
		if d := float64(c.got)/float64(c.want) - 1; d > 0.016 || d < -0.016 {
			t.Errorf("quantile %d, want %d within 1.6%%", c.got, c.want)
		}
	}
	for v := uint64(0); v < 1<<20; v = v*3/2 + 1 {
		if b := bucketOf(v); b >= len(h.counts) || valueOf(b) > v+v/60+1 || valueOf(b)+valueOf(b)/60+1 < v {
			t.Fatalf("value %d: bucket %d holds %d", v, b, valueOf(b))
		}
	}
	if bucketOf(^uint64(0)) >= len(h.counts) {
		t.Fatal("the largest value has no bucket")
	}
}

// fakeServer counts its calls.
type fakeServer struct{ requests uint64 }

func (f *fakeServer) Listen() error { return nil }
func (f *fakeServer) Run() error    { return nil }
func (f *fakeServer) Stop()         {}
func (f *fakeServer) Stats() netipc.ServerStats {
	return netipc.ServerStats{Requests: f.requests, SessionLimit: 9}
}

func TestControlAnswersCPUAndStatsUntilStop(t *testing.T) {
	var out, errs bytes.Buffer
	in := strings.NewReader("cpu\n\nstats\nbogus\nstop\ncpu\n")
	control(in, &out, &errs, time.Now().Add(-time.Second), &fakeServer{requests: 42})
	if !strings.Contains(errs.String(), `unknown control line "bogus"`) {
		t.Fatalf("no word on the unknown line: %q", errs.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("answers after stop, or missing ones: %q", lines)
	}
	var cpu map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &cpu); err != nil {
		t.Fatal(err)
	}
	if cpu["event"] != "cpu" || cpu["wall_seconds"].(float64) < 1 {
		t.Fatalf("cpu line %s", lines[0])
	}
	if runtime.GOOS == "linux" && (cpu["cpu_seconds"] == nil || cpu["rss_bytes"].(float64) < 1<<20) {
		t.Fatalf("no CPU time or memory on Linux: %s", lines[0])
	}
	if !strings.Contains(lines[1], `"event":"stats"`) || !strings.Contains(lines[1], `"requests":42`) ||
		!strings.Contains(lines[1], `"session_limit":9`) {
		t.Fatalf("stats line %s", lines[1])
	}
}

func TestProcessCPUGrows(t *testing.T) {
	before, ok := sys.ProcessCPU()
	if !ok {
		t.Fatal("no CPU time for this process")
	}
	if rss, ok := sys.ResidentBytes(); !ok || rss == 0 {
		t.Fatalf("resident memory %d, ok %v", rss, ok)
	}
	// Spin until 20 ms of CPU time show (a loaded machine gives less CPU
	// per wall second).
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if after, _ := sys.ProcessCPU(); after-before >= 20*time.Millisecond {
			return
		}
	}
	t.Fatal("10 s of spinning showed less than 20 ms of CPU time")
}

// TestEveryScenarioInProcess measures every scenario for a moment
// against its Go server in this process, with the strict checks. (That
// the calls allocate nothing is tested with the benchmarks of the
// service packages, which make the same calls.)
func TestEveryScenarioInProcess(t *testing.T) {
	for i := range scenarios {
		sc := &scenarios[i]
		t.Run(sc.name, func(t *testing.T) {
			dir := tempdir.New(t)
			servertest.Serve(t, newBenchServer(sc, dir, "bench", benchdata.ServerConfig(sc.plane == planeSHM)))
			p := clientParams{runDir: dir, service: "bench", strict: true}
			r, err := measureScenario(sc, &p, 10*time.Millisecond, 50*time.Millisecond, 0)
			if err != nil {
				t.Fatal(err)
			}
			if r.phase.calls == 0 || r.phase.items != r.phase.calls*uint64(sc.n) {
				t.Fatalf("%d calls, %d items (%d per call expected)", r.phase.calls, r.phase.items, sc.n)
			}
			if r.latency.n != r.phase.calls || (sc.kind == kindCache) != (r.reconnects < 0) {
				t.Fatalf("%d latencies for %d calls, %d reconnects", r.latency.n, r.phase.calls, r.reconnects)
			}
		})
	}
}

// TestProcessProtocol runs the server and client roles as processes,
// as cargo xtask bench-matrix does.
func TestProcessProtocol(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := tempdir.New(t)
	args := []string{"--scenario", "l2-snapshot-16", "--run-dir", dir, "--service", "proto"}
	server := role(ctx, t, "server", args...)
	stdin, err := server.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := server.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var serverErr bytes.Buffer
	server.Stderr = &serverErr
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	next := func() string {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("the server ended its output; stderr: %s", serverErr.String())
		}
		return lines.Text()
	}
	if line := next(); line != "ready" {
		t.Fatalf("first line %q", line)
	}
	if _, err := stdin.Write([]byte("cpu\n")); err != nil {
		t.Fatal(err)
	}
	if line := next(); !strings.HasPrefix(line, `{"event":"cpu",`) {
		t.Fatalf("cpu answer %q", line)
	}

	client := role(ctx, t, "client", append(args, "--strict", "--json", "--duration", "0.1", "--warmup", "0")...)
	out, err := client.Output()
	if err != nil {
		t.Fatalf("client: %v\n%s", err, out)
	}
	var report struct {
		Rows []struct {
			Scenario   string  `json:"scenario"`
			RoundTrips uint64  `json:"round_trips"`
			Items      uint64  `json:"items"`
			Wall       float64 `json:"wall_seconds"`
			Cores      struct {
				Client float64 `json:"client"`
			} `json:"cpu_cores"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(out, &report); err != nil || len(report.Rows) != 1 {
		t.Fatalf("client report %s: %v", out, err)
	}
	row := report.Rows[0]
	if row.Scenario != "l2-snapshot-16" || row.RoundTrips == 0 || row.Items != 16*row.RoundTrips || row.Wall < 0.1 {
		t.Fatalf("client row %+v", row)
	}

	// The same at a fixed rate: the calls due within 0.1 s at 500/s.
	client = role(ctx, t, "client", append(args, "--strict", "--json", "--duration", "0.1", "--warmup", "0", "--rate", "500")...)
	out, err = client.Output()
	if err != nil {
		t.Fatalf("client --rate: %v\n%s", err, out)
	}
	var paced struct {
		Rows []struct {
			RoundTrips uint64 `json:"round_trips"`
			Rate       struct {
				Target uint64 `json:"target_calls_per_second"`
				Behind uint64 `json:"behind_calls"`
				Waited uint64 `json:"waited_calls"`
			} `json:"rate"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(out, &paced); err != nil || len(paced.Rows) != 1 {
		t.Fatalf("client --rate report %s: %v", out, err)
	}
	if r := paced.Rows[0]; r.Rate.Target != 500 || r.RoundTrips == 0 || r.RoundTrips > 50 || r.Rate.Behind+r.Rate.Waited != r.RoundTrips-1 {
		t.Fatalf("client --rate row %+v", r)
	}

	if _, err := stdin.Write([]byte("stats\nstop\n")); err != nil {
		t.Fatal(err)
	}
	if line := next(); !strings.Contains(line, `"event":"stats"`) || strings.Contains(line, `"requests":0,`) {
		t.Fatalf("stats answer %q", line)
	}
	if line := next(); !strings.HasPrefix(line, `{"event":"stopped",`) {
		t.Fatalf("last line %q", line)
	}
	if err := server.Wait(); err != nil {
		t.Fatalf("server: %v; stderr: %s", err, serverErr.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the server left %v", entries)
	}
}

func TestUsageErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := tempdir.New(t)
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"server", "--scenario", "l2-nothing", "--run-dir", dir}, 2, "unknown scenario"},
		{[]string{"client", "--scenario", "l2-increment"}, 2, "--run-dir are required"},
		{[]string{"client", "--scenario", "l2-increment", "--run-dir", dir, "--duration", "0"}, 2, "above 0"},
		{[]string{"client", "--scenario", "l2-increment", "--run-dir", dir, "--rate", "20000000"}, 2, "calls per second"},
		{[]string{"client", "--scenario", "l2-increment", "--run-dir", dir, "--duration", "0.1"}, 1, "not running. Start one with:\n  netipc-go-bench server --scenario l2-increment"},
	} {
		cmd := role(ctx, t, c.args[0], c.args[1:]...)
		out, err := cmd.CombinedOutput()
		code := -1
		if e, ok := err.(*exec.ExitError); ok {
			code = e.ExitCode()
		}
		if code != c.code || !strings.Contains(string(out), c.says) {
			t.Errorf("%v: exit %d (want %d), output %s", c.args, code, c.code, out)
		}
	}
}

// stallingCaller answers every call at once, except that call stall takes
// pause.
type stallingCaller struct {
	stall uint64
	pause time.Duration
}

func (c *stallingCaller) call(id uint64) (int, error) {
	if id == c.stall {
		time.Sleep(c.pause)
	}
	return 1, nil
}

func (c *stallingCaller) reconnects() int { return -1 }
func (c *stallingCaller) close()          {}

// TestPacedPhase: at 100 calls/s for 50 ms, calls 0 to 4 are due (at 0,
// 10, ... 40 ms) and no other (a slow machine may make fewer, never
// more). Call 2 (id 3) stalls for 25 ms, so calls 3 and 4 are behind and
// their latency counts from their due time: at least 15 and 5 ms.
func TestPacedPhase(t *testing.T) {
	if got := offset(3, 3); got != time.Second {
		t.Fatalf("offset(3, 3) = %v", got)
	}
	if got := offset(10_000_000*86_400, 10_000_000); got != 86_400*time.Second {
		t.Fatalf("offset of a day at the largest rate = %v", got)
	}
	if got := offset(1, 3); got != 333_333_333 {
		t.Fatalf("offset(1, 3) = %v", got)
	}
	var h histogram
	id := uint64(1)
	ph, err := runPhase(&stallingCaller{stall: 3, pause: 25 * time.Millisecond}, 50*time.Millisecond, 100, &id, &h)
	if err != nil {
		t.Fatal(err)
	}
	if ph.calls < 3 || ph.calls > 5 || id != ph.calls+1 || h.n != ph.calls || ph.rate != 100 {
		t.Fatalf("%d calls, next id %d, %d latencies: %+v", ph.calls, id, h.n, ph)
	}
	p := ph.pacing
	if p.behind+p.waits != ph.calls-1 || p.sleeps > p.waits || p.overslept > p.sleeps {
		t.Fatalf("pacing %+v for %d calls", p, ph.calls)
	}
	if ph.calls == 5 && (p.behind < 2 || h.max < uint64(25*time.Millisecond)) {
		t.Fatalf("pacing %+v, longest latency %d ns: the stall is not in the calls it delayed", p, h.max)
	}
}
