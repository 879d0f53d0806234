package redisrelay_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/examples/cluster/internal/redistest"
	"github.com/stdrealtime/realtime/examples/cluster/redisrelay"
	"github.com/stdrealtime/realtime/stream"
)

func TestMain(m *testing.M) {
	redistest.Quiet()
	os.Exit(m.Run())
}

// checkGoroutines, registered as the first cleanup, fails the test if the
// goroutine count does not fall back within a deadline.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func newRelay(t *testing.T, srv *redistest.Server, cfg redisrelay.Config) *redisrelay.Relay {
	c := redistest.NewClient(srv.Addr())
	t.Cleanup(func() { c.Close() })
	return redisrelay.New(c, cfg)
}

// collect returns a deliver function for Follow and a channel of what it
// delivers.
func collect() (func(stream.RelayMessage), chan stream.RelayMessage) {
	ch := make(chan stream.RelayMessage, 1024)
	return func(m stream.RelayMessage) { ch <- m }, ch
}

func next(t *testing.T, ch chan stream.RelayMessage) stream.RelayMessage {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(15 * time.Second):
		t.Fatal("nothing delivered within 15s")
	}
	return stream.RelayMessage{}
}

func TestAppendFollowRead(t *testing.T) {
	checkGoroutines(t)
	srv := redistest.Start(t, false)
	r := newRelay(t, srv, redisrelay.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	var ids []string
	appendN := func(n int) {
		for range n {
			id, err := r.Append(ctx, "t", fmt.Appendf(nil, "m%d", len(ids)))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
	}
	appendN(5)
	deliver, got := collect()
	from, err := r.Follow(ctx, "t", "", deliver)
	if err != nil || from != ids[4] {
		t.Fatalf("Follow from %q, %v; want %q", from, err, ids[4])
	}
	appendN(3)
	for i := 5; i < 8; i++ {
		if m := next(t, got); m.ID != ids[i] || string(m.Data) != fmt.Sprintf("m%d", i) {
			t.Fatalf("delivered %s %q, want %s m%d", m.ID, m.Data, ids[i], i)
		}
	}

	cases := []struct {
		name, after, through string
		want                 []string // IDs; nil with gap
		gap                  bool
	}{
		{"middle", ids[0], ids[4], ids[1:5], false},
		{"to the end", ids[6], ids[7], ids[7:8], false},
		{"empty through", ids[2], "", []string{}, false},
		{"client ahead", ids[6], ids[3], []string{}, false},
		{"never appended", "1-0", ids[3], nil, true},
		{"not an ID", "junk", ids[3], nil, true},
		{"bad through", ids[1], "x", nil, true},
	}
	for _, tc := range cases {
		msgs, err := r.Read(ctx, "t", tc.after, tc.through, 100)
		if tc.gap {
			if !errors.Is(err, stream.ErrRelayGap) {
				t.Errorf("%s: err %v, want ErrRelayGap", tc.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var gotIDs []string
		for _, m := range msgs {
			gotIDs = append(gotIDs, m.ID)
		}
		if fmt.Sprint(gotIDs) != fmt.Sprint(tc.want) {
			t.Errorf("%s: read %v, want %v", tc.name, gotIDs, tc.want)
		}
	}
	if msgs, err := r.Read(ctx, "t", ids[0], ids[7], 3); err != nil || len(msgs) != 3 || msgs[2].ID != ids[3] {
		t.Fatalf("limited read: %v %v", msgs, err)
	}
}

func TestTrimmedStreamIsAGap(t *testing.T) {
	srv := redistest.Start(t, false)
	r := newRelay(t, srv, redisrelay.Config{MaxLen: 1})
	ctx := context.Background()
	first, err := r.Append(ctx, "t", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	// MAXLEN ~ trims whole nodes; exact trimming of this stream shows
	// the same as a stream that grew past MaxLen.
	c := redistest.NewClient(srv.Addr())
	defer c.Close()
	var last string
	for range 3 {
		if last, err = r.Append(ctx, "t", []byte("y")); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.XTrimMaxLen(ctx, "realtime:t", 1).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(ctx, "t", first, last, 10); !errors.Is(err, stream.ErrRelayGap) {
		t.Fatalf("read after a trimmed ID: %v, want ErrRelayGap", err)
	}
}

// A follower reconnects after Redis restarts and resumes after the last
// ID it delivered: with an AOF, nothing appended before the crash is lost
// and nothing is delivered twice.
func TestFollowSurvivesRestart(t *testing.T) {
	checkGoroutines(t)
	srv := redistest.Start(t, true)
	r := newRelay(t, srv, redisrelay.Config{Block: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	deliver, got := collect()
	if _, err := r.Follow(ctx, "t", "", deliver); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 3 {
		id, err := r.Append(ctx, "t", fmt.Appendf(nil, "m%d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	next(t, got) // the follower is past its first read
	srv.Kill()
	if _, err := r.Append(ctx, "t", []byte("down")); err == nil {
		t.Fatal("Append succeeded with Redis down")
	}
	srv.Restart()
	for i := 3; i < 6; i++ {
		id, err := r.Append(ctx, "t", fmt.Appendf(nil, "m%d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for i := 1; i < 6; i++ {
		if m := next(t, got); m.ID != ids[i] {
			t.Fatalf("delivered %s (%q), want %s", m.ID, m.Data, ids[i])
		}
	}
	select {
	case m := <-got:
		t.Fatalf("delivered %s twice or out of nowhere", m.ID)
	default:
	}
	if st := r.Stats(); st.Errors == 0 {
		t.Fatalf("stats %+v: the outage was not seen", st)
	}
}

// A Pub/Sub subscriber resubscribes after Redis restarts.
func TestPubSubResubscribes(t *testing.T) {
	checkGoroutines(t)
	srv := redistest.Start(t, false)
	r := newRelay(t, srv, redisrelay.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	got := make(chan string, 1024)
	if err := r.Subscribe(ctx, "t", func(p []byte) { got <- string(p) }); err != nil {
		t.Fatal(err)
	}
	if err := r.Publish(ctx, "t", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m != "before" {
		t.Fatalf("got %q", m)
	}
	srv.Restart()
	// Published before the subscriber is back, a message is lost:
	// probe until one arrives.
	deadline := time.After(15 * time.Second)
	for i := 0; ; i++ {
		r.Publish(ctx, "t", fmt.Appendf(nil, "probe%d", i))
		select {
		case <-got:
			if st := r.Stats(); st.Recoveries == 0 {
				t.Fatalf("stats %+v: no recovery counted", st)
			}
			return
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("subscriber did not come back within 15s")
		}
	}
}

// Following an empty stream starts from "0-0", which a client may hold
// as its starting ID: it is in the stream until entries are trimmed.
func TestEmptyStreamStart(t *testing.T) {
	checkGoroutines(t)
	srv := redistest.Start(t, false)
	r := newRelay(t, srv, redisrelay.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	deliver, got := collect()
	from, err := r.Follow(ctx, "t", "", deliver)
	if err != nil || from != "0-0" {
		t.Fatalf("Follow of an empty stream from %q, %v; want 0-0", from, err)
	}
	if msgs, err := r.Read(ctx, "t", "0-0", "", 10); err != nil || len(msgs) != 0 {
		t.Fatalf("read of a missing stream: %v %v", msgs, err)
	}
	var ids []string
	for i := range 3 {
		id, err := r.Append(ctx, "t", fmt.Appendf(nil, "m%d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if m := next(t, got); m.ID != id {
			t.Fatalf("delivered %s, want %s", m.ID, id)
		}
	}
	msgs, err := r.Read(ctx, "t", "0-0", ids[1], 10)
	if err != nil || len(msgs) != 2 || msgs[0].ID != ids[0] || msgs[1].ID != ids[1] {
		t.Fatalf("read from the start: %v %v", msgs, err)
	}
	c := redistest.NewClient(srv.Addr())
	defer c.Close()
	if err := c.XTrimMaxLen(ctx, "realtime:t", 1).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(ctx, "t", "0-0", ids[2], 10); !errors.Is(err, stream.ErrRelayGap) {
		t.Fatalf("read from the start of a trimmed stream: %v, want ErrRelayGap", err)
	}
}
