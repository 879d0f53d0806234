// Package h2ws holds benchmarks, run with go test -bench . -benchmem, of
// package stream's WebSocket over HTTP/2 (RFC 8441 extended CONNECT)
// against the same server over HTTP/1.1, both with TLS, in the same run:
// echo throughput of one connection and heap held per open connection.
// The client is a raw frame peer in both cases; over HTTP/2 it sends its
// extended CONNECT with golang.org/x/net/http2, since net/http's client
// refuses the :protocol pseudo-header.
//
// net/http's server advertises extended CONNECT only when the process
// starts with GODEBUG=http2xconnect=1; TestMain runs the test binary
// again with it when it is missing.
package h2ws
