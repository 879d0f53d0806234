package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// bkServe starts b behind a real loopback HTTP server and returns its URL
// and client; everything is closed, and goroutines checked, at cleanup.
func bkServe(t *testing.T, b *SSEBroker) (string, *http.Client) {
	t.Helper()
	check := bkCheckGoroutines(t)
	srv := httptest.NewServer(b)
	t.Cleanup(func() {
		b.Close()
		srv.Close()
		if b.SubscriberCount() != 0 {
			t.Errorf("SubscriberCount after Close = %d", b.SubscriberCount())
		}
		check()
	})
	return srv.URL, srv.Client()
}

func TestSSEBrokerFanOutInOrder(t *testing.T) {
	b := NewSSEBroker(SSEBrokerConfig{Topic: "test"})
	url, c := bkServe(t, b)

	// Buffers hold every event: this test is about order, not overflow.
	all1 := bkSubscribe(t, c, url+"?buffer=500")
	all2 := bkSubscribe(t, c, url+"?subscriber_id=tab-2.x@y:z", "X-SSE-Buffer", "3000")
	some := bkSubscribe(t, c, url+"?event=tick,message&event=done&slow=block")
	defer all1.close()
	defer all2.close()
	defer some.close()
	if n := b.SubscriberCount(); n != 3 {
		t.Fatalf("SubscriberCount = %d, want 3", n)
	}

	const n = 200
	for i := range n {
		e := bkMsg(i)
		if i%2 == 1 {
			e = Event{Type: Custom, Name: "other", Data: e.Data}
		}
		if i%10 == 0 {
			e = Event{Type: Custom, Name: "tick", Data: e.Data}
		}
		if err := b.Publish(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Publish(Event{Type: Done}); err != nil {
		t.Fatal(err)
	}

	want := func(filtered bool) []string {
		var out []string
		for i := range n {
			if filtered && i%2 == 1 && i%10 != 0 {
				continue
			}
			out = append(out, strconv.Itoa(i))
		}
		return append(out, "") // the done event
	}
	deliveries := 0
	for _, tc := range []struct {
		s        *bkStream
		filtered bool
	}{{all1, false}, {all2, false}, {some, true}} {
		for _, w := range want(tc.filtered) {
			blk := tc.s.mustEvent()
			if blk.Data != w {
				t.Fatalf("filtered=%v: got data %q, want %q", tc.filtered, blk.Data, w)
			}
			if tc.filtered && blk.name() != "tick" && blk.name() != "message" && blk.name() != "done" {
				t.Fatalf("filter let %q through", blk.name())
			}
			deliveries++
		}
	}
	st := b.Stats()
	if st.Published != n+1 || st.Subscribers != 3 || st.Dropped != 0 {
		t.Errorf("Stats = %+v, want %d published, 3 subscribers, 0 dropped", st, n+1)
	}
	// Delivered is counted once the write returned, which may be just after
	// the client read it.
	bkWaitFor(t, "Delivered to reach the events read", func() bool { return b.Stats().Delivered == uint64(deliveries) })
}

func TestSSEBrokerRejectsBadOptions(t *testing.T) {
	b := NewSSEBroker(SSEBrokerConfig{})
	url, c := bkServe(t, b)
	noBlock := NewSSEBroker(SSEBrokerConfig{BlockTimeout: -1})
	urlNoBlock, _ := bkServe(t, noBlock)

	tests := []struct {
		name   string
		url    string
		header [2]string
		want   string
	}{
		{"buffer not a number", url + "?buffer=ten", [2]string{}, `buffer "ten" is not a number`},
		{"buffer header not a number", url, [2]string{"X-SSE-Buffer", "1e3"}, `buffer "1e3" is not a number`},
		{"empty-ish buffer", url + "?buffer=+", [2]string{}, "is not a number"},
		{"unknown slow mode", url + "?slow=drop", [2]string{}, `slow mode "drop" unknown`},
		{"unknown slow header", url, [2]string{"X-SSE-Slow", "wait"}, `slow mode "wait" unknown`},
		{"block refused", urlNoBlock + "?slow=block", [2]string{}, "not allowed"},
		{"subscriber id too long", url + "?subscriber_id=" + strings.Repeat("a", 65), [2]string{}, "longer than 64"},
		{"subscriber id bad char", url, [2]string{"X-Subscriber-ID", "a b"}, "has a character other than"},
		{"subscriber id injection", url + "?subscriber_id=a%0Ab", [2]string{}, "has a character other than"},
		{"event name with NUL", url + "?event=a%00b", [2]string{}, "CR, LF or NUL"},
		{"event name too long", url + "?event=" + strings.Repeat("e", 129), [2]string{}, "too long"},
		{"too many event names", url + "?event=" + strings.Repeat("a,", 17), [2]string{}, "more than 16 event names"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
			if tt.header[0] != "" {
				req.Header.Set(tt.header[0], tt.header[1])
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tt.want) {
				t.Fatalf("got %s %q, want 400 mentioning %q", resp.Status, body, tt.want)
			}
		})
	}

	resp, err := c.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" {
		t.Errorf("POST: %s, Allow %q; want 405 and Allow: GET", resp.Status, resp.Header.Get("Allow"))
	}
	if n := b.SubscriberCount() + noBlock.SubscriberCount(); n != 0 {
		t.Errorf("rejected requests left %d subscribers", n)
	}
}

func TestSSEBrokerSubscribeOptions(t *testing.T) {
	b := NewSSEBroker(SSEBrokerConfig{DefaultBuf: 10, MaxBuf: 100})
	tests := []struct {
		query, header string
		wantBuf       int
		wantBlock     bool
		wantFilter    []string
	}{
		{"", "", 10, false, nil},
		{"buffer=5", "", 5, false, nil},
		{"buffer=%205%20", "", 5, false, nil},
		{"buffer=0", "", 1, false, nil},
		{"buffer=-7", "", 1, false, nil},
		{"buffer=101", "", 100, false, nil},
		{"buffer=99999999999999999999999", "", 100, false, nil},
		{"buffer=-99999999999999999999999", "", 1, false, nil},
		{"", "7", 7, false, nil},
		{"buffer=8", "7", 8, false, nil}, // the query wins
		{"slow=block", "", 10, true, nil},
		{"event=a,%20b,,c&event=d", "", 10, false, []string{"a", "b", "c", "d"}},
		{"event=,", "", 10, false, nil},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/?"+tt.query, nil)
		if tt.header != "" {
			r.Header.Set("X-SSE-Buffer", tt.header)
		}
		var s sseSub
		if err := b.parseSubscribeOptions(&s, r); err != nil {
			t.Errorf("%q: %v", tt.query, err)
			continue
		}
		if int(s.limit) != tt.wantBuf || s.block != tt.wantBlock || fmt.Sprint(s.filter) != fmt.Sprint(tt.wantFilter) {
			t.Errorf("%q/%q: buffer %d, block %v, filter %q; want %d, %v, %q",
				tt.query, tt.header, s.limit, s.block, s.filter, tt.wantBuf, tt.wantBlock, tt.wantFilter)
		}
	}
}

// TestSSEBrokerSubscribeOptionsAllocs checks that reading the options of
// a request that has none, or gives them as headers, allocates nothing: a
// subscriber's join leaves no garbage behind among what it keeps.
func TestSSEBrokerSubscribeOptionsAllocs(t *testing.T) {
	b := NewSSEBroker(SSEBrokerConfig{})
	plain := httptest.NewRequest(http.MethodGet, "/", nil)
	headers := httptest.NewRequest(http.MethodGet, "/", nil)
	headers.Header.Set("X-SSE-Buffer", "8")
	headers.Header.Set("X-SSE-Slow", "block")
	headers.Header.Set("X-Subscriber-ID", "tab-1")
	for name, r := range map[string]*http.Request{"no options": plain, "headers": headers} {
		var s sseSub
		if allocs := testing.AllocsPerRun(100, func() {
			s = sseSub{}
			if err := b.parseSubscribeOptions(&s, r); err != nil {
				t.Fatal(err)
			}
		}); allocs != 0 {
			t.Errorf("%s: %v allocations, want 0", name, allocs)
		}
		if r == headers && (s.limit != 8 || !s.block || subscriberID(r) != "tab-1") {
			t.Errorf("headers read as buffer %d, block %v, id %q", s.limit, s.block, subscriberID(r))
		}
	}
}

func TestSSEBrokerShedsOverMaxSubscribers(t *testing.T) {
	const shedRetry = 2 * time.Second
	b := NewSSEBroker(SSEBrokerConfig{MaxSubscribers: 2, ShedRetry: shedRetry})
	url, c := bkServe(t, b)
	s1 := bkSubscribe(t, c, url)
	s2 := bkSubscribe(t, c, url)
	defer s2.close()

	for i := range 3 {
		s := bkSubscribe(t, c, url) // bkSubscribe insists on 200 text/event-stream
		blk, err := s.next()
		if err != nil || !blk.Comment {
			t.Fatalf("turned-away stream starts with %+v, %v; want a comment", blk, err)
		}
		blk, err = s.next()
		if err != nil || !blk.HasRetry || blk.HasData {
			t.Fatalf("turned-away stream: %+v, %v; want a retry field", blk, err)
		}
		ms, err := strconv.Atoi(blk.Retry)
		if err != nil || ms < int(shedRetry/2/time.Millisecond) || ms > int(shedRetry*3/2/time.Millisecond) {
			t.Fatalf("retry %q not within ShedRetry ± 50%%", blk.Retry)
		}
		if _, err := s.next(); err != io.EOF {
			t.Fatalf("turned-away stream did not end: %v", err)
		}
		s.close()
		if st := b.Stats(); st.Shed != uint64(i+1) || st.Subscribers != 2 {
			t.Fatalf("Stats = %+v, want %d shed and 2 subscribers", st, i+1)
		}
	}

	// A seat freed is a seat taken.
	s1.close()
	bkWaitFor(t, "a seat to free", func() bool { return b.SubscriberCount() == 1 })
	s3 := bkSubscribe(t, c, url)
	defer s3.close()
	b.Publish(bkMsg(1))
	s3.wantData("1")
	s2.wantData("1")
}

func TestSSEBrokerDisconnectCleanup(t *testing.T) {
	b := NewSSEBroker(SSEBrokerConfig{})
	url, c := bkServe(t, b)
	check := bkCheckGoroutines(t)
	var streams []*bkStream
	for range 10 {
		streams = append(streams, bkSubscribe(t, c, url))
	}
	b.Publish(bkMsg(1))
	for _, s := range streams {
		s.wantData("1")
		s.close()
	}
	bkWaitFor(t, "every subscriber to leave", func() bool { return b.SubscriberCount() == 0 })
	c.CloseIdleConnections()
	check()
	if err := b.Publish(bkMsg(2)); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.Disconnected != 0 || st.Dropped != 0 {
		t.Errorf("clients that left were counted as %+v", st)
	}
}

func TestSSEBrokerClose(t *testing.T) {
	b := NewSSEBroker(SSEBrokerConfig{Replay: 10})
	url, c := bkServe(t, b)
	var streams []*bkStream
	for range 5 {
		streams = append(streams, bkSubscribe(t, c, url))
	}
	pubCtx, stopPub := context.WithCancel(context.Background())
	defer stopPub()
	events := make(chan Event)
	fromDone := make(chan error, 1)
	go func() { fromDone <- b.PublishFrom(pubCtx, events) }()
	events <- bkMsg(1)
	streams[0].wantData("1") // published, so Close cannot overtake it

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n := b.SubscriberCount(); n != 0 {
		t.Fatalf("SubscriberCount after Close = %d", n)
	}
	for _, s := range streams {
		for {
			// The stream ends cleanly, unless a write of the last event was
			// still in progress after Close's grace period.
			_, err := s.next()
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				t.Fatalf("stream ended with %v, want EOF", err)
			}
		}
		s.close()
	}
	if err := <-fromDone; !errors.Is(err, ErrClosed) {
		t.Errorf("PublishFrom after Close = %v, want ErrClosed", err)
	}
	if err := b.Publish(bkMsg(2)); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	if err := b.PublishContext(context.Background(), bkMsg(3)); !errors.Is(err, ErrClosed) {
		t.Errorf("PublishContext after Close = %v, want ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	late := bkSubscribe(t, c, url)
	defer late.close()
	if _, err := late.next(); err != nil { // ": closed"
		t.Fatal(err)
	}
	if blk, err := late.next(); err != nil || !blk.HasRetry {
		t.Fatalf("subscriber after Close got %+v, %v; want a retry", blk, err)
	}
	if _, err := late.next(); err != io.EOF {
		t.Fatalf("subscriber after Close: stream did not end: %v", err)
	}
	if st := b.Stats(); st.Shed != 1 || st.Published != 1 {
		t.Errorf("Stats = %+v, want 1 shed and 1 published", st)
	}
}

func TestSSEBrokerSubscribeReturnValue(t *testing.T) {
	b := NewSSEBroker(SSEBrokerConfig{MaxSubscribers: 1})
	results := make(chan error, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		results <- b.Subscribe(w, r)
	}))
	defer srv.Close()
	defer b.Close()
	c := srv.Client()

	s := bkSubscribe(t, c, srv.URL)
	turned := bkSubscribe(t, c, srv.URL)
	turned.close()
	if err := <-results; err == nil || !strings.Contains(err.Error(), "over 1 subscribers") {
		t.Errorf("turned away: Subscribe = %v", err)
	}
	s.close()
	if err := <-results; err != nil {
		t.Errorf("client left: Subscribe = %v, want nil", err)
	}
	bad, err := c.Get(srv.URL + "?buffer=x")
	if err != nil {
		t.Fatal(err)
	}
	bad.Body.Close()
	if err := <-results; err == nil || !strings.Contains(err.Error(), "not a number") {
		t.Errorf("bad option: Subscribe = %v", err)
	}
	s = bkSubscribe(t, c, srv.URL)
	defer s.close()
	b.Close()
	if err := <-results; err != nil {
		t.Errorf("broker closed: Subscribe = %v, want nil", err)
	}
	late := bkSubscribe(t, c, srv.URL)
	late.close()
	if err := <-results; !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: Subscribe = %v, want ErrClosed", err)
	}
}

func TestSSEBrokerPublishFrom(t *testing.T) {
	b := NewSSEBroker(SSEBrokerConfig{})
	url, c := bkServe(t, b)
	s := bkSubscribe(t, c, url)
	defer s.close()

	events := make(chan Event)
	done := make(chan error, 1)
	go func() { done <- b.PublishFrom(context.Background(), events) }()
	for i := range 5 {
		events <- bkMsg(i)
	}
	close(events)
	if err := <-done; err != nil {
		t.Fatalf("PublishFrom after the channel closed = %v, want nil", err)
	}
	s.wantData(bkSeq(0, 4)...)

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- b.PublishFrom(ctx, make(chan Event)) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("PublishFrom after cancel = %v, want context.Canceled", err)
	}
	if err := b.PublishContext(ctx, bkMsg(9)); !errors.Is(err, context.Canceled) {
		t.Fatalf("PublishContext with a done context = %v", err)
	}
	if st := b.Stats(); st.Published != 5 {
		t.Errorf("Published = %d, want 5", st.Published)
	}
}

// TestSSEBrokerResumeUnderConcurrentPublishing disconnects and resumes a
// client again and again while three publishers keep publishing. Every
// event must arrive exactly once, in each publisher's order.
func TestSSEBrokerResumeUnderConcurrentPublishing(t *testing.T) {
	const publishers, reconnects = 3, 60
	b := NewSSEBroker(SSEBrokerConfig{Replay: 1 << 16})
	url, c := bkServe(t, b)

	// A pacer: a blocking subscriber on an unbuffered pipe, read as fast as
	// it comes, so that publishers publish at a reader's speed all through
	// the test, reconnects included, instead of racing ahead.
	pipe := newBkPipeNet(b)
	defer pipe.shutdown()
	pacer := pipe.subscribe(t, "?slow=block&buffer=1")
	go func() {
		defer pacer.close()
		for {
			if _, err := pacer.event(); err != nil {
				return
			}
		}
	}()

	// The first subscription is made before any event is published.
	s := bkSubscribe(t, c, url+"?slow=block&buffer=8")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	stopPublishers := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer stopPublishers()
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := b.PublishContext(context.Background(), Event{Data: fmt.Sprintf("%d:%d", p, i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}

	next := make([]int, publishers)
	seen := 0
	lastSeq := uint64(0)
	read := func(n int) bool {
		for range n {
			blk := s.mustEvent()
			if blk.Event == "end" {
				return true
			}
			if blk.Event != "" {
				t.Fatalf("after %d events: got %q event %q", seen, blk.Event, blk.Data)
			}
			var p, i int
			if _, err := fmt.Sscanf(blk.Data, "%d:%d", &p, &i); err != nil || p >= publishers {
				t.Fatalf("bad data %q", blk.Data)
			}
			if i != next[p] {
				t.Fatalf("after %d events: publisher %d: got event %d, want %d (gap or duplicate)", seen, p, i, next[p])
			}
			next[p]++
			seq, ok := parseSSEID(blk.ID, b.epoch)
			if !ok || seq <= lastSeq {
				t.Fatalf("ID %q does not follow seq %d", blk.ID, lastSeq)
			}
			lastSeq = seq
			seen++
		}
		return false
	}
	for r := range reconnects {
		read(1 + r%37) // then drop the connection mid-stream
		lastID := s.lastID
		s.close()
		if r%2 == 0 {
			s = bkSubscribe(t, c, url+"?slow=block&buffer=8", "Last-Event-ID", lastID)
		} else {
			s = bkSubscribe(t, c, url+"?slow=block&buffer=8&last_event_id="+lastID)
		}
	}
	stopPublishers()
	b.Publish(Event{Type: Custom, Name: "end"})
	for !read(1 << 30) {
	}
	s.close()

	st := b.Stats()
	if total := next[0] + next[1] + next[2]; uint64(total+1) != st.Published {
		t.Fatalf("received %d events of %d published", total, st.Published-1)
	}
	if st.Resumed != reconnects || st.ResumeGaps != 0 || st.Dropped != 0 {
		t.Errorf("Stats = %+v", st)
	}
	t.Logf("%d events received across %d reconnects", seen, reconnects)
}

func TestSSEBrokerResumeOutsideRing(t *testing.T) {
	tests := []struct {
		name       string
		lastID     func(epoch string) string
		wantGap    bool
		wantCount  int // -1: no count
		wantReplay []string
	}{
		{"another epoch", func(string) string { return "0123456789-8" }, true, -1, nil},
		{"evicted", func(e string) string { return e + "-2" }, true, 8, nil},
		{"oldest minus one", func(e string) string { return e + "-5" }, false, 0, bkSeq(6, 10)},
		{"in the middle", func(e string) string { return e + "-8" }, false, 0, bkSeq(9, 10)},
		{"up to date", func(e string) string { return e + "-10" }, false, 0, nil},
		{"from the future", func(e string) string { return e + "-11" }, true, -1, nil},
		{"not an id of ours", func(string) string { return "garbage" }, true, -1, nil},
		{"sign in seq", func(e string) string { return e + "-+9" }, true, -1, nil},
		{"caller's own id", func(string) string { return "mine" }, false, 0, bkSeq(8, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewSSEBroker(SSEBrokerConfig{Replay: 5})
			url, c := bkServe(t, b)
			for i := 1; i <= 10; i++ {
				e := bkMsg(i)
				if i == 7 {
					e.ID = "mine"
				}
				b.Publish(e)
			}
			s := bkSubscribe(t, c, url, "Last-Event-ID", tt.lastID(b.epoch))
			defer s.close()
			if tt.wantGap {
				n, hasCount, reason, blk := s.wantGap("gap")
				if reason != "resume" || hasCount != (tt.wantCount >= 0) || hasCount && n != tt.wantCount {
					t.Fatalf("gap %q, want count %d and reason resume", blk.Data, tt.wantCount)
				}
				if blk.ID != b.epoch+"-10" {
					t.Fatalf("gap ID %q, want %s-10", blk.ID, b.epoch)
				}
			} else {
				s.wantData(tt.wantReplay...)
			}
			b.Publish(bkMsg(11))
			blk := s.mustEvent()
			if blk.Data != "11" || blk.ID != b.epoch+"-11" {
				t.Fatalf("live event %+v, want data 11 with ID %s-11", blk, b.epoch)
			}
			st := b.Stats()
			if tt.wantGap && st.ResumeGaps != 1 || !tt.wantGap && st.Resumed != 1 {
				t.Errorf("Stats = %+v", st)
			}
		})
	}
}

// TestSSEBrokerFreshSubscriberGetsID checks that a client that joins gets
// an ID at once, so that it resumes correctly even if it leaves before the
// next event.
func TestSSEBrokerFreshSubscriberGetsID(t *testing.T) {
	b := NewSSEBroker(SSEBrokerConfig{Replay: 10})
	url, c := bkServe(t, b)
	s := bkSubscribe(t, c, url)
	blk, err := s.next()
	if err != nil || blk.ID != b.epoch+"-0" || blk.HasData {
		t.Fatalf("first block %+v, %v; want an id-only block %s-0", blk, err, b.epoch)
	}
	s.close()
	b.Publish(bkMsg(1)) // published while nobody listens
	s = bkSubscribe(t, c, url, "Last-Event-ID", blk.ID)
	defer s.close()
	s.wantData("1")
}

// TestSSEBrokerDropOldestOverTCP fills the socket buffers and the queue of
// a client that does not read, then checks the accounting: every event is
// either received, in order, or counted in a gap event that precedes the
// next one received.
func TestSSEBrokerDropOldestOverTCP(t *testing.T) {
	b := NewSSEBroker(SSEBrokerConfig{DefaultBuf: 8})
	check := bkCheckGoroutines(t)
	srv := httptest.NewUnstartedServer(b)
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.(*net.TCPConn).SetWriteBuffer(4096)
		}
	}
	srv.Start()
	defer check()
	defer srv.Close()
	defer b.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	defer tr.CloseIdleConnections()
	s := bkSubscribe(t, &http.Client{Transport: tr}, srv.URL)
	defer s.close()

	const n = 400
	pad := strings.Repeat("x", 4000)
	for i := range n {
		b.Publish(Event{Data: strconv.Itoa(i) + " " + pad})
	}
	received, gapped, next := 0, 0, 0
	for next < n {
		blk := s.mustEvent()
		if blk.Event == "gap" {
			d, ok, reason := bkParseGap(t, blk.Data)
			if !ok || reason != "overflow" || d <= 0 {
				t.Fatalf("bad gap %q", blk.Data)
			}
			gapped += d
			next += d
			continue
		}
		i, err := strconv.Atoi(strings.TrimSuffix(blk.Data, " "+pad))
		if err != nil || i != next {
			t.Fatalf("got event %.10q, want %d (received %d, gapped %d)", blk.Data, next, received, gapped)
		}
		received++
		next++
	}
	st := b.Stats()
	if gapped == 0 || st.Dropped != uint64(gapped) || received+gapped != n {
		t.Fatalf("received %d, gapped %d, Stats %+v; want drops accounted for", received, gapped, st)
	}
}

func TestSSEEncodedBound(t *testing.T) {
	for _, e := range []Event{
		{},
		{Type: Custom, Name: "n", ID: "id", Retry: 1<<63 - 1, Data: "a\r\n\r\n\n\rb"},
		{Type: Error, Data: "\n\n\n\n\n\n"},
		{Type: Done, Data: "\r\r\r"},
		{Type: Custom, Name: "evt\nname", ID: "\x00", Data: "x"},
	} {
		if got, bound := len(AppendEvent(nil, e)), sseEncodedBound(e); got > bound {
			t.Errorf("%+v encodes to %d bytes, bound %d", e, got, bound)
		}
	}
}

// TestSSEBrokerStartIDIsPublishersOwn checks that when the newest event
// has the publisher's own ID, a subscriber's starting ID (id-only block or
// resume gap) is that ID, not the broker's, so that a publisher that
// republishes its events under their IDs into a new broker resumes the
// subscriber across a restart.
func TestSSEBrokerStartIDIsPublishersOwn(t *testing.T) {
	own := func(i int) Event { return Event{Data: strconv.Itoa(i), ID: "s-" + strconv.Itoa(i)} }
	tests := []struct {
		name       string
		lastID     string
		wantGap    bool
		wantReplay []string
	}{
		{"fresh", "", false, nil},
		{"resumed", "s-1", false, bkSeq(2, 3)},
		{"up to date", "s-3", false, nil},
		{"unknown", "other-9", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewSSEBroker(SSEBrokerConfig{Replay: 10})
			url, c := bkServe(t, b)
			for i := 1; i <= 3; i++ {
				b.Publish(own(i))
			}
			var hdr []string
			if tt.lastID != "" {
				hdr = []string{"Last-Event-ID", tt.lastID}
			}
			s := bkSubscribe(t, c, url, hdr...)
			switch {
			case tt.wantGap:
				s.wantGap("gap")
			case tt.wantReplay != nil:
				s.wantData(tt.wantReplay...)
			default:
				if blk, err := s.next(); err != nil || !blk.HasID || blk.HasData {
					t.Fatalf("first block %+v, %v; want an id-only block", blk, err)
				}
			}
			// The broker sends nothing more until the next event; the
			// client's ID is now the newest event's own.
			if s.lastID != "s-3" {
				t.Fatalf("starting ID %q, want s-3", s.lastID)
			}
			s.close()

			// A new broker given the same events under the same IDs, as
			// after a restart, resumes the client with no gap.
			b2 := NewSSEBroker(SSEBrokerConfig{Replay: 10})
			url2, c2 := bkServe(t, b2)
			for i := 1; i <= 4; i++ {
				b2.Publish(own(i))
			}
			s2 := bkSubscribe(t, c2, url2, "Last-Event-ID", s.lastID)
			defer s2.close()
			s2.wantData("4")
			if st := b2.Stats(); st.Resumed != 1 || st.ResumeGaps != 0 {
				t.Fatalf("new broker Stats = %+v, want 1 resumed, no gap", st)
			}
		})
	}
}
