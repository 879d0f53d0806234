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
// # Errors
//
// Operations on a closed stream or connection return errors wrapping
// ErrClosed. Error messages name the operation that failed.
package stream
