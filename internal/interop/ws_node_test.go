package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/stream"
)

// The npm ws package under Node, driven through node/ws_peer.mjs: one
// process per connection, commands as JSON lines on its stdin, events as
// JSON lines on its stdout.

var nodeImpl = nodeWith("node-ws", "")

// nodeTakeoverImpl compresses with context takeover, ws compressing every
// message (threshold 0) and ours too. A ws client offers
// client_max_window_bits, which our server leaves out of its answer.
var nodeTakeoverImpl = func() implementation {
	impl := nodeWith("node-ws-deflate-takeover", `{"threshold":0}`)
	impl.compression = stream.CompressionContextTakeover
	impl.threshold = -1
	impl.extClient = "permessage-deflate"
	impl.extServer = "permessage-deflate"
	return impl
}()

// nodeNoContextImpl compresses without context takeover, each side with
// its default threshold (ws: 1024 bytes, ours: 128).
var nodeNoContextImpl = func() implementation {
	impl := nodeWith("node-ws-deflate-no-context", `{"serverNoContextTakeover":true,"clientNoContextTakeover":true}`)
	impl.compression = stream.CompressionNoContextTakeover
	impl.extClient = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	impl.extServer = impl.extClient
	return impl
}()

// nodeWith pairs ours with ws, deflate being ws's perMessageDeflate
// option as JSON, or "" for none.
func nodeWith(name, deflate string) implementation {
	var opt []string
	if deflate != "" {
		opt = []string{deflate}
	}
	return implementation{
		name: name,
		client: func(t *testing.T, url string) peer {
			p := startNodePeer(t, append([]string{"client", url}, opt...)...)
			p.waitFor(t, p.opened, "open")
			return p
		},
		server: func(t *testing.T) (string, stream.DialConfig, func() peer) {
			p := startNodePeer(t, append([]string{"server"}, opt...)...)
			p.waitFor(t, p.listening, "listening")
			return "ws://127.0.0.1:" + strconv.Itoa(p.port) + "/", stream.DialConfig{}, func() peer {
				p.waitFor(t, p.opened, "open")
				return p
			}
		},
	}
}

func TestWebSocketNodeWS(t *testing.T) { runCases(t, nodeImpl) }

func TestWebSocketNodeWSDeflateTakeover(t *testing.T) { runCases(t, nodeTakeoverImpl) }

func TestWebSocketNodeWSDeflateNoContext(t *testing.T) { runCases(t, nodeNoContextImpl) }

// nodeEvent is one line of ws_peer.mjs output.
type nodeEvent struct {
	Ev         string `json:"ev"`
	Extensions string `json:"extensions"`
	Port       int    `json:"port"`
	Binary     bool   `json:"binary"`
	Len        int    `json:"len"`
	SHA256     string `json:"sha256"`
	Head       []byte `json:"head"`
	Data       []byte `json:"data"`
	Code       int    `json:"code"`
	Reason     string `json:"reason"`
	Message    string `json:"message"`
}

// nodeCommand is one line of ws_peer.mjs input.
type nodeCommand struct {
	Op      string `json:"op"`
	Binary  bool   `json:"binary,omitempty"`
	Fin     *bool  `json:"fin,omitempty"`
	Data    []byte `json:"data,omitempty"`
	Pattern *int   `json:"pattern,omitempty"`
	Noise   *int   `json:"noise,omitempty"`
	Skip    int    `json:"skip,omitempty"`
	Text    bool   `json:"text,omitempty"`
	Code    int    `json:"code,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

type nodePeer struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	wmu   sync.Mutex

	listening chan struct{}
	opened    chan struct{}
	port      int    // set before listening closes
	ext       string // set before opened closes
	msgs      chan received
	pongs     chan []byte
	done      chan struct{}
	result    ended // set before done closes

	stderr bytes.Buffer // read only after done
	mu     sync.Mutex
	errs   []string // "error" events, for diagnostics
	pings  int

	killOnce sync.Once
}

// startNodePeer runs ws_peer.mjs with args. It skips t when Node or the
// ws package is missing, unless CI=true, when it fails.
func startNodePeer(t *testing.T, args ...string) *nodePeer {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join("node_modules", "ws", "package.json"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node and the ws package are required in CI (run npm ci in internal/interop): %v", err)
		}
		t.Skipf("needs node and the ws package (npm ci in internal/interop): %v", err)
	}
	p := &nodePeer{
		cmd:       exec.Command(node, append([]string{filepath.Join("node", "ws_peer.mjs")}, args...)...),
		listening: make(chan struct{}),
		opened:    make(chan struct{}),
		msgs:      make(chan received, 64),
		pongs:     make(chan []byte, 16),
		done:      make(chan struct{}),
	}
	p.cmd.Stderr = &p.stderr
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.readEvents(stdout)
	t.Cleanup(p.kill)
	return p
}

// readEvents turns the peer's output into channel sends until it exits,
// then waits for the process.
func (p *nodePeer) readEvents(stdout io.Reader) {
	defer close(p.done)
	closed := false
	var parseErr error
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e nodeEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			parseErr = fmt.Errorf("bad line %q: %v", sc.Bytes(), err)
			break
		}
		switch e.Ev {
		case "listening":
			p.port = e.Port
			close(p.listening)
		case "open":
			p.ext = e.Extensions
			close(p.opened)
		case "message":
			r := received{mt: stream.TextMessage, n: e.Len, head: e.Head}
			if e.Binary {
				r.mt = stream.BinaryMessage
			}
			hex.Decode(r.sum[:], []byte(e.SHA256))
			p.msgs <- r
		case "pong":
			select {
			case p.pongs <- e.Data:
			default:
			}
		case "error":
			p.mu.Lock()
			p.errs = append(p.errs, e.Message)
			p.mu.Unlock()
		case "close":
			closed = true
			p.result = ended{code: e.Code, reason: e.Reason}
		}
	}
	io.Copy(io.Discard, stdout)
	close(p.msgs)
	werr := p.cmd.Wait()
	if !closed {
		p.result = ended{err: fmt.Errorf("node peer ended without a close event (%v, %v): %s", parseErr, werr, p.stderr.Bytes())}
	}
}

// waitFor waits for ch to close, failing t if the peer ends first.
func (p *nodePeer) waitFor(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-p.done:
		t.Fatalf("node peer ended before %q: %v", what, p.result.err)
	case <-time.After(waitLimit):
		t.Fatalf("node peer: no %q within %v", what, waitLimit)
	}
}

func (p *nodePeer) command(c nodeCommand) error {
	line, err := json.Marshal(c)
	if err != nil {
		return err
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_, err = p.stdin.Write(append(line, '\n'))
	return err
}

// sendCommand describes one frame; payloads that are a prefix of
// pattern's output, or a piece of noise's or noiseText's, are described
// by where they lie only.
func sendCommand(mt stream.MessageType, b []byte, fin bool) nodeCommand {
	c := nodeCommand{Op: "send", Binary: mt == stream.BinaryMessage, Fin: &fin}
	n := len(b)
	switch {
	case n <= 1024:
		c.Data = b
	case bytes.Equal(b, pattern(n)):
		c.Pattern = &n
	default:
		for _, gen := range []struct {
			buf  []byte
			text bool
		}{{noiseBuf(), false}, {noiseTextBuf(), true}} {
			if off, ok := pieceOf(gen.buf, b); ok {
				c.Noise, c.Skip, c.Text = &n, off, gen.text
				return c
			}
		}
		c.Data = b
	}
	return c
}

// pieceOf reports whether b is buf[off:off+len(b)] for some off. It finds
// off for slices of buf taken as buf[off:] and then cut, as splitAt
// does, and compares the bytes, so a false match is impossible.
func pieceOf(buf, b []byte) (off int, ok bool) {
	off = cap(buf) - cap(b)
	if off < 0 || off+len(b) > len(buf) {
		return 0, false
	}
	return off, bytes.Equal(b, buf[off:off+len(b)])
}

func (p *nodePeer) send(mt stream.MessageType, b []byte) error {
	return p.command(sendCommand(mt, b, true))
}

func (p *nodePeer) sendFragments(ctx context.Context, mt stream.MessageType, parts [][]byte, ping bool) error {
	var payload []byte
	for i, part := range parts {
		if err := p.command(sendCommand(mt, part, i == len(parts)-1)); err != nil {
			return err
		}
		if i == 0 && ping {
			var err error
			if payload, err = p.sendPing(); err != nil {
				return err
			}
		}
	}
	if ping {
		return p.awaitPong(ctx, payload)
	}
	return nil
}

func (p *nodePeer) ping(ctx context.Context) error {
	payload, err := p.sendPing()
	if err != nil {
		return err
	}
	return p.awaitPong(ctx, payload)
}

// sendPing sends a ping with a 125-byte payload, the most allowed (RFC
// 6455 §5.5), different for every ping.
func (p *nodePeer) sendPing() ([]byte, error) {
	p.pings++
	payload := []byte(fmt.Sprintf("%-125s", "node ping "+strconv.Itoa(p.pings)))
	return payload, p.command(nodeCommand{Op: "ping", Data: payload})
}

func (p *nodePeer) awaitPong(ctx context.Context, payload []byte) error {
	for {
		select {
		case b := <-p.pongs:
			if bytes.Equal(b, payload) {
				return nil
			}
		case <-p.done:
			return errors.New("node peer ended waiting for a pong")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (p *nodePeer) close(code int, reason string) error {
	return p.command(nodeCommand{Op: "close", Code: code, Reason: reason})
}

func (p *nodePeer) messages() <-chan received { return p.msgs }

func (p *nodePeer) end(ctx context.Context) ended {
	select {
	case <-p.done:
		return p.result
	case <-ctx.Done():
		return ended{err: ctx.Err()}
	}
}

// kill closes the peer's stdin, on which it drops its connection and
// exits, and kills it if it has not exited within waitLimit.
func (p *nodePeer) kill() { p.killOnce.Do(p.stop) }

func (p *nodePeer) stop() {
	p.stdin.Close()
	for range p.msgs {
	}
	select {
	case <-p.done:
	case <-time.After(waitLimit):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// extensions returns the Sec-WebSocket-Extensions header of the response
// that the ws client received or the ws server sent.
func (p *nodePeer) extensions() (string, bool) {
	select {
	case <-p.opened:
		return p.ext, true
	default:
		return "", false
	}
}
