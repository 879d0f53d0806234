package stream

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stdrealtime/realtime/internal/wsframe"
	"github.com/stdrealtime/realtime/internal/wstest"
)

// h2Request is an RFC 8441 extended CONNECT as net/http's HTTP/2 server
// hands it to a handler.
func h2Request(body io.Reader, header map[string]string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://example.com/ws", body)
	r.Method = http.MethodConnect
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	r.Header.Set(":protocol", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	for k, v := range header {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	return r
}

func TestUpgradeH2Refusals(t *testing.T) {
	full := NewLimiter(LimiterConfig{MaxConns: 1})
	if _, ok := full.Acquire(h2Request(http.NoBody, nil)); !ok {
		t.Fatal("a fresh Limiter refused")
	}
	tests := []struct {
		name    string
		header  map[string]string
		cfg     WSConfig
		status  int
		version string // Sec-WebSocket-Version of the answer
	}{
		{"no :protocol", map[string]string{":protocol": ""}, WSConfig{}, http.StatusBadRequest, ""},
		{"other :protocol", map[string]string{":protocol": "webtransport"}, WSConfig{}, http.StatusBadRequest, ""},
		{"no version", map[string]string{"Sec-WebSocket-Version": ""}, WSConfig{}, http.StatusUpgradeRequired, "13"},
		{"version 8", map[string]string{"Sec-WebSocket-Version": "8"}, WSConfig{}, http.StatusUpgradeRequired, "13"},
		{"foreign origin", map[string]string{"Origin": "https://evil.example"}, WSConfig{}, http.StatusForbidden, ""},
		{"Authorize refuses", nil, WSConfig{Authorize: func(*http.Request) error { return errors.New("no token") }}, http.StatusForbidden, ""},
		{"Limiter full", nil, WSConfig{Limiter: full}, http.StatusServiceUnavailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			c, err := Upgrade(rec, h2Request(http.NoBody, tt.header), tt.cfg)
			var he *HandshakeError
			if c != nil || !errors.As(err, &he) || he.Status != tt.status {
				t.Fatalf("Upgrade = %v, %v; want *HandshakeError with %d", c, err, tt.status)
			}
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d", rec.Code, tt.status)
			}
			if got := rec.Header().Get("Sec-WebSocket-Version"); got != tt.version {
				t.Errorf("Sec-WebSocket-Version %q, want %q", got, tt.version)
			}
		})
	}
}

// TestUpgradeH2Stream runs a connection over a request body and a
// response recorder: the answer is 200 without the HTTP/1.1 upgrade
// headers, frames travel over the body and the response, and the
// negotiation is the one of HTTP/1.1.
func TestUpgradeH2Stream(t *testing.T) {
	wsCheckGoroutines(t)
	pr, pw := io.Pipe()
	rec := httptest.NewRecorder()
	r := h2Request(pr, map[string]string{
		"Origin":                   "https://example.com",
		"Sec-WebSocket-Protocol":   "v1, v2",
		"Sec-WebSocket-Extensions": "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
	})
	cfg := WSConfig{Subprotocols: []string{"v2", "v1"}, Compression: CompressionNoContextTakeover, CompressionThreshold: 1 << 20}
	c, err := Upgrade(rec, r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseWithStatus(StatusNormalClosure, "")
	res := rec.Result()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", res.StatusCode)
	}
	for _, h := range []string{"Upgrade", "Connection", "Sec-WebSocket-Accept"} {
		if v := res.Header.Get(h); v != "" {
			t.Errorf("%s: %q in an HTTP/2 answer", h, v)
		}
	}
	if got := c.Subprotocol(); got != "v2" || res.Header.Get("Sec-WebSocket-Protocol") != "v2" {
		t.Errorf("subprotocol %q, header %q; want v2", got, res.Header.Get("Sec-WebSocket-Protocol"))
	}
	if ext := res.Header.Get("Sec-WebSocket-Extensions"); ext == "" || c.Extensions() != ext {
		t.Errorf("permessage-deflate: header %q, Extensions %q", ext, c.Extensions())
	}
	if c.RemoteAddr() == nil || c.RemoteAddr().String() != r.RemoteAddr {
		t.Errorf("RemoteAddr %v, want %s", c.RemoteAddr(), r.RemoteAddr)
	}

	key := [4]byte{1, 2, 3, 4}
	go pw.Write(wstest.AppendFrame(nil, true, 0, wsframe.OpText, true, key, []byte("over a stream")))
	mt, p, err := c.ReadMessage()
	if err != nil || mt != TextMessage || string(p) != "over a stream" {
		t.Fatalf("ReadMessage = %v, %q, %v", mt, p, err)
	}
	if err := c.WriteString("back"); err != nil {
		t.Fatal(err)
	}
	want := wstest.AppendFrame(nil, true, 0, wsframe.OpText, false, key, []byte("back"))
	if got := rec.Body.Bytes(); !bytes.Equal(got, want) {
		t.Fatalf("response body % x, want % x", got, want)
	}
	if s := c.Stats(); s.MessagesIn != 1 || s.MessagesOut != 1 || s.BytesIn != 13 || s.BytesOut != 4 {
		t.Errorf("Stats = %+v", s)
	}
	// The client ends its side: the connection fails with 1006 and is
	// closed, and a write afterwards fails instead of reaching the
	// response.
	pw.Close()
	var ce *CloseError
	if _, _, err := c.ReadMessage(); !errors.As(err, &ce) || ce.Code != StatusAbnormalClosure {
		t.Fatalf("ReadMessage after the body ended: %v, want 1006", err)
	}
	<-c.Closed()
	n := rec.Body.Len()
	if err := c.WriteString("late"); err == nil {
		t.Error("write after close succeeded")
	}
	if rec.Body.Len() != n {
		t.Error("write after close reached the response")
	}
}
