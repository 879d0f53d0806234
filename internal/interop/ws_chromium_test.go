package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/stream"
)

// Headless Chromium as a WebSocket client with permessage-deflate: a page
// served by a stream.Upgrade server, loaded through node/chromium_ws.mjs,
// opens one connection per compression mode. On each, the page first
// reports the extensions it negotiated and sends the messages of
// browserPlan, built in JavaScript; then it echoes every message the
// server sends, which the server checks byte for byte. Chromium always
// offers "permessage-deflate; client_max_window_bits".

// planned is one message the page builds and sends: pattern, noise or
// noiseText bytes (n of them), utf8 (utf8Text's unit n times) or json
// (jsonMessage(n)).
type planned struct {
	Kind   string `json:"kind"`
	N      int    `json:"n"`
	Binary bool   `json:"binary"`
}

// bytes returns what the page sends for m.
func (m planned) bytes() []byte {
	switch m.Kind {
	case "pattern":
		return pattern(m.N)
	case "noise":
		return noise(m.N)
	case "noiseText":
		return noiseText(m.N)
	case "utf8":
		return bytes.Repeat([]byte(utf8Unit), m.N)
	case "json":
		return jsonMessage(m.N)
	}
	panic("unknown kind " + m.Kind)
}

// utf8Unit is what utf8Text repeats.
const utf8Unit = "h\u00e9llo w\u00f6rld \u20ac \U0001F600 "

// browserPlan is what the page sends on each connection.
var browserPlan = func() []planned {
	var plan []planned
	for _, n := range []int{0, 125, 126, 65535, 65536, 1 << 20, 4 << 20} {
		plan = append(plan, planned{Kind: "pattern", N: n})
	}
	plan = append(plan,
		planned{Kind: "pattern", N: 1 << 20, Binary: true},
		planned{Kind: "noise", N: 1 << 20, Binary: true},
		planned{Kind: "noise", N: 100, Binary: true},
		planned{Kind: "noiseText", N: 256 << 10},
		planned{Kind: "utf8", N: 1500},
	)
	for i := range 200 {
		plan = append(plan, planned{Kind: "json", N: i})
	}
	return plan
}()

// serverSends returns what the server sends on each connection for the
// page to echo: random bytes from crypto/rand, fresh for every call,
// random printable text, compressible text and JSON, and empty messages.
func serverSends() []ourMessage {
	random := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	text := random(256 << 10)
	for i, c := range text {
		text[i] = 32 + c%95
	}
	msgs := []ourMessage{
		{stream.BinaryMessage, random(1 << 20)},
		{stream.BinaryMessage, random(200)},
		{stream.BinaryMessage, nil},
		{stream.TextMessage, nil},
		{stream.TextMessage, text},
		{stream.TextMessage, pattern(4 << 20)},
		{stream.TextMessage, utf8Text},
	}
	for i := range 100 {
		msgs = append(msgs, ourMessage{stream.TextMessage, jsonMessage(1000 + i)})
	}
	return msgs
}

// browserModes are the connections the page opens: path and mode.
var browserModes = []struct {
	path string
	mode stream.CompressionMode
	ext  string // the answer to Chromium's offer
}{
	{"takeover", stream.CompressionContextTakeover, "permessage-deflate"},
	{"no-context", stream.CompressionNoContextTakeover, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
}

// browserPage is the page; %s are the plan and the paths as JSON.
const browserPage = `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>permessage-deflate</title></head>
<body><script>
"use strict";
const plan = %s;
const paths = %s;

function pattern(n) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = 32 + ((i * 31 + Math.floor(i / 256)) %% 95);
  return b;
}
function noise(n, text) {
  const b = new Uint8Array(n);
  let x = 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = text ? 32 + (x %% 95) : x & 0xff;
  }
  return b;
}
function jsonMessage(i) {
  return '{"type":"update","seq":' + i + ',"room":"lobby-' + (i %% 7) + '","user":{"id":' + (1000 + (i * 13) %% 97) +
    ',"name":"user' + ((i * 7) %% 31) + '"},"value":' + ((i * i) %% 1000) + "." + String(i %% 100).padStart(2, "0") +
    ',"tags":["live","json"]}';
}
function message(m) {
  let b;
  switch (m.kind) {
    case "pattern": b = pattern(m.n); break;
    case "noise": b = noise(m.n, false); break;
    case "noiseText": b = noise(m.n, true); break;
    case "utf8": return "h\u00e9llo w\u00f6rld \u20ac \u{1F600} ".repeat(m.n);
    case "json": return jsonMessage(m.n);
    default: throw new Error("unknown kind " + m.kind);
  }
  return m.binary ? b : new TextDecoder().decode(b);
}

function run(path) {
  return new Promise((resolve) => {
    const ws = new WebSocket("ws://" + location.host + "/ws/" + path);
    ws.binaryType = "arraybuffer";
    let echoed = 0;
    ws.onopen = () => {
      ws.send("extensions:" + ws.extensions);
      for (const m of plan) ws.send(message(m));
    };
    ws.onmessage = (ev) => {
      echoed++;
      ws.send(ev.data);
    };
    ws.onerror = () => console.error(path + ": WebSocket error");
    ws.onclose = (ev) => resolve({ path, code: ev.code, reason: ev.reason, wasClean: ev.wasClean, extensions: ws.extensions, echoed });
  });
}

Promise.all(paths.map(run)).then((r) => { window.results = r; });
</script></body></html>
`

// countingConn counts the bytes that cross a connection, frame headers
// and compressed payloads as they are on the wire.
type countingConn struct {
	net.Conn
	in, out atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	return n, err
}

type countingListener struct{ net.Listener }

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c}, nil
}

type connKey struct{}

// browserResult is what chromium_ws.mjs prints.
type browserResult struct {
	Results []struct {
		Path       string `json:"path"`
		Code       int    `json:"code"`
		Reason     string `json:"reason"`
		WasClean   bool   `json:"wasClean"`
		Extensions string `json:"extensions"`
		Echoed     int    `json:"echoed"`
	} `json:"results"`
	Errors []struct {
		Text string `json:"text"`
		URL  string `json:"url"`
	} `json:"errors"`
	UserAgent string `json:"userAgent"`
}

// serverReport is what the server saw on one connection.
type serverReport struct {
	path                  string
	err                   error
	ext                   string
	stats                 stream.WebSocketStats
	wireIn, wireOut       int64
	payloadIn, payloadOut int64
}

func TestWebSocketChromiumDeflate(t *testing.T) {
	chromiumPath := os.Getenv("CHROMIUM")
	if chromiumPath == "" {
		chromiumPath = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("needs Chromium at %s (set CHROMIUM to another path): %v", chromiumPath, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skipf("needs node: %v", err)
	}
	if _, err := os.Stat(filepath.Join("node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("needs the playwright-core package: run npm ci in internal/interop: %v", err)
	}
	checkGoroutines(t)

	plan, _ := json.Marshal(browserPlan)
	var paths []string
	for _, m := range browserModes {
		paths = append(paths, m.path)
	}
	pathsJSON, _ := json.Marshal(paths)
	page := fmt.Sprintf(browserPage, plan, pathsJSON)

	reports := make(chan serverReport, len(browserModes))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page))
	})
	for _, m := range browserModes {
		mux.HandleFunc("GET /ws/"+m.path, func(w http.ResponseWriter, r *http.Request) {
			cc := r.Context().Value(connKey{}).(*countingConn)
			c, err := stream.Upgrade(w, r, stream.WSConfig{ReadLimit: readLimit, Compression: m.mode})
			if err != nil {
				reports <- serverReport{path: m.path, err: err}
				return
			}
			in0, out0 := cc.in.Load(), cc.out.Load()
			rep := serverReport{path: m.path, ext: c.Extensions()}
			rep.err = checkBrowserConn(c, m.ext)
			// With no reader left, this reads Chromium's answer itself;
			// the page reports whether the handshake was clean.
			c.CloseWithStatus(stream.StatusNormalClosure, "done")
			rep.stats = c.Stats()
			rep.wireIn, rep.wireOut = cc.in.Load()-in0, cc.out.Load()-out0
			reports <- rep
		})
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = countingListener{srv.Listener}
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, c)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.Listener.Addr().String(), "127.0.0.1:") {
		t.Fatalf("server listens on %s, want 127.0.0.1", srv.Listener.Addr())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("node", "chromium_ws.mjs"), srv.URL+"/")
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium_ws.mjs: %v\n%s", err, stderr.Bytes())
	}
	var res browserResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("chromium_ws.mjs output %q: %v", stdout.Bytes(), err)
	}
	t.Logf("browser: %s", res.UserAgent)
	for _, e := range res.Errors {
		t.Errorf("console error at %s: %s", e.URL, e.Text)
	}

	sent := serverSends()
	for range browserModes {
		var rep serverReport
		select {
		case rep = <-reports:
		case <-time.After(waitLimit):
			t.Fatalf("a WebSocket handler did not finish within %v", waitLimit)
		}
		want := ""
		for _, m := range browserModes {
			if m.path == rep.path {
				want = m.ext
			}
		}
		if rep.err != nil {
			t.Errorf("%s: %v", rep.path, rep.err)
			continue
		}
		if rep.ext != want {
			t.Errorf("%s: our side settled on Sec-WebSocket-Extensions %q, want %q", rep.path, rep.ext, want)
		}
		// The page sent the plan, its report and the echoes; every
		// message counted uncompressed.
		in, out := int64(rep.stats.BytesIn), int64(rep.stats.BytesOut)
		t.Logf("%s: %d payload bytes in over %d wire bytes (%.3f), %d out over %d (%.3f)",
			rep.path, in, rep.wireIn, float64(rep.wireIn)/float64(in), out, rep.wireOut, float64(rep.wireOut)/float64(out))
		// Most of the payload compresses well, so a connection that
		// negotiated compression and did not use it in one direction
		// fails here.
		if rep.wireIn >= in/2 {
			t.Errorf("%s: %d wire bytes from Chromium for %d payload bytes: it did not compress", rep.path, rep.wireIn, in)
		}
		if rep.wireOut >= out/2 {
			t.Errorf("%s: %d wire bytes to Chromium for %d payload bytes: we did not compress", rep.path, rep.wireOut, out)
		}
	}
	if len(res.Results) != len(browserModes) {
		t.Fatalf("page reported %d connections, want %d", len(res.Results), len(browserModes))
	}
	for _, r := range res.Results {
		if r.Code != int(stream.StatusNormalClosure) || r.Reason != "done" || !r.WasClean {
			t.Errorf("%s: page saw close %d %q clean=%v, want a clean 1000 \"done\"", r.Path, r.Code, r.Reason, r.WasClean)
		}
		if r.Extensions == "" {
			t.Errorf("%s: page reports no extensions", r.Path)
		}
		if r.Echoed != len(sent) {
			t.Errorf("%s: page echoed %d messages, want %d", r.Path, r.Echoed, len(sent))
		}
	}
}

// checkBrowserConn runs the server's side of one page connection: the
// page's report of its extensions, its planned messages, then the
// server's messages and their echoes, all compared byte for byte.
func checkBrowserConn(c *stream.WebSocketConn, wantExt string) error {
	read := func(what string) (stream.MessageType, []byte, error) {
		mt, p, err := c.ReadMessage()
		if err != nil {
			return 0, nil, fmt.Errorf("reading %s: %w", what, err)
		}
		return mt, p, nil
	}
	mt, p, err := read("the extensions report")
	if err != nil {
		return err
	}
	if want := "extensions:" + wantExt; mt != stream.TextMessage || string(p) != want {
		return fmt.Errorf("page reported %v %q, want %q", mt, p, want)
	}
	for i, m := range browserPlan {
		mt, p, err := read(fmt.Sprintf("planned message %d", i))
		if err != nil {
			return err
		}
		wantType := stream.TextMessage
		if m.Binary {
			wantType = stream.BinaryMessage
		}
		if want := m.bytes(); mt != wantType || !bytes.Equal(p, want) {
			return fmt.Errorf("planned message %d (%+v): got %v, want %v", i, m, digest(mt, p), digest(wantType, want))
		}
	}
	for i, m := range serverSends() {
		if err := c.WriteMessage(m.mt, m.p); err != nil {
			return fmt.Errorf("sending message %d: %w", i, err)
		}
		mt, p, err := read(fmt.Sprintf("the echo of message %d", i))
		if err != nil {
			return err
		}
		if mt != m.mt || !bytes.Equal(p, m.p) {
			return fmt.Errorf("echo of message %d: got %v, want %v", i, digest(mt, p), digest(m.mt, m.p))
		}
	}
	return nil
}
