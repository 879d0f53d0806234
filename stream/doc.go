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
// # Limits and security
//
// The opening handshake is an HTTP request read by net/http before
// Upgrade or Subscribe runs, so its bounds are http.Server's own: set
// ReadHeaderTimeout (a client dripping its headers is cut off when it
// expires, with a 400 at most; 5 s is plenty) and MaxHeaderBytes (larger
// headers are answered 431; the default of 1 MiB is generous, 16–64 KiB
// suits WebSocket and SSE requests). ReadTimeout and IdleTimeout may be
// set too: a hijacked WebSocket connection has its deadlines cleared, and
// an SSE stream is past its request. Leave WriteTimeout at 0 for servers
// that stream: SSEBroker bounds each of its writes with its own
// WriteTimeout, and a WebSocketConn with WSConfig.WriteTimeout. On the
// client side Dial bounds the TCP and TLS connection and the whole
// handshake by its context.
//
// Once upgraded, a connection is bounded by WSConfig: ReadLimit caps a
// message, WriteTimeout a write to a peer that does not read (a zero TCP
// window), ReadIdleTimeout and PongTimeout a peer that went silent (a
// half-open connection, or one dripping a frame so slowly that no frame
// header arrives within both), and RateLimit the messages per second a
// peer may send. A ping is answered with a pong written before the next
// frame is read, so pongs never queue; of pings that arrive together,
// only the last is answered (RFC 6455 §5.5.3). A Hub's per-connection
// queue is bounded in messages (HubConfig.QueueLen) and in bytes
// (HubConfig.QueueBytes), either of which triggers its SlowPolicy; an
// SSEBroker's in events.
//
// A Limiter, set as WSConfig.Limiter and SSEBrokerConfig.Limiter (one
// value may serve both), caps the connections a server holds, overall
// and per client address. A WebSocket client over a cap is answered 503
// with Retry-After before the upgrade; an EventSource client is answered
// 200 with a "retry:" hint and an empty stream, since EventSource gives
// up for good on any other status.
//
// WSConfig.Authorize refuses a request before the upgrade with 401, 403
// or another status (see HandshakeError.HTTPStatus). A bearer token
// arrives in the Authorization header from non-browser clients
// (DialConfig.Header), a session in a Cookie from browsers. Browsers
// cannot set headers on a WebSocket, so a token may instead travel as a
// subprotocol: the page opens new WebSocket(url, ["token."+jwt, "chat"]),
// Authorize verifies what OfferedSubprotocol(r, "token.") returns, and
// WSConfig.Subprotocols lists only real subprotocols ("chat"), which the
// server must select: a browser fails a connection whose response names
// no subprotocol when it offered some, and the token must never be
// echoed back. Tokens in the URL query end up in access logs; avoid
// them.
//
// Cookies make cross-site WebSocket hijacking possible: any page may open
// a WebSocket to any site, and the browser sends that site's cookies
// with it. The default CheckOrigin therefore refuses, with 403, a request
// whose Origin header names another host than the request's; widen it
// with AllowOrigins, never with a function that allows every origin, when
// authorizing by cookie.
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
// # Several instances
//
// HubConfig.Relay and SSEBrokerConfig.Relay connect the hubs and brokers
// of a program's instances through a Relay such as Redis Pub/Sub, so that
// a message published on one reaches the clients of all, each once. When
// the Relay is also an OrderedRelay (a log with IDs, such as a Redis
// stream), every broker sends its events in the log's order with the log's
// IDs, and a client that reconnects to any instance resumes where it left
// off. While the relay is unreachable each instance keeps delivering to
// its own clients and queues what the others must get.
//
// # Errors
//
// Operations on a closed stream or connection return errors wrapping
// ErrClosed. Error messages name the operation that failed.
package stream
