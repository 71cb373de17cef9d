package settings

import (
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

// Zero configs give the documented defaults, the same as the Rust core's.
func TestZeroConfigsGiveTheDefaults(t *testing.T) {
	c := ForClient(netipc.ClientConfig{})
	want := Client{
		SupportedProfiles: protocol.ProfileBaseline | protocol.ProfileSHMHybrid,
		PreferredProfiles: protocol.ProfileSHMHybrid,
		RequestStart:      1024, RequestCeiling: 1 << 20,
		ResponseStart: 1024, ResponseCeiling: 1 << 20,
		BatchItems:     1,
		CallTimeout:    30 * time.Second,
		MaxLookupItems: 65536, MaxLookupSubcalls: 4096, MaxLookupResponseBytes: 64 << 20,
	}
	if c != want {
		t.Errorf("client defaults %+v, want %+v", c, want)
	}
	s := ForServer(netipc.ServerConfig{})
	if s.SupportedProfiles != want.SupportedProfiles || s.PreferredProfiles != protocol.ProfileSHMHybrid ||
		s.MaxRequestPayloadBytes != 1<<20 || s.ResponseStart != 64<<10 || s.ResponseCeiling != 1<<20 ||
		s.Workers < 2 || s.Workers > 16 || s.MaxSessions != 1024 || s.SendTimeout != 5*time.Second {
		t.Errorf("server defaults %+v", s)
	}
}

// Configured values are kept; a configured payload size is fixed; the
// preferred profiles are held to the supported ones; workers are capped.
func TestConfiguredValuesAreKept(t *testing.T) {
	c := ForClient(netipc.ClientConfig{
		SupportedProfiles: protocol.ProfileBaseline, MaxRequestPayloadBytes: 4096,
		MaxResponsePayloadBytes: 8192, CallTimeout: time.Second, AuthToken: 7,
	})
	if c.PreferredProfiles != 0 || c.RequestStart != 4096 || c.RequestCeiling != 4096 ||
		c.ResponseStart != 8192 || c.ResponseCeiling != 8192 || c.CallTimeout != time.Second || c.AuthToken != 7 {
		t.Errorf("client %+v", c)
	}
	s := ForServer(netipc.ServerConfig{MaxResponsePayloadBytes: 4096, Workers: 1 << 20})
	if s.ResponseStart != 4096 || s.ResponseCeiling != 4096 || s.Workers != netipc.MaxWorkers {
		t.Errorf("server %+v", s)
	}
}
