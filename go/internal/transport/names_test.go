package transport

import (
	"errors"
	"strings"
	"testing"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

// wantNameErr fails unless err is an ErrInvalidArgument with a
// *NameError of problem p about what.
func wantNameErr(t *testing.T, err error, p NameProblem, what string) {
	t.Helper()
	var ne *NameError
	if !errors.Is(err, netipc.ErrInvalidArgument) || !errors.As(err, &ne) || ne.Problem != p || ne.What != what {
		t.Errorf("error %v, want problem %d of %q", err, p, what)
	}
}

func TestServiceNames(t *testing.T) {
	for _, ok := range []string{"a", "cgroups-snapshot", "A.b_c-9", "...", ".a"} {
		if err := ValidateServiceName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a b", "é", "a\x00"} {
		wantNameErr(t, ValidateServiceName(bad), InvalidServiceName, "service name")
	}
	if err := ValidateServiceName("a b"); !strings.Contains(err.Error(), `"a b"`) {
		t.Errorf("the message does not name the service: %v", err)
	}
}

func TestPOSIXNames(t *testing.T) {
	p, err := SocketPath("/run/netdata", "cgroups-snapshot")
	if err != nil || p != "/run/netdata/cgroups-snapshot.sock" {
		t.Errorf("%q %v", p, err)
	}
	if _, err := SocketPath("/r/"+strings.Repeat("d", 93), "svc.x"); err != nil {
		t.Errorf("107 bytes: %v", err)
	}
	_, err = SocketPath("/r/"+strings.Repeat("d", 94), "svc.x")
	wantNameErr(t, err, NameTooLong, "socket path")
	p, err = SHMRegionPath("/run/netdata", "cgroups-snapshot", 1)
	if err != nil || p != "/run/netdata/cgroups-snapshot-0000000000000001.ipcshm" {
		t.Errorf("%q %v", p, err)
	}
	if n, _ := SHMRegionFileName("s", 0xfedcba9876543210); n != "s-fedcba9876543210.ipcshm" {
		t.Errorf("%q", n)
	}
	_, err = SHMRegionPath("/run", strings.Repeat("s", 232), 1)
	wantNameErr(t, err, NameTooLong, "SHM region file name")
	_, err = SHMRegionPath("/"+strings.Repeat("r", 10), strings.Repeat("s", 230), 1)
	wantNameErr(t, err, NameTooLong, "SHM region path")
	_, err = SHMRegionPath("/run", "", 1)
	wantNameErr(t, err, InvalidServiceName, "service name")
}

func TestWindowsNames(t *testing.T) {
	for s, h := range map[string]uint64{"": 0xcbf29ce484222325, "a": 0xaf63dc4c8601ec8c, "foobar": 0x85944171f73967e8} {
		if FNV1a64(s) != h {
			t.Errorf("FNV1a64(%q) = %x", s, FNV1a64(s))
		}
	}
	n, err := PipeName("/var/run/netdata", "cgroups-snapshot")
	if err != nil || n != `\\.\pipe\netipc-ed7057727a788d75-cgroups-snapshot` {
		t.Errorf("%q %v", n, err)
	}
	if _, err := PipeName("x", strings.Repeat("s", 222)); err != nil {
		t.Errorf("255 bytes: %v", err)
	}
	_, err = PipeName("x", strings.Repeat("s", 223))
	wantNameErr(t, err, NameTooLong, "pipe name")

	names, err := WindowsSHMNames("/var/run/netdata", "cgroups-snapshot", 12345, protocol.ProfileSHMHybrid, 1)
	prefix := `Local\netipc-8c7f549b82c4d818-cgroups-snapshot-p2-s0000000000000001`
	want := SHMObjectNames{Mapping: prefix + "-mapping", ReqEvent: prefix + "-req_event", RespEvent: prefix + "-resp_event"}
	if err != nil || names != want {
		t.Errorf("%+v %v", names, err)
	}
	names, err = WindowsSHMNames("/var/run/netdata", "cgroups-snapshot", 12345, protocol.ProfileSHMAlt, 1)
	if err != nil || names.ReqEvent != "" || !strings.HasSuffix(names.Mapping, "-p4-s0000000000000001-mapping") {
		t.Errorf("busy-wait profile: %+v %v", names, err)
	}
	_, err = WindowsSHMNames("/r", "svc", 1, protocol.ProfileBaseline, 1)
	wantNameErr(t, err, InvalidProfile, "profile")
	_, err = WindowsSHMNames("/"+strings.Repeat("r", 505), "svc", 1, protocol.ProfileSHMHybrid, 1)
	wantNameErr(t, err, NameTooLong, "SHM name hash input")
	// The event names are up to 3 bytes longer than the mapping's.
	fixed := len(`Local\netipc-0123456789abcdef--p2-s0123456789abcdef-mapping`)
	_, err = WindowsSHMNames("/r", strings.Repeat("s", 255-fixed), 1, protocol.ProfileSHMHybrid, 1)
	wantNameErr(t, err, NameTooLong, "SHM event name")
	_, err = WindowsSHMNames("/r", strings.Repeat("s", 255-fixed+1), 1, protocol.ProfileSHMHybrid, 1)
	wantNameErr(t, err, NameTooLong, "SHM mapping name")
	if _, err := WindowsSHMNames("/r", strings.Repeat("s", 255-fixed), 1, protocol.ProfileSHMAlt, 1); err != nil {
		t.Errorf("no events for 0x4: %v", err)
	}
}

func TestCanonicalRunDirs(t *testing.T) {
	for given, want := range map[string]string{
		"/tmp/x": "/tmp/x", "/tmp/x/": "/tmp/x", "/tmp//x": "/tmp/x", "/tmp/./x": "/tmp/x",
		"//tmp///x//.//": "/tmp/x", "/": "/", "//": "/", "/tmp/link/../x": "/tmp/link/../x",
		"run": "run", "./run/": "run", ".": ".", "./": ".", "": ".",
	} {
		if got := CanonicalPOSIXRunDir(given); got != want {
			t.Errorf("POSIX %q: %q, want %q", given, got, want)
		}
	}
	for given, want := range map[string]string{
		`C:\trial\`: `C:\trial`, "C:/trial": `C:\trial`, `c:\trial`: `C:\trial`, `C:\trial`: `C:\trial`,
		`C:\\trial\.\sub\..\`: `C:\trial`, `C:\`: `C:\`, "c:/": `C:\`, `C:\..`: `C:\`,
		`C:\ProgramData\Netdata`: `C:\ProgramData\Netdata`,
		"//server/share/x/":      `\\server\share\x`, `\\server\share\..\..`: `\\server\share`,
		"/var/run/netdata": "/var/run/netdata", `\var\run\netdata\`: "/var/run/netdata",
		"/var/run//netdata/": "/var/run/netdata", "/": "/",
		`\\?\C:\trial\`: `\\?\C:\trial\`, `\\.\pipe\x`: `\\.\pipe\x`,
		`run\.\x\`: `run\x`, `..\x`: `..\x`, "C:run": "C:run", "": ".",
	} {
		if got := CanonicalWindowsRunDir(given); got != want {
			t.Errorf("Windows %q: %q, want %q", given, got, want)
		}
	}
	// Any spelling of the spec's run directory derives the spec's pipe.
	for _, dir := range []string{"/var/run/netdata", "/var/run/netdata/", `\var\run\netdata`} {
		if n, _ := PipeName(CanonicalWindowsRunDir(dir), "cgroups-snapshot"); n != `\\.\pipe\netipc-ed7057727a788d75-cgroups-snapshot` {
			t.Errorf("%q: %q", dir, n)
		}
	}
}
