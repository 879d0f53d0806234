package stream

import (
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/stdrealtime/realtime/internal/wsframe"
)

// ReadMessage reads the next data message whole and returns its type and
// payload. Pings are answered and pongs and close frames handled while it
// waits. A message longer than the ReadLimit closes the connection with
// 1009; invalid UTF-8 in a text message closes it with 1007; any protocol
// violation closes it with 1002. Once the connection is closed it returns
// an error wrapping ErrClosed; CloseStatus reports the status code.
// Only one goroutine may read at a time.
func (c *WebSocketConn) ReadMessage() (MessageType, []byte, error) {
	return c.readMessage(nil)
}

// AppendMessage reads the next data message whole, as ReadMessage does,
// appends its payload to dst and returns the extended slice. Passing the
// previous result back as p[:0] reuses its memory, so that a loop reading
// messages no larger than the largest one seen so far allocates nothing.
// On error it returns dst. Only one goroutine may read at a time.
func (c *WebSocketConn) AppendMessage(dst []byte) (MessageType, []byte, error) {
	return c.readMessage(dst)
}

// readMessage appends the next message's payload to dst; with a nil dst
// the result is allocated at the message's size.
func (c *WebSocketConn) readMessage(dst []byte) (MessageType, []byte, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.rOp == 0 && c.readErr == nil && c.rate == nil {
		if cr := c.r; cr.r == cr.w && cr.err == nil {
			// Wait for bytes here, so that a message arriving whole
			// takes the short way below.
			cr.fill()
		}
		if mt, buf, ok := c.readBuffered(dst); ok {
			return mt, buf, nil
		}
	}
	if err := c.beginAdmitted(); err != nil {
		return 0, dst, err
	}
	mt := c.rOp
	if c.rZ {
		buf, err := c.readCompressedMessage(dst)
		if err != nil {
			return 0, dst, err
		}
		return mt, buf, nil
	}
	buf := dst
	off := len(buf)
	for {
		if need := off + int(c.rRemain); need > cap(buf) {
			buf = slices.Grow(buf[:off], int(c.rRemain))
		}
		buf = buf[:off+int(c.rRemain)]
		for c.rRemain > 0 {
			n, err := c.readPayload(buf[off:])
			off += n
			if err != nil {
				return 0, dst, err
			}
		}
		if c.rFin {
			break
		}
		if err := c.nextDataFrame(); err != nil {
			return 0, dst, err
		}
	}
	if err := c.endMessage(); err != nil {
		return 0, dst, err
	}
	if buf == nil {
		buf = []byte{} // an empty message is not a nil payload
	}
	return mt, buf[:off], nil
}

// readBuffered reads a message that is already buffered whole as one
// unfragmented, uncompressed text or binary frame, which is how most
// messages arrive: it checks the header, copies the payload to dst and
// unmasks it there, validates it and consumes the frame, without
// the general frame reader's layers. The caller has checked that no
// message is in progress, no rate limit applies and the connection has
// not failed. It reports false, having consumed nothing, for any other
// frame, an incomplete one, or one that breaks a rule (the general path
// then fails the connection with the right status); dst's spare capacity
// may have been written.
func (c *WebSocketConn) readBuffered(dst []byte) (MessageType, []byte, bool) {
	cr := c.r
	b := cr.buf[cr.r:cr.w]
	if len(b) < 2 {
		return 0, nil, false
	}
	// FIN set, RSV bits clear, text or binary (§5.2); masked from a
	// client and unmasked from a server (§5.1).
	b0, b1 := b[0], b[1]
	if b0 != 0x81 && b0 != 0x82 || (b1&0x80 != 0) == c.client {
		return 0, nil, false
	}
	n, hl := int(b1&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, nil, false
		}
		n, hl = int(binary.BigEndian.Uint16(b[2:4])), 4
		if n < 126 { // not minimally encoded
			return 0, nil, false
		}
	case 127:
		return 0, nil, false
	}
	if int64(n) > c.set.readLimit {
		return 0, nil, false
	}
	var key [4]byte
	if !c.client {
		if len(b) < hl+4 {
			return 0, nil, false
		}
		key = [4]byte(b[hl : hl+4])
		hl += 4
	}
	if len(b)-hl < n {
		return 0, nil, false
	}
	off := len(dst)
	buf := dst
	if off+n > cap(buf) {
		buf = slices.Grow(buf, n)
	}
	buf = buf[:off+n]
	p := buf[off:]
	copy(p, b[hl:hl+n])
	if !c.client {
		wsframe.Mask(key, 0, p)
	}
	// §8.1: a text message must be valid UTF-8.
	if b0 == 0x81 && !utf8.Valid(p) {
		return 0, nil, false
	}
	cr.r += hl + n
	if cr.r == cr.w {
		cr.release()
	}
	c.noteActivity()
	c.msgsIn.Add(1)
	c.bytesIn.Add(uint64(n))
	if buf == nil {
		buf = []byte{}
	}
	return MessageType(b0 & 0x0f), buf, true
}

// Read reads the next data message, text or binary, and returns its
// payload. See ReadMessage.
func (c *WebSocketConn) Read() ([]byte, error) {
	_, p, err := c.ReadMessage()
	return p, err
}

// NextReader waits for the next data message and returns its type and a
// reader of its payload, for messages too large to hold at once. The
// reader returns io.EOF at the end of the message and is valid until the
// next call of NextReader or ReadMessage, which discard whatever of it was
// left unread. The same checks as ReadMessage apply, as the bytes arrive.
func (c *WebSocketConn) NextReader() (MessageType, io.Reader, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if err := c.beginAdmitted(); err != nil {
		return 0, nil, err
	}
	c.msgR.done = false
	return c.rOp, &c.msgR, nil
}

// messageReader streams the payload of the message being read.
type messageReader struct {
	c    *WebSocketConn
	done bool
}

func (m *messageReader) Read(p []byte) (int, error) {
	c := m.c
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if m.done {
		return 0, io.EOF
	}
	if c.readErr != nil {
		return 0, c.readErr
	}
	if c.rZ {
		if len(p) == 0 {
			return 0, nil
		}
		n, err := c.readCompressed(p)
		m.done = err == io.EOF
		return n, err
	}
	for c.rRemain == 0 {
		if c.rFin {
			m.done = true
			if err := c.endMessage(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		if err := c.nextDataFrame(); err != nil {
			return 0, err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	return c.readPayload(p)
}

// beginMessage discards what is left of a message a NextReader caller
// abandoned and positions the reader at the first frame of a new message.
func (c *WebSocketConn) beginMessage() error {
	if c.readErr != nil {
		return c.readErr
	}
	for c.rOp != 0 {
		if c.rZ {
			// Inflated and dropped: under context takeover the
			// following messages refer back to this one.
			if err := c.discardCompressed(); err != nil {
				return err
			}
			break
		}
		for c.rRemain > 0 {
			if _, err := c.readPayload(c.ctrl[:]); err != nil {
				return err
			}
		}
		if c.rFin {
			if err := c.endMessage(); err != nil {
				return err
			}
			break
		}
		if err := c.nextDataFrame(); err != nil {
			return err
		}
	}
	return c.nextDataFrame()
}

// endMessage finishes the message whose last byte has been read.
func (c *WebSocketConn) endMessage() error {
	// §8.1: text must be valid UTF-8; a message ending inside a code
	// point is not.
	if c.rOp == TextMessage && !c.utf8.Complete() {
		return c.fail(StatusInvalidFramePayloadData, "invalid UTF-8 in text message")
	}
	c.finishCompressed()
	c.msgsIn.Add(1)
	c.bytesIn.Add(uint64(c.rMsgLen))
	c.rOp = 0
	return nil
}

// readPayload reads payload bytes of the current data frame into p,
// unmasking and validating them as they come.
func (c *WebSocketConn) readPayload(p []byte) (int, error) {
	if int64(len(p)) > c.rRemain {
		p = p[:c.rRemain]
	}
	n, err := c.r.Read(p)
	if n > 0 {
		if c.rMasked {
			c.rPos = wsframe.Mask(c.rKey, c.rPos, p[:n])
		}
		c.rRemain -= int64(n)
		// §8.1: "When an endpoint is to interpret a byte stream as UTF-8
		// but finds that the byte stream is not, in fact, a valid UTF-8
		// stream, that endpoint MUST _Fail the WebSocket Connection_."
		// Checked on every piece, so the failure comes at the first
		// invalid byte that arrives.
		// Compressed text is checked once inflated (readCompressed).
		if c.rOp == TextMessage && !c.rZ && !c.utf8.Write(p[:n]) {
			return n, c.fail(StatusInvalidFramePayloadData, "invalid UTF-8 in text message")
		}
	}
	if err != nil {
		return n, c.readFailed(err)
	}
	return n, nil
}

// nextDataFrame reads frame headers, handling control frames inline,
// until a data frame arrives that fits the message sequence; it leaves
// the reader at that frame's payload.
func (c *WebSocketConn) nextDataFrame() error {
	for {
		h, err := c.readHeader()
		if err != nil {
			return err
		}
		if h.Opcode.IsControl() {
			if err := c.handleControl(h); err != nil {
				return err
			}
			continue
		}
		if h.Opcode == wsframe.OpContinuation {
			// §5.4: a continuation frame belongs to a fragmented
			// message that was started; otherwise it is a violation.
			if c.rOp == 0 {
				return c.fail(StatusProtocolError, "continuation frame with no message to continue")
			}
		} else {
			// §5.4: "the fragments of one message MUST NOT be
			// interleaved between the fragments of another message".
			if c.rOp != 0 {
				return c.fail(StatusProtocolError, "new data frame inside a fragmented message")
			}
			c.rOp = MessageType(h.Opcode)
			c.rMsgLen = 0
			c.utf8.Reset()
			c.rZ = h.Rsv&rsv1 != 0
		}
		limit := c.set.readLimit
		if c.rZ {
			limit = c.compressedWireLimit()
		}
		if h.Length > limit-c.rMsgLen {
			return c.fail(StatusMessageTooBig, "message exceeds the read limit")
		}
		c.rMsgLen += h.Length
		c.rRemain = h.Length
		c.rFin = h.Fin
		c.rMasked = h.Masked
		c.rKey = h.Key
		c.rPos = 0
		return nil
	}
}

// readHeader reads and checks the next frame header.
func (c *WebSocketConn) readHeader() (wsframe.Header, error) {
	b, err := c.r.Peek(2)
	if err != nil {
		return wsframe.Header{}, c.readFailed(err)
	}
	n := wsframe.HeaderLen(b[0], b[1])
	if n > 2 {
		if b, err = c.r.Peek(n); err != nil {
			return wsframe.Header{}, c.readFailed(err)
		}
	}
	h, err := wsframe.Decode(b[:n])
	c.r.Discard(n)
	c.noteActivity()
	if err != nil {
		return h, c.fail(StatusProtocolError, err.Error())
	}
	// §5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that
	// defines meanings for non-zero values"; permessage-deflate gives
	// RSV1 a meaning on the first frame of a message only.
	if h.Rsv != 0 && !c.compressedFrameAllowed(h) {
		return h, c.fail(StatusProtocolError, "reserved bits set")
	}
	// §5.1: "The server MUST close the connection upon receiving a frame
	// that is not masked" and "A client MUST close a connection if it
	// detects a masked frame."
	if h.Masked == c.client {
		if c.client {
			return h, c.fail(StatusProtocolError, "masked frame from server")
		}
		return h, c.fail(StatusProtocolError, "unmasked frame from client")
	}
	return h, nil
}

// noteActivity records, for keepalive, that a frame has been read. The
// clock is read once per read from the transport that brought data,
// when the first frame after it is read: frames that arrived together
// count as activity at the same time.
func (c *WebSocketConn) noteActivity() {
	if c.set.idle > 0 && c.rSeen != c.r.reads {
		c.stampActivity()
	}
}

// stampActivity stores the time of the latest read for keepalive. Kept
// out of line so that noteActivity inlines.
//
//go:noinline
func (c *WebSocketConn) stampActivity() {
	c.rSeen = c.r.reads
	// For keepalive, the only reader of the clock.
	c.lastRead.Store(c.now())
}

// handleControl reads a control frame's payload and acts on it.
func (c *WebSocketConn) handleControl(h wsframe.Header) error {
	p := c.ctrl[:h.Length]
	if _, err := io.ReadFull(c.r, p); err != nil {
		return c.readFailed(err)
	}
	if h.Masked {
		wsframe.Mask(h.Key, 0, p)
	}
	switch h.Opcode {
	case wsframe.OpPing:
		// §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a
		// Pong frame in response", with "identical Application data".
		// A failed write tears the connection down; the next read
		// reports it. A ping already buffered behind this one is
		// answered instead (pingFollows).
		if !c.pingFollows() {
			c.writeControl(wsframe.OpPong, p)
		}
	case wsframe.OpPong:
		// §5.5.3: an unsolicited pong needs no response.
		c.gotPong(p)
	case wsframe.OpClose:
		return c.handleClose(p)
	}
	return nil
}

// readFailed turns a transport read error into the connection's error.
func (c *WebSocketConn) readFailed(err error) error {
	if cerr := c.closedErr(); cerr != nil {
		c.readErr = cerr
		return cerr
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	cerr := &CloseError{Code: StatusAbnormalClosure, Err: err}
	c.readErr = cerr
	c.teardown(cerr)
	return cerr
}

// fail fails the connection (§7.1.7): it sends a close frame with code,
// stops reading and closes the transport. The reader must hold readMu.
func (c *WebSocketConn) fail(code StatusCode, reason string) error {
	cerr := &CloseError{Code: code, Reason: reason}
	c.readErr = cerr
	c.sendClose(code, reason)
	c.linger(cerr, true)
	return cerr
}

// linger finishes a connection after this side's close frame went out:
// it half-closes the transport when asked (so the peer sees the end
// without the reset that closing over unread data would cause), discards
// what the peer still sends for at most CloseTimeout, then tears down.
func (c *WebSocketConn) linger(err error, halfClose bool) {
	if c.isClosed() {
		return
	}
	if cw, ok := c.closer.(interface{ CloseWrite() error }); ok && halfClose {
		cw.CloseWrite()
	}
	if c.dl != nil {
		c.dl.SetReadDeadline(time.Now().Add(c.set.closeTimeout))
		for {
			if _, err := c.r.Discard(c.r.Size()); err != nil {
				break
			}
		}
	}
	c.teardown(err)
}
