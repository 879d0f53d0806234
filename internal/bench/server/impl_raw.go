package server

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"sync"
)

// The raw-TCP baseline: the same HTTP request as a WebSocket handshake,
// answered 101, then length-prefixed frames (4-byte big-endian length and
// the payload) with no masking, no opcodes and no validation. Broadcast
// encodes each frame once and queues it to every subscriber; one writer
// goroutine per subscriber sends everything queued with a single writev.
// It is the ceiling of what this machine does with a goroutine-per-connection
// Go server, not a usable protocol.

func init() {
	Register(Impl{Name: "raw", Protocol: Raw, New: newRaw})
}

type rawServer struct {
	mu   sync.Mutex
	subs map[*rawSub]struct{}
}

type rawSub struct {
	conn    net.Conn
	mu      sync.Mutex
	pending [][]byte
	closed  bool
	wake    chan struct{}
}

func newRaw() Server {
	return &rawServer{subs: make(map[*rawSub]struct{})}
}

const rawSwitch = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw\r\nConnection: Upgrade\r\n\r\n"

// rawHijack answers the request 101 and returns the connection.
func rawHijack(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, bool) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil, false
	}
	if _, err := rw.Writer.WriteString(rawSwitch); err != nil || rw.Writer.Flush() != nil {
		conn.Close()
		return nil, nil, false
	}
	return conn, rw, true
}

func (s *rawServer) Echo(w http.ResponseWriter, r *http.Request) {
	conn, rw, ok := rawHijack(w)
	if !ok {
		return
	}
	defer conn.Close()
	var hdr [4]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(rw.Reader, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > MaxMessage {
			return
		}
		if uint32(cap(buf)) < n {
			buf = make([]byte, n)
		}
		p := buf[:n]
		if _, err := io.ReadFull(rw.Reader, p); err != nil {
			return
		}
		rw.Writer.Write(hdr[:])
		rw.Writer.Write(p)
		if rw.Writer.Flush() != nil {
			return
		}
	}
}

func (s *rawServer) Subscribe(w http.ResponseWriter, r *http.Request) {
	conn, rw, ok := rawHijack(w)
	if !ok {
		return
	}
	sub := &rawSub{conn: conn, wake: make(chan struct{}, 1)}
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var batch [][]byte
		for range sub.wake {
			sub.mu.Lock()
			batch, sub.pending = sub.pending, batch[:0]
			sub.mu.Unlock()
			bufs := net.Buffers(batch)
			if _, err := bufs.WriteTo(conn); err != nil {
				conn.Close()
				return
			}
			clear(batch)
		}
	}()
	_, _ = io.Copy(io.Discard, rw.Reader)
	s.drop(sub)
	<-done
	conn.Close()
}

// drop removes sub and stops its writer; the caller holds no lock.
func (s *rawServer) drop(sub *rawSub) {
	s.mu.Lock()
	delete(s.subs, sub)
	s.mu.Unlock()
	sub.mu.Lock()
	if !sub.closed {
		sub.closed = true
		close(sub.wake)
	}
	sub.mu.Unlock()
}

func (s *rawServer) Broadcast(msg []byte) {
	frame := make([]byte, 4+len(msg))
	binary.BigEndian.PutUint32(frame, uint32(len(msg)))
	copy(frame[4:], msg)
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		sub.mu.Lock()
		if sub.closed {
			sub.mu.Unlock()
			continue
		}
		if len(sub.pending) >= SendQueue {
			sub.closed = true
			close(sub.wake)
			sub.conn.Close()
			sub.mu.Unlock()
			delete(s.subs, sub)
			continue
		}
		sub.pending = append(sub.pending, frame)
		select {
		case sub.wake <- struct{}{}:
		default:
		}
		sub.mu.Unlock()
	}
}

func (s *rawServer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		sub.conn.Close()
	}
	return nil
}
