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
	rel := newMemRelay()
	bs := startRelayBrokers(t, rel, SSEBrokerConfig{Replay: 2})
	b := bs[0]
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

// While the relay fails, events wait and are retried; they reach every
// instance, this one included, once it is back, and none is duplicated.
func TestSSEBrokerOrderedRelayOutage(t *testing.T) {
	t.Cleanup(bkCheckGoroutines(t))
	rel := newMemRelay()
	bs := startRelayBrokers(t, rel, SSEBrokerConfig{Replay: 8}, SSEBrokerConfig{Replay: 8})
	sa, sb := bs[0].subscribe(t, ""), bs[1].subscribe(t, "")
	rel.failNext(3)
	for i := range 6 {
		if err := bs[0].b.Publish(bkMsg(i)); err != nil {
			t.Fatal(err)
		}
	}
	sa.wantData(bkSeq(0, 5)...)
	sb.wantData(bkSeq(0, 5)...)
	bkWaitFor(t, "the pump to count", func() bool { return bs[0].b.Stats().Relay.Sent == 6 })
	if st := bs[0].b.Stats().Relay; st.Errors != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSSEBrokerOrderedRelayBacklog(t *testing.T) {
	t.Cleanup(bkCheckGoroutines(t))
	rel := newMemRelay()
	bs := startRelayBrokers(t, rel, SSEBrokerConfig{RelayQueue: 1, BlockTimeout: 5 * time.Millisecond})
	rel.failNext(1 << 30)
	var err error
	accepted := 0
	for range 5 {
		if err = bs[0].b.Publish(bkMsg(accepted)); err != nil {
			break
		}
		accepted++
	}
	if !errors.Is(err, ErrRelayBacklog) {
		t.Fatalf("Publish with a full relay queue: %v, want ErrRelayBacklog", err)
	}
	s := bs[0].subscribe(t, "")
	rel.failNext(0)
	s.wantData(bkSeq(0, accepted-1)...)
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
