// Package wsframe encodes and decodes RFC 6455 frame headers and applies
// the client-to-server masking. It knows nothing about connections: the
// stream package feeds it bytes from any reader and writes what it returns
// to any writer.
package wsframe

import "encoding/binary"

// Opcode is the 4-bit frame opcode of RFC 6455 §5.2.
type Opcode byte

// Opcodes defined by RFC 6455 §5.2. All other values are reserved.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether o is a control opcode (most significant bit set).
func (o Opcode) IsControl() bool { return o&0x8 != 0 }

// MaxHeaderLen is the longest possible frame header: 2 fixed bytes, an
// 8-byte extended length and a 4-byte masking key.
const MaxHeaderLen = 14

// MaxControlPayload is the largest payload a control frame may carry
// (RFC 6455 §5.5).
const MaxControlPayload = 125

// Header is a decoded frame header.
type Header struct {
	Fin    bool
	Rsv    byte // RSV1..RSV3 as the low three bits (RSV1 = 4)
	Opcode Opcode
	Masked bool
	Key    [4]byte
	Length int64
}

// ProtocolError describes a frame header that violates RFC 6455. A
// connection that receives one must be failed with status 1002.
type ProtocolError string

func (e ProtocolError) Error() string { return "websocket frame: " + string(e) }

// Errors returned by Decode.
const (
	ErrReservedOpcode    = ProtocolError("reserved opcode")
	ErrControlTooLong    = ProtocolError("control frame payload longer than 125 bytes")
	ErrControlFragmented = ProtocolError("fragmented control frame")
	ErrNonMinimalLength  = ProtocolError("payload length not minimally encoded")
	ErrLengthMostSigBit  = ProtocolError("64-bit payload length has its most significant bit set")
	ErrHeaderLenMismatch = ProtocolError("header buffer length does not match the encoded header")
)

// HeaderLen returns the total header length announced by the first two
// bytes of a frame: 2, plus 2 or 8 extended length bytes, plus 4 when
// the mask bit is set.
func HeaderLen(b0, b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// Decode parses a complete header; len(b) must equal HeaderLen(b[0], b[1]).
// It enforces every rule that needs no connection state: reserved opcodes
// (§5.2), control frame length and fragmentation (§5.5) and the minimal,
// 63-bit length encoding (§5.2). RSV bits and the mask bit depend on the
// negotiated extensions and on the role and are checked by the caller.
func Decode(b []byte) (Header, error) {
	var h Header
	if len(b) < 2 || len(b) != HeaderLen(b[0], b[1]) {
		return h, ErrHeaderLenMismatch
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = (b[0] >> 4) & 0x7
	h.Opcode = Opcode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
	switch h.Opcode {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
	default:
		// §5.2: "If an unknown opcode is received, the receiving
		// endpoint MUST _Fail the WebSocket Connection_."
		return h, ErrReservedOpcode
	}
	l := int64(b[1] & 0x7f)
	p := 2
	switch l {
	case 126:
		l = int64(binary.BigEndian.Uint16(b[2:4]))
		p = 4
		// §5.2: "the minimal number of bytes MUST be used to encode
		// the length".
		if l < 126 {
			return h, ErrNonMinimalLength
		}
	case 127:
		u := binary.BigEndian.Uint64(b[2:10])
		p = 10
		// §5.2: "the most significant bit MUST be 0".
		if u>>63 != 0 {
			return h, ErrLengthMostSigBit
		}
		l = int64(u)
		if l <= 0xffff {
			return h, ErrNonMinimalLength
		}
	}
	h.Length = l
	if h.Masked {
		copy(h.Key[:], b[p:p+4])
	}
	if h.Opcode.IsControl() {
		// §5.5: "All control frames MUST have a payload length of 125
		// bytes or less and MUST NOT be fragmented."
		if l > MaxControlPayload {
			return h, ErrControlTooLong
		}
		if !h.Fin {
			return h, ErrControlFragmented
		}
	}
	return h, nil
}

// AppendHeader appends the wire form of h to dst, using the minimal
// length encoding. Length must not be negative.
func AppendHeader(dst []byte, h Header) []byte {
	b0 := byte(h.Opcode&0x0f) | (h.Rsv&0x7)<<4
	if h.Fin {
		b0 |= 0x80
	}
	var b1 byte
	if h.Masked {
		b1 = 0x80
	}
	switch {
	case h.Length <= 125:
		dst = append(dst, b0, b1|byte(h.Length))
	case h.Length <= 0xffff:
		dst = append(dst, b0, b1|126, byte(h.Length>>8), byte(h.Length))
	default:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(h.Length))
	}
	if h.Masked {
		dst = append(dst, h.Key[:]...)
	}
	return dst
}
