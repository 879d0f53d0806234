package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/stream"
)

// The WebSocket interop tests pair a stream.WebSocketConn ("ours") with a
// connection made by a WebSocket implementation we did not write
// ("theirs"): gorilla/websocket, coder/websocket and the npm ws package.
// Every case runs twice per implementation, once with theirs as the
// client of a stream.Upgrade server and once with theirs as the server
// that stream.Dial connects to.

// waitLimit bounds every wait so that a broken peer fails the test
// instead of hanging it. It is a guard, not a measurement: nothing here
// is expected to come close to it.
const waitLimit = time.Minute

// readLimit is the ReadLimit on both sides, above the largest message.
const readLimit = 32 << 20

// received is one data message as an endpoint saw it. Payloads are kept
// as their length, SHA-256 and first bytes, so that messages that crossed
// into Node need not come back whole.
type received struct {
	mt   stream.MessageType
	n    int
	sum  [32]byte
	head []byte
}

func digest(mt stream.MessageType, p []byte) received {
	return received{mt: mt, n: len(p), sum: sha256.Sum256(p), head: bytes.Clone(p[:min(len(p), 64)])}
}

func (r received) String() string {
	return fmt.Sprintf("%v message of %d bytes starting %q", r.mt, r.n, r.head)
}

// ended is how a connection ended as their side saw it: the status code
// and reason of the close frame it received, or code 0 and the error when
// it received none.
type ended struct {
	code   int
	reason string
	err    error
}

// peer is their end of one connection.
type peer interface {
	// send sends one message in whatever framing the library chooses.
	send(mt stream.MessageType, p []byte) error
	// sendFragments sends one message as several frames, one per part
	// where the library allows it. With ping set it sends a ping between
	// the first frames and waits for its pong before returning, which
	// needs the other side to answer a ping in the middle of a message.
	sendFragments(ctx context.Context, mt stream.MessageType, parts [][]byte, ping bool) error
	// ping sends a ping and waits for the pong answering it.
	ping(ctx context.Context) error
	// close starts the closing handshake with code and reason.
	close(code int, reason string) error
	// messages delivers the data messages received, in order; it is
	// closed when the connection has ended.
	messages() <-chan received
	// end waits for the connection to end and says how.
	end(ctx context.Context) ended
	// kill drops the connection without a closing handshake and frees
	// everything the peer holds; it is called once, at cleanup.
	kill()
	// extensions returns the Sec-WebSocket-Extensions value of the
	// handshake response as their side sent or received it; ok is false
	// when the library does not expose it.
	extensions() (ext string, ok bool)
}

// ours is our end of a connection with a goroutine reading it.
type ours struct {
	c    *stream.WebSocketConn
	msgs chan ourMessage
	done chan struct{}
	err  error // ReadMessage's final error, set before done closes
}

type ourMessage struct {
	mt stream.MessageType
	p  []byte
}

func newOurs(c *stream.WebSocketConn) *ours {
	o := &ours{c: c, msgs: make(chan ourMessage, 64), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				o.err = err
				close(o.msgs)
				return
			}
			o.msgs <- ourMessage{mt, p}
		}
	}()
	return o
}

// expect fails t unless the next message our side receives is mt, p.
func (o *ours) expect(t *testing.T, mt stream.MessageType, p []byte) {
	t.Helper()
	select {
	case m, ok := <-o.msgs:
		if !ok {
			t.Fatalf("ours: connection ended waiting for a %v message of %d bytes: %v", mt, len(p), o.err)
		}
		if m.mt != mt || !bytes.Equal(m.p, p) {
			t.Fatalf("ours: got %v, want %v", digest(m.mt, m.p), digest(mt, p))
		}
	case <-time.After(waitLimit):
		t.Fatalf("ours: no %v message of %d bytes within %v", mt, len(p), waitLimit)
	}
}

// wait waits for our reader to end and returns its error.
func (o *ours) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-o.done:
		return o.err
	case <-time.After(waitLimit):
		t.Fatalf("ours: reader still running after %v", waitLimit)
		return nil
	}
}

// expectTheirs fails t unless the next message p receives is mt, want.
func expectTheirs(t *testing.T, p peer, mt stream.MessageType, want []byte) {
	t.Helper()
	select {
	case got, ok := <-p.messages():
		if !ok {
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			t.Fatalf("theirs: connection ended waiting for a %v message of %d bytes: %+v", mt, len(want), p.end(ctx))
		}
		if w := digest(mt, want); got.mt != w.mt || got.n != w.n || got.sum != w.sum {
			t.Fatalf("theirs: got %v, want %v", got, w)
		}
	case <-time.After(waitLimit):
		t.Fatalf("theirs: no %v message of %d bytes within %v", mt, len(want), waitLimit)
	}
}

// pair is one connection under test.
type pair struct {
	ours   *ours
	theirs peer
	// compressed says that the connection negotiated permessage-deflate.
	compressed bool
}

// implementation makes connections between ours and one third-party
// WebSocket library.
type implementation struct {
	name string
	// client connects theirs as a client to url, a stream.Upgrade
	// server.
	client func(t *testing.T, url string) peer
	// server starts theirs as a server and returns its URL, the
	// DialConfig that reaches it (TLS settings for wss://) and a function
	// returning the peer once Dial has connected; it lives until t's
	// cleanup.
	server func(t *testing.T) (url string, cfg stream.DialConfig, p func() peer)
	// serverOnly says that theirs only plays the server.
	serverOnly bool

	// compression is our side's Compression and threshold its
	// CompressionThreshold; theirs is configured to match in client and
	// server.
	compression stream.CompressionMode
	threshold   int
	// extClient and extServer are the Sec-WebSocket-Extensions values
	// the handshake must settle on with theirs as client and as server;
	// "" means no extension. Both ends are checked, so a pairing fails
	// when compression was meant to be on and silently is not.
	extClient, extServer string
}

// ourServer starts an httptest server whose handler upgrades with
// stream.Upgrade, compressing as impl says, and hands the connection
// over.
func ourServer(t *testing.T, impl implementation) (url string, accepted <-chan *stream.WebSocketConn) {
	t.Helper()
	ch := make(chan *stream.WebSocketConn, 1)
	cfg := stream.WSConfig{ReadLimit: readLimit, Compression: impl.compression, CompressionThreshold: impl.threshold}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := stream.Upgrade(w, r, cfg)
		if err != nil {
			t.Errorf("Upgrade: %v", err)
			return
		}
		ch <- c
		<-c.Closed()
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), ch
}

// connect makes a pair with theirs as client (asClient) or as server,
// and checks the extensions both ends settled on.
func connect(t *testing.T, impl implementation, asClient bool) pair {
	t.Helper()
	var p pair
	want := impl.extServer
	if asClient {
		want = impl.extClient
		url, accepted := ourServer(t, impl)
		theirs := impl.client(t, url)
		select {
		case c := <-accepted:
			p = pair{ours: newOurs(c), theirs: theirs}
		case <-time.After(waitLimit):
			t.Fatalf("no connection reached the server within %v", waitLimit)
		}
	} else {
		url, cfg, accept := impl.server(t)
		cfg.ReadLimit = readLimit
		cfg.Compression = impl.compression
		cfg.CompressionThreshold = impl.threshold
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		c, resp, err := stream.Dial(ctx, url, cfg)
		if err != nil {
			t.Fatalf("Dial %s: %v", url, err)
		}
		p = pair{ours: newOurs(c), theirs: accept()}
		if got := strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ", "); got != want {
			p.ours.c.Close()
			p.theirs.kill()
			t.Fatalf("their server answered Sec-WebSocket-Extensions %q, want %q", got, want)
		}
	}
	if got := p.ours.c.Extensions(); got != want {
		p.ours.c.Close()
		p.theirs.kill()
		t.Fatalf("our side settled on Sec-WebSocket-Extensions %q, want %q", got, want)
	}
	if got, ok := p.theirs.extensions(); ok && got != want {
		p.ours.c.Close()
		p.theirs.kill()
		t.Fatalf("their side saw Sec-WebSocket-Extensions %q, want %q", got, want)
	}
	p.compressed = want != ""
	return p
}

// checkGoroutines registers a cleanup, run after every other cleanup of
// t, that fails t unless the goroutine count returns to what it is now.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// pattern returns n bytes of printable ASCII that the Node peer can
// generate too: byte i is 32 + (i*31 + i/256) % 95.
func pattern(n int) []byte {
	return patternBuf()[:n]
}

var patternBuf = sync.OnceValue(func() []byte {
	b := make([]byte, 16<<20)
	for i := range b {
		b[i] = byte(32 + (i*31+i/256)%95)
	}
	return b
})

// noise returns n bytes that deflate cannot shrink, which the Node peer
// can generate too: byte i is the low byte of the (i+1)-th state of the
// xorshift32 generator (shifts 13, 17, 5) seeded with 1.
func noise(n int) []byte {
	return noiseBuf()[:n]
}

// noiseText returns n bytes of printable ASCII from the same generator:
// byte i is 32 + state % 95. Deflate shrinks it by little more than its
// Huffman coding of 95 symbols saves.
func noiseText(n int) []byte {
	return noiseTextBuf()[:n]
}

const noiseMax = 4 << 20

var noiseBuf = sync.OnceValue(func() []byte {
	b := make([]byte, noiseMax)
	x := uint32(1)
	for i := range b {
		x = xorshift32(x)
		b[i] = byte(x)
	}
	return b
})

var noiseTextBuf = sync.OnceValue(func() []byte {
	b := make([]byte, noiseMax)
	x := uint32(1)
	for i := range b {
		x = xorshift32(x)
		b[i] = byte(32 + x%95)
	}
	return b
})

func xorshift32(x uint32) uint32 {
	x ^= x << 13
	x ^= x >> 17
	x ^= x << 5
	return x
}

// runPair runs body on a fresh connection between ours and impl, then
// closes it if body did not, and checks that both sides have ended and
// that no goroutine is left.
func runPair(t *testing.T, impl implementation, asClient bool, body func(t *testing.T, p pair)) {
	checkGoroutines(t)
	p := connect(t, impl, asClient)
	t.Cleanup(func() { p.ours.c.Close() })
	t.Cleanup(p.theirs.kill)
	body(t, p)
	if !t.Failed() {
		p.ours.c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		p.theirs.end(ctx)
		p.ours.wait(t)
	}
}
