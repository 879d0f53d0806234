//go:build linux

package stream

import (
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// writeWaiter writes vectored frames to a socket through its
// syscall.RawConn. The write deadline is armed only once a write finds
// the socket's send buffer full and has to wait, and lifted when that
// write is done: a write that goes through at once, which is nearly every
// write to a peer that keeps up, costs one system call and no timer. A
// write that waits still gives up WriteTimeout after it first had to.
type writeWaiter struct {
	rc      syscall.RawConn
	conn    net.Conn
	timeout time.Duration // <= 0: none
	fn      func(fd uintptr) bool
	// setDeadline is the socket's SetWriteDeadline.
	setDeadline func(time.Time) error

	// State of the write in progress, guarded by the connection's
	// frameMu.
	bufs  [][]byte // what is left to write
	iov   []syscall.Iovec
	armed bool // the deadline is set and must be lifted
	err   error
}

// maxWriteIov is the most buffers one writev is given (Linux's IOV_MAX is
// 1024).
const maxWriteIov = 1024

// newWriteWaiter returns a waiter for TCP and Unix sockets, and nil for
// any other transport.
func newWriteWaiter(dst any, timeout time.Duration) *writeWaiter {
	rc, conn, ok := socketRawConn(dst)
	if !ok {
		return nil
	}
	w := &writeWaiter{rc: rc, conn: conn, timeout: timeout}
	w.fn = w.tryWrite
	w.setDeadline = w.conn.SetWriteDeadline
	return w
}

// write writes every byte of bufs, consuming the slice (not the buffers
// it holds), and returns net.Conn.Write's kind of error.
func (w *writeWaiter) write(bufs [][]byte) error {
	w.bufs = bufs
	err := w.rc.Write(w.fn)
	serr := w.err
	if w.armed {
		w.armed = false
		w.setDeadline(time.Time{})
	}
	clear(w.iov) // keep no payload reachable
	if cap(w.iov) > maxKeptVec {
		w.iov = nil // a burst's array is not kept while idle
	}
	w.bufs, w.err = nil, nil
	if err == nil && serr != nil {
		err = os.NewSyscallError("writev", serr)
	}
	if err != nil {
		return &net.OpError{Op: "writev", Net: w.conn.LocalAddr().Network(), Source: w.conn.LocalAddr(), Addr: w.conn.RemoteAddr(), Err: err}
	}
	return nil
}

// tryWrite writes what it can without blocking. It reports false, after
// arming the deadline, when the socket cannot take more yet.
func (w *writeWaiter) tryWrite(fd uintptr) bool {
	for {
		for len(w.bufs) > 0 && len(w.bufs[0]) == 0 {
			w.bufs = w.bufs[1:]
		}
		if len(w.bufs) == 0 {
			return true
		}
		w.iov = w.iov[:0]
		for _, b := range w.bufs {
			if len(b) == 0 {
				continue
			}
			w.iov = append(w.iov, syscall.Iovec{Base: &b[0]})
			w.iov[len(w.iov)-1].SetLen(len(b))
			if len(w.iov) == maxWriteIov {
				break
			}
		}
		r, _, e := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
		switch e {
		case 0:
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if !w.armed && w.timeout > 0 {
				w.armed = true
				w.setDeadline(time.Now().Add(w.timeout))
			}
			return false
		default:
			w.err = e
			return true
		}
		w.consume(int64(r))
	}
}

// consume drops n written bytes from the front of bufs.
func (w *writeWaiter) consume(n int64) {
	for n > 0 {
		if k := int64(len(w.bufs[0])); k <= n {
			n -= k
			w.bufs = w.bufs[1:]
			continue
		}
		w.bufs[0] = w.bufs[0][n:]
		return
	}
}
