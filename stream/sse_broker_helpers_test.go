package stream

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// bkBlock is one block of an event stream, read by a deliberately small
// reader: fields are taken as written by this package's encoder.
type bkBlock struct {
	Comment  bool   // a comment line, returned on its own
	Event    string // the event field ("" when absent)
	ID       string
	HasID    bool
	Data     string
	HasData  bool
	Retry    string
	HasRetry bool
}

// name returns the event type a browser would dispatch.
func (b bkBlock) name() string {
	if b.Event == "" {
		return "message"
	}
	return b.Event
}

// bkReader splits an event stream into blocks on blank lines.
type bkReader struct {
	r      *bufio.Reader
	lastID string
}

func newBkReader(r io.Reader) *bkReader { return &bkReader{r: bufio.NewReader(r)} }

// next returns the next comment or block (an id-only block included).
func (br *bkReader) next() (bkBlock, error) {
	var blk bkBlock
	fields := false
	for {
		line, err := br.r.ReadString('\n')
		if err != nil {
			if err == io.EOF && line == "" && !fields {
				return blk, io.EOF
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return blk, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if fields {
				if blk.HasID {
					br.lastID = blk.ID
				}
				return blk, nil
			}
			continue
		}
		if strings.HasPrefix(line, ":") {
			if fields {
				continue
			}
			return bkBlock{Comment: true, Data: strings.TrimPrefix(strings.TrimPrefix(line, ":"), " ")}, nil
		}
		fields = true
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "event":
			blk.Event = value
		case "id":
			blk.ID, blk.HasID = value, true
		case "retry":
			blk.Retry, blk.HasRetry = value, true
		case "data":
			if blk.HasData {
				blk.Data += "\n"
			}
			blk.Data += value
			blk.HasData = true
		}
	}
}

// event returns the next block that a browser would dispatch, skipping
// comments and id-only blocks.
func (br *bkReader) event() (bkBlock, error) {
	for {
		blk, err := br.next()
		if err != nil || (!blk.Comment && blk.HasData) {
			return blk, err
		}
	}
}

// bkStream is a subscription made by a test client.
type bkStream struct {
	*bkReader
	t      testing.TB
	resp   *http.Response
	cancel context.CancelFunc
}

// bkSubscribe GETs url and returns once the response headers arrived, which
// is after the broker registered the subscriber. hdr is pairs of header
// names and values.
func bkSubscribe(t testing.TB, c *http.Client, url string, hdr ...string) *bkStream {
	t.Helper()
	// A bound on a test that hangs; reads fail instead.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	return bkSubscribeCtx(t, ctx, cancel, c, url, hdr...)
}

// subscribe is bkSubscribe for a synctest bubble, where a timeout would
// fire as soon as the test sleeps past it.
func (n *bkPipeNet) subscribe(t testing.TB, query string, hdr ...string) *bkStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	return bkSubscribeCtx(t, ctx, cancel, n.client, "http://pipe/"+query, hdr...)
}

func bkSubscribeCtx(t testing.TB, ctx context.Context, cancel context.CancelFunc, c *http.Client, url string, hdr ...string) *bkStream {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	s := &bkStream{bkReader: newBkReader(resp.Body), t: t, resp: resp, cancel: cancel}
	t.Cleanup(s.close) // also when the test fails half-way
	return s
}

// mustEvent returns the next dispatched event or fails the test.
func (s *bkStream) mustEvent() bkBlock {
	s.t.Helper()
	blk, err := s.event()
	if err != nil {
		s.t.Fatalf("reading event: %v", err)
	}
	return blk
}

// wantData reads events and checks their data, in order.
func (s *bkStream) wantData(data ...string) {
	s.t.Helper()
	for _, d := range data {
		if blk := s.mustEvent(); blk.Data != d || blk.Event != "" {
			s.t.Fatalf("got event %q with data %q, want a message with data %q", blk.Event, blk.Data, d)
		}
	}
}

// wantGap reads a gap event named name and returns it with its data
// parsed.
func (s *bkStream) wantGap(name string) (dropped int, hasCount bool, reason string, blk bkBlock) {
	s.t.Helper()
	blk = s.mustEvent()
	if blk.Event != name {
		s.t.Fatalf("got event %q with data %q, want a %q event", blk.Event, blk.Data, name)
	}
	dropped, hasCount, reason = bkParseGap(s.t, blk.Data)
	return dropped, hasCount, reason, blk
}

// bkParseGap parses gap data: {"dropped":N,"reason":R}, N optional.
func bkParseGap(t testing.TB, data string) (dropped int, hasCount bool, reason string) {
	t.Helper()
	d := data
	if rest, ok := strings.CutPrefix(d, `{"dropped":`); ok {
		num, tail, _ := strings.Cut(rest, ",")
		n, err := strconv.Atoi(num)
		if err != nil {
			t.Fatalf("gap data %q: %v", data, err)
		}
		dropped, hasCount, d = n, true, "{"+tail
	}
	r, ok := strings.CutPrefix(d, `{"reason":"`)
	if !ok || !strings.HasSuffix(r, `"}`) {
		t.Fatalf("gap data %q is not {\"dropped\":N,\"reason\":R}", data)
	}
	return dropped, hasCount, strings.TrimSuffix(r, `"}`)
}

func (s *bkStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

func bkMsg(i int) Event { return Event{Data: strconv.Itoa(i)} }

func bkSeq(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

// bkWaitFor polls cond until it holds or 10s pass.
func bkWaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// bkCheckGoroutines records the goroutine count; the returned function
// fails the test if, within a deadline, the count does not fall back.
func bkCheckGoroutines(t testing.TB) func() {
	before := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// bkPipeNet is an HTTP server and client connected by net.Pipe, for tests
// that run in a synctest bubble: nothing is buffered between the two, so a
// client that stops reading stalls the server's writes at once.
type bkPipeNet struct {
	srv    *http.Server
	client *http.Client
	tr     *http.Transport
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
	served chan struct{}
}

// newBkPipeNet serves h; configure, if given, may change the server and the
// transport before the server starts.
func newBkPipeNet(h http.Handler, configure ...func(*http.Server, *http.Transport)) *bkPipeNet {
	n := &bkPipeNet{
		srv:    &http.Server{Handler: h},
		conns:  make(chan net.Conn),
		closed: make(chan struct{}),
		served: make(chan struct{}),
	}
	n.tr = &http.Transport{DialContext: n.Dial}
	n.client = &http.Client{Transport: n.tr}
	for _, f := range configure {
		f(n.srv, n.tr)
	}
	go func() {
		defer close(n.served)
		n.srv.Serve(n)
	}()
	return n
}

// Accept, Close and Addr make bkPipeNet the server's listener.
func (n *bkPipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-n.conns:
		return c, nil
	case <-n.closed:
		return nil, net.ErrClosed
	}
}

func (n *bkPipeNet) Close() error {
	n.once.Do(func() { close(n.closed) })
	return nil
}

func (n *bkPipeNet) Addr() net.Addr { return bkPipeAddr{} }

// Dial connects a new client end to the server.
func (n *bkPipeNet) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case n.conns <- s:
		return c, nil
	case <-n.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// shutdown closes the server and the client's connections and waits for
// the server to stop.
func (n *bkPipeNet) shutdown() {
	n.srv.Close()
	n.tr.CloseIdleConnections()
	<-n.served
}

type bkPipeAddr struct{}

func (bkPipeAddr) Network() string { return "pipe" }
func (bkPipeAddr) String() string  { return "pipe" }
