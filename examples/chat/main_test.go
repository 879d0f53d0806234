package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/examples/internal/exampletest"
	"github.com/stdrealtime/realtime/stream"
)

// testServer serves the chat's handler over httptest.
func testServer(t *testing.T) (*server, *httptest.Server) {
	t.Helper()
	s := newServer(exampletest.Logger(t))
	ts := httptest.NewServer(s.routes())
	t.Cleanup(func() {
		s.feed.Close()
		s.hub.Stop()
		ts.Close()
	})
	return s, ts
}

// client is a WebSocket chat client whose messages are read by a
// goroutine of its own, so that a test can wait for them with a bound.
type client struct {
	t    *testing.T
	c    *stream.WebSocketConn
	msgs chan stream.WSMessage // closed when reading ends
	err  error                 // why reading ended, set before msgs is closed
}

func dial(t *testing.T, baseURL string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := stream.Dial(ctx, "ws"+strings.TrimPrefix(baseURL, "http")+"/ws", stream.DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cl := &client{t: t, c: c, msgs: make(chan stream.WSMessage, 1000)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(cl.msgs)
		for {
			_, p, err := c.ReadMessage()
			if err == nil {
				var m stream.WSMessage
				if m, err = stream.ParseWSMessage(p); err == nil {
					cl.msgs <- m
					continue
				}
			}
			cl.err = err
			return
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return cl
}

func (cl *client) send(typ string, payload any) {
	cl.t.Helper()
	m := map[string]any{"type": typ}
	if payload != nil {
		m["payload"] = payload
	}
	b, _ := json.Marshal(m)
	if err := cl.c.WriteMessage(stream.TextMessage, b); err != nil {
		cl.t.Fatal(err)
	}
}

// next returns the next message, which must be of type typ, with its
// payload decoded into v (if not nil).
func (cl *client) next(typ string, v any) stream.WSMessage {
	cl.t.Helper()
	select {
	case m, ok := <-cl.msgs:
		if !ok {
			cl.t.Fatalf("connection ended waiting for %q: %v", typ, cl.err)
		}
		if m.Type != typ {
			cl.t.Fatalf("got %s %s, want a %q message", m.Type, m.Payload, typ)
		}
		if v != nil {
			if err := json.Unmarshal(m.Payload, v); err != nil {
				cl.t.Fatalf("%s payload %s: %v", typ, m.Payload, err)
			}
		}
		return m
	case <-time.After(10 * time.Second):
		cl.t.Fatalf("no %q message within 10s", typ)
	}
	return stream.WSMessage{}
}

// join joins room as name and returns what the server sent back; it
// also reads the presence message announcing itself.
func (cl *client) join(name, room string) joined {
	cl.t.Helper()
	cl.send(typeJoin, joinRequest{Name: name, Room: room})
	var j joined
	m := cl.next(typeJoined, &j)
	// Pages iterate over both lists: they must be arrays, never null.
	if !strings.Contains(string(m.Payload), `"history":[`) || !strings.Contains(string(m.Payload), `"members":[`) {
		cl.t.Fatalf("joined %s", m.Payload)
	}
	var p presence
	cl.next(typePresence, &p)
	if p.Name != name || p.Event != "join" || p.Room != room {
		cl.t.Fatalf("presence after joining: %+v", p)
	}
	return j
}

func (cl *client) say(text string) {
	cl.t.Helper()
	cl.send(typeSay, sayRequest{Text: text})
}

// closed returns the close status the connection ended with.
func (cl *client) closed() stream.StatusCode {
	cl.t.Helper()
	for {
		select {
		case _, ok := <-cl.msgs:
			if !ok {
				return stream.CloseStatus(cl.err)
			}
		case <-time.After(10 * time.Second):
			cl.t.Fatal("connection still open after 10s")
		}
	}
}

func TestPage(t *testing.T) {
	_, ts := testServer(t)
	exampletest.Pages(t, ts.URL, map[string]string{
		"/":            "text/html",
		"/chat.js":     "text/javascript",
		"/chat.css":    "text/css",
		"/favicon.svg": "image/svg+xml",
	})
}

// TestRooms: members of a room hear each other, nobody else does, and
// presence follows joins and leaves.
func TestRooms(t *testing.T) {
	_, ts := testServer(t)
	alice, bob, carol := dial(t, ts.URL), dial(t, ts.URL), dial(t, ts.URL)

	if j := alice.join("alice", "lobby"); j.Room != "lobby" || j.Name != "alice" || fmt.Sprint(j.Members) != "[alice]" || len(j.History) != 0 {
		t.Fatalf("alice joined %+v", j)
	}
	if j := bob.join("bob", "lobby"); fmt.Sprint(j.Members) != "[alice bob]" {
		t.Fatalf("bob joined %+v", j)
	}
	var p presence
	alice.next(typePresence, &p)
	if fmt.Sprint(p) != fmt.Sprint(presence{Room: "lobby", Name: "bob", Event: "join", Members: []string{"alice", "bob"}}) {
		t.Fatalf("alice saw %+v", p)
	}
	carol.join("carol", "kitchen")

	alice.say("  <b>hi</b> bob ")
	for _, cl := range []*client{alice, bob} {
		var m chatMessage
		env := cl.next(typeMessage, &m)
		if m.Name != "alice" || m.Text != "<b>hi</b> bob" || time.Since(m.Time) > time.Minute || env.SenderID != "alice" || env.Ts == 0 {
			t.Fatalf("got %+v in %+v", m, env)
		}
	}
	// The hub puts all room broadcasts in one order: had carol been sent
	// alice's message, it would come before her own.
	carol.say("anyone?")
	var m chatMessage
	if carol.next(typeMessage, &m); m.Name != "carol" || m.Text != "anyone?" {
		t.Fatalf("carol got %+v", m)
	}

	// Bob moves to the kitchen: the lobby sees him leave, the kitchen
	// sees him come, and he hears the kitchen from then on.
	bob.send(typeJoin, joinRequest{Name: "bob", Room: "kitchen"})
	var j joined
	bob.next(typeJoined, &j)
	if j.Room != "kitchen" || fmt.Sprint(j.Members) != "[bob carol]" || len(j.History) != 1 || j.History[0].Text != "anyone?" {
		t.Fatalf("bob joined the kitchen: %+v", j)
	}
	bob.next(typePresence, &p)
	alice.next(typePresence, &p)
	if p.Name != "bob" || p.Event != "leave" || p.Room != "lobby" || fmt.Sprint(p.Members) != "[alice]" {
		t.Fatalf("alice saw %+v", p)
	}
	carol.next(typePresence, &p)
	if p.Name != "bob" || p.Event != "join" || p.Room != "kitchen" {
		t.Fatalf("carol saw %+v", p)
	}
	carol.say("hello bob")
	for _, cl := range []*client{bob, carol} {
		if cl.next(typeMessage, &m); m.Text != "hello bob" {
			t.Fatalf("got %+v", m)
		}
	}

	// Leaving: carol is told, bob sees it. A closed connection leaves too.
	carol.send(typeLeave, nil)
	var left map[string]string
	carol.next(typeLeft, &left)
	if left["room"] != "kitchen" {
		t.Fatalf("left %v", left)
	}
	bob.next(typePresence, &p)
	if p.Name != "carol" || p.Event != "leave" || fmt.Sprint(p.Members) != "[bob]" {
		t.Fatalf("bob saw %+v", p)
	}
	carol.join("carol", "kitchen")
	bob.next(typePresence, nil)
	bob.c.Close()
	carol.next(typePresence, &p)
	if p.Name != "bob" || p.Event != "leave" || fmt.Sprint(p.Members) != "[carol]" {
		t.Fatalf("carol saw %+v after bob's connection closed", p)
	}
}

// TestHistory: a joiner is sent the room's last historyLen messages,
// oldest first, and only its room's.
func TestHistory(t *testing.T) {
	_, ts := testServer(t)
	alice, other := dial(t, ts.URL), dial(t, ts.URL)
	alice.join("alice", "lobby")
	other.join("olga", "elsewhere")
	other.say("not for the lobby")
	other.next(typeMessage, nil)
	const n = historyLen + 7
	for i := range n {
		alice.say(fmt.Sprintf("message %d", i))
		alice.next(typeMessage, nil)
	}
	bob := dial(t, ts.URL)
	j := bob.join("bob", "lobby")
	if len(j.History) != historyLen {
		t.Fatalf("history of %d messages, want %d", len(j.History), historyLen)
	}
	for i, m := range j.History {
		if want := fmt.Sprintf("message %d", n-historyLen+i); m.Text != want || m.Name != "alice" {
			t.Fatalf("history[%d] = %+v, want %q", i, m, want)
		}
	}
}

// TestRejects: every bad request is answered with an error message and
// the connection stays usable; names are unique within a room.
func TestRejects(t *testing.T) {
	s, ts := testServer(t)
	alice := dial(t, ts.URL)
	alice.join("alice", "lobby")
	cl := dial(t, ts.URL)
	tests := []struct {
		name string
		msg  string // sent as is
		want string // in the error
	}{
		{"not JSON", `hello`, "invalid message"},
		{"unknown type", `{"type":"shout","payload":{}}`, "unknown message type"},
		{"join without payload", `{"type":"join"}`, "payload is required"},
		{"join with unknown field", `{"type":"join","payload":{"name":"a","room":"b","admin":true}}`, "unknown field"},
		{"no name", `{"type":"join","payload":{"name":"  ","room":"lobby"}}`, "name is required"},
		{"no room", `{"type":"join","payload":{"name":"bob"}}`, "room is required"},
		{"long name", `{"type":"join","payload":{"name":"` + strings.Repeat("é", maxNameLen+1) + `","room":"lobby"}}`, "name longer than 32"},
		{"long room", `{"type":"join","payload":{"name":"bob","room":"` + strings.Repeat("r", maxRoomLen+1) + `"}}`, "room longer than 32"},
		{"control characters", `{"type":"join","payload":{"name":"bo\u0007b","room":"lobby"}}`, "control characters"},
		{"name taken", `{"type":"join","payload":{"name":"alice","room":"lobby"}}`, `name "alice" is taken`},
		{"say before joining", `{"type":"say","payload":{"text":"hi"}}`, "join a room first"},
		{"leave before joining", `{"type":"leave"}`, "not in a room"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl.t = t
			if err := cl.c.WriteMessage(stream.TextMessage, []byte(tt.msg)); err != nil {
				t.Fatal(err)
			}
			var e map[string]string
			cl.next(typeError, &e)
			if !strings.Contains(e["error"], tt.want) {
				t.Fatalf("error %q, want it to mention %q", e["error"], tt.want)
			}
		})
	}
	cl.t = t
	cl.join("bob", "lobby")
	alice.next(typePresence, nil)
	for _, tt := range []struct{ text, want string }{
		{"   ", "text is required"},
		{strings.Repeat("x", maxTextLen+1), "text longer than 1000"},
	} {
		cl.say(tt.text)
		var e map[string]string
		if cl.next(typeError, &e); !strings.Contains(e["error"], tt.want) {
			t.Fatalf("error %q, want %q", e["error"], tt.want)
		}
	}
	cl.say(strings.Repeat("é", maxTextLen)) // at the limit: 2000 bytes
	var m chatMessage
	if cl.next(typeMessage, &m); len(m.Text) != 2*maxTextLen {
		t.Fatalf("message of %d bytes", len(m.Text))
	}
	if st := s.hub.Stats(); st.Connections != 2 || st.Rooms != 1 {
		t.Fatalf("hub stats %+v", st)
	}
}

// TestCloses: a message over the read limit closes the connection with
// 1009, a binary one with 1003.
func TestCloses(t *testing.T) {
	_, ts := testServer(t)
	for _, tt := range []struct {
		name string
		mt   stream.MessageType
		p    []byte
		want stream.StatusCode
	}{
		{"too big", stream.TextMessage, []byte(`{"type":"say","payload":{"text":"` + strings.Repeat("x", readLimit) + `"}}`), stream.StatusMessageTooBig},
		{"binary", stream.BinaryMessage, []byte(`{"type":"leave"}`), stream.StatusUnsupportedData},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cl := dial(t, ts.URL)
			cl.c.WriteMessage(tt.mt, tt.p)
			if got := cl.closed(); got != tt.want {
				t.Fatalf("closed with %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRoomLimit: at most maxRooms rooms are kept; the empty one used
// longest ago is forgotten for a new one, and with none empty a new room
// is refused.
func TestRoomLimit(t *testing.T) {
	s, ts := testServer(t)
	cl := dial(t, ts.URL)
	cl.join("a", "first")
	cl.say("kept while someone is here")
	cl.next(typeMessage, nil)
	for i := range maxRooms - 1 {
		cl.send(typeJoin, joinRequest{Name: "a", Room: fmt.Sprint("room ", i)})
		cl.next(typeJoined, nil)
		cl.next(typePresence, nil)
	}
	s.chat.mu.Lock()
	n := len(s.chat.rooms)
	s.chat.mu.Unlock()
	if n != maxRooms {
		t.Fatalf("%d rooms, want %d", n, maxRooms)
	}
	// "first" is empty and the oldest: it goes, with its history.
	other := dial(t, ts.URL)
	other.join("b", "new")
	cl.send(typeJoin, joinRequest{Name: "a", Room: "first"})
	var j joined
	cl.next(typeJoined, &j)
	cl.next(typePresence, nil)
	if len(j.History) != 0 {
		t.Fatalf("forgotten room kept its history: %+v", j.History)
	}
	// Fill every room with someone: a new room is refused.
	s.chat.mu.Lock()
	var names []string
	for name, r := range s.chat.rooms {
		if len(r.members) == 0 {
			names = append(names, name)
		}
	}
	s.chat.mu.Unlock()
	for _, name := range names {
		c := dial(t, ts.URL)
		c.join("x", name)
	}
	cl.send(typeJoin, joinRequest{Name: "a", Room: "one too many"})
	var e map[string]string
	if cl.next(typeError, &e); !strings.Contains(e["error"], "too many rooms") {
		t.Fatalf("error %q", e["error"])
	}
}

// feedEvent is an activity event as a test sees it.
type feedEvent struct{ id, name, data string }

func nextFeed(t *testing.T, c *stream.SSEClient) feedEvent {
	t.Helper()
	e, err := c.Next()
	if err != nil {
		t.Fatal(err)
	}
	return feedEvent{e.ID, e.Name, e.Data}
}

// TestFeedResumes: the activity feed reports joins, leaves and message
// counts, and a client that reconnects with its last event ID gets what
// it missed, nothing twice.
func TestFeedResumes(t *testing.T) {
	_, ts := testServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	feed, err := stream.ConnectSSE(ctx, ts.URL+"/events", stream.SSEClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()

	alice := dial(t, ts.URL)
	alice.join("alice", "lobby")
	alice.say("one")
	alice.next(typeMessage, nil)
	want := []feedEvent{
		{name: "join", data: `{"room":"lobby","name":"alice","event":"join","members":["alice"]}`},
		{name: "messages", data: `{"room":"lobby","count":1}`},
	}
	var ids []string
	for _, w := range want {
		got := nextFeed(t, feed)
		if got.name != w.name || got.data != w.data || got.id == "" {
			t.Fatalf("feed event %+v, want %+v", got, w)
		}
		ids = append(ids, got.id)
	}
	feed.Close()

	// While the feed is away: two more messages, bob comes and goes.
	alice.say("two")
	alice.next(typeMessage, nil)
	bob := dial(t, ts.URL)
	bob.join("bob", "lobby")
	alice.next(typePresence, nil)
	bob.send(typeLeave, nil)
	bob.next(typeLeft, nil)
	alice.next(typePresence, nil)
	alice.say("three")
	alice.next(typeMessage, nil)

	feed, err = stream.ConnectSSE(ctx, ts.URL+"/events", stream.SSEClientConfig{LastEventID: ids[len(ids)-1]})
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	want = []feedEvent{
		{name: "messages", data: `{"room":"lobby","count":2}`},
		{name: "join", data: `{"room":"lobby","name":"bob","event":"join","members":["alice","bob"]}`},
		{name: "leave", data: `{"room":"lobby","name":"bob","event":"leave","members":["alice"]}`},
		{name: "messages", data: `{"room":"lobby","count":3}`},
	}
	for _, w := range want {
		got := nextFeed(t, feed)
		if got.name != w.name || got.data != w.data {
			t.Fatalf("after resuming, feed event %+v, want %+v", got, w)
		}
		for _, id := range ids {
			if got.id == id {
				t.Fatalf("event %s sent twice", id)
			}
		}
		ids = append(ids, got.id)
	}
}

// TestRun runs the whole program: /debug/vars shows the hub and the
// feed, and shutdown closes WebSocket connections with 1001 and ends the
// feed.
func TestRun(t *testing.T) {
	exampletest.CheckGoroutines(t)
	in := exampletest.Start(t, run)
	alice := dial(t, in.URL)
	alice.join("alice", "lobby")
	resp, err := http.Get(in.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()

	var stats chatStats
	exampletest.Vars(t, in.URL, "chat", &stats)
	if stats.Hub.Connections != 1 || stats.Hub.Rooms != 1 || stats.Activity.Published != 1 {
		t.Fatalf("/debug/vars chat = %+v", stats)
	}
	// The feed stream is counted once the broker has it: read its first
	// bytes (the starting ID) first.
	if _, err := resp.Body.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if exampletest.Vars(t, in.URL, "chat", &stats); stats.Activity.Subscribers != 1 {
		t.Fatalf("/debug/vars chat activity = %+v", stats.Activity)
	}

	in.Signal()
	if code := alice.closed(); code != stream.StatusGoingAway {
		t.Fatalf("closed with %v, want 1001", code)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("feed did not end cleanly: %v", err)
	}
	in.Stop(t)
	if _, err := http.Get(in.URL); err == nil {
		t.Fatal("server still answers after shutdown")
	}
}
