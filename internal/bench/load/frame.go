package load

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// maxMessage bounds what the client reads, like the servers' limit.
const maxMessage = 1 << 20

// errClosed reports a close frame from the server.
var errClosed = errors.New("load: read: connection closed by server")

// appendWSFrame appends a final client frame with opcode op, masked with
// mask as RFC 6455 section 5.3 requires of every client frame.
func appendWSFrame(dst []byte, op byte, payload []byte, mask [4]byte) []byte {
	return appendWSFrameBits(dst, 0x80|op, payload, mask)
}

// appendWSFrameRSV1 is appendWSFrame with RSV1 set: the payload is a
// compressed message (RFC 7692 section 6).
func appendWSFrameRSV1(dst []byte, op byte, payload []byte, mask [4]byte) []byte {
	return appendWSFrameBits(dst, 0x80|0x40|op, payload, mask)
}

// appendWSFrameBits appends a masked client frame whose first byte is b0.
func appendWSFrameBits(dst []byte, b0 byte, payload []byte, mask [4]byte) []byte {
	n := len(payload)
	dst = append(dst, b0)
	switch {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[start+i] ^= mask[i&3]
	}
	return dst
}

func appendRawFrame(dst []byte, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

func (c *Conn) readRaw() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxMessage {
		return nil, fmt.Errorf("load: read: raw frame of %d bytes", n)
	}
	return c.readPayload(int(n))
}

func (c *Conn) readPayload(n int) ([]byte, error) {
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	p := c.buf[:n]
	_, err := io.ReadFull(c.r, p)
	return p, err
}

// readWS reads server frames (unmasked) until a whole data message is in,
// answering pings, reassembling fragments and, on a connection with
// permessage-deflate, inflating a message whose first frame has RSV1 set.
func (c *Conn) readWS() ([]byte, error) {
	c.wsMsg = c.wsMsg[:0]
	c.compressed = false
	fragmented := false
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.r, h[:]); err != nil {
			return nil, err
		}
		fin, rsv1, op := h[0]&0x80 != 0, h[0]&0x40 != 0, h[0]&0x0F
		if h[1]&0x80 != 0 {
			return nil, errors.New("load: read: masked server frame")
		}
		if h[0]&0x30 != 0 || rsv1 && (!c.deflate || op == 0 || op >= 0x8) {
			return nil, fmt.Errorf("load: read: reserved bits %#x set on opcode %#x", h[0]&0x70, op)
		}
		if rsv1 {
			c.compressed = true
		}
		n := uint64(h[1] & 0x7F)
		c.rx += 2
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(c.r, b[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
			c.rx += 2
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(c.r, b[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(b[:])
			c.rx += 8
		}
		if n > maxMessage {
			return nil, fmt.Errorf("load: read: frame of %d bytes", n)
		}
		p, err := c.readPayload(int(n))
		if err != nil {
			return nil, err
		}
		c.rx += n
		switch {
		case op == 0x8:
			return nil, errClosed
		case op == 0x9:
			if err := c.Write(appendWSFrame(nil, 0xA, p, c.mask)); err != nil {
				return nil, err
			}
			continue
		case op == 0xA:
			continue
		}
		if fin && !fragmented {
			return c.inflated(p)
		}
		fragmented = true
		if len(c.wsMsg)+len(p) > maxMessage {
			return nil, errors.New("load: read: message too large")
		}
		c.wsMsg = append(c.wsMsg, p...)
		if fin {
			return c.inflated(c.wsMsg)
		}
	}
}

// inflated returns the message p, inflated if it came compressed.
func (c *Conn) inflated(p []byte) ([]byte, error) {
	if !c.compressed {
		return p, nil
	}
	return c.inflate.inflate(p, maxMessage)
}
