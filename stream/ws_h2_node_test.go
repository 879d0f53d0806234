package stream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests here run the server on net/http's own HTTP/2 server, with
// TLS, and Node's http2 module as the client (testdata/h2_ws_client.mjs).
// net/http decides whether to advertise extended CONNECT from GODEBUG
// while it initialises, so unless the test binary was started with
// GODEBUG=http2xconnect=1, TestWebSocketH2 runs itself again in a child
// process that is.

const h2ChildEnv = "STREAM_TEST_H2_CHILD"

func TestWebSocketH2(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	if !ExtendedConnectEnabled() {
		if os.Getenv(h2ChildEnv) != "" {
			t.Fatal("GODEBUG=http2xconnect=1 is set but the HTTP/2 server does not advertise extended CONNECT")
		}
		h2RunChild(t)
		return
	}
	wsCheckGoroutines(t)
	for _, tc := range h2Cases {
		t.Run(tc.name, tc.run)
	}
}

// h2RunChild runs TestWebSocketH2 in a child process with
// GODEBUG=http2xconnect=1 and fails with its output if it fails.
func h2RunChild(t *testing.T) {
	godebug := "http2xconnect=1"
	if g := os.Getenv("GODEBUG"); g != "" {
		godebug = g + "," + godebug
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWebSocketH2$", "-test.count=1", "-test.v", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), "GODEBUG="+godebug, h2ChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	passed := regexp.MustCompile(`(?m)^\s*--- PASS: TestWebSocketH2/`).FindAll(out, -1)
	if err != nil || len(passed) != len(h2Cases) {
		t.Fatalf("child with GODEBUG=%s: %v, %d of %d cases passed:\n%s", godebug, err, len(passed), len(h2Cases), out)
	}
	if testing.Verbose() {
		t.Logf("child with GODEBUG=%s:\n%s", godebug, out)
	}
}

// h2Event is one line of h2_ws_client.mjs output.
type h2Event struct {
	Ev         string `json:"ev"`
	ID         string `json:"id"`
	Connect    bool   `json:"connect"`
	Status     int    `json:"status"`
	Protocol   string `json:"protocol"`
	Extensions string `json:"extensions"`
	Accept     string `json:"accept"`
	Version    string `json:"version"`
	Binary     bool   `json:"binary"`
	Rsv1       bool   `json:"rsv1"`
	Data       []byte `json:"data"`
	Code       int    `json:"code"`
	Reason     string `json:"reason"`
	Message    string `json:"message"`
	RstCode    int    `json:"rstCode"`
}

// h2Cmd is one line of h2_ws_client.mjs input.
type h2Cmd struct {
	Op        string   `json:"op"`
	ID        string   `json:"id,omitempty"`
	Path      string   `json:"path,omitempty"`
	Protocols []string `json:"protocols,omitempty"`
	Deflate   bool     `json:"deflate,omitempty"`
	Origin    string   `json:"origin,omitempty"`
	Version   string   `json:"version,omitempty"`
	Binary    bool     `json:"binary,omitempty"`
	Compress  bool     `json:"compress,omitempty"`
	Data      []byte   `json:"data,omitempty"`
	Code      int      `json:"code,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	On        bool     `json:"on,omitempty"`
}

// h2Node is one Node process holding one HTTP/2 connection, on which
// it opens any number of WebSocket streams.
type h2Node struct {
	cmd    *exec.Cmd
	stdin  *json.Encoder
	mu     sync.Mutex
	queues map[string]chan h2Event // by stream id; "" for the connection
	stderr bytes.Buffer
}

func startH2Node(t *testing.T, url string) *h2Node {
	t.Helper()
	n := &h2Node{queues: make(map[string]chan h2Event)}
	n.cmd = exec.Command("node", "testdata/h2_ws_client.mjs", url)
	n.cmd.Stderr = &n.stderr
	in, err := n.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.stdin = json.NewEncoder(in)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var ev h2Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev = h2Event{Ev: "error", Message: "bad line: " + sc.Text()}
			}
			n.queue(ev.ID) <- ev
		}
	}()
	t.Cleanup(func() {
		n.send(t, h2Cmd{Op: "exit"})
		in.Close()
		timer := time.AfterFunc(10*time.Second, func() { n.cmd.Process.Kill() })
		defer timer.Stop()
		<-done
		n.cmd.Wait()
		if t.Failed() && n.stderr.Len() > 0 {
			t.Logf("node stderr:\n%s", n.stderr.String())
		}
	})
	if ev := n.next(t, ""); ev.Ev != "settings" || !ev.Connect {
		t.Fatalf("first event %+v, want settings enabling extended CONNECT", ev)
	}
	return n
}

func (n *h2Node) queue(id string) chan h2Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	q := n.queues[id]
	if q == nil {
		q = make(chan h2Event, 1024)
		n.queues[id] = q
	}
	return q
}

func (n *h2Node) send(t *testing.T, c h2Cmd) {
	t.Helper()
	if err := n.stdin.Encode(c); err != nil && c.Op != "exit" {
		t.Fatalf("node command %s: %v", c.Op, err)
	}
}

// next returns the next event of stream id.
func (n *h2Node) next(t *testing.T, id string) h2Event {
	t.Helper()
	select {
	case ev := <-n.queue(id):
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("no event for stream %q within 10s", id)
		return h2Event{}
	}
}

// expect returns the next event of stream id and fails unless it is ev.
func (n *h2Node) expect(t *testing.T, id, ev string) h2Event {
	t.Helper()
	got := n.next(t, id)
	if got.Ev != ev {
		t.Fatalf("stream %q: event %+v, want %s", id, got, ev)
	}
	return got
}

// open opens a WebSocket stream and fails unless the answer is 200.
func (n *h2Node) open(t *testing.T, c h2Cmd) h2Event {
	t.Helper()
	c.Op = "open"
	n.send(t, c)
	ev := n.expect(t, c.ID, "open")
	if ev.Status != http.StatusOK {
		t.Fatalf("stream %q: status %d, want 200", c.ID, ev.Status)
	}
	return ev
}

// h2Upgraded is what a test handler saw.
type h2Upgraded struct {
	r    *http.Request
	conn *WebSocketConn
}

// startH2 serves handler over TLS with HTTP/2 and connects a Node
// client to it.
func startH2(t *testing.T, h http.Handler) (*httptest.Server, *h2Node) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, startH2Node(t, srv.URL)
}

// h2EchoHandler upgrades with cfg, reports each connection on ch and
// echoes until the connection ends, whose error it sends on done.
func h2EchoHandler(cfg WSConfig, ch chan<- h2Upgraded, done chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, cfg)
		if err != nil {
			done <- err
			return
		}
		ch <- h2Upgraded{r, c}
		done <- echoLoop(c)
	})
}

func wantClose(t *testing.T, err error, code StatusCode) *CloseError {
	t.Helper()
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("connection ended with %v, want close status %d", err, code)
	}
	return ce
}

func recvErr(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not finish within 10s")
		return nil
	}
}

var h2Cases = []struct {
	name string
	run  func(*testing.T)
}{
	{"echo and client close", h2TestEcho},
	{"streams share a connection", h2TestStreams},
	{"subprotocol and compression", h2TestNegotiation},
	{"refusals", h2TestRefusals},
	{"read limit", h2TestReadLimit},
	{"server close and ping", h2TestServerClose},
	{"keepalive timeout", h2TestKeepalive},
	{"client reset", h2TestReset},
	{"write timeout", h2TestWriteTimeout},
	{"server shutdown", h2TestShutdown},
	{"hub rooms across HTTP/1.1 and HTTP/2", h2TestHub},
}

func h2TestEcho(t *testing.T) {
	ups, done := make(chan h2Upgraded, 1), make(chan error, 1)
	_, n := startH2(t, h2EchoHandler(WSConfig{}, ups, done))
	ev := n.open(t, h2Cmd{ID: "a", Path: "/echo"})
	if ev.Accept != "" {
		t.Errorf("Sec-WebSocket-Accept %q in an HTTP/2 answer", ev.Accept)
	}
	up := <-ups
	if up.r.ProtoMajor != 2 || up.r.Method != http.MethodConnect {
		t.Fatalf("server saw %s %s, want CONNECT over HTTP/2", up.r.Method, up.r.Proto)
	}
	// More than the initial 64 KiB flow-control windows, in both
	// directions.
	big := bytes.Repeat([]byte("0123456789abcdef"), 300_000/16)
	msgs := []h2Cmd{
		{ID: "a", Data: []byte("hello")},
		{ID: "a", Data: big, Binary: true},
		{ID: "a", Data: []byte{}, Binary: true},
	}
	for _, m := range msgs {
		m.Op = "send"
		n.send(t, m)
	}
	for _, m := range msgs {
		got := n.expect(t, "a", "msg")
		if got.Binary != m.Binary || !bytes.Equal(got.Data, m.Data) {
			t.Fatalf("echo: binary=%v %d bytes, want binary=%v %d bytes", got.Binary, len(got.Data), m.Binary, len(m.Data))
		}
	}
	n.send(t, h2Cmd{Op: "close", ID: "a", Code: 4001, Reason: "done"})
	if ev := n.expect(t, "a", "close"); ev.Code != 4001 {
		t.Errorf("close echoed %d, want 4001", ev.Code)
	}
	ce := wantClose(t, recvErr(t, done), 4001)
	if !ce.Remote || ce.Reason != "done" {
		t.Errorf("close error %+v", ce)
	}
	// The handler returned: the stream ends.
	n.expect(t, "a", "end")
	if s := up.conn.Stats(); s.MessagesIn != 3 || s.MessagesOut != 3 || s.BytesIn != uint64(5+len(big)) {
		t.Errorf("Stats = %+v", s)
	}
}

func h2TestStreams(t *testing.T) {
	ups, done := make(chan h2Upgraded, 2), make(chan error, 2)
	_, n := startH2(t, h2EchoHandler(WSConfig{}, ups, done))
	n.open(t, h2Cmd{ID: "a", Path: "/"})
	n.open(t, h2Cmd{ID: "b", Path: "/"})
	a, b := <-ups, <-ups
	if a.r.RemoteAddr != b.r.RemoteAddr {
		t.Fatalf("streams came from %s and %s, want one connection", a.r.RemoteAddr, b.r.RemoteAddr)
	}
	n.send(t, h2Cmd{Op: "send", ID: "a", Data: []byte("to a")})
	n.send(t, h2Cmd{Op: "send", ID: "b", Data: []byte("to b")})
	if got := n.expect(t, "a", "msg"); string(got.Data) != "to a" {
		t.Fatalf("a got %q", got.Data)
	}
	if got := n.expect(t, "b", "msg"); string(got.Data) != "to b" {
		t.Fatalf("b got %q", got.Data)
	}
	// Closing one stream leaves the other working.
	n.send(t, h2Cmd{Op: "close", ID: "a", Code: 1000})
	n.expect(t, "a", "close")
	wantClose(t, recvErr(t, done), StatusNormalClosure)
	n.send(t, h2Cmd{Op: "send", ID: "b", Data: []byte("still")})
	if got := n.expect(t, "b", "msg"); string(got.Data) != "still" {
		t.Fatalf("b got %q", got.Data)
	}
	n.send(t, h2Cmd{Op: "close", ID: "b", Code: 1000})
	n.expect(t, "b", "close")
	wantClose(t, recvErr(t, done), StatusNormalClosure)
}

func h2TestNegotiation(t *testing.T) {
	cfg := WSConfig{
		Subprotocols:         []string{"chat.v2", "chat.v1"},
		Compression:          CompressionNoContextTakeover,
		CompressionThreshold: -1,
	}
	ups, done := make(chan h2Upgraded, 1), make(chan error, 1)
	_, n := startH2(t, h2EchoHandler(cfg, ups, done))
	ev := n.open(t, h2Cmd{ID: "a", Path: "/", Protocols: []string{"chat.v1", "chat.v2"}, Deflate: true})
	if ev.Protocol != "chat.v2" || !strings.HasPrefix(ev.Extensions, "permessage-deflate") {
		t.Fatalf("answer protocol %q extensions %q", ev.Protocol, ev.Extensions)
	}
	up := <-ups
	if up.conn.Subprotocol() != "chat.v2" {
		t.Errorf("Subprotocol() = %q", up.conn.Subprotocol())
	}
	text := strings.Repeat("compressible text ", 200)
	n.send(t, h2Cmd{Op: "send", ID: "a", Data: []byte(text), Compress: true})
	got := n.expect(t, "a", "msg")
	if !got.Rsv1 || string(got.Data) != text {
		t.Fatalf("echo rsv1=%v %q", got.Rsv1, got.Data)
	}
	n.send(t, h2Cmd{Op: "close", ID: "a", Code: 1000})
	n.expect(t, "a", "close")
	wantClose(t, recvErr(t, done), StatusNormalClosure)
}

func h2TestRefusals(t *testing.T) {
	ups, done := make(chan h2Upgraded, 1), make(chan error, 2)
	_, n := startH2(t, h2EchoHandler(WSConfig{}, ups, done))
	n.send(t, h2Cmd{Op: "open", ID: "origin", Path: "/", Origin: "https://evil.example"})
	if ev := n.expect(t, "origin", "open"); ev.Status != http.StatusForbidden {
		t.Errorf("foreign origin: status %d, want 403", ev.Status)
	}
	n.send(t, h2Cmd{Op: "open", ID: "version", Path: "/", Version: "8"})
	if ev := n.expect(t, "version", "open"); ev.Status != http.StatusUpgradeRequired || ev.Version != "13" {
		t.Errorf("version 8: status %d Sec-WebSocket-Version %q, want 426 and 13", ev.Status, ev.Version)
	}
	for range 2 {
		var he *HandshakeError
		if err := recvErr(t, done); !errors.As(err, &he) {
			t.Errorf("handler got %v, want *HandshakeError", err)
		}
	}
}

func h2TestReadLimit(t *testing.T) {
	ups, done := make(chan h2Upgraded, 1), make(chan error, 1)
	_, n := startH2(t, h2EchoHandler(WSConfig{ReadLimit: 1024}, ups, done))
	n.open(t, h2Cmd{ID: "a", Path: "/"})
	n.send(t, h2Cmd{Op: "send", ID: "a", Data: make([]byte, 2000), Binary: true})
	if ev := n.expect(t, "a", "close"); ev.Code != int(StatusMessageTooBig) {
		t.Fatalf("close %d, want 1009", ev.Code)
	}
	wantClose(t, recvErr(t, done), StatusMessageTooBig)
}

func h2TestServerClose(t *testing.T) {
	ups, done := make(chan h2Upgraded, 1), make(chan error, 1)
	closed := make(chan error, 1)
	_, n := startH2(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, WSConfig{})
		if err != nil {
			done <- err
			return
		}
		read := make(chan error, 1)
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					read <- err
					return
				}
			}
		}()
		ups <- h2Upgraded{r, c}
		rtt, err := c.Ping(context.Background())
		if err == nil && (rtt <= 0 || c.Stats().LastRTT != rtt) {
			err = errors.New("ping: bad round-trip time")
		}
		done <- err
		closed <- c.CloseWithStatus(4000, "bye")
		<-c.Closed()
		<-read
	}))
	n.open(t, h2Cmd{ID: "a", Path: "/"})
	<-ups
	n.expect(t, "a", "ping")
	if err := recvErr(t, done); err != nil {
		t.Fatal(err)
	}
	if ev := n.expect(t, "a", "close"); ev.Code != 4000 || ev.Reason != "bye" {
		t.Fatalf("close %d %q, want 4000 bye", ev.Code, ev.Reason)
	}
	if err := recvErr(t, closed); err != nil {
		t.Fatalf("CloseWithStatus: %v", err)
	}
	n.expect(t, "a", "end")
}

func h2TestKeepalive(t *testing.T) {
	ups, done := make(chan h2Upgraded, 1), make(chan error, 1)
	cfg := WSConfig{ReadIdleTimeout: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond}
	_, n := startH2(t, h2EchoHandler(cfg, ups, done))
	n.send(t, h2Cmd{Op: "autopong", On: false})
	// Without an echo of the server's close frame, the connection ends
	// by the pong timeout alone.
	n.send(t, h2Cmd{Op: "autoclose", On: false})
	n.open(t, h2Cmd{ID: "a", Path: "/"})
	n.expect(t, "a", "ping")
	if ev := n.expect(t, "a", "close"); ev.Code != int(StatusGoingAway) {
		t.Fatalf("close %d, want 1001", ev.Code)
	}
	ce := wantClose(t, recvErr(t, done), StatusAbnormalClosure)
	if !errors.Is(ce.Err, errPongTimeout) {
		t.Errorf("close error %v, want the pong timeout", ce)
	}
}

func h2TestReset(t *testing.T) {
	ups, done := make(chan h2Upgraded, 1), make(chan error, 1)
	_, n := startH2(t, h2EchoHandler(WSConfig{}, ups, done))
	n.open(t, h2Cmd{ID: "a", Path: "/"})
	up := <-ups
	n.send(t, h2Cmd{Op: "reset", ID: "a"})
	wantClose(t, recvErr(t, done), StatusAbnormalClosure)
	select {
	case <-up.conn.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("connection not closed after the stream was reset")
	}
}

func h2TestHub(t *testing.T) {
	h := NewHub(HubConfig{})
	t.Cleanup(h.Stop)
	cfg := WSConfig{Compression: CompressionNoContextTakeover, CompressionThreshold: -1}
	joined := make(chan *WebSocketConn, 3)
	srv, n := startH2(t, h.Handler(cfg, func(c *WebSocketConn, _ MessageType, p []byte) {
		if room, ok := strings.CutPrefix(string(p), "join "); ok {
			h.Join(room, c)
			joined <- c
		}
	}))
	n.open(t, h2Cmd{ID: "x", Path: "/", Deflate: true})
	n.open(t, h2Cmd{ID: "y", Path: "/", Deflate: true})
	tr := srv.Client().Transport.(*http.Transport)
	h1, _, err := Dial(context.Background(), "wss"+strings.TrimPrefix(srv.URL, "https")+"/",
		DialConfig{TLSConfig: tr.TLSClientConfig.Clone(), Compression: CompressionNoContextTakeover})
	if err != nil {
		t.Fatal(err)
	}
	defer h1.Close()
	h1Read := make(chan string, 8)
	go func() {
		defer close(h1Read)
		for {
			_, p, err := h1.ReadMessage()
			if err != nil {
				return
			}
			h1Read <- string(p)
		}
	}()
	n.send(t, h2Cmd{Op: "send", ID: "x", Data: []byte("join x")})
	n.send(t, h2Cmd{Op: "send", ID: "y", Data: []byte("join y")})
	if err := h1.WriteString("join x"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		select {
		case <-joined:
		case <-time.After(10 * time.Second):
			t.Fatal("joins not seen")
		}
	}
	if h.Count() != 3 || len(h.Members("x")) != 2 || len(h.Members("y")) != 1 {
		t.Fatalf("hub has %d connections, x %d members, y %d", h.Count(), len(h.Members("x")), len(h.Members("y")))
	}
	toX := strings.Repeat("to room x ", 20)
	h.BroadcastTo("x", []byte(toX))
	h.BroadcastTo("y", []byte("to room y"))
	toAll := strings.Repeat("to everyone ", 20)
	h.Broadcast([]byte(toAll))
	for _, want := range []string{toX, toAll} {
		got := n.expect(t, "x", "msg")
		if string(got.Data) != want || !got.Rsv1 {
			t.Fatalf("x got %q rsv1=%v, want %q compressed", got.Data, got.Rsv1, want)
		}
		select {
		case s := <-h1Read:
			if s != want {
				t.Fatalf("HTTP/1.1 client got %q, want %q", s, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("HTTP/1.1 client got nothing")
		}
	}
	// y's first message is its room's: it never saw x's.
	for _, want := range []string{"to room y", toAll} {
		if got := n.expect(t, "y", "msg"); string(got.Data) != want {
			t.Fatalf("y got %q, want %q", got.Data, want)
		}
	}
	n.send(t, h2Cmd{Op: "close", ID: "x", Code: 1000})
	n.expect(t, "x", "close")
	n.expect(t, "x", "end")
	hubWaitFor(t, "x to leave", func() bool { return h.Count() == 2 && len(h.Members("x")) == 1 })
}

// A client that stops reading blocks the server's writes on HTTP/2 flow
// control; the write deadline resets the stream and ends the connection.
func h2TestWriteTimeout(t *testing.T) {
	done := make(chan error, 1)
	_, n := startH2(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, WSConfig{WriteTimeout: 200 * time.Millisecond})
		if err != nil {
			done <- err
			return
		}
		msg := make([]byte, 64<<10)
		for i := 0; i < 1000; i++ {
			if err = c.WriteBinary(msg); err != nil {
				break
			}
		}
		done <- err
	}))
	n.open(t, h2Cmd{ID: "a", Path: "/"})
	n.send(t, h2Cmd{Op: "pause", ID: "a"})
	ce := wantClose(t, recvErr(t, done), StatusAbnormalClosure)
	if !errors.Is(ce.Err, os.ErrDeadlineExceeded) {
		t.Fatalf("write failed with %v, want the deadline", ce)
	}
}

// http.Server.Shutdown with a Tracker closes connections over HTTP/2
// with 1001 and returns once their handlers have.
func h2TestShutdown(t *testing.T) {
	var tr Tracker
	ended := make(chan error, 1)
	srv, n := startH2(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := tr.Upgrade(w, r, WSConfig{})
		if err != nil {
			ended <- err
			return
		}
		ended <- echoLoop(c)
	}))
	srv.Config.RegisterOnShutdown(tr.CloseAll)
	n.open(t, h2Cmd{ID: "a", Path: "/"})
	hubWaitFor(t, "the connection to be tracked", func() bool { return tr.Len() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Config.Shutdown(ctx) }()
	if ev := n.expect(t, "a", "close"); ev.Code != int(StatusGoingAway) {
		t.Fatalf("close %d, want 1001", ev.Code)
	}
	wantClose(t, recvErr(t, ended), StatusGoingAway)
	if err := recvErr(t, shut); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if tr.Len() != 0 {
		t.Errorf("%d connections still tracked", tr.Len())
	}
}
