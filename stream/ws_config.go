package stream

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// Defaults applied to zero fields of WSConfig and DialConfig.
const (
	DefaultReadLimit       = 1 << 20
	DefaultWriteTimeout    = 10 * time.Second
	DefaultReadIdleTimeout = 60 * time.Second
	DefaultPongTimeout     = 10 * time.Second
	DefaultCloseTimeout    = 1 * time.Second
)

// WSConfig configures a server-side WebSocket connection made by Upgrade.
// The zero value is usable. A WSConfig is only read, so one value may be
// shared by any number of concurrent Upgrade calls.
type WSConfig struct {
	// ReadLimit is the largest message accepted, in bytes; 0 means 1 MiB.
	// A frame that would take a message past it closes the connection
	// with 1009 before any of its payload is read.
	ReadLimit int64
	// WriteTimeout bounds every frame write; 0 means 10 s, negative
	// disables it. A write that times out closes the connection. A write
	// that goes straight through costs no timer work: on a TCP socket
	// (Linux) the deadline is armed only when a write has to wait; on
	// other transports (TLS, for one) it is moved only every
	// WriteTimeout/8, so a write that is stuck fails between WriteTimeout
	// and 9/8 of it after it started.
	WriteTimeout time.Duration
	// ReadIdleTimeout is how long the connection may receive nothing
	// before a keepalive ping is sent; 0 means 60 s, negative disables
	// keepalive. Keepalive needs a goroutine reading the connection.
	ReadIdleTimeout time.Duration
	// PongTimeout is how long to wait for the pong answering a keepalive
	// ping before the connection is closed; 0 means 10 s.
	PongTimeout time.Duration
	// CloseTimeout bounds the wait for the peer's side of the closing
	// handshake; 0 means 1 s.
	CloseTimeout time.Duration
	// CheckOrigin decides whether a request's Origin is allowed; nil
	// allows requests without Origin and those whose Origin host equals
	// the request Host. See AllowOrigins.
	CheckOrigin func(*http.Request) bool
	// Subprotocols lists the supported subprotocols, most preferred
	// first; the first one that the client also offered is selected.
	Subprotocols []string
	// OnClose, if set, is called once when the connection is closed.
	OnClose func()

	// Authorize, if set, decides whether the request may open a
	// connection (see "Limits and security" in the package
	// documentation for bearer tokens, cookies and the browser token
	// subprotocol). It runs after the request was found well formed and
	// its Origin allowed, before Limiter, and must be safe for
	// concurrent use. A non-nil error refuses the upgrade: the status is that
	// of an HTTPStatus() int method found in the error's chain (a
	// *HandshakeError has one) when it is 400–599, else 403 Forbidden.
	// The response body is the status text only, so that the error's
	// details stay on the server; Upgrade returns a *HandshakeError
	// wrapping the error. Headers the handler set on the
	// ResponseWriter before Upgrade, such as WWW-Authenticate, go out
	// with a refusal and never with a 101.
	Authorize func(*http.Request) error
	// Limiter, if set, caps concurrent connections overall and per
	// client address. A request over a cap is answered 503 Service
	// Unavailable with Retry-After before the upgrade; an accepted
	// connection holds its seat until it closes.
	Limiter *Limiter
	// RateLimit bounds how fast the peer may send messages; the zero
	// value sets no bound.
	RateLimit RateLimit

	// Compression enables permessage-deflate (RFC 7692) when the client
	// offers it; off by default. See CompressionMode for the memory
	// each mode costs.
	Compression CompressionMode
	// CompressionThreshold is the payload size below which messages go
	// uncompressed; 0 means DefaultCompressionThreshold, negative
	// compresses every message. A NextWriter message that outgrows the
	// writer's 4 KiB buffer is always compressed.
	CompressionThreshold int
	// CompressionLevel is the compress/flate level, -2 to 9; 0 means
	// DefaultCompressionLevel, or DefaultContextTakeoverLevel with
	// CompressionContextTakeover unless the peer asks this side not to
	// keep its context.
	CompressionLevel int
}

// DialConfig configures a client connection made by Dial. The zero value
// is usable; a DialConfig is only read and may be shared.
type DialConfig struct {
	// Header holds extra request headers, for example Origin,
	// Authorization or Cookie. The handshake headers themselves may not
	// be set here.
	Header http.Header
	// Subprotocols are offered to the server in this order.
	Subprotocols []string
	// TLSConfig is used for wss:// URLs; nil means the defaults. Its
	// ServerName defaults to the URL's host.
	TLSConfig *tls.Config
	// NetDialContext, if set, opens the TCP connection instead of a
	// net.Dialer.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// ReadLimit, WriteTimeout, ReadIdleTimeout, PongTimeout, CloseTimeout
	// and OnClose have the meaning and defaults of the WSConfig fields.
	ReadLimit       int64
	WriteTimeout    time.Duration
	ReadIdleTimeout time.Duration
	PongTimeout     time.Duration
	CloseTimeout    time.Duration
	OnClose         func()

	// Compression, CompressionThreshold and CompressionLevel have the
	// meaning and defaults of the WSConfig fields; a client offers
	// permessage-deflate when Compression is set.
	Compression          CompressionMode
	CompressionThreshold int
	CompressionLevel     int
}

// wsSettings are the resolved connection settings.
type wsSettings struct {
	readLimit    int64
	writeTimeout time.Duration // <= 0: none
	idle         time.Duration // <= 0: no keepalive
	pongTimeout  time.Duration
	closeTimeout time.Duration
	onClose      func()
}

func resolveSettings(readLimit int64, write, idle, pong, closeT time.Duration, onClose func()) wsSettings {
	s := wsSettings{readLimit: readLimit, writeTimeout: write, idle: idle, pongTimeout: pong, closeTimeout: closeT, onClose: onClose}
	if s.readLimit <= 0 {
		s.readLimit = DefaultReadLimit
	}
	if s.writeTimeout == 0 {
		s.writeTimeout = DefaultWriteTimeout
	}
	if s.idle == 0 {
		s.idle = DefaultReadIdleTimeout
	}
	if s.pongTimeout <= 0 {
		s.pongTimeout = DefaultPongTimeout
	}
	if s.closeTimeout <= 0 {
		s.closeTimeout = DefaultCloseTimeout
	}
	return s
}

func (c WSConfig) settings() wsSettings {
	return resolveSettings(c.ReadLimit, c.WriteTimeout, c.ReadIdleTimeout, c.PongTimeout, c.CloseTimeout, c.OnClose)
}

func (c DialConfig) settings() wsSettings {
	return resolveSettings(c.ReadLimit, c.WriteTimeout, c.ReadIdleTimeout, c.PongTimeout, c.CloseTimeout, c.OnClose)
}
