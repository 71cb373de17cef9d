package vectors_test

// Name vectors: socket paths, SHM region paths, Windows pipe names and
// Windows SHM object names (with their FNV-1a hash), derived by the Go
// functions (transport.SocketPath and the others) from the vector's
// inputs; invalid inputs must fail with the vector's error.

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/netdata/netipc/go/internal/transport"
	"github.com/netdata/netipc/go/protocol"
)

func init() {
	checkers["names"] = checkName
}

// nameError names a derivation failure as the vectors do.
func nameError(err error) string {
	var ne *transport.NameError
	if !errors.As(err, &ne) {
		return fmt.Sprintf("not a name error: %v", err)
	}
	switch {
	case ne.Problem == transport.InvalidServiceName:
		return "INVALID_SERVICE_NAME"
	case ne.Problem == transport.InvalidProfile:
		return "INVALID_PROFILE"
	case strings.Contains(ne.What, "hash input"):
		return "HASH_INPUT_TOO_LONG"
	case strings.Contains(ne.What, "mapping"):
		return "MAPPING_NAME_TOO_LONG"
	case strings.Contains(ne.What, "event"):
		return "EVENT_NAME_TOO_LONG"
	}
	return "TOO_LONG"
}

func hexName(v uint64) string { return fmt.Sprintf("%016x", v) }

// orNull is s, or JSON null when s is empty.
func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func checkName(_ *testing.T, v *vector, _ string) error {
	f, e, err := parseVector(v)
	if err != nil {
		return err
	}
	runDir, service := str(f, "run_dir"), str(f, "service_name")
	x, err := nums(f, "session_id", "auth_token", "profile")
	if err != nil {
		return err
	}
	session, token, profile := x[0], x[1], protocol.Profile(x[2])
	var got obj
	switch v.Kind {
	case "fnv1a64":
		got = obj{"fnv1a64": hexName(transport.FNV1a64(str(f, "input")))}
	case "uds_socket_path":
		var p string
		if p, err = transport.SocketPath(runDir, service); err == nil {
			got = obj{"result": "OK", "socket_path": p}
		}
	case "posix_shm_path":
		var p string
		if p, err = transport.SHMRegionPath(runDir, service, session); err == nil {
			got = obj{"result": "OK", "shm_path": p}
		}
	case "windows_pipe_name":
		var p string
		if p, err = transport.PipeName(runDir, service); err == nil {
			got = obj{"result": "OK", "pipe_name": p, "fnv1a64_run_dir": hexName(transport.FNV1a64(runDir))}
		}
	case "windows_shm_names":
		var n transport.SHMObjectNames
		n, err = transport.WindowsSHMNames(runDir, service, token, profile, session)
		if err == nil {
			input := transport.WindowsSHMHashInput(runDir, service, token)
			got = obj{
				"result": "OK", "mapping": n.Mapping, "req_event": orNull(n.ReqEvent), "resp_event": orNull(n.RespEvent),
				"hash_input": input, "hash_input_length": len(input), "fnv1a64": hexName(transport.FNV1a64(input)),
			}
		}
	default:
		return fmt.Errorf("unknown name kind %s", v.Kind)
	}
	switch {
	case err == nil && v.Valid:
		g, err := normalize(got)
		if err != nil {
			return err
		}
		return subset("expect", g, any(e))
	case err == nil:
		return fmt.Errorf("derived %v, expected %s", got, orEmpty(v.RejectError))
	case v.Valid || nameError(err) != orEmpty(v.RejectError):
		return fmt.Errorf("failed with %s (%v), expected %v", nameError(err), err, e["result"])
	}
	return nil
}
