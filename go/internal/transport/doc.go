// Package transport is netipc's level 1 in Go: endpoints, the handshake,
// chunking, batching and pipelining on the baseline connection (a Unix
// SEQPACKET socket on Linux, a named pipe in message mode on Windows),
// and the shared-memory data plane selected
// in the handshake. OS-specific code lives only under sys/.
//
// A provider calls Listen, then Accept and Incoming.Handshake for every
// client, and answers the requests of each ServerSession. A consumer calls
// Connect and exchanges requests and responses on its ClientSession. The
// pure protocol logic (handshake.go, framing.go, names.go) is separate
// from the sessions that move the bytes (session.go, sockplane.go,
// client.go, server.go).
//
// Every error returned is a *netipc.Error whose Kind classifies it.
package transport
