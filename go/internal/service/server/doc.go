// Package server is the engine of netipc's managed servers: binding,
// accepting, handshakes within the session limit, serving sessions with a
// bounded number of handlers at once, the response size learned from the
// traffic, statistics, logging and a prompt stop. The public service
// packages (cgroups, cgroupslookup, appslookup) wrap it with typed
// handlers; the INCREMENT and STRING_REVERSE servers of the tests and
// benchmarks are here too.
//
// # Design
//
// The engine is modelled on the Rust core's managed server, in Go terms:
//
//   - Run accepts connections. Each connection gets a goroutine that
//     answers its HELLO and then serves the session. At most as many
//     connections wait for their HELLO as the session limit allows
//     sessions (more are closed at once, counted as dropped), each for at
//     most HandshakeTimeout. A session is reserved when the HELLO arrives,
//     so a silent connection holds none; beyond MaxSessions open sessions
//     a client gets the at-capacity rejection (ErrBusy on its side).
//   - A session's goroutine is parked in the transport while the session
//     is idle (the socket in the runtime's poller; shared memory in the
//     transport's watch group), so idle sessions cost no CPU and no
//     thread.
//   - Workers bound the handlers: a session takes one of Workers handler
//     slots to answer a request and gives it back before it sends the
//     answer, so a client that does not read holds no slot (only a
//     response buffer, until the send timeout closes its session).
//   - Requests of a session (pipelined or not) are answered in order;
//     batch items are answered one by one into one batch response.
//   - The response size starts at DefaultServerResponseStart and grows
//     (up to 1 MiB) when an answer does not fit: the client gets
//     LIMIT_EXCEEDED, reconnects, and the next handshake offers the
//     larger size. A configured size is fixed.
//   - A response waits at most SendTimeout for its client to read it, and
//     a request that stopped half way gets as long to finish; the session
//     is closed after it.
//   - Stop closes the listener (removing the endpoint) and every session
//     whose handler is not running; handlers still running get StopGrace
//     to finish and send their answer.
//
// Answering a request allocates nothing: requests are decoded in place,
// handlers build into per-worker builders, response buffers are reused.
package server
