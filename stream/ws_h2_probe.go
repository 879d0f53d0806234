package stream

import (
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// ExtendedConnectEnabled reports whether net/http's HTTP/2 server
// advertises extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL = 1,
// RFC 8441 §3), without which browsers open WebSockets over HTTP/1.1
// even to an HTTP/2 origin. It asks a server in memory once per process
// and reads the SETTINGS frame it sends; the answer then does not
// change. Safe for concurrent use.
//
// Up to Go 1.26 the server advertises it only when the GODEBUG
// environment variable holds http2xconnect=1 when the program starts:
// net/http reads the variable itself while initialising, so neither a
// //go:debug directive nor os.Setenv in the program can turn it on.
func ExtendedConnectEnabled() bool { return extendedConnect() }

var extendedConnect = sync.OnceValue(probeExtendedConnect)

// http2Preface is the client connection preface (RFC 9113 §3.4).
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// HTTP/2 frame and setting codes (RFC 9113 §6.5, RFC 8441 §3).
const (
	http2FrameSettings             = 0x4
	http2FlagAck                   = 0x1
	http2SettingEnableConnectProto = 0x8
)

// probeExtendedConnect serves one in-memory connection with HTTP/2 by
// prior knowledge and reports whether its first SETTINGS frame enables
// extended CONNECT.
func probeExtendedConnect() bool {
	client, server := net.Pipe()
	defer client.Close()
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	closed := make(chan struct{})
	srv := &http.Server{
		Protocols: &protos,
		Handler:   http.NotFoundHandler(),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed {
				close(closed)
			}
		},
	}
	l := &oneConnListener{conn: server, done: make(chan struct{})}
	served := make(chan struct{})
	go func() {
		srv.Serve(l)
		close(served)
	}()
	defer func() {
		client.Close()
		srv.Close()
		<-served
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
		}
	}()

	client.SetDeadline(time.Now().Add(5 * time.Second))
	// The server answers the preface, whatever the client's settings,
	// with its own SETTINGS frame first (RFC 9113 §3.4); writes and reads
	// run in parallel because net.Pipe does not buffer.
	go func() {
		var empty [9]byte
		empty[3] = http2FrameSettings
		client.Write(append([]byte(http2Preface), empty[:]...))
	}()
	var hdr [9]byte
	for range 4 {
		if _, err := io.ReadFull(client, hdr[:]); err != nil {
			return false
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		if n > 1<<14 {
			return false
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(client, payload); err != nil {
			return false
		}
		if hdr[3] != http2FrameSettings || hdr[4]&http2FlagAck != 0 {
			continue
		}
		for p := payload; len(p) >= 6; p = p[6:] {
			if binary.BigEndian.Uint16(p) == http2SettingEnableConnectProto {
				return binary.BigEndian.Uint32(p[2:]) == 1
			}
		}
		return false
	}
	return false
}

// oneConnListener accepts one connection, then blocks until closed.
type oneConnListener struct {
	mu   sync.Mutex
	conn net.Conn
	done chan struct{}
	once sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.conn
	l.conn = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
