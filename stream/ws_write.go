package stream

import (
	"crypto/rand"
	"errors"
	"io"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/stdrealtime/realtime/internal/wsframe"
)

var (
	errBadMessageType = errors.New("stream: websocket write: message type must be TextMessage or BinaryMessage")
	errInvalidText    = errors.New("stream: websocket write: text message is not valid UTF-8")
	errWriterClosed   = errors.New("stream: websocket write: message writer already closed")
)

// WriteMessage sends p as one message of type mt. A text message must be
// valid UTF-8 (§5.6); otherwise nothing is sent and an error returned.
// Safe to call from any number of goroutines; messages go out whole, in
// the order the calls take the connection's write lock.
func (c *WebSocketConn) WriteMessage(mt MessageType, p []byte) error {
	switch mt {
	case TextMessage:
		if !utf8.Valid(p) {
			return errInvalidText
		}
	case BinaryMessage:
	default:
		return errBadMessageType
	}
	c.msgMu.Lock()
	err := c.writeMessageFrame(wsframe.Opcode(mt), p)
	c.msgMu.Unlock()
	if err == nil {
		c.msgsOut.Add(1)
		c.bytesOut.Add(uint64(len(p)))
	}
	return err
}

// Write sends p as a text message. See WriteMessage.
func (c *WebSocketConn) Write(p []byte) error { return c.WriteMessage(TextMessage, p) }

// WriteBinary sends p as a binary message. See WriteMessage.
func (c *WebSocketConn) WriteBinary(p []byte) error { return c.WriteMessage(BinaryMessage, p) }

// WriteString sends s as a text message without copying it. See
// WriteMessage.
func (c *WebSocketConn) WriteString(s string) error {
	return c.WriteMessage(TextMessage, unsafe.Slice(unsafe.StringData(s), len(s)))
}

// NextWriter starts a message of type mt whose payload is written in
// pieces, for messages too large to hold at once. Data is sent in
// fragments as the writer's 4 KiB buffer fills; Close sends the final
// fragment. Until Close, other messages wait (pings and pongs may still go
// out between fragments), so the writer must always be closed. The caller
// is responsible for writing valid UTF-8 into a text message.
func (c *WebSocketConn) NextWriter(mt MessageType) (io.WriteCloser, error) {
	if mt != TextMessage && mt != BinaryMessage {
		return nil, errBadMessageType
	}
	c.msgMu.Lock()
	if err := c.writeState(); err != nil {
		c.msgMu.Unlock()
		return nil, err
	}
	if c.wbuf == nil {
		c.wbuf = make([]byte, 0, 4096)
	}
	c.msgW = messageWriter{c: c, op: wsframe.Opcode(mt), open: true}
	return &c.msgW, nil
}

// messageWriter writes one message in fragments; it holds msgMu while
// open.
type messageWriter struct {
	c    *WebSocketConn
	op   wsframe.Opcode // opcode of the next fragment
	open bool
	n    int64
	err  error
	z    *deflateCodec // compressor of a message that outgrew the buffer
}

func (m *messageWriter) Write(p []byte) (int, error) {
	if !m.open {
		return 0, errWriterClosed
	}
	if m.err != nil {
		return 0, m.err
	}
	c := m.c
	if len(c.wbuf)+len(p) <= cap(c.wbuf) {
		c.wbuf = append(c.wbuf, p...)
		return len(p), nil
	}
	if c.defl != nil {
		return m.writeDeflate(p)
	}
	// Buffer full: the buffered bytes and p go out as one fragment.
	if err := c.writeFrame(m.op, false, c.wbuf, p); err != nil {
		m.err = err
		return 0, err
	}
	m.n += int64(len(c.wbuf) + len(p))
	m.op = wsframe.OpContinuation
	c.wbuf = c.wbuf[:0]
	return len(p), nil
}

func (m *messageWriter) Close() error {
	if !m.open {
		return errWriterClosed
	}
	m.open = false
	c := m.c
	err := m.err
	if err == nil && c.defl != nil {
		if err = m.closeDeflate(); err == nil {
			c.msgsOut.Add(1)
			c.bytesOut.Add(uint64(m.n))
		}
	} else if err == nil {
		err = c.writeFrame(m.op, true, c.wbuf, nil)
		if err == nil {
			c.msgsOut.Add(1)
			c.bytesOut.Add(uint64(m.n) + uint64(len(c.wbuf)))
		}
	}
	if m.z != nil {
		c.defl.release(m.z)
		m.z = nil
	}
	c.wbuf = c.wbuf[:0]
	c.msgMu.Unlock()
	return err
}

// writeState returns why no frame may be written, or nil.
func (c *WebSocketConn) writeState() error {
	if c.isClosed() {
		if err := c.closedErr(); err != nil {
			return err
		}
		return ErrClosed
	}
	return nil
}

// writeControl sends a control frame; after a close frame it fails.
func (c *WebSocketConn) writeControl(op wsframe.Opcode, p []byte) error {
	return c.writeFrame(op, true, p, nil)
}

// writeFrame sends one frame whose payload is p1 followed by p2. Server
// frames over TCP go out as one writev of header and payload; client
// frames are masked into the write buffer with a fresh key from
// crypto/rand. A failed write closes the connection.
func (c *WebSocketConn) writeFrame(op wsframe.Opcode, fin bool, p1, p2 []byte) error {
	return c.writeFrameRsv(op, 0, fin, p1, p2)
}

// writeFrameRsv is writeFrame with reserved bits, for extensions.
func (c *WebSocketConn) writeFrameRsv(op wsframe.Opcode, rsv byte, fin bool, p1, p2 []byte) error {
	c.frameMu.Lock()
	if c.writeErr != nil {
		err := c.writeErr
		c.frameMu.Unlock()
		return err
	}
	// §5.5.1: after sending a Close frame, "the endpoint MUST NOT send
	// any further data frames"; nothing else is sent after it either.
	if c.closeSent {
		c.frameMu.Unlock()
		if err := c.closedErr(); err != nil {
			return err
		}
		return ErrClosed
	}
	if op == wsframe.OpClose {
		c.closeSent = true
	}
	err := c.writeFrameLocked(op, rsv, fin, p1, p2)
	if err != nil {
		c.writeErr = &CloseError{Code: StatusAbnormalClosure, Err: err}
		err = c.writeErr
	}
	c.frameMu.Unlock()
	if err != nil {
		c.teardown(err)
	}
	return err
}

func (c *WebSocketConn) writeFrameLocked(op wsframe.Opcode, rsv byte, fin bool, p1, p2 []byte) error {
	h := wsframe.Header{Fin: fin, Rsv: rsv, Opcode: op, Length: int64(len(p1) + len(p2))}
	if c.client {
		// §5.3: the masking key "MUST be derived from a strong source
		// of entropy" and be fresh for every frame.
		rand.Read(c.key[:])
		h.Masked = true
		h.Key = c.key
	}
	hdr := wsframe.AppendHeader(c.hdr[:0], h)
	if c.bw == nil {
		return c.writeVec(hdr, p1, p2)
	}
	c.setWriteDeadline()
	if _, err := c.bw.Write(hdr); err != nil {
		return err
	}
	pos := 0
	for _, p := range [2][]byte{p1, p2} {
		if !c.client {
			if _, err := c.bw.Write(p); err != nil {
				return err
			}
			continue
		}
		for len(p) > 0 {
			buf := c.bw.AvailableBuffer()
			if cap(buf) == 0 {
				if err := c.bw.Flush(); err != nil {
					return err
				}
				continue
			}
			n := min(cap(buf), len(p))
			buf = append(buf, p[:n]...)
			pos = wsframe.Mask(h.Key, pos, buf)
			if _, err := c.bw.Write(buf); err != nil {
				return err
			}
			p = p[n:]
		}
	}
	return c.bw.Flush()
}

// writeVec writes bufs in one vectored write, setting the write deadline
// first unless the write waiter arms it as needed; frameMu is held. The slice
// of buffers lives in the connection and keeps its capacity (up to
// maxKeptVec), so that writes allocate nothing once it has grown to the
// largest batch.
func (c *WebSocketConn) writeVec(bufs ...[]byte) error {
	c.vec = append(c.vec[:0], bufs...)
	var err error
	if c.ww != nil {
		err = c.ww.write(c.vec)
	} else {
		c.setWriteDeadline()
		c.bufs = c.vec // WriteTo consumes c.bufs, not c.vec
		_, err = c.bufs.WriteTo(c.w)
	}
	clear(c.vec) // keep no payload reachable
	c.bufs = nil
	if cap(c.vec) > maxKeptVec {
		c.vec = c.bufArr[:0] // a burst's array is not kept while idle
	}
	return err
}

// maxKeptVec is the largest batch of buffers whose array a connection
// keeps between writes.
const maxKeptVec = 16

// setWriteDeadline bounds the coming write by WriteTimeout; frameMu is
// held. The deadline moves lazily (lazyDeadline): a busy connection reads
// only the monotonic clock per write.
func (c *WebSocketConn) setWriteDeadline() {
	t := c.set.writeTimeout
	if c.dl == nil || t <= 0 || !c.wDeadline.move(c.now(), t) {
		return
	}
	c.dl.SetWriteDeadline(time.Now().Add(c.wDeadline.ahead(t)))
}

// appendServerFrame appends a complete unmasked, unfragmented data frame
// carrying payload to dst. The result can be written to any number of
// server-side connections with writeFrames.
func appendServerFrame(dst []byte, mt MessageType, payload []byte) []byte {
	dst = wsframe.AppendHeader(dst, wsframe.Header{Fin: true, Opcode: wsframe.Opcode(mt), Length: int64(len(payload))})
	return append(dst, payload...)
}

// writeFrames writes already-encoded server data frames (each a whole
// message, see appendServerFrame) in one vectored write, between other
// messages. bufs is not modified. It fails on a client connection, whose
// frames must be masked.
func (c *WebSocketConn) writeFrames(bufs [][]byte) error {
	if c.client {
		return errors.New("stream: websocket write: pre-encoded frames need a server connection")
	}
	c.msgMu.Lock()
	defer c.msgMu.Unlock()
	c.frameMu.Lock()
	var err error
	switch {
	case c.writeErr != nil:
		err = c.writeErr
	case c.closeSent:
		err = ErrClosed
	}
	if err != nil {
		c.frameMu.Unlock()
		return err
	}
	var n int64
	for _, b := range bufs {
		n += int64(len(b))
	}
	if c.bw == nil {
		err = c.writeVec(bufs...)
	} else {
		c.setWriteDeadline()
		for _, b := range bufs {
			if _, err = c.bw.Write(b); err != nil {
				break
			}
		}
		if err == nil {
			err = c.bw.Flush()
		}
	}
	if err != nil {
		c.writeErr = &CloseError{Code: StatusAbnormalClosure, Err: err}
		err = c.writeErr
	}
	c.frameMu.Unlock()
	if err != nil {
		c.teardown(err)
		return err
	}
	c.msgsOut.Add(uint64(len(bufs)))
	c.bytesOut.Add(uint64(n))
	return nil
}
