package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHubBroadcastReachesAll(t *testing.T) {
	defer wsCheckGoroutines(t)()
	for _, tc := range []struct {
		name   string
		cfg    HubConfig
		msg    []byte
		wantMT MessageType
		wantOK bool
	}{
		{"text default", HubConfig{}, []byte("héllo"), TextMessage, true},
		{"binary", HubConfig{MessageType: BinaryMessage}, []byte{0xff, 0, 1}, BinaryMessage, true},
		{"invalid UTF-8 refused as text", HubConfig{}, []byte{0xff, 0xfe}, 0, false},
		{"empty", HubConfig{}, []byte{}, TextMessage, true},
		{"larger than 64 KiB", HubConfig{}, bytes.Repeat([]byte("x"), 70000), TextMessage, true},
		{"over QueueBytes refused", HubConfig{QueueBytes: 100}, bytes.Repeat([]byte("x"), 100), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startHub(t, tc.cfg, WSConfig{}, 0, nil)
			var cs []*hubClient
			for i := range 5 {
				cs = append(cs, s.dial(t, "/", i+1))
			}
			if got := s.hub.Broadcast(tc.msg); got != tc.wantOK {
				t.Fatalf("Broadcast = %v, want %v", got, tc.wantOK)
			}
			// A marker proves what arrived before it.
			if !s.hub.Broadcast([]byte("end")) && tc.cfg.MessageType != BinaryMessage {
				t.Fatal("marker refused")
			}
			for _, c := range cs {
				m := c.next(t)
				if tc.wantOK {
					if m.mt != tc.wantMT || !bytes.Equal(m.p, tc.msg) {
						t.Fatalf("got %v %d bytes, want %v %d bytes", m.mt, len(m.p), tc.wantMT, len(tc.msg))
					}
					m = c.next(t)
				}
				if string(m.p) != "end" {
					t.Fatalf("got %q, want the marker", m.p)
				}
			}
			st := s.hub.Stats()
			want := uint64(1)
			if tc.wantOK {
				want = 2
			}
			if st.Broadcasts != want || st.Connections != 5 {
				t.Fatalf("stats %+v, want %d broadcasts and 5 connections", st, want)
			}
			hubQuiet(t, s.hub)
			if st := s.hub.Stats(); st.Deliveries != 5*want || st.Drops != 0 {
				t.Fatalf("stats %+v, want %d deliveries", st, 5*want)
			}
		})
	}
}

func TestHubRegisterUnregisterConcurrently(t *testing.T) {
	defer wsCheckGoroutines(t)()
	s := startHub(t, HubConfig{}, WSConfig{}, 0, nil)
	const workers, each = 8, 10
	stopBcast := make(chan struct{})
	var bcast sync.WaitGroup
	bcast.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stopBcast:
				return
			default:
			}
			s.hub.Broadcast([]byte("tick " + strconv.Itoa(i)))
			s.hub.BroadcastTo("r"+strconv.Itoa(i%3), []byte("room tick"))
		}
	})
	var wg sync.WaitGroup
	kept := make(chan *WebSocketConn, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				c, _, err := Dial(context.Background(), s.url, DialConfig{})
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				go func() {
					for {
						if _, _, err := c.ReadMessage(); err != nil {
							return
						}
					}
				}()
				switch i % 3 {
				case 0: // stays
					kept <- c
				case 1: // closes; the hub must notice by itself
					c.Close()
				case 2: // stays open but the server side unregisters
					kept <- c
				}
				_ = w
			}
		})
	}
	wg.Wait()
	close(kept)
	var open []*WebSocketConn
	for c := range kept {
		open = append(open, c)
	}
	want := len(open)
	hubWaitFor(t, "count to settle", func() bool { return s.hub.Count() == want })
	// Server-side: join rooms, unregister half, concurrently.
	var server []*WebSocketConn
	s.hub.mu.RLock()
	for _, hc := range s.hub.conns {
		server = append(server, hc.c)
	}
	s.hub.mu.RUnlock()
	for i, c := range server {
		wg.Go(func() {
			s.hub.Join("r"+strconv.Itoa(i%3), c)
			s.hub.Join("all", c)
			if i%2 == 0 {
				s.hub.Unregister(c)
				s.hub.Unregister(c) // twice is harmless
			}
		})
	}
	wg.Wait()
	close(stopBcast)
	bcast.Wait()
	hubCheck(t, s.hub)
	if got, want := s.hub.Count(), len(server)-(len(server)+1)/2; got != want {
		t.Fatalf("Count = %d, want %d", got, want)
	}
	if got := len(s.hub.Members("all")); got != s.hub.Count() {
		t.Fatalf("room all has %d members, hub %d", got, s.hub.Count())
	}
	for _, c := range open {
		c.Close()
	}
	hubWaitFor(t, "everyone to leave", func() bool { return s.hub.Count() == 0 })
	hubCheck(t, s.hub)
	if st := s.hub.Stats(); st.Rooms != 0 {
		t.Fatalf("%d rooms left with no members", st.Rooms)
	}
}

func TestHubRooms(t *testing.T) {
	defer wsCheckGoroutines(t)()
	s := startHub(t, HubConfig{}, WSConfig{}, 0, func(c *WebSocketConn, _ MessageType, p []byte) {})
	var hub = s.hub
	// Register three clients and find their server ends by the order
	// of registration.
	var cl []*hubClient
	var sv []*WebSocketConn
	for i := range 3 {
		cl = append(cl, s.dial(t, "/", i+1))
		hub.mu.RLock()
		sv = append(sv, hub.conns[i].c)
		hub.mu.RUnlock()
	}
	steps := []struct {
		name  string
		do    func() bool
		want  bool
		rooms map[string]int // room → member count afterwards
	}{
		{"a joins x", func() bool { return hub.Join("x", sv[0]) }, true, map[string]int{"x": 1}},
		{"b joins x", func() bool { return hub.Join("x", sv[1]) }, true, map[string]int{"x": 2}},
		{"b joins x again", func() bool { return hub.Join("x", sv[1]) }, true, map[string]int{"x": 2}},
		{"c joins y", func() bool { return hub.Join("y", sv[2]) }, true, map[string]int{"x": 2, "y": 1}},
		{"c leaves x, not a member", func() bool { return hub.Leave("x", sv[2]) }, false, map[string]int{"x": 2, "y": 1}},
		{"c leaves y, room freed", func() bool { return hub.Leave("y", sv[2]) }, true, map[string]int{"x": 2}},
		{"unregistered cannot join", func() bool { return hub.Join("x", &WebSocketConn{}) }, false, map[string]int{"x": 2}},
	}
	for _, st := range steps {
		if got := st.do(); got != st.want {
			t.Fatalf("%s: got %v, want %v", st.name, got, st.want)
		}
		for room, n := range st.rooms {
			if got := len(hub.Members(room)); got != n {
				t.Fatalf("%s: room %q has %d members, want %d", st.name, room, got, n)
			}
		}
		if got := hub.Stats().Rooms; got != len(st.rooms) {
			t.Fatalf("%s: %d rooms, want %d", st.name, got, len(st.rooms))
		}
		hubCheck(t, hub)
	}
	if !hub.BroadcastTo("x", []byte("to x")) || !hub.BroadcastTo("nobody", []byte("lost")) {
		t.Fatal("BroadcastTo refused")
	}
	hub.Broadcast([]byte("all"))
	for i, c := range cl {
		if i < 2 {
			if m := c.next(t); string(m.p) != "to x" {
				t.Fatalf("client %d got %q", i, m.p)
			}
		}
		if m := c.next(t); string(m.p) != "all" {
			t.Fatalf("client %d got %q, want all", i, m.p)
		}
	}
	// A connection that closes leaves its rooms by itself.
	cl[0].c.Close()
	hubWaitFor(t, "closed member to leave", func() bool { return len(hub.Members("x")) == 1 })
	cl[1].c.Close()
	hubWaitFor(t, "room to be freed", func() bool { return hub.Stats().Rooms == 0 })
	hubCheck(t, hub)
}

func TestHubSendTo(t *testing.T) {
	defer wsCheckGoroutines(t)()
	cfg := HubConfig{RequestID: func(r *http.Request) string { return r.URL.Query().Get("user") }}
	s := startHub(t, cfg, WSConfig{}, 0, nil)
	alice1 := s.dial(t, "/?user=alice", 1)
	alice2 := s.dial(t, "/?user=alice", 2)
	bob := s.dial(t, "/?user=bob", 3)
	anon := s.dial(t, "/", 4)
	for _, tc := range []struct {
		id   string
		want bool
		to   []*hubClient
	}{
		{"alice", true, []*hubClient{alice1, alice2}},
		{"bob", true, []*hubClient{bob}},
		{"carol", false, nil},
		{"", false, nil},
	} {
		msg := []byte("for " + tc.id)
		if got := s.hub.SendTo(tc.id, msg); got != tc.want {
			t.Fatalf("SendTo(%q) = %v, want %v", tc.id, got, tc.want)
		}
		for _, c := range tc.to {
			if m := c.next(t); string(m.p) != string(msg) {
				t.Fatalf("SendTo(%q): got %q", tc.id, m.p)
			}
		}
	}
	if err := s.hub.SendMessageTo("carol", WSMessage{Type: "x"}); !errors.Is(err, ErrHubNoRecipient) {
		t.Fatalf("SendMessageTo unknown: %v", err)
	}
	// Re-registering changes the ID.
	s.hub.mu.RLock()
	bobServer := s.hub.ids["bob"][0].c
	s.hub.mu.RUnlock()
	s.hub.RegisterID(bobServer, "robert")
	if s.hub.SendTo("bob", []byte("x")) || !s.hub.SendTo("robert", []byte("renamed")) {
		t.Fatal("ID change not applied")
	}
	if m := bob.next(t); string(m.p) != "renamed" {
		t.Fatalf("bob got %q", m.p)
	}
	hubQuiet(t, s.hub)
	anon.none(t)
	hubCheck(t, s.hub)
}

// TestHubOrdering has several goroutines broadcast numbered messages at
// once. Every client must see each sender's messages in order, and all
// clients the same overall order.
func TestHubOrdering(t *testing.T) {
	defer wsCheckGoroutines(t)()
	const senders, each, clients = 4, 200, 5
	s := startHub(t, HubConfig{QueueLen: senders * each}, WSConfig{}, 0, nil)
	var cs []*hubClient
	for i := range clients {
		cs = append(cs, s.dial(t, "/", i+1))
	}
	var wg sync.WaitGroup
	for sd := range senders {
		wg.Go(func() {
			for i := range each {
				if !s.hub.Broadcast(fmt.Appendf(nil, "%d:%d", sd, i)) {
					t.Errorf("broadcast refused")
				}
			}
		})
	}
	wg.Wait()
	var first []string
	for ci, c := range cs {
		next := make([]int, senders)
		var seq []string
		for range senders * each {
			m := c.next(t)
			sd, i, _ := strings.Cut(string(m.p), ":")
			a, _ := strconv.Atoi(sd)
			b, _ := strconv.Atoi(i)
			if b != next[a] {
				t.Fatalf("client %d: sender %d message %d arrived when %d was due", ci, a, b, next[a])
			}
			next[a]++
			seq = append(seq, string(m.p))
		}
		if first == nil {
			first = seq
		} else if !slicesEqual(first, seq) {
			t.Fatalf("client %d saw a different overall order", ci)
		}
	}
	if st := s.hub.Stats(); st.Drops != 0 {
		t.Fatalf("%d drops", st.Drops)
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestHubBroadcastWait(t *testing.T) {
	defer wsCheckGoroutines(t)()
	s := startHub(t, HubConfig{}, WSConfig{}, 0, nil)
	c := s.dial(t, "/", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 50 {
		if err := s.hub.BroadcastWait(ctx, []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("BroadcastWait: %v", err)
		}
		// Written means counted as delivered already.
		if d := s.hub.Stats().Deliveries; d != uint64(i+1) {
			t.Fatalf("after %d waits %d deliveries", i+1, d)
		}
	}
	for i := range 50 {
		if m := c.next(t); string(m.p) != strconv.Itoa(i) {
			t.Fatalf("got %q, want %d", m.p, i)
		}
	}
	if err := s.hub.BroadcastWait(ctx, []byte{0xff}); err == nil {
		t.Fatal("invalid text accepted")
	}
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := s.hub.BroadcastWait(done, []byte("x")); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
}

func TestHubWSMessage(t *testing.T) {
	defer wsCheckGoroutines(t)()
	s := startHub(t, HubConfig{MessageType: BinaryMessage}, WSConfig{}, 0, nil)
	c := s.dial(t, "/", 1)
	s.hub.mu.RLock()
	sc := s.hub.conns[0].c
	s.hub.mu.RUnlock()
	s.hub.Join("lobby", sc)
	for _, tc := range []struct {
		name string
		send func(WSMessage) error
		in   WSMessage
		want string // "" means an error
	}{
		{"broadcast", s.hub.BroadcastMessage, WSMessage{Type: "chat", Payload: []byte(`{"text":"hi"}`), SenderID: "u1", Ts: 42},
			`{"type":"chat","payload":{"text":"hi"},"sender_id":"u1","ts":42}`},
		{"room", func(m WSMessage) error { return s.hub.BroadcastMessageTo("lobby", m) }, WSMessage{Type: "join", Ts: 7},
			`{"type":"join","ts":7}`},
		{"bad payload", s.hub.BroadcastMessage, WSMessage{Type: "x", Payload: []byte(`{`)}, ""},
		{"payload at the nesting limit", s.hub.BroadcastMessage, WSMessage{Type: "x", Payload: nested(jsonMaxDepth)}, ""},
		{"payload one level under it", s.hub.BroadcastMessage, WSMessage{Type: "x", Payload: nested(jsonMaxDepth - 1), Ts: 1},
			`{"type":"x","payload":` + string(nested(jsonMaxDepth-1)) + `,"ts":1}`},
	} {
		err := tc.send(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Fatalf("%s: no error", tc.name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		m := c.next(t)
		if m.mt != TextMessage || string(m.p) != tc.want {
			t.Fatalf("%s: got %v %s, want text %s", tc.name, m.mt, m.p, tc.want)
		}
		back, err := ParseWSMessage(m.p)
		if err != nil || back.Type != tc.in.Type || back.Ts != tc.in.Ts || back.SenderID != tc.in.SenderID {
			t.Fatalf("%s: parsed %+v, %v", tc.name, back, err)
		}
	}
	// Ts defaults to now.
	before := time.Now().UnixMilli()
	if err := s.hub.BroadcastMessage(WSMessage{Type: "now"}); err != nil {
		t.Fatal(err)
	}
	back, err := ParseWSMessage(c.next(t).p)
	if err != nil || back.Ts < before {
		t.Fatalf("ts %d before %d (%v)", back.Ts, before, err)
	}
	if _, err := ParseWSMessage([]byte("nope")); err == nil {
		t.Fatal("parsed garbage")
	}
}

// nested returns a JSON array nested depth levels deep.
func nested(depth int) []byte {
	return []byte(strings.Repeat("[", depth) + strings.Repeat("]", depth))
}

func TestHubStop(t *testing.T) {
	defer wsCheckGoroutines(t)()
	s := startHub(t, HubConfig{}, WSConfig{}, 0, nil)
	var cs []*hubClient
	for i := range 20 {
		cs = append(cs, s.dial(t, "/", i+1))
	}
	s.hub.Join("room", func() *WebSocketConn { s.hub.mu.RLock(); defer s.hub.mu.RUnlock(); return s.hub.conns[0].c }())
	ran := make(chan struct{})
	go func() { s.hub.Run(); close(ran) }()
	s.hub.Broadcast([]byte("last"))
	s.hub.Stop()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Stop")
	}
	for i, c := range cs {
		if m := c.next(t); string(m.p) != "last" {
			t.Fatalf("client %d got %q", i, m.p)
		}
		for range c.msgs {
		}
		if err := <-c.end; CloseStatus(err) != StatusGoingAway {
			t.Fatalf("client %d ended with %v, want 1001", i, err)
		}
	}
	if s.hub.Count() != 0 || s.hub.Stats().Rooms != 0 {
		t.Fatalf("after Stop: %+v", s.hub.Stats())
	}
	if s.hub.Broadcast([]byte("x")) || s.hub.BroadcastTo("room", []byte("x")) {
		t.Fatal("broadcast accepted after Stop")
	}
	if err := s.hub.BroadcastWait(context.Background(), []byte("x")); !errors.Is(err, ErrHubStopped) {
		t.Fatalf("BroadcastWait after Stop: %v", err)
	}
	s.hub.Stop() // again: returns at once
	resp, err := http.Get(s.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("handler after Stop: %d", resp.StatusCode)
	}
}

// TestHubRegisterAfterStop registers a connection made by another
// handler with a stopped hub, which closes it with 1001.
func TestHubRegisterAfterStop(t *testing.T) {
	defer wsCheckGoroutines(t)()
	s := startHub(t, HubConfig{}, WSConfig{}, 0, nil)
	s.hub.Stop()
	h := s.hub
	srv := httpTestWS(t, func(c *WebSocketConn) { h.Register(c); c.ReadMessage() })
	c, _, err := Dial(context.Background(), srv, DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(); CloseStatus(err) != StatusGoingAway {
		t.Fatalf("got %v, want 1001", err)
	}
}
