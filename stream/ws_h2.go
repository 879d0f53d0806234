package stream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var errStreamEnded = errors.New("HTTP/2 stream ended")

// upgradeH2 is Upgrade for an HTTP/2 extended CONNECT (RFC 8441).
func upgradeH2(w http.ResponseWriter, r *http.Request, cfg WSConfig) (*WebSocketConn, error) {
	// RFC 8441 §5: "The :protocol pseudo-header field MUST be included in
	// the CONNECT request, and it MUST have a value of websocket to
	// initiate a WebSocket connection on an HTTP/2 stream." net/http
	// hands the pseudo-header over as the request header ":protocol".
	if p := r.Header.Get(":protocol"); !strings.EqualFold(p, "websocket") {
		return refuseUpgrade(w, http.StatusBadRequest, "extended CONNECT needs :protocol websocket")
	}
	if err := checkVersion(w, r); err != nil {
		return nil, err
	}
	// RFC 8441 §5: Sec-WebSocket-Key and Sec-WebSocket-Accept are not
	// used; the rest of the handshake is the one of RFC 6455.
	n, err := negotiate(w, r, cfg)
	if err != nil {
		return nil, err
	}
	set := cfg.settings()
	s := newH2Stream(w, r)
	// The server's ReadTimeout and WriteTimeout armed the stream's
	// deadlines when the request arrived; like the hijacked connection
	// over HTTP/1.1, the WebSocket runs without them.
	s.rc.SetReadDeadline(time.Time{})
	s.rc.SetWriteDeadline(time.Time{})
	s.rc.EnableFullDuplex() // a no-op over HTTP/2, which is full duplex
	h := w.Header()
	if n.subprotocol != "" {
		h.Set("Sec-WebSocket-Protocol", n.subprotocol)
	}
	if n.compress {
		h.Set("Sec-WebSocket-Extensions", n.ext)
	}
	// RFC 8441 §5 and RFC 9113 §8.5: a 2xx answer to the CONNECT opens
	// the stream for WebSocket frames in both directions.
	w.WriteHeader(http.StatusOK)
	if set.writeTimeout > 0 {
		s.SetWriteDeadline(time.Now().Add(set.writeTimeout))
	}
	if _, err := s.Write(nil); err != nil {
		s.Close()
		n.abort()
		return nil, &HandshakeError{Op: "upgrade", Reason: "writing the response: " + err.Error()}
	}
	s.SetWriteDeadline(time.Time{})
	c := newConn(s, nil, nil, false, set, n.subprotocol)
	n.attach(c, cfg)
	// The stream's context ends when the client resets the stream, the
	// HTTP/2 connection fails or the handler returns.
	stop := context.AfterFunc(r.Context(), func() {
		c.teardown(&CloseError{Code: StatusAbnormalClosure, Err: errStreamEnded})
	})
	s.mu.Lock()
	s.stopCtx = stop
	closed := s.closed.Load()
	s.mu.Unlock()
	if closed {
		stop()
	}
	return c, nil
}

// h2Stream is the transport of a WebSocket over an HTTP/2 stream: the
// request body is read, the response written and flushed. It is a
// net.Conn so the frame code is the one used over TCP.
//
// Deadlines: a read deadline maps onto the stream's, and ends the stream
// when it passes, which the connection only uses while closing. A write
// deadline only applies while a Write is in progress, since the stream's
// own write deadline would reset the stream when it passes even with no
// write pending; a Write still running at the deadline resets the stream.
type h2Stream struct {
	body          io.ReadCloser
	w             http.ResponseWriter
	rc            *http.ResponseController
	local, remote net.Addr
	stopCtx       func() bool // guarded by mu

	wmu     sync.Mutex  // one Write at a time
	wtimer  *time.Timer // guarded by wmu
	expired atomic.Bool // the write timer fired
	wdl     atomic.Int64
	mu      sync.Mutex // orders Close against the write timer and SetReadDeadline
	closed  atomic.Bool
}

func newH2Stream(w http.ResponseWriter, r *http.Request) *h2Stream {
	s := &h2Stream{body: r.Body, w: w, rc: http.NewResponseController(w)}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		s.local = a
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		s.remote = net.TCPAddrFromAddrPort(ap)
	}
	return s
}

// Read reads from the request body: the client's frames.
func (s *h2Stream) Read(p []byte) (int, error) { return s.body.Read(p) }

// Write writes p as response body and flushes it, so a frame is on its
// way to the peer when Write returns. Write(nil) flushes the headers.
func (s *h2Stream) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed.Load() {
		return 0, net.ErrClosed
	}
	if d := s.wdl.Load(); d != 0 {
		left := time.Until(time.Unix(0, d))
		if left <= 0 {
			return 0, os.ErrDeadlineExceeded
		}
		if s.wtimer == nil {
			s.wtimer = time.AfterFunc(left, s.writeExpired)
		} else {
			s.wtimer.Reset(left)
		}
		defer s.wtimer.Stop()
	}
	n, err := s.w.Write(p)
	if err == nil {
		err = s.rc.Flush()
	}
	if err != nil && s.expired.Load() {
		err = os.ErrDeadlineExceeded
	}
	return n, err
}

// writeExpired runs when a Write outlives its deadline: it resets the
// stream, which ends the Write.
func (s *h2Stream) writeExpired() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return
	}
	s.expired.Store(true)
	s.rc.SetWriteDeadline(time.Unix(1, 0))
}

// Close ends the stream: later Writes fail, a Write in progress is ended
// by resetting the stream, and a Read in progress returns. The response
// itself ends when the handler returns.
func (s *h2Stream) Close() error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.closed.Store(true)
	if !s.wmu.TryLock() {
		// RFC 8441 §5.1: a stream reset stands for a TCP RST.
		s.rc.SetWriteDeadline(time.Unix(1, 0))
		s.wmu.Lock()
	}
	s.wmu.Unlock()
	stop := s.stopCtx
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	return s.body.Close()
}

func (s *h2Stream) LocalAddr() net.Addr  { return s.local }
func (s *h2Stream) RemoteAddr() net.Addr { return s.remote }

func (s *h2Stream) SetDeadline(t time.Time) error {
	s.SetWriteDeadline(t)
	return s.SetReadDeadline(t)
}

func (s *h2Stream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return net.ErrClosed
	}
	return s.rc.SetReadDeadline(t)
}

func (s *h2Stream) SetWriteDeadline(t time.Time) error {
	var d int64
	if !t.IsZero() {
		d = t.UnixNano()
	}
	s.wdl.Store(d)
	return nil
}
