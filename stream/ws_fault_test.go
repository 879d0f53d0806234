package stream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/internal/wsframe"
	"github.com/stdrealtime/realtime/internal/wstest"
)

// faultServer is a WebSocket server for fault injection. Each request
// path runs its own handler on the upgraded connection; the handler's
// final error and the connection's counters arrive on that path's result
// channel. A Limiter with a generous cap counts the connections held, so
// tests can check that every fault gives its seat back.
type faultServer struct {
	srv     *httptest.Server
	addr    string
	lim     *Limiter
	handled atomic.Int32 // requests that reached the handler
	results map[string]chan faultResult
}

type faultResult struct {
	err   error
	stats WebSocketStats
}

// faultFlood writes 256 KiB messages until a write fails.
func faultFlood(c *WebSocketConn) error {
	msg := make([]byte, 256<<10)
	for range 1000 {
		if err := c.WriteBinary(msg); err != nil {
			return err
		}
	}
	return errors.New("1000 writes of 256 KiB never failed")
}

// startFaultServer serves "/" and "/healthy" with an echo loop and
// "/flood" with faultFlood. configure, if set, adjusts the http.Server
// before it starts; listen, if set, wraps the listener.
func startFaultServer(t *testing.T, cfg WSConfig, configure func(*http.Server), listen func(net.Listener) net.Listener) *faultServer {
	t.Helper()
	fs := &faultServer{
		lim:     NewLimiter(LimiterConfig{MaxConns: 100}),
		results: map[string]chan faultResult{"/": make(chan faultResult, 8), "/healthy": make(chan faultResult, 8), "/flood": make(chan faultResult, 8)},
	}
	cfg.Limiter = fs.lim
	routes := map[string]func(*WebSocketConn) error{"/": echoLoop, "/healthy": echoLoop, "/flood": faultFlood}
	fs.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.handled.Add(1)
		serve, ok := routes[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		c, err := Upgrade(w, r, cfg)
		if err != nil {
			fs.results[r.URL.Path] <- faultResult{err: err}
			return
		}
		err = serve(c)
		c.Close()
		fs.results[r.URL.Path] <- faultResult{err: err, stats: c.Stats()}
	}))
	// Cut-off handshakes are the point of some tests; do not log them.
	fs.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if configure != nil {
		configure(fs.srv.Config)
	}
	if listen != nil {
		fs.srv.Listener = listen(fs.srv.Listener)
	}
	fs.srv.Start()
	t.Cleanup(fs.srv.Close)
	fs.addr = strings.TrimPrefix(fs.srv.URL, "http://")
	return fs
}

// result returns the outcome of the next connection served on path.
func (fs *faultServer) result(t *testing.T, path string) faultResult {
	t.Helper()
	select {
	case r := <-fs.results[path]:
		return r
	case <-time.After(wstest.Timeout):
		t.Fatalf("no connection on %s ended within %v", path, wstest.Timeout)
		return faultResult{}
	}
}

// healthyEcho proves the server still serves: a new client's messages
// come back whole and in order, and the server side ends cleanly.
func (fs *faultServer) healthyEcho(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	c, _, err := Dial(ctx, "ws://"+fs.addr+"/healthy", DialConfig{})
	if err != nil {
		t.Fatalf("healthy client: dial: %v", err)
	}
	for i := range 5 {
		want := "healthy " + strconv.Itoa(i)
		if err := c.Write([]byte(want)); err != nil {
			t.Fatalf("healthy client: write: %v", err)
		}
		if got, err := c.Read(); err != nil || string(got) != want {
			t.Fatalf("healthy client: read %q, %v; want %q", got, err, want)
		}
	}
	c.Close()
	r := fs.result(t, "/healthy")
	if CloseStatus(r.err) != StatusNormalClosure || r.stats.MessagesIn != 5 || r.stats.MessagesOut != 5 {
		t.Fatalf("healthy connection ended with %v, stats %+v", r.err, r.stats)
	}
}

// seatsReturned checks that no connection holds a Limiter seat any more.
// A seat is given back by the goroutine that closes the connection,
// which may finish after the reader has seen the close.
func (fs *faultServer) seatsReturned(t *testing.T) {
	t.Helper()
	hubWaitFor(t, "limiter seats to be returned", func() bool {
		st := fs.lim.Stats()
		return st.Active == 0 && st.Clients == 0
	})
}

// rawDial completes a handshake on path with a raw peer.
func (fs *faultServer) rawDial(t *testing.T, path string) *wstest.Peer {
	t.Helper()
	p, _, err := wstest.DialServer(fs.addr, path, nil)
	if err != nil {
		t.Fatalf("raw handshake: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// resetClose closes a TCP connection with a reset instead of a FIN.
func resetClose(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// The client goes away in the middle of a frame, after three whole
// messages: those are echoed in order, the partial one never reaches the
// application, and the connection ends with 1006.
func TestFaultClientVanishesMidFrame(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(map[bool]string{false: "FIN", true: "RST"}[reset], func(t *testing.T) {
			wsCheckGoroutines(t)
			fs := startFaultServer(t, WSConfig{}, nil, nil)
			p := fs.rawDial(t, "/")
			var out []byte
			for i := range 3 {
				out = append(out, p.Frame(true, wsframe.OpText, []byte("msg "+strconv.Itoa(i)))...)
			}
			// A 1000-byte frame of which 10 bytes are sent.
			partial := p.Frame(true, wsframe.OpBinary, make([]byte, 1000))
			out = append(out, partial[:len(partial)-990]...)
			if err := p.WriteRaw(out); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				f, err := p.ReadFrame()
				if want := "msg " + strconv.Itoa(i); err != nil || string(f.Payload) != want {
					t.Fatalf("echo %d: %q %v, want %q", i, f.Payload, err, want)
				}
			}
			if reset {
				resetClose(t, p.Conn)
			} else {
				p.Close()
			}
			r := fs.result(t, "/")
			var ce *CloseError
			if !errors.As(r.err, &ce) || ce.Code != StatusAbnormalClosure || ce.Remote {
				t.Fatalf("server ended with %v, want 1006", r.err)
			}
			if !reset && !errors.Is(r.err, io.ErrUnexpectedEOF) {
				t.Fatalf("server ended with %v, want an unexpected EOF", r.err)
			}
			if r.stats.MessagesIn != 3 || r.stats.MessagesOut != 3 {
				t.Fatalf("stats %+v, want 3 messages each way", r.stats)
			}
			fs.healthyEcho(t)
			fs.seatsReturned(t)
		})
	}
}

// The client resets the connection while the server is writing a large
// message: the write fails, the connection is closed with 1006, and the
// writer learns it at once rather than after WriteTimeout.
func TestFaultResetDuringWrite(t *testing.T) {
	wsCheckGoroutines(t)
	fs := startFaultServer(t, WSConfig{}, nil, nil)
	p := fs.rawDial(t, "/flood")
	// The server is writing once the first bytes of a frame arrive.
	if _, err := p.R.Peek(1); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resetClose(t, p.Conn)
	r := fs.result(t, "/flood")
	if CloseStatus(r.err) != StatusAbnormalClosure {
		t.Fatalf("flood ended with %v, want 1006", r.err)
	}
	if errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Fatalf("flood ended by its write timeout (%v after the reset), not by the reset: %v", time.Since(start), r.err)
	}
	if r.stats.MessagesOut >= 1000 {
		t.Fatalf("stats %+v: every write succeeded", r.stats)
	}
	fs.healthyEcho(t)
	fs.seatsReturned(t)
}

// A peer that stays connected but sends nothing and answers nothing (a
// half-open connection as the server sees it: the host is gone without a
// FIN) is reclaimed by keepalive after ReadIdleTimeout + PongTimeout.
func TestFaultHalfOpenReclaimed(t *testing.T) {
	wsCheckGoroutines(t)
	cfg := WSConfig{ReadIdleTimeout: 100 * time.Millisecond, PongTimeout: 100 * time.Millisecond}
	fs := startFaultServer(t, cfg, nil, nil)
	start := time.Now()
	p := fs.rawDial(t, "/")
	r := fs.result(t, "/")
	if !errors.Is(r.err, errPongTimeout) || CloseStatus(r.err) != StatusAbnormalClosure {
		t.Fatalf("server ended with %v, want a keepalive timeout", r.err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("reclaimed after %v, before ReadIdleTimeout + PongTimeout", d)
	}
	// What the silent peer would have seen: a ping, then 1001.
	f, err := p.ReadFrame()
	if err != nil || f.Opcode != wsframe.OpPing {
		t.Fatalf("first frame %+v %v, want a ping", f.Header, err)
	}
	if code, reason, err := p.ReadClose(); err != nil || code != int(StatusGoingAway) || reason != "keepalive timeout" {
		t.Fatalf("close %d %q %v, want 1001 keepalive timeout", code, reason, err)
	}
	fs.healthyEcho(t)
	fs.seatsReturned(t)
}

// drip writes b to c one byte every interval until done or a write
// fails; the pause between bytes is the fault being injected.
func drip(c net.Conn, b []byte, interval time.Duration, stop <-chan struct{}) {
	for i := range b {
		if _, err := c.Write(b[i : i+1]); err != nil {
			return
		}
		select {
		case <-stop:
			return
		case <-time.After(interval):
		}
	}
}

// A client that sends its handshake one byte per 100 ms is cut off by
// http.Server.ReadHeaderTimeout without reaching the handler; a header
// block over MaxHeaderBytes is answered 431.
func TestFaultSlowDripHandshake(t *testing.T) {
	wsCheckGoroutines(t)
	fs := startFaultServer(t, WSConfig{}, func(s *http.Server) {
		s.ReadHeaderTimeout = 300 * time.Millisecond
		s.MaxHeaderBytes = 1 << 10
	}, nil)
	req := "GET / HTTP/1.1\r\nHost: " + fs.addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
		wstest.Key + "\r\nSec-WebSocket-Version: 13\r\n"

	t.Run("slow", func(t *testing.T) {
		// The server's header timer starts once it has accepted the
		// connection, which may be before Dial returns here: the time
		// is measured from before the dial.
		start := time.Now()
		nc, err := net.Dial("tcp", fs.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		stop := make(chan struct{})
		dripped := make(chan struct{})
		go func() {
			defer close(dripped)
			drip(nc, []byte(req+"\r\n"), 100*time.Millisecond, stop)
		}()
		defer func() { close(stop); <-dripped }()
		nc.SetReadDeadline(time.Now().Add(wstest.Timeout))
		// net/http closes the connection, answering 400 when part of
		// the request line has arrived.
		got, err := io.ReadAll(nc)
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read %q, %v: want the connection closed", got, err)
		}
		if len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 400 ") {
			t.Fatalf("response %q, want none or 400", got)
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Fatalf("closed after %v, before ReadHeaderTimeout", d)
		}
	})
	t.Run("large", func(t *testing.T) {
		nc, err := net.Dial("tcp", fs.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(wstest.Timeout))
		if _, err := nc.Write([]byte(req + "Cookie: " + strings.Repeat("a", 16<<10) + "\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", resp.StatusCode)
		}
	})
	if n := fs.handled.Load(); n != 0 {
		t.Fatalf("%d requests reached the handler", n)
	}
	fs.healthyEcho(t)
	fs.seatsReturned(t)
}

// A frame dripped one byte at a time: a live peer within the keepalive
// bounds gets its message through intact; one so slow that no frame
// header arrives within ReadIdleTimeout + PongTimeout is cut off.
func TestFaultSlowDripFrame(t *testing.T) {
	for _, tc := range []struct {
		name    string
		size    int
		cfg     WSConfig
		cutOff  bool
		between time.Duration
	}{
		{"within bounds", 10, WSConfig{ReadIdleTimeout: 5 * time.Second}, false, 20 * time.Millisecond},
		{"too slow", 1000, WSConfig{ReadIdleTimeout: 100 * time.Millisecond, PongTimeout: 100 * time.Millisecond}, true, 20 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wsCheckGoroutines(t)
			fs := startFaultServer(t, tc.cfg, nil, nil)
			p := fs.rawDial(t, "/")
			payload := []byte(strings.Repeat("d", tc.size))
			stop := make(chan struct{})
			dripped := make(chan struct{})
			go func() {
				defer close(dripped)
				drip(p.Conn, p.Frame(true, wsframe.OpText, payload), tc.between, stop)
			}()
			defer func() { close(stop); <-dripped }()
			if tc.cutOff {
				r := fs.result(t, "/")
				if !errors.Is(r.err, errPongTimeout) || r.stats.MessagesIn != 0 {
					t.Fatalf("server ended with %v, stats %+v; want a keepalive timeout", r.err, r.stats)
				}
			} else {
				f, err := p.ReadFrame()
				if err != nil || f.Opcode != wsframe.OpText || string(f.Payload) != string(payload) {
					t.Fatalf("echo %+v %q %v", f.Header, f.Payload, err)
				}
				p.WriteFrame(true, wsframe.OpClose, wstest.ClosePayload(1000, ""))
				r := fs.result(t, "/")
				if CloseStatus(r.err) != StatusNormalClosure || r.stats.MessagesIn != 1 {
					t.Fatalf("server ended with %v, stats %+v", r.err, r.stats)
				}
			}
			fs.healthyEcho(t)
			fs.seatsReturned(t)
		})
	}
}

// http.Server.Shutdown in the middle of a stream of Hub broadcasts: the
// hub, stopped through RegisterOnShutdown, flushes what it queued and
// closes every client with 1001. Each client sees strictly increasing
// sequence numbers, and the hub's counters match what the clients got.
func TestFaultShutdownDuringBroadcast(t *testing.T) {
	wsCheckGoroutines(t)
	const clients = 20
	s := startHub(t, HubConfig{}, WSConfig{CloseTimeout: 5 * time.Second}, 0, nil)
	s.srv.Config.RegisterOnShutdown(s.hub.Stop)
	type outcome struct {
		got int
		err error
	}
	outcomes := make(chan outcome, clients)
	warm := make(chan struct{})
	for i := range clients {
		hc := s.dial(t, "/", i+1)
		go func() {
			n, last := 0, -1
			var bad error
			for m := range hc.msgs {
				seq, err := strconv.Atoi(string(m.p))
				if err == nil && seq <= last {
					err = fmt.Errorf("message %d after %d", seq, last)
				}
				if err != nil && bad == nil {
					bad = err
				}
				last = seq
				if n++; n == 100 && i == 0 {
					close(warm)
				}
			}
			if bad != nil {
				outcomes <- outcome{n, bad}
				return
			}
			outcomes <- outcome{n, <-hc.end}
		}()
	}
	type sent struct {
		accepted int
		stopped  bool
	}
	sender := make(chan sent, 1)
	go func() {
		deadline := time.Now().Add(wstest.Timeout)
		n := 0
		for i := 0; i < 1_000_000 && time.Now().Before(deadline); i++ {
			if !s.hub.Broadcast([]byte(strconv.Itoa(i))) {
				sender <- sent{n, true}
				return
			}
			n++
		}
		sender <- sent{n, false}
	}()
	select {
	case <-warm:
	case <-time.After(wstest.Timeout):
		t.Fatal("broadcasts did not arrive")
	}
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	if err := s.srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	stopped := make(chan struct{})
	go func() { s.hub.Run(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(wstest.Timeout):
		t.Fatal("hub did not stop")
	}
	sd := <-sender
	if !sd.stopped {
		t.Fatalf("the sender never saw the hub stop (%d broadcasts)", sd.accepted)
	}
	total := 0
	for range clients {
		o := <-outcomes
		var ce *CloseError
		if !errors.As(o.err, &ce) || ce.Code != StatusGoingAway || !ce.Remote {
			t.Fatalf("client ended with %v after %d messages, want 1001 from the server", o.err, o.got)
		}
		total += o.got
	}
	st := s.hub.Stats()
	if st.Connections != 0 || st.Broadcasts != uint64(sd.accepted) || st.Deliveries != uint64(total) {
		t.Fatalf("stats %+v: want 0 connections, %d broadcasts, %d deliveries", st, sd.accepted, total)
	}
	t.Logf("%d broadcasts, %d deliveries, %d drops", st.Broadcasts, st.Deliveries, st.Drops)
}
