// Package settings applies the documented defaults to the public
// configurations: every zero field becomes its default, so the service
// layer never tests for zero.
package settings

import (
	"runtime"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

// autoWorkers bounds the worker count picked from the CPU count.
const autoWorkersMin, autoWorkersMax = 2, 16

// Client is a netipc.ClientConfig with every zero replaced by its default.
type Client struct {
	// SupportedProfiles and PreferredProfiles are offered in the HELLO
	// (preferred ⊆ supported).
	SupportedProfiles, PreferredProfiles protocol.Profile
	// RequestStart and RequestCeiling bound the request size proposed:
	// it starts at RequestStart and grows up to RequestCeiling.
	RequestStart, RequestCeiling uint32
	// ResponseStart and ResponseCeiling are the same for responses; the
	// ceiling is also the largest response accepted.
	ResponseStart, ResponseCeiling uint32
	// BatchItems is the batch size proposed (at least 1).
	BatchItems uint32
	// AuthToken is sent in the HELLO.
	AuthToken uint64
	// CallTimeout bounds every call (positive).
	CallTimeout time.Duration
	// MaxLookupItems, MaxLookupSubcalls and MaxLookupResponseBytes bound
	// a logical lookup.
	MaxLookupItems, MaxLookupSubcalls, MaxLookupResponseBytes uint32
}

func or32(v, def uint32) uint32 {
	if v == 0 {
		return def
	}
	return v
}

// growth returns (start, ceiling) of a payload size.
func growth(configured uint32) (uint32, uint32) {
	if configured == 0 {
		return netipc.PayloadStart, netipc.PayloadCeiling
	}
	return configured, configured
}

// ForClient returns cfg with its defaults applied.
func ForClient(c netipc.ClientConfig) Client {
	s := Client{
		SupportedProfiles:      c.SupportedProfiles,
		AuthToken:              c.AuthToken,
		BatchItems:             or32(c.MaxRequestBatchItems, 1),
		CallTimeout:            c.CallTimeout,
		MaxLookupItems:         or32(c.MaxLookupItems, netipc.DefaultMaxLookupItems),
		MaxLookupSubcalls:      or32(c.MaxLookupSubcalls, netipc.DefaultMaxLookupSubcalls),
		MaxLookupResponseBytes: or32(c.MaxLookupResponseBytes, netipc.DefaultMaxLookupResponseBytes),
	}
	if s.SupportedProfiles == 0 {
		s.SupportedProfiles = netipc.DefaultProfiles
	}
	s.PreferredProfiles = c.PreferredProfiles
	if s.PreferredProfiles == 0 {
		s.PreferredProfiles = protocol.ProfileSHMHybrid
	}
	s.PreferredProfiles &= s.SupportedProfiles
	s.RequestStart, s.RequestCeiling = growth(c.MaxRequestPayloadBytes)
	s.ResponseStart, s.ResponseCeiling = growth(c.MaxResponsePayloadBytes)
	if s.CallTimeout <= 0 {
		s.CallTimeout = netipc.DefaultCallTimeout
	}
	return s
}

// Server is a netipc.ServerConfig with every zero replaced by its default.
type Server struct {
	// SupportedProfiles and PreferredProfiles are answered to a HELLO
	// (preferred ⊆ supported).
	SupportedProfiles, PreferredProfiles protocol.Profile
	// MaxRequestPayloadBytes is the largest request size agreed.
	MaxRequestPayloadBytes uint32
	// ResponseStart and ResponseCeiling bound the shared response size:
	// it starts at ResponseStart and grows up to ResponseCeiling.
	ResponseStart, ResponseCeiling uint32
	// AuthToken is what clients must present.
	AuthToken uint64
	// Workers bounds the handlers running at once (1..MaxWorkers).
	Workers int
	// MaxSessions bounds the sessions open at once (positive).
	MaxSessions int
	// SendTimeout bounds a send to a client that does not read (positive).
	SendTimeout time.Duration
}

// ForServer returns cfg with its defaults applied.
func ForServer(c netipc.ServerConfig) Server {
	s := Server{
		SupportedProfiles:      c.SupportedProfiles,
		PreferredProfiles:      c.PreferredProfiles,
		MaxRequestPayloadBytes: or32(c.MaxRequestPayloadBytes, netipc.PayloadCeiling),
		AuthToken:              c.AuthToken,
		Workers:                c.Workers,
		MaxSessions:            c.MaxSessions,
		SendTimeout:            c.SendTimeout,
	}
	if s.SupportedProfiles == 0 {
		s.SupportedProfiles = netipc.DefaultProfiles
	}
	if s.PreferredProfiles == 0 {
		s.PreferredProfiles = protocol.ProfileSHMHybrid
	}
	s.PreferredProfiles &= s.SupportedProfiles
	if c.MaxResponsePayloadBytes == 0 {
		s.ResponseStart, s.ResponseCeiling = netipc.DefaultServerResponseStart, netipc.PayloadCeiling
	} else {
		s.ResponseStart, s.ResponseCeiling = c.MaxResponsePayloadBytes, c.MaxResponsePayloadBytes
	}
	if s.Workers <= 0 {
		s.Workers = min(max(runtime.NumCPU(), autoWorkersMin), autoWorkersMax)
	}
	s.Workers = min(s.Workers, netipc.MaxWorkers)
	if s.MaxSessions <= 0 {
		s.MaxSessions = netipc.DefaultMaxSessions
	}
	if s.SendTimeout <= 0 {
		s.SendTimeout = netipc.DefaultSendTimeout
	}
	return s
}
