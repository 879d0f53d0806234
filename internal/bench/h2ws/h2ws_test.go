package h2ws

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/stdrealtime/realtime/internal/wsframe"
	"github.com/stdrealtime/realtime/internal/wstest"
	"github.com/stdrealtime/realtime/stream"
)

const (
	childEnv = "H2WS_BENCH_CHILD"
	serveEnv = "H2WS_BENCH_SERVE"
)

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) != "" {
		serve()
		return
	}
	if !stream.ExtendedConnectEnabled() && os.Getenv(childEnv) == "" {
		godebug := "http2xconnect=1"
		if g := os.Getenv("GODEBUG"); g != "" {
			godebug = g + "," + godebug
		}
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Env = append(os.Environ(), "GODEBUG="+godebug, childEnv+"=1")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				os.Exit(ee.ExitCode())
			}
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if !stream.ExtendedConnectEnabled() {
		fmt.Fprintln(os.Stderr, "h2ws: GODEBUG=http2xconnect=1 is set but extended CONNECT is not advertised")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// serve runs the echo server, TLS with HTTP/2 and HTTP/1.1, in this
// process until its standard input closes; it prints its address first.
// GET /heap answers the heap in use after a collection, and the number
// of goroutines.
func serve() {
	cfg := stream.WSConfig{ReadLimit: 1 << 20, ReadIdleTimeout: -1}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := stream.Upgrade(w, r, cfg)
		if err != nil {
			return
		}
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, p); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("GET /heap", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(w, "%d %d", ms.HeapInuse, runtime.NumGoroutine())
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	fmt.Println(srv.Listener.Addr())
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
}

// server is an echo server process under test.
type server struct {
	addr string
	tls  *tls.Config
	h2   *http2.Transport
}

func startServer(tb testing.TB) *server {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serveEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		in.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		tb.Fatalf("server did not start: %v", err)
	}
	// The benchmark trusts the test certificate of the server it
	// started.
	s := &server{addr: strings.TrimSpace(line), tls: &tls.Config{InsecureSkipVerify: true}}
	s.h2 = &http2.Transport{TLSClientConfig: s.tls.Clone()}
	tb.Cleanup(s.h2.CloseIdleConnections)
	return s
}

// heap returns the server's heap in use and its goroutines.
func (s *server) heap(tb testing.TB) (heap, goroutines float64) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, "https://"+s.addr+"/heap", nil)
	res, err := s.h2.RoundTrip(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	if _, err := fmt.Fscan(res.Body, &heap, &goroutines); err != nil {
		tb.Fatal(err)
	}
	return heap, goroutines
}

// dial opens a WebSocket over proto ("http1.1" or "http2") and returns a
// raw client peer on it.
func (s *server) dial(tb testing.TB, proto string) *wstest.Peer {
	tb.Helper()
	addr := s.addr
	var conn net.Conn
	var br *bufio.Reader
	switch proto {
	case "http1.1":
		cfg := s.tls.Clone()
		cfg.NextProtos = []string{"http/1.1"}
		tc, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			tb.Fatal(err)
		}
		req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
			wstest.Key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
		if _, err := tc.Write([]byte(req)); err != nil {
			tb.Fatal(err)
		}
		br = bufio.NewReader(tc)
		res, err := http.ReadResponse(br, nil)
		if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
			tb.Fatalf("HTTP/1.1 handshake: %v %v", res, err)
		}
		conn = tc
	case "http2":
		pr, pw := io.Pipe()
		req, err := http.NewRequest(http.MethodConnect, "https://"+addr+"/ws", pr)
		if err != nil {
			tb.Fatal(err)
		}
		req.Header[":protocol"] = []string{"websocket"}
		req.Header.Set("Sec-WebSocket-Version", "13")
		res, err := s.h2.RoundTrip(req)
		if err != nil || res.StatusCode != http.StatusOK {
			tb.Fatalf("HTTP/2 extended CONNECT: %v %v", res, err)
		}
		conn = &streamConn{r: res.Body, w: pw}
		br = bufio.NewReader(conn)
	}
	return &wstest.Peer{Conn: conn, R: br, Client: true, MaskKey: [4]byte{1, 2, 3, 4}}
}

// streamConn is the client's end of an HTTP/2 stream as a net.Conn.
type streamConn struct {
	r io.ReadCloser
	w *io.PipeWriter
}

func (c *streamConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *streamConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c *streamConn) Close() error {
	c.w.Close()
	return c.r.Close()
}
func (c *streamConn) LocalAddr() net.Addr              { return nil }
func (c *streamConn) RemoteAddr() net.Addr             { return nil }
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

var protos = []string{"http1.1", "http2"}

// echo sends p and reads its echo.
func echo(p *wstest.Peer, msg []byte) error {
	if err := p.WriteFrame(true, wsframe.OpBinary, msg); err != nil {
		return err
	}
	f, err := p.ReadFrame()
	if err != nil {
		return err
	}
	if !bytes.Equal(f.Payload, msg) {
		return errors.New("echo differs")
	}
	return nil
}

func TestEcho(t *testing.T) {
	s := startServer(t)
	for _, proto := range protos {
		t.Run(proto, func(t *testing.T) {
			p := s.dial(t, proto)
			defer p.Close()
			for _, n := range []int{0, 125, 70_000} {
				if err := echo(p, bytes.Repeat([]byte{'x'}, n)); err != nil {
					t.Fatalf("%d bytes: %v", n, err)
				}
			}
		})
	}
}

// BenchmarkEcho is one connection's round trips: a binary message out,
// its echo back.
func BenchmarkEcho(b *testing.B) {
	s := startServer(b)
	for _, size := range []int{128, 16 << 10} {
		msg := bytes.Repeat([]byte{'x'}, size)
		for _, proto := range protos {
			b.Run(fmt.Sprintf("%s/%dB", proto, size), func(b *testing.B) {
				p := s.dial(b, proto)
				defer p.Close()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := echo(p, msg); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkConnMemory opens 200 connections that each echoed one message
// and reports the heap and goroutines the server process holds for them,
// per connection. Over HTTP/2 they are streams on one TCP connection (the
// server allows 250 per connection).
func BenchmarkConnMemory(b *testing.B) {
	const n = 200
	for _, proto := range protos {
		b.Run(proto, func(b *testing.B) {
			s := startServer(b)
			var heap, goroutines float64
			for b.Loop() {
				h0, g0 := s.heap(b)
				peers := make([]*wstest.Peer, n)
				for i := range peers {
					peers[i] = s.dial(b, proto)
					if err := echo(peers[i], []byte("hello")); err != nil {
						b.Fatal(err)
					}
				}
				h1, g1 := s.heap(b)
				heap += h1 - h0
				goroutines += g1 - g0
				for _, p := range peers {
					p.Close()
				}
			}
			b.ReportMetric(heap/float64(b.N)/n, "server-heap-B/conn")
			b.ReportMetric(goroutines/float64(b.N)/n, "server-goroutines/conn")
		})
	}
}
