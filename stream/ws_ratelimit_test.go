package stream

import (
	"encoding/binary"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stdrealtime/realtime/internal/wsframe"
	"github.com/stdrealtime/realtime/internal/wstest"
)

func TestRateBucket(t *testing.T) {
	sec := int64(time.Second)
	tests := []struct {
		name  string
		limit RateLimit
		at    []int64 // arrival times, ns
		want  string  // "+" admitted, "-" refused
	}{
		{"zero limits nothing", RateLimit{}, nil, ""},
		{"burst then refused", RateLimit{Messages: 1, Burst: 3}, []int64{0, 0, 0, 0}, "+++-"},
		{"refills at the rate", RateLimit{Messages: 2, Burst: 1}, []int64{0, sec / 4, sec / 2, sec / 2}, "+-+-"},
		{"default burst is the rate", RateLimit{Messages: 2.5}, []int64{0, 0, 0, 0}, "+++-"},
		{"refill capped at burst", RateLimit{Messages: 10, Burst: 2}, []int64{0, 0, 100 * sec, 100 * sec, 100 * sec}, "++++-"},
		{"slow rate", RateLimit{Messages: 0.5, Burst: 1}, []int64{0, sec, 2 * sec}, "+-+"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newRateBucket(tt.limit)
			if tt.at == nil {
				if b != nil {
					t.Fatal("a bucket for a zero limit")
				}
				return
			}
			got := ""
			for _, at := range tt.at {
				if b.take(at) {
					got += "+"
				} else {
					got += "-"
				}
			}
			if got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// rateServer is pipeServer with a RateLimit.
func rateServer(limit RateLimit) (*WebSocketConn, *wstest.Peer) {
	c, p := pipeServer(resolveSettings(0, 0, -1, 0, 0, nil))
	c.rate = newRateBucket(limit)
	return c, p
}

func TestWSRateLimitClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := rateServer(RateLimit{Messages: 1, Burst: 2})
		defer p.Close()
		done := make(chan error, 1)
		go func() { done <- echoLoop(c) }()
		var out []byte
		for i := range 3 {
			out = append(out, p.Frame(true, wsframe.OpText, []byte("m"+strconv.Itoa(i)))...)
		}
		go p.WriteRaw(out)
		for i := range 2 {
			if f, err := p.ReadFrame(); err != nil || string(f.Payload) != "m"+strconv.Itoa(i) {
				t.Fatalf("echo %d: %q %v", i, f.Payload, err)
			}
		}
		code, reason, err := p.ReadClose()
		if err != nil || code != int(StatusPolicyViolation) || reason != "message rate limit exceeded" {
			t.Fatalf("close %d %q %v, want 1008", code, reason, err)
		}
		p.Close()
		if err := <-done; CloseStatus(err) != StatusPolicyViolation {
			t.Fatalf("reader ended with %v", err)
		}
		if st := c.Stats(); st.RateLimited != 1 || st.MessagesIn != 2 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestWSRateLimitDrop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := rateServer(RateLimit{Messages: 1, Burst: 2, Policy: RateDrop})
		defer p.Close()
		done := make(chan error, 1)
		go func() { done <- echoLoop(c) }()
		// Five at once, one of them fragmented: two pass, three are
		// dropped.
		var out []byte
		for i := range 4 {
			out = append(out, p.Frame(true, wsframe.OpText, []byte("m"+strconv.Itoa(i)))...)
		}
		out = append(out, p.Frame(false, wsframe.OpBinary, []byte("frag"))...)
		out = append(out, p.Frame(true, wsframe.OpContinuation, []byte("ment"))...)
		go p.WriteRaw(out)
		for i := range 2 {
			if f, err := p.ReadFrame(); err != nil || string(f.Payload) != "m"+strconv.Itoa(i) {
				t.Fatalf("echo %d: %q %v", i, f.Payload, err)
			}
		}
		// A second later one token is back: the next message passes.
		synctest.Wait()
		time.Sleep(time.Second)
		go p.WriteFrame(true, wsframe.OpText, []byte("later"))
		if f, err := p.ReadFrame(); err != nil || string(f.Payload) != "later" {
			t.Fatalf("echo after the refill: %q %v", f.Payload, err)
		}
		synctest.Wait()
		if st := c.Stats(); st.RateLimited != 3 || st.MessagesIn != 6 || st.MessagesOut != 3 {
			t.Fatalf("stats %+v", st)
		}
		go p.WriteFrame(true, wsframe.OpClose, wstest.ClosePayload(1000, ""))
		if code, _, err := p.ReadClose(); err != nil || code != 1000 {
			t.Fatalf("close %d %v", code, err)
		}
		p.Close()
		if err := <-done; CloseStatus(err) != StatusNormalClosure {
			t.Fatalf("reader ended with %v", err)
		}
	})
}

// Pings that arrive together are answered by one pong, for the last of
// them; every ping is either answered or counted as skipped.
func TestWSPingFloodCoalesced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := pipeServer(resolveSettings(0, 0, -1, 0, 0, nil))
		defer p.Close()
		done := make(chan error, 1)
		go func() { done <- echoLoop(c) }()
		const pings = 100
		var out []byte
		for i := range pings {
			out = append(out, p.Frame(true, wsframe.OpPing, binary.BigEndian.AppendUint32(nil, uint32(i)))...)
		}
		out = append(out, p.Frame(true, wsframe.OpText, []byte("after"))...)
		go p.WriteRaw(out)
		pongs := 0
		var last uint32
		for {
			f, err := p.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			if f.Opcode == wsframe.OpPong {
				pongs++
				last = binary.BigEndian.Uint32(f.Payload)
				continue
			}
			if string(f.Payload) != "after" {
				t.Fatalf("frame %+v %q", f.Header, f.Payload)
			}
			break
		}
		if pongs < 1 || last != pings-1 {
			t.Fatalf("%d pongs, the last for ping %d; want the last ping answered", pongs, last)
		}
		st := c.Stats()
		if st.PongsSkipped+uint64(pongs) != pings || st.PongsSkipped == 0 {
			t.Fatalf("%d pongs and %d skipped for %d pings", pongs, st.PongsSkipped, pings)
		}
		t.Logf("%d pings answered by %d pongs", pings, pongs)
		go p.WriteFrame(true, wsframe.OpClose, wstest.ClosePayload(1000, ""))
		p.ReadClose()
		p.Close()
		<-done
	})
}

// The same over TCP, with a RateLimit that pings do not count against: a
// peer that floods pings and does not read meanwhile gets far fewer
// pongs than pings, the last ping answered, and its messages echoed in
// order afterwards.
func TestWSPingFloodOverTCP(t *testing.T) {
	wsCheckGoroutines(t)
	e := startServerEcho(t, WSConfig{RateLimit: RateLimit{Messages: 1000, Burst: 10}}, nil)
	const pings = 2000
	var out []byte
	for i := range pings {
		out = append(out, e.peer.Frame(true, wsframe.OpPing, binary.BigEndian.AppendUint32(nil, uint32(i)))...)
	}
	for i := range 3 {
		out = append(out, e.peer.Frame(true, wsframe.OpText, []byte("m"+strconv.Itoa(i)))...)
	}
	if err := e.peer.WriteRaw(out); err != nil {
		t.Fatal(err)
	}
	pongs, next := 0, 0
	var last uint32
	for next < 3 {
		f, err := e.peer.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if f.Opcode == wsframe.OpPong {
			pongs++
			last = binary.BigEndian.Uint32(f.Payload)
			continue
		}
		if want := "m" + strconv.Itoa(next); string(f.Payload) != want {
			t.Fatalf("got %q, want %q", f.Payload, want)
		}
		next++
	}
	st := e.conn.Stats()
	if last != pings-1 || st.PongsSkipped+uint64(pongs) != pings || pongs >= pings/2 {
		t.Fatalf("%d pongs (last for %d), %d skipped, for %d pings", pongs, last, st.PongsSkipped, pings)
	}
	if st.RateLimited != 0 {
		t.Fatalf("pings counted against the rate limit: %+v", st)
	}
	t.Logf("%d pings answered by %d pongs", pings, pongs)
	e.peer.WriteFrame(true, wsframe.OpClose, wstest.ClosePayload(1000, ""))
	if err := e.wait(t); CloseStatus(err) != StatusNormalClosure {
		t.Fatalf("server ended with %v", err)
	}
}
