package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/netdata/netipc/go/internal/tempdir"
	"github.com/netdata/netipc/go/protocol"
)

// peerEnv makes the test binary run as the command (the test's provider
// and consumer processes).
const peerEnv = "NETIPC_GO_MATRIX_AS_PEER"

// testDeadline bounds every step of a test.
const testDeadline = 60 * time.Second

func TestMain(m *testing.M) {
	if os.Getenv(peerEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// peer returns the command running this test binary as the peer with args.
func peer(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), peerEnv+"=1")
	cmd.Stderr = os.Stderr
	return cmd
}

// startProvider runs `serve dir prefix profile` in its own process until stop
// is called; stop checks that it exits 0.
func startProvider(t *testing.T, dir, prefix, profile string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	cmd := peer(ctx, "serve", dir, prefix, profile)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		defer cancel()
		stdin.Close()
		_, _ = io.Copy(io.Discard, stdout)
		if err := cmd.Wait(); err != nil {
			t.Errorf("serve: %v", err)
		}
	}
	t.Cleanup(stop)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("serve said %q (%v)", line, err)
	}
	return stop
}

// consume runs `check dir prefix profile` in its own process and returns
// its lines and exit status.
func consume(t *testing.T, dir, prefix, profile string) ([]string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	cmd := peer(ctx, "check", dir, prefix, profile)
	out, err := cmd.Output()
	if _, exited := err.(*exec.ExitError); err != nil && !exited {
		t.Fatalf("check: %v", err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"), cmd.ProcessState.ExitCode()
}

var checkNames = []string{"snapshot", "snapshot-big", "cgroups-lookup", "apps-lookup", "cache"}

// Every profile: a provider and a consumer in two processes pass every
// check, and the provider leaves nothing behind when it stops.
func TestServeAndCheck(t *testing.T) {
	details := []string{"16 items", "5000 items", "32768 keys", "1000 pids", "5000 items"}
	for _, profile := range []string{"baseline", "shm-hybrid", "shm-alt"} {
		t.Run(profile, func(t *testing.T) {
			dir := tempdir.New(t)
			stop := startProvider(t, dir, "m-go", profile)
			lines, status := consume(t, dir, "m-go", profile)
			for i, name := range checkNames {
				want := "ok " + name + " " + profile + " " + details[i]
				if i >= len(lines) || lines[i] != want {
					t.Errorf("line %d: %q, want %q", i, lines, want)
				}
			}
			if status != 0 || len(lines) != len(checkNames) {
				t.Errorf("exit status %d, %d lines: %q", status, len(lines), lines)
			}
			stop()
			if runtime.GOOS == "linux" {
				if left, _ := os.ReadDir(dir); len(left) != 0 {
					t.Errorf("the provider left %v", left)
				}
			}
		})
	}
}

// A consumer fails a check whose session does not use its profile, and
// every check when there is no provider; it runs every check anyway.
func TestCheckFailures(t *testing.T) {
	dir := tempdir.New(t)
	startProvider(t, dir, "m-go", "baseline")
	lines, status := consume(t, dir, "m-go", "shm-hybrid")
	wantFailures(t, lines, status, "negotiated baseline, not shm-hybrid")

	var out bytes.Buffer
	status = run([]string{"check", dir, "m-none", "baseline"}, nil, &out, io.Discard)
	wantFailures(t, strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"), status, "is not connected")
}

func wantFailures(t *testing.T, lines []string, status int, reason string) {
	t.Helper()
	if status != 1 || len(lines) != len(checkNames) {
		t.Fatalf("exit status %d, lines %q", status, lines)
	}
	for i, name := range checkNames {
		if !strings.HasPrefix(lines[i], "FAIL "+name+" ") || !strings.Contains(lines[i], reason) {
			t.Errorf("line %q, want FAIL %s ...%s...", lines[i], name, reason)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"serve", "/tmp", "m"},
		{"serve", "/tmp", "m", "shm"},
		{"probe", "/tmp", "m", "baseline"},
		{"check", "/tmp", "", "baseline"},
	} {
		var stderr bytes.Buffer
		if got := run(args, nil, io.Discard, &stderr); got != 2 || !strings.HasPrefix(stderr.String(), "usage:") {
			t.Errorf("%q: exit status %d, %q", args, got, stderr.String())
		}
	}
}

// A few values of the data set worked out by hand from
// docs/interop-matrix.md.
func TestDataSet(t *testing.T) {
	d := newDataset()
	if cgroupHash(1) != 2654435761 || cgroupHash(2) != 1013904226 || cgroupHash(0) != 0 {
		t.Errorf("hashes %d %d", cgroupHash(1), cgroupHash(2))
	}
	if d.names[12] != "cg-12" || d.paths[12] != "/sys/fs/cgroup/netipc-matrix/cg-12.scope" ||
		cgroupOptions(12) != 5 || cgroupEnabled(12) != 0 || cgroupEnabled(13) != 1 {
		t.Errorf("cgroup 12: %q %q", d.names[12], d.paths[12])
	}
	if path, i := d.lookupKey(1); i != 2919 || path != "/sys/fs/cgroup/netipc-matrix/cg-2919.scope" {
		t.Errorf("key 1: %q %d", path, i)
	}
	if path, i := d.lookupKey(7); i != -1 || path != "/sys/fs/cgroup/netipc-matrix/missing-7" {
		t.Errorf("key 7: %q %d", path, i)
	}
	if e := d.cgroupEntry(2919); e.Status != protocol.CgroupsLookupKnown || e.Orchestrator != 0 || e.Name != "cg-2919" || e.Labels != nil {
		t.Errorf("cgroup 2919: %+v", e)
	}
	if e := d.cgroupEntry(4); e.Orchestrator != 1 || len(e.Labels) != 1 || e.Labels[0] != (protocol.LookupLabel{Key: "index", Value: "4"}) {
		t.Errorf("cgroup 4: %+v", e)
	}
	if lookupPID(999) != 2998 {
		t.Errorf("PID 999: %d", lookupPID(999))
	}
	if e := d.appsEntry(10); !reflect.DeepEqual(e, protocol.AppsLookupEntry{Status: protocol.PIDUnknown, UID: protocol.UIDUnset}) {
		t.Errorf("PID 10: %+v", e)
	}
	e := d.appsEntry(7002)
	want := protocol.AppsLookupEntry{Status: protocol.PIDKnown, CgroupStatus: protocol.CgroupKnown, Orchestrator: 0,
		PPID: 3501, UID: 1000, StartTime: 700200, Comm: "proc-2",
		CgroupPath: "/sys/fs/cgroup/netipc-matrix/cg-2002.scope", CgroupName: "cg-2002"}
	if len(e.Labels) != 1 || e.Labels[0] != (protocol.LookupLabel{Key: "pid", Value: "7002"}) {
		t.Errorf("PID 7002 labels %+v", e.Labels)
	}
	e.Labels = nil
	if !reflect.DeepEqual(e, want) {
		t.Errorf("PID 7002: %+v, want %+v", e, want)
	}
}

// The comparisons a consumer makes catch every field that differs.
func TestComparisonsCatchDifferences(t *testing.T) {
	d := newDataset()
	buf := make([]byte, 4096)

	cgroup := d.cgroupEntry(4)
	cgroupsCases := map[string]protocol.CgroupsLookupEntry{"equal": cgroup}
	for name, change := range map[string]func(e *protocol.CgroupsLookupEntry){
		"status": func(e *protocol.CgroupsLookupEntry) {
			e.Status = protocol.CgroupsLookupUnknownRetryLater
			e.Orchestrator, e.Name, e.Labels = 0, "", nil
		},
		"orchestrator": func(e *protocol.CgroupsLookupEntry) { e.Orchestrator = 2 },
		"name":         func(e *protocol.CgroupsLookupEntry) { e.Name = "cg-5" },
		"no labels":    func(e *protocol.CgroupsLookupEntry) { e.Labels = nil },
		"label value":  func(e *protocol.CgroupsLookupEntry) { e.Labels = []protocol.LookupLabel{{Key: "index", Value: "5"}} },
	} {
		e := cgroup
		change(&e)
		cgroupsCases[name] = e
	}
	for name, sent := range cgroupsCases {
		b, err := protocol.NewCgroupsLookupBuilder(buf, 1, generation)
		if err != nil {
			t.Fatal(err)
		}
		_ = b.Add(d.paths[4], &sent)
		n, err := b.Finish()
		if err != nil {
			t.Fatal(name, err)
		}
		v, err := protocol.DecodeCgroupsLookupResponse(buf[:n])
		if err != nil {
			t.Fatal(name, err)
		}
		item, _ := v.Item(0)
		err = sameCgroupsItem(&item, d.paths[4], &cgroup)
		if (err == nil) != (name == "equal") {
			t.Errorf("cgroups %s: %v", name, err)
		}
		if err := sameCgroupsItem(&item, d.paths[5], &sent); err == nil {
			t.Errorf("cgroups %s: another path passes", name)
		}
	}

	app := d.appsEntry(7002)
	appsCases := map[string]protocol.AppsLookupEntry{"equal": app, "unknown": d.appsEntry(7000)}
	for name, change := range map[string]func(e *protocol.AppsLookupEntry){
		"cgroup status": func(e *protocol.AppsLookupEntry) {
			e.CgroupStatus = protocol.CgroupUnknownPermanent
			e.Orchestrator, e.CgroupName, e.Labels = 0, "", nil
		},
		"orchestrator": func(e *protocol.AppsLookupEntry) { e.Orchestrator = 1 },
		"ppid":         func(e *protocol.AppsLookupEntry) { e.PPID++ },
		"uid":          func(e *protocol.AppsLookupEntry) { e.UID++ },
		"start time":   func(e *protocol.AppsLookupEntry) { e.StartTime++ },
		"comm":         func(e *protocol.AppsLookupEntry) { e.Comm = "proc-3" },
		"cgroup path":  func(e *protocol.AppsLookupEntry) { e.CgroupPath = d.paths[3] },
		"cgroup name":  func(e *protocol.AppsLookupEntry) { e.CgroupName = "cg-3" },
		"label key":    func(e *protocol.AppsLookupEntry) { e.Labels = []protocol.LookupLabel{{Key: "ppid", Value: "7002"}} },
	} {
		e := app
		change(&e)
		appsCases[name] = e
	}
	for name, sent := range appsCases {
		b, err := protocol.NewAppsLookupBuilder(buf, 1, generation)
		if err != nil {
			t.Fatal(err)
		}
		_ = b.Add(7002, &sent)
		n, err := b.Finish()
		if err != nil {
			t.Fatal(name, err)
		}
		v, err := protocol.DecodeAppsLookupResponse(buf[:n])
		if err != nil {
			t.Fatal(name, err)
		}
		item, _ := v.Item(0)
		err = sameAppsItem(&item, 7002, &app)
		if (err == nil) != (name == "equal") {
			t.Errorf("apps %s: %v", name, err)
		}
		if err := sameAppsItem(&item, 7003, &sent); err == nil {
			t.Errorf("apps %s: another pid passes", name)
		}
	}
}
