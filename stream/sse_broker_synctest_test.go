package stream

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"testing/synctest"
	"time"
)

// These tests run real net/http servers and clients over net.Pipe inside a
// synctest bubble. A pipe buffers nothing, so once a client stops reading,
// the subscriber's writer is stuck in its write and everything published
// after stays in its queue: the policies can be checked exactly.

// bkStalled subscribes to b with query, publishes event 0 and waits until
// the writer is blocked writing it to a client that is not reading.
func bkStalled(t *testing.T, b *SSEBroker, query string) (*bkPipeNet, *bkStream) {
	t.Helper()
	n := newBkPipeNet(b)
	s := n.subscribe(t, query)
	if err := b.Publish(bkMsg(0)); err != nil {
		t.Fatal(err)
	}
	synctest.Wait()
	return n, s
}

// bkEnd closes everything a synctest test started.
func bkEnd(b *SSEBroker, n *bkPipeNet, streams ...*bkStream) {
	for _, s := range streams {
		s.close()
	}
	b.Close()
	n.shutdown()
}

func TestSSEBrokerDropOldest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewSSEBroker(SSEBrokerConfig{GapEvent: "resync"})
		n, s := bkStalled(t, b, "?buffer=4")
		other := n.subscribe(t, "?buffer=100")
		defer bkEnd(b, n, s, other)

		for i := 1; i <= 20; i++ {
			b.Publish(bkMsg(i))
		}
		// Queue of 4: events 1..16 are dropped, 17..20 kept.
		s.wantData("0")
		dropped, hasCount, reason, blk := s.wantGap("resync")
		if dropped != 16 || !hasCount || reason != "overflow" || blk.HasID {
			t.Fatalf("gap %q (id %q), want 16 dropped for overflow and no id", blk.Data, blk.ID)
		}
		s.wantData(bkSeq(17, 20)...)
		other.wantData(bkSeq(1, 20)...) // unaffected by its slow neighbour

		// A second overflow gets its own gap with its own count.
		b.Publish(bkMsg(21)) // written at once: the client is reading again
		s.wantData("21")
		b.Publish(bkMsg(22))
		synctest.Wait() // the writer is stuck on 22
		for i := 23; i <= 30; i++ {
			b.Publish(bkMsg(i)) // 23..26 dropped
		}
		s.wantData("22")
		if dropped, _, _, _ := s.wantGap("resync"); dropped != 4 {
			t.Fatalf("second gap: %d dropped, want 4", dropped)
		}
		s.wantData(bkSeq(27, 30)...)
		if st := b.Stats(); st.Dropped != 20 || st.Published != 31 {
			t.Fatalf("Stats = %+v, want 20 dropped of 31", st)
		}
	})
}

func TestSSEBrokerDisconnectSlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewSSEBroker(SSEBrokerConfig{Policy: DisconnectSlow})
		n, s := bkStalled(t, b, "?buffer=2")
		other := n.subscribe(t, "?buffer=10")
		defer bkEnd(b, n, s, other)
		for i := 1; i <= 5; i++ {
			b.Publish(bkMsg(i)) // 1, 2 fill the queue; 3 disconnects
		}
		if st := b.Stats(); st.Disconnected != 1 || st.Dropped != 0 {
			t.Fatalf("Stats = %+v, want 1 disconnected", st)
		}
		// The seat is free at once: the write the client was not reading
		// is cut short.
		synctest.Wait()
		if n := b.SubscriberCount(); n != 1 {
			t.Fatalf("SubscriberCount = %d after the disconnect, want 1", n)
		}
		for {
			blk, err := s.next()
			if err != nil {
				break
			}
			if blk.Data != "0" {
				t.Fatalf("after being disconnected the client read %+v", blk)
			}
		}
		other.wantData(bkSeq(1, 5)...)
		if st := b.Stats(); st.Disconnected != 1 {
			t.Fatalf("Stats = %+v, want the disconnect counted once", st)
		}
	})
}

func TestSSEBrokerKeepLatest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewSSEBroker(SSEBrokerConfig{Policy: KeepLatest})
		n, s := bkStalled(t, b, "?buffer=3")
		defer bkEnd(b, n, s)
		pub := func(key, data string) {
			if err := b.Publish(Event{Type: Custom, Name: key, Data: data}); err != nil {
				t.Fatal(err)
			}
		}
		pub("a", "a1")
		pub("b", "b1")
		pub("a", "a2") // replaces a1, goes to the back
		pub("c", "c1")
		pub("b", "b2") // replaces b1
		pub("d", "d1") // queue full of other keys: drops a2
		s.wantData("0")
		if dropped, _, _, _ := s.wantGap("gap"); dropped != 1 {
			t.Fatalf("gap: %d dropped, want 1", dropped)
		}
		for _, want := range []string{"c1", "b2", "d1"} {
			if blk := s.mustEvent(); blk.Data != want {
				t.Fatalf("got %q, want %q", blk.Data, want)
			}
		}
		if st := b.Stats(); st.Superseded != 2 || st.Dropped != 1 {
			t.Fatalf("Stats = %+v, want 2 superseded, 1 dropped", st)
		}
	})
}

func TestSSEBrokerKeepLatestCustomKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewSSEBroker(SSEBrokerConfig{
			Policy: KeepLatest,
			// The key is the data's first byte; "-" events are never replaced.
			Key: func(e Event) string {
				if e.Data[0] == '-' {
					return ""
				}
				return e.Data[:1]
			},
		})
		n, s := bkStalled(t, b, "")
		defer bkEnd(b, n, s)
		for _, d := range []string{"x1", "-1", "y1", "-2", "x2", "y2"} {
			b.Publish(Event{Data: d})
		}
		s.wantData("0", "-1", "-2", "x2", "y2")
	})
}

func TestSSEBrokerBlockBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewSSEBroker(SSEBrokerConfig{})
		n, s := bkStalled(t, b, "?slow=block&buffer=2")
		fast := n.subscribe(t, "?buffer=100")
		defer bkEnd(b, n, s, fast)
		b.Publish(bkMsg(1))
		b.Publish(bkMsg(2)) // the queue is full now

		done := make(chan error, 1)
		go func() { done <- b.PublishContext(context.Background(), bkMsg(3)) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("PublishContext returned %v while the blocking subscriber had no room", err)
		default:
		}
		fast.wantData("1", "2", "3") // others got event 3 already

		s.wantData("0") // the writer takes 1 and 2: room for 3
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		s.wantData("1", "2", "3")
		if st := b.Stats(); st.Dropped != 0 {
			t.Fatalf("Stats = %+v, want nothing dropped", st)
		}
	})
}

func TestSSEBrokerBlockContextCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewSSEBroker(SSEBrokerConfig{})
		n, s := bkStalled(t, b, "?slow=block&buffer=2")
		defer bkEnd(b, n, s)
		b.Publish(bkMsg(1))
		b.Publish(bkMsg(2))

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- b.PublishContext(ctx, bkMsg(3)) }()
		synctest.Wait()
		// A second publisher queues behind the first: order is kept.
		done4 := make(chan error, 1)
		go func() { done4 <- b.PublishContext(context.Background(), bkMsg(4)) }()
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("PublishContext = %v, want nil: the event was published", err)
		}
		// Cancelling gives up on the subscriber: it loses its oldest event.
		s.wantData("0")
		if dropped, _, _, _ := s.wantGap("gap"); dropped != 1 {
			t.Fatalf("gap: %d dropped, want 1", dropped)
		}
		s.wantData("2", "3", "4")
		if err := <-done4; err != nil {
			t.Fatal(err)
		}

		// A publisher whose context ends while it waits for its turn
		// publishes nothing.
		b.Publish(bkMsg(5))
		synctest.Wait() // the writer is stuck on 5
		b.Publish(bkMsg(6))
		b.Publish(bkMsg(7)) // the queue is full
		go func() { done <- b.PublishContext(context.Background(), bkMsg(8)) }()
		synctest.Wait()
		ctx, cancel = context.WithCancel(context.Background())
		go func() { done4 <- b.PublishContext(ctx, bkMsg(9)) }()
		synctest.Wait()
		cancel()
		if err := <-done4; err == nil {
			t.Fatal("PublishContext waiting for its turn returned nil after cancel")
		}
		s.wantData("5", "6", "7", "8")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if st := b.Stats(); st.Published != 9 || st.Dropped != 1 {
			t.Fatalf("Stats = %+v, want 9 published, 1 dropped", st)
		}
	})
}

func TestSSEBrokerBlockTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewSSEBroker(SSEBrokerConfig{BlockTimeout: 3 * time.Second, WriteTimeout: time.Hour})
		n, s := bkStalled(t, b, "?slow=block&buffer=1")
		defer bkEnd(b, n, s)
		b.Publish(bkMsg(1))
		start := time.Now()
		if err := b.Publish(bkMsg(2)); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited != 3*time.Second {
			t.Fatalf("Publish waited %v, want the 3s BlockTimeout", waited)
		}
		s.wantData("0")
		if dropped, _, _, _ := s.wantGap("gap"); dropped != 1 {
			t.Fatalf("gap: %d dropped, want 1", dropped)
		}
		s.wantData("2")
	})
}

func TestSSEBrokerBlockSubscriberLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewSSEBroker(SSEBrokerConfig{WriteTimeout: time.Hour})
		n, s := bkStalled(t, b, "?slow=block&buffer=1")
		defer bkEnd(b, n)
		b.Publish(bkMsg(1))
		done := make(chan error, 1)
		go func() { done <- b.PublishContext(context.Background(), bkMsg(2)) }()
		synctest.Wait()
		start := time.Now()
		s.close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if time.Since(start) != 0 {
			t.Fatalf("publisher waited %v after the subscriber left", time.Since(start))
		}
		synctest.Wait()
		if n := b.SubscriberCount(); n != 0 {
			t.Fatalf("SubscriberCount = %d", n)
		}
	})
}

func TestSSEBrokerHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewSSEBroker(SSEBrokerConfig{}) // 30s heartbeat
		n := newBkPipeNet(b)
		s := n.subscribe(t, "")
		defer bkEnd(b, n, s)
		start := time.Now()
		type rec struct {
			at  time.Duration
			blk bkBlock
		}
		recs := make(chan rec, 10)
		go func() {
			defer close(recs)
			for {
				blk, err := s.next()
				if err != nil {
					return
				}
				recs <- rec{time.Since(start), blk}
			}
		}()
		time.Sleep(40 * time.Second)
		// An event at 40s moves the next heartbeat to 70s.
		b.Publish(bkMsg(1))
		time.Sleep(65 * time.Second)
		s.close()
		var got []string
		for r := range recs {
			kind := "event " + r.blk.Data
			if r.blk.Comment {
				kind = "comment"
			}
			got = append(got, kind+" at "+r.at.String())
		}
		want := []string{"comment at 30s", "event 1 at 40s", "comment at 1m10s", "comment at 1m40s"}
		if len(got) != len(want) {
			t.Fatalf("got %q, want %q", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("got %q, want %q", got, want)
			}
		}
	})
}

func TestSSEBrokerNoHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewSSEBroker(SSEBrokerConfig{HeartbeatInterval: -1})
		n := newBkPipeNet(b)
		s := n.subscribe(t, "")
		defer bkEnd(b, n, s)
		time.Sleep(time.Hour)
		b.Publish(bkMsg(1))
		if blk, err := s.next(); err != nil || blk.Comment || blk.Data != "1" {
			t.Fatalf("got %+v, %v; want event 1 and no heartbeat", blk, err)
		}
	})
}

// TestSSEBrokerWriteTimeout checks that a client that stops reading keeps
// its seat while a write has waited less than WriteTimeout, and loses it
// within 9/8 of it (the deadline moves every eighth of it).
func TestSSEBrokerWriteTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewSSEBroker(SSEBrokerConfig{WriteTimeout: 2 * time.Second, HeartbeatInterval: -1})
		n := newBkPipeNet(b)
		defer bkEnd(b, n)
		// A raw client that sends its request and never reads a byte.
		c, err := n.Dial(context.Background(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go io.WriteString(c, "GET /?subscriber_id=stuck HTTP/1.1\r\nHost: pipe\r\n\r\n")
		synctest.Wait()
		if n := b.SubscriberCount(); n != 1 {
			t.Fatalf("SubscriberCount = %d, want 1", n)
		}
		start := time.Now()
		time.Sleep(time.Second)
		if n := b.SubscriberCount(); n != 1 {
			t.Fatalf("seat reclaimed after %v, before the write timeout", time.Since(start))
		}
		time.Sleep(time.Second - time.Millisecond)
		synctest.Wait()
		if n := b.SubscriberCount(); n != 1 {
			t.Fatalf("seat reclaimed after %v, before the write timeout", time.Since(start))
		}
		time.Sleep(2*time.Second/8 + time.Millisecond)
		synctest.Wait()
		if n := b.SubscriberCount(); n != 0 {
			t.Fatalf("SubscriberCount = %d %v after the write started", n, time.Since(start))
		}
		if st := b.Stats(); st.Disconnected != 1 {
			t.Fatalf("Stats = %+v, want 1 disconnected", st)
		}
	})
}

// TestSSEBrokerCloseInterruptsWrite checks that Close waits no longer than
// its grace period for a write stuck on a client that stopped reading.
func TestSSEBrokerCloseInterruptsWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewSSEBroker(SSEBrokerConfig{WriteTimeout: time.Hour})
		n, s := bkStalled(t, b, "")
		defer bkEnd(b, n, s)
		start := time.Now()
		b.Close()
		if d := time.Since(start); d != sseCloseGrace {
			t.Fatalf("Close took %v, want its grace period %v", d, sseCloseGrace)
		}
		if n := b.SubscriberCount(); n != 0 {
			t.Fatalf("SubscriberCount after Close = %d", n)
		}
	})
}

// TestSSEBrokerHTTP2IdleStream checks that a stream idle for longer than
// the write timeout still works over HTTP/2, where an expired write
// deadline would reset the stream.
func TestSSEBrokerHTTP2IdleStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewSSEBroker(SSEBrokerConfig{WriteTimeout: time.Second, HeartbeatInterval: -1, Replay: 4})
		n := newBkPipeNet(b, func(srv *http.Server, tr *http.Transport) {
			srv.Protocols = new(http.Protocols)
			srv.Protocols.SetHTTP1(true)
			srv.Protocols.SetUnencryptedHTTP2(true)
			tr.Protocols = new(http.Protocols)
			tr.Protocols.SetUnencryptedHTTP2(true)
		})

		s := n.subscribe(t, "")
		defer bkEnd(b, n, s)
		if s.resp.ProtoMajor != 2 {
			t.Fatalf("protocol %s, want HTTP/2", s.resp.Proto)
		}
		for i := range 3 {
			b.Publish(bkMsg(i))
			s.wantData(strconv.Itoa(i))
			time.Sleep(10 * time.Second)
		}
	})
}

// TestSSEBrokerHeartbeatWhileCatchingUp checks that a client resuming
// while the ordered relay's log is out of reach gets heartbeats while it
// waits, and then its catch-up, once.
func TestSSEBrokerHeartbeatWhileCatchingUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rel := newMemRelay()
		b := NewSSEBroker(SSEBrokerConfig{Relay: rel, Replay: 2, HeartbeatInterval: 10 * time.Second})
		<-b.rel.ready
		n := newBkPipeNet(b)
		first := n.subscribe(t, "")
		var ids []string
		for i := range 4 {
			b.Publish(bkMsg(i))
			ids = append(ids, first.mustEvent().ID)
		}
		rel.failNext(1 << 30)
		b.Publish(Event{Data: "p0"})
		b.Publish(Event{Data: "p1"})
		first.wantData("p0", "p1") // the ring now holds only these two

		start := time.Now()
		back := n.subscribe(t, "", "Last-Event-ID", ids[1]) // a log ID the ring lost
		defer bkEnd(b, n, first, back)
		for range 3 {
			type read struct {
				blk bkBlock
				err error
			}
			got := make(chan read, 1)
			go func() {
				blk, err := back.next()
				got <- read{blk, err}
			}()
			select {
			case r := <-got:
				if r.err != nil || !r.blk.Comment {
					t.Fatalf("got %+v, %v; want a heartbeat", r.blk, r.err)
				}
			case <-time.After(time.Minute):
				t.Fatal("no heartbeat in a minute of waiting for the log")
			}
		}
		// Retries back off to 2s, so each heartbeat comes at most that
		// late.
		if d := time.Since(start); d < 30*time.Second || d > 36*time.Second {
			t.Fatalf("three heartbeats took %v, want 30s to 36s", d)
		}
		rel.failNext(0)
		back.wantData("2", "3", "p0", "p1")
		b.Publish(Event{Data: "live"})
		back.wantData("live")
		if st := b.Stats(); st.Resumed != 1 || st.ResumeGaps != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}
