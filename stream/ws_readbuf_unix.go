//go:build unix

package stream

import (
	"io"
	"net"
	"os"
	"syscall"
)

// readWaiter reads from a socket through its syscall.RawConn, so that the
// runtime's poller waits for data before any buffer is taken: a read that
// finds nothing gives the connection's buffer back and parks.
type readWaiter struct {
	rc   syscall.RawConn
	conn net.Conn
	cr   *connReader
	fn   func(fd uintptr) bool // made once: a closure per read would allocate

	// State of the read in progress.
	p   []byte // the caller's slice, or nil for the buffer's free end
	n   int
	err error
}

// newReadWaiter returns a waiter for TCP and Unix sockets, and nil for
// any other transport.
func newReadWaiter(src io.Reader, cr *connReader) *readWaiter {
	rc, conn, ok := socketRawConn(src)
	if !ok {
		return nil
	}
	w := &readWaiter{rc: rc, conn: conn, cr: cr}
	w.fn = w.tryRead
	return w
}

// socketRawConn returns the syscall.RawConn of a TCP or Unix socket, and
// the socket; ok is false for any other transport.
func socketRawConn(x any) (rc syscall.RawConn, conn net.Conn, ok bool) {
	var sc interface {
		net.Conn
		syscall.Conn
	}
	switch c := x.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return nil, nil, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, nil, false
	}
	return rc, sc, true
}

// tryRead makes one non-blocking read; it reports false, after giving
// back an empty buffer, when there is nothing to read yet.
func (w *readWaiter) tryRead(fd uintptr) bool {
	p := w.p
	if p == nil {
		w.cr.acquire()
		p = w.cr.buf[w.cr.w:]
	}
	for {
		w.n, w.err = syscall.Read(int(fd), p)
		if w.err != syscall.EINTR {
			break
		}
	}
	if w.err == syscall.EAGAIN {
		if w.p == nil {
			w.cr.release()
		}
		return false
	}
	return true
}

// read reads once into p, or into the free end of the connection's
// buffer when p is nil, with net.Conn.Read's results: io.EOF at the end
// of the stream, a *net.OpError otherwise.
func (w *readWaiter) read(p []byte) (int, error) {
	w.p = p
	err := w.rc.Read(w.fn)
	n, serr := w.n, w.err
	w.p, w.n, w.err = nil, 0, nil
	if err != nil {
		// Closed, or the read deadline passed, while waiting.
		return 0, err
	}
	if serr != nil {
		return 0, &net.OpError{Op: "read", Net: w.conn.LocalAddr().Network(), Source: w.conn.LocalAddr(), Addr: w.conn.RemoteAddr(), Err: os.NewSyscallError("read", serr)}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}
