// Package stream implements real-time transports for net/http servers and
// their clients using only the standard library: WebSocket (RFC 6455) and
// Server-Sent Events (the WHATWG event-stream format).
//
// # Server-Sent Events
//
// Encode and AppendEvent turn an Event into its wire form; no value a
// caller puts in an Event can forge a field or end the event early.
// SSEWriter streams events from a hand-written handler. SSEBroker fans
// events out to many subscribers, each with its own bounded queue, and
// lets reconnecting clients resume from their Last-Event-ID.
// EventReader parses an event stream exactly as browsers do, and the SSE
// client consumes one with reconnection.
//
// # WebSocket
//
// Upgrade turns an HTTP request into a *WebSocketConn on the server; Dial
// opens one as a client. A connection has one reader and any number of
// concurrent writers. Hub broadcasts messages to many connections.
//
// # WebSocket over HTTP/2
//
// Upgrade also accepts the HTTP/2 form of the handshake (RFC 8441): an
// extended CONNECT with :protocol websocket, answered 200 on the request's
// stream, which then carries the frames. Browsers use it for a page they
// loaded over HTTP/2 when the server advertises extended CONNECT, and open
// the socket over HTTP/1.1 otherwise; the handler and the connection are
// the same either way. Subprotocols, the origin check, compression, read
// limits, keepalive, the closing handshake, Stats, Hub and rooms behave
// as over HTTP/1.1. What differs:
//
//   - net/http's server advertises extended CONNECT only when the process
//     starts with GODEBUG=http2xconnect=1 in its environment (Go 1.24 to
//     1.26); a //go:debug directive or a godebug line in go.mod is
//     refused by the go command, and os.Setenv comes too late.
//     ExtendedConnectEnabled reports whether it is on.
//   - The request's method is CONNECT, so a ServeMux pattern for the
//     endpoint must not name a method ("/ws", not "GET /ws").
//   - The connection lives on the handler's stream: the handler must not
//     return before the connection is closed (Hub.Handler and a read
//     loop do this by themselves; otherwise wait on Closed).
//   - Closing ends the stream, not the TCP connection, which other
//     streams share; there is no half-close, so the server's side ends
//     when the handler returns.
//   - A write deadline that passes mid-write resets the stream, and so
//     does Close during a write blocked on HTTP/2 flow control.
//   - Writes are copied into the HTTP/2 server's buffers and flushed
//     frame by frame, not written vectored to the socket.
//   - Dial speaks HTTP/1.1 only: net/http's client refuses the :protocol
//     pseudo-header.
//
// # Errors
//
// Operations on a closed stream or connection return errors wrapping
// ErrClosed. Error messages name the operation that failed.
package stream
