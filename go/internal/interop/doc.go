// Package interop holds the tests of the Go package against the Rust
// core: Go clients (and the Go L3 cache) against Rust providers (the
// netipc CLI's `netipc serve`, and netipc-test-peer), over every
// transport profile, with every method, batches, a chunked snapshot of
// thousands of cgroups and lookups of 32,768 keys.
//
// The other direction, Rust clients against Go providers, lives in the
// Rust test crates/netipc-tests/tests/go_peers.rs, which drives the Go
// peer of internal/cmd/netipc-go-peer.
//
// The tests need the Rust binaries, named by NETIPC_BIN (the netipc
// CLI) and NETIPC_TEST_PEER (netipc-test-peer); `cargo xtask test --lane
// go` builds them and sets both. Without them the tests skip (and the
// lane counts a skip as a failure). By hand, from the repository root:
//
//	cargo build -p netipc-cli -p netipc-tests --bins
//	cd go && NETIPC_BIN=$PWD/../target/debug/netipc \
//	    NETIPC_TEST_PEER=$PWD/../target/debug/netipc-test-peer \
//	    go test ./internal/interop/
package interop
