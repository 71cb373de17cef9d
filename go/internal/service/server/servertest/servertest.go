// Package servertest runs managed servers in tests.
package servertest

import (
	"testing"
	"time"
)

// Server is what every managed server has (the public ones of cgroups,
// cgroupslookup and appslookup, and the engine's).
type Server interface {
	Listen() error
	Run() error
	Stop()
}

// StopLimit bounds the wait for Run to return after Stop.
const StopLimit = 10 * time.Second

// Serve binds s (failing the test when it cannot) and runs it on a
// goroutine; when the test ends it stops s and checks that Run returned
// nil in time.
func Serve(t testing.TB, s Server) {
	t.Helper()
	if err := s.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ran := make(chan error, 1)
	go func() { ran <- s.Run() }()
	t.Cleanup(func() {
		s.Stop()
		select {
		case err := <-ran:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(StopLimit):
			t.Errorf("Run did not return within %v of Stop", StopLimit)
		}
	})
}
