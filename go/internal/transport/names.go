package transport

import (
	"fmt"
	"strconv"
	"strings"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

// Endpoint and shared-memory object names, derived exactly like every
// other NetIPC implementation so that peers find each other. These are
// pure functions of their inputs, usable on every OS:
//
//	POSIX socket        <run_dir>/<service>.sock
//	POSIX SHM region    <run_dir>/<service>-<%016x session>.ipcshm
//	Windows pipe        \\.\pipe\netipc-<%016x fnv1a64(run_dir)>-<service>
//	Windows SHM objects Local\netipc-<H>-<service>-p<profile>-s<%016x session>-{mapping,req_event,resp_event}
//
// run_dir is used verbatim, as the protocol defines; the transport gives
// these functions the directory's canonical spelling
// (CanonicalPOSIXRunDir, CanonicalWindowsRunDir), so that equivalent
// spellings of one directory reach one endpoint.

// Name length limits.
const (
	// SocketPathMax is the longest socket path: Linux sun_path holds 108
	// bytes including the NUL.
	SocketPathMax = 107
	// SHMPathMax is the longest SHM region file name and full path.
	SHMPathMax = 255
	// WindowsNameMax is the longest Windows pipe or kernel object name.
	WindowsNameMax = 255
	// WindowsHashInputMax is the longest input of the Windows SHM name
	// hash (a limit of the reference C library that peers must respect to
	// find each other).
	WindowsHashInputMax = 511
)

// NameProblem says why a name could not be derived.
type NameProblem uint8

// The problems.
const (
	// InvalidServiceName: the service name is empty, "." or "..", or has
	// a byte outside [A-Za-z0-9._-].
	InvalidServiceName NameProblem = iota + 1
	// NameTooLong: a derived path or name is longer than the platform
	// allows (NameError.What says which).
	NameTooLong
	// InvalidProfile: Windows SHM objects were asked for a profile other
	// than 0x2 or 0x4.
	InvalidProfile
)

// NameError is the cause (Err) inside the *netipc.Error
// (ErrInvalidArgument) of a name that cannot be derived.
type NameError struct {
	// Problem says what is wrong.
	Problem NameProblem
	// What names the name ("service name", "socket path", "SHM mapping
	// name", "SHM name hash input", ...).
	What string
	// Name is the offending name (the service name, or the derived
	// path or name).
	Name string
	// Max is the longest accepted length (NameTooLong).
	Max int
}

// Error describes the problem and what to do.
func (e *NameError) Error() string {
	switch e.Problem {
	case InvalidServiceName:
		return fmt.Sprintf("invalid service name %q: use 1 or more of A-Z a-z 0-9 . _ - (not \".\" or \"..\")", e.Name)
	case InvalidProfile:
		return fmt.Sprintf("profile %s has no shared-memory objects (only 0x2 and 0x4 do)", e.Name)
	}
	return fmt.Sprintf("the %s %q is %d bytes, longer than the limit of %d; use a shorter run directory or service name",
		e.What, e.Name, len(e.Name), e.Max)
}

func nameErr(problem NameProblem, what, name string, max int) error {
	return netipc.Wrap(netipc.ErrInvalidArgument, &NameError{Problem: problem, What: what, Name: name, Max: max},
		"cannot derive an endpoint name")
}

// ValidateServiceName checks a service name: not empty, not "." or "..",
// only bytes of [A-Za-z0-9._-]. Names are never rewritten.
func ValidateServiceName(service string) error {
	ok := service != "" && service != "." && service != ".."
	for i := 0; ok && i < len(service); i++ {
		c := service[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	if !ok {
		return nameErr(InvalidServiceName, "service name", service, 0)
	}
	return nil
}

func checkLen(what, name string, max int) error {
	if len(name) > max {
		return nameErr(NameTooLong, what, name, max)
	}
	return nil
}

// SocketPath returns the POSIX socket path <runDir>/<service>.sock. It
// fails for an invalid service name or a path longer than SocketPathMax.
func SocketPath(runDir, service string) (string, error) {
	if err := ValidateServiceName(service); err != nil {
		return "", err
	}
	path := runDir + "/" + service + ".sock"
	return path, checkLen("socket path", path, SocketPathMax)
}

// hex16 prints v as 16 lowercase hex digits, zero padded.
func hex16(v uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

// SHMRegionFileName returns the file name of a POSIX SHM region,
// <service>-<%016x sessionID>.ipcshm. It fails for an invalid service
// name or a name longer than SHMPathMax.
func SHMRegionFileName(service string, sessionID uint64) (string, error) {
	if err := ValidateServiceName(service); err != nil {
		return "", err
	}
	name := service + "-" + hex16(sessionID) + ".ipcshm"
	return name, checkLen("SHM region file name", name, SHMPathMax)
}

// SHMRegionPath returns the full path of a POSIX SHM region,
// <runDir>/<file name>. It fails as SHMRegionFileName does, or for a path
// longer than SHMPathMax.
func SHMRegionPath(runDir, service string, sessionID uint64) (string, error) {
	name, err := SHMRegionFileName(service, sessionID)
	if err != nil {
		return "", err
	}
	path := runDir + "/" + name
	return path, checkLen("SHM region path", path, SHMPathMax)
}

// FNV1a64 returns the 64-bit FNV-1a hash of the bytes of s.
func FNV1a64(s string) uint64 {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 0x00000100000001b3
	}
	return h
}

// PipeName returns the Windows pipe name
// \\.\pipe\netipc-<%016x FNV1a64(runDir)>-<service>. It fails for an
// invalid service name or a name longer than WindowsNameMax.
func PipeName(runDir, service string) (string, error) {
	if err := ValidateServiceName(service); err != nil {
		return "", err
	}
	name := `\\.\pipe\netipc-` + hex16(FNV1a64(runDir)) + "-" + service
	return name, checkLen("pipe name", name, WindowsNameMax)
}

// SHMObjectNames are the kernel object names of one Windows SHM session.
type SHMObjectNames struct {
	// Mapping is the file mapping.
	Mapping string
	// ReqEvent and RespEvent are the direction events (profile 0x2 only;
	// empty for 0x4, which spins without kernel objects).
	ReqEvent, RespEvent string
}

// WindowsSHMHashInput is the input of the Windows SHM name hash:
// runDir, service and the decimal auth token, separated by newlines.
func WindowsSHMHashInput(runDir, service string, authToken uint64) string {
	return runDir + "\n" + service + "\n" + strconv.FormatUint(authToken, 10)
}

// WindowsSHMNames returns the Windows SHM object names of a session. The
// hash covers runDir, the service name and the auth token, so peers with
// different tokens never meet. It fails for an invalid service name, a
// profile other than 0x2 or 0x4, a hash input longer than
// WindowsHashInputMax, or a name longer than WindowsNameMax (checked in
// that order, the mapping's name before the events').
func WindowsSHMNames(runDir, service string, authToken uint64, profile protocol.Profile, sessionID uint64) (SHMObjectNames, error) {
	if err := ValidateServiceName(service); err != nil {
		return SHMObjectNames{}, err
	}
	if profile != protocol.ProfileSHMHybrid && profile != protocol.ProfileSHMAlt {
		return SHMObjectNames{}, nameErr(InvalidProfile, "profile", "0x"+strconv.FormatUint(uint64(profile), 16), 0)
	}
	input := WindowsSHMHashInput(runDir, service, authToken)
	if err := checkLen("SHM name hash input", input, WindowsHashInputMax); err != nil {
		return SHMObjectNames{}, err
	}
	prefix := `Local\netipc-` + hex16(FNV1a64(input)) + "-" + service +
		"-p" + strconv.FormatUint(uint64(profile), 10) + "-s" + hex16(sessionID)
	n := SHMObjectNames{Mapping: prefix + "-mapping"}
	if err := checkLen("SHM mapping name", n.Mapping, WindowsNameMax); err != nil {
		return SHMObjectNames{}, err
	}
	if profile == protocol.ProfileSHMHybrid {
		n.ReqEvent, n.RespEvent = prefix+"-req_event", prefix+"-resp_event"
		for _, e := range [...]string{n.ReqEvent, n.RespEvent} {
			if err := checkLen("SHM event name", e, WindowsNameMax); err != nil {
				return SHMObjectNames{}, err
			}
		}
	}
	return n, nil
}

// CanonicalPOSIXRunDir returns the canonical POSIX spelling of a run
// directory: repeated "/" collapse into one, "." components and trailing
// "/" go ("/tmp//x/./" is "/tmp/x"; "/" stays "/", a relative path that
// becomes empty is "."). ".." is kept: through a symbolic link it does
// not undo the previous component. Spellings that differ only in these
// ways name the same directory to the kernel, so this changes no
// endpoint; it makes names and messages identical.
func CanonicalPOSIXRunDir(runDir string) string {
	var parts []string
	for _, c := range strings.Split(runDir, "/") {
		if c != "" && c != "." {
			parts = append(parts, c)
		}
	}
	switch {
	case strings.HasPrefix(runDir, "/"):
		return "/" + strings.Join(parts, "/")
	case len(parts) == 0:
		return "."
	}
	return strings.Join(parts, "/")
}

// CanonicalWindowsRunDir returns the canonical Windows spelling of a run
// directory, the string whose hash names its pipe and SHM objects
// (Windows has no directory entries for them, so two spellings of one
// directory would otherwise be two endpoints):
//
//   - a drive path (c:/trial/, C:\trial\) gets an upper-case drive letter
//     and \ separators: C:\trial;
//   - a UNC path (//server/share/x) gets \ separators: \\server\share\x;
//   - a rooted path without a drive (/var/run/netdata, the form programs
//     built with MSYS2 or Cygwin use) gets / separators;
//   - repeated separators collapse, "." components go, ".." removes the
//     component before it (as Windows resolves every path; never the
//     drive root or the UNC server and share), a trailing separator goes
//     (not the root's: C:\, /).
//
// Verbatim paths (\\?\..., \\.\...) are returned unchanged; the rest of
// the spelling, case included, is kept (the hash is of bytes). A path
// that already has this form is returned unchanged, so a reference peer
// given it derives the same names. Relative paths are only tidied.
func CanonicalWindowsRunDir(runDir string) string {
	if strings.HasPrefix(runDir, `\\?\`) || strings.HasPrefix(runDir, `\\.\`) {
		return runDir
	}
	isSep := func(c byte) bool { return c == '/' || c == '\\' }
	letter := func(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
	// What the result starts with, its separator, how many leading
	// components ".." cannot remove, and the rest to split.
	var (
		prefix string
		sep    = `\`
		fixed  = 0
		rest   = runDir
	)
	switch {
	case len(runDir) >= 2 && letter(runDir[0]) && runDir[1] == ':':
		prefix, rest = strings.ToUpper(runDir[:1])+":", runDir[2:]
		if rest != "" && isSep(rest[0]) {
			prefix += `\`
		}
	case len(runDir) >= 2 && isSep(runDir[0]) && isSep(runDir[1]):
		prefix, fixed, rest = `\\`, 2, runDir[2:]
	case runDir != "" && isSep(runDir[0]):
		prefix, sep = "/", "/"
	}
	var parts []string
	for _, part := range strings.FieldsFunc(rest, func(r rune) bool { return r == '/' || r == '\\' }) {
		switch {
		case part == ".":
		case part == ".." && len(parts) > fixed && parts[len(parts)-1] != "..":
			parts = parts[:len(parts)-1]
		case part != ".." || prefix == "":
			// ".." above a root stays at the root; above a relative
			// path's start it is kept.
			parts = append(parts, part)
		}
	}
	out := prefix + strings.Join(parts, sep)
	if out == "" {
		return "."
	}
	return out
}
