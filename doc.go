// Package realtime is the root of the stdrealtime module: real-time
// transports for Go HTTP servers built on the standard library alone.
//
// The module has no third-party dependencies. Everything a program imports
// lives in package [github.com/stdrealtime/realtime/stream]:
//
//   - WebSocket (RFC 6455), server and client, over connections hijacked from
//     net/http: Upgrade, Dial and *WebSocketConn.
//   - Server-Sent Events, server and client: an injection-proof encoder
//     (Encode, AppendEvent), SSEWriter for hand-written handlers, SSEBroker
//     for fan-out with per-subscriber buffers and resume, and a WHATWG-exact
//     parser and reconnecting client.
//   - Hub: fan-out of WebSocket messages to many connections.
//   - Relay and OrderedRelay: the same hubs and brokers across a program's
//     instances, through a message bus or log the program provides.
//
// # WebSocket or SSE?
//
// Pick Server-Sent Events when the server talks and the client mostly
// listens: notifications, dashboards, progress, token streams from a model.
// SSE is plain HTTP, passes every proxy that does not buffer responses,
// reconnects by itself in browsers (EventSource) and resumes from the last
// event ID. It carries UTF-8 text only, one way.
//
// Pick WebSocket when both sides talk often or need binary frames: chat,
// collaborative editing, games, RPC over a long-lived connection. It costs a
// protocol upgrade, needs proxies configured for it, and reconnection and
// resume are the application's job.
//
// # Packages
//
//   - stream: the public API described above.
//   - internal/...: the frame codec, UTF-8 and compression helpers and test
//     helpers used by stream; not importable from outside the module.
//   - examples/...: runnable programs (chat, echo, notify, dashboard) meant to
//     be read and copied; examples/cluster, a module of its own, runs them on
//     several instances behind one Redis through its redisrelay package.
//   - internal/bench and internal/interop, modules of their own: the
//     benchmark against other libraries and the interoperability tests
//     against them, Node's ws and Chromium.
package realtime
