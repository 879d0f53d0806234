package stream

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"strings"
	"testing"
)

// A broadcast reaches clients of every compression mode intact, over one
// hub whose server negotiates permessage-deflate.
func TestHubBroadcastCompressed(t *testing.T) {
	defer wsCheckGoroutines(t)()
	for _, srvMode := range []CompressionMode{CompressionNoContextTakeover, CompressionContextTakeover} {
		t.Run(fmt.Sprint(int(srvMode)), func(t *testing.T) {
			s := startHub(t, HubConfig{}, WSConfig{Compression: srvMode}, 0, nil)
			var cs []*WebSocketConn
			for i, mode := range []CompressionMode{CompressionDisabled, CompressionNoContextTakeover, CompressionContextTakeover, CompressionNoContextTakeover} {
				c, _, err := Dial(context.Background(), s.url, DialConfig{Compression: mode})
				if err != nil {
					t.Fatalf("dial %v: %v", mode, err)
				}
				t.Cleanup(func() { c.Close() })
				cs = append(cs, c)
				hubWaitFor(t, "registration", func() bool { return s.hub.Count() >= i+1 })
			}
			msgs := [][]byte{
				[]byte(strings.Repeat(`{"type":"chat","text":"hello hello hello"}`, 20)),
				[]byte("short"), // under the threshold: sent plain
				[]byte(strings.Repeat("é", 500)),
			}
			for _, m := range msgs {
				if !s.hub.Broadcast(m) {
					t.Fatal("broadcast refused")
				}
			}
			for i, c := range cs {
				for _, want := range msgs {
					mt, p, err := c.ReadMessage()
					if err != nil {
						t.Fatalf("client %d: %v", i, err)
					}
					if mt != TextMessage || !bytes.Equal(p, want) {
						t.Fatalf("client %d: got %v %q, want %q", i, mt, p, want)
					}
				}
			}
		})
	}
}

// forConn compresses a message once per flate level, however many
// connections ask, and gives plain frames to connections that cannot
// take a shared compressed one.
func TestHubFrameCompressOncePerLevel(t *testing.T) {
	msg := []byte(strings.Repeat("abcdefgh", 64))
	f := newHubFrame(TextMessage, msg, nil)
	fresh := func(level, threshold int) *WebSocketConn {
		return &WebSocketConn{defl: &wsDeflater{level: level, threshold: threshold, fresh: true}}
	}
	a, b := fresh(flate.BestSpeed, 0), fresh(flate.BestSpeed, 0)
	ba, bb := f.forConn(a), f.forConn(b)
	if &ba[0] != &bb[0] || len(ba) >= len(f.b) {
		t.Fatalf("same level: want one shared compressed frame smaller than %d, got %d and %d bytes", len(f.b), len(ba), len(bb))
	}
	if ba[0]&0x40 == 0 {
		t.Fatal("compressed frame without RSV1")
	}
	f.forConn(fresh(flate.BestCompression, 0))
	if len(f.z) != 2 {
		t.Fatalf("%d compressed forms, want one per level (2)", len(f.z))
	}
	for name, c := range map[string]*WebSocketConn{
		"no compression":   {},
		"context takeover": {defl: &wsDeflater{level: flate.BestSpeed}},
		"client":           {client: true, defl: &wsDeflater{level: flate.BestSpeed, fresh: true}},
		"under threshold":  fresh(flate.BestSpeed, len(msg)+1),
	} {
		if got := f.forConn(c); &got[0] != &f.b[0] {
			t.Errorf("%s: got a compressed frame, want the plain one", name)
		}
	}
}
