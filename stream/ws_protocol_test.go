package stream

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stdrealtime/realtime/internal/wsframe"
	"github.com/stdrealtime/realtime/internal/wstest"
)

// frameSpec is a frame a test peer sends. wrongMask flips the masking
// the peer's role calls for.
type frameSpec struct {
	fin       bool
	rsv       byte
	op        wsframe.Opcode
	payload   []byte
	wrongMask bool
	raw       []byte // sent as is instead, when set
}

func (f frameSpec) encode(p *wstest.Peer) []byte {
	if f.raw != nil {
		b := append([]byte(nil), f.raw...)
		if p.Client {
			b[1] |= 0x80 // raw headers are written unmasked; add a zero key
			n := wsframe.HeaderLen(f.raw[0], f.raw[1]|0x80)
			hdrLen := n - 4
			b = append(b[:hdrLen:hdrLen], append([]byte{0, 0, 0, 0}, f.raw[hdrLen:]...)...)
		}
		return b
	}
	masked := p.Client != f.wrongMask
	return wstest.AppendFrame(nil, f.fin, f.rsv, f.op, masked, p.MaskKey, f.payload)
}

func text(fin bool, s string) frameSpec {
	return frameSpec{fin: fin, op: wsframe.OpText, payload: []byte(s)}
}

func ctl(op wsframe.Opcode, p []byte) frameSpec { return frameSpec{fin: true, op: op, payload: p} }

func closeBody(code uint16, reason string) []byte { return wstest.ClosePayload(code, reason) }

// failCases are inputs that must fail the connection with a status code,
// in either role (RFC 6455 §5–§8).
var failCases = []struct {
	name   string
	frames []frameSpec
	code   int
}{
	{"wrong masking", []frameSpec{{fin: true, op: wsframe.OpText, payload: []byte("x"), wrongMask: true}}, 1002},
	{"RSV1 set", []frameSpec{{fin: true, rsv: 4, op: wsframe.OpText, payload: []byte("x")}}, 1002},
	{"RSV2 set", []frameSpec{{fin: true, rsv: 2, op: wsframe.OpBinary}}, 1002},
	{"RSV3 on ping", []frameSpec{{fin: true, rsv: 1, op: wsframe.OpPing}}, 1002},
	{"reserved data opcode 3", []frameSpec{{fin: true, op: 3}}, 1002},
	{"reserved data opcode 7", []frameSpec{{fin: true, op: 7}}, 1002},
	{"reserved control opcode 11", []frameSpec{{fin: true, op: 11}}, 1002},
	{"reserved control opcode 15", []frameSpec{{fin: true, op: 15}}, 1002},
	{"ping of 126 bytes", []frameSpec{ctl(wsframe.OpPing, make([]byte, 126))}, 1002},
	{"fragmented ping", []frameSpec{{fin: false, op: wsframe.OpPing, payload: []byte("a")}}, 1002},
	{"fragmented close", []frameSpec{{fin: false, op: wsframe.OpClose, payload: closeBody(1000, "")}}, 1002},
	{"continuation with nothing to continue", []frameSpec{{fin: true, op: wsframe.OpContinuation, payload: []byte("x")}}, 1002},
	{"new message inside fragmented one", []frameSpec{text(false, "a"), text(true, "b")}, 1002},
	{"binary inside fragmented text", []frameSpec{text(false, "a"), {fin: true, op: wsframe.OpBinary}}, 1002},
	{"16-bit length not minimal", []frameSpec{{raw: append([]byte{0x82, 126, 0, 5}, "hello"...)}}, 1002},
	{"64-bit length not minimal", []frameSpec{{raw: append([]byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5}, "hello"...)}}, 1002},
	{"64-bit length top bit", []frameSpec{{raw: []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1}}}, 1002},
	{"64-bit length 2^63", []frameSpec{{raw: []byte{0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}}}, 1002},
	{"64-bit length 2^64-1", []frameSpec{{raw: []byte{0x82, 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}}, 1002},
	{"64-bit length 2^63-1, past the read limit", []frameSpec{{raw: []byte{0x82, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}}, 1009},
	{"continuation taking a message past the read limit", []frameSpec{text(false, "a"), {raw: []byte{0x00, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}}}, 1009},
	{"close with 1-byte payload", []frameSpec{ctl(wsframe.OpClose, []byte{3})}, 1002},
	{"close reason invalid UTF-8", []frameSpec{ctl(wsframe.OpClose, closeBody(1000, "\xff"))}, 1007},
	{"close reason cut inside a code point", []frameSpec{ctl(wsframe.OpClose, closeBody(1000, "bye \xe2\x82"))}, 1007},
	{"close reason with a surrogate", []frameSpec{ctl(wsframe.OpClose, closeBody(1001, "\xed\xb0\x80"))}, 1007},
	{"close payload of 126 bytes", []frameSpec{ctl(wsframe.OpClose, closeBody(1000, strings.Repeat("r", 124)))}, 1002},
	{"text invalid UTF-8", []frameSpec{text(true, "ab\xc0\xafcd")}, 1007},
	{"text ends inside a code point", []frameSpec{text(true, "ab\xe2\x82")}, 1007},
	{"invalid code point split across fragments", []frameSpec{text(false, "ok\xf0\x90"), {fin: false, op: wsframe.OpContinuation, payload: []byte("\x41")}}, 1007},
	{"surrogate in continuation", []frameSpec{text(false, "a"), {fin: true, op: wsframe.OpContinuation, payload: []byte("\xed\xa0\x80")}}, 1007},
}

// invalidCloseCodes must fail with 1002 (§7.4); validCloseCodes must be
// echoed.
var (
	invalidCloseCodes = []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}
	validCloseCodes   = []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}
)

type roleStarter func(t *testing.T) *wsEcho

var roles = []struct {
	name  string
	start roleStarter
}{
	{"server", func(t *testing.T) *wsEcho { return startServerEcho(t, WSConfig{}, nil) }},
	{"client", func(t *testing.T) *wsEcho { return startClientEcho(t, DialConfig{}, nil) }},
}

// expectFail sends frames and checks that the endpoint answers with a
// close frame carrying code, ends the connection and reports code.
func expectFail(t *testing.T, e *wsEcho, frames []frameSpec, code int) {
	t.Helper()
	var buf []byte
	for _, f := range frames {
		buf = append(buf, f.encode(e.peer)...)
	}
	if err := e.peer.WriteRaw(buf); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, _, err := e.peer.ReadClose()
	if err != nil {
		t.Fatalf("reading close frame: %v", err)
	}
	if got != code {
		t.Fatalf("close code %d, want %d", got, code)
	}
	e.peer.Close()
	if err := e.wait(t); CloseStatus(err) != StatusCode(code) {
		t.Fatalf("endpoint error %v (status %d), want status %d", err, CloseStatus(err), code)
	}
}

func TestWSProtocolFailures(t *testing.T) {
	for _, role := range roles {
		t.Run(role.name, func(t *testing.T) {
			for _, tc := range failCases {
				t.Run(tc.name, func(t *testing.T) {
					defer wsCheckGoroutines(t)()
					expectFail(t, role.start(t), tc.frames, tc.code)
				})
			}
			for _, code := range invalidCloseCodes {
				t.Run("invalid close code "+itoaTest(int(code)), func(t *testing.T) {
					defer wsCheckGoroutines(t)()
					expectFail(t, role.start(t), []frameSpec{ctl(wsframe.OpClose, closeBody(code, ""))}, 1002)
				})
			}
		})
	}
}

func itoaTest(n int) string { return StatusCode(n).String() }

func TestWSCloseEchoesValidCodes(t *testing.T) {
	for _, role := range roles {
		t.Run(role.name, func(t *testing.T) {
			for _, code := range validCloseCodes {
				t.Run(itoaTest(int(code)), func(t *testing.T) {
					defer wsCheckGoroutines(t)()
					e := role.start(t)
					if err := e.peer.WriteFrame(true, wsframe.OpClose, closeBody(code, "bye")); err != nil {
						t.Fatal(err)
					}
					got, _, err := e.peer.ReadClose()
					if err != nil || got != int(code) {
						t.Fatalf("echoed close %d, %v; want %d", got, err, code)
					}
					if role.name == "server" {
						// §7.1.1: the server closes the TCP connection.
						if err := e.peer.ExpectEOF(); err != nil {
							t.Fatalf("server did not close TCP: %v", err)
						}
					} else {
						e.peer.Close()
					}
					err = e.wait(t)
					var ce *CloseError
					if !asCloseError(err, &ce) || !ce.Remote || int(ce.Code) != int(code) || ce.Reason != "bye" {
						t.Fatalf("endpoint error %#v", err)
					}
				})
			}
			t.Run("empty close", func(t *testing.T) {
				e := role.start(t)
				e.peer.WriteFrame(true, wsframe.OpClose, nil)
				f, err := e.peer.ReadFrame()
				if err != nil || f.Opcode != wsframe.OpClose || len(f.Payload) != 0 {
					t.Fatalf("reply %+v, %v; want empty close", f, err)
				}
				e.peer.Close()
				if err := e.wait(t); CloseStatus(err) != StatusNoStatusReceived {
					t.Fatalf("endpoint error %v", err)
				}
			})
		})
	}
}

func TestWSEchoAndControlFrames(t *testing.T) {
	for _, role := range roles {
		t.Run(role.name, func(t *testing.T) {
			defer wsCheckGoroutines(t)()
			e := role.start(t)
			p := e.peer
			want := func(op wsframe.Opcode, payload string) {
				t.Helper()
				f, err := p.ReadFrame()
				if err != nil {
					t.Fatal(err)
				}
				if f.Opcode != op || string(f.Payload) != payload || !f.Fin {
					t.Fatalf("got op %d %q fin %v, want op %d %q", f.Opcode, f.Payload, f.Fin, op, payload)
				}
				if f.Masked != (role.name == "client") {
					t.Fatalf("masked = %v in role %s", f.Masked, role.name)
				}
			}
			// A ping between the fragments of a message is answered at
			// once with the same payload (§5.4, §5.5.2).
			p.WriteRaw(append(text(false, "frag").encode(p), ctl(wsframe.OpPing, []byte("ping!")).encode(p)...))
			want(wsframe.OpPong, "ping!")
			// An unsolicited pong is ignored (§5.5.3).
			p.WriteRaw(append(ctl(wsframe.OpPong, []byte("unasked")).encode(p),
				frameSpec{fin: true, op: wsframe.OpContinuation, payload: []byte("ment")}.encode(p)...))
			want(wsframe.OpText, "fragment")
			// A code point split across fragments is fine.
			p.WriteRaw(append(text(false, "caf\xc3").encode(p), frameSpec{fin: true, op: wsframe.OpContinuation, payload: []byte("\xa9")}.encode(p)...))
			want(wsframe.OpText, "café")
			// Empty messages and all sizes of length encoding.
			for _, n := range []int{0, 125, 126, 65535, 65536, 200000} {
				payload := bytes.Repeat([]byte{byte(n)}, n)
				p.WriteFrame(true, wsframe.OpBinary, payload)
				want(wsframe.OpBinary, string(payload))
			}
			p.WriteFrame(true, wsframe.OpClose, closeBody(1000, ""))
			if code, _, err := p.ReadClose(); err != nil || code != 1000 {
				t.Fatalf("close echo %d %v", code, err)
			}
			p.Close()
			e.wait(t)
			st := e.conn.Stats()
			if st.MessagesIn != 8 || st.MessagesOut != 8 {
				t.Fatalf("stats %+v, want 8 messages each way", st)
			}
		})
	}
}

// §8.1 fail fast: an invalid byte closes the connection without waiting
// for the rest of the frame or message.
func TestWSInvalidUTF8FailsFast(t *testing.T) {
	for _, role := range roles {
		t.Run(role.name, func(t *testing.T) {
			defer wsCheckGoroutines(t)()
			e := role.start(t)
			p := e.peer
			// Announce 100 bytes, send only 4 of them with the bad byte.
			payload := append([]byte("ab\xffc"), make([]byte, 96)...)
			f := text(true, string(payload)).encode(p)
			hdr := len(f) - len(payload)
			p.WriteRaw(f[:hdr+4])
			code, _, err := p.ReadClose()
			if err != nil || code != 1007 {
				t.Fatalf("close %d %v, want 1007", code, err)
			}
			p.Close()
			if err := e.wait(t); CloseStatus(err) != StatusInvalidFramePayloadData {
				t.Fatalf("endpoint error %v", err)
			}
		})
	}
}

// A frame that would take a message past ReadLimit closes with 1009 as
// soon as its header arrives, before any of the excess is read.
func TestWSReadLimit(t *testing.T) {
	starts := map[string]roleStarter{
		"server": func(t *testing.T) *wsEcho { return startServerEcho(t, WSConfig{ReadLimit: 1000}, nil) },
		"client": func(t *testing.T) *wsEcho { return startClientEcho(t, DialConfig{ReadLimit: 1000}, nil) },
	}
	for name, start := range starts {
		t.Run(name, func(t *testing.T) {
			defer wsCheckGoroutines(t)()
			e := start(t)
			p := e.peer
			// Exactly the limit passes.
			p.WriteFrame(true, wsframe.OpBinary, make([]byte, 1000))
			if f, err := p.ReadFrame(); err != nil || len(f.Payload) != 1000 {
				t.Fatalf("message at the limit: %v", err)
			}
			// Only the header of a 2 GiB frame is sent.
			h := wsframe.AppendHeader(nil, wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Length: 2 << 30, Masked: p.Client})
			p.WriteRaw(h)
			code, _, err := p.ReadClose()
			if err != nil || code != 1009 {
				t.Fatalf("close %d %v, want 1009", code, err)
			}
			p.Close()
			if err := e.wait(t); CloseStatus(err) != StatusMessageTooBig {
				t.Fatalf("endpoint error %v", err)
			}
		})
		t.Run(name+"/fragmented", func(t *testing.T) {
			e := start(t)
			p := e.peer
			p.WriteFrame(false, wsframe.OpBinary, make([]byte, 600))
			h := wsframe.AppendHeader(nil, wsframe.Header{Fin: true, Opcode: wsframe.OpContinuation, Length: 401, Masked: p.Client})
			p.WriteRaw(h)
			if code, _, err := p.ReadClose(); err != nil || code != 1009 {
				t.Fatalf("close %d %v, want 1009", code, err)
			}
			p.Close()
			e.wait(t)
		})
	}
}

// Frames that arrive in the same packet as the handshake are not lost.
func TestWSBytesAfterHandshakeKept(t *testing.T) {
	t.Run("server", func(t *testing.T) {
		defer wsCheckGoroutines(t)()
		extra := wstest.AppendFrame(nil, true, 0, wsframe.OpText, true, [4]byte{1, 2, 3, 4}, []byte("early"))
		extra = wstest.AppendFrame(extra, true, 0, wsframe.OpBinary, true, [4]byte{5, 6, 7, 8}, []byte("bird"))
		e := startServerEcho(t, WSConfig{}, extra)
		for _, want := range []string{"early", "bird"} {
			f, err := e.peer.ReadFrame()
			if err != nil || string(f.Payload) != want {
				t.Fatalf("got %q %v, want %q", f.Payload, err, want)
			}
		}
		e.peer.Close()
		e.wait(t)
	})
	t.Run("client", func(t *testing.T) {
		defer wsCheckGoroutines(t)()
		after := wstest.AppendFrame(nil, true, 0, wsframe.OpText, false, [4]byte{}, []byte("hello at once"))
		e := startClientEcho(t, DialConfig{}, after)
		f, err := e.peer.ReadFrame()
		if err != nil || string(f.Payload) != "hello at once" {
			t.Fatalf("got %q %v", f.Payload, err)
		}
		e.peer.Close()
		e.wait(t)
	})
}

func asCloseError(err error, ce **CloseError) bool {
	c, ok := err.(*CloseError)
	if ok {
		*ce = c
	}
	return ok
}

var _ = binary.BigEndian
