package stream

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

func TestRelayEnvelopeRoundTrip(t *testing.T) {
	origin := relayOrigin{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	hubCases := []struct {
		name string
		kind relayKind
		mt   MessageType
		key  string
		msg  []byte
	}{
		{"broadcast text", relayKindAll, TextMessage, "", []byte("hello")},
		{"room binary", relayKindRoom, BinaryMessage, "lobby", []byte{0, 1, 2, 255}},
		{"id empty payload", relayKindID, TextMessage, "user-7", nil},
	}
	for i, tc := range hubCases {
		t.Run(tc.name, func(t *testing.T) {
			seq := uint64(i*1000 + 1)
			env, err := decodeRelayEnvelope(appendRelayHub(nil, origin, seq, tc.kind, tc.mt, tc.key, tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			if env.kind != tc.kind || env.origin != origin || env.seq != seq || env.mt != tc.mt ||
				string(env.key) != tc.key || !bytes.Equal(env.payload, tc.msg) {
				t.Fatalf("decoded %+v", env)
			}
		})
	}
	events := []Event{
		{Data: "plain"},
		{Type: Custom, Name: "tick", Data: "a\nb\r\nc", ID: "own-1", Retry: 1500 * time.Millisecond},
		{Type: Done},
		{Type: Error, Data: ""},
	}
	for i, e := range events {
		env, err := decodeRelayEnvelope(appendRelayEvent(nil, origin, uint64(i+1), e))
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if env.kind != relayKindEvent || env.event != e || env.seq != uint64(i+1) {
			t.Fatalf("event %d: decoded %+v, want %+v", i, env.event, e)
		}
	}
}

func TestRelayEnvelopeMalformed(t *testing.T) {
	good := appendRelayEvent(nil, relayOrigin{}, 1, Event{Name: "n", Data: "d"})
	cases := map[string][]byte{
		"empty":         nil,
		"short":         good[:10],
		"version":       append([]byte{9}, good[1:]...),
		"kind":          append([]byte{relayVersion, 99}, good[2:]...),
		"seq zero":      appendRelayHub(nil, relayOrigin{}, 0, relayKindAll, TextMessage, "", nil),
		"no seq":        good[:18],
		"no event type": good[:19],
		"name too long": append(append([]byte(nil), good[:20]...), 0x7f),
		"hub bad type":  append(appendRelayHeader(nil, relayKindAll, relayOrigin{}, 1), 7, 0),
		"hub key long":  append(appendRelayHeader(nil, relayKindRoom, relayOrigin{}, 1), byte(TextMessage), 5, 'a'),
		"event type":    append(appendRelayHeader(nil, relayKindEvent, relayOrigin{}, 1), 9, 0, 0, 0),
	}
	for name, msg := range cases {
		if _, err := decodeRelayEnvelope(msg); err == nil {
			t.Errorf("%s: decoded %q without error", name, msg)
		}
	}
}

func FuzzRelayEnvelope(f *testing.F) {
	f.Add(appendRelayEvent(nil, relayOrigin{7}, 3, Event{Type: Custom, Name: "x", ID: "1-0", Data: "y", Retry: time.Second}))
	f.Add(appendRelayHub(nil, relayOrigin{8}, 1, relayKindRoom, BinaryMessage, "room", []byte{1, 2}))
	f.Add([]byte{relayVersion, byte(relayKindEvent)})
	f.Fuzz(func(t *testing.T, msg []byte) {
		env, err := decodeRelayEnvelope(msg)
		if err != nil {
			return
		}
		var again []byte
		if env.kind == relayKindEvent {
			again = appendRelayEvent(nil, env.origin, env.seq, env.event)
		} else {
			again = appendRelayHub(nil, env.origin, env.seq, env.kind, env.mt, string(env.key), env.payload)
		}
		env2, err := decodeRelayEnvelope(again)
		if err != nil {
			t.Fatalf("re-encoded envelope does not decode: %v", err)
		}
		if env2.kind != env.kind || env2.seq != env.seq || env2.event != env.event ||
			!bytes.Equal(env2.key, env.key) || !bytes.Equal(env2.payload, env.payload) {
			t.Fatalf("round trip changed %+v into %+v", env, env2)
		}
	})
}

func TestRelaySeen(t *testing.T) {
	var s relaySeen
	a, b := relayOrigin{1}, relayOrigin{2}
	steps := []struct {
		origin relayOrigin
		seq    uint64
		fresh  bool
		lost   uint64
	}{
		{a, 5, true, 0}, // first from a: nothing known before
		{a, 6, true, 0},
		{a, 6, false, 0}, // duplicate
		{a, 9, true, 2},  // 7 and 8 never came
		{b, 1, true, 0},
		{a, 8, false, 0}, // late copy of a lost one: not delivered out of order
		{b, 2, true, 0},
	}
	for i, st := range steps {
		fresh, lost := s.check(st.origin, st.seq)
		if fresh != st.fresh || lost != st.lost {
			t.Fatalf("step %d: got fresh=%v lost=%d, want %v %d", i, fresh, lost, st.fresh, st.lost)
		}
	}
}

func TestRelaySeenForgetsOldOrigins(t *testing.T) {
	var s relaySeen
	for i := range 3 * relayMaxOrigins {
		o := relayOrigin{byte(i), byte(i >> 8), byte(i >> 16)}
		if fresh, _ := s.check(o, 1); !fresh {
			t.Fatalf("origin %d seen as a duplicate", i)
		}
		if len(s.last) > relayMaxOrigins {
			t.Fatalf("tracking %d origins, more than %d", len(s.last), relayMaxOrigins)
		}
	}
}

func TestRelayPumpRetriesInOrder(t *testing.T) {
	t.Cleanup(bkCheckGoroutines(t))
	var c relayCounters
	got := make(chan []byte, 16)
	fails := 2
	p := newRelayPump(relayOrigin{}, 4, &c, relaySender("t", func(ctx context.Context, _ string, msg []byte) error {
		if fails > 0 {
			fails--
			return errors.New("down")
		}
		got <- msg
		return nil
	}, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.run(ctx); close(done) }()
	for i := range 3 {
		if !p.push(false, func(dst []byte, _ relayOrigin, seq uint64) []byte { return append(dst, byte(seq), byte(i)) }) {
			t.Fatalf("push %d refused", i)
		}
	}
	for i := range 3 {
		select {
		case m := <-got:
			if m[0] != byte(i+1) || m[1] != byte(i) {
				t.Fatalf("message %d is %v", i, m)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("pump did not send")
		}
	}
	cancel()
	<-done
	if st := c.stats(); st.Sent != 3 || st.Errors != 2 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRelayPumpFullQueue(t *testing.T) {
	var c relayCounters
	// Not running yet: nothing leaves the queue.
	p := newRelayPump(relayOrigin{}, 2, &c, relaySender("t", func(context.Context, string, []byte) error { return errors.New("down") }, nil))
	build := func(dst []byte, _ relayOrigin, seq uint64) []byte { return append(dst, byte(seq)) }
	for range 2 {
		if !p.push(false, build) {
			t.Fatal("push refused below the limit")
		}
	}
	if p.push(true, build) {
		t.Fatal("push accepted over the limit")
	}
	if p.seq != 2 || c.dropped.Load() != 0 {
		t.Fatalf("refused with keepSeq: seq %d dropped %d", p.seq, c.dropped.Load())
	}
	if p.push(false, build) {
		t.Fatal("push accepted over the limit")
	}
	if p.seq != 3 || c.dropped.Load() != 1 {
		t.Fatalf("dropped without keepSeq: seq %d dropped %d", p.seq, c.dropped.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.run(ctx) // stopped: what is queued is dropped
	if c.dropped.Load() != 3 {
		t.Fatalf("dropped %d after stop, want 3", c.dropped.Load())
	}
}
