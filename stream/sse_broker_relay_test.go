package stream

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// relayBroker is a broker that shares a relay, behind its own server.
type relayBroker struct {
	b   *SSEBroker
	srv *httptest.Server
}

// startRelayBrokers starts one broker per config, all on rel, and waits
// until each follows (or subscribes to) the relay.
func startRelayBrokers(t *testing.T, rel Relay, cfgs ...SSEBrokerConfig) []*relayBroker {
	t.Helper()
	var out []*relayBroker
	for _, cfg := range cfgs {
		cfg.Relay = rel
		b := NewSSEBroker(cfg)
		srv := httptest.NewServer(b)
		t.Cleanup(func() {
			b.Close()
			srv.Close()
		})
		select {
		case <-b.rel.ready:
		case <-time.After(10 * time.Second):
			t.Fatal("broker did not start following the relay")
		}
		out = append(out, &relayBroker{b: b, srv: srv})
	}
	if m, ok := rel.(*memRelay); ok {
		bkWaitFor(t, "relay subscriptions", func() bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			return len(m.followers["stream.sse"]) == len(cfgs)
		})
	}
	return out
}

// startRelayBroker starts one broker on a new memRelay.
func startRelayBroker(t *testing.T, cfg SSEBrokerConfig) (*memRelay, *relayBroker) {
	t.Helper()
	rel := newMemRelay()
	return rel, startRelayBrokers(t, rel, cfg)[0]
}

func (rb *relayBroker) subscribe(t *testing.T, lastID string) *bkStream {
	t.Helper()
	if lastID == "" {
		return bkSubscribe(t, rb.srv.Client(), rb.srv.URL)
	}
	return bkSubscribe(t, rb.srv.Client(), rb.srv.URL, "Last-Event-ID", lastID)
}

// relayID returns the number of a memRelay ID "<n>-0".
func relayID(t *testing.T, id string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSuffix(id, "-0"))
	if err != nil || !strings.HasSuffix(id, "-0") {
		t.Fatalf("event ID %q is not a relay ID", id)
	}
	return n
}

// readEvents reads n events and returns their data and IDs.
func readEvents(s *bkStream, n int) (data, ids []string) {
	for range n {
		blk := s.mustEvent()
		data = append(data, blk.Data)
		ids = append(ids, blk.ID)
	}
	return data, ids
}

func TestSSEBrokerOrderedRelaySameIDsEverywhere(t *testing.T) {
	t.Cleanup(bkCheckGoroutines(t))
	rel := newMemRelay()
	bs := startRelayBrokers(t, rel, SSEBrokerConfig{Replay: 8}, SSEBrokerConfig{Replay: 8})
	sa, sb := bs[0].subscribe(t, ""), bs[1].subscribe(t, "")

	const n = 40
	for i := range n {
		pub := bs[i%2].b
		if err := pub.Publish(Event{Data: fmt.Sprintf("%c%d", "ab"[i%2], i)}); err != nil {
			t.Fatal(err)
		}
	}
	dataA, idsA := readEvents(sa, n)
	dataB, idsB := readEvents(sb, n)
	if fmt.Sprint(dataA) != fmt.Sprint(dataB) || fmt.Sprint(idsA) != fmt.Sprint(idsB) {
		t.Fatalf("instances disagree:\nA %v %v\nB %v %v", dataA, idsA, dataB, idsB)
	}
	prev := 0
	last := map[byte]int{'a': -1, 'b': -1}
	for i, id := range idsA {
		if k := relayID(t, id); k <= prev {
			t.Fatalf("ID %s after %d: not increasing", id, prev)
		} else {
			prev = k
		}
		d := dataA[i]
		k, _ := strconv.Atoi(d[1:])
		if k <= last[d[0]] {
			t.Fatalf("%s after %d: a publisher's order was lost", d, last[d[0]])
		}
		last[d[0]] = k
	}
	for _, rb := range bs {
		bkWaitFor(t, "the counters", func() bool {
			st := rb.b.Stats()
			return st.Relay.Sent == n/2 && st.Relay.Received == n && st.Delivered == n
		})
		if st := rb.b.Stats(); st.Relay.Duplicates != 0 || st.Relay.Lost != 0 {
			t.Fatalf("stats %+v", st)
		}
	}
}

// A client that reconnects to another instance resumes with no gap and
// no duplicate: from that instance's ring, from the relay's log beyond
// it, or, when it is ahead of that instance, from the live events past
// its ID.
func TestSSEBrokerOrderedRelayResumeElsewhere(t *testing.T) {
	cases := []struct {
		name      string
		replayB   int
		published int // events published after the client left
	}{
		{"from the ring", 16, 5},
		{"from the log", 2, 30},
		{"from the log in several reads", 1, relayReadLimit + 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(bkCheckGoroutines(t))
			rel := newMemRelay()
			bs := startRelayBrokers(t, rel, SSEBrokerConfig{Replay: 16}, SSEBrokerConfig{Replay: tc.replayB})
			a, b := bs[0], bs[1]
			sa := a.subscribe(t, "")
			for i := range 10 {
				a.b.Publish(bkMsg(i))
			}
			sa.wantData(bkSeq(0, 9)...)
			lastID := sa.lastID
			sa.close()
			for i := 10; i < 10+tc.published; i++ {
				a.b.Publish(bkMsg(i))
			}
			bkWaitFor(t, "B to deliver", func() bool { return b.b.Stats().Relay.Received == uint64(10+tc.published) })

			sb := b.subscribe(t, lastID)
			end := 10 + tc.published
			b.b.Publish(bkMsg(end)) // a live one after the catch-up
			data, ids := readEvents(sb, tc.published+1)
			if fmt.Sprint(data) != fmt.Sprint(bkSeq(10, end)) {
				t.Fatalf("resumed with %v, want %v", data, bkSeq(10, end))
			}
			if relayID(t, ids[0]) != relayID(t, lastID)+1 {
				t.Fatalf("first resumed ID %s does not follow %s", ids[0], lastID)
			}
			if st := b.b.Stats(); st.Resumed != 1 || st.ResumeGaps != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestSSEBrokerOrderedRelayClientAhead(t *testing.T) {
	t.Cleanup(bkCheckGoroutines(t))
	rel := newMemRelay()
	bs := startRelayBrokers(t, rel, SSEBrokerConfig{Replay: 4}, SSEBrokerConfig{Replay: 4})
	a, b := bs[0], bs[1]
	sa := a.subscribe(t, "")
	for i := range 3 {
		a.b.Publish(bkMsg(i))
	}
	sa.wantData(bkSeq(0, 2)...)
	bkWaitFor(t, "B to deliver", func() bool { return b.b.Stats().Relay.Received == 3 })
	rel.pause("stream.sse", 1, true) // B falls behind
	for i := 3; i < 8; i++ {
		a.b.Publish(bkMsg(i))
	}
	sa.wantData(bkSeq(3, 7)...)
	lastID := sa.lastID

	sb := b.subscribe(t, lastID)
	rel.pause("stream.sse", 1, false)
	a.b.Publish(bkMsg(8))
	blk := sb.mustEvent()
	if blk.Data != "8" || relayID(t, blk.ID) != relayID(t, lastID)+1 {
		t.Fatalf("got %q id %s, want 8 right after %s", blk.Data, blk.ID, lastID)
	}
}

func TestSSEBrokerOrderedRelayResumeGap(t *testing.T) {
	t.Cleanup(bkCheckGoroutines(t))
	rel, b := startRelayBroker(t, SSEBrokerConfig{Replay: 2})
	for i := range 5 {
		b.b.Publish(bkMsg(i))
	}
	bkWaitFor(t, "delivery", func() bool { return b.b.Stats().Relay.Received == 5 })
	rel.trim("stream.sse", 2)
	for _, id := range []string{"1-0", "999-0", "junk"} {
		s := b.subscribe(t, id)
		_, hasCount, reason, blk := s.wantGap("gap")
		if hasCount || reason != "resume" || blk.ID != "5-0" {
			t.Fatalf("resume from %s: gap %+v", id, blk)
		}
		s.close()
	}
	if st := b.b.Stats(); st.ResumeGaps != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// While the relay fails, each event published on A reaches A's clients at
// once with a provisional ID and waits for the relay; once it is back the
// events reach B with their log IDs, and A does not send them twice.
func TestSSEBrokerOrderedRelayOutage(t *testing.T) {
	t.Cleanup(bkCheckGoroutines(t))
	rel := newMemRelay()
	bs := startRelayBrokers(t, rel, SSEBrokerConfig{Replay: 16}, SSEBrokerConfig{Replay: 16})
	a, b := bs[0], bs[1]
	sa, sb := a.subscribe(t, ""), b.subscribe(t, "")
	a.b.Publish(Event{Data: "before"})
	sa.wantData("before")
	sb.wantData("before")
	base := sa.lastID

	rel.failNext(1 << 30)
	var provisional []string
	for i := range 6 {
		if err := a.b.Publish(bkMsg(i)); err != nil {
			t.Fatal(err)
		}
		// Delivered here before the relay has it.
		blk := sa.mustEvent()
		if blk.Data != strconv.Itoa(i) || !strings.HasPrefix(blk.ID, base+"~") {
			t.Fatalf("during the outage A sent %q id %q, want %d with a provisional ID after %s", blk.Data, blk.ID, i, base)
		}
		if len(provisional) > 0 && blk.ID == provisional[len(provisional)-1] {
			t.Fatalf("provisional ID %s given twice", blk.ID)
		}
		provisional = append(provisional, blk.ID)
	}
	// A client of A that comes back with a provisional ID is replayed
	// the rest from A's ring, provisional IDs included.
	back := a.subscribe(t, provisional[2])
	data, ids := readEvents(back, 3)
	if fmt.Sprint(data) != fmt.Sprint(bkSeq(3, 5)) || fmt.Sprint(ids) != fmt.Sprint(provisional[3:]) {
		t.Fatalf("resumed on A during the outage with %v %v, want %v %v", data, ids, bkSeq(3, 5), provisional[3:])
	}
	back.close()

	rel.failNext(0)
	bkWaitFor(t, "A to reach the relay again", func() bool { return a.b.Stats().Relay.Sent == 7 })
	b.b.Publish(Event{Data: "b"})
	bkWaitFor(t, "B's event in the log", func() bool { return b.b.Stats().Relay.Sent == 1 })
	a.b.Publish(Event{Data: "a"})
	// A's client gets only what it did not have, with log IDs.
	data, ids = readEvents(sa, 2)
	if fmt.Sprint(data) != "[b a]" {
		t.Fatalf("after the outage A sent %v, want [b a]", data)
	}
	for _, id := range ids {
		relayID(t, id)
	}
	// B's client gets A's outage events, then the rest, in log order.
	data, ids = readEvents(sb, 8)
	if fmt.Sprint(data) != fmt.Sprint(append(bkSeq(0, 5), "b", "a")) {
		t.Fatalf("B sent %v", data)
	}
	for k := 1; k < len(ids); k++ {
		if relayID(t, ids[k]) <= relayID(t, ids[k-1]) {
			t.Fatalf("B's IDs %v are not increasing", ids)
		}
	}
	// A client holding a provisional ID that resumes on B gets the rest,
	// with no gap and without the outage events it has.
	other := b.subscribe(t, provisional[2])
	data, _ = readEvents(other, 5)
	if fmt.Sprint(data) != fmt.Sprint(append(bkSeq(3, 5), "b", "a")) {
		t.Fatalf("resumed on B with a provisional ID: %v", data)
	}
	bkWaitFor(t, "the pump to count", func() bool { return a.b.Stats().Relay.Sent == 8 })
	st := a.b.Stats()
	if st.Relay.Errors == 0 || st.Relay.Duplicates != 0 || st.Relay.Lost != 0 || st.Relay.Received != 9 {
		t.Fatalf("stats of A %+v", st)
	}
	// A's ring holds each event once: a new client resuming from the
	// first provisional ID gets the rest of the outage and what followed.
	again := a.subscribe(t, provisional[0])
	data, _ = readEvents(again, 7)
	if fmt.Sprint(data) != fmt.Sprint(append(bkSeq(1, 5), "b", "a")) {
		t.Fatalf("resumed on A after the outage: %v", data)
	}
}

// During an outage, a client whose ID the ring no longer holds is caught
// up from the log once the relay is back, then sent the events delivered
// here provisionally since, then live ones: each once. A provisional ID
// with no log position is a gap.
func TestSSEBrokerOrderedRelayResumeDuringOutage(t *testing.T) {
	t.Cleanup(bkCheckGoroutines(t))
	rel, a := startRelayBroker(t, SSEBrokerConfig{Replay: 2})
	sa := a.subscribe(t, "")
	var ids []string
	for i := range 5 {
		a.b.Publish(bkMsg(i))
		blk := sa.mustEvent()
		ids = append(ids, blk.ID)
	}
	rel.failNext(1 << 30)
	a.b.Publish(Event{Data: "p0"})
	a.b.Publish(Event{Data: "p1"})
	sa.wantData("p0", "p1") // the ring now holds only these two

	back := a.subscribe(t, ids[2]) // a log ID the ring lost
	rel.failNext(0)
	bkWaitFor(t, "A to reach the relay again", func() bool { return a.b.Stats().Relay.Sent == 7 })
	a.b.Publish(Event{Data: "live"})
	back.wantData("3", "4", "p0", "p1", "live")
	if st := a.b.Stats(); st.Resumed != 1 || st.ResumeGaps != 0 || st.Relay.Duplicates != 0 {
		t.Fatalf("stats %+v", st)
	}

	s := a.subscribe(t, "~0a1b2c3d.1.2")
	if _, _, reason, _ := s.wantGap("gap"); reason != "resume" {
		t.Fatalf("resume with a provisional ID of no log position: gap reason %q", reason)
	}
	if st := a.b.Stats(); st.ResumeGaps != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// While the relay fails, a new subscriber starts from the provisional ID
// of the newest event; with no position in the log known yet, it is given
// no starting ID rather than one only this instance knows.
func TestSSEBrokerOrderedRelayStartID(t *testing.T) {
	t.Cleanup(bkCheckGoroutines(t))
	rel, a := startRelayBroker(t, SSEBrokerConfig{Replay: 4})
	s := a.subscribe(t, "")
	a.b.Publish(bkMsg(0))
	s.wantData("0")
	first := a.subscribe(t, "")
	a.b.Publish(bkMsg(1))
	first.wantData("1")
	s.wantData("1")
	if first.lastID != s.lastID {
		t.Fatalf("IDs differ: %s, %s", first.lastID, s.lastID)
	}
	rel.failNext(1 << 30)
	a.b.Publish(bkMsg(2))
	s.wantData("2")
	late := a.subscribe(t, "")
	blk := late.mustBlock()
	if blk.ID != s.lastID || !strings.Contains(blk.ID, "~") {
		t.Fatalf("a subscriber that joined during the outage starts from %q, want %q", blk.ID, s.lastID)
	}
	rel.failNext(0)

	// A broker that has never reached its relay knows no position: its
	// first subscriber gets no starting ID, and an event published then
	// a provisional ID with an empty log position.
	down := newMemRelay()
	down.failNext(1 << 30)
	down.failFollow(true)
	b := NewSSEBroker(SSEBrokerConfig{Replay: 4, Relay: down})
	srv := httptest.NewServer(b)
	t.Cleanup(func() {
		b.Close()
		srv.Close()
	})
	fresh := bkSubscribe(t, srv.Client(), srv.URL)
	b.Publish(bkMsg(7))
	blk = fresh.mustBlock()
	if blk.Data != "7" || !strings.HasPrefix(blk.ID, "~") {
		t.Fatalf("first block %+v, want event 7 with a provisional ID starting with ~ and no starting ID before it", blk)
	}
	// A client holding it that goes elsewhere is told of a gap.
	if got := provisionalLogID(blk.ID); got != "" {
		t.Fatalf("provisionalLogID(%q) = %q, want \"\"", blk.ID, got)
	}
}

// mustBlock returns the next block that is not a comment, id-only blocks
// included.
func (s *bkStream) mustBlock() bkBlock {
	s.t.Helper()
	for {
		blk, err := s.next()
		if err != nil {
			s.t.Fatalf("reading block: %v", err)
		}
		if !blk.Comment {
			return blk
		}
	}
}

func TestSSEBrokerOrderedRelayBacklog(t *testing.T) {
	t.Cleanup(bkCheckGoroutines(t))
	rel := newMemRelay()
	bs := startRelayBrokers(t, rel, SSEBrokerConfig{RelayQueue: 1, BlockTimeout: 5 * time.Millisecond},
		SSEBrokerConfig{})
	a, b := bs[0], bs[1]
	sa, sb := a.subscribe(t, ""), b.subscribe(t, "")
	rel.failNext(1 << 30)
	var err error
	accepted := 0
	for range 5 {
		if err = a.b.Publish(bkMsg(accepted)); err != nil {
			break
		}
		accepted++
	}
	if !errors.Is(err, ErrRelayBacklog) {
		t.Fatalf("Publish with a full relay queue: %v, want ErrRelayBacklog", err)
	}
	// What was accepted reached A's client; what was refused did not.
	sa.wantData(bkSeq(0, accepted-1)...)
	rel.failNext(0)
	sb.wantData(bkSeq(0, accepted-1)...)
	a.b.Publish(Event{Data: "next"})
	sa.wantData("next")
}

func TestSSEBrokerPlainRelay(t *testing.T) {
	t.Cleanup(bkCheckGoroutines(t))
	rel := newMemRelay()
	bs := startRelayBrokers(t, plainRelay{rel}, SSEBrokerConfig{}, SSEBrokerConfig{})
	bkWaitFor(t, "relay subscriptions", func() bool {
		rel.mu.Lock()
		defer rel.mu.Unlock()
		return len(rel.subs["stream.sse"]) == 2
	})
	sa, sb := bs[0].subscribe(t, ""), bs[1].subscribe(t, "")
	for i := range 10 {
		bs[0].b.Publish(Event{Data: fmt.Sprintf("a%d", i)})
		bs[1].b.Publish(Event{Data: fmt.Sprintf("b%d", i)})
	}
	for _, s := range []*bkStream{sa, sb} {
		data, _ := readEvents(s, 20)
		var as, bs2 []string
		for _, d := range data {
			if d[0] == 'a' {
				as = append(as, d)
			} else {
				bs2 = append(bs2, d)
			}
		}
		if len(as) != 10 || len(bs2) != 10 || as[0] != "a0" || as[9] != "a9" || bs2[0] != "b0" || bs2[9] != "b9" {
			t.Fatalf("got %v", data)
		}
	}
	for _, rb := range bs {
		bkWaitFor(t, "the counters", func() bool {
			st := rb.b.Stats()
			return st.Relay.Sent == 10 && st.Relay.Received == 10 && st.Delivered == 20
		})
	}
}
