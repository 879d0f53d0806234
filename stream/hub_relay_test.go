package stream

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// startRelayHubs starts n hubs sharing rel and waits until each has
// subscribed.
func startRelayHubs(t *testing.T, rel *memRelay, n int, cfg HubConfig) []*hubServer {
	t.Helper()
	cfg.Relay = rel
	cfg.RequestID = func(r *http.Request) string { return r.URL.Query().Get("id") }
	var out []*hubServer
	for range n {
		out = append(out, startHub(t, cfg, WSConfig{}, 0, nil))
	}
	hubWaitFor(t, "relay subscriptions", func() bool {
		rel.mu.Lock()
		defer rel.mu.Unlock()
		return len(rel.subs["stream.hub"]) == n
	})
	return out
}

// serverConn returns the hub's server side of its only connection with
// application ID id.
func serverConn(t *testing.T, h *Hub, id string) *WebSocketConn {
	t.Helper()
	h.mu.RLock()
	defer h.mu.RUnlock()
	if l := h.ids[id]; len(l) == 1 {
		return l[0].c
	}
	t.Fatalf("no single connection with ID %q", id)
	return nil
}

// wantMessages reads n messages and checks that, taken per prefix, they
// are exactly want in order.
func wantMessages(t *testing.T, c *hubClient, want map[string][]string) {
	t.Helper()
	n := 0
	for _, l := range want {
		n += len(l)
	}
	got := make(map[string][]string)
	for range n {
		m := string(c.next(t).p)
		got[m[:1]] = append(got[m[:1]], m)
	}
	for k, l := range want {
		if fmt.Sprint(got[k]) != fmt.Sprint(l) {
			t.Fatalf("messages from %s: got %v, want %v", k, got[k], l)
		}
	}
}

func TestHubRelayBroadcastExactlyOnce(t *testing.T) {
	t.Cleanup(bkCheckGoroutines(t))
	rel := newMemRelay()
	hubs := startRelayHubs(t, rel, 2, HubConfig{})
	a, b := hubs[0], hubs[1]
	ca := a.dial(t, "/?id=ua", 1)
	cb := b.dial(t, "/?id=ub", 1)

	const n = 50
	var fromA, fromB []string
	for i := range n {
		fromA = append(fromA, fmt.Sprintf("a%d", i))
		fromB = append(fromB, fmt.Sprintf("b%d", i))
		if !a.hub.Broadcast([]byte(fromA[i])) || !b.hub.Broadcast([]byte(fromB[i])) {
			t.Fatal("Broadcast refused")
		}
	}
	want := map[string][]string{"a": fromA, "b": fromB}
	wantMessages(t, ca, want)
	wantMessages(t, cb, want)
	hubWaitFor(t, "relay deliveries", func() bool {
		return a.hub.Stats().Relay.Received == n && b.hub.Stats().Relay.Received == n
	})
	hubQuiet(t, a.hub)
	hubQuiet(t, b.hub)
	ca.none(t)
	cb.none(t)
	for _, h := range []*Hub{a.hub, b.hub} {
		// The pump counts a message after the relay took it, which may
		// be after it was delivered.
		hubWaitFor(t, "the pump to count", func() bool { return h.Stats().Relay.Sent == n })
		if st := h.Stats().Relay; st.Lost != 0 || st.Duplicates != 0 || st.Dropped != 0 || st.Errors != 0 {
			t.Fatalf("relay stats %+v", st)
		}
	}
}

func TestHubRelayRoomsAndIDs(t *testing.T) {
	t.Cleanup(bkCheckGoroutines(t))
	rel := newMemRelay()
	hubs := startRelayHubs(t, rel, 2, HubConfig{})
	a, b := hubs[0], hubs[1]
	ca := a.dial(t, "/?id=ua", 1)
	inRoom := b.dial(t, "/?id=ub1", 1)
	other := b.dial(t, "/?id=ub2", 2)
	if !a.hub.Join("lobby", serverConn(t, a.hub, "ua")) || !b.hub.Join("lobby", serverConn(t, b.hub, "ub1")) {
		t.Fatal("Join refused")
	}

	if !a.hub.BroadcastTo("lobby", []byte("r1")) {
		t.Fatal("BroadcastTo refused")
	}
	if a.hub.SendTo("ub2", []byte("d1")) {
		t.Fatal("SendTo reported a local recipient that does not exist")
	}
	if got := string(ca.next(t).p); got != "r1" {
		t.Fatalf("room member on A got %q", got)
	}
	if got := string(inRoom.next(t).p); got != "r1" {
		t.Fatalf("room member on B got %q", got)
	}
	if got := string(other.next(t).p); got != "d1" {
		t.Fatalf("addressee on B got %q", got)
	}
	if err := b.hub.BroadcastMessageTo("lobby", WSMessage{Type: "chat", Payload: []byte(`"hi"`)}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*hubClient{ca, inRoom} {
		if got := string(c.next(t).p); !strings.Contains(got, `"type":"chat","payload":"hi"`) {
			t.Fatalf("room member got %q", got)
		}
	}
	hubWaitFor(t, "relay deliveries", func() bool { return b.hub.Stats().Relay.Received == 2 && a.hub.Stats().Relay.Received == 1 })
	hubQuiet(t, a.hub)
	hubQuiet(t, b.hub)
	ca.none(t)
	inRoom.none(t)
	other.none(t)
}

// An at-most-once relay loses messages; the receiving hub counts them
// from the gap in the sender's sequence.
func TestHubRelayCountsLost(t *testing.T) {
	t.Cleanup(bkCheckGoroutines(t))
	rel := newMemRelay()
	hubs := startRelayHubs(t, rel, 2, HubConfig{})
	a, b := hubs[0], hubs[1]
	cb := b.dial(t, "/", 1)

	a.hub.Broadcast([]byte("first"))
	if got := string(cb.next(t).p); got != "first" {
		t.Fatalf("got %q", got)
	}
	rel.loseNext(3)
	for i := range 10 {
		a.hub.Broadcast(fmt.Appendf(nil, "m%d", i))
	}
	for i := 3; i < 10; i++ {
		if got, want := string(cb.next(t).p), fmt.Sprintf("m%d", i); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if st := b.hub.Stats().Relay; st.Lost != 3 || st.Received != 8 {
		t.Fatalf("receiver stats %+v, want 3 lost and 8 received", st)
	}
	hubWaitFor(t, "the pump to count 11 sent", func() bool { return a.hub.Stats().Relay.Sent == 11 })
}

// While the relay fails, messages wait in the bounded queue and are
// retried in order; what does not fit is dropped, and counted on both
// sides.
func TestHubRelayRetriesAndDrops(t *testing.T) {
	t.Cleanup(bkCheckGoroutines(t))
	rel := newMemRelay()
	hubs := startRelayHubs(t, rel, 2, HubConfig{RelayQueue: 2})
	a, b := hubs[0], hubs[1]
	ca := a.dial(t, "/", 1)
	cb := b.dial(t, "/", 1)

	rel.failNext(3)
	const n = 10
	for i := range n {
		a.hub.Broadcast(fmt.Appendf(nil, "m%d", i))
	}
	for i := range n {
		if got, want := string(ca.next(t).p), fmt.Sprintf("m%d", i); got != want {
			t.Fatalf("local delivery: got %q, want %q", got, want)
		}
	}
	hubWaitFor(t, "the queue to drain", func() bool {
		st := a.hub.Stats().Relay
		return st.Sent+st.Dropped == n
	})
	sa := a.hub.Stats().Relay
	// In flight: at most one queue's worth taken by the pump, and one
	// queue's worth waiting behind it.
	if sa.Errors != 3 || sa.Dropped < n-2*2 {
		t.Fatalf("sender stats %+v: want 3 errors and at least %d dropped", sa, n-2*2)
	}
	// Which messages were dropped depends on when the pump took its
	// batches; those relayed arrive in order.
	last := -1
	for range int(sa.Sent) {
		got := string(cb.next(t).p)
		k, err := strconv.Atoi(strings.TrimPrefix(got, "m"))
		if err != nil || k <= last {
			t.Fatalf("relayed: got %q after m%d", got, last)
		}
		last = k
	}
	a.hub.Broadcast([]byte("after"))
	if got := string(cb.next(t).p); got != "after" {
		t.Fatalf("got %q", got)
	}
	if sb := b.hub.Stats().Relay; sb.Lost != sa.Dropped {
		t.Fatalf("receiver counted %d lost, sender dropped %d", sb.Lost, sa.Dropped)
	}
}

func TestHubRelayStopEndsGoroutines(t *testing.T) {
	t.Cleanup(bkCheckGoroutines(t))
	rel := newMemRelay()
	rel.failNext(1 << 30) // the pump is retrying when Stop comes
	h := NewHub(HubConfig{Relay: rel})
	h.Broadcast([]byte("x"))
	h.Stop()
	if st := h.Stats().Relay; st.Dropped != 1 || st.Sent != 0 {
		t.Fatalf("stats after Stop %+v", st)
	}
	if h.Broadcast([]byte("y")) {
		t.Fatal("Broadcast accepted after Stop")
	}
	rel.wg.Wait()
}
