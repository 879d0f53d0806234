package server

import (
	"bufio"
	"bytes"
	"compress/flate"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// github.com/gobwas/ws through its low-level API, as its README shows for
// performance: ReadHeader, a reused payload buffer, Cipher and WriteHeader
// for echo (each frame echoed as it came, so fragmented messages come back
// fragmented the same way); frames compiled once with MustCompileFrame and a
// writer goroutine per subscriber, fed by a buffered channel and flushing
// whatever is queued at once, for broadcast.

func init() {
	Register(Impl{Name: "gobwas", Protocol: WebSocket, New: newGobwas})
}

type gobwasServer struct {
	mu   sync.Mutex
	subs map[*gobwasSub]struct{}
}

type gobwasSub struct {
	conn net.Conn
	send chan []byte
}

func newGobwas() Server {
	return &gobwasServer{subs: make(map[*gobwasSub]struct{})}
}

// gobwasControl answers a control frame whose (unmasked) payload is p and
// reports whether the connection goes on.
func gobwasControl(conn net.Conn, bw *bufio.Writer, h ws.Header, p []byte) bool {
	switch h.OpCode {
	case ws.OpPing:
		_ = ws.WriteFrame(bw, ws.NewPongFrame(p))
		return bw.Flush() == nil
	case ws.OpClose:
		_ = ws.WriteFrame(bw, ws.NewCloseFrame(p))
		_ = bw.Flush()
		return false
	}
	return true
}

func (s *gobwasServer) Echo(w http.ResponseWriter, r *http.Request) {
	conn, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return
	}
	defer conn.Close()
	var buf []byte
	for {
		h, err := ws.ReadHeader(rw.Reader)
		if err != nil || h.Length > MaxMessage {
			return
		}
		if int64(cap(buf)) < h.Length {
			buf = make([]byte, h.Length)
		}
		p := buf[:h.Length]
		if _, err := io.ReadFull(rw.Reader, p); err != nil {
			return
		}
		if h.Masked {
			ws.Cipher(p, h.Mask, 0)
			h.Masked = false
		}
		if h.OpCode.IsControl() {
			if !gobwasControl(conn, rw.Writer, h, p) {
				return
			}
			continue
		}
		if ws.WriteHeader(rw.Writer, h) != nil {
			return
		}
		if _, err := rw.Writer.Write(p); err != nil {
			return
		}
		if rw.Writer.Flush() != nil {
			return
		}
	}
}

// EchoDeflate negotiates permessage-deflate without context takeover with
// wsflate.Extension and its DefaultParameters, as the library's README
// shows. wsflate leaves messages to the application: the loop reassembles
// each message, inflates it when its RSV1 bit is set with a wsflate.Reader
// over compress/flate, and sends it back in one frame, compressed with a
// wsflate.Writer at DeflateLevel from DeflateThreshold bytes. The reader and
// writer are made once per connection and reset per message (the flate
// reader through gobwasInflater, as wsflate only resets a Decompressor with
// a Reset(io.Reader) method).
func (s *gobwasServer) EchoDeflate(w http.ResponseWriter, r *http.Request) {
	ext := wsflate.Extension{Parameters: wsflate.DefaultParameters}
	conn, rw, _, err := ws.HTTPUpgrader{Negotiate: ext.Negotiate}.Upgrade(r, w)
	if err != nil {
		return
	}
	defer conn.Close()
	_, deflate := ext.Accepted()
	fr := wsflate.NewReader(nil, func(r io.Reader) wsflate.Decompressor {
		return gobwasInflater{flate.NewReader(r)}
	})
	fw := wsflate.NewWriter(nil, func(w io.Writer) wsflate.Compressor {
		f, _ := flate.NewWriter(w, DeflateLevel)
		return f
	})
	var (
		buf        []byte       // frame payload
		msg        []byte       // message being reassembled
		op         ws.OpCode    // its opcode
		compressed bool         // its RSV1 bit
		in, out    bytes.Buffer // inflated and deflated payloads
	)
	for {
		h, err := ws.ReadHeader(rw.Reader)
		if err != nil || h.Length > MaxMessage {
			return
		}
		if int64(cap(buf)) < h.Length {
			buf = make([]byte, h.Length)
		}
		p := buf[:h.Length]
		if _, err := io.ReadFull(rw.Reader, p); err != nil {
			return
		}
		if h.Masked {
			ws.Cipher(p, h.Mask, 0)
		}
		if h.OpCode.IsControl() {
			if !gobwasControl(conn, rw.Writer, h, p) {
				return
			}
			continue
		}
		if h.OpCode != ws.OpContinuation {
			op, compressed, msg = h.OpCode, h.Rsv1(), msg[:0]
			if compressed && !deflate {
				return
			}
		}
		if len(msg)+len(p) > MaxMessage {
			return
		}
		msg = append(msg, p...)
		if !h.Fin {
			continue
		}
		payload := msg
		if compressed {
			in.Reset()
			fr.Reset(bytes.NewReader(msg))
			if n, err := in.ReadFrom(io.LimitReader(fr, MaxMessage+1)); err != nil || n > MaxMessage {
				return
			}
			payload = in.Bytes()
		}
		rh := ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))}
		if deflate && len(payload) >= DeflateThreshold {
			out.Reset()
			fw.Reset(&out)
			if _, err := fw.Write(payload); err != nil || fw.Flush() != nil {
				return
			}
			payload = out.Bytes()
			rh.Length, rh.Rsv = int64(len(payload)), ws.Rsv(true, false, false)
		}
		if ws.WriteHeader(rw.Writer, rh) != nil {
			return
		}
		if _, err := rw.Writer.Write(payload); err != nil {
			return
		}
		if rw.Writer.Flush() != nil {
			return
		}
	}
}

// gobwasInflater lets wsflate.Reader reset a compress/flate reader instead
// of making a new one per message.
type gobwasInflater struct{ io.ReadCloser }

func (f gobwasInflater) Reset(r io.Reader) { _ = f.ReadCloser.(flate.Resetter).Reset(r, nil) }

func (s *gobwasServer) Subscribe(w http.ResponseWriter, r *http.Request) {
	conn, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return
	}
	sub := &gobwasSub{conn: conn, send: make(chan []byte, SendQueue)}
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	var wmu sync.Mutex // the writer goroutine and control replies share rw.Writer
	done := make(chan struct{})
	go func() {
		defer close(done)
		for frame := range sub.send {
			wmu.Lock()
			_, err := rw.Writer.Write(frame)
			for more := true; more && err == nil; {
				select {
				case f, ok := <-sub.send:
					if !ok {
						more = false
						break
					}
					_, err = rw.Writer.Write(f)
				default:
					more = false
				}
			}
			if err == nil {
				err = rw.Writer.Flush()
			}
			wmu.Unlock()
			if err != nil {
				conn.Close()
				for range sub.send {
				}
				return
			}
		}
	}()
	var ctl [125]byte
	for {
		h, err := ws.ReadHeader(rw.Reader)
		if err != nil || h.Length > MaxMessage {
			break
		}
		if h.OpCode.IsControl() {
			if h.Length > int64(len(ctl)) {
				break
			}
			p := ctl[:h.Length]
			if _, err := io.ReadFull(rw.Reader, p); err != nil {
				break
			}
			ws.Cipher(p, h.Mask, 0)
			wmu.Lock()
			ok := gobwasControl(conn, rw.Writer, h, p)
			wmu.Unlock()
			if !ok {
				break
			}
			continue
		}
		if _, err := io.CopyN(io.Discard, rw.Reader, h.Length); err != nil {
			break
		}
	}
	s.drop(sub)
	<-done
	conn.Close()
}

func (s *gobwasServer) drop(sub *gobwasSub) {
	s.mu.Lock()
	if _, ok := s.subs[sub]; ok {
		delete(s.subs, sub)
		close(sub.send)
	}
	s.mu.Unlock()
}

func (s *gobwasServer) Broadcast(msg []byte) {
	frame := ws.MustCompileFrame(ws.NewBinaryFrame(msg))
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		select {
		case sub.send <- frame:
		default:
			delete(s.subs, sub)
			close(sub.send)
		}
	}
}

func (s *gobwasServer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		sub.conn.Close()
	}
	return nil
}
