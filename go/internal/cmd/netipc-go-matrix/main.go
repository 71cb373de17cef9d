// Command netipc-go-matrix is the Go peer of the interop matrix
// (docs/interop-matrix.md): it serves the matrix data set as a provider,
// or checks a provider's answers as a consumer, using only the public Go
// packages with their default configuration except for the transport
// profiles.
//
//	netipc-go-matrix serve RUN_DIR PREFIX PROFILE
//	netipc-go-matrix check RUN_DIR PREFIX PROFILE
//
// PROFILE is baseline, shm-hybrid or shm-alt; both roles support the
// baseline and PROFILE, and prefer PROFILE.
//
// serve starts the providers PREFIX-snapshot, PREFIX-snapshot-big,
// PREFIX-cgroups-lookup and PREFIX-apps-lookup, prints "ready" once they
// accept clients, and stops them when its standard input reaches
// end-of-file (exit 0); a failure to start is reported on standard error
// (exit 1).
//
// check runs the checks snapshot, snapshot-big, cgroups-lookup,
// apps-lookup and cache in this order and prints one line per check,
// "ok CHECK PROFILE_USED DETAIL" or "FAIL CHECK REASON"; it exits 0 when
// every check passed, 1 otherwise.
//
// Bad arguments: a usage message on standard error, exit 2.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/netdata/netipc/go/protocol"
)

const usage = "usage: netipc-go-matrix serve|check RUN_DIR PREFIX baseline|shm-hybrid|shm-alt"

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// run runs the command line args and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 4 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	role, runDir, prefix := args[0], args[1], args[2]
	profile, ok := profileNamed(args[3])
	if !ok || prefix == "" {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	switch role {
	case "serve":
		return serve(runDir, prefix, profile, stdin, stdout, stderr)
	case "check":
		return check(runDir, prefix, profile, stdout)
	}
	fmt.Fprintln(stderr, usage)
	return 2
}

// profileNames are the matrix's names of the transport profiles (on
// Windows, bit 0x04 is the busy-wait profile; the matrix still calls it
// shm-alt).
var profileNames = [...]struct {
	name string
	bit  protocol.Profile
}{
	{"baseline", protocol.ProfileBaseline},
	{"shm-hybrid", protocol.ProfileSHMHybrid},
	{"shm-alt", protocol.ProfileSHMAlt},
}

// profileNamed returns the profile called name.
func profileNamed(name string) (protocol.Profile, bool) {
	for _, p := range profileNames {
		if p.name == name {
			return p.bit, true
		}
	}
	return 0, false
}

// profileName returns the matrix's name of a selected profile.
func profileName(bit protocol.Profile) string {
	for _, p := range profileNames {
		if p.bit == bit {
			return p.name
		}
	}
	return bit.String()
}
