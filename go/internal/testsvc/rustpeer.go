package testsvc

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// RustPeer runs the Rust netipc-test-peer (named by NETIPC_TEST_PEER,
// which the test lane sets) in mode with args until the test ends. Without
// NETIPC_TEST_PEER the test is skipped, loudly; a peer that is set but
// cannot run fails the test.
func RustPeer(t testing.TB, mode, runDir, service string, args ...string) {
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
	}()
	select {
	case line := <-ready:
		if line != "ready" {
			t.Fatalf("NETIPC_TEST_PEER=%s %s: said %q instead of ready", bin, mode, line)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("NETIPC_TEST_PEER=%s %s: not ready after 30 s", bin, mode)
	}
}
