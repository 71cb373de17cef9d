package testsvc

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// RustPeer runs the Rust netipc-test-peer (named by NETIPC_TEST_PEER,
// which the test lane sets) in mode with args until the test ends, once it
// said "ready". Without NETIPC_TEST_PEER the test is skipped, loudly; a
// peer that is set but cannot run fails the test.
func RustPeer(t testing.TB, mode, runDir, service string, args ...string) {
	t.Helper()
	RustPeerSays(t, "ready", mode, runDir, service, args...)
}

// RustPeerSays is RustPeer for a mode whose first line is want (a client
// mode says "connected", "stalled"...).
func RustPeerSays(t testing.TB, want, mode, runDir, service string, args ...string) {
	t.Helper()
	bin := os.Getenv("NETIPC_TEST_PEER")
	if bin == "" {
		t.Log("NETIPC_TEST_PEER is not set: the test against the Rust peer is SKIPPED " +
			"(cargo build -p netipc-tests --bins, then NETIPC_TEST_PEER=<target>/debug/netipc-test-peer)")
		t.Skip("NETIPC_TEST_PEER not set")
	}
	cmd := exec.Command(bin, append([]string{mode, runDir, service}, args...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // the peer exits when its stdin closes
	if err != nil {
		t.Fatalf("NETIPC_TEST_PEER=%s: %v", bin, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("NETIPC_TEST_PEER=%s: %v", bin, err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("NETIPC_TEST_PEER=%s cannot run: %v", bin, err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-ready:
		if line != want {
			t.Fatalf("NETIPC_TEST_PEER=%s %s: said %q instead of %s", bin, mode, line, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("NETIPC_TEST_PEER=%s %s: did not say %s within 30 s", bin, mode, want)
	}
}
