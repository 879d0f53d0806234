package stream

import (
	"bufio"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stdrealtime/realtime/internal/utf8check"
	"github.com/stdrealtime/realtime/internal/wsframe"
)

// WebSocketConn is one end of a WebSocket connection, made by Upgrade on
// the server or by Dial on the client.
//
// Concurrency: one goroutine may read (ReadMessage, Read, NextReader and
// the reader it returns) while any number of goroutines write
// (WriteMessage, Write, WriteBinary, WriteString, NextWriter, Ping). Whole
// messages never interleave on the wire: a message written with
// NextWriter holds off other messages until its writer is closed, though
// pings and pongs may go out between its fragments. Close,
// CloseWithStatus, Closed, OnClose, Stats, Subprotocol, Extensions and
// RemoteAddr are safe from any goroutine at any time.
//
// Incoming pings are answered, and close frames handled, while a reader
// is reading; keepalive and Ping therefore need a goroutine that reads.
type WebSocketConn struct {
	set         wsSettings
	client      bool
	subprotocol string
	extensions  string // Sec-WebSocket-Extensions of the handshake response
	remote      net.Addr
	created     time.Time // base of the monotonic activity clock

	// Transport. r and w may be any reader/writer pair; dl sets
	// deadlines when the transport supports them.
	r      *connReader
	w      io.Writer
	bw     *bufio.Writer // copy-and-mask path; nil when writes go out vectored
	dl     deadliner
	closer io.Closer
	vector bool // w takes net.Buffers as one writev
	// ww writes vectored frames straight to the socket and arms the
	// write deadline only when a write has to wait; nil where that is
	// not available, and every frame write sets the deadline.
	ww *writeWaiter
	// closeFirst closes the transport before Closed is signalled, for
	// a transport that must not be used once its owner sees the close
	// (an HTTP/2 stream, whose handler returns then).
	closeFirst bool

	// Reader state, guarded by readMu (held by the one reader).
	readMu  sync.Mutex
	readErr error
	rOp     MessageType // type of the message being read; 0 between messages
	rRemain int64       // unread payload bytes of the current data frame
	rFin    bool        // the current data frame is the message's last
	rMasked bool
	rKey    [4]byte
	rPos    int
	rMsgLen int64
	utf8    utf8check.Validator
	ctrl    [wsframe.MaxControlPayload]byte
	msgR    messageReader
	rZ      bool        // the message being read is compressed (RFC 7692)
	infl    *wsInflater // nil without permessage-deflate
	rate    *rateBucket // nil without a RateLimit
	rSeen   uint32      // r.reads when lastRead was last stored

	// Writer state. msgMu keeps messages whole; frameMu keeps frames
	// whole and guards everything below it.
	msgMu     sync.Mutex
	msgW      messageWriter
	defl      *wsDeflater // nil without permessage-deflate; guarded by msgMu
	wbuf      []byte
	frameMu   sync.Mutex
	closeSent bool
	writeErr  error
	hdr       [wsframe.MaxHeaderLen]byte
	key       [4]byte
	bufArr    [3][]byte    // first backing of vec
	vec       [][]byte     // buffers of the vectored write in progress
	bufs      net.Buffers  // what WriteTo has left of vec
	wDeadline lazyDeadline // when setWriteDeadline moves the deadline

	// Lifecycle.
	closeOnce sync.Once
	closed    chan struct{}
	stateMu   sync.Mutex
	closeErr  error
	onClose   []func()

	// Keepalive and pings.
	timer      *time.Timer
	lastRead   atomic.Int64 // nanoseconds since created
	lastPong   atomic.Int64
	kaPingAt   atomic.Int64
	kaAwaiting atomic.Bool
	pingMu     sync.Mutex
	pings      map[uint64]chan int64
	pingSeq    atomic.Uint64

	// Counters.
	msgsIn, msgsOut   atomic.Uint64
	bytesIn, bytesOut atomic.Uint64
	lastRTT           atomic.Int64
	rateLimited       atomic.Uint64
	pongsSkipped      atomic.Uint64
}

// deadliner is the deadline part of net.Conn, optional for a transport.
type deadliner interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// WebSocketStats are a connection's counters. Byte counts are message
// payload bytes, without frame headers; for compressed messages, the
// uncompressed size.
type WebSocketStats struct {
	MessagesIn  uint64
	MessagesOut uint64
	BytesIn     uint64
	BytesOut    uint64
	// LastRTT is the round-trip time measured by the latest Ping that
	// was answered; 0 before the first.
	LastRTT time.Duration
	// RateLimited counts messages that arrived over WSConfig.RateLimit:
	// discarded under RateDrop, or the one that closed the connection.
	// MessagesIn counts discarded messages too.
	RateLimited uint64
	// PongsSkipped counts pings answered by the pong of a later ping
	// that had already arrived (RFC 6455 §5.5.3).
	PongsSkipped uint64
}

// newConn builds a connection over a transport. br holds any bytes that
// already arrived after the handshake; bw may be nil when the transport
// supports vectored writes and the role needs no masking.
func newConn(rwc io.ReadWriteCloser, br *bufio.Reader, bw *bufio.Writer, client bool, set wsSettings, subprotocol string) *WebSocketConn {
	c := &WebSocketConn{
		set:         set,
		client:      client,
		subprotocol: subprotocol,
		created:     time.Now(),
		r:           newConnReader(rwc, br),
		w:           rwc,
		closer:      rwc,
		closed:      make(chan struct{}),
	}
	if nc, ok := rwc.(net.Conn); ok {
		c.remote = nc.RemoteAddr()
	}
	if d, ok := rwc.(deadliner); ok {
		c.dl = d
	}
	switch rwc.(type) {
	case *net.TCPConn, *net.UnixConn:
		c.vector = true
	case *h2Stream:
		c.closeFirst = true
	}
	if c.vector && !client {
		c.ww = newWriteWaiter(rwc, set.writeTimeout)
	}
	if client || !c.vector {
		if bw == nil {
			bw = bufio.NewWriterSize(rwc, 4096)
		} else {
			bw.Reset(rwc)
		}
		c.bw = bw
	}
	c.vec = c.bufArr[:0]
	c.msgR.c = c
	c.msgW.c = c
	if set.onClose != nil {
		c.onClose = append(c.onClose, set.onClose)
	}
	if set.idle > 0 {
		// Armed only once c.timer is set, which the callback uses.
		c.timer = time.AfterFunc(math.MaxInt64, c.keepalive)
		c.timer.Reset(set.idle)
	}
	return c
}

// Subprotocol returns the negotiated subprotocol, or "" if none.
func (c *WebSocketConn) Subprotocol() string { return c.subprotocol }

// Extensions returns the Sec-WebSocket-Extensions value of the opening
// handshake's response, which names the extensions in use with their
// parameters, or "" when none is. The only extension negotiated is
// permessage-deflate (RFC 7692), for example
// "permessage-deflate; server_no_context_takeover". It never changes
// during the connection.
func (c *WebSocketConn) Extensions() string { return c.extensions }

// RemoteAddr returns the peer's network address, or nil if the transport
// has none.
func (c *WebSocketConn) RemoteAddr() net.Addr { return c.remote }

// Closed returns a channel that is closed once the connection is closed.
func (c *WebSocketConn) Closed() <-chan struct{} { return c.closed }

// Stats returns a snapshot of the connection's counters.
func (c *WebSocketConn) Stats() WebSocketStats {
	return WebSocketStats{
		MessagesIn:   c.msgsIn.Load(),
		MessagesOut:  c.msgsOut.Load(),
		BytesIn:      c.bytesIn.Load(),
		BytesOut:     c.bytesOut.Load(),
		LastRTT:      time.Duration(c.lastRTT.Load()),
		RateLimited:  c.rateLimited.Load(),
		PongsSkipped: c.pongsSkipped.Load(),
	}
}

// OnClose registers f to be called once when the connection is closed,
// in the goroutine that closes it. If the connection is already closed,
// f runs at once in the caller's goroutine. f must not block for long.
func (c *WebSocketConn) OnClose(f func()) {
	c.stateMu.Lock()
	select {
	case <-c.closed:
		c.stateMu.Unlock()
		f()
		return
	default:
	}
	c.onClose = append(c.onClose, f)
	c.stateMu.Unlock()
}

// now returns nanoseconds since the connection was made (monotonic).
func (c *WebSocketConn) now() int64 { return int64(time.Since(c.created)) }

// isClosed reports whether teardown has run.
func (c *WebSocketConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// closedErr returns the error recorded at teardown, or nil.
func (c *WebSocketConn) closedErr() error {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return c.closeErr
}

// teardown closes the transport once, records err as the reason, wakes
// everyone waiting on Closed and runs the OnClose callbacks.
func (c *WebSocketConn) teardown(err error) {
	c.closeOnce.Do(func() {
		// The reason is recorded before the transport closes, so a
		// reader woken by the close reports it, not the transport's
		// own error.
		c.stateMu.Lock()
		c.closeErr = err
		c.stateMu.Unlock()
		if c.closeFirst {
			c.closer.Close()
		}
		c.stateMu.Lock()
		cbs := c.onClose
		c.onClose = nil
		close(c.closed)
		c.stateMu.Unlock()
		if c.timer != nil {
			c.timer.Stop()
		}
		if !c.closeFirst {
			c.closer.Close()
		}
		for _, f := range cbs {
			f()
		}
	})
}
