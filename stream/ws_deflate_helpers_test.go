package stream

import (
	"bufio"
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/internal/wsframe"
	"github.com/stdrealtime/realtime/internal/wstest"
)

// peerCompressor compresses messages the way a peer would (RFC 7692
// §7.2.1), with or without context takeover.
type peerCompressor struct {
	fw       *flate.Writer
	buf      bytes.Buffer
	takeover bool
}

func newPeerCompressor(takeover bool) *peerCompressor {
	pc := &peerCompressor{takeover: takeover}
	pc.fw, _ = flate.NewWriter(&pc.buf, flate.BestCompression)
	return pc
}

func (pc *peerCompressor) compress(p []byte) []byte {
	pc.buf.Reset()
	if !pc.takeover {
		pc.fw.Reset(&pc.buf)
	}
	pc.fw.Write(p)
	pc.fw.Flush()
	b := pc.buf.Bytes()
	if !bytes.HasSuffix(b, []byte{0, 0, 0xff, 0xff}) {
		panic("flush without sync marker")
	}
	return bytes.Clone(b[:len(b)-4])
}

// peerInflater inflates what the endpoint sends (RFC 7692 §7.2.2),
// keeping history for context takeover. It uses the tail-only method:
// the decompressor reports io.ErrUnexpectedEOF after the data.
type peerInflater struct {
	hist     []byte
	takeover bool
}

func (pi *peerInflater) inflate(p []byte) ([]byte, error) {
	var dict []byte
	if pi.takeover && len(pi.hist) > 0 {
		dict = pi.hist[max(0, len(pi.hist)-32768):]
	}
	r := flate.NewReaderDict(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff})), dict)
	out, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	pi.hist = append(pi.hist, out...)
	return out, nil
}

// readMessageFrames reads the frames of one data message, answering
// nothing, and returns them.
func readMessageFrames(t *testing.T, p *wstest.Peer) []wstest.Frame {
	t.Helper()
	var fs []wstest.Frame
	for {
		f, err := p.ReadFrame()
		if err != nil {
			t.Fatalf("read frame: %v", err)
		}
		if f.Opcode.IsControl() {
			continue
		}
		fs = append(fs, f)
		if f.Fin {
			return fs
		}
	}
}

// readPeerMessage reads one message, checks RSV1 is only on its first
// frame, and inflates it when compressed.
func readPeerMessage(t *testing.T, p *wstest.Peer, pi *peerInflater) (payload []byte, compressed bool) {
	t.Helper()
	fs := readMessageFrames(t, p)
	for i, f := range fs {
		if i > 0 && f.Rsv != 0 {
			t.Fatalf("frame %d of a message has RSV %d", i, f.Rsv)
		}
	}
	if fs[0].Rsv&^rsv1 != 0 {
		t.Fatalf("first frame RSV %d", fs[0].Rsv)
	}
	var raw []byte
	for _, f := range fs {
		raw = append(raw, f.Payload...)
	}
	if fs[0].Rsv == 0 {
		return raw, false
	}
	out, err := pi.inflate(raw)
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return out, true
}

// compressedFrames splits a compressed payload into fragments, RSV1 on
// the first only, encoded as the peer sends them.
func compressedFrames(p *wstest.Peer, op wsframe.Opcode, payload []byte, parts int) []byte {
	var out []byte
	size := (len(payload) + parts - 1) / parts
	for i := 0; i < parts; i++ {
		lo, hi := min(i*size, len(payload)), min((i+1)*size, len(payload))
		var rsv byte
		o := wsframe.OpContinuation
		if i == 0 {
			rsv, o = rsv1, op
		}
		out = wstest.AppendFrame(out, i == parts-1, rsv, o, p.Client, p.MaskKey, payload[lo:hi])
	}
	return out
}

// dialRawExt performs a raw client handshake offering ext and returns
// the peer and the response.
func dialRawExt(t *testing.T, addr, ext string) (*wstest.Peer, *http.Response) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, wstest.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(wstest.Timeout))
	req := "GET / HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + wstest.Key +
		"\r\nSec-WebSocket-Version: 13\r\n"
	if ext != "" {
		req += "Sec-WebSocket-Extensions: " + ext + "\r\n"
	}
	if _, err := c.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &wstest.Peer{Conn: c, R: br, Client: true, MaskKey: [4]byte{0x12, 0x9a, 0x55, 0xe0}}, resp
}

// startDeflateServer serves an echo endpoint with cfg and connects a raw
// client offering ext.
func startDeflateServer(t *testing.T, cfg WSConfig, ext string) (*wsEcho, *http.Response) {
	t.Helper()
	srv, e, conns := serveEcho(t, cfg)
	p, resp := dialRawExt(t, strings.TrimPrefix(srv.URL, "http://"), ext)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	e.peer = p
	e.conn = <-conns
	return e, resp
}

// startDeflateClient runs Dial with cfg against a raw server answering
// with the extension response ext, and an echo loop on the client.
func startDeflateClient(t *testing.T, cfg DialConfig, ext string) *wsEcho {
	t.Helper()
	return startClientEchoResponse(t, cfg, func(r *http.Request) string {
		return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			wstest.Accept(r.Header.Get("Sec-WebSocket-Key")) + "\r\nSec-WebSocket-Extensions: " + ext + "\r\n\r\n"
	}, nil)
}

// deflateRole starts an echo endpoint in one role with compression
// negotiated, the peer keeping (takeover) or not keeping its context.
type deflateRole struct {
	name  string
	start func(t *testing.T, mode CompressionMode, threshold int, readLimit int64) *wsEcho
}

var deflateRoles = []deflateRole{
	{"server", func(t *testing.T, mode CompressionMode, threshold int, readLimit int64) *wsEcho {
		ext := "permessage-deflate"
		e, resp := startDeflateServer(t, WSConfig{Compression: mode, CompressionThreshold: threshold, ReadLimit: readLimit}, ext)
		if resp.Header.Get("Sec-WebSocket-Extensions") == "" {
			t.Fatal("compression not negotiated")
		}
		return e
	}},
	{"client", func(t *testing.T, mode CompressionMode, threshold int, readLimit int64) *wsEcho {
		ext := "permessage-deflate"
		if mode == CompressionNoContextTakeover {
			ext += "; server_no_context_takeover; client_no_context_takeover"
		}
		return startDeflateClient(t, DialConfig{Compression: mode, CompressionThreshold: threshold, ReadLimit: readLimit}, ext)
	}},
}
