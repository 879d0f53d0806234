// Package load is the benchmark's load generator: a minimal client of its
// own for WebSocket, Server-Sent Events and the raw-TCP baseline, so that
// every server is driven by the same client code, and the scenarios that
// measure them.
package load

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// Protocol selects the client's framing; the values match the server
// registry's.
type Protocol string

const (
	// WebSocket frames (RFC 6455), masked from client to server.
	WebSocket Protocol = "websocket"
	// SSE is a text/event-stream response; the client only reads.
	SSE Protocol = "sse"
	// Raw frames are a 4-byte big-endian length and the payload.
	Raw Protocol = "raw"
)

// Conn is one client connection. It is used by one reading goroutine and
// one writing goroutine at most.
type Conn struct {
	proto Protocol
	nc    net.Conn
	r     *bufio.Reader // connection or SSE body
	buf   []byte        // reused message buffer
	mask  [4]byte
	wsMsg []byte // reassembly of fragmented WebSocket messages
	sse   sseState
	// rx counts the WebSocket frame bytes read, headers included.
	rx uint64
	// deflate is set once permessage-deflate is agreed; inflate holds
	// what decompressing replies reuses, and compressed whether the last
	// message read was compressed.
	deflate    bool
	inflate    inflater
	compressed bool
}

// DeflateOffer is the Sec-WebSocket-Extensions offer of DialDeflate:
// permessage-deflate without context takeover either way (RFC 7692
// section 7.1.1), so that every message is compressed on its own.
const DeflateOffer = "permessage-deflate; client_no_context_takeover; server_no_context_takeover"

// dialOptions are the per-connection choices of dial.
type dialOptions struct {
	// rcvBuf, when > 0, sets the socket's receive buffer to rcvBuf bytes
	// before it connects, so that the TCP window it advertises stays
	// small.
	rcvBuf int
	// deflate offers DeflateOffer and fails the handshake unless the
	// server agrees to it.
	deflate bool
}

// handshakeGUID is the fixed GUID of RFC 6455 section 1.3, used to check
// Sec-WebSocket-Accept.
const handshakeGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Dial connects to addr and opens path with the handshake of proto: a
// WebSocket upgrade for WebSocket and Raw (the raw server answers 101 too),
// a GET for an event stream for SSE.
func Dial(ctx context.Context, addr, path string, proto Protocol) (*Conn, error) {
	return dial(ctx, addr, path, proto, dialOptions{})
}

// DialDeflate opens a WebSocket connection to path offering
// permessage-deflate (DeflateOffer). It fails unless the server's
// Sec-WebSocket-Extensions agrees to permessage-deflate with
// server_no_context_takeover, so that a server that would not compress is
// never measured as compressing. Frame then compresses every payload and
// ReadMessage inflates compressed replies.
func DialDeflate(ctx context.Context, addr, path string) (*Conn, error) {
	return dial(ctx, addr, path, WebSocket, dialOptions{deflate: true})
}

// dial is Dial with the options of opts.
func dial(ctx context.Context, addr, path string, proto Protocol, opts dialOptions) (*Conn, error) {
	if opts.deflate && proto != WebSocket {
		return nil, fmt.Errorf("load: dial %s: permessage-deflate is for WebSocket only", path)
	}
	var d net.Dialer
	if rcvBuf := opts.rcvBuf; rcvBuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("load: dial %s: %w", addr, err)
	}
	c := &Conn{proto: proto, nc: nc}
	if deadline, ok := ctx.Deadline(); ok {
		nc.SetDeadline(deadline)
	}
	if err := c.handshake(addr, path, opts.deflate); err != nil {
		c.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return c, nil
}

func (c *Conn) handshake(addr, path string, deflate bool) error {
	br := bufio.NewReaderSize(c.nc, 4096)
	var req string
	var key string
	if c.proto == SSE {
		req = "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
	} else {
		var k [16]byte
		rand.Read(k[:])
		rand.Read(c.mask[:])
		key = base64.StdEncoding.EncodeToString(k[:])
		req = "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n"
		if deflate {
			req += "Sec-WebSocket-Extensions: " + DeflateOffer + "\r\n"
		}
		req += "\r\n"
	}
	if _, err := io.WriteString(c.nc, req); err != nil {
		return fmt.Errorf("load: handshake %s: %w", path, err)
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return fmt.Errorf("load: handshake %s: %w", path, err)
	}
	switch c.proto {
	case SSE:
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return fmt.Errorf("load: handshake %s: status %s", path, resp.Status)
		}
		c.r = bufio.NewReaderSize(resp.Body, 4096)
	case WebSocket:
		if resp.StatusCode != http.StatusSwitchingProtocols {
			return fmt.Errorf("load: handshake %s: status %s", path, resp.Status)
		}
		h := sha1.Sum([]byte(key + handshakeGUID))
		if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(h[:]) {
			return fmt.Errorf("load: handshake %s: wrong Sec-WebSocket-Accept %q for key %q", path, resp.Header.Get("Sec-WebSocket-Accept"), key)
		}
		exts := resp.Header.Values("Sec-WebSocket-Extensions")
		if deflate {
			if err := checkDeflateResponse(exts); err != nil {
				return fmt.Errorf("load: handshake %s: %w", path, err)
			}
			c.deflate = true
		} else if strings.TrimSpace(strings.Join(exts, "")) != "" {
			return fmt.Errorf("load: handshake %s: extensions %q agreed though none was offered", path, exts)
		}
		c.r = br
	default:
		if resp.StatusCode != http.StatusSwitchingProtocols {
			return fmt.Errorf("load: handshake %s: status %s", path, resp.Status)
		}
		c.r = br
	}
	return nil
}

// Close drops the connection at once with a reset (SO_LINGER 0), so that
// thousands of connections per run leave no sockets in TIME_WAIT to exhaust
// the ephemeral ports.
func (c *Conn) Close() error {
	if tc, ok := c.nc.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	return c.nc.Close()
}

// Compressed reports whether the last message ReadMessage returned came
// compressed (RSV1 set).
func (c *Conn) Compressed() bool { return c.compressed }

// RxBytes returns the WebSocket frame bytes read so far, headers included.
func (c *Conn) RxBytes() uint64 { return c.rx }

// SetReadDeadline sets the deadline of reads on the connection.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// Frame returns the bytes that send payload as one binary message on this
// connection: masked with the connection's key for WebSocket, prefixed with
// its length for Raw. Encode a payload once and write it many times.
//
// On a connection made by DialDeflate the payload is compressed (RFC 7692
// section 7.2.1, flate.BestSpeed) and the frame has RSV1 set.
func (c *Conn) Frame(payload []byte) []byte {
	switch c.proto {
	case WebSocket:
		if c.deflate {
			return appendWSFrameRSV1(nil, 0x2, deflateMessage(nil, payload), c.mask)
		}
		return appendWSFrame(nil, 0x2, payload, c.mask)
	case Raw:
		return appendRawFrame(nil, payload)
	}
	return nil
}

// Write sends bytes made by Frame.
func (c *Conn) Write(frame []byte) error {
	_, err := c.nc.Write(frame)
	return err
}

// ReadMessage returns the next message: a WebSocket data message (control
// frames are answered and skipped), a raw frame, or an event's data.
// The returned slice is valid until the next call.
func (c *Conn) ReadMessage() ([]byte, error) {
	switch c.proto {
	case WebSocket:
		return c.readWS()
	case Raw:
		return c.readRaw()
	case SSE:
		return c.readSSE()
	}
	return nil, errors.New("load: read: unknown protocol")
}
