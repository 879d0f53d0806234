package stream

import (
	"encoding/binary"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/stdrealtime/realtime/internal/wsframe"
)

var errCloseTimeout = errors.New("closing handshake timed out")

// Close closes the connection with status 1000 (normal closure). See
// CloseWithStatus.
func (c *WebSocketConn) Close() error { return c.CloseWithStatus(StatusNormalClosure, "") }

// CloseWithStatus starts the closing handshake with code and reason,
// waits up to CloseTimeout for the peer's close frame, and closes the
// connection. code must be one that may be sent (1000–1003, 1007–1014 or
// 3000–4999) and reason valid UTF-8 of at most 123 bytes. It is
// idempotent and safe from any goroutine: later and concurrent calls wait
// for the same close and return nil. A reader in progress returns the
// peer's close status.
func (c *WebSocketConn) CloseWithStatus(code StatusCode, reason string) error {
	if !validWireStatus(code) {
		return errors.New("stream: websocket close: status code " + code.String() + " may not be sent")
	}
	// §5.5: control payloads are at most 125 bytes, 2 of them the code;
	// §5.5.1: the reason is UTF-8.
	if len(reason) > wsframe.MaxControlPayload-2 || !utf8.ValidString(reason) {
		return errors.New("stream: websocket close: reason must be valid UTF-8 of at most 123 bytes")
	}
	if c.isClosed() {
		return nil
	}
	if err := c.sendClose(code, reason); err != nil && !c.isClosed() {
		// Someone else sent the close frame already; wait for it.
		c.awaitClose()
		return nil
	}
	if c.readMu.TryLock() {
		// No reader: read the peer's answer here, discarding data
		// frames that were already on their way.
		if c.readErr == nil {
			if c.dl != nil {
				c.dl.SetReadDeadline(time.Now().Add(c.set.closeTimeout))
			}
			for c.readErr == nil {
				c.drainMessage()
			}
		}
		c.readMu.Unlock()
		c.teardown(&CloseError{Code: code, Reason: reason})
		return nil
	}
	c.awaitClose()
	return nil
}

// awaitClose waits for the reader to finish the closing handshake, at
// most CloseTimeout, then closes the transport.
func (c *WebSocketConn) awaitClose() {
	t := time.NewTimer(c.set.closeTimeout)
	defer t.Stop()
	select {
	case <-c.closed:
	case <-t.C:
		c.teardown(&CloseError{Code: StatusAbnormalClosure, Err: errCloseTimeout})
	}
}

// drainMessage reads and discards one message; errors end up in readErr.
func (c *WebSocketConn) drainMessage() {
	if err := c.beginMessage(); err != nil {
		return
	}
	for c.readErr == nil {
		for c.rRemain > 0 {
			if _, err := c.readPayload(c.ctrl[:]); err != nil {
				return
			}
		}
		if c.rFin {
			c.endMessage()
			return
		}
		c.nextDataFrame()
	}
}

// sendClose sends a close frame with code (omitted for 1005) and reason.
func (c *WebSocketConn) sendClose(code StatusCode, reason string) error {
	var buf [wsframe.MaxControlPayload]byte
	p := buf[:0]
	if code != StatusNoStatusReceived {
		p = binary.BigEndian.AppendUint16(p, uint16(code))
		p = append(p, reason...)
	}
	return c.writeControl(wsframe.OpClose, p)
}

// handleClose acts on a received close frame. The reader holds readMu.
func (c *WebSocketConn) handleClose(p []byte) error {
	code := StatusNoStatusReceived
	var reason []byte
	switch {
	case len(p) == 1:
		// §5.5.1: a body "MUST start with a two-byte unsigned integer".
		return c.fail(StatusProtocolError, "close frame with a 1-byte payload")
	case len(p) >= 2:
		code = StatusCode(binary.BigEndian.Uint16(p))
		reason = p[2:]
		// §7.4: only defined or registrable codes may be received.
		if !validWireStatus(code) {
			return c.fail(StatusProtocolError, "invalid close code")
		}
		// §5.5.1: the reason is UTF-8; §8.1 fails invalid UTF-8.
		if !utf8.Valid(reason) {
			return c.fail(StatusInvalidFramePayloadData, "invalid UTF-8 in close reason")
		}
	}
	cerr := &CloseError{Code: code, Reason: string(reason), Remote: true}
	c.readErr = cerr
	// §5.5.1: "If an endpoint receives a Close frame and did not
	// previously send a Close frame, the endpoint MUST send a Close frame
	// in response", typically echoing the status code. After a close
	// this side started, sendClose fails harmlessly.
	c.sendClose(code, "")
	if c.client {
		// §7.1.1: the client waits for the server to close the TCP
		// connection, at most CloseTimeout.
		c.linger(cerr, false)
	} else {
		// §7.1.1: "the server MUST close the underlying TCP connection
		// immediately" once both close frames have been exchanged.
		c.teardown(cerr)
	}
	return cerr
}
