package stream

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stdrealtime/realtime/internal/wsframe"
	"github.com/stdrealtime/realtime/internal/wstest"
)

// byteTransport is a transport reading from fixed bytes and discarding
// writes.
type byteTransport struct {
	io.Reader
	io.Writer
}

func (byteTransport) Close() error { return nil }

// FuzzReadFrames feeds arbitrary bytes to a connection in either role:
// reading must end in an error with a close status without panicking, no
// message may exceed the read limit, and every text message is UTF-8.
func FuzzReadFrames(f *testing.F) {
	key := [4]byte{1, 2, 3, 4}
	seeds := [][]byte{
		wstest.AppendFrame(nil, true, 0, wsframe.OpText, true, key, []byte("hello")),
		wstest.AppendFrame(wstest.AppendFrame(nil, false, 0, wsframe.OpText, true, key, []byte("caf\xc3")), true, 0, wsframe.OpContinuation, true, key, []byte("\xa9")),
		wstest.AppendFrame(nil, true, 0, wsframe.OpPing, true, key, []byte("p")),
		wstest.AppendFrame(nil, true, 0, wsframe.OpClose, true, key, wstest.ClosePayload(1000, "bye")),
		wstest.AppendFrame(nil, true, 0, wsframe.OpBinary, false, key, make([]byte, 300)),
		{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1},
		{0x82, 126, 0, 5, 'h', 'e', 'l', 'l', 'o'},
	}
	for _, s := range seeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, client bool) {
		tr := byteTransport{Reader: bytes.NewReader(data), Writer: io.Discard}
		set := resolveSettings(256, -1, -1, 0, 0, nil)
		c := newConn(tr, bufio.NewReaderSize(tr, 64), nil, client, set, "")
		for range 1000 {
			mt, p, err := c.ReadMessage()
			if err != nil {
				if CloseStatus(err) < 0 {
					t.Fatalf("error without close status: %v", err)
				}
				break
			}
			if len(p) > 256 {
				t.Fatalf("message of %d bytes past the limit", len(p))
			}
			// §8.1: a text message that is not UTF-8 fails the connection.
			if mt == TextMessage && !utf8.Valid(p) {
				t.Fatalf("text message %q is not UTF-8", p)
			}
		}
		c.Close()
	})
}

// hijackRecorder is a ResponseWriter whose connection can be hijacked;
// the handshake response lands in out.
type hijackRecorder struct {
	*httptest.ResponseRecorder
	out bytes.Buffer
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	a, b := net.Pipe()
	go func() { io.Copy(&h.out, b); b.Close() }()
	return a, bufio.NewReadWriter(bufio.NewReader(a), bufio.NewWriter(a)), nil
}

// FuzzUpgradeRequest parses arbitrary requests and upgrades them: Upgrade
// must either succeed or answer with one of the documented statuses.
func FuzzUpgradeRequest(f *testing.F) {
	good := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " + wstest.Key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	f.Add(good)
	f.Add(strings.Replace(good, "GET", "POST", 1))
	f.Add(strings.Replace(good, "13", "8", 1))
	f.Add(strings.Replace(good, wstest.Key, "c2hvcnQ=", 1))
	f.Add(strings.Replace(good, "\r\n\r\n", "\r\nOrigin: http://evil\r\n\r\n", 1))
	f.Add(strings.Replace(good, "\r\n\r\n", "\r\nSec-WebSocket-Protocol: a, b\r\n\r\n", 1))
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		w := &hijackRecorder{ResponseRecorder: httptest.NewRecorder()}
		c, err := Upgrade(w, r, WSConfig{Subprotocols: []string{"b"}, ReadIdleTimeout: -1})
		if err == nil {
			c.teardown(ErrClosed)
			return
		}
		he, ok := err.(*HandshakeError)
		if !ok {
			t.Fatalf("error %T %v", err, err)
		}
		switch he.Status {
		case 400, 403, 405, 426:
			if w.Code != he.Status {
				t.Fatalf("answered %d, error says %d", w.Code, he.Status)
			}
		default:
			t.Fatalf("unexpected status %d: %v", he.Status, err)
		}
	})
}

// FuzzDialResponse answers Dial's handshake with arbitrary bytes, in
// which {ACCEPT} stands for the correct accept key: Dial must return a
// connection or an error, never panic or hang.
func FuzzDialResponse(f *testing.F) {
	f.Add("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n")
	f.Add("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Protocol: chat\r\n\r\n\x81\x02hi")
	f.Add("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n")
	f.Add("HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope")
	f.Add("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, resp string) {
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			a, b := net.Pipe()
			go func() {
				defer b.Close()
				req, err := http.ReadRequest(bufio.NewReader(b))
				if err != nil {
					return
				}
				b.Write([]byte(strings.ReplaceAll(resp, "{ACCEPT}", wstest.Accept(req.Header.Get("Sec-WebSocket-Key")))))
			}()
			return a, nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, r, err := Dial(ctx, "ws://example.test/", DialConfig{NetDialContext: dial, Subprotocols: []string{"chat"}, ReadIdleTimeout: -1})
		if err == nil {
			if r == nil || r.StatusCode != 101 {
				t.Fatalf("connected without a 101 response")
			}
			c.teardown(ErrClosed)
			return
		}
		if _, ok := err.(*HandshakeError); !ok {
			t.Fatalf("error %T %v", err, err)
		}
	})
}
