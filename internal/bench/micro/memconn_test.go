package micro

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"time"
)

// memConn is an in-memory net.Conn: writes are discarded, reads return
// script (the handshake request's leftovers are not needed) repeated n
// times, then io.EOF. A negative n repeats it forever.
type memConn struct {
	script []byte
	n      int
	off    int
}

func (c *memConn) Read(p []byte) (int, error) {
	if c.off == len(c.script) {
		if c.n == 0 {
			return 0, io.EOF
		}
		if c.n > 0 {
			c.n--
		}
		c.off = 0
	}
	k := copy(p, c.script[c.off:])
	c.off += k
	return k, nil
}

func (c *memConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c *memConn) Close() error                       { return nil }
func (c *memConn) LocalAddr() net.Addr                { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *memConn) RemoteAddr() net.Addr               { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (c *memConn) SetDeadline(t time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil }

// newMemConn returns a conn whose reads yield frame n times (n < 0: forever).
func newMemConn(frame []byte, n int) *memConn {
	return &memConn{script: frame, n: n, off: len(frame)}
}

// hijacker is a ResponseWriter whose Hijack hands over conn, so that every
// library's server-side upgrade runs unchanged over memory.
type hijacker struct {
	http.ResponseWriter
	conn net.Conn
}

func (h hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.conn, bufio.NewReadWriter(bufio.NewReaderSize(h.conn, 4096), bufio.NewWriterSize(h.conn, 4096)), nil
}

// upgradeRequest returns a valid client handshake request and a
// ResponseWriter that hijacks conn.
func upgradeRequest(conn net.Conn) (http.ResponseWriter, *http.Request) {
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/ws", nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	r.Header.Set("Sec-WebSocket-Version", "13")
	return hijacker{ResponseWriter: httptest.NewRecorder(), conn: conn}, r
}

// clientFrame is a final, masked binary frame carrying payload, as a client
// sends it (RFC 6455 sections 5.2 and 5.3).
func clientFrame(payload []byte) []byte {
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	n := len(payload)
	f := []byte{0x82}
	switch {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n <= 0xFFFF:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	f = append(f, mask[:]...)
	for i, b := range payload {
		f = append(f, b^mask[i&3])
	}
	return f
}

// sizes are the message sizes of the echo scenarios.
var sizes = []struct {
	name string
	n    int
}{{"16B", 16}, {"1KiB", 1 << 10}, {"64KiB", 64 << 10}}

func payloadOf(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return p
}
