package benchdata

import (
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

// ServerConfig is the config of a bench server over shared memory (it
// offers SHM_HYBRID, preferred, and still accepts baseline sessions) or
// the socket (baseline only); the library's defaults otherwise.
func ServerConfig(shm bool) netipc.ServerConfig {
	if shm {
		return netipc.ServerConfig{
			SupportedProfiles: protocol.ProfileBaseline | protocol.ProfileSHMHybrid,
			PreferredProfiles: protocol.ProfileSHMHybrid,
		}
	}
	return netipc.ServerConfig{SupportedProfiles: protocol.ProfileBaseline}
}

// CallTimeout is the bench clients' call timeout.
const CallTimeout = 10 * time.Second

// ClientConfig is the config of a bench client over shared memory (it
// offers only SHM_HYBRID, so its calls fail unless shared memory is
// selected) or the socket; the library's defaults otherwise (sizes
// growing on demand) and CallTimeout.
func ClientConfig(shm bool) netipc.ClientConfig {
	profile := protocol.ProfileBaseline
	if shm {
		profile = protocol.ProfileSHMHybrid
	}
	return netipc.ClientConfig{SupportedProfiles: profile, PreferredProfiles: profile, CallTimeout: CallTimeout}
}

// PrimeAttempts is how many failed calls a bench client makes at most
// before its first success: the first calls connect and may grow a
// default config's sizes.
const PrimeAttempts = 8

// Prime calls call until it succeeds, so that connecting and growing
// happen before anything is timed; it fails tb after PrimeAttempts
// failures.
func Prime(tb testing.TB, call func() error) {
	tb.Helper()
	var err error
	for i := 0; i < PrimeAttempts; i++ {
		if err = call(); err == nil {
			return
		}
	}
	tb.Fatalf("the first %d calls failed; the last one: %v", PrimeAttempts, err)
}

// Planes are the two transports of the benchmarks, by name.
var Planes = []struct {
	Name string
	SHM  bool
}{{"socket", false}, {"shm", true}}

// Call is one benchmarked operation (i counts from 0); it checks its
// answer.
type Call func(i uint64) error

// Setup returns a Call over shared memory or over the socket, against a
// server that stops when tb ends.
type Setup func(tb testing.TB, shm bool) Call

// Run times b.N calls, reporting allocations and, when items > 0,
// items per second under unit.
func Run(b *testing.B, call Call, items int, unit string) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := call(uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
	if items > 0 {
		b.ReportMetric(float64(items*b.N)/b.Elapsed().Seconds(), unit)
	}
}

// RunPlanes runs Run over each of Planes, as sub-benchmarks.
func RunPlanes(b *testing.B, setup Setup, items int, unit string) {
	for _, plane := range Planes {
		b.Run(plane.Name, func(b *testing.B) { Run(b, setup(b, plane.SHM), items, unit) })
	}
}

// NoAllocs fails t when call allocates (on average over many calls; in a
// test, client and server share the process, so this covers both).
func NoAllocs(t *testing.T, what string, call Call) {
	t.Helper()
	i := uint64(0)
	allocs := testing.AllocsPerRun(200, func() {
		if err := call(i); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per %s", allocs, what)
	}
}
