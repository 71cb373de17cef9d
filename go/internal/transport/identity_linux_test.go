package transport

import (
	"bufio"
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

// A provider of another user: the client refuses it before its HELLO (and
// with it the auth token) leaves. The provider is this test binary run as
// uid 12345, which needs root.

const otherUID = 12345

// TestIdentityChild is the provider process of
// TestProviderOfAnotherUserIsRefused (it does nothing in a normal run).
func TestIdentityChild(t *testing.T) {
	dir := os.Getenv("NETIPC_UDS_IDENTITY_CHILD")
	if dir == "" {
		t.Skip("the provider process of TestProviderOfAnotherUserIsRefused")
	}
	l, err := Listen(dir, "svc", ServerOptions{HandshakeTimeout: 5 * time.Second})
	if err != nil {
		os.Stdout.WriteString("listen failed: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("ready\n")
	in, err := l.Accept()
	if err == nil {
		_, err = in.Handshake(1, ServerOffer{})
	}
	if errKind(err) == netipc.ErrDisconnected {
		os.Stdout.WriteString("no hello\n")
	} else {
		os.Stdout.WriteString("hello: " + strings.ReplaceAll(errString(err), "\n", " ") + "\n")
	}
	l.Close()
	os.Exit(0)
}

func errString(err error) string {
	if err == nil {
		return "accepted"
	}
	return err.Error()
}

func TestProviderOfAnotherUserIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a provider as another user")
	}
	base, err := os.MkdirTemp("", "nipc-id-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	// The test binary, where the other user can run it.
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "transport.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "run")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chown(dir, otherUID, otherUID)
	cmd := exec.Command(bin, "-test.run=^TestIdentityChild$")
	cmd.Env = append(os.Environ(), "NETIPC_UDS_IDENTITY_CHILD="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: otherUID, Gid: otherUID}}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewReader(out)
	readLine := func() string {
		got := make(chan string, 1)
		go func() { l, _ := lines.ReadString('\n'); got <- strings.TrimSpace(l) }()
		select {
		case l := <-got:
			return l
		case <-time.After(20 * time.Second):
			t.Fatal("the provider process said nothing")
			return ""
		}
	}
	if l := readLine(); l != "ready" {
		t.Fatalf("provider: %q", l)
	}
	_, err = Connect(dir, "svc", ClientOptions{AuthToken: 42}, time.Now().Add(5*time.Second))
	wantKind(t, "provider of another user", err, netipc.ErrPermission,
		"runs as uid:"+strconv.Itoa(otherUID), "pid "+strconv.Itoa(cmd.Process.Pid), "refusing to send the auth token")
	if l := readLine(); l != "no hello" {
		t.Fatalf("the provider saw: %q", l)
	}
	io.Copy(io.Discard, out)
}
