// Package wstest is a raw WebSocket peer for tests: it speaks the wire
// format byte by byte, so tests can send exactly the frames, valid or not,
// that a conforming endpoint would never produce, and see exactly what
// comes back.
package wstest

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/stdrealtime/realtime/internal/wsframe"
)

// Key is the Sec-WebSocket-Key the peer sends (the RFC 6455 example).
const Key = "dGhlIHNhbXBsZSBub25jZQ=="

// Accept computes Sec-WebSocket-Accept for key.
func Accept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// Peer is one raw end of a connection. Client peers mask what they send.
type Peer struct {
	Conn   net.Conn
	R      *bufio.Reader
	Client bool
	// MaskKey is used for frames a client peer sends.
	MaskKey [4]byte
}

// Timeout bounds every blocking operation of a peer, so a broken
// implementation fails a test instead of hanging it.
const Timeout = 10 * time.Second

// Frame is a frame as read off the wire, unmasked.
type Frame struct {
	wsframe.Header
	Payload []byte
}

// DialServer opens a TCP connection to addr, sends an opening handshake
// for path followed, in the same write, by extra, and reads the response.
// Status 101 leaves the peer ready to exchange frames.
func DialServer(addr, path string, extra []byte) (*Peer, *http.Response, error) {
	c, err := net.DialTimeout("tcp", addr, Timeout)
	if err != nil {
		return nil, nil, err
	}
	c.SetDeadline(time.Now().Add(Timeout))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + Key +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := c.Write(append([]byte(req), extra...)); err != nil {
		c.Close()
		return nil, nil, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil, resp, errors.New("wstest: status " + resp.Status)
	}
	if resp.Header.Get("Sec-WebSocket-Accept") != Accept(Key) {
		c.Close()
		return nil, resp, errors.New("wstest: wrong Sec-WebSocket-Accept")
	}
	return &Peer{Conn: c, R: br, Client: true, MaskKey: [4]byte{0x37, 0xfa, 0x21, 0x3d}}, resp, nil
}

// Server accepts raw connections for client tests.
type Server struct {
	L net.Listener
}

// Listen starts a raw server on a loopback port.
func Listen() (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &Server{L: l}, nil
}

// URL is the ws:// URL of the server.
func (s *Server) URL() string { return "ws://" + s.L.Addr().String() + "/" }

// Close stops listening.
func (s *Server) Close() error { return s.L.Close() }

// Accept takes the next connection and reads its request. respond builds
// the raw response from the request; nil answers a correct 101. The bytes
// in after go out in the same write as the response.
func (s *Server) Accept(respond func(*http.Request) string, after []byte) (*Peer, *http.Request, error) {
	c, err := s.L.Accept()
	if err != nil {
		return nil, nil, err
	}
	c.SetDeadline(time.Now().Add(Timeout))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	var resp string
	if respond != nil {
		resp = respond(req)
	} else {
		resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			Accept(req.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
	}
	if _, err := c.Write(append([]byte(resp), after...)); err != nil {
		c.Close()
		return nil, nil, err
	}
	return &Peer{Conn: c, R: br}, req, nil
}

// AppendFrame encodes a frame; masked frames use key.
func AppendFrame(dst []byte, fin bool, rsv byte, op wsframe.Opcode, masked bool, key [4]byte, payload []byte) []byte {
	dst = wsframe.AppendHeader(dst, wsframe.Header{Fin: fin, Rsv: rsv, Opcode: op, Masked: masked, Key: key, Length: int64(len(payload))})
	start := len(dst)
	dst = append(dst, payload...)
	if masked {
		wsframe.Mask(key, 0, dst[start:])
	}
	return dst
}

// Frame encodes a frame as this peer would send it (masked when Client).
func (p *Peer) Frame(fin bool, op wsframe.Opcode, payload []byte) []byte {
	return AppendFrame(nil, fin, 0, op, p.Client, p.MaskKey, payload)
}

// WriteFrame sends one frame, masked when the peer is a client.
func (p *Peer) WriteFrame(fin bool, op wsframe.Opcode, payload []byte) error {
	return p.WriteRaw(p.Frame(fin, op, payload))
}

// WriteRaw sends bytes as they are.
func (p *Peer) WriteRaw(b []byte) error {
	_, err := p.Conn.Write(b)
	return err
}

// ClosePayload builds a close frame body.
func ClosePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// ReadFrame reads one frame and unmasks its payload.
func (p *Peer) ReadFrame() (Frame, error) {
	b, err := p.R.Peek(2)
	if err != nil {
		return Frame{}, err
	}
	n := wsframe.HeaderLen(b[0], b[1])
	if b, err = p.R.Peek(n); err != nil {
		return Frame{}, err
	}
	h, err := wsframe.Decode(b)
	if err != nil {
		return Frame{}, err
	}
	p.R.Discard(n)
	f := Frame{Header: h, Payload: make([]byte, h.Length)}
	if _, err := io.ReadFull(p.R, f.Payload); err != nil {
		return Frame{}, err
	}
	if h.Masked {
		wsframe.Mask(h.Key, 0, f.Payload)
	}
	return f, nil
}

// ReadClose reads frames until a close frame and returns its code (1005
// for an empty body) and reason.
func (p *Peer) ReadClose() (int, string, error) {
	for {
		f, err := p.ReadFrame()
		if err != nil {
			return 0, "", err
		}
		if f.Opcode != wsframe.OpClose {
			continue
		}
		if len(f.Payload) < 2 {
			return 1005, "", nil
		}
		return int(binary.BigEndian.Uint16(f.Payload)), string(f.Payload[2:]), nil
	}
}

// ExpectEOF reads until the connection ends and reports whether it ended
// cleanly (EOF) rather than by timeout; data received is discarded.
func (p *Peer) ExpectEOF() error {
	_, err := io.Copy(io.Discard, p.R)
	if err == nil {
		return nil
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	if strings.Contains(err.Error(), "reset") {
		return nil
	}
	return err
}

// Close closes the TCP connection.
func (p *Peer) Close() error { return p.Conn.Close() }
