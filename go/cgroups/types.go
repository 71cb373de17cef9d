package cgroups

import netipc "github.com/netdata/netipc/go"

// ClientConfig says how a client connects and calls; the zero value is
// the documented default of every field (see [netipc.ClientConfig]).
type ClientConfig = netipc.ClientConfig

// ServerConfig says how a provider listens and answers; the zero value is
// the documented default of every field (see [netipc.ServerConfig]).
type ServerConfig = netipc.ServerConfig

// ClientState is where a client's connection stands (see
// [netipc.ClientState]).
type ClientState = netipc.ClientState

// ClientStatus is a snapshot of a client's state and counters (see
// [netipc.ClientStatus]).
type ClientStatus = netipc.ClientStatus

// SessionInfo is what a client's session negotiated (see
// [netipc.SessionInfo]).
type SessionInfo = netipc.SessionInfo

// The client states (see [netipc.ClientState]).
const (
	StateDisconnected = netipc.StateDisconnected
	StateConnecting   = netipc.StateConnecting
	StateReady        = netipc.StateReady
	StateNotFound     = netipc.StateNotFound
	StateAuthFailed   = netipc.StateAuthFailed
	StateIncompatible = netipc.StateIncompatible
	StateBroken       = netipc.StateBroken
)
