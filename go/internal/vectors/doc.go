// Package vectors holds only tests: TestGoldenVectors checks every vector
// of the golden vectors' index.json (wire envelope, handshake, chunking,
// codecs, negatives and name derivations) against netipc's Go packages.
// Each area registers its checkers from its own test file.
package vectors
