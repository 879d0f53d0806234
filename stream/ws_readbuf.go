package stream

import (
	"bufio"
	"errors"
	"io"
	"sync"
)

// readBufSize is the size of a connection's read buffer.
const readBufSize = 4096

// readBufPool holds read buffers of readBufSize bytes that no connection
// is using.
var readBufPool = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// connReader is a connection's buffered reader. Unlike a bufio.Reader it
// holds no buffer while it has nothing buffered and waits for the peer:
// over a transport whose reads can wait for readiness without a buffer
// (TCP and Unix sockets, see waitRead), the buffer goes back to a pool
// and a connection that sits idle costs no buffer memory. Over any other
// transport the buffer, once taken, is kept. Reads at least as large as
// the buffer go straight into the caller's slice.
//
// It is used by the one reader of a connection, under readMu.
type connReader struct {
	src    io.Reader
	waiter *readWaiter // nil when reads cannot wait without a buffer
	size   int
	pooled bool // buf comes from (and returns to) readBufPool
	// lendable is pooled over a transport whose reads can wait without
	// a buffer: buf then goes back to the pool whenever it is empty.
	lendable bool
	bufp     *[]byte // what readBufPool gave, put back as is: no allocation
	buf      []byte
	r, w     int // buf[r:w] is buffered
	err      error
	reads    uint32 // reads from the transport that returned data, wrapping
}

// errNegativeRead reports a transport that returned a negative count.
var errNegativeRead = errors.New("stream: websocket read: transport returned a negative count")

// newConnReader returns a reader of src that starts with what br has
// buffered (bytes that arrived with the handshake); br may be nil. The
// buffer has br's size, or readBufSize.
func newConnReader(src io.Reader, br *bufio.Reader) *connReader {
	cr := &connReader{src: src, size: readBufSize}
	if br != nil && br.Size() != readBufSize {
		cr.size = br.Size()
	}
	cr.pooled = cr.size == readBufSize
	cr.waiter = newReadWaiter(src, cr)
	cr.lendable = cr.pooled && cr.waiter != nil
	if br != nil && br.Buffered() > 0 {
		p, _ := br.Peek(br.Buffered())
		cr.acquire()
		cr.w = copy(cr.buf, p)
		br.Discard(len(p))
	}
	return cr
}

// acquire makes sure buf is there.
func (cr *connReader) acquire() {
	if cr.buf == nil {
		cr.take()
	}
}

// take gets buf, from the pool when it is pooled. Kept out of line so
// that acquire inlines.
//
//go:noinline
func (cr *connReader) take() {
	if cr.pooled {
		cr.bufp = readBufPool.Get().(*[]byte)
		cr.buf = *cr.bufp
	} else {
		cr.buf = make([]byte, cr.size)
	}
}

// release hands an empty buffer back to the pool when the transport can
// wait without it.
func (cr *connReader) release() {
	if cr.r == cr.w && cr.lendable && cr.buf != nil {
		cr.giveBack()
	}
}

// giveBack puts buf back in the pool. Kept out of line so that release
// inlines.
//
//go:noinline
func (cr *connReader) giveBack() {
	readBufPool.Put(cr.bufp)
	cr.buf, cr.bufp = nil, nil
	cr.r, cr.w = 0, 0
}

// Size returns the size of the buffer.
func (cr *connReader) Size() int { return cr.size }

// Buffered returns the number of bytes that can be read without reading
// from the transport.
func (cr *connReader) Buffered() int { return cr.w - cr.r }

// readSrc reads once from the transport into p, or, when p is nil, into
// the free end of the buffer, which it takes only once data is there and
// gives back if it stays empty.
func (cr *connReader) readSrc(p []byte) (int, error) {
	var n int
	var err error
	switch {
	case cr.waiter == nil && p == nil:
		cr.acquire()
		n, err = cr.src.Read(cr.buf[cr.w:])
	case cr.waiter == nil:
		n, err = cr.src.Read(p)
	default:
		n, err = cr.waiter.read(p)
	}
	if n < 0 {
		return 0, errNegativeRead
	}
	if n > 0 {
		cr.reads++
	}
	if p == nil {
		cr.w += n
		if err != nil {
			// The connection is ending: an empty buffer goes back
			// to the pool now rather than to the garbage collector
			// with the connection.
			cr.release()
		}
	}
	return n, err
}

// fill reads more into the buffer, moving what is buffered to its start
// first.
func (cr *connReader) fill() {
	if cr.r > 0 {
		copy(cr.buf, cr.buf[cr.r:cr.w])
		cr.w -= cr.r
		cr.r = 0
	}
	// A transport may return 0, nil; bufio gives up after 100 of those.
	for range 100 {
		n, err := cr.readSrc(nil)
		if err != nil {
			cr.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	cr.err = io.ErrNoProgress
}

// readErr returns and clears the pending error.
func (cr *connReader) readErr() error {
	err := cr.err
	cr.err = nil
	return err
}

// Peek returns the next n bytes without consuming them; n must not
// exceed the buffer's size. The slice is valid until the next read.
func (cr *connReader) Peek(n int) ([]byte, error) {
	for cr.w-cr.r < n && cr.err == nil {
		cr.fill()
	}
	if cr.w-cr.r < n {
		return cr.buf[cr.r:cr.w], cr.readErr()
	}
	return cr.buf[cr.r : cr.r+n], nil
}

// Discard skips the next n bytes, reading them if need be, and returns
// how many it skipped.
func (cr *connReader) Discard(n int) (int, error) {
	done := 0
	for {
		k := min(n-done, cr.w-cr.r)
		cr.r += k
		done += k
		if cr.r == cr.w {
			cr.release()
		}
		if done == n {
			return done, nil
		}
		if cr.err != nil {
			return done, cr.readErr()
		}
		cr.fill()
	}
}

// Read reads up to len(p) bytes into p, with at most one read from the
// transport, like bufio.Reader.Read.
func (cr *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		if cr.w > cr.r {
			return 0, nil
		}
		return 0, cr.readErr()
	}
	if cr.r == cr.w {
		if cr.err != nil {
			return 0, cr.readErr()
		}
		if len(p) >= cr.size {
			// Large read into an empty buffer: straight into p.
			n, err := cr.readSrc(p)
			return n, err
		}
		cr.r, cr.w = 0, 0
		n, err := cr.readSrc(nil)
		if n == 0 {
			cr.release()
			return 0, err
		}
		cr.err = err
	}
	n := copy(p, cr.buf[cr.r:cr.w])
	cr.r += n
	if cr.r == cr.w {
		cr.release()
	}
	return n, nil
}

// ReadByte reads one byte.
func (cr *connReader) ReadByte() (byte, error) {
	for cr.r == cr.w {
		if cr.err != nil {
			return 0, cr.readErr()
		}
		cr.fill()
	}
	b := cr.buf[cr.r]
	cr.r++
	if cr.r == cr.w {
		cr.release()
	}
	return b, nil
}
