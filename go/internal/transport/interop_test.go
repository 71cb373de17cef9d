//go:build linux || windows

package transport

// The Go sessions against the Rust core across a process boundary: the
// Rust test peer (NETIPC_TEST_PEER, from `cargo build -p netipc-tests
// --bin netipc-test-peer`) and the netipc CLI (NETIPC_BIN, from `cargo
// build -p netipc-cli`). The go lane of `cargo xtask test` sets both;
// without them these tests are skipped and say so loudly.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

// rustBinary returns the executable named by env: it skips the test
// loudly when env is not set and fails when it is set but unusable.
func rustBinary(t *testing.T, env, build string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		t.Logf("*** %s is not set: SKIPPING the interop checks against the Rust core (the go lane of `cargo xtask test` sets it; or %s) ***", env, build)
		t.Skipf("%s is not set", env)
	}
	info, err := os.Stat(path)
	// Windows has no execute bits.
	if err != nil || info.IsDir() || (runtime.GOOS != "windows" && info.Mode()&0o111 == 0) {
		t.Fatalf("%s=%s is not an executable file (%v): %s", env, path, err, build)
	}
	return path
}

// The Rust test peer uses the auth token 0.
var rustClient, rustOffer = func() (ClientOptions, ServerOffer) {
	c, o := defaultClient, defaultOffer
	c.AuthToken, o.AuthToken = 0, 0
	return c, o
}()

const buildPeer = "cargo build -p netipc-tests --bin netipc-test-peer, then NETIPC_TEST_PEER=$PWD/target/debug/netipc-test-peer"
const buildCLI = "cargo build -p netipc-cli, then NETIPC_BIN=$PWD/target/debug/netipc"

// rustPeer starts the Rust test peer in mode and waits for its first
// line (want); it ends when the test ends (its stdin closes). It returns
// the process, and a channel closed once the process is gone (reaped).
func rustPeer(t *testing.T, want string, args ...string) (*os.Process, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command(rustBinary(t, "NETIPC_TEST_PEER", buildPeer), args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("NETIPC_TEST_PEER cannot be started: %v", err)
	}
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-waited
		}
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(line)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-lines:
		if line != want {
			t.Fatalf("netipc-test-peer %v said %q, want %q", args, line, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("netipc-test-peer %v did not say %q", args, want)
	}
	return cmd.Process, waited
}

func TestInteropGoClientRustEchoServer(t *testing.T) {
	baselineOnly(t)
	dir := testDir(t)
	proc, _ := rustPeer(t, "ready", "serve", dir, "echo", "baseline")
	c, err := Connect(dir, "echo", rustClient, time.Now().Add(10*time.Second))
	if err != nil {
		t.Fatalf("Connect to the Rust peer: %v", err)
	}
	defer c.Close()
	p := c.Params()
	if p.Profile != protocol.ProfileBaseline || p.MaxRequestPayloadBytes != 1<<20 || p.MaxRequestBatchItems != 64 ||
		p.MaxResponsePayloadBytes != 1<<20 || p.MaxResponseBatchItems != 64 || p.SessionID == 0 || p.PacketSize <= 32 {
		t.Fatalf("params %+v", p)
	}
	if c.Peer().PID != int32(proc.Pid) {
		t.Fatalf("peer pid %d, want %d", c.Peer().PID, proc.Pid)
	}
	roundTrip := func(id uint64, h protocol.Header, payload []byte) {
		t.Helper()
		if err := c.Send(h, payload, time.Now().Add(10*time.Second)); err != nil {
			t.Fatalf("send %d: %v", id, err)
		}
		m, err := c.Receive(time.Now().Add(10 * time.Second))
		if err != nil || m.Header.MessageID != id || !bytes.Equal(m.Payload, payload) {
			t.Fatalf("echo %d (%d bytes): id %d, %d bytes, %v", id, len(payload), m.Header.MessageID, len(m.Payload), err)
		}
	}
	// Single, empty and chunked messages both ways (the largest is several
	// packets of either side's packet size).
	for i, n := range []int{8, 0, int(p.PacketSize) - 32, int(p.PacketSize) + 1, 1 << 20} {
		roundTrip(uint64(i+1), reqHdr(uint64(i+1)), pattern(n, byte(i)))
	}
	// A batch: the response carries BATCH and the item count back.
	items := [][]byte{[]byte("abc"), pattern(3000, 9), nil}
	n, _ := protocol.BatchPayloadLen(items)
	buf := make([]byte, n)
	b, _ := protocol.NewBatchBuilder(buf, 3)
	for _, it := range items {
		b.Add(it)
	}
	n, _ = b.Finish()
	h := reqHdr(100)
	h.Flags, h.ItemCount = protocol.FlagBatch, 3
	if err := c.Send(h, buf[:n], time.Now().Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	m, err := c.Receive(time.Now().Add(10 * time.Second))
	if err != nil || !m.Header.IsBatch() || m.Header.ItemCount != 3 || !bytes.Equal(m.Payload, buf[:n]) {
		t.Fatalf("batch: %+v %v", m.Header, err)
	}
	// Pipelining: 16 requests in flight, most of them chunked; the
	// responses are received by another goroutine while this one sends.
	size := func(id uint64) int { return int(id-200) * 40000 }
	received := make(chan error, 1)
	go func() {
		for i := uint64(200); i < 216; i++ {
			m, err := c.Receive(time.Now().Add(10 * time.Second))
			if err == nil && !bytes.Equal(m.Payload, pattern(size(m.Header.MessageID), byte(m.Header.MessageID))) {
				err = netipc.Errorf(netipc.ErrProtocol, "response %d garbled", m.Header.MessageID)
			}
			if err != nil {
				received <- err
				return
			}
		}
		received <- nil
	}()
	for i := uint64(200); i < 216; i++ {
		if err := c.Send(reqHdr(i), pattern(size(i), byte(i)), time.Now().Add(10*time.Second)); err != nil {
			t.Fatalf("pipelined send %d: %v", i, err)
		}
	}
	if err := <-received; err != nil {
		t.Fatalf("pipelined responses: %v", err)
	}
	if c.InFlight() != 0 {
		t.Fatalf("in flight %d", c.InFlight())
	}
	// The Rust provider holds the endpoint: a Go provider is refused,
	// with the Rust provider's pid.
	_, err = Listen(dir, "echo", ServerOptions{})
	wantKind(t, "Go provider over a live Rust one", err, netipc.ErrAddressInUse, "pid "+strconv.Itoa(proc.Pid))
}

func TestInteropRustStalledResponseTimesOut(t *testing.T) {
	baselineOnly(t)
	dir := testDir(t)
	rustPeer(t, "ready", "stall-response", dir, "stall")
	c, err := Connect(dir, "stall", rustClient, time.Now().Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Params().PacketSize != 64 {
		t.Fatalf("packet size %d, want the peer's 64", c.Params().PacketSize)
	}
	h := reqHdr(1)
	h.Code = protocol.MethodStringReverse
	if err := c.Send(h, []byte("x"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Receive(time.Now().Add(200 * time.Millisecond))
	wantKind(t, "stalled chunked response", err, netipc.ErrTimeout)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

func TestInteropGoListenRecoversACrashedRustProvider(t *testing.T) {
	baselineOnly(t)
	dir := testDir(t)
	_, gone := rustPeer(t, "ready", "crash", dir, "svc")
	// It aborts right after binding: on Linux its socket and lock file
	// stay (on Windows its pipe goes with the process).
	select {
	case <-gone:
	case <-time.After(20 * time.Second):
		t.Fatal("the crash peer did not exit")
	}
	for _, name := range []string{"svc.sock", "svc.lock"} {
		if runtime.GOOS != "linux" {
			break
		}
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("the crashed provider left no %s: %v", name, err)
		}
	}
	l := listenT(t, dir, ServerOptions{})
	c, s := pairOn(t, l, dir, defaultClient, defaultOffer)
	echo(s)
	if err := c.Send(reqHdr(1), []byte("recovered"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Receive(time.Now().Add(5 * time.Second)); err != nil || string(m.Payload) != "recovered" {
		t.Fatalf("%q %v", m.Payload, err)
	}
}

func TestInteropRustClientsOfAGoServer(t *testing.T) {
	baselineOnly(t)
	dir := testDir(t)
	l := listenT(t, dir, ServerOptions{SendTimeout: 200 * time.Millisecond})
	sessions := make(chan *ServerSession, 2)
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			s, err := in.Handshake(1, rustOffer)
			if err != nil {
				t.Errorf("handshake with a Rust client: %v", err)
				return
			}
			sessions <- s
		}
	}()
	rustPeer(t, "connected", "idle-client", dir, "svc", "baseline")
	s := <-sessions
	defer s.Close()
	if s.Params().Profile != protocol.ProfileBaseline || s.Peer().PID == int32(os.Getpid()) {
		t.Fatalf("idle client session %+v, peer %+v", s.Params(), s.Peer())
	}
	// A Rust client that sends the first chunk of a request and stops.
	rustPeer(t, "stalled", "stall-request", dir, "svc")
	s2 := <-sessions
	defer s2.Close()
	_, err := s2.Receive(time.Time{})
	wantKind(t, "request stalled by the Rust peer", err, netipc.ErrTimeout, "half way")
}

// TestInteropRustProbeOfAGoListener runs `netipc probe` against a Go
// listener that answers INCREMENT.
func TestInteropRustProbeOfAGoListener(t *testing.T) {
	baselineOnly(t)
	bin := rustBinary(t, "NETIPC_BIN", buildCLI)
	dir := testDir(t)
	l := listenT(t, dir, ServerOptions{})
	go func() {
		for id := uint64(1); ; id++ {
			in, err := l.Accept()
			if err != nil {
				return
			}
			s, err := in.Handshake(id, ServerOffer{MaxRequestPayloadBytes: 1024, MaxResponsePayloadBytes: 1024})
			if err != nil {
				continue
			}
			go func() {
				defer s.Close()
				for {
					m, err := s.Receive(time.Time{})
					if err != nil {
						return
					}
					r := responseTo(m.Header)
					var out [8]byte
					payload := out[:]
					if m.Header.Code != protocol.MethodIncrement || len(m.Payload) != 8 {
						r.Status, payload = protocol.StatusUnsupported, nil
					} else {
						binary.LittleEndian.PutUint64(out[:], binary.LittleEndian.Uint64(m.Payload)+1)
					}
					if s.Send(r, payload) != nil {
						return
					}
				}
			}()
		}
	}()
	cmd := exec.Command(bin, "probe", "svc", "--run-dir", dir, "--kind", "increment", "--count", "5", "--json")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("netipc probe: %v\n%s", err, out)
	}
	var got struct {
		Method  string `json:"method"`
		PeerPID int    `json:"peer_pid"`
	}
	if err := json.Unmarshal(out, &got); err != nil || got.Method != "INCREMENT" || got.PeerPID != os.Getpid() {
		t.Fatalf("probe output %+v (%v):\n%s", got, err, out)
	}
}
