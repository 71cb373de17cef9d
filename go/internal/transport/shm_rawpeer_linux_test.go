package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport/shm"
	"github.com/netdata/netipc/go/protocol"
)

// Interop of the region layer (package shm) with the Rust core: the Rust
// test peer (NETIPC_TEST_PEER) serves echo sessions; this test makes the
// handshake by hand on a SEQPACKET socket, with and without the netipc
// extensions flag (a Go session always sets it), so that both wake modes
// run against the Rust server through the region it created.

// rawHello connects to service in dir, sends a HELLO proposing profiles
// (with the netipc extensions flag if ext) and returns the connection
// and the HELLO_ACK's selected profile, session id and extensions.
func rawHello(t *testing.T, dir, service string, profiles uint32, ext bool) (fd int, selected uint32, session uint64, extensions uint32) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: filepath.Join(dir, service+".sock")}); err != nil {
		t.Fatal(err)
	}
	tv := syscall.NsecToTimeval(int64(10 * time.Second))
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	msg := make([]byte, 32+44)
	h := protocol.Header{Kind: protocol.KindControl, Code: protocol.ControlHello, PayloadLen: 44, ItemCount: 1}
	h.Encode(msg)
	p := msg[32:]
	le := binary.LittleEndian
	le.PutUint16(p[0:], 1)
	if ext {
		le.PutUint16(p[2:], 0x4000)
	}
	le.PutUint32(p[4:], profiles)
	le.PutUint32(p[8:], profiles&^uint32(protocol.ProfileBaseline))
	le.PutUint32(p[12:], 1024) // request payload
	le.PutUint32(p[16:], 1)    // request items
	le.PutUint32(p[20:], 1024) // response payload (a hint)
	le.PutUint32(p[24:], 1)
	le.PutUint32(p[40:], 65536) // packet size
	if _, err := syscall.Write(fd, msg); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 256)
	n, err := syscall.Read(fd, ack)
	if err != nil || n != 32+48 {
		t.Fatalf("HELLO_ACK: %d bytes, %v", n, err)
	}
	hdr, err := protocol.DecodeHeader(ack[:n])
	if err != nil || hdr.Code != protocol.ControlHelloAck || hdr.Status != protocol.StatusOK {
		t.Fatalf("HELLO_ACK header %+v %v", hdr, err)
	}
	a := ack[32:n]
	return fd, le.Uint32(a[12:]), le.Uint64(a[40:]), le.Uint32(a[36:])
}

func TestSHMRegionAgainstRustServer(t *testing.T) {
	cases := []struct {
		offer    string
		profile  uint32
		ext      bool
		wantExts uint32
	}{
		{"baseline|shm-hybrid", uint32(protocol.ProfileBaseline | protocol.ProfileSHMHybrid), false, 0},
		{"baseline|shm-hybrid", uint32(protocol.ProfileBaseline | protocol.ProfileSHMHybrid), true, shm.ExtWakeOnDemand},
		{"baseline|shm-alt", uint32(protocol.ProfileBaseline | protocol.ProfileSHMAlt), false, 0},
		{"baseline|shm-alt", uint32(protocol.ProfileBaseline | protocol.ProfileSHMAlt), true, shm.ExtWakeOnDemand},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s ext=%v", c.offer, c.ext), func(t *testing.T) {
			dir := t.TempDir()
			proc, _ := rustPeer(t, "ready", "serve", dir, "svc", c.offer)
			pid := proc.Pid
			_, selected, session, exts := rawHello(t, dir, "svc", c.profile, c.ext)
			if selected != c.profile&^uint32(protocol.ProfileBaseline) || exts != c.wantExts {
				t.Fatalf("selected %#x extensions %#x", selected, exts)
			}
			name := fmt.Sprintf("svc-%016x.ipcshm", session)
			client, err := shm.Attach(dir, name, int64(os.Geteuid()))
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			client.SetExtensions(exts)
			// The Rust server sized the request area for this client's
			// 1024-byte proposal and the response area for its own 1 MiB.
			if client.SendCapacity() != 1024+64 || client.RecvCapacity() != 1<<20+64 {
				t.Fatalf("capacities %d/%d", client.SendCapacity(), client.RecvCapacity())
			}
			head := make([]byte, 32)
			payload := make([]byte, 1000)
			buf := make([]byte, client.RecvCapacity())
			for i := 0; i < 2000; i++ {
				if i >= 1990 {
					// The server sleeps on its futex: wake it.
					time.Sleep(3 * time.Millisecond)
				}
				size := 1 + i%len(payload)
				payload[i%len(payload)] = byte(i)
				h := protocol.Header{Kind: protocol.KindRequest, Code: protocol.MethodIncrement,
					PayloadLen: uint32(size), ItemCount: 1, MessageID: uint64(i + 1)}
				h.Encode(head)
				if err := client.Publish(head, payload[:size]); err != nil {
					t.Fatalf("publish %d: %v", i, err)
				}
				n, err := client.Receive(buf, time.Now().Add(10*time.Second), nil)
				if err != nil {
					t.Fatalf("receive %d: %v", i, err)
				}
				r, err := protocol.DecodeHeader(buf[:n])
				if err != nil || r.Kind != protocol.KindResponse || r.MessageID != uint64(i+1) ||
					r.PayloadLen != uint32(size) || n != 32+size || string(buf[32:n]) != string(payload[:size]) {
					t.Fatalf("response %d: %+v %v (%d bytes)", i, r, err, n)
				}
			}
			// The server's region is live for the stale check (its owner
			// runs and its generation is non-zero).
			_, err = shm.Create(dir, name, 64, 64)
			if !errors.Is(err, netipc.ErrAddressInUse) || !strings.Contains(err.Error(), strconv.Itoa(pid)) {
				t.Fatalf("the Rust server's live region: %v", err)
			}
		})
	}
}
