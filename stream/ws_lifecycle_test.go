package stream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stdrealtime/realtime/internal/wsframe"
	"github.com/stdrealtime/realtime/internal/wstest"
)

// pipeServer makes a server-side connection over net.Pipe with a raw
// client peer, for tests in a synctest bubble.
func pipeServer(set wsSettings) (*WebSocketConn, *wstest.Peer) {
	a, b := net.Pipe()
	c := newConn(a, bufio.NewReader(a), nil, false, set, "")
	return c, &wstest.Peer{Conn: b, R: bufio.NewReader(b), Client: true, MaskKey: [4]byte{9, 9, 9, 9}}
}

func TestWSKeepalive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := pipeServer(resolveSettings(0, 0, 30*time.Second, 5*time.Second, 0, nil))
		done := make(chan error, 1)
		go func() { done <- echoLoop(c) }()
		start := time.Now()
		// Silence for ReadIdleTimeout brings a ping; answering it keeps
		// the connection.
		f, err := p.ReadFrame()
		if err != nil || f.Opcode != wsframe.OpPing {
			t.Fatalf("got %+v %v, want ping", f.Header, err)
		}
		if d := time.Since(start); d != 30*time.Second {
			t.Fatalf("ping after %v, want 30s", d)
		}
		p.WriteFrame(true, wsframe.OpPong, f.Payload)
		// Traffic pushes the next ping back.
		time.Sleep(20 * time.Second)
		p.WriteFrame(true, wsframe.OpText, []byte("hi"))
		if f, err := p.ReadFrame(); err != nil || string(f.Payload) != "hi" {
			t.Fatalf("echo %v", err)
		}
		mark := time.Now()
		f, err = p.ReadFrame()
		if err != nil || f.Opcode != wsframe.OpPing {
			t.Fatalf("got %+v %v, want second ping", f.Header, err)
		}
		if d := time.Since(mark); d != 30*time.Second {
			t.Fatalf("second ping %v after the last message, want 30s", d)
		}
		// No pong: after PongTimeout the connection is closed.
		mark = time.Now()
		code, _, err := p.ReadClose()
		if err != nil || code != int(StatusGoingAway) {
			t.Fatalf("close %d %v", code, err)
		}
		if d := time.Since(mark); d != 5*time.Second {
			t.Fatalf("closed %v after the ping, want 5s", d)
		}
		err = <-done
		if !errors.Is(err, errPongTimeout) || !errors.Is(err, ErrClosed) {
			t.Fatalf("reader error %v", err)
		}
		p.Close()
	})
}

// TestWSWriteDeadlineMoves checks that the write deadline follows a busy
// connection: after a minute of writes that went through, a write to a
// peer that stopped reading still gets at least WriteTimeout, and fails
// within 9/8 of it.
func TestWSWriteDeadlineMoves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := pipeServer(resolveSettings(0, 2*time.Second, -1, 0, 0, nil))
		defer p.Close()
		for i := range 200 {
			got := make(chan error, 1)
			go func() {
				f, err := p.ReadFrame()
				if err == nil && len(f.Payload) != 100 {
					err = fmt.Errorf("frame of %d bytes", len(f.Payload))
				}
				got <- err
			}()
			if err := c.WriteMessage(BinaryMessage, make([]byte, 100)); err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
			if err := <-got; err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
		}
		start := time.Now()
		if err := c.WriteMessage(BinaryMessage, make([]byte, 100)); CloseStatus(err) != StatusAbnormalClosure {
			t.Fatalf("write to a peer that does not read: %v", err)
		}
		if d := time.Since(start); d < 2*time.Second || d > 2*time.Second+2*time.Second/8 {
			t.Fatalf("write gave up after %v, want 2s to 2.25s", d)
		}
	})
}

func TestWSWriteTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := pipeServer(resolveSettings(0, 2*time.Second, -1, 0, 0, nil))
		defer p.Close()
		start := time.Now()
		// The peer never reads: the write must give up.
		err := c.WriteMessage(BinaryMessage, make([]byte, 1<<16))
		if err == nil || CloseStatus(err) != StatusAbnormalClosure {
			t.Fatalf("write error %v", err)
		}
		// The deadline of a transport other than a TCP socket is set
		// an eighth past WriteTimeout (and then moved only every
		// eighth of it).
		if d := time.Since(start); d != 2*time.Second+2*time.Second/8 {
			t.Fatalf("write gave up after %v, want 2.25s", d)
		}
		select {
		case <-c.Closed():
		default:
			t.Fatal("connection not closed after a write timeout")
		}
		if err := c.WriteMessage(TextMessage, []byte("x")); !errors.Is(err, ErrClosed) {
			t.Fatalf("write after timeout: %v", err)
		}
	})
}

func TestWSCloseWithoutReaderTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := pipeServer(resolveSettings(0, 0, -1, 0, 3*time.Second, nil))
		go func() {
			// The peer reads the close frame but never answers.
			p.ReadClose()
			io.Copy(io.Discard, p.R)
		}()
		start := time.Now()
		if err := c.CloseWithStatus(StatusPolicyViolation, "bye"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("Close took %v, want CloseTimeout 3s", d)
		}
		p.Close()
	})
}

// dialPair connects Dial to an Upgrade server and returns both ends.
func dialPair(t *testing.T, scfg WSConfig, ccfg DialConfig) (srvConn, cliConn *WebSocketConn) {
	t.Helper()
	conns := make(chan *WebSocketConn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, scfg)
		if err != nil {
			t.Error(err)
			return
		}
		conns <- c
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	cc, _, err := Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/", ccfg)
	if err != nil {
		t.Fatal(err)
	}
	sc := <-conns
	t.Cleanup(func() { cc.Close(); sc.Close() })
	return sc, cc
}

func TestWSDialUpgradeRoundTrip(t *testing.T) {
	wsCheckGoroutines(t)
	sc, cc := dialPair(t, WSConfig{Subprotocols: []string{"v2", "v1"}}, DialConfig{Subprotocols: []string{"v1", "v2"}})
	if sc.Subprotocol() != "v2" || cc.Subprotocol() != "v2" {
		t.Fatalf("subprotocols %q %q, want server preference v2", sc.Subprotocol(), cc.Subprotocol())
	}
	if cc.RemoteAddr() == nil || sc.RemoteAddr() == nil {
		t.Fatal("no remote address")
	}
	go echoLoop(sc)

	// Ping measures a round trip while a reader runs.
	readerDone := make(chan struct{})
	msgs := make(chan []byte, 100)
	go func() {
		defer close(readerDone)
		for {
			_, p, err := cc.ReadMessage()
			if err != nil {
				return
			}
			msgs <- p
		}
	}()
	rtt, err := cc.Ping(context.Background())
	if err != nil || rtt <= 0 || cc.Stats().LastRTT != rtt {
		t.Fatalf("Ping = %v, %v; stats %+v", rtt, err, cc.Stats())
	}

	// Concurrent writers: every message arrives whole.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 10 {
				if err := cc.WriteBinary(bytes.Repeat([]byte{byte(i)}, 5000)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for range 80 {
		p := <-msgs
		if len(p) != 5000 || bytes.Count(p, p[:1]) != 5000 {
			t.Fatal("interleaved message")
		}
	}

	// A streamed message arrives as one, in fragments.
	w, err := cc.NextWriter(TextMessage)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("streamed ", 3000)
	for i := 0; i < len(big); i += 700 {
		io.WriteString(w, big[i:min(i+700, len(big))])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if p := <-msgs; string(p) != big {
		t.Fatalf("streamed message came back as %d bytes", len(p))
	}
	if err := cc.WriteMessage(TextMessage, []byte("\xff")); err == nil {
		t.Fatal("invalid UTF-8 text was sent")
	}

	// Close from another goroutine ends the reader with the peer's echo.
	var onClose sync.WaitGroup
	onClose.Add(1)
	cc.OnClose(onClose.Done)
	if err := cc.CloseWithStatus(4000, "done"); err != nil {
		t.Fatal(err)
	}
	<-readerDone
	onClose.Wait()
	<-cc.Closed()
	if err := cc.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := cc.ReadMessage(); CloseStatus(err) != 4000 {
		t.Fatalf("read after close: %v", err)
	}
	if err := cc.Write([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

func TestWSNextReader(t *testing.T) {
	wsCheckGoroutines(t)
	sc, cc := dialPair(t, WSConfig{}, DialConfig{})
	go func() {
		sc.WriteString("first message, partly read")
		sc.WriteBinary([]byte("second"))
	}()
	mt, r, err := cc.NextReader()
	if err != nil || mt != TextMessage {
		t.Fatal(mt, err)
	}
	buf := make([]byte, 5)
	if n, _ := io.ReadFull(r, buf); n != 5 || string(buf) != "first" {
		t.Fatalf("read %q", buf)
	}
	// The rest of the first message is discarded.
	mt, p, err := cc.ReadMessage()
	if err != nil || mt != BinaryMessage || string(p) != "second" {
		t.Fatalf("got %v %q %v", mt, p, err)
	}
}

func TestWSTrackerShutdown(t *testing.T) {
	wsCheckGoroutines(t)
	var tr Tracker
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := tr.Upgrade(w, r, WSConfig{})
		if err != nil {
			return
		}
		echoLoop(c)
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
	var clients []*WebSocketConn
	errs := make(chan error, 5)
	for range 5 {
		c, _, err := Dial(context.Background(), url, DialConfig{})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		go func() {
			_, _, err := c.ReadMessage()
			errs <- err
		}()
	}
	for tr.Len() != 5 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for range clients {
		if err := <-errs; CloseStatus(err) != StatusGoingAway {
			t.Fatalf("client saw %v, want 1001", err)
		}
	}
	if _, _, err := Dial(context.Background(), url, DialConfig{}); err == nil {
		t.Fatal("upgrade accepted after shutdown")
	}
}
