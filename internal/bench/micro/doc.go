// Package micro holds micro-benchmarks, run with go test -bench . -benchmem,
// of the pieces every WebSocket and SSE library has: writing and reading a
// frame, masking, UTF-8 validation and SSE encoding, for each peer and for
// package stream. Connections are in memory, so the figures are the
// libraries' own cost without system calls.
package micro
