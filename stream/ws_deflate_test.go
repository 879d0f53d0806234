package stream

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/stdrealtime/realtime/internal/wsframe"
	"github.com/stdrealtime/realtime/internal/wstest"
)

// TestWSDeflateUpgradeAnswers checks what Upgrade answers, end to end,
// to offers made by a raw client.
func TestWSDeflateUpgradeAnswers(t *testing.T) {
	tests := []struct {
		name string
		mode CompressionMode
		ext  string
		want string
	}{
		{"off", CompressionDisabled, "permessage-deflate", ""},
		{"browser offer", CompressionContextTakeover, "permessage-deflate; client_max_window_bits", "permessage-deflate"},
		{"browser offer, no context takeover", CompressionNoContextTakeover, "permessage-deflate; client_max_window_bits", "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"small server window declined", CompressionContextTakeover, "permessage-deflate; server_max_window_bits=12", ""},
		{"fallback", CompressionContextTakeover, "permessage-deflate; server_max_window_bits=12, permessage-deflate; server_max_window_bits=15", "permessage-deflate; server_max_window_bits=15"},
		{"duplicate declined", CompressionContextTakeover, "permessage-deflate; client_no_context_takeover; client_no_context_takeover", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wsCheckGoroutines(t)
			e, resp := startDeflateServer(t, WSConfig{Compression: tc.mode}, tc.ext)
			if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != tc.want {
				t.Fatalf("answer %q, want %q", got, tc.want)
			}
			if (e.conn.defl != nil) != (tc.want != "") {
				t.Fatalf("compression on = %v", e.conn.defl != nil)
			}
			if got := e.conn.Extensions(); got != tc.want {
				t.Fatalf("Extensions() = %q, want the answer %q", got, tc.want)
			}
			e.peer.Close()
			e.wait(t)
		})
	}
	t.Run("bad level refused", func(t *testing.T) {
		wsCheckGoroutines(t)
		errs := make(chan error, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, err := Upgrade(w, r, WSConfig{Compression: CompressionContextTakeover, CompressionLevel: 11})
			errs <- err
		}))
		defer srv.Close()
		_, resp := dialRawExt(t, strings.TrimPrefix(srv.URL, "http://"), "permessage-deflate")
		if resp.StatusCode != http.StatusInternalServerError || <-errs == nil {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

// TestWSDeflateDialAnswers checks Dial against raw servers answering
// validly and invalidly.
func TestWSDeflateDialAnswers(t *testing.T) {
	tests := []struct {
		name    string
		mode    CompressionMode
		ext     string // "" sends no header
		wantOn  bool
		wantErr bool
	}{
		{"declined", CompressionContextTakeover, "", false, false},
		{"accepted", CompressionContextTakeover, "permessage-deflate", true, false},
		{"accepted with window", CompressionContextTakeover, "permessage-deflate; server_max_window_bits=10", true, false},
		{"no context takeover", CompressionNoContextTakeover, "permessage-deflate; server_no_context_takeover; client_no_context_takeover", true, false},
		{"no context takeover refused", CompressionNoContextTakeover, "permessage-deflate", false, true},
		{"unoffered client window", CompressionContextTakeover, "permessage-deflate; client_max_window_bits=10", false, true},
		{"duplicate", CompressionContextTakeover, "permessage-deflate; server_no_context_takeover; server_no_context_takeover", false, true},
		{"unknown param", CompressionContextTakeover, "permessage-deflate; x=1", false, true},
		{"bad window", CompressionContextTakeover, "permessage-deflate; server_max_window_bits=20", false, true},
		{"other extension", CompressionContextTakeover, "x-foo", false, true},
		{"not offered", CompressionDisabled, "permessage-deflate", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wsCheckGoroutines(t)
			s, err := wstest.Listen()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			offers := make(chan string, 1)
			go func() {
				p, r, err := s.Accept(func(r *http.Request) string {
					h := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + wstest.Accept(r.Header.Get("Sec-WebSocket-Key")) + "\r\n"
					if tc.ext != "" {
						h += "Sec-WebSocket-Extensions: " + tc.ext + "\r\n"
					}
					return h + "\r\n"
				}, nil)
				if err == nil {
					offers <- r.Header.Get("Sec-WebSocket-Extensions")
					p.ExpectEOF()
					p.Close()
				} else {
					offers <- "accept failed: " + err.Error()
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
			defer cancel()
			c, _, err := Dial(ctx, s.URL(), DialConfig{Compression: tc.mode})
			if (err != nil) != tc.wantErr {
				t.Fatalf("Dial error %v, want error %v", err, tc.wantErr)
			}
			if err == nil {
				if (c.defl != nil) != tc.wantOn {
					t.Fatalf("compression on = %v", c.defl != nil)
				}
				want := ""
				if tc.wantOn {
					want = tc.ext
				}
				if got := c.Extensions(); got != want {
					t.Fatalf("Extensions() = %q, want %q", got, want)
				}
				c.teardown(ErrClosed)
			}
			if got := <-offers; got != deflateOfferFor(tc.mode) {
				t.Fatalf("offer %q, want %q", got, deflateOfferFor(tc.mode))
			}
		})
	}
	t.Run("bad level", func(t *testing.T) {
		_, _, err := Dial(context.Background(), "ws://127.0.0.1:1/", DialConfig{Compression: CompressionContextTakeover, CompressionLevel: -5})
		if err == nil || !strings.Contains(err.Error(), "CompressionLevel") {
			t.Fatalf("error %v", err)
		}
	})
}

// TestWSDeflateFrames exchanges compressed frames with a raw peer in both
// roles: single and fragmented messages, control frames between
// compressed fragments, uncompressed messages, and the echo compressed
// with RSV1 on its first frame only.
func TestWSDeflateFrames(t *testing.T) {
	for _, role := range deflateRoles {
		for _, mode := range []CompressionMode{CompressionNoContextTakeover, CompressionContextTakeover} {
			t.Run(fmt.Sprintf("%s/mode%d", role.name, mode), func(t *testing.T) {
				wsCheckGoroutines(t)
				e := role.start(t, mode, -1, 0)
				p := e.peer
				// The raw server in client tests accepts exactly the
				// offer; the raw client in server tests offers plain
				// permessage-deflate, so the server's mode decides.
				takeover := mode == CompressionContextTakeover
				pc := newPeerCompressor(takeover)
				pi := &peerInflater{takeover: takeover}
				msg := []byte(strings.Repeat(`{"user":"ann","text":"hello, world"} `, 200))

				// One compressed frame.
				p.WriteRaw(compressedFrames(p, wsframe.OpText, pc.compress(msg), 1))
				if got, z := readPeerMessage(t, p, pi); !z || !bytes.Equal(got, msg) {
					t.Fatalf("echo compressed=%v len %d", z, len(got))
				}
				// Fragmented, with a ping and a pong between fragments.
				frames := compressedFrames(p, wsframe.OpBinary, pc.compress(msg), 3)
				f1, _ := splitFrames(frames)
				var buf []byte
				buf = append(buf, f1[0]...)
				buf = append(buf, p.Frame(true, wsframe.OpPing, []byte("between"))...)
				buf = append(buf, f1[1]...)
				buf = append(buf, p.Frame(true, wsframe.OpPong, nil)...)
				buf = append(buf, f1[2]...)
				p.WriteRaw(buf)
				f, err := p.ReadFrame()
				if err != nil || f.Opcode != wsframe.OpPong || string(f.Payload) != "between" || f.Rsv != 0 {
					t.Fatalf("pong %+v %v", f, err)
				}
				if got, z := readPeerMessage(t, p, pi); !z || !bytes.Equal(got, msg) {
					t.Fatalf("fragmented echo compressed=%v len %d", z, len(got))
				}
				// An uncompressed message on a compressed connection.
				p.WriteFrame(true, wsframe.OpText, []byte("plain"))
				if got, _ := readPeerMessage(t, p, pi); string(got) != "plain" {
					t.Fatalf("plain echo %q", got)
				}
				// Empty compressed message.
				p.WriteRaw(compressedFrames(p, wsframe.OpText, pc.compress(nil), 1))
				if got, _ := readPeerMessage(t, p, pi); len(got) != 0 {
					t.Fatalf("empty echo %q", got)
				}
				// A peer ending its data with a final block.
				var fb bytes.Buffer
				fw, _ := flate.NewWriter(&fb, 5)
				fw.Write([]byte("final block"))
				fw.Close()
				p.WriteRaw(compressedFrames(p, wsframe.OpText, fb.Bytes(), 2))
				if got, _ := readPeerMessage(t, p, pi); string(got) != "final block" {
					t.Fatalf("final-block echo %q", got)
				}
				p.WriteFrame(true, wsframe.OpClose, closeBody(1000, ""))
				if code, _, err := p.ReadClose(); err != nil || code != 1000 {
					t.Fatalf("close %d %v", code, err)
				}
				p.Close()
				e.wait(t)
				if st := e.conn.Stats(); st.MessagesIn != 5 || st.BytesIn != uint64(2*len(msg)+5+11) {
					t.Fatalf("stats %+v", st)
				}
			})
		}
	}
}

// splitFrames cuts an encoded frame sequence into its frames.
func splitFrames(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		n := wsframe.HeaderLen(b[0], b[1])
		h, err := wsframe.Decode(b[:n])
		if err != nil {
			return nil, err
		}
		end := n + int(h.Length)
		out = append(out, b[:end])
		b = b[end:]
	}
	return out, nil
}

// TestWSDeflateFailures sends compressed input that must fail the
// connection: RSV1 where RFC 7692 §6.1 forbids it, corrupt data, bombs.
func TestWSDeflateFailures(t *testing.T) {
	pc := newPeerCompressor(false)
	good := pc.compress([]byte("hello hello hello"))
	zeros := pc.compress(make([]byte, 8<<20)) // 8 MiB of zeros, ~8 KiB
	var prose []byte
	for i := range 300 {
		prose = fmt.Appendf(prose, "line %d of some text that compresses; ", i*i%97)
	}
	prose = pc.compress(prose)
	badUTF8 := pc.compress([]byte("ok \xff\xfe not"))
	cases := []struct {
		name  string
		build func(p *wstest.Peer) []byte
		code  int
	}{
		{"RSV1 on continuation", func(p *wstest.Peer) []byte {
			b := wstest.AppendFrame(nil, false, rsv1, wsframe.OpText, p.Client, p.MaskKey, good[:4])
			return wstest.AppendFrame(b, true, rsv1, wsframe.OpContinuation, p.Client, p.MaskKey, good[4:])
		}, 1002},
		{"RSV1 on ping", func(p *wstest.Peer) []byte {
			return wstest.AppendFrame(nil, true, rsv1, wsframe.OpPing, p.Client, p.MaskKey, nil)
		}, 1002},
		{"RSV1 on ping between fragments", func(p *wstest.Peer) []byte {
			b := wstest.AppendFrame(nil, false, rsv1, wsframe.OpText, p.Client, p.MaskKey, good[:4])
			return wstest.AppendFrame(b, true, rsv1, wsframe.OpPing, p.Client, p.MaskKey, nil)
		}, 1002},
		{"RSV2 with RSV1", func(p *wstest.Peer) []byte {
			return wstest.AppendFrame(nil, true, rsv1|2, wsframe.OpText, p.Client, p.MaskKey, good)
		}, 1002},
		{"corrupt data", func(p *wstest.Peer) []byte {
			return wstest.AppendFrame(nil, true, rsv1, wsframe.OpBinary, p.Client, p.MaskKey, []byte{0xff, 0xff, 0xff, 0xff, 0x00})
		}, 1007},
		{"truncated stream", func(p *wstest.Peer) []byte {
			return wstest.AppendFrame(nil, true, rsv1, wsframe.OpBinary, p.Client, p.MaskKey, prose[:len(prose)/2])
		}, 1007},
		{"invalid UTF-8 once inflated", func(p *wstest.Peer) []byte {
			return wstest.AppendFrame(nil, true, rsv1, wsframe.OpText, p.Client, p.MaskKey, badUTF8)
		}, 1007},
		{"bomb", func(p *wstest.Peer) []byte {
			return compressedFrames(p, wsframe.OpBinary, zeros, 1)
		}, 1009},
		{"bomb fragmented", func(p *wstest.Peer) []byte {
			return compressedFrames(p, wsframe.OpBinary, zeros, 7)
		}, 1009},
		{"compressed size over the wire limit", func(p *wstest.Peer) []byte {
			return wstest.AppendFrame(nil, true, rsv1, wsframe.OpBinary, p.Client, p.MaskKey, make([]byte, 80<<10))
		}, 1009},
	}
	for _, role := range deflateRoles {
		t.Run(role.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					wsCheckGoroutines(t)
					e := role.start(t, CompressionNoContextTakeover, 0, 64<<10)
					if err := e.peer.WriteRaw(tc.build(e.peer)); err != nil {
						t.Fatal(err)
					}
					code, _, err := e.peer.ReadClose()
					if err != nil || code != tc.code {
						t.Fatalf("close %d %v, want %d", code, err, tc.code)
					}
					e.peer.Close()
					if err := e.wait(t); CloseStatus(err) != StatusCode(tc.code) {
						t.Fatalf("endpoint error %v", err)
					}
				})
			}
		})
	}
}

// TestWSDeflateBombMemory checks a bomb is stopped after at most
// ReadLimit bytes of output: a 64 MiB message of zeros (about 64 KiB
// compressed) against a 256 KiB limit allocates well under 1 MiB while it
// is read.
func TestWSDeflateBombMemory(t *testing.T) {
	wsCheckGoroutines(t)
	pc := newPeerCompressor(false)
	bomb := pc.compress(make([]byte, 64<<20))
	e := deflateRoles[0].start(t, CompressionNoContextTakeover, 0, 256<<10)
	frames := compressedFrames(e.peer, wsframe.OpBinary, bomb, 1)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e.peer.WriteRaw(frames)
	code, _, err := e.peer.ReadClose()
	err2 := e.wait(t)
	runtime.ReadMemStats(&after)
	if err != nil || code != 1009 || CloseStatus(err2) != StatusMessageTooBig {
		t.Fatalf("close %d %v; endpoint %v", code, err, err2)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("allocated %d bytes reading a bomb with a 256 KiB limit", n)
	}
	if in := e.conn.infl; in.out > 256<<10 {
		t.Fatalf("inflated %d bytes, more than the read limit", in.out)
	}
}

// TestWSDeflateContextTakeover sends similar messages with context kept
// in both directions and checks later messages refer back to earlier
// ones: they are far smaller, and inflate only with the history.
func TestWSDeflateContextTakeover(t *testing.T) {
	for _, role := range deflateRoles {
		t.Run(role.name, func(t *testing.T) {
			wsCheckGoroutines(t)
			e := role.start(t, CompressionContextTakeover, -1, 0)
			p := e.peer
			pc := newPeerCompressor(true)
			pi := &peerInflater{takeover: true}
			// At least 128 bytes: flate.BestSpeed only Huffman-codes
			// shorter blocks, without matches.
			msg := []byte(`{"type":"update","symbol":"ACME","price":101.25,"volume":31337,"exchange":"XNYS","bid":101.20,"ask":101.30,"time":"2024-05-01T12:00:00Z","flags":["open","regular"]}`)
			var sizes []int
			for i := range 5 {
				z := pc.compress(msg)
				if i > 0 && len(z) >= len(msg)/3 {
					t.Fatalf("peer message %d compressed to %d bytes; context not kept", i, len(z))
				}
				p.WriteRaw(compressedFrames(p, wsframe.OpText, z, 1))
				fs := readMessageFrames(t, p)
				sizes = append(sizes, len(fs[0].Payload))
				got, err := pi.inflate(fs[0].Payload)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("echo %d: %q %v", i, got, err)
				}
			}
			if sizes[4] >= sizes[0]/3 {
				t.Fatalf("endpoint's compressed sizes %v: context not kept", sizes)
			}
			// Without the history the later message does not inflate.
			fresh := &peerInflater{}
			p.WriteRaw(compressedFrames(p, wsframe.OpText, pc.compress(msg), 1))
			fs := readMessageFrames(t, p)
			if got, err := fresh.inflate(fs[0].Payload); err == nil && bytes.Equal(got, msg) {
				t.Fatal("message inflated without history; context takeover not in use")
			}
			p.Close()
			e.wait(t)
		})
	}
}

// TestWSDeflateRoundTrip runs Dial against Upgrade in every combination
// of modes, with whole and streamed messages of many sizes both ways.
func TestWSDeflateRoundTrip(t *testing.T) {
	modes := []CompressionMode{CompressionDisabled, CompressionNoContextTakeover, CompressionContextTakeover}
	sizes := []int{0, 10, 127, 128, 4095, 4096, 5000, 70000, 300000}
	for _, sm := range modes {
		for _, cm := range modes {
			t.Run(fmt.Sprintf("server%d/client%d", sm, cm), func(t *testing.T) {
				wsCheckGoroutines(t)
				srvConns := make(chan *WebSocketConn, 1)
				srvDone := make(chan error, 1)
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					c, err := Upgrade(w, r, WSConfig{Compression: sm})
					if err != nil {
						srvDone <- err
						return
					}
					srvConns <- c
					// Echo, streaming through NextReader/NextWriter.
					for {
						mt, rd, err := c.NextReader()
						if err != nil {
							srvDone <- err
							return
						}
						wr, err := c.NextWriter(mt)
						if err != nil {
							srvDone <- err
							return
						}
						if _, err := io.CopyBuffer(wr, rd, make([]byte, 1000)); err != nil {
							srvDone <- err
							return
						}
						if err := wr.Close(); err != nil {
							srvDone <- err
							return
						}
					}
				}))
				defer srv.Close()
				ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
				defer cancel()
				c, resp, err := Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), DialConfig{Compression: cm})
				if err != nil {
					t.Fatal(err)
				}
				sc := <-srvConns
				on := sm != CompressionDisabled && cm != CompressionDisabled
				if (c.defl != nil) != on || (sc.defl != nil) != on || (resp.Header.Get("Sec-WebSocket-Extensions") != "") != on {
					t.Fatalf("compression: client %v server %v header %q", c.defl != nil, sc.defl != nil, resp.Header.Get("Sec-WebSocket-Extensions"))
				}
				if on {
					noCtx := sm == CompressionNoContextTakeover || cm == CompressionNoContextTakeover
					if c.defl.fresh != noCtx || sc.defl.fresh != noCtx || c.infl.fresh != noCtx || sc.infl.fresh != noCtx {
						t.Fatalf("context takeover: client w%v r%v server w%v r%v, want fresh=%v", c.defl.fresh, c.infl.fresh, sc.defl.fresh, sc.infl.fresh, noCtx)
					}
				}
				for round := range 2 {
					for _, n := range sizes {
						msg := []byte(strings.Repeat(fmt.Sprintf("message %d of round %d; ", n, round), n/20+1)[:n])
						if round == 0 {
							if err := c.WriteMessage(TextMessage, msg); err != nil {
								t.Fatal(err)
							}
						} else {
							w, _ := c.NextWriter(BinaryMessage)
							for rest := msg; len(rest) > 0; {
								k := min(len(rest), 777)
								w.Write(rest[:k])
								rest = rest[k:]
							}
							if err := w.Close(); err != nil {
								t.Fatal(err)
							}
						}
						mt, got, err := c.ReadMessage()
						if err != nil || !bytes.Equal(got, msg) || mt != MessageType(round+1) {
							t.Fatalf("size %d round %d: type %d len %d err %v", n, round, mt, len(got), err)
						}
					}
				}
				c.Close()
				<-srvDone
				if st := sc.Stats(); st.MessagesIn != uint64(2*len(sizes)) {
					t.Fatalf("server stats %+v", st)
				}
			})
		}
	}
}

// TestWSDeflateAbandonedReader drops a compressed message half read under
// context takeover; the next message must still inflate.
func TestWSDeflateAbandonedReader(t *testing.T) {
	wsCheckGoroutines(t)
	pc := newPeerCompressor(true)
	conns := make(chan *WebSocketConn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, WSConfig{Compression: CompressionContextTakeover})
		if err == nil {
			conns <- c
		}
	}))
	defer srv.Close()
	p, _ := dialRawExt(t, strings.TrimPrefix(srv.URL, "http://"), "permessage-deflate")
	c := <-conns
	big := bytes.Repeat([]byte("abcdefghij"), 10000)
	p.WriteRaw(compressedFrames(p, wsframe.OpBinary, pc.compress(big), 3))
	p.WriteRaw(compressedFrames(p, wsframe.OpBinary, pc.compress(big[:5000]), 1))
	_, rd, err := c.NextReader()
	if err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 100)
	if _, err := io.ReadFull(rd, part); err != nil || !bytes.Equal(part, big[:100]) {
		t.Fatalf("partial read %q %v", part, err)
	}
	_, got, err := c.ReadMessage()
	if err != nil || !bytes.Equal(got, big[:5000]) {
		t.Fatalf("next message len %d %v", len(got), err)
	}
	p.Close()
	c.teardown(ErrClosed)
}

// TestWSDeflateBroadcastHook compresses a message once and writes the
// same frame to several connections without context takeover.
func TestWSDeflateBroadcastHook(t *testing.T) {
	wsCheckGoroutines(t)
	conns := make(chan *WebSocketConn, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode := CompressionNoContextTakeover
		if r.URL.Path == "/ctx" {
			mode = CompressionContextTakeover
		}
		c, err := Upgrade(w, r, WSConfig{Compression: mode, CompressionLevel: 6})
		if err == nil {
			conns <- c
		}
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	var clients []*WebSocketConn
	var servers []*WebSocketConn
	for range 2 {
		c, _, err := Dial(ctx, url+"/", DialConfig{Compression: CompressionContextTakeover})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		servers = append(servers, <-conns)
	}
	cc, _, err := Dial(ctx, url+"/ctx", DialConfig{Compression: CompressionContextTakeover})
	if err != nil {
		t.Fatal(err)
	}
	ctxServer := <-conns
	if _, _, ok := ctxServer.broadcastDeflate(); ok {
		t.Fatal("context-takeover connection accepts shared frames")
	}
	if _, _, ok := cc.broadcastDeflate(); ok {
		t.Fatal("client connection accepts shared frames")
	}
	msg := []byte(strings.Repeat(`{"event":"tick","n":1}`, 100))
	frame, err := appendCompressedServerFrame(nil, TextMessage, msg, 6)
	if err != nil || len(frame) >= len(msg)/4 {
		t.Fatalf("frame of %d bytes, %v", len(frame), err)
	}
	for _, s := range servers {
		level, threshold, ok := s.broadcastDeflate()
		if !ok || level != 6 || threshold != DefaultCompressionThreshold {
			t.Fatalf("broadcastDeflate %d %d %v", level, threshold, ok)
		}
		if err := s.writeFrames([][]byte{frame}); err != nil {
			t.Fatal(err)
		}
		// A message of its own afterwards still inflates.
		s.WriteMessage(TextMessage, msg)
	}
	for _, c := range clients {
		for range 2 {
			_, got, err := c.ReadMessage()
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("broadcast read len %d %v", len(got), err)
			}
		}
	}
	for _, c := range append(clients, cc) {
		c.teardown(ErrClosed)
	}
	for _, s := range append(servers, ctxServer) {
		s.teardown(ErrClosed)
	}
}

// TestWSDeflateLevelFollowsAgreement checks that an unset
// CompressionLevel under CompressionContextTakeover falls back to
// DefaultCompressionLevel in a direction where the peer asked for no
// context takeover, as gorilla/websocket always does: each message is
// then compressed afresh by a pooled writer, which only BestSpeed resets
// cheaply. A level that was set is kept.
func TestWSDeflateLevelFollowsAgreement(t *testing.T) {
	const pmd = "permessage-deflate"
	tests := []struct {
		name      string
		client    bool // our side dials; ext is then the server's answer
		level     int
		ext       string
		wantLevel int
		wantFresh bool
	}{
		{"server, context kept", false, 0, pmd, DefaultContextTakeoverLevel, false},
		{"server, peer asks server_no_context_takeover", false, 0, pmd + "; server_no_context_takeover", DefaultCompressionLevel, true},
		{"server, gorilla's offer", false, 0, pmd + "; server_no_context_takeover; client_no_context_takeover", DefaultCompressionLevel, true},
		{"server, only the client resets", false, 0, pmd + "; client_no_context_takeover", DefaultContextTakeoverLevel, false},
		{"server, level set", false, 9, pmd + "; server_no_context_takeover", 9, true},
		{"client, context kept", true, 0, pmd, DefaultContextTakeoverLevel, false},
		{"client, server asks client_no_context_takeover", true, 0, pmd + "; client_no_context_takeover", DefaultCompressionLevel, true},
		{"client, gorilla's answer", true, 0, pmd + "; server_no_context_takeover; client_no_context_takeover", DefaultCompressionLevel, true},
		{"client, level set", true, 3, pmd + "; client_no_context_takeover", 3, true},
	}
	msg := bytes.Repeat([]byte(`{"type":"chat","text":"hello"}`), 20)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wsCheckGoroutines(t)
			var e *wsEcho
			if tc.client {
				e = startDeflateClient(t, DialConfig{Compression: CompressionContextTakeover, CompressionLevel: tc.level}, tc.ext)
			} else {
				e, _ = startDeflateServer(t, WSConfig{Compression: CompressionContextTakeover, CompressionLevel: tc.level}, tc.ext)
			}
			if d := e.conn.defl; d == nil || d.level != tc.wantLevel || d.fresh != tc.wantFresh {
				t.Fatalf("deflater %+v, want level %d, fresh %v", d, tc.wantLevel, tc.wantFresh)
			}
			if !tc.client {
				level, _, ok := e.conn.broadcastDeflate()
				if ok != tc.wantFresh || (ok && level != tc.wantLevel) {
					t.Fatalf("broadcastDeflate() = %d, %v", level, ok)
				}
			}
			// The echo of a compressed message inflates to the message:
			// the peer keeps a context only where the agreement lets it.
			peerKeeps := !strings.Contains(tc.ext, "client_no_context_takeover")
			if tc.client {
				peerKeeps = !strings.Contains(tc.ext, "server_no_context_takeover")
			}
			pc, pi := newPeerCompressor(peerKeeps), &peerInflater{takeover: !tc.wantFresh}
			for range 3 {
				if err := e.peer.WriteRaw(compressedFrames(e.peer, wsframe.OpText, pc.compress(msg), 1)); err != nil {
					t.Fatal(err)
				}
				got, compressed := readPeerMessage(t, e.peer, pi)
				if !compressed || !bytes.Equal(got, msg) {
					t.Fatalf("echo compressed=%v, %d bytes, want the %d sent", compressed, len(got), len(msg))
				}
			}
			e.peer.Close()
			e.wait(t)
		})
	}
}
