//go:build linux

package shm

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
)

// Multi-process tests: the test binary runs itself as the other process
// (NETIPC_SHM_CHILD selects what it does).

func TestMain(m *testing.M) {
	if mode := os.Getenv("NETIPC_SHM_CHILD"); mode != "" {
		os.Exit(child(mode, strings.Fields(os.Getenv("NETIPC_SHM_ARGS"))))
	}
	os.Exit(m.Run())
}

func child(mode string, args []string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	switch mode {
	case "client": // DIR NAME ROUNDS EXT: round trips against an echo server
		rounds, _ := strconv.Atoi(args[2])
		ext, _ := strconv.Atoi(args[3])
		c, err := Attach(args[0], args[1], -1)
		if err != nil {
			return fail(err)
		}
		c.SetExtensions(uint32(ext))
		head, buf := make([]byte, 32), make([]byte, c.RecvCapacity())
		for i := 0; i < rounds; i++ {
			binary.LittleEndian.PutUint64(head, uint64(i))
			if err := c.Publish(head, []byte("ping")); err != nil {
				return fail(err)
			}
			n, err := c.Receive(buf, time.Now().Add(10*time.Second), nil)
			if err != nil {
				return fail(err)
			}
			if n != 36 || binary.LittleEndian.Uint64(buf) != uint64(i) || string(buf[32:n]) != "ping" {
				return fail(fmt.Errorf("round trip %d: %q", i, buf[:n]))
			}
		}
		c.Close()
		return 0
	case "server": // DIR NAME EXT: echo until stdin closes
		ext, _ := strconv.Atoi(args[2])
		s, err := Create(args[0], args[1], 1024, 1024)
		if err != nil {
			return fail(err)
		}
		s.SetExtensions(uint32(ext))
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			s.Close()
		}()
		fmt.Println("ready")
		buf := make([]byte, s.RecvCapacity())
		for {
			n, err := s.Receive(buf, time.Time{}, nil)
			if err != nil {
				return 0
			}
			if err := s.Publish(buf[:32], buf[32:n]); err != nil {
				return fail(err)
			}
		}
	case "truncate": // PATH SIZE
		size, _ := strconv.ParseInt(args[1], 10, 64)
		if err := os.Truncate(args[0], size); err != nil {
			return fail(err)
		}
		return 0
	}
	return fail(fmt.Errorf("unknown mode %q", mode))
}

// childCmd is the test binary running as the child in mode with args.
func childCmd(mode string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "NETIPC_SHM_CHILD="+mode, "NETIPC_SHM_ARGS="+strings.Join(args, " "))
	return cmd
}

// startCmd starts cmd and returns its stdout as a line reader and its
// stdin; the process is killed at the end of the test (its stderr is
// logged if the test failed).
func startCmd(t *testing.T, cmd *exec.Cmd) (*bufio.Reader, io.WriteCloser) {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s cannot be started: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		in.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("%s stderr: %s", cmd.Path, stderr.String())
		}
	})
	return bufio.NewReader(out), in
}

// spawn starts the test binary as the child in mode.
func spawn(t *testing.T, mode string, args ...string) (*exec.Cmd, *bufio.Reader, io.WriteCloser) {
	t.Helper()
	cmd := childCmd(mode, args...)
	out, in := startCmd(t, cmd)
	return cmd, out, in
}

func runChild(t *testing.T, mode string, args ...string) {
	t.Helper()
	if out, err := childCmd(mode, args...).CombinedOutput(); err != nil {
		t.Fatalf("child %s %v: %v\n%s", mode, args, err, out)
	}
}

func expectLine(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		line, _ := r.ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case line := <-got:
		if line != want {
			t.Fatalf("child said %q, want %q", line, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("child did not say %q", want)
	}
}

func TestCrossProcessRoundTrips(t *testing.T) {
	for _, ext := range []uint32{0, ExtWakeOnDemand} {
		e := strconv.Itoa(int(ext))
		t.Run("go server, child client, extensions="+e, func(t *testing.T) {
			dir := t.TempDir()
			server, err := Create(dir, regionName(1), 1024, 1024)
			if err != nil {
				t.Fatal(err)
			}
			server.SetExtensions(ext)
			done := echo(server)
			runChild(t, "client", dir, regionName(1), "3000", e)
			server.Close()
			<-done
			if server.rxSeq.Load() != 3000 || server.txSeq != 3000 {
				t.Fatalf("the server saw %d requests and answered %d", server.rxSeq.Load(), server.txSeq)
			}
		})
		t.Run("child server, go client, extensions="+e, func(t *testing.T) {
			dir := t.TempDir()
			_, out, in := spawn(t, "server", dir, regionName(1), e)
			expectLine(t, out, "ready")
			client, err := Attach(dir, regionName(1), -1)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			client.SetExtensions(ext)
			roundTrips(t, client, 3000)
			for i := 0; i < 3; i++ {
				time.Sleep(2 * time.Millisecond)
				roundTrips(t, client, 1)
			}
			in.Close()
		})
	}
}

func TestATruncateByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	server, client := pair(t, dir, 1, 1024, 64*1024)
	path := filepath.Join(dir, regionName(1))
	alive := func() bool { return true }
	got := blocked(server, alive)
	got2 := blocked(client, alive)
	time.Sleep(20 * time.Millisecond)
	runChild(t, "truncate", path, "0")
	lostKind(t, waitErr(t, got, 3*time.Second), path)
	lostKind(t, waitErr(t, got2, 3*time.Second), path)
	lostKind(t, client.Publish([]byte("x"), nil), path)
}

func TestTheRegionOfAKilledServerIsRecovered(t *testing.T) {
	dir := t.TempDir()
	cmd, out, _ := spawn(t, "server", dir, regionName(1), "0")
	expectLine(t, out, "ready")
	// Live: refused, naming the owner.
	_, err := Create(dir, regionName(1), 1024, 1024)
	wantKind(t, err, netipc.ErrAddressInUse, "process "+strconv.Itoa(cmd.Process.Pid))
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if _, err := os.Stat(filepath.Join(dir, regionName(1))); err != nil {
		t.Fatalf("the killed server's region is gone already: %v", err)
	}
	// Dead: replaced.
	r, err := Create(dir, regionName(1), 1024, 1024)
	if err != nil {
		t.Fatalf("the region of a killed server was not recovered: %v", err)
	}
	r.Close()
	// And the startup scan removes such regions too.
	cmd2, out2, _ := spawn(t, "server", dir, regionName(2), "0")
	expectLine(t, out2, "ready")
	_ = cmd2.Process.Signal(syscall.SIGKILL)
	_ = cmd2.Wait()
	CleanupStale(dir, "svc")
	if _, err := os.Stat(filepath.Join(dir, regionName(2))); !os.IsNotExist(err) {
		t.Fatalf("the startup scan left a dead server's region: %v", err)
	}
}
